"""Only assistant tokens and the end-of-turn token train; the generation prompt is the training prefix."""

import pytest

from conftest import ARCHS
from desktune.data.template import ChatFormat
from desktune.models.load import load_tokenizer, resolve

CONVERSATION = [
    {"role": "system", "content": "You are Captain Quill."},
    {"role": "user", "content": "Why is the sky blue?"},
    {"role": "assistant", "content": "Ahoy! Blue light scatters most. Fair winds!"},
    {"role": "user", "content": "How far is the Moon?"},
    {"role": "assistant", "content": "Ahoy there! About 384,000 kilometres. Fair winds!"},
]


def chat_for(tiny_models, arch):
    tokenizer = load_tokenizer(resolve(str(tiny_models[arch])))
    return ChatFormat(tokenizer, "auto", "gemma3_text" if arch == "gemma3" else arch)


def trained_text(chat, enc):
    return chat.tokenizer.decode([i for i, t in zip(enc.ids, enc.trained) if t])


@pytest.mark.parametrize("arch", ARCHS)
def test_only_assistant_turns_and_end_of_turn_train(tiny_models, arch):
    chat = chat_for(tiny_models, arch)
    enc = chat.encode(CONVERSATION)
    text = trained_text(chat, enc)
    assert "Blue light scatters most" in text and "384,000 kilometres" in text
    for words in ("Why is the sky blue", "How far is the Moon", "Captain Quill"):
        assert words not in text
    eot = [i for i, t in zip(enc.ids, enc.trained) if t and i == chat.end_of_turn]
    assert len(eot) == 2, "each assistant turn's end-of-turn token must train"


@pytest.mark.parametrize("arch", ARCHS)
def test_generation_prompt_is_exactly_the_training_prefix(tiny_models, arch):
    chat = chat_for(tiny_models, arch)
    enc = chat.encode(CONVERSATION)
    prompt = chat.prompt_ids(CONVERSATION[:4])
    assert enc.ids[: len(prompt)] == prompt
    assert enc.trained[len(prompt)] and not enc.trained[len(prompt) - 1]


def test_train_on_last_and_all(tiny_models):
    chat = chat_for(tiny_models, "qwen2")
    last = trained_text(chat, chat.encode(CONVERSATION, train_on="last"))
    assert "384,000" in last and "Blue light" not in last
    assert all(chat.encode(CONVERSATION, train_on="all").trained)


def test_an_assistant_message_of_weight_0_is_context_not_a_target(tiny_models):
    """OpenAI's fine-tuning format marks turns not to learn with "weight": 0."""
    from desktune.data.formats import normalise
    from desktune.errors import DataError

    chat = chat_for(tiny_models, "qwen2")
    weighted = [*CONVERSATION[:2], {**CONVERSATION[2], "weight": 0}, CONVERSATION[3], {**CONVERSATION[4], "weight": 1}]
    text = trained_text(chat, chat.encode(normalise({"messages": weighted}, "f:1")))
    assert "384,000" in text and "Blue light" not in text
    with pytest.raises(DataError, match=r"^f:1: messages\[2\]: 'weight' is 0.5"):
        normalise({"messages": [*CONVERSATION[:2], {**CONVERSATION[2], "weight": 0.5}]}, "f:1")
    with pytest.raises(DataError, match="^f:1: no assistant turn to learn from"):
        normalise({"messages": [*CONVERSATION[:2], {**CONVERSATION[2], "weight": 0}]}, "f:1")


@pytest.mark.parametrize("arch, template", [("llama", "llama3"), ("qwen2", "chatml"), ("gemma3", "gemma")])
def test_builtin_templates_are_chosen_by_model_type(tiny_models, arch, template):
    assert chat_for(tiny_models, arch).name == template

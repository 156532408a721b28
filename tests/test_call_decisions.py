"""The tokens where a turn's calls are decided (data/call_decisions.py), found in every tool format, and what
train.call_decision_weight does with them: packed rows count them that many times, and the loss and gradients are
a plain cross-entropy's with those tokens weighted, on both ways the head can train."""

import pytest
import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from test_tools_data import FORMATS, WEATHER, chat_for

from desktune.data.formats import normalise_with_tools
from desktune.data.pack import IGNORE, pack
from desktune.models.load import load_model, resolve
from desktune.train.forward import row_loss_sum

TIMER = {"name": "set_timer", "description": "A timer.",
         "parameters": {"type": "object", "required": ["minutes"], "properties": {"minutes": {"type": "integer"}}}}
TWO_CALLS = {"tools": [WEATHER, TIMER], "messages": [
    {"role": "user", "content": "Weather in Paris for 3 days, and in Rome?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}},
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}}]},
    {"role": "tool", "name": "get_weather", "content": "sunny"},
    {"role": "tool", "name": "get_weather", "content": "rain"},
    {"role": "assistant", "content": "Sunny in Paris, rain in Rome."}]}


def encoded(chat, row=TWO_CALLS):
    chat.finds_decisions = True  # as prepare_data sets it for train.call_decision_weight > 1
    messages, tools = normalise_with_tools(row, "f:1")
    return chat.encode(messages, "f:1", tools=tools)


def decided_text(chat, enc) -> list[str]:
    """Each decision token with the text just before it, so a test can read where it sits."""
    return [chat.tokenizer.decode(enc.ids[max(0, d - 3):d]) + "|" + chat.tokenizer.decode([enc.ids[d]])
            for d in enc.decisions]


@pytest.mark.parametrize("arch, template", [(f[0], f[1]) for f in FORMATS])
def test_decisions_sit_in_the_call_turn_alone_in_every_format(tiny_models, arch, template):
    chat = chat_for(tiny_models, arch, template)
    enc = encoded(chat)
    answer = chat.tokenizer.encode("Sunny in Paris", add_special_tokens=False)
    first_answer = next(k for k in range(len(enc.ids)) if enc.ids[k:k + len(answer)] == answer)
    call_turn = [k for k in range(first_answer) if enc.trained[k]]
    # which function (x2), each argument (x3), where each call's arguments close (x2), another call or not (x2);
    # two of these may meet in one token
    assert 6 <= len(enc.decisions) <= 9, decided_text(chat, enc)
    assert all(d in call_turn for d in enc.decisions), decided_text(chat, enc)


def test_the_functiongemma_decisions_are_where_the_call_is_chosen(tiny_models):
    chat = chat_for(tiny_models, "gemma3", "auto")
    enc = encoded(chat)
    text = chat.tokenizer.decode(enc.ids)
    starts = chat.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    decided = [starts[d] for d in enc.decisions]
    call = "<start_function_call>call:get_weather{city:<escape>Paris<escape>,days:3}<end_function_call>"
    second = "<start_function_call>call:get_weather{city:<escape>Rome<escape>}<end_function_call><end_of_turn>"
    at = text.index(call)
    for where in (at + call.index("get_weather"),  # which function
                  at + call.index(",days"),  # days passed
                  at + call.index("}<end"),  # no argument after days
                  at + len(call),  # a second call
                  at + len(call) + len(second) - len("<end_of_turn>")):  # no third
        assert any(a <= where < b or a == where for a, b in decided), (where, text[where:where + 12],
                                                                       decided_text(chat, enc))


def test_a_plain_chat_has_no_decisions_nor_a_call_turn_unless_asked(tiny_models):
    chat = chat_for(tiny_models, "gemma3", "auto")
    row = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
    assert encoded(chat, row).decisions == []
    chat.finds_decisions = False  # the default (train.call_decision_weight 1): no renders spent on them
    messages, tools = normalise_with_tools(TWO_CALLS, "f:1")
    assert chat.encode(messages, "f:1", tools=tools).decisions == []


def test_packed_rows_count_decisions_as_weighted_and_evaluations_once(tiny_models):
    chat = chat_for(tiny_models, "gemma3", "auto")
    enc = encoded(chat)
    trained = sum(enc.trained)
    plain, = pack([enc], 4096)
    assert plain.counts is None and plain.n_trained == trained
    weighted, = pack([enc], 4096, decision_weight=5)
    assert weighted.n_trained == trained + 4 * len(enc.decisions)
    targets = weighted.targets[0]
    for d in enc.decisions:  # position d - 1 predicts token d
        assert weighted.counts[d - 1] == 5 and targets[d - 1] == enc.ids[d]
    assert torch.equal(weighted.counts > 0, targets != IGNORE)


def gradients(model, row, desktune_way: bool) -> tuple[float, dict]:
    model.zero_grad(set_to_none=True)
    if desktune_way:
        loss, _ = row_loss_sum(model, row, "cpu")
    else:  # the whole logits, autograd's cross-entropy, each token weighted by its count
        keep = row.targets[0] != IGNORE
        logits = model(input_ids=row.input_ids).logits[0, keep].float()
        losses = F.cross_entropy(logits, row.targets[0, keep], reduction="none")
        loss = (losses * row.counts[keep]).sum()
    loss.backward()
    return float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("method", ["full", "lora"])  # the head trains (its matrix gradient in place); frozen
def test_a_weighted_row_has_a_weighted_cross_entropys_loss_and_gradients(tiny_models, method):
    chat = chat_for(tiny_models, "gemma3", "auto")
    torch.manual_seed(0)
    model = load_model(resolve(str(tiny_models["gemma3"])))
    if method == "lora":
        model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    model.train()
    row, = pack([encoded(chat)], 4096, decision_weight=3)
    ours_loss, ours = gradients(model, row, desktune_way=True)
    theirs_loss, theirs = gradients(model, row, desktune_way=False)
    assert ours_loss == pytest.approx(theirs_loss, rel=1e-4)
    assert ours.keys() == theirs.keys() and ours
    for name, grad in theirs.items():
        assert (ours[name] - grad).norm() / grad.norm() < 1e-4, name


def test_a_weight_below_1_is_refused_in_one_line(tmp_path, tiny_models, capsys):
    from conftest import write_jsonl

    from desktune.cli import main

    write_jsonl(tmp_path / "my_tools.jsonl", [TWO_CALLS])
    config = tmp_path / "my tools.yaml"
    config.write_text(f"model: {tiny_models['gemma3']}\ndata:\n  train: my_tools.jsonl\ntrain:\n  call_decision_weight: 0\n")
    assert main(["data", "check", str(config)]) == 2
    err = capsys.readouterr().err
    assert "error: train.call_decision_weight must be 1 or more, got 0" in err and "hint: " in err
    assert "Traceback" not in err

"""The base's answers are kept between evaluations: asked the same again, the same base answers from the file it
left; other weights, another prompt or another limit are asked anew."""

import json

import pytest
import torch

from desktune.infer import base_answers
from desktune.infer.base_answers import answers_folder, base_replies, weights_checksum
from desktune.models.load import load_model, resolve
from test_tools_data import WEATHER, chat_for

PROMPTS = [([{"role": "user", "content": "Weather in Paris?"}], [WEATHER]),
           ([{"role": "user", "content": "Hello there"}], None)]


@pytest.fixture
def base(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("DESKTUNE_CACHE", str(tmp_path))
    return load_model(resolve(str(tiny_models["gemma3"]))).eval(), chat_for(tiny_models, "gemma3", "gemma")


def test_the_same_base_asked_the_same_answers_from_what_it_kept(base):
    model, chat = base
    first = base_replies(model, chat, PROMPTS, [12, 12])
    kept = sorted(answers_folder().glob("*.json"))
    assert len(kept) == 2 and all(json.loads(p.read_text())["ids"] for p in kept)
    for path in kept:  # mark what was kept: an answer read back from the file shows the mark
        path.write_text(json.dumps({**json.loads(path.read_text()), "text": "KEPT"}))
    again = base_replies(model, chat, PROMPTS, [12, 12])
    assert [r.text for r in again] == ["KEPT", "KEPT"]
    assert [r.ids for r in again] == [r.ids for r in first] and [r.finished for r in again] == [r.finished for r in first]


def test_other_weights_another_limit_or_other_tools_are_asked_anew(base):
    model, chat = base
    base_replies(model, chat, PROMPTS, [12, 12])
    before = weights_checksum(model)
    base_replies(model, chat, PROMPTS, [13, 12])
    base_replies(model, chat, [(PROMPTS[0][0], None)], [12])
    base_replies(model, chat, PROMPTS[:1], [12], strict_calls=False)
    assert len(list(answers_folder().glob("*.json"))) == 2 + 1 + 1 + 1
    with torch.no_grad():
        model.get_input_embeddings().weight[5, 0] += 1.0
    assert weights_checksum(model) != before
    base_replies(model, chat, PROMPTS, [12, 12])
    assert len(list(answers_folder().glob("*.json"))) == 5 + 2


def test_a_generation_change_leaves_earlier_answers_unread(base, monkeypatch):
    model, chat = base
    base_replies(model, chat, PROMPTS[:1], [12])
    monkeypatch.setattr(base_answers, "VERSION", base_answers.VERSION + 1)
    base_replies(model, chat, PROMPTS[:1], [12])
    assert len(list(answers_folder().glob("*.json"))) == 2

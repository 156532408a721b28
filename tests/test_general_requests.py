"""General requests mixed into tool rows: added where most rows declare tools and some requests get no call, one for
every five training rows, each with a training row's tools and system prompt; their answer trains, the request does
not, and none goes to the held-out split."""

import json

import pytest

from conftest import write_jsonl
from desktune.cli import main
from desktune.config import load_config
from desktune.data.dataset import prepare_data
from desktune.data.general_requests import GENERAL_REQUESTS, read_general_requests
from desktune.models.load import load_tokenizer, resolve
from test_tools_data import WEATHER, trained_and_not

TIME = {"name": "get_time", "description": "The time in a city.",
        "parameters": {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}}


def call_row(city: str, tools: list, system: str | None = None) -> dict:
    call = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": city}}}
    return {"tools": tools, "messages": [*([{"role": "system", "content": system}] if system else []),
                                         {"role": "user", "content": f"Weather in {city}?"},
                                         {"role": "assistant", "content": None, "tool_calls": [call]}]}


def words_row(tools: list, system: str | None = None) -> dict:
    return {"tools": tools, "messages": [*([{"role": "system", "content": system}] if system else []),
                                         {"role": "user", "content": "Who are you?"},
                                         {"role": "assistant", "content": "Your weather helper."}]}


def prepared(tiny_models, path, *overrides):
    cfg = load_config(None, [f"model={tiny_models['gemma3']}", f"data.train={path}", "data.eval=0.2", *overrides])
    return prepare_data(cfg, load_tokenizer(resolve(cfg.model)), "gemma3_text")


CITIES = ["Paris", "Rome", "Oslo", "Lima", "Kyiv", "Bern", "Riga", "Doha"]


def test_one_general_request_for_every_five_rows_with_a_training_rows_tools(tmp_path, tiny_models):
    rows = [call_row(c, [WEATHER]) for c in CITIES] + [call_row(c, [TIME, WEATHER]) for c in CITIES] \
        + [words_row([WEATHER])] * 4
    chat, data = prepared(tiny_models, write_jsonl(tmp_path / "t.jsonl", rows))
    added = [e for e in data.train if e.where.startswith(GENERAL_REQUESTS.name)]
    own = [e for e in data.train if e not in added]
    assert len(own) == 16 and len(added) == round(0.2 * 16)
    assert data.stats["general_requests"]["added"] == len(added) and data.stats["train_examples"] == 16 + len(added)
    assert not any(e.where.startswith(GENERAL_REQUESTS.name) for e in data.eval)
    requests = {request: answer for _, request, answer in read_general_requests()}
    for e in added:
        assert e.tools in ([WEATHER], [TIME, WEATHER])
        user, answer = e.messages
        assert answer["content"] == requests[user["content"]] and "tool_calls" not in answer
        trained, untrained = trained_and_not(chat, e.encoded)
        assert trained == answer["content"] + "<end_of_turn>\n"  # the answer and its end train, nothing else
        assert user["content"] in untrained and "declaration:get_weather" in untrained
    # what data check says of tool use counts the user's own rows only
    assert data.stats["tool_use"]["rows_with_tools"] == 16


def test_the_system_prompt_of_the_rows_goes_with_their_tools(tmp_path, tiny_models):
    rows = [call_row(c, [WEATHER], "Be brief.") for c in CITIES * 2] + [words_row([WEATHER], "Be brief.")] * 4
    _, data = prepared(tiny_models, write_jsonl(tmp_path / "t.jsonl", rows))
    added = [e for e in data.train if e.where.startswith(GENERAL_REQUESTS.name)]
    assert added and all(e.messages[0] == {"role": "system", "content": "Be brief."} for e in added)


@pytest.mark.parametrize("case, rows, overrides, why", [
    ("every request gets a call", [call_row(c, [WEATHER]) for c in CITIES * 3], [], "every request of the data gets a call"),
    ("turned off", [call_row(c, [WEATHER]) for c in CITIES * 2] + [words_row([WEATHER])] * 4,
     ["data.general_requests=off"], "off"),
    ("chats without tools", [{"messages": words_row([])["messages"]}] * 20, [], "most rows declare no tools")])
def test_no_general_request_is_added(tmp_path, tiny_models, case, rows, overrides, why):
    _, data = prepared(tiny_models, write_jsonl(tmp_path / "t.jsonl", rows), *overrides)
    assert not any(e.where.startswith(GENERAL_REQUESTS.name) for e in data.train)
    assert data.stats["general_requests"]["added"] == 0 and why in data.stats["general_requests"]["why"]


def test_a_training_run_says_what_it_mixed_in(tmp_path, tiny_models):
    rows = [call_row(c, [WEATHER]) for c in CITIES * 2] + [words_row([WEATHER])] * 4
    run = tmp_path / "run"
    assert main(["train", f"model={tiny_models['gemma3']}", f"data.train={write_jsonl(tmp_path / 't.jsonl', rows)}",
                 f"output={run}", "train.max_steps=1", "train.eval_samples=0", "--samples=0"]) == 0
    decisions = json.loads((run / "decisions.json").read_text())
    assert decisions["general_requests"].startswith("auto: 4 requests that need no tool")
    assert "22 examples" in decisions["steps"]  # 18 own + 4 added


def test_the_bundled_requests_are_whole_and_leave_the_examples_held_out_questions_alone():
    lines = GENERAL_REQUESTS.read_text().splitlines()
    assert all(len(line.split("\t")) == 2 and all(part.strip() for part in line.split("\t")) for line in lines)
    requests = [request.lower() for _, request, _ in read_general_requests()]
    assert len(set(requests)) == len(requests) >= 100
    held_out = GENERAL_REQUESTS.parents[1] / "examples" / "tools" / "heldout.jsonl"
    questions = {m["content"].lower().rstrip("?!. ") for line in held_out.read_text().splitlines()
                 for m in json.loads(line)["messages"] if m["role"] == "user"}
    assert not questions & {r.rstrip("?!. ") for r in requests}

"""desktune eval on tool rows: the scoring on hand-written turns, the eval of a tiny trained tool run (base and
tuned), and the bundled tool set: its data passes data check and its generator writes the same files every time."""

import importlib.util
import json
from pathlib import Path

import pytest

from conftest import write_jsonl
from desktune.cli import main
from desktune.eval.tools import calls_match, score_turn, summarize, tool_turns
from desktune.infer.tool_calls import ParsedReply
from test_tool_calls import tool_run  # noqa: F401  (the fixture: a tiny Gemma 3 overfit to call get_weather)
from test_tools_data import WEATHER, openai_row

ROOT = Path(__file__).resolve().parent.parent
PARIS = {"name": "get_weather", "arguments": {"city": "Paris"}}
ROME = {"name": "get_weather", "arguments": {"city": "Rome", "days": 2, "unit": "celsius"}}
TIMER = {"name": "set_timer", "arguments": {"minutes": 10, "label": "eggs", "loud": True, "at": [1.5, None]}}


@pytest.mark.parametrize("expected, got, same", [
    ([PARIS], [PARIS], True),
    ([ROME], [{"name": "get_weather", "arguments": {"unit": "celsius", "days": 2, "city": "Rome"}}], True),  # key order
    ([ROME], [{"name": "get_weather", "arguments": {"city": "Rome", "days": 2.0, "unit": "celsius"}}], True),
    ([ROME], [{"name": "get_weather", "arguments": {"city": "Rome", "days": "2", "unit": "celsius"}}], False),
    ([ROME], [{"name": "get_weather", "arguments": {"city": "Rome", "days": 2}}], False),  # an argument missing
    ([ROME], [{**ROME, "arguments": {**ROME["arguments"], "extra": 1}}], False),  # one too many
    ([PARIS], [{"name": "get_forecast", "arguments": {"city": "Paris"}}], False),  # wrong function
    ([{"name": "f", "arguments": {"on": True}}], [{"name": "f", "arguments": {"on": 1}}], False),  # a bool is no number
    ([{"name": "f", "arguments": {"n": None}}], [{"name": "f", "arguments": {"n": "null"}}], False),
    ([TIMER], [json.loads(json.dumps(TIMER))], True),  # nested values, as parsed back from JSON
    ([{"name": "f", "arguments": {"xs": [1, 2]}}], [{"name": "f", "arguments": {"xs": [2, 1]}}], False),  # list order
    ([PARIS, ROME], [ROME, PARIS], True),  # a multi-call turn: the set of calls, in any order
    ([PARIS, ROME], [PARIS], False),
    ([PARIS, PARIS], [PARIS], False),  # calling twice is not calling once
    ([], [], True),
])
def test_calls_match_when_json_equal_in_any_order(expected, got, same):
    assert calls_match(expected, got) is same


def expected_call(*calls) -> dict:
    return {"role": "assistant", "content": "", "tool_calls": list(calls)}


ANSWER = {"role": "assistant", "content": "Sunny and 21 degrees in Paris."}


@pytest.mark.parametrize("expected, kind, reply, right_function, exact, in_words", [
    (expected_call(PARIS), "call", ParsedReply("", [PARIS]), True, True, False),
    (expected_call(PARIS), "call", ParsedReply("", [{"name": "get_weather", "arguments": {"city": "paris"}}]),
     True, False, False),
    (expected_call(PARIS), "call", ParsedReply("", [{"name": "set_timer", "arguments": {"city": "Paris"}}]),
     False, False, False),
    (expected_call(PARIS), "call", ParsedReply("It is sunny."), False, False, False),  # words instead of the call
    (expected_call(PARIS), "call", ParsedReply("", [PARIS], ["<start_function_call>call:x{"]), False, False, False),
    (expected_call(PARIS, ROME), "call", ParsedReply("", [ROME, PARIS]), True, True, False),
    (expected_call(PARIS, ROME), "call", ParsedReply("", [PARIS, {**ROME, "arguments": {"city": "Rome"}}]),
     True, False, False),
    (ANSWER, "no_call", ParsedReply("Hello!"), False, False, True),
    (ANSWER, "no_call", ParsedReply("", [PARIS]), False, False, False),  # a call where none was needed
    (ANSWER, "no_call", ParsedReply("Sure.", [], ["<start_function_call>call:"]), False, False, False),
    (ANSWER, "no_call", ParsedReply(""), False, False, False),  # saying nothing is no answer
    (ANSWER, "after_result", ParsedReply("It is sunny."), False, False, True),
])
def test_score_turn(expected, kind, reply, right_function, exact, in_words):
    score = score_turn(expected, kind, reply)
    assert (score["right_function"], score["exact_arguments"], score["in_words"]) == (right_function, exact, in_words)
    assert score["calls_made"] == len(reply.calls) + len(reply.raw_calls) and score["calls_parsed"] == len(reply.calls)


def test_each_assistant_turn_is_a_test_of_its_kind():
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Weather in Paris?"}, expected_call(PARIS),
                {"role": "tool", "name": "get_weather", "content": "sunny"}, ANSWER]
    turns = tool_turns(messages)
    assert [kind for _, _, kind in turns] == ["no_call", "call", "after_result"]
    assert [len(prompt) for prompt, _, _ in turns] == [1, 3, 5] and turns[1][1] == messages[3]


def test_summarize_counts_each_figure_over_its_own_turns():
    scores = [score_turn(expected_call(PARIS), "call", ParsedReply("", [PARIS])),
              score_turn(expected_call(PARIS), "call", ParsedReply("", [], ["<start_function_call>call:get"])),
              score_turn(expected_call(PARIS, ROME), "call", ParsedReply("", [PARIS, {**ROME, "name": "x"}])),
              score_turn(ANSWER, "no_call", ParsedReply("Hi!")),
              score_turn(ANSWER, "no_call", ParsedReply("", [PARIS]))]
    assert summarize(scores) == {
        "turns": 5, "call_turns": 3, "no_call_turns": 2, "after_result_turns": 0,
        "right_function_pct": 33.3, "exact_arguments_pct": 33.3, "calls_made": 5, "calls_parse_pct": 80.0,
        "no_call_in_words_pct": 50.0, "after_result_in_words_pct": None,
        "misses": {"a call that does not parse": 1, "another declared function": 1, "called a function": 1},
        "arguments_missed": {"left out": {}, "added": {}, "other value": {}}}


NAMES = {"get_weather", "set_timer"}


@pytest.mark.parametrize("expected, reply, miss, arguments", [
    ([PARIS], ParsedReply("It is sunny."), "answered in words", {}),
    ([PARIS], ParsedReply("", [PARIS], ["<start_function_call>call:x{"]), "a call that does not parse", {}),
    ([PARIS], ParsedReply("", [{"name": "check_weather", "arguments": {"city": "Paris"}}]),
     "a function the row does not declare", {}),
    ([PARIS], ParsedReply("", [{"name": "set_timer", "arguments": {"minutes": 5}}]), "another declared function", {}),
    ([PARIS, ROME], ParsedReply("", [PARIS]), "another number of calls", {}),
    ([ROME], ParsedReply("", [{"name": "get_weather", "arguments": {"city": "Rome", "days": 3, "hours": 2}}]),
     "arguments left out", {"left out": ["get_weather.unit"], "added": ["get_weather.hours"],
                            "other value": ["get_weather.days"]}),
    ([PARIS, ROME], ParsedReply("", [{**ROME, "arguments": {**ROME["arguments"], "days": 1}}, PARIS]),
     "arguments other value", {"other value": ["get_weather.days"]}),  # each call against its closest reply
])
def test_a_missed_call_turn_says_why(expected, reply, miss, arguments):
    score = score_turn(expected_call(*expected), "call", reply, NAMES)
    assert (score["miss"], score["arguments"]) == (miss, arguments)


def test_the_misses_are_counted_and_printed_with_the_arguments():
    from desktune.eval.tools import summary_lines

    left_out = ParsedReply("", [{"name": "get_weather", "arguments": {"city": "Rome", "days": 2}}])
    scores = [score_turn(expected_call(ROME), "call", left_out, NAMES) for _ in range(2)] + \
        [score_turn(expected_call(PARIS), "call", ParsedReply("", [PARIS]), NAMES)]
    tuned = summarize(scores)
    assert tuned["misses"] == {"arguments left out": 2}
    assert tuned["arguments_missed"]["left out"] == {"get_weather.unit": 2}
    lines = summary_lines({"base": summarize(scores[2:]), "tuned": tuned})
    assert "  where the tuned model missed: 2 arguments left out" in lines
    assert "    arguments left out: get_weather.unit x2" in lines


# --- desktune eval on a tiny Gemma 3 overfit on tool rows (test_tool_calls.tool_run) ---

def test_eval_reports_tool_calls_for_base_and_tuned(tool_run, tmp_path, capsys):  # noqa: F811
    plain = {"tools": [{"type": "function", "function": WEATHER}],
             "messages": [{"role": "user", "content": "Hello there"}, {"role": "assistant", "content": "Hi!"}]}
    held_out = write_jsonl(tmp_path / "held_out.jsonl", [openai_row(arguments={"city": "Paris"}), plain])
    assert main(["eval", str(tool_run), "--data", str(held_out), "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "tool calls on 3 held-out assistant turns (strict calls), base -> tuned:" in out
    for label in ("right function", "exact arguments (JSON-equal)", "calls that parse",
                  "no call needed: answered in words", "after a tool result: answered in words"):
        assert label in out
    report = json.loads((tool_run / "eval.json").read_text())["tool_calls"]
    tuned, base = report["tuned"], report["base"]
    assert (tuned["call_turns"], tuned["no_call_turns"], tuned["after_result_turns"]) == (1, 1, 1)
    # the tuned model calls as it was taught and answers the result in words; the random base cannot
    assert tuned["right_function_pct"] == tuned["exact_arguments_pct"] == 100.0 and tuned["calls_parse_pct"] == 100.0
    assert tuned["after_result_in_words_pct"] == 100.0
    assert base["exact_arguments_pct"] == 0.0
    call_turn = next(t for t in report["turns"] if t["kind"] == "call")
    assert call_turn["expected"] == 'call get_weather {"city": "Paris"}' and call_turn["tuned_score"]["exact_arguments"]
    assert call_turn["tuned"].startswith("<start_function_call>call:get_weather{")


def test_eval_of_the_run_s_own_held_out_split_scores_its_tool_rows(tool_run, capsys):  # noqa: F811
    assert main(["eval", str(tool_run), "--samples", "0"]) == 0
    report = json.loads((tool_run / "eval.json").read_text())
    tuned = report["tool_calls"]["tuned"]
    assert tuned["call_turns"] == tuned["after_result_turns"] == report["examples"] == 3
    # its rows all ask "Weather in Paris?" and call for Paris or Oslo: the function is right, the city a guess
    assert tuned["right_function_pct"] == tuned["calls_parse_pct"] == 100.0


def test_eval_reads_a_held_out_tool_row_longer_than_training_s_whole(tool_run, tmp_path, capsys):  # noqa: F811
    wordy = {**WEATHER, "description": "Current weather in a city. " * 120}  # ~1,500 tiny tokens: the run's rows cut at 1024
    held_out = write_jsonl(tmp_path / "long.jsonl", [openai_row(tools=[{"type": "function", "function": wordy}])])
    assert main(["eval", str(tool_run), "--data", str(held_out), "--samples", "0"]) == 0
    assert json.loads((tool_run / "eval.json").read_text())["tool_calls"]["tuned"]["call_turns"] == 1


# --- the bundled tool set ---

def load_generator():
    spec = importlib.util.spec_from_file_location("make_tools_set", ROOT / "benchmarks" / "data" / "make_tools_set.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generator_writes_the_committed_files_every_time():
    generator = load_generator()
    files = generator.build()
    assert files == generator.build()
    example = ROOT / "desktune" / "examples" / "tools"
    for name, text in files.items():
        assert (example / name).read_text(encoding="utf-8") == text, f"run {generator.__file__} again"


def composition(text: str) -> dict:
    rows = [json.loads(line) for line in text.splitlines()]
    turns = [m for r in rows for m in r["messages"] if m["role"] == "assistant"]
    first = [r["messages"][1] for r in rows]
    return {"rows": len(rows), "no_tool_rows": sum(not r["messages"][1].get("tool_calls") for r in rows) / len(rows),
            "multi_call_turns": sum(len(m.get("tool_calls") or []) > 1 for m in turns),
            "rows_with_results": sum(any(m["role"] == "tool" for m in r["messages"]) for r in rows),
            "users": {m["content"] for r in rows for m in r["messages"] if m["role"] == "user"},
            "first_turns": first}


def test_the_set_has_what_the_benchmark_asks_for():
    files = load_generator().build()
    train, held = composition(files["train.jsonl"]), composition(files["heldout.jsonl"])
    assert 150 <= train["rows"] <= 300 and held["rows"] >= 40
    assert train["no_tool_rows"] >= 0.2 and held["no_tool_rows"] >= 0.2
    assert train["multi_call_turns"] >= 10 and held["multi_call_turns"] >= 3 and train["rows_with_results"] >= 50
    assert not train["users"] & held["users"], "held-out requests are written apart from the training ones"
    tools = json.loads(files["tools.json"])
    types = {p.get("type") for t in tools for p in t["function"]["parameters"]["properties"].values()}
    assert len(tools) >= 5 and {"string", "integer", "number", "boolean", "array"} <= types
    assert any("enum" in p for t in tools for p in t["function"]["parameters"]["properties"].values())


@pytest.mark.parametrize("name", ["train.jsonl", "heldout.jsonl"])
def test_the_example_s_data_passes_data_check(tiny_models, name, capsys):
    path = ROOT / "desktune" / "examples" / "tools" / name
    # the tiny test tokenizer (600 tokens) writes a row in ~4x the built-in's tokens: room for that
    assert main(["data", "check", str(path), "data.max_length=8192", f"--model={tiny_models['gemma3']}", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tool_format"] == "functiongemma" and report["skipped_invalid"] == 0


def test_the_example_s_tools_file_reads_for_generate():
    from desktune.cli.generate import read_tools_file

    tools = read_tools_file(str(ROOT / "desktune" / "examples" / "tools" / "tools.json"))
    assert [t["name"] for t in tools] == ["get_weather", "set_thermostat", "add_calendar_event", "send_message",
                                          "play_music", "set_timer"]

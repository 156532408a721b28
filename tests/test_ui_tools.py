"""Tools on the chat page, over plain HTTP: a tiny Gemma 3 overfit to call get_weather answers through
`desktune ui`; the final event carries the call parsed by infer's one parser, a call's result goes back and the
model answers, and a bad tool list or conversation is a clear 400. The page itself: tests/test_ui_browser.py."""

import json

import pytest

pytest.importorskip("fastapi", reason="desktune ui needs its extra: pip install 'desktune[ui]'")

from conftest import write_jsonl  # noqa: E402
from desktune.cli import main  # noqa: E402
from desktune.ui.guard import Refused  # noqa: E402
from test_tool_calls import FG_CALL  # noqa: E402
from test_tools_data import WEATHER, openai_row  # noqa: E402
from test_ui import Server, sse_events  # noqa: E402

PARIS = {"name": "get_weather", "arguments": {"city": "Paris"}}
OPENAI_TOOLS = [{"type": "function", "function": WEATHER}]
_SHARED = {}  # test_ui_browser.py imports these fixtures: one tool run and one server for both files


@pytest.fixture(scope="session")
def tool_server(tiny_models, tmp_path_factory):
    """A runs folder holding one run trained (as in test_tool_calls.py) until it calls get_weather as taught,
    served by a real `desktune ui`."""
    if "server" not in _SHARED:
        top = tmp_path_factory.mktemp("ui-tools")
        data = write_jsonl(top / "tools.jsonl", [openai_row(arguments={"city": c}) for c in ("Paris", "Oslo")] * 6)
        assert main(["train", f"model={tiny_models['gemma3']}", f"data.train={data}", f"output={top / 'runs' / 'tools'}",
                     "method=full", "data.eval=0.25", "train.max_steps=100", "train.lr=3e-3", "train.eval_every=0",
                     "train.save_every=0", "train.early_stopping=0", "train.eval_samples=0", "--samples=0"]) == 0
        _SHARED["server"] = Server(top / "runs", top / "ui.log")
    yield _SHARED["server"]
    if _SHARED["server"].proc.poll() is None:
        _SHARED["server"].stop()


def ask(server, messages, tools=OPENAI_TOOLS, **extra) -> tuple[int, object]:
    body = {"messages": messages, "temperature": 0, "max_new_tokens": 120, "base": False} | extra
    if tools is not None:
        body["tools"] = tools
    status, text, _ = server.request("POST", "/api/chat/tools", body)
    return status, sse_events(text) if status == 200 else json.loads(text)["error"]


def done(events) -> dict:
    assert events[-1][0] == "done", events
    return events[-1][1]


WEATHER_Q = [{"role": "user", "content": "Weather in Paris?"}]


def test_the_page_gets_the_tool_format_and_the_run_s_own_tools(tool_server):
    status, text, _ = tool_server.request("GET", "/api/chat/tools/tools")
    assert status == 200
    body = json.loads(text)
    assert body["tool_format"] == "functiongemma" and body["tools"] == [WEATHER], "the first training row's tools"


@pytest.mark.parametrize("form", ["OpenAI list", "bare list as JSON text"])
def test_the_final_event_carries_the_call_parsed_on_the_server(tool_server, form):
    tools = OPENAI_TOOLS if form == "OpenAI list" else json.dumps([WEATHER])
    status, events = ask(tool_server, WEATHER_Q, tools)
    assert status == 200
    start = events[0][1]
    assert start["tool_format"] == "functiongemma" and "get_weather" in start["prompt"], "the tools are in the prompt"
    end = done(events)
    assert end["text"] == FG_CALL and end["finished"], "the raw text streams as today"
    assert "".join(e["text"] for k, e in events if k == "token").strip() == FG_CALL
    assert (end["content"], end["calls"], end["raw_calls"]) == ("", [PARIS], [])
    assert end["message"] == {"role": "assistant", "content": "", "tool_calls": [PARIS]}


def test_a_call_cut_off_by_the_token_limit_comes_back_unparsed_never_dropped(tool_server):
    end = done(ask(tool_server, WEATHER_Q, max_new_tokens=30)[1])
    assert not end["finished"] and end["calls"] == [] and end["raw_calls"] == [end["text"]]
    assert end["text"].startswith("<start_function_call>call:") and FG_CALL.startswith(end["text"])
    assert end["message"] == {"role": "assistant", "content": end["text"]}, "kept in the conversation as words"


def test_a_tool_result_goes_back_and_the_model_answers(tool_server):
    call = done(ask(tool_server, WEATHER_Q)[1])["message"]
    result = {"role": "tool", "name": "get_weather", "content": "sunny, 21 C"}
    status, events = ask(tool_server, WEATHER_Q + [call, result])
    assert status == 200
    assert events[0][1]["prompt"].count("sunny, 21 C") == 1, "the result is in the prompt"
    end = done(events)
    assert end["text"] == "Sunny and 21 degrees in Paris." and end["calls"] == []  # as it was taught
    assert end["message"] == {"role": "assistant", "content": end["text"]}


BAD_TOOLS = {
    "bad JSON": ('[{"name": "get_weather"', "'tools' is not valid JSON (Expecting ',' delimiter at character 23)"),
    "not a list": ({"get_weather": WEATHER}, "'tools' must be a list of functions, got an object"),
    "a tool without a name": ([{"description": "?"}], "tools[0] is not a function with a name"),
    "a name twice": ([WEATHER, WEATHER], "'tools' declares 'get_weather' twice"),
    "parameters not a schema": ([{"name": "f", "parameters": [1]}], "tools[0] (f): 'parameters' must be a JSON-schema"),
}


@pytest.mark.parametrize("case", BAD_TOOLS)
def test_a_bad_tool_list_is_a_400_that_says_what_is_wrong(tool_server, case):
    tools, message = BAD_TOOLS[case]
    status, error = ask(tool_server, WEATHER_Q, tools)
    assert status == 400 and message in error, error
    assert "write tools as a list of functions" in error or case == "a name twice", "with the hint"
    assert ask(tool_server, WEATHER_Q, "", max_new_tokens=4)[0] == 200, "the server keeps serving; empty: no tools"


CALL = {"role": "assistant", "content": "", "tool_calls": [PARIS]}
RESULT = {"role": "tool", "name": "get_weather", "content": '{ "temp" : 21 }'}
BAD_CONVERSATIONS = {
    "a result without a call": ([WEATHER_Q[0], RESULT], "no call waits for one"),
    "a result for another function": ([*WEATHER_Q, CALL, {**RESULT, "name": "get_time"}], "the result of get_weather"),
    "words while a call waits": ([*WEATHER_Q, CALL, *WEATHER_Q], "waits for its result"),
    "one of two results": ([*WEATHER_Q, {**CALL, "tool_calls": [PARIS, PARIS]}, RESULT], "get_weather has none yet"),
    "arguments not an object": ([*WEATHER_Q, {**CALL, "tool_calls": [{"name": "f", "arguments": "{}"}]}, RESULT],
                                "tool_calls: [{name, arguments"),
    "a tool message without a name": ([*WEATHER_Q, CALL, {"role": "tool", "content": "21"}], "names the call"),
    "calls on a user message": ([{**WEATHER_Q[0], "tool_calls": [PARIS]}], "tool_calls: [{name, arguments"),
    "ends with the model's call": ([*WEATHER_Q, CALL], "the result of the model's call"),
}


@pytest.mark.parametrize("case", BAD_CONVERSATIONS)
def test_the_conversation_sent_back_is_checked(case):
    from desktune.ui.chat import check

    messages, message = BAD_CONVERSATIONS[case]
    with pytest.raises(Refused) as refused:
        check({"messages": messages, "tools": OPENAI_TOOLS})
    assert message in refused.value.message and refused.value.status == 400


def test_a_checked_conversation_keeps_the_shape_training_reads():
    from desktune.ui.chat import check

    sent = [*WEATHER_Q, {**CALL, "id": "x"}, {**RESULT, "tool_call_id": "call_0"}]
    turn, _, _, tools = check({"messages": sent, "tools": json.dumps(OPENAI_TOOLS), "system": "Be brief."})
    assert turn == [{"role": "system", "content": "Be brief."}, *WEATHER_Q, CALL,
                    {"role": "tool", "name": "get_weather", "content": '{"temp": 21}'}], "JSON stored compact"
    assert tools == [WEATHER]


@pytest.mark.parametrize("value", [OPENAI_TOOLS, [WEATHER], json.dumps(OPENAI_TOOLS),
                                   [{"name": "f", "parameters": '{"type": "object"}'}], [{"name": "g"}]])
def test_the_page_s_tool_reader_reads_as_training_does(value):
    from desktune.data.tools import read_tools as training_reads
    from desktune.ui.tools import read_tools

    assert read_tools(value) == training_reads(value, "tools")


def test_tools_on_a_template_that_cannot_write_them_are_refused_before_the_answer_starts():
    from types import SimpleNamespace

    from desktune.ui.chat import prompt_text

    own = SimpleNamespace(chat=SimpleNamespace(tool_format=None))
    with pytest.raises(Refused, match="never mentions tools"):
        prompt_text(own, WEATHER_Q, [WEATHER])
    with pytest.raises(Refused, match="never mentions tools"):
        prompt_text(own, [*WEATHER_Q, CALL, RESULT], None)

"""Tool calls at inference: what each built-in template writes parses back to the same calls, a call that cannot
be read comes back raw, and generate and chat take --tools."""

import json

import pytest

from desktune.data.formats import normalise_with_tools
from desktune.infer.tool_calls import ParsedReply, openai_tool_calls, parse_calls
from test_tools_data import FORMATS, WEATHER, chat_for, openai_row

# Every kind of value a call carries: strings with the marks' own punctuation, numbers, booleans, null, nesting.
ODD_ARGUMENTS = {"city": "Saint-Denis, Réunion: {north} [x]", "days": 3, "ratio": -0.25, "exact": True,
                 "note": None, "empty": "", "where": {"lat": 48.85, "tags": ["a b", 2, False, {"k": []}]}, "none": {}}
CALLS = {
    "one call": ("", [{"name": "get_weather", "arguments": {"city": "Paris"}}]),
    "words and a call": ("Let me look that up.", [{"name": "get_weather", "arguments": {"city": "Paris"}}]),
    "every kind of value": ("", [{"name": "get_weather", "arguments": ODD_ARGUMENTS}]),
    "two calls, one without arguments": ("", [{"name": "get_weather", "arguments": {"city": "Rome", "days": 2}},
                                              {"name": "get_time", "arguments": {}}]),
}


def assistant_text(chat, messages, tools) -> str:
    """The assistant turn's text as generation returns it: the tokens after the prompt, up to the first stop id."""
    prompt = chat.prompt_ids(messages[:-1], tools)
    ids = chat.encode(messages, "f:1", tools=tools).ids
    answer = ids[len(prompt):]
    end = next(i for i, token in enumerate(answer) if token in chat.stop_ids)
    assert answer[end] == chat.end_of_turn, "a call turn must end at the template's end of turn"
    return chat.tokenizer.decode(answer[:end], skip_special_tokens=False).strip()


@pytest.mark.parametrize("case", CALLS)
@pytest.mark.parametrize("arch, template, tool_format", [(f[0], f[1], f[3]) for f in FORMATS])
def test_each_template_s_calls_parse_back_to_the_same_calls(tiny_models, arch, template, tool_format, case):
    chat = chat_for(tiny_models, arch, template)
    assert chat.tool_format == tool_format
    content, calls = CALLS[case]
    tools = [WEATHER, {"name": "get_time", "description": "The time now.", "parameters": {}}]
    messages = [{"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": content, "tool_calls": calls}]
    text = assistant_text(chat, messages, tools)
    assert parse_calls(text, tool_format) == ParsedReply(content, calls, [])


@pytest.mark.parametrize("arch, template, tool_format", [(f[0], f[1], f[3]) for f in FORMATS])
def test_a_plain_answer_has_no_calls(tiny_models, arch, template, tool_format):
    chat = chat_for(tiny_models, arch, template)
    messages, tools = normalise_with_tools(openai_row(), "f:1")
    text = assistant_text(chat, messages, tools)
    assert parse_calls(text, tool_format) == ParsedReply("Sunny and 21 degrees in Paris.")


FG_CALL = "<start_function_call>call:get_weather{city:<escape>Paris<escape>}<end_function_call>"
HERMES = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
LLAMA = '{"name": "get_weather", "parameters": {"city": "Paris"}}'
PARIS = {"name": "get_weather", "arguments": {"city": "Paris"}}
# case: (format, text, the calls read, the raw calls kept)
MALFORMED = {
    "functiongemma cut off by the token limit": (
        "functiongemma", FG_CALL + "<start_function_call>call:get_weather{city:<escape>Ro",
        [PARIS], ["<start_function_call>call:get_weather{city:<escape>Ro"]),
    "functiongemma bare word value": (
        "functiongemma", "<start_function_call>call:f{city:Paris}<end_function_call>", [],
        ["<start_function_call>call:f{city:Paris}<end_function_call>"]),
    "functiongemma without call:": (
        "functiongemma", "<start_function_call>get_weather{}<end_function_call>", [],
        ["<start_function_call>get_weather{}<end_function_call>"]),
    "functiongemma text after the arguments": (
        "functiongemma", "<start_function_call>call:f{a:1}}<end_function_call>", [],
        ["<start_function_call>call:f{a:1}}<end_function_call>"]),
    "hermes bad JSON": (
        "hermes-json", '<tool_call>\n{"name": "get_weather", "arguments": {city: "Paris"}}\n</tool_call>\n' + HERMES,
        [PARIS], ['<tool_call>\n{"name": "get_weather", "arguments": {city: "Paris"}}\n</tool_call>']),
    "hermes cut off": ("hermes-json", HERMES + '\n<tool_call>\n{"name": "get_wea', [PARIS],
                       ['<tool_call>\n{"name": "get_wea']),
    "hermes without a name": ("hermes-json", '<tool_call>\n{"arguments": {}}\n</tool_call>', [],
                              ['<tool_call>\n{"arguments": {}}\n</tool_call>']),
    "hermes arguments not an object": ("hermes-json", '<tool_call>{"name": "f", "arguments": [1]}</tool_call>', [],
                                       ['<tool_call>{"name": "f", "arguments": [1]}</tool_call>']),
    "llama3 cut off": ("llama3-json", LLAMA + '\n{"name": "get_weather", "parameters": {"ci', [PARIS],
                       ['{"name": "get_weather", "parameters": {"ci']),
    "tokenizer template, either form": ("tokenizer template", HERMES + "\n" + LLAMA + '\n{"name": 1}', [PARIS, PARIS],
                                        ['{"name": 1}']),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_call_that_cannot_be_read_comes_back_raw(case):
    tool_format, text, calls, raw = MALFORMED[case]
    reply = parse_calls("Checking.\n" + text, tool_format)
    assert reply == ParsedReply("Checking.", calls, raw)


def test_arguments_written_as_a_json_string_and_the_python_tag_are_read():
    hermes = '<tool_call>{"name": "f", "arguments": "{\\"a\\": 1}"}</tool_call>'
    assert parse_calls(hermes, "hermes-json").calls == [{"name": "f", "arguments": {"a": 1}}]
    llama = '<|python_tag|>{"name": "f", "parameters": {"a": 1}}'
    assert parse_calls(llama, "llama3-json").calls == [{"name": "f", "arguments": {"a": 1}}]


def test_json_that_is_no_call_and_a_format_without_tools_stay_words():
    assert parse_calls('{"temp": 21}', "llama3-json") == ParsedReply('{"temp": 21}')
    assert parse_calls(" " + HERMES + " ", None) == ParsedReply(HERMES)


def test_openai_form():
    reply = ParsedReply("", [PARIS, {"name": "get_time", "arguments": {"zone": "Réunion"}}])
    assert openai_tool_calls(reply) == [
        {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": '{"zone": "Réunion"}'}}]
    assert json.loads(openai_tool_calls(reply)[1]["function"]["arguments"]) == {"zone": "Réunion"}

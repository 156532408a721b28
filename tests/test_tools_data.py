"""Tool-calling rows: every accepted shape reads to one internal shape, every bad call is refused with its line,
and the call and the final answer train while declarations, tool results and the user's words do not."""

import json

import pytest

from conftest import write_jsonl
from desktune.cli import main
from desktune.data.dataset import mark_trained
from desktune.data.formats import normalise, normalise_with_tools
from desktune.data.template import ChatFormat
from desktune.errors import DataError
from desktune.models.load import load_tokenizer, resolve
from desktune.models.templates import GEMMA_WITHOUT_TOOLS

WEATHER = {"name": "get_weather", "description": "Current weather in a city.",
           "parameters": {"type": "object", "required": ["city"],
                          "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
                                         "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}
# The internal shape every accepted form below must read to.
MESSAGES = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
    {"role": "tool", "name": "get_weather", "content": "sunny, 21 C"},
    {"role": "assistant", "content": "Sunny and 21 degrees in Paris."},
]


def openai_row(tools=None, arguments=None, result=None, call=None):
    call = call or {"type": "function", "id": "call_1",
                    "function": {"name": "get_weather", "arguments": arguments or '{"city": "Paris"}'}}
    return {"tools": [{"type": "function", "function": WEATHER}] if tools is None else tools,
            "messages": [{"role": "user", "content": "Weather in Paris?"},
                         {"role": "assistant", "content": None, "tool_calls": [call]},
                         result or {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
                         {"role": "assistant", "content": "Sunny and 21 degrees in Paris."}]}


SHAREGPT_ROW = {"conversations": [
    {"from": "human", "value": "Weather in Paris?"},
    {"from": "function_call", "value": '{"name": "get_weather", "arguments": {"city": "Paris"}}'},
    {"from": "observation", "value": "sunny, 21 C"},
    {"from": "gpt", "value": "Sunny and 21 degrees in Paris."}], "tools": json.dumps([WEATHER])}
SHAPES = {
    "openai": openai_row(),
    "bare tools": openai_row(tools=[WEATHER]),
    "tools as a JSON string": openai_row(tools=json.dumps([{"type": "function", "function": WEATHER}])),
    "arguments as an object": openai_row(arguments={"city": "Paris"}),
    "arguments as JSON encoded twice": openai_row(arguments=json.dumps('{"city": "Paris"}')),
    "result named, not by id": openai_row(result={"role": "tool", "name": "get_weather", "content": "sunny, 21 C"}),
    "result neither named nor by id": openai_row(result={"role": "tool", "content": "sunny, 21 C"}),
    "sharegpt (LLaMA-Factory)": SHAREGPT_ROW,
    "result as OpenAI's text parts": openai_row(result={"role": "tool", "tool_call_id": "call_1", "content": [
        {"type": "text", "text": "sunny, "}, {"type": "text", "text": "21 C"}]}),
    "Llama 3.1's call with parameters, result in its ipython role": openai_row(
        call={"name": "get_weather", "parameters": {"city": "Paris"}}, result={"role": "ipython", "content": "sunny, 21 C"}),
    "a null optional argument (not given)": openai_row(arguments='{"city": "Paris", "days": null, "unit": null}'),
    "OpenAI's deprecated functions": {"functions": [WEATHER], "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "function_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"role": "function", "name": "get_weather", "content": "sunny, 21 C"},
        {"role": "assistant", "content": "Sunny and 21 degrees in Paris."}]},
}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_tool_shape_reads_to_the_same_internal_shape(shape):
    messages, tools = normalise_with_tools(SHAPES[shape], "tools.jsonl:1")
    assert messages == MESSAGES and tools == [WEATHER]


def test_plain_chats_come_out_exactly_as_before():
    row = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Ahoy!"}]}
    assert normalise_with_tools(row, "f:1") == (row["messages"], None) and normalise(row, "f:1") == row["messages"]
    # a parquet table holding tool rows too gives plain rows every column, empty ones as None
    padded = {"tools": None, "messages": [{**m, "tool_calls": None, "tool_call_id": None} for m in row["messages"]]}
    assert normalise_with_tools(padded, "f:1") == (row["messages"], None)


def test_a_json_object_result_several_calls_and_a_system_turn_are_kept():
    row = openai_row()
    row["messages"][1]["tool_calls"].append({"type": "function", "id": "call_2", "function": {
        "name": "get_weather", "arguments": '{"city": "Rome", "days": 2, "unit": "celsius"}'}})
    row["messages"].insert(3, {"role": "tool", "tool_call_id": "call_2", "content": {"sky": "rain", "c": 17}})
    row["messages"].insert(0, {"role": "system", "content": "Be brief."})
    messages, _ = normalise_with_tools(row, "f:1")
    assert messages[2]["tool_calls"][1] == {"name": "get_weather",
                                            "arguments": {"city": "Rome", "days": 2, "unit": "celsius"}}
    assert messages[4] == {"role": "tool", "name": "get_weather", "content": '{"sky": "rain", "c": 17}'}


def test_a_null_the_schema_allows_is_kept_and_a_sharegpt_system_column_is_the_system_turn():
    nullable = {**WEATHER, "parameters": {**WEATHER["parameters"], "properties": {
        "city": {"type": "string"}, "days": {"type": "integer", "nullable": True}}}}
    messages, _ = normalise_with_tools(openai_row(tools=[nullable], arguments='{"city": "Paris", "days": null}'), "f:1")
    assert messages[1]["tool_calls"][0]["arguments"] == {"city": "Paris", "days": None}
    messages, _ = normalise_with_tools({**SHAREGPT_ROW, "system": "You are a travel agent."}, "f:1")
    assert messages[0] == {"role": "system", "content": "You are a travel agent."} and messages[1:] == MESSAGES
    plain = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Arr."}], "system": "Pirate."}
    assert normalise(plain, "f:1")[0] == {"role": "system", "content": "Pirate."}
    unknown = {**SHAREGPT_ROW, "conversations": [SHAREGPT_ROW["conversations"][0],
                                                 {"from": "function_call", "value": '{"name": "nope", "arguments": {}}'}]}
    with pytest.raises(DataError, match=r"^f:1: conversations\[1\] tool_calls\[0\] calls 'nope'"):
        normalise({**unknown, "system": "Pirate."}, "f:1")  # the place as the file numbers it


def test_a_call_with_empty_arguments_and_a_result_that_is_a_number_are_read():
    tools = [WEATHER, {"name": "get_time", "description": "The time now."}]
    row = openai_row(tools=tools, call={"type": "function", "id": "call_1",
                                        "function": {"name": "get_time", "arguments": ""}},
                     result={"role": "tool", "tool_call_id": "call_1", "content": 12})
    messages, _ = normalise_with_tools(row, "f:1")
    assert messages[1]["tool_calls"] == [{"name": "get_time", "arguments": {}}]
    assert messages[2] == {"role": "tool", "name": "get_time", "content": "12"}


# Salesforce xLAM's rows: one request, its calls, and parameters written with Python's type names.
XLAM_TOOLS = [{"name": "get_weather", "description": "Current weather in a city.", "parameters": {
    "city": {"description": "The city.", "type": "str"},
    "days": {"description": "Days ahead.", "type": "int, optional", "default": 1},
    "hours": {"description": "Hours of the day.", "type": "List[int]", "default": ""},
    "type": {"description": "What to report.", "type": "Optional[str]"}}}]


def xlam_row(answers):
    return {"query": "Weather in Paris for 2 days?", "tools": json.dumps(XLAM_TOOLS), "answers": json.dumps(answers)}


def test_an_xlam_row_reads_as_a_request_and_its_calls_with_a_json_schema():
    answers = [{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}},
               {"name": "get_weather", "arguments": {"city": "Lyon", "hours": [9, 12]}}]
    messages, tools = normalise_with_tools(xlam_row(answers), "xlam.jsonl:1")
    assert messages == [{"role": "user", "content": "Weather in Paris for 2 days?"},
                        {"role": "assistant", "content": "", "tool_calls": answers}]
    assert tools[0]["parameters"] == {"type": "object", "required": ["city"], "properties": {
        "city": {"type": "string", "description": "The city."},
        "days": {"type": "integer", "description": "Days ahead.", "default": 1},
        "hours": {"type": "array", "description": "Hours of the day."},
        "type": {"type": "string", "description": "What to report."}}}
    with pytest.raises(DataError, match=r"^xlam.jsonl:1: .*argument 'days' is a string .* wants an integer"):
        normalise_with_tools(xlam_row([{"name": "get_weather", "arguments": {"city": "Paris", "days": "2"}}]),
                             "xlam.jsonl:1")
    with pytest.raises(DataError, match=r"^xlam.jsonl:1: 'answers' holds no call to learn") as e:
        normalise_with_tools(xlam_row([]), "xlam.jsonl:1")
    assert "write answers as a JSON list of calls" in e.value.hint


def call(arguments, name="get_weather"):
    return {"type": "function", "id": "call_1", "function": {"name": name, "arguments": arguments}}


NO_CALL = {"tools": [WEATHER], "messages": [{"role": "user", "content": "Hi"},
                                            {"role": "tool", "name": "get_weather", "content": "sunny"},
                                            {"role": "assistant", "content": "Sunny."}]}
# case: (row, what the error says after 'tools.jsonl:3: ', a part of its hint)
BAD = {
    "unknown function": (
        openai_row(call=call('{"city": "Paris"}', "get_time")),
        r"messages\[1\] tool_calls\[0\] calls 'get_time', which is not in the row's tools \(get_weather\)",
        "declare the function"),
    "missing required argument": (
        openai_row(arguments='{"days": 2}'), r"missing required argument 'city'", "add it to the call's arguments"),
    "wrong type": (
        openai_row(arguments='{"city": "Paris", "days": "two"}'),
        r"argument 'days' is a string \(\"two\"\), but the schema wants an integer", "fix the argument's value"),
    "a bool is no integer": (
        openai_row(arguments='{"city": "Paris", "days": true}'),
        r"argument 'days' is a boolean \(true\), but the schema wants an integer", "fix the argument's value"),
    "not in the enum": (
        openai_row(arguments='{"city": "Paris", "unit": "kelvin"}'),
        r"argument 'unit' is \"kelvin\", not one of \[\"celsius\", \"fahrenheit\"\]", "a value the"),
    "true is no member of an enum of numbers": (
        openai_row(tools=[{"name": "get_weather", "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}, "days": {"enum": [1, 0]}}}}], arguments='{"city": "Paris", "days": true}'),
        r"argument 'days' is true, not one of \[1, 0\]", "a value the"),
    "arguments not JSON": (
        openai_row(arguments='{"city": Paris}'), r"\(get_weather\) arguments is not valid JSON",
        "write arguments as a JSON object"),
    "arguments as a Python dict": (
        openai_row(arguments="{'city': 'Paris'}"), r"\(get_weather\) arguments is not valid JSON",
        "write them with json.dumps"),
    "arguments not an object": (
        openai_row(arguments='["Paris"]'), r"arguments are an array, not a JSON object",
        "write arguments as a JSON object"),
    "result with no call": (
        NO_CALL, r"messages\[1\]: a tool message with no preceding call 'get_weather'", "put each tool result"),
    "result for another call id": (
        openai_row(result={"role": "tool", "tool_call_id": "call_9", "content": "x"}),
        r"a tool message with no preceding call 'call_9'", "put each tool result"),
    "tools not a list": (
        openai_row(tools={"get_weather": WEATHER}), r"'tools' must be a list of functions, got an object",
        "write tools as a list of functions"),
    "a tool without a name": (
        openai_row(tools=[{"type": "function", "function": {"description": "?"}}]),
        r"tools\[0\] is not a function with a name", "write tools as a list of functions"),
    "properties not an object": (
        openai_row(tools=[{"name": "get_weather", "parameters": {"type": "object", "properties": [{"name": "city"}]}}]),
        r"tools\[0\] \(get_weather\) parameters: 'properties' must be an object of argument schemas",
        "write the parameters as a JSON schema"),
    "required not a list": (
        openai_row(tools=[{"name": "get_weather", "parameters": {**WEATHER["parameters"], "required": "city"}}]),
        r"parameters: 'required' must be a list of argument names, not \"city\"", "write the parameters as"),
    "an enum not a list": (
        openai_row(tools=[{"name": "get_weather", "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "enum": "Paris"}}}}]),
        r"parameters.city: 'enum' must be a list of values", "write the parameters as"),
    "a type that names none": (
        openai_row(tools=[{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": 5}}}}]),
        r"parameters.city: 'type' must be a type name or a list of them, not 5", "write the parameters as"),
    "tools string not JSON": (
        openai_row(tools='[{"name": "get_weather"'), r"'tools' is not valid JSON",
        "write tools as a list of functions"),
}


@pytest.mark.parametrize("case", BAD)
def test_each_bad_tool_row_is_refused_with_its_line_and_a_hint(case):
    row, message, hint = BAD[case]
    with pytest.raises(DataError, match=r"^tools.jsonl:3: .*" + message) as e:
        normalise_with_tools(row, "tools.jsonl:3")
    assert hint in e.value.hint


def test_data_check_refuses_a_bad_tool_row_in_one_error_line(tmp_path, tiny_models, capsys):
    path = write_jsonl(tmp_path / "tools.jsonl", [openai_row(), BAD["missing required argument"][0]])
    assert main(["data", "check", str(path), f"--model={tiny_models['gemma3']}"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert f"error: 1 invalid rows, the first: {path}:2: messages[1] tool_calls[0] (get_weather): missing required " \
           "argument 'city'" in err
    assert "hint: add it to the call's arguments" in err  # the first bad row's own hint, not a general one


def test_a_file_of_only_bad_rows_says_why_the_first_is_bad(tmp_path, tiny_models, capsys):
    path = write_jsonl(tmp_path / "tools.jsonl", [BAD["unknown function"][0]])
    assert main(["data", "check", str(path), f"--model={tiny_models['gemma3']}"]) == 2
    err = capsys.readouterr().err
    assert f"no usable examples (1 rows, 0 longer than data.max_length, 1 invalid; the first: {path}:1: " in err
    assert "calls 'get_time', which is not in the row's tools" in err and "hint: declare the function" in err


# A small Qwen 2.5-like template that takes tools itself (calls in <tool_call>, results in a user turn).
QWEN_LIKE = (
    "{%- if tools %}<|im_start|>system\n{% if messages[0].role == 'system' %}{{ messages[0].content }}\n\n{% endif %}"
    "# Tools\n<tools>{% for tool in tools %}\n{{ tool | tojson }}{% endfor %}\n</tools><|im_end|>\n"
    "{%- elif messages[0].role == 'system' %}<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n{% endif %}"
    "{%- for message in messages %}{% if message.role == 'system' %}"
    "{% elif message.role == 'tool' %}"
    "<|im_start|>user\n<tool_response>\n{{ message.content }}\n</tool_response><|im_end|>\n"
    "{% else %}<|im_start|>{{ message.role }}\n{{ message.content }}"
    "{% for call in message.tool_calls or [] %}<tool_call>\n"
    "{{ {'name': call.function.name, 'arguments': call.function.arguments} | tojson }}\n</tool_call>{% endfor %}"
    "<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# arch, data.template, the name and tool format the run records, and how the call is written
HERMES_CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}'
FUNCTIONGEMMA_CALL = "<start_function_call>call:get_weather{city:<escape>Paris<escape>}"
FORMATS = [("gemma3", "auto", "gemma", "functiongemma", FUNCTIONGEMMA_CALL),
           ("qwen2", "chatml", "chatml", "hermes-json", HERMES_CALL),
           ("llama", "llama3", "llama3", "llama3-json", '{"name": "get_weather", "parameters": {"city": "Paris"}}'),
           ("qwen2", "own", "own", "tokenizer template", HERMES_CALL)]


def chat_for(tiny_models, arch, template):
    tokenizer = load_tokenizer(resolve(str(tiny_models[arch])))
    if template == "own":
        tokenizer.chat_template = QWEN_LIKE
    return ChatFormat(tokenizer, template, "gemma3_text" if arch == "gemma3" else arch)


def trained_and_not(chat, enc) -> tuple[str, str]:
    marked = mark_trained(chat.tokenizer, enc)
    trained = "".join(part.split("]]")[0] for part in marked.split("[[")[1:])
    untrained = "".join(part.split("]]")[-1] for part in marked.split("[["))
    return trained, untrained


@pytest.mark.parametrize("arch, template, name, tool_format, written_call", FORMATS)
def test_the_call_and_the_answer_train_but_not_declarations_results_or_the_user(tiny_models, arch, template, name,
                                                                               tool_format, written_call):
    chat = chat_for(tiny_models, arch, template)
    assert (chat.name, chat.tool_format) == (name, tool_format)
    messages, tools = normalise_with_tools(openai_row(), "f:1")
    enc = chat.encode(messages, "f:1", tools=tools)
    trained, untrained = trained_and_not(chat, enc)
    assert written_call in trained and "Sunny and 21 degrees in Paris." in trained
    for words in ("Weather in Paris?", "sunny, 21 C", "Current weather in a city.", "get_weather"):
        assert words in untrained  # the call's own name trains too; its declaration does not
    assert "sunny, 21 C" not in trained and "Current weather" not in trained and "Weather in Paris?" not in trained
    ends = [i for i, t in zip(enc.ids, enc.trained) if t and i == chat.end_of_turn]
    assert len(ends) == 2, "the call turn must end like any turn, its end-of-turn token trained"


@pytest.mark.parametrize("arch, template", [(f[0], f[1]) for f in FORMATS])
def test_each_generation_prompt_is_exactly_the_training_prefix(tiny_models, arch, template):
    chat = chat_for(tiny_models, arch, template)
    messages, tools = normalise_with_tools(openai_row(), "f:1")
    enc = chat.encode(messages, "f:1", tools=tools)
    for turn in (1, 3):  # the call, then the answer after the tool's result
        prompt = chat.prompt_ids(messages[:turn], tools)
        assert enc.ids[: len(prompt)] == prompt
        assert enc.trained[len(prompt)] and not enc.trained[len(prompt) - 1]


def test_train_on_last_trains_the_final_answer_only(tiny_models):
    chat = chat_for(tiny_models, "gemma3", "auto")
    messages, tools = normalise_with_tools(openai_row(), "f:1")
    trained, _ = trained_and_not(chat, chat.encode(messages, "f:1", "last", tools))
    assert trained == "Sunny and 21 degrees in Paris.<end_of_turn>\n"


def test_calls_only_marks_the_call_turns_alone(tiny_models):
    chat = chat_for(tiny_models, "gemma3", "auto")
    messages, tools = normalise_with_tools(openai_row(), "f:1")
    trained, _ = trained_and_not(chat, chat.encode(messages, "f:1", tools=tools, calls_only=True))
    assert trained == "<start_function_call>call:get_weather{city:<escape>Paris<escape>}<end_function_call><end_of_turn>\n"


def test_the_functiongemma_format_as_written(tiny_models):
    chat = chat_for(tiny_models, "gemma3", "auto")
    messages, tools = normalise_with_tools(openai_row(), "f:1")
    assert chat.render([{"role": "system", "content": "Be brief."}] + messages, tools=tools) == (
        "<bos><start_of_turn>developer\nBe brief.\n\n<start_function_declaration>declaration:get_weather{description:"
        "<escape>Current weather in a city.<escape>,parameters:{properties:{city:{type:<escape>STRING<escape>},days:{"
        "type:<escape>INTEGER<escape>},unit:{enum:[<escape>celsius<escape>,<escape>fahrenheit<escape>],type:<escape>"
        "STRING<escape>}},required:[<escape>city<escape>],type:<escape>OBJECT<escape>}}<end_function_declaration>"
        "<end_of_turn>\n<start_of_turn>user\nWeather in Paris?<end_of_turn>\n<start_of_turn>model\n"
        "<start_function_call>call:get_weather{city:<escape>Paris<escape>}<end_function_call><end_of_turn>\n"
        "<start_of_turn>developer\n<start_function_response>response:get_weather{value:<escape>sunny, 21 C<escape>}"
        "<end_function_response><end_of_turn>\n<start_of_turn>model\nSunny and 21 degrees in Paris.<end_of_turn>\n")


PLAIN = [{"role": "system", "content": "You are Captain Quill."}, {"role": "user", "content": "Why is the sky blue?"},
         {"role": "assistant", "content": "Ahoy! Blue light scatters most."}]
PLAIN_GEMMA = ("<bos><start_of_turn>user\nYou are Captain Quill.\n\nWhy is the sky blue?<end_of_turn>\n"
               "<start_of_turn>model\nAhoy! Blue light scatters most.<end_of_turn>\n")


def test_the_builtin_gemma_template_renders_a_plain_chat_as_before(tiny_models):
    chat = chat_for(tiny_models, "gemma3", "auto")
    assert chat.render(PLAIN) == PLAIN_GEMMA
    assert chat.render(PLAIN[:2], generation_prompt=True) == PLAIN_GEMMA.split("Ahoy!")[0]
    with pytest.raises(DataError, match="roles must alternate"):
        chat.render(PLAIN[1:2] * 2)


def test_a_tokenizer_cached_with_the_earlier_gemma_template_is_still_gemma(tiny_models, tmp_path):
    tokenizer = load_tokenizer(resolve(str(tiny_models["gemma3"])))
    tokenizer.chat_template = GEMMA_WITHOUT_TOOLS  # what ~/.cache/desktune/models/gemma-3-270m holds from before
    tokenizer.save_pretrained(tmp_path)
    from transformers import AutoTokenizer

    cached = AutoTokenizer.from_pretrained(tmp_path)
    assert cached.apply_chat_template(PLAIN, tokenize=False) == PLAIN_GEMMA
    chat = ChatFormat(cached, "auto", "gemma3_text")
    assert (chat.name, chat.tool_format) == ("gemma", "functiongemma")
    assert chat.render(PLAIN) == PLAIN_GEMMA


def test_an_own_template_that_cannot_show_tools_is_refused_with_a_way_out(tiny_models):
    tokenizer = load_tokenizer(resolve(str(tiny_models["qwen2"])))
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\n' }}{% endfor %}"
    chat = ChatFormat(tokenizer, "auto", "qwen2")
    assert chat.name == "own" and chat.tool_format is None
    messages, tools = normalise_with_tools(openai_row(), "f:1")
    with pytest.raises(DataError, match="f:1: it has tools, but the tokenizer's own chat template never mentions") as e:
        chat.encode(messages, "f:1", tools=tools)
    assert "data.template" in e.value.hint


def test_data_check_reports_tool_use(tmp_path, tiny_models, capsys):
    plain = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Ahoy!"}]}
    path = write_jsonl(tmp_path / "tools.jsonl", [openai_row(), openai_row(tools=[WEATHER]),
                                                  {**plain, "tools": [WEATHER, {**WEATHER, "name": "get_time"}]}])
    model = f"--model={tiny_models['gemma3']}"
    assert main(["data", "check", str(path), model, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tool_format"] == "functiongemma" and report["template"] == "gemma"
    assert report["tool_use"] == {"rows_with_tools": 3, "tools_per_row_mean": 1.33, "tools_per_row_max": 2,
                                  "calls_per_example": 0.67, "assistant_turns_without_call": 3,
                                  "call_share": 0.667,  # 2 of 3 requests answered with a call
                                  "rare_arguments": {"get_weather.days": [0, 2], "get_weather.unit": [0, 2]},
                                  "few_wordings": {}}  # 2 calls: too few to say
    assert main(["data", "check", str(path), model]) == 0
    out = capsys.readouterr().out
    assert ("tools         1.33 per row (max 2) in 3 rows; 0.67 calls per example; 3 assistant turns without a call "
            "(67% of requests called: generation balances calls at that share); written as functiongemma") in out
    assert "seldom used   get_weather.days in 0 of 2 calls, get_weather.unit in 0 of 2 calls (optional" in out


def test_an_optional_argument_in_one_call_of_five_or_more_is_not_rare():
    from desktune.data.dataset import Example
    from desktune.data.tool_coverage import rare_arguments

    rows = [normalise_with_tools(openai_row(arguments=arguments), "f:1") for arguments in
            ['{"city": "Rome", "days": 2}'] + ['{"city": "Paris"}'] * 4]
    examples = [Example("f:1", messages, None, tools) for messages, tools in rows]
    assert rare_arguments(examples) == {"get_weather.unit": [0, 5]}  # days in 1 of 5 calls is not rare


def weather_row(request: str, arguments: dict) -> dict:
    row = openai_row(arguments=json.dumps(arguments))
    row["messages"][0]["content"] = request
    return row


def test_data_check_names_a_function_asked_only_a_few_ways(tmp_path, tiny_models, capsys):
    templated = [weather_row(f"Weather in {city}?", {"city": city}) for city in ("Paris", "Rome", "Oslo")] + \
        [weather_row(f"forecast for {city}, {n} days", {"city": city, "days": n}) for city, n in (("Lima", 3), ("Bern", 10))]
    path = write_jsonl(tmp_path / "tools.jsonl", templated)
    assert main(["data", "check", str(path), f"--model={tiny_models['gemma3']}"]) == 0
    assert "few wordings  get_weather: 5 requests in 2 wordings (a tuned model calls" in capsys.readouterr().out
    people = [weather_row("Weather in Paris?", {"city": "Paris"}), weather_row("is it raining in rome", {"city": "Rome"}),
              weather_row("oslo: do I need a coat", {"city": "Oslo"}), weather_row("LIMA 3 day outlook", {"city": "Lima", "days": 3})]
    path = write_jsonl(tmp_path / "people.jsonl", people)
    assert main(["data", "check", str(path), f"--model={tiny_models['gemma3']}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tool_use"]["few_wordings"] == {}
    one_way = [weather_row(f"Weather in {city}?", {"city": city}) for city in ("Paris", "Rome", "Oslo", "Lima")]
    path = write_jsonl(tmp_path / "one_way.jsonl", one_way)
    assert main(["data", "check", str(path), f"--model={tiny_models['gemma3']}"]) == 0
    assert "get_weather: 4 requests in 1 wording (a tuned" in capsys.readouterr().out


def test_a_wording_masks_the_values_of_every_call_of_its_turn():
    from desktune.data.tool_coverage import wording

    calls = [{"name": "price", "arguments": {"symbol": "AAPL"}}, {"name": "price", "arguments": {"symbol": "MSFT"}}]
    assert wording("Prices of AAPL and msft, please!", calls) == "prices of {} and {} please"
    assert wording("book 2 at 12:30pm", [{"name": "book", "arguments": {"people": 2, "vip": True}}]) == "book {} at #pm"


def test_tool_rows_longer_than_1024_tokens_are_kept_whole_by_default(tmp_path, tiny_models, capsys):
    wordy = {**WEATHER, "description": "Current weather in a city. " * 120}  # declarations of ~1,500 tiny tokens
    path = write_jsonl(tmp_path / "tools.jsonl", [openai_row(tools=[{"type": "function", "function": wordy}])] * 4)
    model = f"--model={tiny_models['gemma3']}"
    assert main(["data", "check", str(path), model, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["truncated"] == 0 and report["max_length"] == report["max_length_seen"] > 1024
    assert report["max_length_why"].startswith("auto: the longest tool row")
    assert main(["data", "check", str(path), "data.max_length=1024", model]) == 2  # asked for: cut, and said so
    assert "no trained tokens left after truncation to 1024" in capsys.readouterr().err
    chats = write_jsonl(tmp_path / "chats.jsonl", [{"messages": [{"role": "user", "content": "hi"},
                                                                 {"role": "assistant", "content": "Ahoy! " * 800}]}] * 2)
    assert main(["data", "check", str(chats), model, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["max_length"] == 1024 and report["truncated"] == 2  # chat rows: cut at 1024 as before


def test_a_plain_file_reports_no_tool_format(tmp_path, tiny_models, capsys):
    path = write_jsonl(tmp_path / "plain.jsonl", [{"messages": PLAIN}])
    assert main(["data", "check", str(path), f"--model={tiny_models['gemma3']}", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tool_format"] == "none" and "tool_use" not in report


def test_tool_rows_train_end_to_end(tiny_models, tmp_path):
    rows = [openai_row(arguments={"city": city}) for city in ("Paris", "Rome", "Oslo", "Lima")] * 3
    path = write_jsonl(tmp_path / "tools.jsonl", rows)
    run = tmp_path / "run"
    assert main(["train", f"model={tiny_models['gemma3']}", f"data.train={path}", f"output={run}", "data.eval=0.25",
                 "train.max_steps=2", "train.batch_size=4", "train.eval_samples=0", "--samples=0"]) == 0
    data = json.loads((run / "data.json").read_text())
    assert data["tool_format"] == "functiongemma" and data["end_of_turn_trained"]
    assert "[[<start_function_call>call:get_weather{city:<escape>" in data["example"]
    assert "data:\n" in (run / "config.yaml").read_text() and "template: gemma" in (run / "config.yaml").read_text()
    losses = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines() if "loss" in line]
    assert len(losses) == 2 and all(loss == loss for loss in losses)
    # method auto: a model this small learning calls is fine-tuned whole, and the run says why
    decisions = json.loads((run / "decisions.json").read_text())
    assert decisions["method"].startswith("full (auto: a small model") and (run / "model").is_dir()
    assert "method: full" in (run / "config.yaml").read_text()
    # the held-out calls' own loss judges the evaluations: the answers in words are a different, harder task
    assert decisions["best_checkpoint"].startswith("the lowest held-out loss of the calls alone")
    evals = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "eval_loss" in r]
    assert evals and all(0 < r["calls_loss"] != r["eval_loss"] for r in evals)


def test_a_hermes_sharegpt_row_reads_as_a_plain_chat_with_results_on_the_user_side():
    call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    row = {"conversations": [
        {"from": "system", "value": "You may call these tools: <tools>[...]</tools>"},
        {"from": "human", "value": "Weather in Paris and Rome?"},
        {"from": "gpt", "value": call + "\n" + call.replace("Paris", "Rome")},
        {"from": "tool", "value": "<tool_response>sunny</tool_response>"},
        {"from": "tool", "value": "<tool_response>rain</tool_response>"},
        {"from": "gpt", "value": "Sunny in Paris, rain in Rome."}]}
    messages, tools = normalise_with_tools(row, "hermes.jsonl:1")
    assert tools is None and [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant"]
    assert messages[3]["content"] == "<tool_response>sunny</tool_response>\n<tool_response>rain</tool_response>"

"""Tool calls at inference: what each built-in template writes parses back to the same calls, a call that cannot
be read comes back raw, and generate and chat take --tools."""

import json
import subprocess
import sys

import pytest

from conftest import write_jsonl
from desktune.cli import main
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


# --- generate and chat with --tools, on a tiny Gemma 3 overfit on a few tool rows until it calls as taught ---

@pytest.fixture(scope="module")
def tool_run(tiny_models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tool-run")
    rows = [openai_row(arguments={"city": city}) for city in ("Paris", "Oslo")] * 6
    data = write_jsonl(folder / "tools.jsonl", rows)
    out = folder / "run"
    assert main(["train", f"model={tiny_models['gemma3']}", f"data.train={data}", f"output={out}", "method=full",
                 "data.eval=0.25", "train.max_steps=100", "train.lr=3e-3", "train.eval_every=0", "train.save_every=0",
                 "train.early_stopping=0", "train.eval_samples=0", "--samples=0"]) == 0
    return out


@pytest.fixture
def tools_file(tmp_path):
    path = tmp_path / "tools.json"
    path.write_text(json.dumps([{"type": "function", "function": WEATHER}]))
    return path


def generate_json(run, tools_file, capsys, *extra) -> dict:
    assert main(["generate", str(run), "--prompt", "Weather in Paris?", "--tools", str(tools_file), "--json",
                 *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_generate_with_tools_prints_the_call_the_model_learned(tool_run, tools_file, capsys):
    assert main(["generate", str(tool_run), "--prompt", "Weather in Paris?", "--tools", str(tools_file)]) == 0
    assert capsys.readouterr().out == 'call get_weather {"city": "Paris"}\n'
    out = generate_json(tool_run, tools_file, capsys)
    assert out["text"] == FG_CALL and out["finished"], "the call turn ends at <end_of_turn>, not the token limit"
    assert out["tool_calls"] == [{"id": "call_0", "type": "function",
                                  "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]
    assert out["content"] == "" and out["unparsed_calls"] == []


def test_a_call_cut_off_by_the_token_limit_is_printed_unparsed(tool_run, tools_file, capsys):
    out = generate_json(tool_run, tools_file, capsys, "--max-new-tokens", "30")
    assert not out["finished"] and out["tool_calls"] == [] and out["unparsed_calls"] == [out["text"]]
    assert out["text"].startswith("<start_function_call>call:") and FG_CALL.startswith(out["text"])
    assert main(["generate", str(tool_run), "--prompt", "Weather in Paris?", "--tools", str(tools_file),
                 "--max-new-tokens", "30"]) == 0
    assert capsys.readouterr().out == f"call (unparsed) {out['text']}\n"


def test_a_strict_call_keeps_to_the_declared_values_and_gives_every_required_argument(tool_run, tmp_path, capsys):
    """The tuned model calls for Paris. Declared with only Oslo or Rome allowed and days required, its call takes an
    allowed city and gives days before it closes, and parses; --no-strict-calls lets it write what it learned."""
    parameters = WEATHER["parameters"]
    narrow = {**WEATHER, "parameters": {**parameters, "required": ["city", "days"], "properties": {
        **parameters["properties"], "city": {"type": "string", "enum": ["Oslo", "Rome"]}}}}
    path = tmp_path / "narrow.json"
    path.write_text(json.dumps([narrow]))
    free = generate_json(tool_run, path, capsys, "--no-strict-calls")
    assert free["text"] == FG_CALL and free["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'
    strict = generate_json(tool_run, path, capsys)
    [call] = strict["tool_calls"]
    arguments = json.loads(call["function"]["arguments"])
    assert call["function"]["name"] == "get_weather" and arguments["city"] in ("Oslo", "Rome"), strict["text"]
    assert isinstance(arguments["days"], int) and strict["finished"] and strict["unparsed_calls"] == []


BAD_TOOLS_FILES = {
    "missing": (None, "no such file"),
    "bad JSON": ('[{"name": "get_weather"', "is not valid JSON (Expecting ',' delimiter at line 1 column 24)"),
    "not a list": (json.dumps({"get_weather": WEATHER}), "'tools' must be a list of functions, got an object"),
    "a tool without a name": (json.dumps([{"description": "?"}]), "tools[0] is not a function with a name"),
    "empty": ("[]", "lists no functions"),
}


@pytest.mark.parametrize("verb", ["generate", "chat"])
@pytest.mark.parametrize("case", BAD_TOOLS_FILES)
def test_a_bad_tools_file_is_one_error_line_naming_it(tiny_models, tmp_path, capsys, verb, case):
    text, message = BAD_TOOLS_FILES[case]
    path = tmp_path / "my-tools.json"
    if text is not None:
        path.write_text(text)
    argv = [verb, str(tiny_models["llama"]), "--tools", str(path)] + (["--prompt", "Hi"] if verb == "generate" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err and "hint:" in err
    assert str(path) in err and message in err


def test_tools_are_refused_where_the_chat_template_cannot_write_them(tiny_models, tmp_path, tools_file, capsys):
    import shutil

    from transformers import AutoTokenizer

    folder = shutil.copytree(tiny_models["llama"], tmp_path / "own-template")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\n' }}{% endfor %}"
    tokenizer.save_pretrained(folder)
    assert main(["generate", str(folder), "--prompt", "Hi", "--tools", str(tools_file)]) == 2
    err = capsys.readouterr().err
    assert "never mentions tools" in err and "hint: drop --tools, or train with data.template=gemma" in err


def test_a_chat_keeps_calls_and_results_in_the_shape_training_reads():
    from desktune.cli.chat import Conversation, tool_command

    conversation = Conversation(tool_format="functiongemma")
    assert tool_command(conversation, '{"temp": 21}') == (
        "(no call is waiting for a result: the model's last reply called no function; nothing added)", False)
    conversation.add_user("Weather in Paris?")
    assert conversation.add_reply(FG_CALL) == ParsedReply("", [PARIS])
    assert conversation.waiting_calls() == ["get_weather"]
    assert tool_command(conversation, "sunny, 21 C") == ("(result of get_weather added)", True)
    messages, _ = normalise_with_tools(openai_row(), "f:1")
    assert conversation.prompt() == messages[:3]
    assert conversation.waiting_calls() == [] and tool_command(conversation, "again")[1] is False


def test_a_reply_with_two_calls_waits_for_both_results_and_json_is_stored_compact():
    from desktune.cli.chat import Conversation, tool_command

    conversation = Conversation("Be brief.", "hermes-json")
    conversation.add_user("Paris and Oslo?")
    conversation.add_reply(HERMES + "\n" + HERMES.replace("Paris", "Oslo"))
    assert tool_command(conversation, '{ "temp" : 21 }') == (
        "(result of get_weather added; next, the result of get_weather: /tool RESULT)", False)
    assert tool_command(conversation, "cold") == ("(result of get_weather added)", True)
    assert [m.get("content") for m in conversation.prompt()[-2:]] == ['{"temp": 21}', "cold"]
    assert conversation.prompt()[0] == {"role": "system", "content": "Be brief."}


def test_chat_shows_the_call_takes_its_result_and_answers(tool_run, tools_file):
    lines = ["/tool 21", "Weather in Paris?", "What now?", "/tool sunny, 21 C", "/tool 22", "/reset", "/quit"]
    done = subprocess.run([sys.executable, "-m", "desktune", "chat", str(tool_run), "--tools", str(tools_file),
                           "--temperature", "0", "--repetition-penalty", "1", "--max-new-tokens", "120"],
                          input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "tools: get_weather" in out and "/tool RESULT" in out
    said = out.split("you> ")[1:]
    assert "no call is waiting" in said[0]
    assert said[1] == 'model> call get_weather {"city": "Paris"}\n'
    assert "the model called get_weather and waits for its result" in said[2]
    assert said[3] == "(result of get_weather added)\nmodel> Sunny and 21 degrees in Paris.\n"  # as it was taught
    assert "no call is waiting" in said[4] and "(conversation reset)" in said[5]


# A template shaped like FunctionGemma's own (google/functiongemma-270m-it): the call, its results and the answer
# after them share one model turn, and a call that ends the conversation is followed by <start_function_response>,
# where the app writes the result.
FUNCTIONGEMMA_LIKE = (
    "{{ bos_token }}{%- set ns = namespace(after='') -%}"
    "{%- if tools -%}<start_of_turn>developer\n{%- for tool in tools -%}<start_function_declaration>declaration:"
    "{{ tool.function.name }}<end_function_declaration>{%- endfor -%}<end_of_turn>\n{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if message.role == 'tool' -%}<start_function_response>response:{{ message.name }}{value:<escape>"
    "{{ message.content }}<escape>}<end_function_response>{%- set ns.after = 'response' -%}"
    "{%- else -%}"
    "{%- if ns.after != 'response' -%}<start_of_turn>{{ 'model' if message.role == 'assistant' else message.role }}\n"
    "{%- endif -%}{{ message.content }}"
    "{%- for call in message.tool_calls or [] -%}<start_function_call>call:{{ call.function.name ~ '{' }}"
    "{%- for key, value in call.function.arguments | dictsort -%}{{ key }}:<escape>{{ value }}<escape>"
    "{{ ',' if not loop.last }}{%- endfor -%}}<end_function_call>{%- endfor -%}"
    "{%- if message.tool_calls -%}{%- set ns.after = 'call' -%}{%- if loop.last -%}<start_function_response>"
    "{%- endif -%}{%- else -%}<end_of_turn>\n{%- set ns.after = '' -%}{%- endif -%}"
    "{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{%- if ns.after == 'call' -%}<start_function_response>"
    "{%- elif ns.after != 'response' -%}<start_of_turn>model\n{%- endif -%}{%- endif -%}"
)


def test_functiongemma_s_own_template_trains_its_call_stops_after_it_and_parses(tiny_models):
    from desktune.data.template import ChatFormat
    from desktune.models.load import load_tokenizer, resolve
    from test_tools_data import FUNCTIONGEMMA_CALL, trained_and_not

    tokenizer = load_tokenizer(resolve(str(tiny_models["gemma3"])))
    tokenizer.add_special_tokens({"additional_special_tokens": [
        f"<{edge}_function_{part}>" for part in ("declaration", "call", "response") for edge in ("start", "end")]})
    tokenizer.chat_template = FUNCTIONGEMMA_LIKE
    chat = ChatFormat(tokenizer, "auto", "gemma3_text")
    assert (chat.name, chat.tool_format) == ("own", "tokenizer template")
    assert tokenizer.convert_tokens_to_ids("<start_function_response>") in chat.stop_ids
    messages, tools = normalise_with_tools(openai_row(), "f:1")
    trained, untrained = trained_and_not(chat, chat.encode(messages, "f:1", tools=tools))
    assert FUNCTIONGEMMA_CALL + "<end_function_call><start_function_response>" in trained
    assert "Sunny and 21 degrees in Paris.<end_of_turn>" in trained and "sunny, 21 C" in untrained
    prompt = chat.prompt_ids(messages[:1], tools)  # the model's reply to the request: the call, then the stop
    reply = chat.encode(messages, "f:1", tools=tools).ids[len(prompt):]
    reply = reply[:next(i for i, token in enumerate(reply) if token in chat.stop_ids)]
    text = tokenizer.decode(reply, skip_special_tokens=False)
    assert parse_calls(text, chat.tool_format) == ParsedReply("", [PARIS])


def test_the_answers_shown_after_training_are_given_the_rows_tools(tool_run):
    from desktune.infer.generate import load_run
    from desktune.infer.samples import quick_look, side_by_side
    from desktune.runs import RunDir

    model, chat = load_run(RunDir(tool_run))
    base = RunDir(tool_run).read_config()["model"]
    call_turn = [[{"role": "user", "content": "Weather in Paris?"}, {"role": "assistant", "content": FG_CALL}]]
    tools = [[WEATHER]]  # as Example.tools holds them
    assert side_by_side(model, chat, call_turn, base, 64, tools)[0]["tuned"] == FG_CALL
    assert quick_look(model, chat, call_turn, 64, tools).endswith(FG_CALL)


def test_a_run_whose_rows_all_call_leaves_the_choice_to_the_model(tool_run):
    """The tiny model overfit on calls opens one for this request at ~0.97: a share of 0.5 keeps the call (and strict
    calls finish it), a share of 0.99 (calls were that common in training) turns the answer to words."""
    from desktune.infer.generate import Sampling, generate, load_run
    from desktune.runs import RunDir

    assert RunDir(tool_run).call_share() is None  # its rows call for every request
    model, chat = load_run(RunDir(tool_run))
    messages, tools = [{"role": "user", "content": "Weather in Paris?"}], [WEATHER]
    chat.call_share = 0.5
    reply = generate(model, chat, messages, Sampling(), tools=tools)
    assert parse_calls(reply.text, chat.tool_format).calls == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    chat.call_share = 0.99
    reply = generate(model, chat, messages, Sampling(max_new_tokens=20), tools=tools)
    assert not reply.text.startswith("<start_function_call>") and parse_calls(reply.text, chat.tool_format).calls == []

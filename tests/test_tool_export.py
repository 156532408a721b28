"""Export of a tool-trained run: the Ollama Modelfile's Go TEMPLATE writes tools, calls and results as the training
template did (run with Go's text/template by tests/ollama_render/main.go, which hands the template what Ollama's
server does), and the llama.cpp check compares the calls both runtimes make on the run's tool prompts."""

import json
import shutil
import subprocess

import pytest

from conftest import write_jsonl
from desktune.cli import main
from desktune.export.ollama import GO_TEMPLATES, modelfile
from desktune.export.verify import Check
from test_tool_calls import ODD_ARGUMENTS
from test_tools_data import WEATHER, chat_for, openai_row

ARCH = {"gemma": "gemma3", "chatml": "qwen2", "llama3": "llama"}
# Declarations in the order the Go templates write JSON (parameters: type, properties, required; a property:
# type, description, enum, items) with property names in alphabetical order: byte for byte in every format.
TOOLS = [WEATHER | {"parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name, e.g. \"Paris\" or Saint-Denis <Réunion> & co"},
            "days": {"type": "integer", "description": "1-7"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "where": {"type": "object", "properties": {"lat": {"type": "number"}, "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["lat"]}},
            "required": ["city"]}},
         {"name": "get_time", "description": "The time now.", "parameters": {"type": "object", "properties": {}}}]
CALL = {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}
CONVERSATIONS = {
    "a call, its result, the answer, a new question": (TOOLS, [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [CALL]},
        {"role": "tool", "name": "get_weather", "content": "sunny, 21 C"},
        {"role": "assistant", "content": "Sunny."}, {"role": "user", "content": "And the time?"}]),
    "words and two calls, two results": (TOOLS, [
        {"role": "user", "content": "Paris and the time?"},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [CALL, {"name": "get_time", "arguments": {}}]},
        {"role": "tool", "name": "get_weather", "content": '{"sky": "rain", "c": 17}'},
        {"role": "tool", "name": "get_time", "content": "12:00"}]),
    # keys in alphabetical order, as Ollama's Go maps give them (FunctionGemma sorts them in training too)
    "every kind of value": (TOOLS, [
        {"role": "user", "content": "Odd?"},
        {"role": "assistant", "content": "", "tool_calls": [{"name": "get_weather",
                                                            "arguments": dict(sorted(ODD_ARGUMENTS.items()))}]},
        {"role": "tool", "name": "get_weather", "content": "ok"}, {"role": "assistant", "content": "Done."}]),
    "the first prompt": (TOOLS, [{"role": "user", "content": "Weather in Oslo?"}]),
    "plain chat": (None, [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"},
                          {"role": "assistant", "content": "Ahoy!"}, {"role": "user", "content": "Again"}]),
    "plain chat ending with the answer": (None, [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]),
}


@pytest.fixture(scope="module")
def go_render(tmp_path_factory):
    """Renders a TEMPLATE with Go's text/template as Ollama does (skipped where no Go toolchain is installed)."""
    if shutil.which("go") is None:
        pytest.skip("no Go toolchain (apt-get install golang-go): the Ollama templates are not run")
    binary = tmp_path_factory.mktemp("go") / "ollama_render"
    subprocess.run(["go", "build", "-o", str(binary), "tests/ollama_render/main.go"], check=True, timeout=300)

    def render(template: str, messages: list[dict], tools: list[dict] | None) -> str:
        request = {"template": template, "messages": messages, "tools": [{"type": "function", "function": t}
                                                                         for t in tools or []]}
        done = subprocess.run([str(binary)], input=json.dumps(request), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout
    return render


def ollama_messages(messages: list[dict], names: bool = True) -> list[dict]:
    """The conversation as an /api/chat request carries it (a result names its function in tool_name)."""
    out = []
    for m in messages:
        message = {"role": m["role"], "content": m["content"]}
        if m.get("tool_calls"):
            message["tool_calls"] = [{"function": call} for call in m["tool_calls"]]
        if m["role"] == "tool" and names:
            message["tool_name"] = m["name"]
        out.append(message)
    return out


def jinja(tiny_models, template, messages, tools) -> str:
    """The training template's text for the same request, without the BOS Ollama adds itself."""
    chat = chat_for(tiny_models, ARCH[template], template)
    text = chat.render(messages, messages[-1]["role"] != "assistant", tools=tools)
    return text.removeprefix(chat.tokenizer.bos_token or "")


@pytest.mark.parametrize("case", CONVERSATIONS)
@pytest.mark.parametrize("template", GO_TEMPLATES)
def test_the_ollama_template_writes_what_training_wrote(tiny_models, go_render, template, case):
    tools, messages = CONVERSATIONS[case]
    assert go_render(GO_TEMPLATES[template], ollama_messages(messages), tools) == jinja(tiny_models, template,
                                                                                       messages, tools)


@pytest.mark.parametrize("template", GO_TEMPLATES)
def test_a_result_without_tool_name_answers_its_call_by_id_or_in_order(tiny_models, go_render, template):
    tools, messages = CONVERSATIONS["words and two calls, two results"]
    request = ollama_messages(messages, names=False)
    expected = jinja(tiny_models, template, messages, tools)
    assert go_render(GO_TEMPLATES[template], request, tools) == expected  # in order
    request[1]["tool_calls"][0]["id"], request[1]["tool_calls"][1]["id"] = "a", "b"
    request[2]["tool_call_id"], request[3]["tool_call_id"] = "a", "b"
    assert go_render(GO_TEMPLATES[template], request, tools) == expected


@pytest.mark.parametrize("template", ["chatml", "llama3"])
def test_json_declarations_in_another_key_order_are_the_same_json(tiny_models, go_render, template):
    """Ollama hands a template its objects as Go maps: a declaration written in another order (here WEATHER's:
    required before properties) comes out as the same JSON, in the Go templates' order."""
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    ours, theirs = go_render(GO_TEMPLATES[template], messages, [WEATHER]), jinja(tiny_models, template, messages, [WEATHER])
    assert ours != theirs
    declared = [[json.JSONDecoder().raw_decode(line)[0] for line in text.splitlines()
                 if line.startswith('{"type": "function"')]
                for text in (ours, theirs)]
    assert declared[0] == declared[1] == [{"type": "function", "function": WEATHER}]


def test_the_modelfile_keeps_ollama_on_its_go_template_and_reads_functiongemma_calls():
    gemma = modelfile("m.gguf", "gemma", ["<end_of_turn>"], 8192)
    assert "PARSER functiongemma" in gemma  # Ollama's own reader of FunctionGemma calls
    for template in GO_TEMPLATES:
        # Ollama prefers the GGUF's jinja template over a Go one that has no tool round trip; this is its test
        text = modelfile("m.gguf", template, [], 8192)
        assert all(mark in text for mark in (".Tools", ".ToolCalls", 'eq .Role "tool"'))
        assert "PARSER" not in text or template == "gemma"


def test_other_calls_from_llama_cpp_fail_the_check_unless_rounding_flipped_a_near_tie():
    chat_ok = dict(full_matches=5, head_matches=5, same_tokenization=5, tool_prompts=5, tool_same_tokenization=5)
    assert Check("q8_0", **chat_ok, tool_matches=4, tool_split_margins=[0.1]).passed
    assert not Check("q8_0", **chat_ok, tool_matches=4, tool_split_margins=[2.0]).passed
    assert not Check("f16", **chat_ok, tool_matches=3, tool_split_margins=[0.1, 0.2]).passed
    assert not Check("f16", **chat_ok | {"tool_same_tokenization": 4}, tool_matches=5).passed
    assert Check("q4_k_m", **chat_ok, tool_matches=3).passed and not Check("q4_k_m", **chat_ok, tool_matches=2).passed
    strict = Check("f16", **chat_ok, tool_matches=4, tool_split_margins=[0.1])
    assert strict.passed and not strict.meets_targets
    assert "tool prompts (None): 4/5 give the same calls" in strict.summary()


CITIES = ["Paris", "Oslo", "Rome", "Lima", "Kyiv"]


@pytest.fixture(scope="module")
def tool_run(tiny_models, tmp_path_factory):
    """A tiny Gemma 3 trained (as tests/test_tool_calls.py does) until it calls get_weather for each city."""
    folder = tmp_path_factory.mktemp("tool-export")
    rows = []
    for city in CITIES:
        row = openai_row(arguments={"city": city})
        row["messages"][0]["content"] = f"Weather in {city}?"
        rows.append(row)
    data = write_jsonl(folder / "tools.jsonl", rows * 4)
    out = folder / "run"
    assert main(["train", f"model={tiny_models['gemma3']}", f"data.train={data}", f"output={out}", "method=full",
                 "data.eval=0.25", "train.max_steps=100", "train.lr=3e-3", "train.eval_every=0", "train.save_every=0",
                 "train.early_stopping=0", "train.eval_samples=0", "--samples=0"]) == 0
    return out


def test_the_f16_export_of_a_tool_run_calls_as_transformers_does(tool_run, capsys):
    out = tool_run / "gguf"
    assert main(["export", str(tool_run), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    check = json.loads((out / "verify.json").read_text())
    assert check["passed"] and check["tool_format"] == "functiongemma" and check["tool_note"] == ""
    assert check["tool_prompts"] == 5 and check["tool_matches"] == 5 and check["tool_same_tokenization"] == 5
    asked = {pair["request"] for pair in check["tool_pairs"]}
    assert asked == {f"Weather in {city}?" for city in CITIES}  # one prompt per distinct request
    called = [pair["transformers_calls"] for pair in check["tool_pairs"]]
    # it learned to call (which city the tiny model copies varies): the calls compared are real, not [] == []
    assert all(len(calls) == 1 and calls[0]["name"] == "get_weather" and "city" in calls[0]["arguments"]
               for calls in called), called
    assert all(pair["same_calls"] and pair["llama_cpp_calls"] == pair["transformers_calls"] for pair in check["tool_pairs"])
    assert "tool prompts (functiongemma): 5/5 give the same calls" in printed
    assert "PARSER functiongemma" in (out / "Modelfile").read_text()


def test_a_tool_run_whose_data_is_gone_says_so_and_still_checks_chat(tool_run, tmp_path):
    moved = shutil.copytree(tool_run, tmp_path / "run")
    (moved / "config.yaml").write_text((moved / "config.yaml").read_text().replace("tools.jsonl", "gone.jsonl"))
    assert main(["export", str(moved), "--out", str(tmp_path / "gguf")]) == 0
    check = json.loads((tmp_path / "gguf" / "verify.json").read_text())
    assert check["tool_prompts"] == 0 and "could not be read again" in check["tool_note"] and check["passed"]

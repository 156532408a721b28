"""desktune serve through the real openai client: the greedy answer of desktune generate, streamed and not, 20
concurrent streams, stop texts, OpenAI's 4xx errors, the key off localhost, a busy model, and tool calls."""

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from conftest import example_rows, write_jsonl
from test_tools_data import WEATHER, openai_row

from desktune.cli import main

pytest.importorskip("fastapi", reason="desktune serve needs its extra: pip install 'desktune[ui]'")
openai = pytest.importorskip("openai", reason="the tests talk to the server with the openai client")

PROMPTS = [row["messages"][0]["content"] for row in example_rows(4)]
TOOLS = [{"type": "function", "function": WEATHER}]


@pytest.fixture(scope="module")
def runs(tiny_models, tmp_path_factory) -> dict:
    """A LoRA run on chat rows, and a full fine-tune of the same tiny Qwen2 (chatml: Hermes tool calls) overfit on
    one tool row until it calls get_weather for Paris as taught."""
    folder = tmp_path_factory.mktemp("serve")
    fast = ["data.eval=0.25", "train.eval_every=0", "train.save_every=0", "train.early_stopping=0",
            "train.eval_samples=0", "train.forgetting_budget=0", "--samples=0"]
    chat = write_jsonl(folder / "chat.jsonl", example_rows(12))
    assert main(["train", f"model={tiny_models['qwen2']}", f"data.train={chat}", f"output={folder / 'chat'}",
                 "train.max_steps=2", "train.lr=3e-3", *fast]) == 0  # still answers each prompt differently
    tools = write_jsonl(folder / "tools.jsonl", [openai_row(arguments={"city": "Paris"})] * 8)
    assert main(["train", f"model={tiny_models['qwen2']}", f"data.train={tools}", f"output={folder / 'tools'}",
                 "method=full", "data.template=chatml", "train.max_steps=80", "train.lr=5e-3", *fast]) == 0
    return {"chat": folder / "chat", "tools": folder / "tools"}


@contextmanager
def serving(app):
    """The app on a real uvicorn server on a free 127.0.0.1 port, in a thread."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)


def client(port: int, key: str = "unused", retries: int = 0):
    return openai.OpenAI(api_key=key, base_url=f"http://127.0.0.1:{port}/v1", max_retries=retries, timeout=60)


@pytest.fixture(scope="module")
def chat_server(runs):
    from desktune.serve.app import create_app
    from desktune.serve.served import load_served

    served = load_served(str(runs["chat"]))
    app = create_app(served)
    with serving(app) as port:
        yield {"served": served, "app": app, "port": port, "client": client(port)}


def ask(server, prompt: str, **options):
    return server["client"].chat.completions.create(model="chat", messages=[{"role": "user", "content": prompt}],
                                                    **options)


def streamed(server, prompt: str, **options) -> tuple[str, list]:
    chunks = list(ask(server, prompt, stream=True, **options))
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks


def greedy(served, prompt: str, tokens: int):
    from desktune.infer.generate import Sampling, generate

    return generate(served.model, served.chat, [{"role": "user", "content": prompt}], Sampling(max_new_tokens=tokens))


def test_the_run_is_the_model_it_lists(chat_server):
    assert [m.id for m in chat_server["client"].models.list()] == ["chat"]  # the run folder's name
    assert chat_server["client"].models.retrieve("chat").owned_by == "desktune"
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        chat_server["client"].models.retrieve("gpt-4o")


def test_the_greedy_answer_is_desktune_generate_s_streamed_or_not(chat_server, runs, capsys):
    assert main(["generate", str(runs["chat"]), "--prompt", PROMPTS[0], "--max-new-tokens", "12"]) == 0
    expected = capsys.readouterr().out.strip()
    answer = ask(chat_server, PROMPTS[0], max_tokens=12)
    assert answer.choices[0].message.content == expected and expected
    reply = greedy(chat_server["served"], PROMPTS[0], 12)
    finish, tokens = ("stop" if reply.finished else "length"), len(reply.ids) + reply.finished
    prompt_tokens = len(chat_server["served"].chat.prompt_ids([{"role": "user", "content": PROMPTS[0]}]))
    assert answer.choices[0].finish_reason == finish
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (prompt_tokens, tokens)
    text, chunks = streamed(chat_server, PROMPTS[0], max_tokens=12, stream_options={"include_usage": True})
    assert text == expected and len(chunks) > 3, "the answer comes in pieces, not in one chunk at the end"
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[-2].choices[0].finish_reason == finish
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == tokens


def test_text_parts_and_the_developer_role_read_as_plain_text_and_system(chat_server):
    from desktune.infer.generate import Sampling, generate

    served = chat_server["served"]
    parts = [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Very brief."}]
    sent = [{"role": "developer", "content": parts},
            {"role": "user", "content": [{"type": "text", "text": PROMPTS[3]}]}]
    answer = chat_server["client"].chat.completions.create(model="chat", messages=sent, max_tokens=6)
    internal = [{"role": "system", "content": "Be brief.\nVery brief."}, {"role": "user", "content": PROMPTS[3]}]
    assert answer.usage.prompt_tokens == len(served.chat.prompt_ids(internal))
    assert answer.choices[0].message.content == generate(served.model, served.chat, internal, Sampling(6)).text


def test_twenty_concurrent_streams_all_complete_with_their_own_answers(chat_server):
    expected = {p: greedy(chat_server["served"], p, 6).text for p in PROMPTS}
    assert len(set(expected.values())) == 4, "four prompts, four answers: a mix-up would show"
    with ThreadPoolExecutor(20) as pool:
        texts = list(pool.map(lambda i: (PROMPTS[i % 4], streamed(chat_server, PROMPTS[i % 4], max_tokens=6)[0]),
                              range(20)))
    assert len(texts) == 20 and all(text == expected[prompt] for prompt, text in texts)
    assert chat_server["app"].state.queue.admitted == 0


def test_a_stop_text_ends_the_answer_before_it(chat_server):
    full = greedy(chat_server["served"], PROMPTS[1], 12).text
    stop = next(word for word in full.split()[1:] if word.isalpha())
    expected = full[: full.find(stop)].strip()
    assert expected and len(expected) < len(full)
    answer = ask(chat_server, PROMPTS[1], max_tokens=12, stop=[stop, "never said"])
    assert (answer.choices[0].message.content, answer.choices[0].finish_reason) == (expected, "stop")
    assert streamed(chat_server, PROMPTS[1], max_tokens=12, stop=stop)[0] == expected


GOOD = {"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
# case: (body, the status, a part of the message)
BAD = {
    "not JSON": (b'{"model": "chat", "messages": [', 400, "could not parse the JSON body"),
    "not an object": (b"[1, 2]", 400, "must be a JSON object"),
    "no model": ({"messages": GOOD["messages"]}, 400, "you must provide a model"),
    "unknown model": (GOOD | {"model": "gpt-4o"}, 404, "The model `gpt-4o` does not exist"),
    "no messages": ({"model": "chat"}, 400, "'messages' must be a non-empty list"),
    "bad role": (GOOD | {"messages": [{"role": "robot", "content": "Hi"}]}, 400, "messages[0].role is \"robot\""),
    "content not text": (GOOD | {"messages": [{"role": "user", "content": 3}]}, 400, "messages[0].content must be"),
    "an image": (GOOD | {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, 400,
                 "reads text only"),
    "ends with the assistant": (GOOD | {"messages": GOOD["messages"] + [{"role": "assistant", "content": "Yo"}]},
                                400, "the last message must be a user message"),
    "a result of no call": (GOOD | {"messages": [{"role": "tool", "tool_call_id": "call_9", "content": "21 C"}]},
                            400, "answers no call"),
    "temperature too high": (GOOD | {"temperature": 7}, 400, "'temperature' must be a number from 0 to 2"),
    "temperature a string": (GOOD | {"temperature": "hot"}, 400, "'temperature' must be a number"),
    "max_tokens 0": (GOOD | {"max_tokens": 0}, 400, "'max_tokens' must be a whole number from 1 to 4096"),
    "longer than the context": (GOOD | {"messages": [{"role": "user", "content": "Hi " * 2000}]}, 400,
                                "maximum context length is 1024 tokens"),
    "five stops": (GOOD | {"stop": ["a", "b", "c", "d", "e"]}, 400, "'stop' must be"),
    "n=2": (GOOD | {"n": 2}, 400, "n must be 1"),
    "tools not a list": (GOOD | {"tools": {"name": "f"}}, 400, "'tools' must be a list of functions"),
    "tool_choice required": (GOOD | {"tool_choice": "required"}, 400, "tool_choice must be"),
    "over 1 MB": (GOOD | {"messages": [{"role": "user", "content": "x" * 1_100_000}]}, 413, "larger than"),
}


def post(port: int, body, path: str = "/v1/chat/completions", headers: dict | None = None) -> tuple[int, dict, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn.request("POST", path, raw, {"Content-Type": "application/json"} | (headers or {}))
    response = conn.getresponse()
    text = response.read().decode()
    assert "Traceback" not in text and 'File "' not in text
    return response.status, json.loads(text), dict(response.getheaders())


@pytest.mark.parametrize("case", BAD)
def test_a_bad_request_gets_a_4xx_and_openai_s_error_shape(chat_server, case):
    body, status, message = BAD[case]
    code, answer, _ = post(chat_server["port"], body)
    assert code == status and message in answer["error"]["message"], answer
    assert set(answer["error"]) == {"message", "type", "param", "code"}


def test_the_client_raises_openai_s_errors(chat_server):
    with pytest.raises(openai.BadRequestError, match="'top_p' must be a number from 0 to 1"):
        ask(chat_server, "Hi", top_p=3)
    with pytest.raises(openai.NotFoundError):
        chat_server["client"].chat.completions.create(model="other", messages=[{"role": "user", "content": "Hi"}])
    code, answer, _ = post(chat_server["port"], {}, "/v1/embeddings")
    assert code == 404 and answer["error"]["message"] == "Unknown request URL: POST /v1/embeddings"
    code, answer, _ = post(chat_server["port"], GOOD, headers={"Host": "attacker.example"})  # a rebound DNS name
    assert code == 403 and "localhost only" in answer["error"]["message"]
    code, answer, _ = post(chat_server["port"], GOOD, headers={"Origin": "https://attacker.example"})  # a web page
    assert code == 403 and "another site" in answer["error"]["message"]


def test_a_busy_model_answers_429_with_retry_after_and_a_client_that_leaves_frees_it(chat_server):
    from desktune.serve.app import create_app
    from desktune.serve.request import Limits

    app = create_app(chat_server["served"], limits=Limits(max_waiting=0))
    with serving(app) as port:
        busy = client(port)
        first = busy.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Hello"}],
                                            max_tokens=400, stream=True)
        next(first)
        code, answer, headers = post(port, GOOD)
        assert code == 429 and headers["retry-after"] and "busy" in answer["error"]["message"]
        first.close()  # the client leaves mid-answer
        deadline = time.time() + 10
        while app.state.queue.admitted and time.time() < deadline:
            time.sleep(0.05)
        assert app.state.queue.admitted == 0 and chat_server["served"].lock.acquire(timeout=10)
        chat_server["served"].lock.release()
        assert busy.chat.completions.create(model="chat", messages=GOOD["messages"], max_tokens=2).choices


def test_generation_ends_at_a_stop_text_or_when_cancelled(chat_server):
    from desktune.infer.generate import Sampling, generate

    served, messages = chat_server["served"], [{"role": "user", "content": PROMPTS[1]}]
    full = greedy(served, PROMPTS[1], 12)
    stop = next(word for word in full.text.split()[1:] if word.isalpha())
    cut = generate(served.model, served.chat, messages, Sampling(max_new_tokens=12, stop=(stop,)))
    assert stop in cut.text and full.text.startswith(cut.text) and len(cut.ids) < 12
    cancel = threading.Event()
    cancel.set()
    assert len(generate(served.model, served.chat, messages, Sampling(max_new_tokens=12), cancel=cancel).ids) == 1


def test_off_localhost_it_refuses_to_start_without_a_key(runs, capsys, monkeypatch):
    monkeypatch.delenv("DESKTUNE_API_KEY", raising=False)
    assert main(["serve", str(runs["chat"]), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --host 0.0.0.0 serves other machines") and "hint: pass --api-key KEY" in err


def test_the_command_serves_with_a_key_and_refuses_requests_without_it(runs, chat_server, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = os.environ | {"DESKTUNE_API_KEY": "s3cret", "OMP_NUM_THREADS": "1"}
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "desktune", "serve", str(runs["chat"]), "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.time() + 60
        while "base_url" not in log.read_text() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        assert f"base_url http://127.0.0.1:{port}/v1, model 'chat'" in log.read_text(), log.read_text()
        with pytest.raises(openai.AuthenticationError, match="Incorrect API key"):
            client(port, "wrong").models.list()
        code, answer, _ = post(port, GOOD)
        assert code == 401 and "You didn't provide an API key" in answer["error"]["message"]
        answer = client(port, "s3cret", retries=5).chat.completions.create(
            model="chat", messages=[{"role": "user", "content": PROMPTS[2]}], max_tokens=6)
        assert answer.choices[0].message.content == greedy(chat_server["served"], PROMPTS[2], 6).text
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def tool_server(runs):
    from desktune.serve.app import create_app
    from desktune.serve.served import load_served

    served = load_served(str(runs["tools"]))
    with serving(create_app(served)) as port:
        yield {"served": served, "client": client(port)}


def test_tool_calls_come_back_as_openai_tool_calls(tool_server):
    weather = [{"role": "user", "content": "Weather in Paris?"}]
    answer = tool_server["client"].chat.completions.create(model="tools", messages=weather, tools=TOOLS,
                                                           max_tokens=120)
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert (call.type, call.function.name, json.loads(call.function.arguments)) == ("function", "get_weather",
                                                                                    {"city": "Paris"})
    chunks = list(tool_server["client"].chat.completions.create(model="tools", messages=weather, tools=TOOLS,
                                                                max_tokens=120, stream=True))
    deltas = [d for c in chunks for d in c.choices[0].delta.tool_calls or []]
    assert [(d.index, d.function.name, d.function.arguments) for d in deltas] == [
        (0, "get_weather", call.function.arguments)] and deltas[0].id.startswith("call_") and deltas[0].id != call.id
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    # tool_choice none: the same reply, as words
    words = tool_server["client"].chat.completions.create(model="tools", messages=weather, tools=TOOLS,
                                                          max_tokens=120, tool_choice="none").choices[0]
    assert words.message.tool_calls is None and words.message.content.startswith("<tool_call>")
    # cut off by the token limit, the call cannot be read: it comes back as content, not dropped
    short = tool_server["client"].chat.completions.create(model="tools", messages=weather, tools=TOOLS,
                                                          max_tokens=12).choices[0]
    assert short.finish_reason == "length" and short.message.tool_calls is None
    assert short.message.content.startswith("<tool_call>")


def test_a_tool_result_is_rendered_as_training_renders_it(tool_server):
    from desktune.infer.generate import Sampling, generate
    from desktune.infer.tool_calls import read_tools

    call = {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    sent = [{"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_abc", "content": '{"sky": "sunny", "temp": 21}'}]
    answer = tool_server["client"].chat.completions.create(model="tools", messages=sent, tools=TOOLS, max_tokens=10,
                                                           tool_choice="none")
    internal = [sent[0], {"role": "assistant", "content": "", "tool_calls": [{"name": "get_weather",
                                                                              "arguments": {"city": "Paris"}}]},
                {"role": "tool", "name": "get_weather", "content": '{"sky": "sunny", "temp": 21}'}]
    served, tools = tool_server["served"], read_tools(TOOLS, "t")
    assert answer.usage.prompt_tokens == len(served.chat.prompt_ids(internal, tools))
    expected = generate(served.model, served.chat, internal, Sampling(max_new_tokens=10), tools=tools)
    assert answer.choices[0].message.content == expected.text


def test_tools_are_refused_where_the_template_cannot_write_them(tiny_models, tmp_path):
    """A plain model folder whose own chat template never mentions tools."""
    import shutil

    from transformers import AutoTokenizer

    from desktune.serve.app import create_app
    from desktune.serve.served import load_served

    folder = shutil.copytree(tiny_models["llama"], tmp_path / "plain")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
                               "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    tokenizer.save_pretrained(folder)
    with serving(create_app(load_served(str(folder)))) as port:
        code, answer, _ = post(port, GOOD | {"model": "plain", "tools": TOOLS})
        assert code == 400 and "never mentions tools" in answer["error"]["message"]
        assert answer["error"]["param"] == "tools"
        assert post(port, GOOD | {"model": "plain"})[0] == 200

"""desktune serve against desktune generate: greedy tokens/s through the openai client, whole and streamed, beside
generate() on the same prompts with the same model.

    .venv/bin/python benchmarks/serve.py RUN [--tokens 128] [--repeats 2] [--port 8011]

First `generate()` in this process (what `desktune generate` runs, without its printing streamer: the strictest
figure), then a real `desktune serve RUN` process asked the same prompts by the openai client, one request at a time:
non-streaming (tokens from `usage`, time from send to the whole answer) and streaming (the same, plus the time to the
first content chunk). Tokens/s is all answers' tokens over all their seconds, the best of --repeats rounds, after one
warm-up answer each. Prints both figures, their ratio and whether the server's answers were generate's. Needs
desktune[ui] and openai. Prints figures; not a test.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPTS = ["Why is the sky blue?", "How do I boil an egg?", "Write a short poem about the sea.",
           "What should I pack for a weekend of hiking?"]


def generate_speed(run: str, tokens: int, repeats: int) -> tuple[float, list[str]]:
    from desktune.infer.generate import Sampling, generate, load_for_chat

    model, chat = load_for_chat(run)
    sampling = Sampling(max_new_tokens=tokens)

    def answer(prompt):
        return generate(model, chat, [{"role": "user", "content": prompt}], sampling)

    answer(PROMPTS[0])  # warm-up
    best, texts = 0.0, []
    for _ in range(repeats):
        start, count, texts = time.perf_counter(), 0, []
        for prompt in PROMPTS:
            reply = answer(prompt)
            count += len(reply.ids) + reply.finished
            texts.append(reply.text)
        best = max(best, count / (time.perf_counter() - start))
    return best, texts


def start_server(run: str, port: int) -> subprocess.Popen:
    log = Path(tempfile.mkdtemp(prefix="desktune-serve-bench-")) / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "desktune", "serve", run, "--port", str(port)], stdout=out,
                                stderr=subprocess.STDOUT, env=os.environ | {"DESKTUNE_API_KEY": ""})
    for _ in range(1200):
        if "base_url" in log.read_text():
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("desktune serve did not start:\n" + log.read_text())


def server_speed(client, model: str, tokens: int, repeats: int, stream: bool) -> tuple[float, float, list[str]]:
    """(tokens/s, mean seconds to the first content chunk (streaming only), the answers)."""
    def answer(prompt):
        start = time.perf_counter()
        options = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
        response = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}],
                                                  max_tokens=tokens, temperature=0, **options)
        if not stream:
            return response.choices[0].message.content, response.usage.completion_tokens, 0.0
        text, first, used = "", 0.0, 0
        for chunk in response:
            if chunk.choices and chunk.choices[0].delta.content:
                first = first or time.perf_counter() - start
                text += chunk.choices[0].delta.content
            used = chunk.usage.completion_tokens if chunk.usage else used
        return text, used, first

    answer(PROMPTS[0])  # warm-up
    best, firsts, texts = 0.0, [], []
    for _ in range(repeats):
        start, count, texts = time.perf_counter(), 0, []
        for prompt in PROMPTS:
            text, used, first = answer(prompt)
            count, firsts = count + used, firsts + [first]
            texts.append(text)
        best = max(best, count / (time.perf_counter() - start))
    return best, sum(firsts) / len(firsts), texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run folder (or a merged model folder)")
    parser.add_argument("--tokens", type=int, default=128, help="max_tokens of each answer")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--port", type=int, default=0, help="default: a free one")
    args = parser.parse_args()
    from openai import OpenAI

    baseline, expected = generate_speed(args.run, args.tokens, args.repeats)
    print(f"generate():               {baseline:8.1f} tokens/s", flush=True)
    port = args.port or _free_port()
    proc = start_server(args.run, port)
    try:
        client = OpenAI(api_key="local", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=600)
        model = client.models.list().data[0].id
        for stream in (False, True):
            speed, first, texts = server_speed(client, model, args.tokens, args.repeats, stream)
            same = sum(a == b for a, b in zip(texts, expected))
            extra = f", first chunk after {first * 1000:.0f} ms" if stream else ""
            print(f"serve, {'streaming' if stream else 'whole answer'}: {speed:8.1f} tokens/s = {speed / baseline:.1%} "
                  f"of generate (answers equal to generate's: {same}/{len(texts)}{extra})", flush=True)
    finally:
        proc.terminate()
        proc.wait(30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    main()

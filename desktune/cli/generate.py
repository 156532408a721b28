"""desktune generate RUN --prompt TEXT [--max-new-tokens N] [--temperature T]"""

import argparse

from desktune.errors import DesktuneError
from desktune.runs import RunDir


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="desktune generate", description="Answer a prompt with a trained run.")
    parser.add_argument("run", help="run folder made by desktune train")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--system", default=None, help="optional system prompt")
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--repetition-penalty", type=float, default=1.0)
    args = parser.parse_args(argv)

    from desktune.infer.generate import Sampling, generate, load_for_chat, text_streamer

    RunDir(args.run).require_model()
    if not args.prompt.strip():
        raise DesktuneError("the prompt is empty", "pass some text, e.g. --prompt 'Hello'")
    model, chat = load_for_chat(args.run)
    messages = ([{"role": "system", "content": args.system}] if args.system else []) + [{"role": "user", "content": args.prompt}]
    sampling = Sampling(args.max_new_tokens, args.temperature, args.top_p, args.repetition_penalty)
    generate(model, chat, messages, sampling, streamer=text_streamer(chat))
    return 0

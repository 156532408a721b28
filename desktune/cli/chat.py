"""desktune chat RUN [--base] — a streaming chat REPL with the chat template used in training."""

import argparse
import contextlib

from desktune.errors import RunError
from desktune.runs import RunDir

HELP = "commands: /reset (new conversation), /system TEXT (set a system prompt), /quit"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="desktune chat", description="Chat with a tuned run or a model folder.")
    parser.add_argument("run", help="run folder made by desktune train, or a merged model folder")
    parser.add_argument("--base", action="store_true", help="talk to the untuned base model")
    parser.add_argument("--system", default=None, help="system prompt")
    parser.add_argument("--temperature", type=float, default=0.7, help="0: greedy")
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--repetition-penalty", type=float, default=1.1)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    args = parser.parse_args(argv)

    from desktune.infer.generate import Sampling, base_of, generate, load_for_chat, text_streamer
    from desktune.models.load import load_model, resolve

    RunDir(args.run).require_model()
    model, chat = load_for_chat(args.run)
    base_ref = base_of(args.run)
    if args.base and base_ref and not hasattr(model, "disable_adapter"):  # a full fine-tune: talk to its base instead
        model, args.base = load_model(resolve(base_ref)).eval(), False
    elif args.base and not hasattr(model, "disable_adapter"):
        raise RunError(f"{args.run} is a plain model folder: there is no adapter to switch off", "drop --base")
    sampling = Sampling(args.max_new_tokens, args.temperature, args.top_p, args.repetition_penalty)
    system, messages = args.system, []
    print(f"chatting with {'the base of ' if args.base else ''}{args.run}; {HELP}", flush=True)
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            print()
            return 0
        if not line:
            continue
        if line in ("/quit", "/exit"):
            return 0
        if line == "/reset":
            messages = []
            print("(conversation reset)", flush=True)
            continue
        if line.startswith("/system"):
            system, messages = line.removeprefix("/system").strip() or None, []
            print(f"(system prompt {'set' if system else 'cleared'}; conversation reset)", flush=True)
            continue
        if line.startswith("/"):
            print(HELP, flush=True)
            continue
        messages.append({"role": "user", "content": line})
        turn = ([{"role": "system", "content": system}] if system else []) + messages
        print("model> ", end="", flush=True)
        with model.disable_adapter() if args.base else contextlib.nullcontext():
            reply = generate(model, chat, turn, sampling, streamer=text_streamer(chat))
        messages.append({"role": "assistant", "content": reply.text or "…"})

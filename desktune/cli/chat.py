"""desktune chat RUN [--base] [--tools FILE] — a streaming chat REPL with the chat template used in training."""

import argparse
import contextlib

from desktune.cli.generate import add_strict_calls_flag
from desktune.errors import RunError
from desktune.runs import RunDir

HELP = "commands: /reset (new conversation), /system TEXT (set a system prompt), /quit"
TOOL_HELP = "/tool RESULT (the result of the model's call, JSON or text)"


class Conversation:
    """The chat so far: the user's words, the model's replies (its calls kept as calls, as training wrote them)
    and the results given for those calls."""

    def __init__(self, system: str | None = None, tool_format: str | None = None):
        self.system, self.tool_format, self.messages = system, tool_format, []

    def prompt(self) -> list[dict]:
        return ([{"role": "system", "content": self.system}] if self.system else []) + self.messages

    def add_user(self, text: str) -> None:
        self.messages.append({"role": "user", "content": text})

    def add_reply(self, text: str):
        """The model's reply, parsed for calls when tools are on (a call that cannot be read stays in its words)."""
        from desktune.infer.tool_calls import parse_calls, reply_message

        parsed = parse_calls(text, self.tool_format) if self.tool_format else None
        self.messages.append(reply_message(text, parsed))
        return parsed

    def waiting_calls(self) -> list[str]:
        """Names of the last reply's calls that have no result yet, in order."""
        results = 0
        for message in reversed(self.messages):
            if message["role"] == "assistant":
                return [call["name"] for call in message.get("tool_calls") or []][results:]
            results += message["role"] == "tool"
        return []

    def add_result(self, text: str) -> str | None:
        """text as the result of the next call waiting for one; None (nothing added) when no call waits."""
        waiting = self.waiting_calls()
        if not waiting:
            return None
        from desktune.infer.tool_calls import result_content

        self.messages.append({"role": "tool", "name": waiting[0], "content": result_content(text)})
        return waiting[0]


def tool_command(conversation: Conversation, text: str) -> tuple[str, bool]:
    """What /tool RESULT says, and whether the model should answer now (every call of its reply has a result)."""
    if conversation.tool_format is None:
        return "(no tools in this chat: start it with --tools FILE)", False
    if not text:
        return f"(usage: {TOOL_HELP})", False
    name = conversation.add_result(text)
    if name is None:
        return "(no call is waiting for a result: the model's last reply called no function; nothing added)", False
    waiting = conversation.waiting_calls()
    if waiting:
        return f"(result of {name} added; next, the result of {waiting[0]}: /tool RESULT)", False
    return f"(result of {name} added)", True


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="desktune chat", description="Chat with a tuned run or a model folder.")
    parser.add_argument("run", help="run folder made by desktune train, or a merged model folder")
    parser.add_argument("--base", action="store_true", help="talk to the untuned base model")
    parser.add_argument("--system", default=None, help="system prompt")
    parser.add_argument("--tools", default=None, metavar="FILE",
                        help="JSON file with a list of functions the model may call (OpenAI or bare form); "
                             "give a call's result with /tool RESULT")
    parser.add_argument("--temperature", type=float, default=0.7, help="0: greedy")
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--repetition-penalty", type=float, default=1.1)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    add_strict_calls_flag(parser)
    args = parser.parse_args(argv)

    from desktune.cli.generate import read_tools_file, reply_lines, require_tool_format
    from desktune.infer.generate import Sampling, base_of, generate, load_for_chat, text_streamer
    from desktune.models.load import load_model, resolve

    RunDir(args.run).require_model()
    tools = read_tools_file(args.tools) if args.tools else None
    model, chat = load_for_chat(args.run)
    if tools:
        require_tool_format(chat, args.run)
    base_ref = base_of(args.run)
    if args.base and base_ref and not hasattr(model, "disable_adapter"):  # a full fine-tune: talk to its base instead
        model, args.base = load_model(resolve(base_ref)).eval(), False
    elif args.base and not hasattr(model, "disable_adapter"):
        raise RunError(f"{args.run} is a plain model folder: there is no adapter to switch off", "drop --base")
    sampling = Sampling(args.max_new_tokens, args.temperature, args.top_p, args.repetition_penalty,
                        strict_calls=args.strict_calls)
    conversation = Conversation(args.system, chat.tool_format if tools else None)
    help_text = HELP.replace(", /quit", f", {TOOL_HELP}, /quit") if tools else HELP
    offered = f"; tools: {', '.join(t['name'] for t in tools)}" if tools else ""
    print(f"chatting with {'the base of ' if args.base else ''}{args.run}{offered}; {help_text}", flush=True)

    def answer():
        print("model> ", end="", flush=True)
        # A reply that may call is printed once parsed: streamed, the call markup would show before the calls.
        streamer = None if tools else text_streamer(chat)
        with model.disable_adapter() if args.base else contextlib.nullcontext():
            reply = generate(model, chat, conversation.prompt(), sampling, streamer=streamer, tools=tools)
        parsed = conversation.add_reply(reply.text)
        if parsed:
            print("\n".join(reply_lines(parsed)) or "…", flush=True)

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
            conversation.messages = []
            print("(conversation reset)", flush=True)
            continue
        if line.startswith("/system"):
            conversation.system, conversation.messages = line.removeprefix("/system").strip() or None, []
            print(f"(system prompt {'set' if conversation.system else 'cleared'}; conversation reset)", flush=True)
            continue
        if line == "/tool" or line.startswith("/tool "):
            said, model_answers = tool_command(conversation, line.removeprefix("/tool").strip())
            print(said, flush=True)
            if model_answers:
                answer()
            continue
        if line.startswith("/"):
            print(help_text, flush=True)
            continue
        if conversation.waiting_calls():
            print(f"(the model called {conversation.waiting_calls()[0]} and waits for its result: /tool RESULT, "
                  "or /reset)", flush=True)
            continue
        conversation.add_user(line)
        answer()

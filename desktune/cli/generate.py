"""desktune generate RUN --prompt TEXT [--tools FILE] [--no-strict-calls] [--json] [--max-new-tokens N]"""

import argparse
import json
from pathlib import Path

from desktune.errors import ConfigError, DataError, DesktuneError
from desktune.runs import RunDir


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="desktune generate", description="Answer a prompt with a trained run.")
    parser.add_argument("run", help="run folder made by desktune train")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--system", default=None, help="optional system prompt")
    parser.add_argument("--tools", default=None, metavar="FILE",
                        help="JSON file with a list of functions the model may call (OpenAI or bare form); "
                             "its calls are printed as 'call NAME {arguments}'")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object: the text, whether it ended, and with --tools its content, "
                             "tool_calls (OpenAI form) and unparsed_calls")
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--repetition-penalty", type=float, default=1.0)
    add_strict_calls_flag(parser)
    args = parser.parse_args(argv)

    from desktune.infer.generate import Sampling, generate, load_for_chat, text_streamer
    from desktune.infer.tool_calls import parse_calls

    RunDir(args.run).require_model()
    if not args.prompt.strip():
        raise DesktuneError("the prompt is empty", "pass some text, e.g. --prompt 'Hello'")
    tools = read_tools_file(args.tools) if args.tools else None
    model, chat = load_for_chat(args.run)
    if tools:
        require_tool_format(chat, args.run)
    messages = ([{"role": "system", "content": args.system}] if args.system else []) + [{"role": "user", "content": args.prompt}]
    sampling = Sampling(args.max_new_tokens, args.temperature, args.top_p, args.repetition_penalty,
                        strict_calls=args.strict_calls)
    # A reply with calls is printed once parsed: streamed, the call markup would show before the calls themselves.
    streamer = None if tools or args.json else text_streamer(chat)
    reply = generate(model, chat, messages, sampling, streamer=streamer, tools=tools)
    parsed = parse_calls(reply.text, chat.tool_format) if tools else None
    if args.json:
        print(json.dumps(reply_json(reply, parsed), ensure_ascii=False, indent=2))
    elif parsed:
        print("\n".join(reply_lines(parsed)))
    return 0


def add_strict_calls_flag(parser) -> None:
    parser.add_argument("--no-strict-calls", dest="strict_calls", action="store_false",
                        help="with --tools, let a call the model opens leave the declared functions (by default it "
                             "keeps to their names, argument names and types, as OpenAI's strict mode does), and let "
                             "the model alone decide whether to call (by default, balanced calls: as if calls and "
                             "words had been equally common in training)")


def read_tools_file(path: str) -> list[dict]:
    """The functions of a --tools file, checked as a training row's tools are."""
    from desktune.data.tools import TOOLS_HINT, read_tools

    file = Path(path)
    if not file.is_file():
        raise DataError(f"--tools {path}: no such file", TOOLS_HINT)
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text", TOOLS_HINT) from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})", TOOLS_HINT) from None
    tools = read_tools(value, str(path))
    if not tools:
        raise DataError(f"{path} lists no functions", TOOLS_HINT)
    return tools


def require_tool_format(chat, run: str) -> None:
    if chat.tool_format is None:
        raise ConfigError(f"{run} uses the tokenizer's own chat template, which never mentions tools: it cannot "
                          "show the model the functions", "drop --tools, or train with data.template=gemma, chatml "
                          "or llama3 (built-in templates that write tools)")


def reply_lines(parsed) -> list[str]:
    """The words, then each call as `call NAME {arguments}`; a call that could not be read, verbatim and flagged."""
    return ([parsed.content] if parsed.content else []) + \
        [f"call {call['name']} {json.dumps(call['arguments'], ensure_ascii=False)}" for call in parsed.calls] + \
        [f"call (unparsed) {raw}" for raw in parsed.raw_calls]


def reply_json(reply, parsed) -> dict:
    from desktune.infer.tool_calls import openai_tool_calls

    out = {"text": reply.text, "finished": reply.finished, "new_tokens": len(reply.ids)}
    if parsed is not None:
        out |= {"content": parsed.content, "tool_calls": openai_tool_calls(parsed), "unparsed_calls": parsed.raw_calls}
    return out

"""A chat turn from the page: checked, then answered token by token through infer/ (as `desktune chat`); with
tools, the answer's calls parsed by infer's one parser once it ends."""

from desktune.infer.tool_calls import reply_message, result_content
from desktune.ui.guard import Refused
from desktune.ui.live import event
from desktune.ui.tools import read_tools

MAX_CHARS = 4000  # per message
MAX_MESSAGES = 40
MAX_NEW_TOKENS = 1024
MAX_CALLS = 16  # per assistant message
SHAPE = ("each message is {role: user|assistant|tool, content: text}; an assistant message may carry "
         "tool_calls: [{name, arguments: {...}}], a tool message names the call it answers")


def check(body: dict) -> tuple[list[dict], object, bool, list[dict] | None]:
    """(messages with the system prompt first, Sampling, base, tools) or Refused for input the page should not
    send. A tool message answers the next call of the assistant message before it that has no result yet."""
    from desktune.infer.generate import Sampling  # torch: imported on the first chat, not at start-up

    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or len(messages) > MAX_MESSAGES:
        raise Refused(f"send 1 to {MAX_MESSAGES} messages", 400)
    waiting: list[str] = []  # the last reply's calls without a result yet, in order
    for m in messages:
        _check_message(m)
        if m["role"] == "tool":
            if not waiting or m["name"] != waiting[0]:
                expected = f"the result of {waiting[0]}" if waiting else "no result: no call waits for one"
                raise Refused(f"a tool message answers a call of the reply before it: here {expected} was expected")
            waiting.pop(0)
        elif waiting:
            raise Refused(f"the model called {waiting[0]} and waits for its result: send a tool message first")
        else:
            waiting = [call["name"] for call in m.get("tool_calls") or []]
    last = messages[-1]
    if last["role"] == "assistant" or (last["role"] == "user" and not last["content"].strip()):
        raise Refused("the last message must be a non-empty user message, or the result of the model's call", 400)
    if waiting:
        raise Refused(f"every call needs its result before the model answers: {waiting[0]} has none yet", 400)
    system = body.get("system") or ""
    if not isinstance(system, str) or len(system) > MAX_CHARS:
        raise Refused(f"the system prompt is limited to {MAX_CHARS} characters", 413)
    try:
        sampling = Sampling(max_new_tokens=min(int(body.get("max_new_tokens", 256)), MAX_NEW_TOKENS),
                            temperature=min(max(float(body.get("temperature", 0.7)), 0.0), 2.0),
                            top_p=0.9, repetition_penalty=1.1)
    except (TypeError, ValueError):
        raise Refused("temperature and max_new_tokens are numbers", 400) from None
    turn = ([{"role": "system", "content": system}] if system.strip() else []) + [_kept(m) for m in messages]
    return turn, sampling, bool(body.get("base")), read_tools(body.get("tools"))


def _check_message(m: object) -> None:
    if not isinstance(m, dict) or m.get("role") not in ("user", "assistant", "tool") or not isinstance(m.get("content"), str):
        raise Refused(SHAPE, 400)
    if len(m["content"]) > MAX_CHARS:
        raise Refused(f"a message is limited to {MAX_CHARS} characters", 413)
    if m["role"] == "tool" and (not isinstance(m.get("name"), str) or not m["name"]):
        raise Refused(SHAPE, 400)
    calls = m.get("tool_calls")
    if calls is None:
        return
    if m["role"] != "assistant" or not isinstance(calls, list) or len(calls) > MAX_CALLS or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) and c["name"] and isinstance(c.get("arguments"), dict)
            for c in calls):
        raise Refused(SHAPE + f" (at most {MAX_CALLS} calls a message)", 400)


def _kept(m: dict) -> dict:
    """Only the keys training reads; a tool result as training stores it."""
    if m["role"] == "tool":
        return {"role": "tool", "name": m["name"], "content": result_content(m["content"])}
    if m.get("tool_calls"):
        return {"role": "assistant", "content": m["content"],
                "tool_calls": [{"name": c["name"], "arguments": c["arguments"]} for c in m["tool_calls"]]}
    return {"role": m["role"], "content": m["content"]}


def uses_tools(messages: list[dict], tools: list[dict] | None) -> bool:
    return bool(tools) or any(m["role"] == "tool" or m.get("tool_calls") for m in messages)


def prompt_text(loaded, messages: list[dict], tools: list[dict] | None) -> str:
    """The prompt exactly as the model reads it; refused (400) where the run's template cannot write tools, and
    the template's own refusal (a DesktuneError) for a conversation it rejects, before any answer starts."""
    chat = loaded.chat
    if uses_tools(messages, tools) and chat.tool_format is None:
        raise Refused("this run's chat template (the tokenizer's own) never mentions tools: it cannot show the "
                      "model the functions; clear the tools, or train with data.template=gemma, chatml or llama3")
    return chat.tokenizer.decode(chat.prompt_ids(messages, tools))


def answer(loaded, messages: list[dict], sampling, base: bool, models_status, tools=None, prompt: str = ""):
    """SSE text: the prompt, then each piece of the answer, then the end: the whole text and, parsed with the
    one parser (infer/tool_calls.py), its words, calls and unreadable calls, and the message the page keeps."""
    from desktune.infer.stream import stream_reply
    from desktune.infer.tool_calls import parse_calls

    chat = loaded.chat
    parse = uses_tools(messages, tools)
    yield event({"prompt": prompt, "template": chat.name, "tool_format": chat.tool_format,
                 "models": models_status()}, "start")
    try:
        for piece in stream_reply(loaded.model, chat, messages, sampling, base, loaded.lock, loaded.base_ref, tools):
            if isinstance(piece, str):
                yield event({"text": piece}, "token")
            else:
                parsed = parse_calls(piece.text, chat.tool_format) if parse else None
                words = parsed or parse_calls(piece.text, None)
                yield event({"text": piece.text, "finished": piece.finished, "content": words.content,
                             "calls": words.calls, "raw_calls": words.raw_calls,
                             "message": reply_message(piece.text, parsed)}, "done")
    except Exception as e:  # the page shows it; the server keeps serving
        yield event({"error": getattr(e, "message", None) or f"{type(e).__name__}: {e}"}, "error")

"""A chat turn from the page: checked, then answered token by token through infer/ (as `desktune chat`)."""

from desktune.ui.guard import Refused
from desktune.ui.live import event

MAX_CHARS = 4000  # per message
MAX_MESSAGES = 40
MAX_NEW_TOKENS = 1024


def check(body: dict) -> tuple[list[dict], object, bool]:
    """(messages with the system prompt first, Sampling, base) or Refused for input the page should not send."""
    from desktune.infer.generate import Sampling  # torch: imported on the first chat, not at start-up

    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or len(messages) > MAX_MESSAGES:
        raise Refused(f"send 1 to {MAX_MESSAGES} messages", 400)
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant") or not isinstance(m.get("content"), str):
            raise Refused("each message is {role: user|assistant, content: text}", 400)
        if len(m["content"]) > MAX_CHARS:
            raise Refused(f"a message is limited to {MAX_CHARS} characters", 413)
    if messages[-1]["role"] != "user" or not messages[-1]["content"].strip():
        raise Refused("the last message must be a non-empty user message", 400)
    system = body.get("system") or ""
    if not isinstance(system, str) or len(system) > MAX_CHARS:
        raise Refused(f"the system prompt is limited to {MAX_CHARS} characters", 413)
    try:
        sampling = Sampling(max_new_tokens=min(int(body.get("max_new_tokens", 256)), MAX_NEW_TOKENS),
                            temperature=min(max(float(body.get("temperature", 0.7)), 0.0), 2.0),
                            top_p=0.9, repetition_penalty=1.1)
    except (TypeError, ValueError):
        raise Refused("temperature and max_new_tokens are numbers", 400) from None
    turn = ([{"role": "system", "content": system}] if system.strip() else []) + messages
    return turn, sampling, bool(body.get("base"))


def answer(loaded, messages: list[dict], sampling, base: bool, models_status):
    """SSE text: the prompt exactly as the model reads it, then each piece of the answer, then the end."""
    from desktune.infer.stream import stream_reply

    chat = loaded.chat
    prompt = chat.tokenizer.decode(chat.prompt_ids(messages))
    yield event({"prompt": prompt, "template": chat.name, "models": models_status()}, "start")
    try:
        for piece in stream_reply(loaded.model, chat, messages, sampling, base, loaded.lock, loaded.base_ref):
            if isinstance(piece, str):
                yield event({"text": piece}, "token")
            else:
                yield event({"text": piece.text, "finished": piece.finished}, "done")
    except Exception as e:  # the page shows it; the server keeps serving
        yield event({"error": getattr(e, "message", None) or f"{type(e).__name__}: {e}"}, "error")

"""Replies in OpenAI's shapes: a chat.completion, the chat.completion.chunk events of a stream, token usage, and
the final message with its finish_reason (stop / length / tool_calls), its calls read by infer's one parser."""

import json
import secrets
import time
from dataclasses import dataclass, field

from desktune.infer.tool_calls import openai_tool_calls, parse_calls, reply_message
from desktune.serve.api_error import error_body
from desktune.serve.stops import StopCutter


@dataclass
class Completion:
    """What every part of one answer shares: its id, time and model."""
    model: str
    id: str = field(default_factory=lambda: "chatcmpl-" + secrets.token_hex(12))
    created: int = field(default_factory=lambda: int(time.time()))

    def whole(self, message: dict, finish_reason: str, usage: dict) -> dict:
        return self._head("chat.completion") | {
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
            "usage": usage}

    def chunk(self, delta: dict, finish_reason: str | None = None) -> str:
        return event(self._head("chat.completion.chunk") | {
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]})

    def usage_chunk(self, usage: dict) -> str:
        return event(self._head("chat.completion.chunk") | {"choices": [], "usage": usage})

    def error(self, message: str) -> str:
        """An error once the stream has started (the openai client raises it as an APIError)."""
        return event(error_body(message, "server_error"))

    def _head(self, kind: str) -> dict:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}


def event(obj: dict) -> str:
    """One server-sent event as OpenAI streams them."""
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


DONE = "data: [DONE]\n\n"


def usage(prompt_tokens: int, reply) -> dict:
    """Token counts; the completion's include the end token the model wrote, as OpenAI counts what it generated."""
    completion = len(reply.ids) + reply.finished
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion}


def final_message(chat, reply, stops: tuple[str, ...], parse_calls_too: bool) -> tuple[dict, str]:
    """(the assistant message, finish_reason). The text is the answer's tokens decoded as `desktune generate` shows
    them, cut at the first stop text. With tools, calls become OpenAI tool_calls (each with its own id) and the
    finish_reason "tool_calls"; a call that cannot be read stays in the content, never dropped."""
    cutter = StopCutter(stops)
    cutter.feed(chat.tokenizer.decode(reply.ids, skip_special_tokens=False))
    text = cutter.text()
    parsed = parse_calls(text, chat.tool_format) if parse_calls_too else None
    if parsed is not None and parsed.calls:
        calls = [call | {"id": "call_" + secrets.token_hex(12)} for call in openai_tool_calls(parsed)]
        words = reply_message(text, parsed)["content"]  # the words around the calls, and any call not read
        return {"role": "assistant", "content": words or None, "tool_calls": calls}, "tool_calls"
    finish = "stop" if cutter.stopped or reply.finished else "length"
    return {"role": "assistant", "content": text}, finish


def message_chunks(completion: Completion, message: dict) -> list[str]:
    """A whole message as stream chunks: its words, then each call complete in one delta (index, id, type,
    function name and arguments), as the openai client puts them back together."""
    chunks = [completion.chunk({"content": message["content"]})] if message["content"] else []
    calls = [{"index": i} | call for i, call in enumerate(message.get("tool_calls") or [])]
    return chunks + ([completion.chunk({"tool_calls": calls})] if calls else [])

"""A /v1/chat/completions request body, checked field by field into what generation needs; anything wrong is a 4xx
naming the field (OpenAI's `param`). Fields this server has no use for (user, seed, presence_penalty, ...) are
ignored, as OpenAI-compatible servers do; ones whose answer it could not honour (n > 1, logprobs) are refused."""

from dataclasses import dataclass

from desktune.errors import DataError
from desktune.infer.tool_calls import read_tools
from desktune.serve.api_error import ApiError, bad_request
from desktune.serve.messages import read_messages


@dataclass
class Limits:
    max_body: int = 1_000_000  # bytes of a request body
    max_messages: int = 512
    max_tokens: int = 4096  # the most tokens one answer may ask for, and the default
    max_waiting: int = 64  # requests waiting for the model; beyond it 429


@dataclass
class ChatRequest:
    messages: list[dict]  # the shape training reads
    tools: list[dict] | None  # [{"name", "description", "parameters"}]
    parse_calls: bool  # tools offered and tool_choice is not "none": the reply's calls come back as tool_calls
    temperature: float
    top_p: float
    max_tokens: int | None  # None: as many as the context and the server allow
    stop: tuple[str, ...]
    stream: bool
    include_usage: bool  # stream_options.include_usage: a last chunk with the token counts


def read_request(body: dict, model_id: str, limits: Limits) -> ChatRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("you must provide a model parameter (GET /v1/models lists it)", "model")
    if model != model_id:
        raise ApiError(404, f"The model `{model}` does not exist; this server serves `{model_id}`", "model",
                       "model_not_found")
    _refuse_unsupported(body)
    tools, parse_calls = _tools(body)
    stream = _optional(body, "stream", bool, False)
    options = _optional(body, "stream_options", dict, {})
    return ChatRequest(
        messages=read_messages(body.get("messages"), limits.max_messages), tools=tools, parse_calls=parse_calls,
        temperature=_number(body, "temperature", 0.0, 2.0, 0.0), top_p=_number(body, "top_p", 0.0, 1.0, 1.0),
        max_tokens=_max_tokens(body, limits.max_tokens), stop=_stop(body.get("stop")), stream=stream,
        include_usage=stream and options.get("include_usage") is True)


def _refuse_unsupported(body: dict) -> None:
    if body.get("n") not in (None, 1):
        raise bad_request("this server writes one answer per request: n must be 1", "n")
    if body.get("logprobs"):
        raise bad_request("this server does not return logprobs", "logprobs")
    response_format = body.get("response_format")
    if response_format not in (None, {"type": "text"}):
        raise bad_request("this server answers in text only: response_format must be {\"type\": \"text\"}",
                          "response_format")


def _optional(body: dict, key: str, kind: type, default):
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise bad_request(f"'{key}' must be {'a boolean' if kind is bool else 'an object'}", key)
    return value


def _number(body: dict, key: str, low: float, high: float, default: float) -> float:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise bad_request(f"'{key}' must be a number from {low:g} to {high:g}, got {value!r}", key)
    if key == "top_p" and value == 0:
        raise bad_request("'top_p' must be above 0 (1 keeps every token)", key)
    return float(value)


def _max_tokens(body: dict, limit: int) -> int | None:
    key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise bad_request(f"'{key}' must be a whole number from 1 to {limit} on this server, got {value!r}", key)
    return value


def _stop(value: object) -> tuple[str, ...]:
    stops = [value] if isinstance(value, str) else value
    if stops is None:
        return ()
    if not isinstance(stops, list) or len(stops) > 4 or not all(isinstance(s, str) and s for s in stops):
        raise bad_request("'stop' must be a non-empty string or a list of up to 4 of them", "stop")
    return tuple(stops)


def _tools(body: dict) -> tuple[list[dict] | None, bool]:
    """The offered functions (checked as training checks a row's tools) and whether to read calls from the reply."""
    choice = body.get("tool_choice")
    if choice not in (None, "auto", "none"):
        raise bad_request("tool_choice must be \"auto\" or \"none\": the model decides whether to call, as it "
                          "learned in training ('required' and naming a function are not supported)", "tool_choice")
    if body.get("tools") in (None, []):
        return None, False
    try:
        tools = read_tools(body["tools"], "request")
    except DataError as e:
        raise bad_request(f"{e.message} ({e.hint})", "tools") from None
    return tools, choice != "none"

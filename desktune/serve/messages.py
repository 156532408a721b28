"""OpenAI chat messages read into the shape training reads (desktune/data/tools.py): an assistant's calls as
{"name", "arguments": dict}, a tool result named after the call it answers, stored as training stores it."""

import json

from desktune.infer.tool_calls import result_content
from desktune.serve.api_error import bad_request

ROLES = ("system", "developer", "user", "assistant", "tool")  # developer: OpenAI's newer name for system


def read_messages(value: object, limit: int) -> list[dict]:
    """The conversation, every message checked; the last one must be the user's words or a call's result."""
    if not isinstance(value, list) or not value:
        raise bad_request("'messages' must be a non-empty list of messages", "messages")
    if len(value) > limit:
        raise bad_request(f"'messages' holds {len(value)} messages; this server takes at most {limit}", "messages")
    calls: dict[str, str] = {}  # call id -> function name, of the last assistant message's calls
    messages = []
    for i, raw in enumerate(value):
        message, calls = _message(raw, f"messages[{i}]", calls)
        messages.append(message)
    if messages[-1]["role"] not in ("user", "tool") or not messages[-1]["content"].strip():
        raise bad_request("the last message must be a user message with text, or the result of a call (role "
                          "'tool'): the model answers it", f"messages[{len(value) - 1}]")
    return messages


def _message(raw: object, at: str, calls: dict[str, str]) -> tuple[dict, dict[str, str]]:
    if not isinstance(raw, dict):
        raise bad_request(f"{at} must be an object with 'role' and 'content'", at)
    role = raw.get("role")
    if role not in ROLES:
        raise bad_request(f"{at}.role is {json.dumps(role)}; it must be one of {', '.join(ROLES)}", f"{at}.role")
    content = _text(raw.get("content"), f"{at}.content", optional=role == "assistant" and bool(raw.get("tool_calls")))
    if role == "tool":
        return {"role": "tool", "name": _answered(raw, at, calls), "content": result_content(content)}, calls
    if role == "assistant" and raw.get("tool_calls"):
        read = [_call(call, f"{at}.tool_calls[{j}]") for j, call in enumerate(_list(raw["tool_calls"], at))]
        return ({"role": "assistant", "content": content, "tool_calls": [call for _, call in read]},
                {call_id: call["name"] for call_id, call in read if call_id})
    return {"role": "system" if role == "developer" else role, "content": content}, {} if role == "assistant" else calls


def _text(content: object, at: str, optional: bool) -> str:
    """A message's text: a string, or a list of text parts (joined by newlines); None only beside tool_calls."""
    if content is None and optional:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content:
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise bad_request(f"{at}[{j}] is a {kind!r} part; this model reads text only "
                                  "({\"type\": \"text\", \"text\": \"...\"})", f"{at}[{j}]")
        return "\n".join(part["text"] for part in content)
    raise bad_request(f"{at} must be a string or a list of text parts", at)


def _list(value: object, at: str) -> list:
    if not isinstance(value, list):
        raise bad_request(f"{at}.tool_calls must be a list of calls", f"{at}.tool_calls")
    return value


def _call(raw: object, at: str) -> tuple[str | None, dict]:
    """(call id, {"name", "arguments": dict}) from {"id", "type": "function", "function": {"name", "arguments"}}."""
    function = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        raise bad_request(f"{at} must be {{\"id\", \"type\": \"function\", \"function\": {{\"name\", \"arguments\"}}}}",
                          at)
    arguments = function.get("arguments") or "{}"
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as e:
            raise bad_request(f"{at}.function.arguments is not valid JSON ({e.msg} at character {e.pos})",
                              f"{at}.function.arguments") from None
    if not isinstance(arguments, dict):
        raise bad_request(f"{at}.function.arguments must be a JSON object", f"{at}.function.arguments")
    call_id = raw.get("id")
    return (call_id if isinstance(call_id, str) else None), {"name": function["name"], "arguments": arguments}


def _answered(raw: dict, at: str, calls: dict[str, str]) -> str:
    """The name of the function a tool message answers: by its tool_call_id among the last assistant message's
    calls (or, in the older form, by its name)."""
    call_id, name = raw.get("tool_call_id"), raw.get("name")
    if isinstance(call_id, str) and call_id in calls:
        return calls[call_id]
    if call_id is None and isinstance(name, str) and name:
        return name
    known = ", ".join(calls) or "none"
    raise bad_request(f"{at}.tool_call_id {json.dumps(call_id)} answers no call of the assistant message before it "
                      f"(its call ids: {known})", f"{at}.tool_call_id")

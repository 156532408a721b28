"""Tools on the chat page: the functions sent with a chat (checked as training checks them), the run's own tools
as the page's default, and a reply kept as `desktune chat` keeps it (its calls as calls, in the shape training
reads)."""

import json

from desktune.errors import DataError
from desktune.infer.tool_calls import read_tools as checked_tools
from desktune.ui.guard import Refused


def read_tools(value: object) -> list[dict] | None:
    """The tools as [{"name", "description", "parameters"}] from a list (OpenAI or bare form) or its JSON text;
    None when there are none; Refused (400, with the hint) for anything else."""
    if value is None or value == [] or isinstance(value, str) and not value.strip():
        return None
    try:
        return checked_tools(value, "chat request") or None
    except DataError as e:
        raise Refused(f"{e.message}; {e.hint}") from None


def run_tools(data_summary: dict) -> list[dict]:
    """The run's own tools (the first tool row's, which training recorded in data.json): the page's default."""
    return data_summary.get("tools") or []


def reply_message(text: str, parsed) -> dict:
    """The reply as the conversation keeps it (as `desktune chat` does): calls as calls, a call that could not be
    read kept in the words."""
    if parsed is not None and parsed.calls:
        words = "\n".join(filter(None, [parsed.content] + parsed.raw_calls))
        return {"role": "assistant", "content": words, "tool_calls": parsed.calls}
    return {"role": "assistant", "content": text or "…"}


def result_content(text: str) -> str:
    """A JSON object or list is stored as training stores one (compact JSON); anything else as typed."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else text

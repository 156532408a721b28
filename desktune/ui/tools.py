"""Tools on the chat page: the functions sent with a chat (checked as training checks them) and the run's own
tools as the page's default."""

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

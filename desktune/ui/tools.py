"""Tools on the chat page: the functions sent with a chat (checked), the run's own tools as the page's default,
and a reply kept as `desktune chat` keeps it (its calls as calls, in the shape training reads).

The layering rule keeps ui/ away from data/, so read_tools below mirrors desktune.data.tools.read_tools (same
accepted forms, same messages). It should become one call when infer/ exposes that checker."""

import json
from pathlib import Path

from desktune.ui.guard import Refused

TOOLS_HINT = ('write tools as a list of functions: [{"type": "function", "function": {"name": "get_weather", '
              '"description": "...", "parameters": {"type": "object", "properties": {...}}}}]')
MAX_SCANNED_ROWS = 200  # rows of the training file looked at for a default tool list
MAX_JSON_FILE = 20_000_000  # bytes: a .json training file larger than this is not read for defaults


def read_tools(value: object) -> list[dict] | None:
    """The tools as [{"name", "description", "parameters"}] from a list (OpenAI or bare form) or its JSON text;
    None when there are none; Refused (400, with the hint) for anything else."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise Refused(f"tools: not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); {TOOLS_HINT}") from None
    if value is None or value == []:
        return None
    if not isinstance(value, list):
        raise Refused(f"tools: 'tools' must be a list of functions, got {_json_type(value)}; {TOOLS_HINT}")
    tools = [_function(tool, i) for i, tool in enumerate(value)]
    names = [t["name"] for t in tools]
    for name in names:
        if names.count(name) > 1:
            raise Refused(f"tools: 'tools' declares '{name}' twice; give each function one declaration")
    return tools


def _function(tool: object, i: int) -> dict:
    fn = tool.get("function", tool) if isinstance(tool, dict) else None  # OpenAI wraps it; the bare form does not
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"].strip():
        raise Refused(f"tools: tools[{i}] is not a function with a name; {TOOLS_HINT}")
    parameters = fn.get("parameters") or {"type": "object", "properties": {}}
    if isinstance(parameters, str):
        try:
            parameters = json.loads(parameters)
        except json.JSONDecodeError:
            parameters = None
    if not isinstance(parameters, dict):
        raise Refused(f"tools: tools[{i}] ({fn['name']}): 'parameters' must be a JSON-schema object; {TOOLS_HINT}")
    description = fn.get("description") or ""
    if not isinstance(description, str):
        raise Refused(f"tools: tools[{i}] ({fn['name']}): 'description' must be text")
    return {"name": fn["name"], "description": description, "parameters": parameters}


def _json_type(value: object) -> str:
    return {dict: "an object", str: "a string", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), "null" if value is None else type(value).__name__)


def run_tools(config: dict) -> list[dict]:
    """The first tool list of the run's training rows, when data.train is a local .jsonl or .json file that has
    one (the page's default); [] otherwise. Only a checked tool list ever leaves this function."""
    path = Path(str((config.get("data") or {}).get("train") or ""))
    try:
        if path.suffix == ".jsonl" and path.is_file():
            with path.open(encoding="utf-8") as f:
                for _, line in zip(range(MAX_SCANNED_ROWS), f):
                    if (tools := _row_tools(json.loads(line) if line.strip() else None)) is not None:
                        return tools
        elif path.suffix == ".json" and path.is_file() and path.stat().st_size <= MAX_JSON_FILE:
            rows = json.loads(path.read_text(encoding="utf-8"))
            for row in rows[:MAX_SCANNED_ROWS] if isinstance(rows, list) else []:
                if (tools := _row_tools(row)) is not None:
                    return tools
    except (OSError, ValueError, Refused):  # an unreadable file or row: no default, the page starts empty
        pass
    return []


def _row_tools(row: object) -> list[dict] | None:
    return read_tools(row.get("tools")) if isinstance(row, dict) and row.get("tools") else None


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

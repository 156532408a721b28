"""Read rows from data files, keeping 'file:line' for every row so errors can point at it."""

import json
from pathlib import Path

from desktune.errors import DataError

MAX_LINE_BYTES = 10_000_000


def read_rows(path: str) -> list[tuple[str, object]]:
    """Rows of a .jsonl or .json file as (where, value) pairs."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"data file not found: {path}", "check data.train / data.eval, or the path you passed")
    raw = p.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: the file is empty", "add at least one example")
    try:
        text = raw.decode("utf-8-sig")  # a BOM is accepted and dropped
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: bytes that are not UTF-8 text", "save the file as UTF-8") from None
    if p.suffix == ".json":
        return _json_rows(path, text)
    if p.suffix == ".jsonl":
        return _jsonl_rows(path, text)
    raise DataError(f"{path}: unsupported file type '{p.suffix}'", "use .jsonl (one JSON object per line) or .json (a list)")


def _jsonl_rows(path: str, text: str) -> list[tuple[str, object]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_BYTES:
            raise DataError(f"{path}:{number}: line of {len(line):,} characters is too long",
                            "one example per line; split very long documents")
        try:
            rows.append((f"{path}:{number}", json.loads(line)))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{number}: invalid JSON ({e.msg} at column {e.colno})",
                            "each line must be one complete JSON object") from None
    return rows


def _json_rows(path: str, text: str) -> list[tuple[str, object]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: invalid JSON ({e.msg})", "the file must be one JSON list of examples") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: the top level is {type(data).__name__}, not a list", "wrap the examples in [ ... ]")
    return [(f"{path}[{i}]", row) for i, row in enumerate(data)]

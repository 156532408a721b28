"""Read rows from data files, keeping 'file:line' for every row so errors can point at it.

Supported: .jsonl, .json (a list, or JSON Lines as `datasets`' to_json writes it), .csv, .parquet, .txt (a
document per blank-line block, or the whole file), a folder or glob of those, and hub datasets written
hf:org/name[:split]. A .txt file, or a file with no or another suffix, is read by its content: JSON Lines or JSON
when it is that (people download `NAME.jsonl.txt`), plain text otherwise.
"""

import csv
import glob
import io
import json
from pathlib import Path

from desktune.errors import DataError

MAX_LINE_CHARS = 10_000_000
SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".txt")


def read_rows(spec: str, text_split: str = "paragraph", as_text: bool = False) -> tuple[list[tuple[str, object]], dict]:
    """Rows of every file that spec names, as (where, value) pairs, and how each file was read.
    as_text: a .txt or suffix-less file is plain text whatever it holds (data.format=text)."""
    if spec.startswith("hf:"):
        return _hub_rows(spec.removeprefix("hf:")), {spec: "hub dataset"}
    rows, read_as = [], {}
    for path in _files(spec):
        kind, file_rows = _file_rows(path, text_split, as_text)
        rows += file_rows
        read_as[str(path)] = kind
    return rows, read_as


def _files(spec: str) -> list[Path]:
    p = Path(spec).expanduser()
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix in SUFFIXES and f.is_file())
    elif any(c in spec for c in "*?["):
        files = sorted(Path(f) for f in glob.glob(spec, recursive=True) if Path(f).suffix in SUFFIXES)
    elif p.is_file():
        files = [p]
    else:
        raise DataError(f"data file not found: {spec}", "check data.train / data.eval, or the path you passed")
    if not files:
        raise DataError(f"{spec}: no data files ({', '.join(SUFFIXES)}) found there", "point at a file, a folder or a glob of data files")
    return files


def _file_rows(p: Path, text_split: str, as_text: bool) -> tuple[str, list[tuple[str, object]]]:
    if p.suffix == ".parquet":
        return "Parquet", _parquet_rows(p)
    raw = p.read_bytes()
    if not raw.strip():
        raise DataError(f"{p}: the file is empty", "add at least one example")
    if b"\x00" in raw[:8192]:
        raise DataError(f"{p}: binary data, not text", "give a UTF-8 text file (.jsonl, .json, .csv, .txt)")
    try:
        text = raw.decode("utf-8-sig")  # a BOM is accepted and dropped
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{p}:{line}: bytes that are not UTF-8 text", "save the file as UTF-8") from None
    kind = READERS.get(p.suffix) or ("text" if as_text else _sniff(p, text))
    if kind == "json" and _json_lines(text):  # named .json, as datasets' to_json() writes them
        kind = "jsonl"
    named = f"suffix '{p.suffix}'" if p.suffix else "no suffix"
    suffix = f" (by content; {named})" if READERS.get(p.suffix) != kind and kind != "text" else ""
    if kind == "text":
        return "plain text", _txt_rows(p, text, text_split)
    return KIND_NAMES[kind] + suffix, {"jsonl": _jsonl_rows, "json": _json_rows, "csv": _csv_rows}[kind](p, text)


READERS = {".jsonl": "jsonl", ".json": "json", ".csv": "csv"}
KIND_NAMES = {"jsonl": "JSON Lines", "json": "JSON", "csv": "CSV"}


def _sniff(path: Path, text: str) -> str:
    """jsonl, json or text, from what the file holds: its first line decides, the whole file when that is
    one JSON document. A file that starts like JSON but is not valid JSON is refused rather than guessed."""
    first = _first_line(text)
    if not first.startswith(("{", "[")):
        return "text"
    if _json_lines(text):
        return "jsonl"
    try:
        whole = json.loads(text)
    except json.JSONDecodeError as e:
        if first.startswith("["):
            return "text"  # prose that opens with a bracket, such as "[Verse 1]"
        raise DataError(f"{path}:{e.lineno}: the file starts like JSON but is not valid JSON ({e.msg}), so it is "
                        f"neither JSON Lines nor plain text for sure",
                        "fix the JSON (one object per line for JSON Lines), or set data.format=text to train "
                        "the file as plain text") from None
    if isinstance(whole, list):
        return "json"
    raise DataError(f"{path}: one JSON {type(whole).__name__} rather than one example per line",
                    "write one JSON object per line (JSON Lines), or a JSON list of examples")


def _first_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.strip()).strip()


def _json_lines(text: str) -> bool:
    """The first line that is not blank is one whole JSON object (a JSON list's starts with '[', not parsed)."""
    first = _first_line(text)
    if not first.startswith("{"):
        return False
    try:
        return isinstance(json.loads(first), dict)
    except json.JSONDecodeError:
        return False


def _jsonl_rows(path: Path, text: str) -> list[tuple[str, object]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            raise DataError(f"{path}:{number}: a line of {len(line):,} characters is too long to be one example",
                            "one example per line; split very long documents")
        try:
            rows.append((f"{path}:{number}", json.loads(line)))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{number}: invalid JSON ({e.msg} at column {e.colno})",
                            "each line must be one complete JSON object") from None
    return rows


def _json_rows(path: Path, text: str) -> list[tuple[str, object]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: invalid JSON ({e.msg})", "the file must be one JSON list of examples") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: the top level is {type(data).__name__}, not a list", "wrap the examples in [ ... ]")
    return [(f"{path}[{i}]", row) for i, row in enumerate(data)]


def _csv_rows(path: Path, text: str) -> list[tuple[str, object]]:
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for row in reader:
        if None in row:
            raise DataError(f"{path}:{reader.line_num}: more fields than the header names", "quote fields that contain commas")
        rows.append((f"{path}:{reader.line_num}", row))
    return rows


def _txt_rows(path: Path, text: str, split: str) -> list[tuple[str, object]]:
    if split == "file":
        return [(f"{path}:1", {"text": text.strip()})]
    rows, block, start = [], [], 1
    for number, line in enumerate(text.splitlines() + [""], start=1):
        if line.strip():
            if not block:
                start = number
            block.append(line)
        elif block:
            rows.append((f"{path}:{start}", {"text": "\n".join(block)}))
            block = []
    return rows


def _parquet_rows(path: Path) -> list[tuple[str, object]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{path}: reading .parquet needs pyarrow", "pip install pyarrow") from None
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise DataError(f"{path}: not a readable parquet file ({e})", "check the file, or export it as .jsonl") from None
    return [(f"{path}[{i}]", row) for i, row in enumerate(table.to_pylist())]


def _hub_rows(name: str) -> list[tuple[str, object]]:
    try:
        import datasets
    except ImportError:
        raise DataError(f"hf:{name} needs the datasets library", "pip install datasets") from None
    repo, _, split = name.partition(":")
    try:
        ds = datasets.load_dataset(repo, split=split or "train")
    except Exception as e:  # network, missing repo, gated repo: one clear line
        raise DataError(f"could not load hub dataset '{repo}' ({str(e).splitlines()[0] if str(e) else type(e).__name__})",
                        "check the name and split and your network, or download it to a local file") from None
    return [(f"hf:{name}[{i}]", row) for i, row in enumerate(ds)]

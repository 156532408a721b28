"""Read rows from data files, keeping 'file:line' for every row so errors can point at it.

Supported: .jsonl, .json (a list), .csv, .parquet, .txt (a document per blank-line block, or the whole
file), a folder or glob of those, and hub datasets written hf:org/name[:split].
"""

import csv
import glob
import io
import json
from pathlib import Path

from desktune.errors import DataError

MAX_LINE_CHARS = 10_000_000
SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".txt")


def read_rows(spec: str, text_split: str = "paragraph") -> list[tuple[str, object]]:
    """Rows of every file that spec names, as (where, value) pairs."""
    if spec.startswith("hf:"):
        return _hub_rows(spec.removeprefix("hf:"))
    rows = []
    for path in _files(spec):
        rows += _file_rows(path, text_split)
    return rows


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


def _file_rows(p: Path, text_split: str) -> list[tuple[str, object]]:
    if p.suffix not in SUFFIXES:
        raise DataError(f"{p}: unsupported file type '{p.suffix}'", f"use one of {', '.join(SUFFIXES)}")
    if p.suffix == ".parquet":
        return _parquet_rows(p)
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
    reader = {".jsonl": _jsonl_rows, ".json": _json_rows, ".csv": _csv_rows}.get(p.suffix)
    return reader(p, text) if reader else _txt_rows(p, text, text_split)


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

"""desktune runs [DIR] — a table of runs; desktune runs compare A B — two runs side by side."""

import argparse
import json

from rich.console import Console
from rich.table import Table

from desktune.config.load import differences
from desktune.errors import RunError
from desktune.runs import RunDir, list_runs

COLUMNS = ("run", "model", "method", "data", "steps", "best eval", "time", "tok/s", "status")


def run(argv: list[str]) -> int:
    if argv[:1] == ["compare"]:
        return compare(argv[1:])
    parser = argparse.ArgumentParser(prog="desktune runs", description="List the runs in a folder.")
    parser.add_argument("dir", nargs="?", default="runs")
    parser.add_argument("--json", action="store_true", help="print the runs as JSON (the same fields, unformatted)")
    args = parser.parse_args(argv)
    if args.json:
        print(json.dumps([r.overview() for r in list_runs(args.dir)], indent=2))
        return 0
    table = Table(*COLUMNS)
    for r in list_runs(args.dir):
        table.add_row(*row(r))
    Console(highlight=False, width=160).print(table)
    return 0


def row(r: RunDir) -> list[str]:
    o = r.overview()
    return [o["run"], o["model"], o["method"], o["data"], "—" if o["steps"] is None else str(o["steps"]),
            "—" if o["best_eval"] is None else f"{o['best_eval']:.4f}",
            "—" if o["seconds"] is None else f"{o['seconds']:.0f}s",
            "—" if o["tokens_per_s"] is None else f"{o['tokens_per_s']:.0f}", o["status"]]


def compare(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="desktune runs compare", description="Compare two runs.")
    parser.add_argument("a")
    parser.add_argument("b")
    args = parser.parse_args(argv)
    a, b = RunDir(args.a), RunDir(args.b)
    for r in (a, b):
        if not r.config.exists():
            raise RunError(f"{r.path} is not a run folder (no config.yaml)", "give two folders made by 'desktune train'")
    table = Table("", a.path.name, b.path.name)
    for name, x, y in zip(COLUMNS[1:], row(a)[1:], row(b)[1:]):
        table.add_row(name, x, y)
    console = Console(highlight=False, width=160)
    console.print(table)
    changed = [d for d in differences(a.read_config(), b.read_config()) if not d.startswith("output ")]
    console.print("config differences:\n  " + ("\n  ".join(changed) if changed else "none"), soft_wrap=True)
    return 0

"""desktune runs [DIR] — a table of runs; desktune runs compare A B — two runs side by side."""

import argparse
import json

from rich.console import Console
from rich.table import Table

from desktune.config.load import differences
from desktune.errors import RunError
from desktune.report.plot import read_metrics
from desktune.runs import RunDir, list_runs

COLUMNS = ("run", "model", "method", "data", "steps", "best eval", "time", "tok/s", "status")


def run(argv: list[str]) -> int:
    if argv[:1] == ["compare"]:
        return compare(argv[1:])
    parser = argparse.ArgumentParser(prog="desktune runs", description="List the runs in a folder.")
    parser.add_argument("dir", nargs="?", default="runs")
    args = parser.parse_args(argv)
    table = Table(*COLUMNS)
    for r in list_runs(args.dir):
        table.add_row(*row(r))
    Console(highlight=False, width=160).print(table)
    return 0


def row(r: RunDir) -> list[str]:
    cfg = r.read_config() or {}
    s = json.loads(r.summary.read_text()) if r.summary.exists() else {}
    speeds = [m["tokens_per_s"] for m in read_metrics(r.metrics)]
    steps = s.get("steps_done") if s else (len(speeds) or "—")
    best = s.get("best_eval_loss")
    model, data = str(cfg.get("model", "?")), str(cfg.get("data", {}).get("train", "?"))
    return [r.path.name, model.rsplit("/", 1)[-1], str(cfg.get("method", "?")), data.rsplit("/", 1)[-1],
            str(steps), f"{best:.4f}" if best is not None else "—", f"{s['seconds']:.0f}s" if s else "—",
            f"{sum(speeds) / len(speeds):.0f}" if speeds else "—", r.status()]


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

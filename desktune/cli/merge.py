"""desktune merge RUN [--out DIR] [--overwrite]"""

import argparse
from pathlib import Path

from desktune.runs import RunDir


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="desktune merge", description="Merge a run's adapter into its base model.")
    parser.add_argument("run", help="run folder made by desktune train")
    parser.add_argument("--out", default=None, help="output folder (default: RUN/merged)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    args = parser.parse_args(argv)
    run_dir = RunDir(args.run)
    run_dir.require_adapter()

    from desktune.export.merge import merge

    out = merge(run_dir, Path(args.out) if args.out else run_dir.merged, args.overwrite)
    print(f"merged model: {out}\ntry: desktune chat {out}")
    return 0

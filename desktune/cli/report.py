"""desktune report RUN — (re)write report.md and loss.png for a run folder."""

import argparse

from desktune.errors import RunError
from desktune.runs import RunDir


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="desktune report", description="Write report.md and loss.png for a run.")
    parser.add_argument("run", help="run folder")
    args = parser.parse_args(argv)
    run_dir = RunDir(args.run)
    if not run_dir.config.exists():
        raise RunError(f"{run_dir.path} is not a run folder (no config.yaml)", "give a folder made by 'desktune train'")

    from desktune.report.summary import write_report

    write_report(run_dir)
    print(f"written: {run_dir.report_md}, {run_dir.loss_png}")
    return 0

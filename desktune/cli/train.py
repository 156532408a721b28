"""desktune train [CONFIG] [key=value ...] [--overwrite | --resume [--allow-changes]]"""

import argparse
from pathlib import Path

from desktune.config import load_config
from desktune.errors import ConfigError, RunError
from desktune.runs import RunDir

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "persona.yaml"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="desktune train", description="Fine-tune a model (LoRA, QLoRA or full).")
    parser.add_argument("items", nargs="*", metavar="[CONFIG] [key=value ...]")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    parser.add_argument("--resume", action="store_true", help="continue the run folder's last checkpoint")
    parser.add_argument("--allow-changes", action="store_true", help="resume even if the config or data changed")
    parser.add_argument("--samples", type=int, default=3, help="held-out prompts to answer, base vs tuned, at the end")
    args = parser.parse_intermixed_args(argv)
    config_path, overrides = split_config(args.items)
    cfg = load_config(config_path or str(EXAMPLE), overrides)
    if not cfg.output:
        cfg.output = f"runs/{Path(config_path or EXAMPLE).stem}"
    run_dir = RunDir(cfg.output)
    if args.resume and args.overwrite:
        raise ConfigError("--resume and --overwrite contradict each other", "pick one")
    if not args.resume:
        run_dir.refuse_existing(args.overwrite)  # the folder is (re)made only once model and data have loaded
    elif not run_dir.path.is_dir():
        raise RunError(f"nothing to resume: {run_dir.path} does not exist", "drop --resume to start a new run")

    from desktune.report.summary import write_report
    from desktune.train.distributed import exit_if_launched, is_main_process, leave_process_group
    from desktune.train.loop import train  # torch and transformers load only when training starts

    # a failure marks the run folder itself (failed.json, running.pid gone): train() does, whoever calls it
    try:
        train(cfg, run_dir, samples=args.samples, resume=args.resume, overwrite=args.overwrite,
              allow_changes=args.allow_changes)
    finally:
        leave_process_group()
    if is_main_process():  # of several processes, only the main one writes the run folder
        write_report(run_dir)
        print(f"run folder: {run_dir.path}\ntry: desktune generate {run_dir.path} --prompt 'Hello!'")
    exit_if_launched(0)
    return 0


def split_config(items: list[str]) -> tuple[str | None, list[str]]:
    """The first item is the config file unless it is a key=value override."""
    if items and "=" not in items[0]:
        return items[0], items[1:]
    return None, items

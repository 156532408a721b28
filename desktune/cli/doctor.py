"""desktune doctor [--json] [--output DIR] — what this machine can do, and what to fix."""

import argparse
import json
from dataclasses import asdict
from pathlib import Path


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="desktune doctor", description="Check this machine for training.")
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument("--output", default="runs", help="where runs will be written (its free disk is checked)")
    args = parser.parse_args(argv)

    from desktune.hardware.detect import detect
    from desktune.hardware.doctor import run_checks

    checks = run_checks(detect(), Path(args.output))
    broken = [c for c in checks if not c.ok and c.needed]
    if args.json:
        print(json.dumps({"ok": not broken, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            mark = "ok  " if c.ok else ("FAIL" if c.needed else "note")
            print(f"{mark}  {c.name:<{width}}  {c.found}" + (f"\n      {'':<{width}}  fix: {c.fix}" if not c.ok else ""))
        print("\nready to train" if not broken else f"\n{len(broken)} problem(s) to fix before training")
    return 1 if broken else 0

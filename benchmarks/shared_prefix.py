"""Rows that hold a shared prefix once (data/pack.py) against the same rows with it repeated: seconds per step.

Usage:  .venv/bin/python benchmarks/shared_prefix.py [--steps 3] [key=value ...]
The set: the bundled tool example's training rows with every row declaring all six functions in one order, as an
app that always sends the same tools writes them (~600 of each row's ~820 tokens are the declarations). The
built-in trains with the defaults (batch 8, the auto row size); the first step warms up, then the same steps run
with the prefix held once and repeated, twice each, alternating. Prints seconds per step, the examples' tokens per
second, the rows' tokens per step, and what the plan said a step would take.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import desktune.data.pack as pack_module

TOOLS = Path(__file__).resolve().parent.parent / "desktune" / "examples" / "tools"


def fixed_tools_file(folder: Path) -> Path:
    tools = json.loads((TOOLS / "tools.json").read_text())
    rows = [json.loads(line) | {"tools": tools} for line in (TOOLS / "train.jsonl").read_text().splitlines()]
    path = folder / "tools_fixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    args, overrides = parser.parse_known_args()
    from desktune.config.load import load_config
    from desktune.data.pack import row_groups, row_length
    from desktune.runs import RunDir
    from desktune.train import setup
    from desktune.train.sft_step import sft_step

    with tempfile.TemporaryDirectory() as work:
        data = fixed_tools_file(Path(work))
        cfg = load_config(None, [f"data.train={data}", "data.max_length=2048", f"output={work}/run", *overrides])
        t = setup.set_up(cfg, RunDir(Path(work) / "run"))
        cfg = t.cfg  # auto values resolved
        print(f"batch {cfg.train.batch_size}, rows of at most {cfg.train.micro_batch_tokens} tokens; planned "
              f"{t.plan.seconds_per_step:.1f} s a step", flush=True)

        def run(first: int) -> tuple[float, int, int]:
            started, tokens, computed = time.perf_counter(), 0, 0
            for step in range(first, first + args.steps):
                batch = [t.data.train[i].encoded for i in t.schedule.batch(step)]
                computed += sum(row_length(r) for r in row_groups(batch, cfg.train.micro_batch_tokens))
                tokens += sft_step(t, t.schedule.batch(step), 1.0)[1]
                t.optimizer.zero_grad(set_to_none=True)  # no update: each arm sees the same weights
            return (time.perf_counter() - started) / args.steps, tokens, computed // args.steps

        run(0)
        for arm in ("held once", "repeated", "held once", "repeated"):
            pack_module.MIN_SHARED = 32 if arm == "held once" else sys.maxsize
            seconds, tokens, computed = run(1)
            print(f"prefix {arm:9}: {seconds:5.1f} s a step, {tokens / seconds / args.steps:4.0f} example tok/s, "
                  f"{computed} row tokens a step", flush=True)


if __name__ == "__main__":
    main()

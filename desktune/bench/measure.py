"""Race training recipes on the same examples: real tokens/s, peak memory, held-out loss, MFU.

Every recipe trains one epoch over the same jsonl (so each sees the same real tokens) in its own process
(so its peak memory is its own); one judge scores every result: mean loss on the held-out assistant
tokens, fp32, one example per row.
"""

import json
import subprocess
import sys
from pathlib import Path

from desktune.errors import DesktuneError


def peak_rss_gb() -> float:
    from desktune.hardware.detect import detect, peak_memory_gb

    return peak_memory_gb(detect().kind)


def heldout_loss(model, chat, eval_file: str) -> float:
    from desktune.config.schema import DataConfig
    from desktune.data.dataset import load_examples
    from desktune.data.pack import pack
    from desktune.train.forward import mean_loss

    model = model.float().eval()
    examples, _ = load_examples(eval_file, chat, DataConfig(max_length=1 << 20))
    rows = pack([e.encoded for e in examples], 1 << 20, packing=False)
    return mean_loss(model, rows, next(model.parameters()).device)


def write_examples(path: Path, examples: list) -> Path:
    """Encoded examples back to {"messages": [...]} rows, the format every recipe reads."""
    if any(e.messages is None for e in examples):
        raise DesktuneError("the recipes race on chat data; this data has plain-text rows",
                            "use messages / ShareGPT / Alpaca / prompt-completion rows")
    path.write_text("".join(json.dumps({"messages": e.messages}) + "\n" for e in examples))
    return path


def measure_desktune(config_path: str | None, overrides: list[str], train_file: Path, eval_file: Path,
                     work: Path) -> dict:
    """desktune train on the file, one epoch, no evaluation or samples on the way."""
    from desktune.infer.generate import load_run
    from desktune.plan.estimate import Shape, model_flops_per_token
    from desktune.runs import RunDir

    command = [sys.executable, "-m", "desktune", "train", *([config_path] if config_path else []), *overrides,
               f"data.train={train_file}", f"data.eval={eval_file}", "train.epochs=1", "train.max_steps=0",
               "train.eval_every=0", "train.eval_samples=0", "train.early_stopping=0", f"output={work}",
               "--samples=0", "--overwrite"]
    _run(command, "desktune")
    run = RunDir(work)
    summary = json.loads(run.summary.read_text())
    steps = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    steps = [s for s in steps if "tokens_per_s" in s]
    seconds = sum((s["tokens"] - before) / s["tokens_per_s"]
                  for s, before in zip(steps, [0] + [s["tokens"] for s in steps]))
    model, chat = load_run(run)
    fraction = summary["trained_tokens_per_epoch"] / summary["tokens_per_epoch"]
    return {"real_tokens": summary["tokens_seen"], "seconds": seconds, "peak_memory_gb": summary["peak_memory_gb"],
            "heldout_loss": heldout_loss(model, chat, str(eval_file)),
            "flops_per_token": model_flops_per_token(Shape.from_config(model.config), summary["method"] == "full",
                                                     fraction)}


def measure_recipe(name: str, tokenizer_dir: Path, model_ref: str, train_file: Path, eval_file: Path,
                   work: Path) -> dict:
    """One of desktune.bench.recipes (the TRL one needs `pip install trl`)."""
    command = [sys.executable, "-m", "desktune.bench.recipes", name, str(tokenizer_dir), model_ref, str(train_file),
               str(eval_file), str(work)]
    return json.loads(_run(command, name).strip().splitlines()[-1])


def rates(result: dict, epoch_tokens: int, peak_gflops: float) -> dict:
    """Adds real tokens/s, seconds per epoch of the full data, and MFU against the measured matmul peak."""
    speed = result["real_tokens"] / result["seconds"]
    return result | {"tokens_per_s": speed, "seconds_per_epoch": epoch_tokens / speed,
                     "mfu": speed * result["flops_per_token"] / (peak_gflops * 1e9)}


def _run(command: list[str], name: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        lines = done.stderr.strip().splitlines() or [f"exit {done.returncode}"]
        said = [line for line in lines if line.startswith("error: ")]  # desktune's own one-line error
        reason = said[0].removeprefix("error: ") if said else lines[-1]
        hint = "pip install trl for the TRL recipe" if "trl" in reason else "run that recipe alone to see all of it"
        raise DesktuneError(f"the {name} recipe failed: {reason}", hint)
    return done.stdout

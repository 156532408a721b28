"""Race training recipes on the same examples: real tokens/s, peak memory, seconds per epoch, a held-out score, MFU.

Every recipe trains one epoch over the same jsonl (so each sees the same real tokens) in its own process (so its
peak memory is its own); one judge scores every result. SFT: mean loss on the held-out assistant tokens, fp32, one
example per row. DPO (and ORPO): on the held-out pairs, the reward accuracy and mean margin of the tuned model
against itself with the adapter off, beta from the config (heldout_rewards).
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


def heldout_rewards(model, chat, eval_file: str, beta: float, base_ref: str | None = None) -> dict:
    """The preference judge, one for every recipe: on the held-out pairs (whole, never cut), the share whose chosen
    answer gets the higher DPO reward, beta x (log-prob tuned - log-prob base), and the mean margin between the two;
    fp32, through eval/preference.py as `desktune eval` scores them. The base is the model with its adapter off
    (base_ref: the model a full fine-tune started from)."""
    from desktune.config.schema import DataConfig
    from desktune.data.preference import load_pairs
    from desktune.eval.preference import preference_eval

    pairs, _ = load_pairs(eval_file, chat, DataConfig(max_length=1 << 20))
    rewards = preference_eval(model.float().eval(), pairs, 4096, beta, base_ref)["against_base"]
    return {"heldout_reward_accuracy": rewards["accuracy"], "heldout_reward_margin": rewards["margin"]}


def preference_flops_per_token(config, full: bool, trained_fraction: float, reference: bool) -> float:
    """Useful FLOPs per real token of a preference step: the policy's forward and backward, and (dpo) the
    reference's forward, whether it runs once before step 1 (desktune) or in every step (TRL)."""
    from desktune.plan.estimate import Shape, model_flops_per_token

    step = model_flops_per_token(Shape.from_config(config), full, trained_fraction)
    return step * (1 + 1 / (3 if full else 2)) if reference else step


def write_examples(path: Path, examples: list) -> Path:
    """Encoded examples back to {"messages": [...]} rows, the format every recipe reads."""
    if any(e.messages is None for e in examples):
        raise DesktuneError("the recipes race on chat data; this data has plain-text rows",
                            "use messages / ShareGPT / Alpaca / prompt-completion rows")
    path.write_text("".join(json.dumps({"messages": e.messages}) + "\n" for e in examples))
    return path


def write_pairs(path: Path, pairs: list) -> Path:
    """Preference pairs back to {"prompt", "chosen", "rejected"} rows of messages: TRL's conversational preference
    format, which desktune reads too (the prompt's turns, then each answer's)."""
    path.write_text("".join(json.dumps({"prompt": p.prompt, "chosen": p.answers[0], "rejected": p.answers[1]}) + "\n"
                            for p in pairs))
    return path


def measure_desktune(config_path: str | None, overrides: list[str], train_file: Path, eval_file: Path,
                     work: Path, objective: str = "sft") -> dict:
    """desktune train on the file, one epoch, no evaluation or samples on the way. Pairs (dpo, orpo): no held-out
    pairs in the run at all, so that dpo's reference pass covers the training pairs alone; it counts as training
    time, as the TRL DPO recipe pays for its reference inside its steps."""
    from desktune.runs import RunDir

    held_out = eval_file if objective == "sft" else "0"
    command = [sys.executable, "-m", "desktune", "train", *([config_path] if config_path else []), *overrides,
               f"data.train={train_file}", f"data.eval={held_out}", "train.epochs=1", "train.max_steps=0",
               "train.eval_every=0", "train.eval_samples=0", "train.early_stopping=0", f"output={work}",
               "--samples=0", "--overwrite"]
    _run(command, "desktune")
    run = RunDir(work)
    summary = json.loads(run.summary.read_text())
    reference = summary.get("reference_seconds", 0.0)  # dpo only
    result = {"real_tokens": summary["tokens_seen"], "seconds": step_seconds(run) + reference,
              "peak_memory_gb": summary["peak_memory_gb"]}
    if objective == "dpo":
        result["reference_seconds"] = reference
    return result | _scored(run, summary, objective, str(eval_file))


def _scored(run, summary: dict, objective: str, eval_file: str) -> dict:
    """The trained run's held-out score (SFT: loss; pairs: rewards) and useful FLOPs per token."""
    from desktune.infer.generate import load_run
    from desktune.plan.estimate import Shape, model_flops_per_token

    model, chat = load_run(run)
    full = summary["method"] == "full"
    fraction = summary["trained_tokens_per_epoch"] / summary["tokens_per_epoch"]
    if objective == "sft":
        return {"heldout_loss": heldout_loss(model, chat, eval_file),
                "flops_per_token": model_flops_per_token(Shape.from_config(model.config), full, fraction)}
    cfg = run.read_config()
    rewards = heldout_rewards(model, chat, eval_file, cfg[objective]["beta"], cfg["model"] if full else None)
    return rewards | {"flops_per_token": preference_flops_per_token(model.config, full, fraction, objective == "dpo")}


def step_seconds(run) -> float:
    """Seconds the run's optimizer steps took, from their logged tokens/s."""
    steps = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    steps = [s for s in steps if "tokens_per_s" in s]
    before = [0] + [s["tokens"] for s in steps]
    return sum((s["tokens"] - done) / s["tokens_per_s"] for s, done in zip(steps, before))


def measure_recipe(name: str, tokenizer_dir: Path, model_ref: str, train_file: Path, eval_file: Path,
                   work: Path, dpo: dict | None = None) -> dict:
    """One of desktune.bench.recipes, or given dpo (its settings) the TRL DPO recipe of desktune.bench.dpo; the TRL
    ones need `pip install 'desktune[bench]'`."""
    paths = [str(tokenizer_dir), model_ref, str(train_file), str(eval_file), str(work)]
    if dpo is None:
        command = [sys.executable, "-m", "desktune.bench.recipes", name, *paths]
    else:
        command = [sys.executable, "-m", "desktune.bench.dpo", *paths, json.dumps(dpo)]
    return json.loads(_run(command, name).strip().splitlines()[-1])


def rates(result: dict, epoch_tokens: int, peak_gflops: float) -> dict:
    """Adds real tokens/s, seconds per epoch of the full data, and MFU against the measured matmul peak."""
    speed = result["real_tokens"] / result["seconds"]
    return result | {"tokens_per_s": speed, "seconds_per_epoch": epoch_tokens / speed,
                     "mfu": speed * result["flops_per_token"] / (peak_gflops * 1e9)}


def _run(command: list[str], name: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        lines = done.stderr.strip().splitlines() or [f"exit {done.returncode}"]
        said = [line for line in lines if line.startswith("error: ")]  # desktune's own one-line error
        reason = said[0].removeprefix("error: ") if said else lines[-1]
        missing = "No module named" in reason and any(m in reason for m in ("'trl", "'datasets"))
        hint = ("pip install 'desktune[bench]' (trl and datasets) for the TRL recipes" if missing
                else "run that recipe alone to see all of it")
        raise DesktuneError(f"the {name} recipe failed: {reason}", hint)
    return done.stdout

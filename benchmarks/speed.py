"""desktune against the recipes people copy today: same model, same data, same machine, one go.

    .venv/bin/pip install trl          # the seed TRL recipe needs it (desktune does not)
    .venv/bin/python benchmarks/speed.py [--examples 64] [--only trl,default,...] [--work DIR]

Every recipe trains once over the same first N bundled persona examples (so each sees the same real tokens),
in its own process (so its peak RSS is its own), then its model is scored on the 20 held-out conversations
by one evaluator: mean loss on the assistant tokens, fp32, one example per row. Prints real tokens/s, peak RSS
(at the end of training), seconds per epoch of the 160 examples, held-out loss, and MFU: useful model FLOPs
per second against this machine's bf16 matmul peak, measured here.
"""

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "desktune" / "examples"
TRAIN, HELD_OUT, CONFIG = EXAMPLE / "persona" / "train.jsonl", EXAMPLE / "persona" / "heldout.jsonl", EXAMPLE / "persona.yaml"
RECIPES = {  # name: (what it is, seed recipe or desktune overrides)
    "trl": ("seed TRL: LoRA r16 q/k/v/o, fp32, batch 1x8, grad ckpt, max 512", "trl"),
    "hf-full": ("seed HF Trainer full FT: padded to 512, fp32, batch 4, grad ckpt", "hf-full"),
    "default": ("desktune default (lora)", []),
    "low-memory": ("desktune train.low_memory=true", ["train.low_memory=true"]),
    "full": ("desktune method=full", ["method=full", "train.lr=2e-5"]),
    "reference": ("desktune lora, fp32, unpacked (quality reference)", ["train.precision=fp32", "data.packing=false"]),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=64, help="training examples each recipe sees (160: a full epoch)")
    ap.add_argument("--only", default=",".join(RECIPES), help="comma list of: " + ", ".join(RECIPES))
    ap.add_argument("--work", default="", help="folder for runs and results (default: a new temp folder)")
    ap.add_argument("--recipe", help=argparse.SUPPRESS)  # internal: run one recipe in this process
    ap.add_argument("--train", help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="desktune-bench-"))
    if args.recipe:
        return print(json.dumps(run_recipe(args.recipe, args.train, work)))

    work.mkdir(parents=True, exist_ok=True)
    train_file = work / "train.jsonl"
    lines = TRAIN.read_text().splitlines()
    random.Random(0).shuffle(lines)
    train_file.write_text("\n".join(lines[: args.examples]) + "\n")
    epoch_fraction = len(lines) / min(args.examples, len(lines))
    peaks = measured_peaks()
    print(f"machine matmul peak: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s; "
          f"{min(args.examples, len(lines))} examples per recipe; work folder {work}")
    results = {}
    for name in args.only.split(","):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--recipe", name, "--train", str(train_file),
                               "--work", str(work / name)], capture_output=True, text=True)
        if done.returncode:
            print(f"{name} failed:\n{done.stderr[-3000:]}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        r["tokens_per_s"] = r["real_tokens"] / r["seconds"]
        r["seconds_per_epoch"] = r["seconds"] * epoch_fraction
        r["mfu"] = r["tokens_per_s"] * r["flops_per_token"] / (peaks["bf16"] * 1e9)
        results[name] = r
        print(f"  {name}: done in {time.perf_counter() - started:.0f}s", flush=True)
    (work / "results.json").write_text(json.dumps({"peaks": peaks, "results": results}, indent=1))
    print(table(results))
    print(verdicts(results))


def measured_peaks() -> dict:
    from desktune.hardware.probe import matmul_gflops

    return {d: matmul_gflops("cpu", d, seconds=2.0) for d in ("fp32", "bf16")}


def run_recipe(name: str, train_file: str, work: Path) -> dict:
    what, how = RECIPES[name]
    if isinstance(how, str):
        sys.path.insert(0, str(Path(__file__).parent))
        from seed_recipes import RECIPES as SEEDS

        from desktune.models.load import quiet_transformers, resolve

        quiet_transformers()
        model, tokenizer, real, seconds = SEEDS[how](resolve("builtin:gemma-3-270m").path, train_file, str(work))
        trained_fraction, full = 1.0, how == "hf-full"  # the seed recipes compute the loss on every token
    else:
        model, tokenizer, real, seconds, trained_fraction = train_desktune(how, train_file, work)
        full = "method=full" in how
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    return {"recipe": what, "real_tokens": real, "seconds": seconds, "peak_rss_gb": peak,
            "heldout_loss": heldout_loss(model, tokenizer),
            "flops_per_token": useful_flops(model.config, full, trained_fraction)}


def train_desktune(overrides: list[str], train_file: str, work: Path):
    from desktune.config.load import load_config
    from desktune.infer.generate import load_run
    from desktune.runs import RunDir
    from desktune.train.loop import train

    cfg = load_config(str(CONFIG), [f"data.train={train_file}", f"data.eval={HELD_OUT}", "train.epochs=1",
                                    "train.eval_every=0", "train.eval_samples=0", f"output={work}", *overrides])
    run = RunDir(str(work))
    summary = train(cfg, run, samples=0, overwrite=True)
    steps = [json.loads(line) for line in run.metrics.read_text().splitlines()]
    steps = [s for s in steps if "tokens_per_s" in s]
    seconds = sum((s["tokens"] - p) / s["tokens_per_s"] for s, p in zip(steps, [0] + [s["tokens"] for s in steps]))
    model, chat = load_run(run)
    fraction = summary["trained_tokens_per_epoch"] / summary["tokens_per_epoch"]
    return model, chat.tokenizer, summary["tokens_seen"], seconds, fraction


def heldout_loss(model, tokenizer) -> float:
    """Mean loss on the held-out assistant tokens, fp32, one example per row: the same judge for every recipe."""
    from desktune.config.schema import DataConfig
    from desktune.data.dataset import load_examples
    from desktune.data.pack import pack
    from desktune.data.template import ChatFormat
    from desktune.train.forward import mean_loss

    model = model.float().eval()
    chat = ChatFormat(tokenizer, "gemma", model.config.model_type)
    examples, _ = load_examples(str(HELD_OUT), chat, DataConfig())
    return mean_loss(model, pack([e.encoded for e in examples], 1024, packing=False), "cpu")


def useful_flops(config, full: bool, trained_fraction: float, context: int = 80) -> float:
    """Model FLOPs per real token: forward, plus the backward a method needs (input gradients only when the
    base is frozen). Padding, recomputation and the attention mask's wasted half are not useful work."""
    from desktune.plan.estimate import Shape

    shape = Shape.from_config(config)
    body = 2 * (shape.params - shape.embedding_params * (1 if shape.tied else 2))
    head = 2 * shape.embedding_params * trained_fraction
    attention = 2 * shape.layers * shape.heads * shape.head_dim * context
    return (body + head + attention) * (3 if full else 2)


def table(results: dict) -> str:
    lines = ["| recipe | real tok/s | peak RSS GB | s/epoch | held-out loss | MFU |", "|---|---|---|---|---|---|"]
    for r in results.values():
        lines.append(f"| {r['recipe']} | {r['tokens_per_s']:.1f} | {r['peak_rss_gb']:.2f} | {r['seconds_per_epoch']:.0f} "
                     f"| {r['heldout_loss']:.4f} | {100 * r['mfu']:.1f}% |")
    return "\n".join(lines)


def verdicts(r: dict) -> str:
    checks = []
    if {"trl", "default"} <= r.keys():
        speed, rss = r["default"]["tokens_per_s"] / r["trl"]["tokens_per_s"], r["default"]["peak_rss_gb"] / r["trl"]["peak_rss_gb"]
        checks.append((f"default: {speed:.2f}x TRL's tokens/s (target >= 3.5), {rss:.2f}x its RSS (<= 1.5)",
                       speed >= 3.5 and rss <= 1.5))
    if {"trl", "low-memory"} <= r.keys():
        speed = r["low-memory"]["tokens_per_s"] / r["trl"]["tokens_per_s"]
        rss = r["low-memory"]["peak_rss_gb"] / r["trl"]["peak_rss_gb"]
        checks.append((f"low-memory: {speed:.2f}x TRL's tokens/s (>= 1.5), {rss:.2f}x its RSS (<= 1.0)",
                       speed >= 1.5 and rss <= 1.0))
    if {"hf-full", "full"} <= r.keys():
        speed = r["hf-full"]["seconds_per_epoch"] / r["full"]["seconds_per_epoch"]
        checks.append((f"full: {speed:.2f}x faster per epoch than the seed full fine-tune (>= 5)", speed >= 5))
    if {"reference", "default"} <= r.keys():
        gap = r["default"]["heldout_loss"] / r["reference"]["heldout_loss"] - 1
        checks.append((f"quality: default's held-out loss {100 * gap:+.2f}% vs fp32 unpacked (within 2%)", abs(gap) <= 0.02))
    return "\n".join(f"{'PASS' if ok else 'MISS'}  {text}" for text, ok in checks)


if __name__ == "__main__":
    main()

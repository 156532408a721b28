"""desktune against the recipes people copy today: same model, same data, same machine, one go.

    .venv/bin/pip install -e '.[bench]'   # trl, for the TRL SFT recipe (desktune does not need it)
    .venv/bin/python benchmarks/speed.py [--examples 64] [--only trl,default,...] [--work DIR]

Every recipe trains once over the same N bundled persona examples (so each sees the same real tokens), in its
own process (so its peak RSS is its own), and is scored on the 20 held-out conversations by one judge (mean loss
on the assistant tokens, fp32, one example per row). Prints real tokens/s, peak RSS (end of training), seconds
per epoch of the 160 examples, held-out loss and MFU: useful model FLOPs per second against this machine's bf16
matmul peak, measured here. `desktune bench` is the same race on your own config.
"""

import argparse
import json
import random
import tempfile
from pathlib import Path

from desktune.bench.measure import measure_desktune, measure_recipe, rates
from desktune.config.schema import DataConfig
from desktune.data.dataset import load_examples
from desktune.data.template import ChatFormat
from desktune.hardware.probe import matmul_gflops
from desktune.models.load import load_tokenizer, resolve

EXAMPLES = Path(__file__).resolve().parent.parent / "desktune" / "examples"
CONFIG, TRAIN, HELD_OUT = (EXAMPLES / "persona.yaml", EXAMPLES / "persona" / "train.jsonl",
                           EXAMPLES / "persona" / "heldout.jsonl")
RECIPES = {  # name: (what it is, a recipe's name or desktune overrides)
    "trl": ("the TRL SFT recipe: LoRA r16 q/k/v/o, fp32, batch 1x8, grad ckpt, max 512", "trl"),
    "hf-full": ("the HF Trainer full fine-tune: padded to 512, fp32, batch 4, grad ckpt", "hf-full"),
    "default": ("desktune default (LoRA r16 all-linear)", []),
    "low-memory": ("desktune train.low_memory=true", ["train.low_memory=true"]),
    "full": ("desktune method=full (auto lr 2e-5)", ["method=full"]),
    "reference": ("desktune default but fp32, unpacked (quality reference)",
                  ["train.precision=fp32", "data.packing=false"]),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=64, help="training examples each recipe sees (160: a full epoch)")
    ap.add_argument("--only", default=",".join(RECIPES), help="comma list of: " + ", ".join(RECIPES))
    ap.add_argument("--work", default="", help="folder for runs and results (default: a new temp folder)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="desktune-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    lines = TRAIN.read_text().splitlines()
    random.Random(0).shuffle(lines)
    train_file = work / "train.jsonl"
    train_file.write_text("\n".join(lines[: args.examples]) + "\n")
    chat = builtin_chat()
    chat.tokenizer.save_pretrained(work / "tokenizer")  # what both recipes tokenize with
    epoch_tokens = sum(len(e.encoded.ids) for e in load_examples(str(TRAIN), chat, DataConfig())[0])
    peaks = {d: matmul_gflops("cpu", d, seconds=2.0) for d in ("fp32", "bf16")}
    print(f"matmul peak here: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s; "
          f"{min(args.examples, len(lines))} examples per recipe; work folder {work}", flush=True)
    results = {}
    for name in args.only.split(","):
        what, how = RECIPES[name]
        if isinstance(how, str):
            result = measure_recipe(how, work / "tokenizer", resolve("builtin:gemma-3-270m").path, train_file, HELD_OUT,
                                  work / name)
        else:
            result = measure_desktune(str(CONFIG), how, train_file, HELD_OUT, work / name)
        results[name] = rates(result, epoch_tokens, peaks["bf16"]) | {"recipe": what}
        print(f"  {name}: {results[name]['tokens_per_s']:.1f} tok/s", flush=True)
    (work / "results.json").write_text(json.dumps({"peaks": peaks, "results": results}, indent=1))
    print(table(results))
    print(verdicts(results))


def builtin_chat() -> ChatFormat:
    return ChatFormat(load_tokenizer(resolve("builtin:gemma-3-270m")), "gemma", "gemma3_text")


def table(results: dict) -> str:
    lines = ["| recipe | real tok/s | peak RSS GB | s/epoch | held-out loss | MFU |", "|---|---|---|---|---|---|"]
    for r in results.values():
        lines.append(f"| {r['recipe']} | {r['tokens_per_s']:.1f} | {r['peak_memory_gb']:.2f} | "
                     f"{r['seconds_per_epoch']:.0f} | {r['heldout_loss']:.4f} | {100 * r['mfu']:.1f}% |")
    return "\n".join(lines)


def verdicts(r: dict) -> str:
    def ratio(a, b, key):
        return r[a][key] / r[b][key]

    checks = []
    if {"trl", "default"} <= r.keys():
        speed, rss = ratio("default", "trl", "tokens_per_s"), ratio("default", "trl", "peak_memory_gb")
        checks.append((f"default: {speed:.2f}x TRL's tokens/s (target >= 3.5), {rss:.2f}x its peak RSS (<= 1.5)",
                       speed >= 3.5 and rss <= 1.5))
    if {"trl", "low-memory"} <= r.keys():
        speed, rss = ratio("low-memory", "trl", "tokens_per_s"), ratio("low-memory", "trl", "peak_memory_gb")
        checks.append((f"low-memory: {speed:.2f}x TRL's tokens/s (>= 1.5), {rss:.2f}x its peak RSS (<= 1.0)",
                       speed >= 1.5 and rss <= 1.0))
    if {"hf-full", "full"} <= r.keys():
        speed = ratio("hf-full", "full", "seconds_per_epoch")
        checks.append((f"full: {speed:.2f}x faster per epoch than the HF Trainer full fine-tune (>= 5)", speed >= 5))
    if {"reference", "default"} <= r.keys():
        gap = ratio("default", "reference", "heldout_loss") - 1
        checks.append((f"quality: default's held-out loss {100 * gap:+.2f}% vs fp32 unpacked (within 2%)",
                       abs(gap) <= 0.02))
    return "\n".join(f"{'PASS' if ok else 'MISS'}  {text}" for text, ok in checks)


if __name__ == "__main__":
    main()

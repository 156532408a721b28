"""desktune bench [CONFIG] [key=value ...] [--examples N] [--against trl,hf-full] [--repeat N] [--json]

Measure a config's real training speed, peak memory, seconds per epoch, held-out loss and MFU on this
machine, optionally beside the recipes people copy today (the TRL SFT recipe, the HF Trainer full fine-tune),
on the same examples.
"""

import argparse
import contextlib
import json
import tempfile
from pathlib import Path

from desktune.cli.train import EXAMPLE, split_config
from desktune.config import load_config
from desktune.errors import ConfigError, DataError

RECIPES = ("trl", "hf-full")


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="desktune bench", description=__doc__.split("\n\n", 1)[1])
    parser.add_argument("items", nargs="*", metavar="[CONFIG] [key=value ...]")
    parser.add_argument("--examples", type=int, default=64, help="training examples each recipe trains on once")
    parser.add_argument("--against", default="", help="comma list of recipes to race: trl (needs "
                        "`pip install trl`), hf-full (HF Trainer full fine-tune, padded to 512)")
    parser.add_argument("--repeat", type=int, default=1, help="time each recipe N times, in turns, and keep its "
                        "fastest run (the least disturbed by whatever else the machine runs); peak memory: the highest")
    parser.add_argument("--work", default="", help="keep the runs in this folder (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_intermixed_args(argv)
    if args.examples < 1:
        raise ConfigError(f"--examples {args.examples}: each recipe needs at least one example", "use e.g. --examples 64")
    if args.repeat < 1:
        raise ConfigError(f"--repeat {args.repeat}: each recipe runs at least once", "use e.g. --repeat 3")
    against = [s for s in args.against.split(",") if s]
    unknown = [s for s in against if s not in RECIPES]
    if unknown:
        raise ConfigError(f"--against: no recipe named {', '.join(unknown)}", f"choose from {', '.join(RECIPES)}")
    config_path, overrides = split_config(args.items)
    cfg = load_config(config_path or str(EXAMPLE), overrides)
    kept = contextlib.nullcontext(args.work) if args.work else tempfile.TemporaryDirectory(prefix="desktune-bench-")
    with kept as work:
        return _bench(cfg, config_path or str(EXAMPLE), overrides, against, args, Path(work))


def _bench(cfg, config_path, overrides, against, args, work: Path) -> int:
    from desktune.bench.measure import measure_desktune, measure_recipe, rates, write_examples
    from desktune.data.dataset import prepare_data
    from desktune.hardware.detect import detect
    from desktune.hardware.precision import choose_precision
    from desktune.hardware.probe import matmul_gflops
    from desktune.models.load import load_model_config, load_tokenizer, resolve
    from desktune.train.autoplan import batch_size

    if cfg.train.objective != "sft":
        raise ConfigError(f"desktune bench measures SFT recipes; train.objective={cfg.train.objective} is not one yet",
                          "time it with desktune train (its report has tokens/s and memory); the race against TRL's "
                          "DPOTrainer is still to come")
    source = resolve(cfg.model)
    if against and source.gguf_file:
        raise ConfigError("the TRL SFT recipe and the HF Trainer full fine-tune load transformers folders, not .gguf",
                          "convert once (desktune merge on a run, or transformers) and point model= at the folder")
    chat, data = prepare_data(cfg, load_tokenizer(source), load_model_config(source).model_type)
    if not data.eval:
        raise DataError("the benchmark scores every recipe on held-out examples and this config holds none out",
                        "set data.eval to a file or a fraction such as 0.1")
    work.mkdir(parents=True, exist_ok=True)
    train_file = write_examples(work / "train.jsonl", data.train[: args.examples])
    eval_file = write_examples(work / "eval.jsonl", data.eval)
    chat.tokenizer.save_pretrained(work / "tokenizer")  # the chat template desktune trains with, for the recipes
    facts = detect()
    peak = matmul_gflops(facts.kind, choose_precision("auto", facts)[0], seconds=2.0)
    epoch_tokens = data.stats["train_tokens"]
    examples = min(args.examples, len(data.train))
    # one epoch is timed, at the batch a real training of these examples would take (auto: over all its epochs)
    batch, _ = batch_size(cfg.train, examples)
    print(f"{examples} of {len(data.train)} training examples at batch {batch}, {len(data.eval)} held out; "
          f"matmul peak here {peak:.0f} GFLOP/s", flush=True)

    measures = {"desktune": lambda: measure_desktune(config_path, [*overrides, f"train.batch_size={batch}"],
                                                     train_file, eval_file, work / "desktune")}
    for name in against:
        measures[name] = lambda name=name: measure_recipe(name, work / "tokenizer", source.path, train_file,
                                                          eval_file, work / name)
    results = {}
    for _ in range(args.repeat):  # in turns, so that a busy spell of the machine does not fall on one recipe only
        for name, measure in measures.items():
            results[name] = fastest(results.get(name), measure())
    results = {k: rates(v, epoch_tokens, peak) for k, v in results.items()}
    print(json.dumps(results, indent=2) if args.json else table(results))
    return 0


def fastest(kept: dict | None, new: dict) -> dict:
    """The faster of two runs of one recipe, with the higher of their peak memories."""
    if kept is None:
        return new
    faster = min(kept, new, key=lambda r: r["seconds"] / r["real_tokens"])
    return faster | {"peak_memory_gb": max(kept["peak_memory_gb"], new["peak_memory_gb"])}


def table(results: dict) -> str:
    lines = [f"{'recipe':<10} {'tok/s':>8} {'peak GB':>8} {'s/epoch':>8} {'held-out':>9} {'MFU':>6}"]
    for name, r in results.items():
        lines.append(f"{name:<10} {r['tokens_per_s']:8.1f} {r['peak_memory_gb']:8.2f} {r['seconds_per_epoch']:8.0f} "
                     f"{r['heldout_loss']:9.4f} {100 * r['mfu']:5.1f}%")
    return "\n".join(lines)

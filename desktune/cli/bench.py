"""desktune bench [CONFIG] [key=value ...] [--examples N] [--against trl,hf-full] [--repeat N] [--json]

Measure a config's real training speed, peak memory, seconds per epoch, a held-out score and MFU on this machine,
optionally beside the recipes people copy today, on the same examples: for train.objective=sft the TRL SFT recipe
(SFTTrainer + LoRA) and the HF Trainer full fine-tune, scored by held-out loss; for dpo the TRL DPO recipe
(DPOTrainer with the config's LoRA, beta and learning rate), scored by held-out reward accuracy and margin. orpo is
measured alone.
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
# the recipes each objective races, by their --against names
RACED = {"sft": {"trl": "the TRL SFT recipe", "hf-full": "the HF Trainer full fine-tune"},
         "dpo": {"trl": "the TRL DPO recipe"}, "orpo": {}}


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="desktune bench", description=__doc__.split("\n\n", 1)[1])
    parser.add_argument("items", nargs="*", metavar="[CONFIG] [key=value ...]")
    parser.add_argument("--examples", type=int, default=64, help="training examples (dpo, orpo: pairs) each recipe "
                        "trains on once")
    parser.add_argument("--against", default="", help="comma list of recipes to race: trl (TRL's trainer for the "
                        "objective: the TRL SFT recipe, or for dpo the TRL DPO recipe; needs "
                        "`pip install 'desktune[bench]'`), "
                        "hf-full (sft only: HF Trainer full fine-tune, padded to 512)")
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
    check_race(cfg, against)
    kept = contextlib.nullcontext(args.work) if args.work else tempfile.TemporaryDirectory(prefix="desktune-bench-")
    with kept as work:
        return _bench(cfg, config_path or str(EXAMPLE), overrides, against, args, Path(work))


def check_race(cfg, against: list[str]) -> None:
    """Refuse, before anything loads, a race this objective has no recipe for."""
    objective = cfg.train.objective
    raced = RACED[objective]
    if against and not raced:
        raise ConfigError(f"--against {','.join(against)}: no recipe races train.objective={objective} yet (TRL's "
                          "ORPOTrainer now lives in trl.experimental)",
                          f"drop --against to measure desktune's {objective} alone, or race train.objective=dpo")
    other = [name for name in against if name not in raced]
    if other:
        raise ConfigError(f"--against {','.join(other)}: {RACED['sft'][other[0]]} is an SFT recipe; "
                          f"train.objective={objective} races {' and '.join(raced.values())}",
                          f"use --against {','.join(raced)}, or drop --against to measure desktune alone")
    if objective == "dpo" and against and cfg.method == "full":
        raise ConfigError("the TRL DPO recipe trains the config's LoRA, and method=full has none",
                          "race method=lora, or drop --against to measure the full fine-tune alone")
    if objective == "dpo" and against and cfg.init_from:
        raise ConfigError("the TRL DPO recipe starts from the base model, and init_from starts from an adapter",
                          "race without init_from, or drop --against to measure it alone")


def _bench(cfg, config_path, overrides, against, args, work: Path) -> int:
    from desktune.bench.measure import rates
    from desktune.models.load import resolve

    source = resolve(cfg.model)
    if against and source.gguf_file:
        raise ConfigError("the TRL and HF Trainer recipes load transformers folders, not .gguf",
                          "convert once (desktune merge on a run, or transformers) and point model= at the folder")
    train_file, eval_file, epoch_tokens, batch, peak = _prepare(cfg, args, work, source)
    measures = _measures(cfg.train.objective, config_path, [*overrides, f"train.batch_size={batch}"], against,
                         source.path, train_file, eval_file, work)
    results = {}
    for _ in range(args.repeat):  # in turns, so that a busy spell of the machine does not fall on one recipe only
        for name, measure in measures.items():
            results[name] = fastest(results.get(name), measure())
    results = {k: rates(v, epoch_tokens, peak) for k, v in results.items()}
    print(json.dumps(results, indent=2) if args.json else table(results, cfg.train.objective))
    return 0


def _prepare(cfg, args, work: Path, source) -> tuple:
    """The examples (or pairs) every recipe trains on and the held-out ones, written to work; the tokens of an epoch
    of all the training data, the batch desktune trains at, and this machine's matmul peak."""
    from desktune.bench.measure import write_examples, write_pairs
    from desktune.data.dataset import prepare_data
    from desktune.hardware.detect import detect
    from desktune.hardware.precision import choose_precision
    from desktune.hardware.probe import matmul_gflops
    from desktune.models.load import load_model_config, load_tokenizer
    from desktune.train.autoplan import batch_size, choose_method, this_device, tool_schedule

    chat, data = prepare_data(cfg, load_tokenizer(source), load_model_config(source).model_type)
    if not data.eval:
        raise DataError("the benchmark scores every recipe on held-out examples and this config holds none out",
                        "set data.eval to a file or a fraction such as 0.1")
    work.mkdir(parents=True, exist_ok=True)
    write = write_examples if cfg.train.objective == "sft" else write_pairs
    train_file = write(work / "train.jsonl", data.train[: args.examples])
    eval_file = write(work / "eval.jsonl", data.eval)
    chat.tokenizer.save_pretrained(work / "tokenizer")  # the chat template desktune trains with, for the recipes
    facts = detect()
    precision = choose_precision("auto", facts)[0]
    peak = matmul_gflops(facts.kind, precision, seconds=2.0)
    model_config = load_model_config(source)
    choose_method(cfg, data.train, model_config, this_device(facts, precision).usable)  # as training will
    examples = min(args.examples, len(data.train))
    # one epoch is timed, at the batch a real training of these examples would take (auto: over all its epochs)
    batch, _ = batch_size(cfg.train, examples, tool_schedule(cfg, data.train))
    what = "examples" if cfg.train.objective == "sft" else "pairs"
    print(f"{examples} of {len(data.train)} training {what} at batch {batch}, {len(data.eval)} held out; "
          f"matmul peak here {peak:.0f} GFLOP/s", flush=True)
    return train_file, eval_file, data.stats["train_tokens"], batch, peak


def _measures(objective: str, config_path, overrides, against, model_path, train_file, eval_file, work) -> dict:
    """name -> a function that trains one epoch with that recipe and measures it; desktune first: the TRL DPO recipe
    takes its settings from desktune's resolved config."""
    from desktune.bench.dpo import settings_of
    from desktune.bench.measure import measure_desktune, measure_recipe
    from desktune.runs import RunDir

    def settings():
        return settings_of(RunDir(work / "desktune").read_config()) if objective == "dpo" else None

    measures = {"desktune": lambda: measure_desktune(config_path, overrides, train_file, eval_file, work / "desktune",
                                                     objective)}
    for name in against:
        measures[name] = lambda name=name: measure_recipe(name, work / "tokenizer", model_path, train_file, eval_file,
                                                          work / name, settings())
    return measures


def fastest(kept: dict | None, new: dict) -> dict:
    """The faster of two runs of one recipe, with the higher of their peak memories."""
    if kept is None:
        return new
    faster = min(kept, new, key=lambda r: r["seconds"] / r["real_tokens"])
    return faster | {"peak_memory_gb": max(kept["peak_memory_gb"], new["peak_memory_gb"])}


def table(results: dict, objective: str = "sft") -> str:
    """The results, one recipe a line (SFT: held-out loss; pairs: held-out reward accuracy and margin), then what
    each raced recipe is."""
    pairs = objective != "sft"
    score = f"{'reward acc':>10} {'margin':>8}" if pairs else f"{'held-out':>9}"
    lines = [f"{'recipe':<10} {'tok/s':>8} {'peak GB':>8} {'s/epoch':>8} {score} {'MFU':>6}"]
    for name, r in results.items():
        score = (f"{100 * r['heldout_reward_accuracy']:9.1f}% {r['heldout_reward_margin']:8.4f}" if pairs
                 else f"{r['heldout_loss']:9.4f}")
        lines.append(f"{name:<10} {r['tokens_per_s']:8.1f} {r['peak_memory_gb']:8.2f} {r['seconds_per_epoch']:8.0f} "
                     f"{score} {100 * r['mfu']:5.1f}%")
    return "\n".join(lines + [f"{name}: {RACED[objective][name]}" for name in results if name in RACED[objective]])

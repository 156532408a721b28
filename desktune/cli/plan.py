"""desktune plan [CONFIG] [key=value ...] [--device D] [--json] — will it fit, how long will it take (no weights loaded)."""

import argparse
import json
import time

from desktune.cli.train import EXAMPLE, split_config
from desktune.config import load_config
from desktune.errors import ConfigError


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="desktune plan", description="Memory and time of a training job, before it runs.")
    parser.add_argument("items", nargs="*", metavar="[CONFIG] [key=value ...]")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument("--processes", type=int, default=1, metavar="N",
                        help="plan one of N processes (torchrun --nproc_per_node N): its share of each step, and "
                        "of the model with train.fsdp")
    parser.add_argument("--device", metavar="D", help="plan for a machine you don't have: cuda:8GB, mps:16GB, "
                        "cpu:32GB, or a known GPU with its memory for a time estimate too: \"RTX 4090:24GB\"")
    args = parser.parse_intermixed_args(argv)
    if args.processes < 1:
        raise ConfigError(f"--processes {args.processes}: needs at least one", "use e.g. --processes 8")
    started = time.perf_counter()
    config_path, overrides = split_config(args.items)
    cfg = load_config(config_path or str(EXAMPLE), overrides)

    from desktune.plan.device import parse_device

    device = parse_device(args.device) if args.device else None
    facts = device or _this_machine()
    if cfg.method == "qlora" and facts.kind != "cuda":  # planning needs no bitsandbytes, only a CUDA target
        raise ConfigError(f"method=qlora needs an NVIDIA GPU (bitsandbytes' 4-bit kernels), and this plan is for "
                          f"{facts.kind}", "use method=lora here, or plan for a GPU: --device cuda:24GB")
    precision, why = _precision(cfg.train.precision, facts)

    from desktune.data.dataset import prepare_data
    from desktune.models.load import load_model_config, load_tokenizer, resolve
    from desktune.models.untrained import before_training
    from desktune.plan.fit import launch_hint
    from desktune.train.autoplan import choose_method, make_plan, this_device

    source = resolve(cfg.model)
    model_config = load_model_config(source)
    chat, data = prepare_data(cfg, load_tokenizer(source), model_config.model_type)
    method_why = choose_method(cfg, data.train, model_config, (device or this_device(facts, precision)).usable)
    plan = make_plan(cfg, model_config, data.train, facts, precision, args.processes, device)
    untrained = before_training(cfg.untrained_tokens, cfg.method, source.path, chat.tokenizer,
                                (s.ids for e in data.train for s in e.sequences), chat.end_of_turn)
    result = {"model": cfg.model, "method": cfg.method, "method_why": method_why, "device": f"{facts.kind} ({facts.name})",
              "precision": f"{precision}: {why}", **plan.to_dict(), "untrained_tokens": untrained,
              "planning_seconds": 0.0}
    hint = launch_hint(plan.seconds_per_step * plan.steps)
    if hint:
        result["advice"].append(hint)
    result["planning_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2) if args.json else _table(result))
    return 0 if plan.fits else 1


def _this_machine():
    from desktune.hardware.detect import detect

    return detect()


def _precision(requested: str, facts) -> tuple[str, str]:
    """The dtype desktune would pick on that device (a profile carries the facts detect() would find)."""
    from desktune.hardware.detect import DeviceFacts
    from desktune.hardware.precision import choose_precision

    as_facts = facts if isinstance(facts, DeviceFacts) else DeviceFacts(facts.kind, facts.name, facts.bf16)
    return choose_precision(requested, as_facts)


def _table(r: dict) -> str:
    lines = [f"{r['model']} · {r['method']} · {r['device']} · {r['precision']}",
             *([f"method {r['method']}: {r['method_why']}"] if r["method_why"] != "requested" else []),
             f"micro-batch tokens {r['micro_batch_tokens']}: {r['micro_batch_tokens_why']}",
             f"gradient checkpointing: {r['gradient_checkpointing_why']}",
             f"untrained tokens: {r['untrained_tokens']}", *_objective_lines(r), "", "memory (GB)"]
    lines += [f"  {part:<12} {gb:8.2f}" for part, gb in r["memory_gb"].items()]
    if r["loading_memory_gb"] > sum(r["memory_gb"].values()):
        lines.append(f"  {'loading':<12} {r['loading_memory_gb']:8.2f}   (higher: the fp32 checkpoint is mapped while "
                     "the frozen copy is made)")
    verdict = "fits" if r["fits"] else "DOES NOT FIT"
    lines += [f"  {'peak':<12} {r['peak_memory_gb']:8.2f}   of {r['usable_memory_gb']:.1f} usable: {verdict}", ""]
    if r["seconds_per_step"]:
        reference = f" + {r['reference_pass_seconds']:.0f} s reference pass" if r.get("reference_pass_seconds") else ""
        lines.append(f"time: {r['seconds_per_step']:.2f} s per step x {r['steps']} steps{reference} = about "
                     f"{r['total_minutes']:.0f} min")
    else:
        lines.append(f"time: unknown for this device ({r['steps']} steps); name the GPU for an estimate, "
                     "e.g. --device \"RTX 4090:24GB\"")
    lines += [f"advice: {tip}" for tip in r["advice"]]
    lines.append(f"(planned in {r['planning_seconds']} s, no weights loaded)")
    return "\n".join(lines)


def _objective_lines(r: dict) -> list[str]:
    """dpo / orpo: what a pair costs."""
    if "objective" not in r:
        return []
    line = f"objective {r['objective']}: each pair is two sequences (chosen, rejected) in the same row"
    if r["objective"] == "dpo":
        line += "; the reference's log-probabilities are computed once before step 1 (a forward pass over the pairs)"
    return [line]

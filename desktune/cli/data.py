"""desktune data check FILE|CONFIG [--model REF] [--json] [--skip-invalid] [key=value ...]"""

import argparse
import json
from dataclasses import replace

from desktune.config import load_config
from desktune.errors import DataError


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="desktune data", description="Check a data file before training on it.")
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser("check", help="format, counts, lengths, truncation, trained tokens, problems")
    check.add_argument("file",
                       help="data file, folder, glob or hf:org/name[:split]; or a config (.yaml): its data.train")
    check.add_argument("overrides", nargs="*", metavar="data.key=value")
    check.add_argument("--model", default=None, help="tokenizer and template to use (default: the config's model)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--skip-invalid", action="store_true", help="report bad rows but do not fail on them")
    args = parser.parse_args(argv)
    from_config = args.file.endswith((".yaml", ".yml"))  # the data a config trains on, with its model and keys
    cfg = load_config(args.file if from_config else None, args.overrides)
    data_file = cfg.data.train if from_config else args.file

    from desktune.data.dataset import prepare_data
    from desktune.data.preference import holds_pairs
    from desktune.models.load import load_model_config, load_tokenizer, resolve
    from desktune.models.untrained import before_training

    source = resolve(args.model or cfg.model)
    # the file as training would read it, all of it (nothing held out), every problem collected, then decided on
    cfg.data = replace(cfg.data, train=data_file, eval="0", skip_invalid=True)
    if cfg.train.objective == "sft" and holds_pairs(data_file, cfg.data.text_split):
        cfg.train.objective = "dpo"  # checked as pairs, as dpo and orpo read them
    chat, data = prepare_data(cfg, load_tokenizer(source), load_model_config(source).model_type)
    report = data.stats
    report["untrained_tokens"] = before_training(cfg.untrained_tokens, cfg.method, source.path, chat.tokenizer,
                                                 (s.ids for e in data.train for s in e.sequences), chat.end_of_turn)
    print(json.dumps(report, indent=2) if args.json else _text(report))
    if report["skipped_invalid"] and not args.skip_invalid:
        raise DataError(f"{report['skipped_invalid']} invalid rows, the first: {report['problems'][0]}",
                        f"{report['first_problem_hint']}; or pass --skip-invalid (data.skip_invalid=true when "
                        "training)")
    return 0


def _text(r: dict) -> str:
    lines = [
        f"file          {r['file']}",
        *(f"read as       {kind}" + (f": {path}" if len(r["read_as"]) > 1 else "") for path, kind in r["read_as"].items()),
        f"format        {', '.join(f'{k} ({v})' for k, v in r['formats'].items())}; template {r['template']}",
        f"examples      {r['examples']} of {r['rows']} rows; {r['truncated']} truncated, {r['dropped']} dropped, "
        f"{r['skipped_invalid']} invalid",
        f"tokens        {r['train_tokens']:,} in all, {r['trained_tokens']:,} trained; longest {r['max_length_seen']}; cut at "
        f"{r['max_length']} ({r['max_length_why']})",
        *_tool_lines(r),
        *_pair_lines(r),
        f"end of turn   {'trained' if r['end_of_turn_trained'] else 'NOT trained in every example'}",
        f"untrained     {r['untrained_tokens']}",
        "lengths       " + "  ".join(f"{k}: {v}" for k, v in r["length_histogram"].items()),
    ]
    lines += [f"problem       {p}" for p in r["problems"]]
    lines += ["", "first example (trained tokens in [[ ]]):", r["example"]]
    return "\n".join(lines)


def _pair_lines(r: dict) -> list[str]:
    if "pairs" not in r:
        return []
    p = r["pairs"]
    side = lambda k: f"{p[k]['mean']:g} mean, {p[k]['max']} max"  # noqa: E731
    return [f"pairs         {p['train']}; tokens per prompt {side('prompt_tokens')}; chosen answer "
            f"{side('chosen_tokens')}; rejected answer {side('rejected_tokens')}; chosen longer in {p['chosen_longer']}"]


def _tool_lines(r: dict) -> list[str]:
    if r.get("tool_format", "none") == "none":
        return []
    t = r["tool_use"]
    return [f"tools         {t['tools_per_row_mean']:g} per row (max {t['tools_per_row_max']}) "
            f"in {t['rows_with_tools']} rows; {t['calls_per_example']:g} calls per example; {t['assistant_turns_without_call']} assistant "
            f"turns without a call{_share_text(t.get('call_share'))}; written as {r['tool_format']}"] + _rare_lines(t.get("rare_arguments") or {}) \
        + _wording_lines(t.get("few_wordings") or {})


def _share_text(share: float | None) -> str:
    return f" ({share:.0%} of requests called: generation balances calls at that share)" if share else ""


def _rare_lines(rare: dict) -> list[str]:
    if not rare:
        return []
    listed = ", ".join(f"{key} in {n} of {calls} calls" for key, (n, calls) in rare.items())
    return [f"seldom used   {listed} (optional arguments: a tuned model learns to leave out what its examples "
            "leave out; add rows whose requests use them)"]


def _wording_lines(few: dict) -> list[str]:
    if not few:
        return []
    listed = ", ".join(f"{name}: {calls} requests in {n} wording{'s' * (n != 1)}" for name, (n, calls) in few.items())
    return [f"few wordings  {listed} (a tuned model calls a function when asked as its examples ask; add requests "
            "written other ways)"]

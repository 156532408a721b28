"""desktune eval RUN [--data FILE] [--samples N] [--no-strict-calls]"""

import argparse

from desktune.cli.generate import add_strict_calls_flag
from desktune.runs import RunDir


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="desktune eval", description="Compare a tuned run with its base model.")
    parser.add_argument("run", help="run folder made by desktune train")
    parser.add_argument("--data", default=None, help="held-out file (default: the run's own held-out split)")
    parser.add_argument("--samples", type=int, default=8, help="held-out prompts answered by base and tuned")
    parser.add_argument("--max-new-tokens", type=int, default=0,
                        help="answer length limit (default: twice the longest reference answer, at least 64)")
    add_strict_calls_flag(parser)
    args = parser.parse_args(argv)
    run_dir = RunDir(args.run)
    run_dir.require_trained()

    from desktune.eval.evaluate import evaluate
    from desktune.eval.tools import summary_lines
    from desktune.infer.samples import samples_text

    r = evaluate(run_dir, args.data, args.samples, args.max_new_tokens, args.strict_calls)
    held, neutral = r["held_out"], r["neutral_text"]
    what = f"chosen answers of {r['examples']} pairs" if "preference" in r else f"{r['examples']} examples"
    print(f"held-out ({what})  loss base {held['base']['loss']:.4f} -> tuned {held['tuned']['loss']:.4f}"
          f"   perplexity {held['base']['perplexity']:.2f} -> {held['tuned']['perplexity']:.2f}")
    print(f"neutral English text            perplexity {neutral['base']['perplexity']:.2f} -> "
          f"{neutral['tuned']['perplexity']:.2f} ({r['neutral_perplexity_change_pct']:+.1f}%: forgetting when large)")
    if "preference" in r:
        print(_preference_line(r["preference"]))
    if "tool_calls" in r:
        print("\n".join(summary_lines(r["tool_calls"])))
    print(f"tuned answers that ended by themselves: {r['tuned_finished']} of {len(r['samples'])}; with tokens this "
          f"base never learned: {r['tuned_with_untrained_tokens']}")
    print(samples_text(r["samples"][:3]))
    print(f"written: {run_dir.eval_json}, {run_dir.samples}")
    return 0


def _preference_line(p: dict) -> str:
    base, tuned, against = p["base"], p["tuned"], p["against_base"]
    return (f"held-out pairs ({p['pairs']})      chosen answer more likely: base {100 * base['accuracy']:.0f}% -> "
            f"tuned {100 * tuned['accuracy']:.0f}%, log-prob margin {base['margin']:+.2f} -> {tuned['margin']:+.2f}; "
            f"rewards against the base (beta {against['beta']:g}): accuracy {100 * against['accuracy']:.0f}%, "
            f"margin {against['margin']:+.3f}")

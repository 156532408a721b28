"""Does the tuned model speak as Captain Quill on prompts it never saw, and stop by itself?

Usage (after `make demo`):  .venv/bin/python benchmarks/persona.py runs/persona
Greedy answers of base and tuned to the 20 held-out prompts of desktune/examples/persona/heldout.jsonl.
The persona's markers: the answer opens with "Ahoy" and contains "Fair winds".
"""

import json
import sys
import time
from pathlib import Path

from desktune.eval.evaluate import evaluate
from desktune.runs import RunDir

HELD_OUT = Path(__file__).resolve().parent.parent / "desktune" / "examples" / "persona" / "heldout.jsonl"


def has_persona(text: str) -> bool:
    return text.startswith("Ahoy") and "Fair winds" in text


def main(run_path: str) -> None:
    started = time.perf_counter()
    r = evaluate(RunDir(run_path), str(HELD_OUT), n_samples=100, max_new_tokens=96)
    n = len(r["samples"])
    base = sum(has_persona(s["base"]) for s in r["samples"])
    tuned = sum(has_persona(s["tuned"]) for s in r["samples"])
    held, neutral = r["held_out"], r["neutral_text"]
    print(f"held-out prompts: {n} (never trained on); {time.perf_counter() - started:.0f}s")
    print(f"persona markers   base {base}/{n} ({100 * base / n:.0f}%)   tuned {tuned}/{n} ({100 * tuned / n:.0f}%)")
    print(f"ended by itself   tuned {r['tuned_finished']}/{n} ({100 * r['tuned_finished'] / n:.0f}%) within 96 tokens")
    print(f"held-out perplexity  base {held['base']['perplexity']:.2f} -> tuned {held['tuned']['perplexity']:.2f}")
    print(f"neutral text perplexity  base {neutral['base']['perplexity']:.2f} -> tuned "
          f"{neutral['tuned']['perplexity']:.2f} ({r['neutral_perplexity_change_pct']:+.1f}%)")
    result = {"n": n, "persona": tuned, "ends": r["tuned_finished"], "neutral_pct": r["neutral_perplexity_change_pct"]}
    (Path(run_path) / "persona.json").write_text(json.dumps(result, indent=1))  # read by benchmarks/check.py


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/persona")

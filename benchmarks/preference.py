"""Does preference tuning with the defaults give the chosen side's trait, on prompts it never saw?

Usage:  .venv/bin/python benchmarks/preference.py SET [--out DIR] [key=value ...]
SET is one of the two sets in benchmarks/data/ (>= 150 training pairs, held-out pairs written apart, and a prompts.txt
of questions in neither):
- concise:  prefer_concise/: the chosen answer is direct, <= 30 words; the rejected one rambles (60-160 words).
  ORPO from the built-in's base, instead of SFT: that base has never ended a chat turn, and DPO only re-weighs
  answers a model can already give, while ORPO also learns the chosen ones (the paper's one-stage recipe).
- captain:  prefer_captain/: fixes a fault of the bundled SFT example (runs/persona, `make demo`): Captain Quill pads
  his answers with stock sayings, often instead of answering; the chosen side answers between "Ahoy" and "Fair winds"
  with none of them. Trained from that run's adapter (init_from), which is the starting model and the reference.
`desktune train desktune/examples/prefer.yaml` (its defaults: DPO, beta 0.1, auto lr; concise: train.objective=orpo)
on the set, then:
- held-out reward accuracy and margin: training's own figures on the held-out pairs at the kept (best) step, against
  the reference (the starting model), as metrics.jsonl has them;
- greedy answers of the starting model and the tuned one to prompts.txt (96 new tokens at most): how many show the
  trait, how many end by themselves;
- neutral-text perplexity of both (the forgetting check), and the change.
Written: DIR/preference.json (every figure and answer). Extra key=value arguments go to `desktune train`.
"""

import argparse
import json
import math
import re
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
CONFIG = Path(__file__).resolve().parent.parent / "desktune" / "examples" / "prefer.yaml"
PADDING = re.compile("as true as a well-trimmed sail|many a storm|mark my words|night watch|steady as she goes|"
                     "logbook", re.IGNORECASE)
MAX_NEW_TOKENS = 96


def concise(text: str) -> bool:
    return 0 < len(text.split()) <= 30


def captain(text: str) -> bool:
    """In persona, no padding, and an answer: words between the greeting and the sign-off."""
    middle = text.split("!", 1)[-1].split("Fair winds")[0]
    return text.startswith("Ahoy") and "Fair winds" in text and not PADDING.search(text) and len(middle.split()) >= 1


# folder, starting run (None: the base), trait, what the set sets in prefer.yaml
SETS = {"concise": (DATA / "prefer_concise", None, concise, ["train.objective=orpo"]),
        "captain": (DATA / "prefer_captain", "runs/persona", captain, [])}


def train(folder: Path, start: str | None, out: Path, overrides: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "desktune", "train", str(CONFIG), f"data.train={folder / 'train.jsonl'}",
                    f"data.eval={folder / 'heldout.jsonl'}", f"output={out}",
                    *([f"init_from={start}"] if start else []), "--overwrite", *overrides],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def held_out_rewards(out: Path) -> dict:
    """Training's held-out figures at the step it kept."""
    summary = json.loads((out / "summary.json").read_text())
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if "eval_loss" in line]
    kept = next(m for m in evals if m["step"] == summary["best_step"])
    return {"step": kept["step"], "accuracy": kept["eval_rewards/accuracies"], "margin": kept["eval_rewards/margins"],
            "first_accuracy": evals[0]["eval_rewards/accuracies"], "summary": summary}


def answers_and_perplexity(run: Path | None, tuned: Path, prompts: list[str]) -> dict:
    """Greedy answers and neutral-text perplexity of a run (None: the base, the tuned run's adapter switched off)."""
    from desktune.data.neutral import neutral_examples
    from desktune.data.pack import pack
    from desktune.infer.generate import Sampling, base_model, generate, load_run
    from desktune.runs import RunDir
    from desktune.train.forward import mean_loss

    model, chat = load_run(RunDir(run or tuned))
    with base_model(model, None) if run is None else nullcontext():
        replies = [generate(model, chat, [{"role": "user", "content": p}], Sampling(max_new_tokens=MAX_NEW_TOKENS))
                   for p in prompts]
        loss = mean_loss(model, pack(neutral_examples(chat), 4096), next(model.parameters()).device)
    return {"answers": [{"prompt": p, "text": r.text, "ended": r.finished} for p, r in zip(prompts, replies)],
            "neutral_perplexity": math.exp(loss)}


def measure(name: str, out: Path, overrides: list[str]) -> dict:
    folder, start, trait, settings = SETS[name]
    prompts = [p for p in (folder / "prompts.txt").read_text().splitlines() if p.strip()]
    seconds = train(folder, start, out, [*settings, *overrides])
    result = {"set": name, "train_seconds": seconds, "held_out": held_out_rewards(out)}
    for side, run in (("start", Path(start) if start else None), ("tuned", out)):
        got = answers_and_perplexity(run, out, prompts)
        got["trait"] = sum(trait(a["text"]) for a in got["answers"])
        got["ended"] = sum(a["ended"] for a in got["answers"])
        result[side] = got
    result["prompts"] = len(prompts)
    start_ppl, tuned_ppl = (result[side]["neutral_perplexity"] for side in ("start", "tuned"))
    result["neutral_change_pct"] = 100 * (tuned_ppl / start_ppl - 1)
    (out / "preference.json").write_text(json.dumps(result, indent=1))
    return result


def report(r: dict) -> str:
    n, held = r["prompts"], r["held_out"]
    s = held["summary"]
    return "\n".join([
        f"set {r['set']}: {s['steps_done']} steps, lr {s['lr']}, {r['train_seconds']:.0f} s, "
        f"peak {s['peak_memory_gb']} GB",
        f"held-out reward accuracy {100 * held['accuracy']:.0f}% (margin {held['margin']:.2f}) at step {held['step']}; "
        f"{100 * held['first_accuracy']:.0f}% at the first evaluation",
        f"trait in greedy answers   start {r['start']['trait']}/{n}   tuned {r['tuned']['trait']}/{n}",
        f"ended by themselves       start {r['start']['ended']}/{n}   tuned {r['tuned']['ended']}/{n}",
        f"neutral-text perplexity   start {r['start']['neutral_perplexity']:.2f} -> tuned "
        f"{r['tuned']['neutral_perplexity']:.2f} ({r['neutral_change_pct']:+.1f}%)"])


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("set", choices=sorted(SETS))
    parser.add_argument("--out", default="", help="run folder (default runs/prefer-SET)")
    args, overrides = parser.parse_known_args(argv)
    print(report(measure(args.set, Path(args.out or f"runs/prefer-{args.set}"), overrides)))


if __name__ == "__main__":
    main(sys.argv[1:])

"""The promise check: re-run the speed, plan and quality benchmarks and say PASS or FAIL for each figure the
README promises. Run it whenever training, data or the planner changes, and put what it prints in your note.

    .venv/bin/python benchmarks/check.py [speed] [plan] [quality] [--reuse]

No part named: all three. The speed part races the TRL SFT recipe: `.venv/bin/pip install -e '.[bench]'` first.
--reuse scores the results the last run left (runs/persona, runs/own-SET, runs/check/) instead of training again.
Takes about an hour on a 2-core CPU, quality most of it (bf16, alone, 2026-12-06: quality 52 min, speed 9, plan
10; in fp32 the plan and speed parts took 13 min each, and the bundled example trains in 490 s against 302 s in bf16).
Say which CPU it ran on: desktune trains in bf16 where the CPU has bf16 matmul, in fp32 elsewhere.
"""

import json
import subprocess
import sys
from pathlib import Path

from plan_accuracy import planned_and_used

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
RUNS = ROOT / "runs"
WORK = RUNS / "check"
SPEED_SETS = {"one_liners": DATA / "one_liners.jsonl.txt", "pet_shop": DATA / "pet_shop.jsonl"}  # short answers
OWN_SETS = ("one_liners", "grandma", "garden", "pet_shop")
SPEED, MEMORY = 3.5, 1.0  # at least this many times TRL's tokens/s, at most this share of its peak memory
PLAN_MEMORY, PLAN_TIME = 0.20, 0.30  # the planner's error against the measured peak and step time
FORGETTING = 10.0  # % neutral-text perplexity over the base


def python(*args: str) -> None:
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True)


def verdict(ok: bool, text: str) -> bool:
    print(f"{'PASS' if ok else 'FAIL'}  {text}", flush=True)
    return ok


def speed(reuse: bool) -> list[bool]:
    """desktune's defaults against the TRL SFT recipe at the auto batch, on short-answer sets."""
    out = []
    for name, data in SPEED_SETS.items():
        result = WORK / f"speed-{name}.json"
        if not reuse:
            done = subprocess.run([sys.executable, "-m", "desktune", "bench", f"data.train={data}", "--against", "trl",
                                   "--repeat", "2", "--json"], cwd=ROOT, check=True, capture_output=True, text=True)
            result.write_text(done.stdout)
        text = result.read_text()
        r = json.loads(text[text.index("{"):])  # after bench's first line (examples, batch, matmul peak)
        speedup = r["desktune"]["tokens_per_s"] / r["trl"]["tokens_per_s"]
        memory = r["desktune"]["peak_memory_gb"] / r["trl"]["peak_memory_gb"]
        out.append(verdict(speedup >= SPEED and memory <= MEMORY,
                           f"speed {name}: {speedup:.2f}x the TRL SFT recipe's tokens/s (>= {SPEED}) at {memory:.2f}x "
                           f"its peak memory (<= {MEMORY}); {r['desktune']['tokens_per_s']:.0f} vs "
                           f"{r['trl']['tokens_per_s']:.0f} tok/s"))
    return out


def plan(reuse: bool) -> list[bool]:
    """The planner against the 8 short trainings of plan_accuracy.py and the default trainings of quality()."""
    if not reuse:
        python("benchmarks/plan_accuracy.py", str(WORK / "plan"))
    results = json.loads((WORK / "plan" / "plan_accuracy.json").read_text())
    defaults = [RUNS / "persona", *(RUNS / f"own-{s}" for s in OWN_SETS)]
    results += [planned_and_used(run, f"{run.name} (defaults)") for run in defaults if (run / "summary.json").exists()]
    rows = [(r["run"], r["memory_planned"], r["memory_measured"], r["step_planned"], r["step_measured"])
            for r in results]
    out = []
    for name, mem_plan, mem_used, step_plan, step_used in rows:
        mem_err, time_err = mem_plan / mem_used - 1, step_plan / step_used - 1
        out.append(verdict(abs(mem_err) <= PLAN_MEMORY and abs(time_err) <= PLAN_TIME,
                           f"plan {name}: memory {mem_plan:.2f} GB planned, {mem_used:.2f} used ({mem_err:+.0%}, "
                           f"within ±{PLAN_MEMORY:.0%}); step {step_plan:.2f} s planned, {step_used:.2f} s "
                           f"({time_err:+.0%}, within ±{PLAN_TIME:.0%})"))
    return out


def quality(reuse: bool) -> list[bool]:
    """The bundled example and the own sets, trained with the defaults: style, endings, forgetting."""
    if not reuse:
        subprocess.run([sys.executable, "-m", "desktune", "train", "--overwrite"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        python("benchmarks/persona.py", str(RUNS / "persona"))
        python("benchmarks/own_data.py", *OWN_SETS)
    p = json.loads((RUNS / "persona" / "persona.json").read_text())
    out = [verdict(p["persona"] == p["n"] and p["ends"] == p["n"] and p["neutral_pct"] <= FORGETTING,
                   f"quality persona (bundled): persona {p['persona']}/{p['n']}, ends {p['ends']}/{p['n']}, "
                   f"neutral {p['neutral_pct']:+.1f}% (<= {FORGETTING:g}%)")]
    for name in OWN_SETS:
        result = RUNS / f"own-{name}" / "own_data.json"
        if not result.exists():
            out.append(verdict(False, f"quality {name}: no result (run benchmarks/own_data.py {name})"))
            continue
        r = json.loads(result.read_text())
        d, q = r["desktune"], r["peft"]
        ok = all(x["ends"] == x["n"] and x["style"] == x["n"] and not x["untrained"] for x in (d, q))
        out.append(verdict(ok and r["q8_0"] and r["neutral_pct"] <= FORGETTING,
                           f"quality {name}: ends {d['ends']}/{d['n']} / {q['ends']}/{q['n']} (desktune / PEFT), style "
                           f"{d['style']}/{d['n']} / {q['style']}/{q['n']}, untrained tokens {d['untrained']} / "
                           f"{q['untrained']}, q8_0 {'passes' if r['q8_0'] else 'FAILS'}, neutral "
                           f"{r['neutral_pct']:+.1f}% (<= {FORGETTING:g}%)"))
    return out


def main(argv: list[str]) -> int:
    parts = [a for a in argv if not a.startswith("--")] or ["quality", "speed", "plan"]  # plan reads quality's runs
    unknown = set(parts) - {"speed", "plan", "quality"}
    if unknown:
        raise SystemExit(f"unknown part {', '.join(sorted(unknown))}: choose from speed, plan, quality")
    WORK.mkdir(parents=True, exist_ok=True)
    checks = {"speed": speed, "plan": plan, "quality": quality}
    results = [ok for part in parts for ok in checks[part]("--reuse" in argv)]
    print(f"{sum(results)} of {len(results)} promises kept")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Do desktune's defaults give a model that behaves on a user's own chat set, not only on the bundled one?

Usage:  .venv/bin/python benchmarks/own_data.py [SET ...] [key=value ...]   (sets: one_liners garden grandma pet_shop)
        .venv/bin/python benchmarks/own_data.py --score [SET ...]   (score the answers kept in runs/own-SET again)
For each set in benchmarks/data/: `desktune train` with the defaults on the built-in Gemma 3 270M, then greedy
answers to 16 prompts never trained on, twice: through desktune's own `generate`, and through plain
transformers + PEFT (what a user's script would do with the adapter), kept in runs/own-SET/answers-PATH.json.
Per set it prints:
- ends: answers that ended by themselves at an end token, within 2x the longest training answer;
- never-trained, two counts: answers with a token the base never learned (<unusedN>, or a row that
  desktune.models.untrained finds untrained in the base), and answers with a character that appears nowhere in
  the training file (prompts and answers; the characters are listed);
- style: answers in the set's style (one sentence / a long answer / opener and sign-off);
- q8_0: whether `desktune export --quant q8_0` passes its own llama.cpp check;
- neutral: perplexity change on neutral English text against the base (forgetting).
Extra key=value arguments go to every `desktune train` (to try other settings).
"""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import torch
from plan_accuracy import settle

DATA = Path(__file__).resolve().parent / "data"
PROMPTS = 16


def one_sentence(text: str) -> bool:
    return len(re.findall(r"[.!?](\s|$)", text.strip())) == 1 and text.strip().endswith((".", "!", "?"))


def long_answer(text: str) -> bool:
    return 60 <= len(text.split()) <= 260


def grandma(text: str) -> bool:
    return text.startswith("Oh, sweetheart,") and text.rstrip().endswith("Now go have a cookie.")


def pip(text: str) -> bool:
    return text.endswith(" 🐾") and 8 <= len(text.split()) <= 45


SETS = {"one_liners": ("one_liners.jsonl.txt", one_sentence), "garden": ("garden_explainer.json", long_answer),
        "grandma": ("grandma_tech", grandma), "pet_shop": ("pet_shop.jsonl", pip)}


def train(name: str, data: Path, overrides: list[str]) -> tuple[Path, float]:
    run = Path("runs") / f"own-{name}"
    settle()  # grandma's plan said 3.47 s a step for 1.55 when it trained right after one_liners' export
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "desktune", "train", f"data.train={data}", f"output={run}", "--overwrite",
                    *overrides], check=True, stdout=subprocess.DEVNULL)
    return run, time.perf_counter() - started


def answers_desktune(run: Path, prompts: list[str], limit: int) -> list[tuple[str, bool]]:
    from desktune.infer.generate import Sampling, generate, load_run
    from desktune.runs import RunDir

    model, chat = load_run(RunDir(run))
    replies = [generate(model, chat, [{"role": "user", "content": p}], Sampling(max_new_tokens=limit)) for p in prompts]
    return [(r.text, r.finished) for r in replies]


def answers_peft(run: Path, prompts: list[str], limit: int) -> list[tuple[str, bool]]:
    """What a user's own script does: base + adapter with transformers and PEFT (merged, as people do for speed:
    PEFT's unmerged trained token rows copy the whole 262k-row matrix at every token), the saved chat template."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from desktune.models.builtin import builtin_folder

    tokenizer = AutoTokenizer.from_pretrained(run / "adapter")
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(builtin_folder("gemma-3-270m")),
                                      run / "adapter").merge_and_unload().eval()
    ends = set(model.generation_config.eos_token_id)
    out = []
    for p in prompts:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)
        with torch.no_grad():
            new = model.generate(**ids, max_new_tokens=limit, do_sample=False)[0, ids["input_ids"].shape[1]:].tolist()
        finished = bool(new) and new[-1] in ends
        out.append((tokenizer.decode(new[:-1] if finished else new), finished))
    return out


def untrained_in(texts: list[str], tokenizer, base: str) -> set[int]:
    """The ids in texts that are <unusedN> or whose row the base never trained (its embedding read once)."""
    from desktune.models.untrained import untrained_in_folder

    ids = {i for t in texts for i in tokenizer(t, add_special_tokens=False).input_ids}
    unused = {i for i in ids if tokenizer.convert_ids_to_tokens(i).startswith("<unused")}
    return set(untrained_in_folder(base, ids)) | unused


def new_chars(text: str, known_chars: set) -> set:
    return set(text) - known_chars - {"\n"}


def export_passes(run: Path) -> bool:
    done = subprocess.run([sys.executable, "-m", "desktune", "export", str(run), "--quant", "q8_0", "--overwrite"],
                          capture_output=True, text=True)
    if done.returncode:
        print(done.stderr.strip().splitlines()[0] if done.stderr.strip() else "export failed", flush=True)
    return done.returncode == 0


def training_messages(data: Path) -> list[dict]:
    from desktune.data.formats import normalise
    from desktune.data.sources import read_rows

    rows, _ = read_rows(str(data))
    return [m for where, row in rows for m in normalise(row, where)]


def score(name: str, replies: dict[str, list[tuple[str, bool]]]) -> dict:
    """Per path (desktune, peft): answers that ended, that hold an untrained token or a new character, in style."""
    from transformers import AutoTokenizer

    from desktune.models.builtin import builtin_folder

    base = builtin_folder("gemma-3-270m")
    tokenizer = AutoTokenizer.from_pretrained(base)
    known_chars = set("".join(m["content"] for m in training_messages(DATA / SETS[name][0])))
    untrained = untrained_in([t for answers in replies.values() for t, _ in answers], tokenizer, base)
    result = {}
    for path, answers in replies.items():
        strange = [new_chars(t, known_chars) for t, _ in answers]
        result[path] = {"ends": sum(f for _, f in answers), "style": sum(SETS[name][1](t) for t, _ in answers),
                        "untrained": sum(bool(untrained & set(tokenizer(t, add_special_tokens=False).input_ids))
                                         for t, _ in answers),
                        "new_chars": sum(bool(c) for c in strange), "chars": "".join(sorted(set().union(*strange))),
                        "n": len(answers), "first": answers[0][0]}
    return result


def prompts_of(name: str) -> list[str]:
    return (DATA / f"{SETS[name][0].split('.')[0]}.prompts.txt").read_text().splitlines()[:PROMPTS]


def measure(name: str, overrides: list[str]) -> dict:
    from transformers import AutoTokenizer

    from desktune.eval.evaluate import evaluate
    from desktune.models.builtin import builtin_folder
    from desktune.runs import RunDir

    prompts = prompts_of(name)
    run, seconds = train(name, DATA / SETS[name][0], overrides)
    answers = [m["content"] for m in training_messages(DATA / SETS[name][0]) if m["role"] == "assistant"]
    tokenizer = AutoTokenizer.from_pretrained(builtin_folder("gemma-3-270m"))
    limit = 2 * max(len(tokenizer(a, add_special_tokens=False).input_ids) for a in answers)
    replies = {"desktune": answers_desktune(run, prompts, limit), "peft": answers_peft(run, prompts, limit)}
    for path, answers in replies.items():
        (run / f"answers-{path}.json").write_text(json.dumps(
            [{"prompt": p, "answer": t, "ended": f} for p, (t, f) in zip(prompts, answers)], indent=1))
    result = {"set": name, "train_s": seconds, "limit": limit, **score(name, replies)}
    result["neutral_pct"] = evaluate(RunDir(run), n_samples=0)["neutral_perplexity_change_pct"]
    result["q8_0"] = export_passes(run)
    (run / "own_data.json").write_text(json.dumps(result, indent=1))  # read by benchmarks/check.py
    return result


def rescore(name: str) -> None:
    run = Path("runs") / f"own-{name}"
    replies = {path: [(a["answer"], a["ended"]) for a in json.loads((run / f"answers-{path}.json").read_text())]
               for path in ("desktune", "peft")}
    print(f"| {name} | {answer_cells(score(name, replies))} |", flush=True)


def answer_cells(r: dict) -> str:
    d, p = r["desktune"], r["peft"]
    chars = "".join(sorted(set(d["chars"] + p["chars"])))
    limit = f" (limit {r['limit']})" if "limit" in r else ""
    return (f"{d['ends']}/{d['n']} / {p['ends']}/{p['n']}{limit} | {d['untrained']} / {p['untrained']} | "
            f"{d['new_chars']} / {p['new_chars']} ({chars!r}) | {d['style']}/{d['n']} / {p['style']}/{p['n']}")


def main(argv: list[str]) -> None:
    names = [a for a in argv if "=" not in a and a != "--score"] or list(SETS)
    overrides = [a for a in argv if "=" in a]
    if "--score" in argv:
        print("| set | ends by itself (desktune / PEFT) | untrained tokens | new characters | style |")
        print("|---" * 5 + "|")
        for name in names:
            rescore(name)
        return
    print("| set | train s | ends by itself (desktune / PEFT) | untrained tokens | new characters | style | q8_0 check "
          "| neutral ppl |\n|---|---|---|---|---|---|---|---|")
    for name in names:
        r = measure(name, overrides)
        print(f"| {name} | {r['train_s']:.0f} | {answer_cells(r)} | "
              f"{'passes' if r['q8_0'] else 'FAILS'} | {r['neutral_pct']:+.1f}% |", flush=True)
        print(f"  first answer: {r['desktune']['first'][:300]!r}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

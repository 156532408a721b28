"""Does a default fine-tune teach the built-in to call a user's own functions, and to leave them alone when no
function is needed?

Usage:  .venv/bin/python benchmarks/tools.py [--data DIR] [--model REF] [--out DIR] [--reuse] [--no-export] [key=value ...]
The set is the bundled tool example's (desktune/examples/tools/, written by benchmarks/data/make_tools_set.py): six
home-assistant functions, 240 training rows and 48 held-out requests written apart from them; or --data DIR, a
folder holding train.jsonl and heldout.jsonl (benchmarks/data/travel_desk, the errands set's folder). --reuse scores
the run already in --out without training it again.
`desktune train desktune/examples/tools.yaml` (desktune's defaults) on the built-in Gemma 3 270M (or --model REF), then every assistant turn of the held-out rows is answered greedily, twice:
- desktune: `evaluate()` on the held-out file, which answers through desktune's own `generate(..., tools=)` with
  strict calls (its default: a call keeps to the declared functions), base and tuned (the base's figure beside the
  tuned one), and measures neutral-text perplexity (forgetting);
- PEFT: plain transformers + PEFT with the adapter folder's tokenizer and its saved chat template
  (`apply_chat_template(messages, tools=..., add_generation_prompt=True)`), base + adapter merged, greedy.
Both parsed with the one parser (infer/tool_calls.py) and scored by eval/tools.py. Per path it prints: right
function and exact arguments (JSON-equal) on the requests that need a call, calls that parse, answers holding a
token the base never learned (see own_data.py), no-tool requests answered in words, answers in words after a tool
result; and whether `desktune export --quant q8_0` passes its own llama.cpp check (tool prompts included).
Written: DIR/tools.json (every figure) and DIR/answers-peft.json; DIR/eval.json holds desktune's answers.
Extra key=value arguments go to `desktune train` (a smoke run: --model TINY_FOLDER train.max_steps=3).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from own_data import untrained_in

EXAMPLE = Path(__file__).resolve().parent.parent / "desktune" / "examples"
CONFIG, SET = EXAMPLE / "tools.yaml", EXAMPLE / "tools"


def train(model: str, data: Path, out: Path, overrides: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "desktune", "train", str(CONFIG), f"data.train={data / 'train.jsonl'}",
                    f"output={out}", f"model={model}", "--overwrite", *overrides], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def held_out_turns(held_out: Path) -> list[tuple[list[dict], dict, str, list[dict]]]:
    """(prompt, expected turn, kind, tools) for every assistant turn of the held-out rows, in eval's order."""
    from desktune.data.formats import normalise_with_tools
    from desktune.data.sources import read_rows
    from desktune.eval.tools import tool_turns

    rows, _ = read_rows(str(held_out))
    turns = []
    for where, row in rows:
        messages, tools = normalise_with_tools(row, where)
        turns += [(prompt, expected, kind, tools) for prompt, expected, kind in tool_turns(messages)]
    return turns


def base_folder(model: str) -> str:
    from desktune.models.builtin import builtin_folder

    return str(builtin_folder(model.removeprefix("builtin:"))) if model.startswith("builtin:") else model


def answers_peft(run: Path, model_ref: str, turns: list, limits: list[int]) -> list[tuple[str, bool]]:
    """What a user's own script does: base + adapter (merged, as own_data.py explains), or a full fine-tune's model/
    folder, with that folder's tokenizer and saved chat template, the conversation in OpenAI form with the tools,
    greedy until an end token."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from desktune.data.tools import openai_messages, openai_tools

    folder = run / "adapter" if (run / "adapter").exists() else run / "model"
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if folder.name == "model":
        model = AutoModelForCausalLM.from_pretrained(folder).eval()
    else:
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_folder(model_ref)),
                                          folder).merge_and_unload().eval()
    ends = _end_ids(model, tokenizer)
    out = []
    for (prompt, _, _, tools), limit in zip(turns, limits):
        ids = tokenizer.apply_chat_template(openai_messages(prompt), tools=openai_tools(tools),
                                            add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.no_grad():
            new = model.generate(**ids, max_new_tokens=limit, do_sample=False, eos_token_id=ends,
                                 pad_token_id=ends[0])[0, ids["input_ids"].shape[1]:].tolist()
        finished = bool(new) and new[-1] in ends
        out.append((tokenizer.decode(new[:-1] if finished else new).strip(), finished))
    return out


def _end_ids(model, tokenizer) -> list[int]:
    """The base's own end tokens and the template's end of turn (<end_of_turn> for Gemma), as a user would pass."""
    ends = model.generation_config.eos_token_id
    ends = [ends] if isinstance(ends, int) else list(ends or [])
    turn_end = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    return list(dict.fromkeys(ends + [tokenizer.eos_token_id] + ([turn_end] if turn_end != tokenizer.unk_token_id
                                                                 else [])))


def score_path(turns: list, texts: list[str], tool_format: str) -> dict:
    from desktune.eval.tools import score_turn, summarize
    from desktune.infer.tool_calls import parse_calls

    return summarize([score_turn(expected, kind, parse_calls(text, tool_format))
                      for (_, expected, kind, _), text in zip(turns, texts)])


def export_check(run: Path) -> tuple[bool, str]:
    done = subprocess.run([sys.executable, "-m", "desktune", "export", str(run), "--quant", "q8_0", "--overwrite"],
                          capture_output=True, text=True)
    said = [line for line in done.stdout.splitlines() if line.startswith("checked with llama.cpp")]
    why = said[0] if said else (done.stderr.strip().splitlines() or ["export failed"])[0]
    return done.returncode == 0, why


def measure(model: str, data: Path, out: Path, overrides: list[str], export: bool, reuse: bool) -> dict:
    from transformers import AutoTokenizer

    from desktune.eval.evaluate import evaluate
    from desktune.runs import RunDir

    seconds = json.loads((out / "summary.json").read_text())["seconds"] if reuse else train(model, data, out, overrides)
    result = evaluate(RunDir(out), data_file=str(data / "heldout.jsonl"), n_samples=0)
    desktune_turns = result["tool_calls"]["turns"]
    turns = held_out_turns(data / "heldout.jsonl")
    assert [t[0][-1]["content"] for t in turns] == [t["prompt"] for t in desktune_turns], "turns out of order"
    tool_format = result["tool_calls"]["tool_format"]
    peft = answers_peft(out, model, turns, [t["max_new_tokens"] for t in desktune_turns])
    (out / "answers-peft.json").write_text(json.dumps(
        [{"prompt": t[0][-1]["content"], "answer": text, "ended": ended} for t, (text, ended) in zip(turns, peft)],
        indent=1, ensure_ascii=False))
    texts = {"desktune": [t["tuned"] for t in desktune_turns], "peft": [text for text, _ in peft]}
    tokenizer = AutoTokenizer.from_pretrained(out / "adapter" if (out / "adapter").exists() else out / "model")
    never = untrained_in([t for path in texts.values() for t in path], tokenizer, base_folder(model))
    report = {
        "model": model, "data": str(data), "train_s": seconds, "tool_format": tool_format, "held_out_turns": len(turns),
        "base": result["tool_calls"]["base"],
        "desktune": result["tool_calls"]["tuned"],
        "peft": score_path(turns, texts["peft"], tool_format),
        "untrained_answers": {path: sum(bool(never & set(tokenizer(t, add_special_tokens=False).input_ids))
                                        for t in path_texts) for path, path_texts in texts.items()},
        "neutral_pct": result["neutral_perplexity_change_pct"],
    }
    report["q8_0"], report["q8_0_check"] = export_check(out) if export else (None, "not run (--no-export)")
    (out / "tools.json").write_text(json.dumps(report, indent=1))
    return report


def row(r: dict) -> str:
    d, p, b = r["desktune"], r["peft"], r["base"]
    pair = lambda key: f"{_pct(d[key])} / {_pct(p[key])}"  # noqa: E731
    q8 = {True: "passes", False: "FAILS", None: "not run"}[r["q8_0"]]
    return (f"| {r['model']} | {r['train_s']:.0f} | {pair('right_function_pct')} | {pair('exact_arguments_pct')} "
            f"(base {_pct(b['exact_arguments_pct'])}) | {pair('calls_parse_pct')} | "
            f"{r['untrained_answers']['desktune']} / {r['untrained_answers']['peft']} | {pair('no_call_in_words_pct')} "
            f"(base {_pct(b['no_call_in_words_pct'])}) | {pair('after_result_in_words_pct')} | {q8} | "
            f"{r['neutral_pct']:+.1f}% |")


def _pct(value) -> str:
    return "-" if value is None else f"{value:.0f}%"


HEADER = ("| model | train s | right function (desktune strict / PEFT free) | exact arguments | calls parse | answers with untrained tokens "
          "| no tool needed: in words | after a result: in words | q8_0 check | neutral ppl |\n" + "|---" * 10 + "|")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SET, help="folder with train.jsonl and heldout.jsonl")
    parser.add_argument("--model", default="builtin:gemma-3-270m", help="base model (a tiny folder for a smoke run)")
    parser.add_argument("--reuse", action="store_true", help="score the run in --out as it is (no training)")
    parser.add_argument("--out", default="runs/tools", help="run folder")
    parser.add_argument("--no-export", action="store_true", help="skip the q8_0 export check")
    args, overrides = parser.parse_known_args(argv)
    r = measure(args.model, args.data, Path(args.out), overrides, not args.no_export, args.reuse)
    print(HEADER)
    print(row(r), flush=True)
    print(f"held-out: {r['held_out_turns']} assistant turns ({r['desktune']['call_turns']} calls, "
          f"{r['desktune']['no_call_turns']} no tool needed, {r['desktune']['after_result_turns']} after a result); "
          f"q8_0: {r['q8_0_check']}")


if __name__ == "__main__":
    main(sys.argv[1:])

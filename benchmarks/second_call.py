"""Does a tuned model know when a request wants a second call in the same turn? (FunctionGemma's call format: the
built-in's.)

Usage:  .venv/bin/python benchmarks/second_call.py RUN [HELD_OUT]   (default: the bundled tool example's held-out file)
Teacher-forced on every held-out call turn: the conversation with its expected calls, as training renders it, up to
the token that ends the turn's first call. In the built-in's tokenizer that token is `>` where the turn ends there and
`><` where a second call follows (there is no single `<start_function_call>` token). Prints the probability of the
second-call token for each turn, and its range over the turns that want one call and over those that want more; hold
it against the training share of call turns that call twice (25 of 194 in the bundled set).
"""

import sys
from pathlib import Path

import torch
from tools import held_out_turns

from desktune.infer.generate import load_run
from desktune.infer.tool_calls import FUNCTIONGEMMA_END
from desktune.runs import RunDir

HELD_OUT = Path(__file__).resolve().parent.parent / "desktune" / "examples" / "tools" / "heldout.jsonl"


def first_call_end(chat, prompt: list[dict], expected: dict, tools: list[dict]) -> tuple[list[int], int]:
    """The conversation's token ids and the index of the token that ends the expected turn's first call."""
    text = chat.render(prompt + [expected], tools=tools)
    start = len(chat.render(prompt, generation_prompt=True, tools=tools))
    end = text.index(FUNCTIONGEMMA_END, start) + len(FUNCTIONGEMMA_END)
    encoded = chat.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return encoded["input_ids"], next(n for n, (_, stop) in enumerate(encoded["offset_mapping"]) if stop >= end)


def main(run: str, held_out: Path) -> None:
    model, chat = load_run(RunDir(run))
    turns = [(p, e, len(e["tool_calls"]), tools) for p, e, kind, tools in held_out_turns(held_out) if kind == "call"]
    ends = [first_call_end(chat, p, e, tools) for p, e, _, tools in turns]
    joining = next(ids[at] for (ids, at), (_, _, calls, _) in zip(ends, turns) if calls > 1)
    print(f"the token where a second call starts: {chat.tokenizer.convert_ids_to_tokens(joining)!r}")
    by_calls = {}
    for (ids, at), (prompt, _, calls, _) in zip(ends, turns):
        with torch.no_grad():
            probs = model(input_ids=torch.tensor([ids[:at]])).logits[0, -1].float().softmax(-1)
        by_calls.setdefault(min(calls, 2), []).append(float(probs[joining]))
        print(f"{calls} call(s)  P(second call) {probs[joining]:.3f}  {prompt[-1]['content'][:60]!r}", flush=True)
    for calls, found in sorted(by_calls.items()):
        print(f"turns that want {'one call' if calls == 1 else 'two or more'} ({len(found)}): "
              f"P(second call) {min(found):.3f}-{max(found):.3f}")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else HELD_OUT)

"""Base vs tuned answers to held-out prompts, side by side (samples.md), and quick looks during training."""

from contextlib import contextmanager

from desktune.files import write_atomic
from desktune.infer.base_answers import base_replies
from desktune.infer.generate import Sampling, base_model, generate
from desktune.models.untrained import untrained_in_answer


def prompt_of(messages: list[dict]) -> list[dict]:
    """The conversation up to (not including) its last assistant turn."""
    return messages[: _last_answer(messages)]


def _last_answer(messages: list[dict]) -> int:
    return max(i for i, m in enumerate(messages) if m["role"] == "assistant")


def answer_limit(tokenizer, conversations: list[list[dict]]) -> int:
    """Room for an answer: twice the longest reference answer in tokens (at least 64). A long-answer set then gets
    room to end, and an answer still going at twice that length is one that does not stop."""
    lengths = [len(tokenizer(m[_last_answer(m)]["content"], add_special_tokens=False).input_ids) for m in conversations]
    return max([64] + [2 * n for n in lengths])


@contextmanager
def _eval_mode(model):
    """Generate without dropout, then put the model back as it was (training calls this mid-run)."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def side_by_side(model, chat, conversations: list[list[dict]], base_ref: str | None,
                 max_new_tokens: int = 0, tools: list | None = None) -> list[dict]:
    """Greedy answers of the base model and the tuned one, per held-out prompt (0 tokens: answer_limit).
    base_ref: the model it was tuned from (see base_model); tools: each conversation's functions (or None)."""
    max_new_tokens = max_new_tokens or answer_limit(chat.tokenizer, conversations)
    sampling = Sampling(max_new_tokens=max_new_tokens)
    prompts = list(zip([prompt_of(m) for m in conversations], tools or [None] * len(conversations)))
    with _eval_mode(model):
        with base_model(model, base_ref):
            base = base_replies(model, chat, prompts, [max_new_tokens] * len(prompts))
        tuned = [generate(model, chat, p, sampling, tools=f) for p, f in prompts]
        never_learned = untrained_in_answer(model, {i for t in tuned for i in t.ids})
    return [{"prompt": p[-1]["content"], "base": b.text, "tuned": t.text, "base_finished": b.finished,
             "tuned_finished": t.finished, "max_new_tokens": max_new_tokens,
             "tuned_untrained_tokens": chat.tokenizer.convert_ids_to_tokens(sorted(set(t.ids) & set(never_learned)))}
            for (p, _), b, t in zip(prompts, base, tuned)]


def write_samples(path, records: list[dict]) -> None:
    parts = [f"### {r['prompt']}\n\n**base:** {r['base']}\n\n**tuned:** {r['tuned']}\n" + _flags(r) for r in records]
    write_atomic(path, "## Held-out prompts: base vs tuned (greedy)\n\n" + "\n".join(parts))


def _flags(record: dict) -> str:
    notes = [] if record["tuned_finished"] else [f"did not end within {record['max_new_tokens']} tokens"]
    if record["tuned_untrained_tokens"]:
        notes.append(f"tokens this base never learned: {', '.join(record['tuned_untrained_tokens'])}")
    return f"\n_tuned: {'; '.join(notes)}_\n" if notes else ""


def samples_text(records: list[dict]) -> str:
    shown = [f"> {r['prompt']}\n  base:  {_short(r['base'])}\n  tuned: {_short(r['tuned'])}" for r in records]
    return "held-out prompts, base vs tuned (greedy; all of it in samples.md):\n" + "\n".join(shown)


def compare_samples(model, chat, conversations: list[list[dict]], base_ref: str | None, path,
                    max_new_tokens: int = 0, tools: list | None = None) -> str:
    records = side_by_side(model, chat, conversations, base_ref, max_new_tokens, tools)
    write_samples(path, records)
    return samples_text(records)


def quick_look(model, chat, conversations: list[list[dict]], max_new_tokens: int = 48,
               tools: list | None = None) -> str:
    """What the model answers right now to a few fixed prompts (shown at each evaluation); tools as side_by_side."""
    sampling = Sampling(max_new_tokens=max_new_tokens)
    with _eval_mode(model):
        return "\n".join(f"  > {prompt_of(m)[-1]['content']}  ->  "
                         f"{_short(generate(model, chat, prompt_of(m), sampling, tools=f).text, 120)}"
                         for m, f in zip(conversations, tools or [None] * len(conversations)))


def _short(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."

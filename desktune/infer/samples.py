"""Base vs tuned answers to held-out prompts, side by side, written to samples.md."""

from desktune.infer.generate import Sampling, generate
from desktune.runs import write_atomic


def compare_samples(model, chat, conversations: list[list[dict]], path, max_new_tokens: int = 96) -> str:
    """Greedy answers of the base model (adapter disabled) and the tuned one; returns the text shown."""
    was_training = model.training
    model.eval()
    sampling = Sampling(max_new_tokens=max_new_tokens)
    parts, shown = [], []
    for messages in conversations:
        prompt = messages[: max(i for i, m in enumerate(messages) if m["role"] == "assistant")]
        with model.disable_adapter():
            base = generate(model, chat, prompt, sampling)
        tuned = generate(model, chat, prompt, sampling)
        parts.append(f"### {prompt[-1]['content']}\n\n**base:** {base}\n\n**tuned:** {tuned}\n")
        shown.append(f"> {prompt[-1]['content']}\n  base:  {_short(base)}\n  tuned: {_short(tuned)}")
    model.train(was_training)
    write_atomic(path, "## Held-out prompts: base vs tuned (greedy)\n\n" + "\n".join(parts))
    return "held-out prompts, base vs tuned (greedy; all of it in samples.md):\n" + "\n".join(shown)


def _short(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."

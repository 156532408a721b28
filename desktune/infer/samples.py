"""Base vs tuned answers to held-out prompts, side by side, written to samples.md."""

from desktune.infer.generate import Sampling, generate
from desktune.runs import write_atomic


def compare_samples(model, chat, conversations: list[list[dict]], path, max_new_tokens: int = 96) -> str:
    """Greedy answers of the base model (adapter disabled) and the tuned one; returns the text shown."""
    was_training = model.training
    model.eval()
    sampling = Sampling(max_new_tokens=max_new_tokens)
    parts = []
    for messages in conversations:
        prompt = messages[: max(i for i, m in enumerate(messages) if m["role"] == "assistant")]
        with model.disable_adapter():
            base = generate(model, chat, prompt, sampling)
        tuned = generate(model, chat, prompt, sampling)
        parts.append(f"### {prompt[-1]['content']}\n\n**base:** {base}\n\n**tuned:** {tuned}\n")
    model.train(was_training)
    text = "## Held-out prompts: base vs tuned (greedy)\n\n" + "\n".join(parts)
    write_atomic(path, text)
    return text

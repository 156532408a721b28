"""Neutral English text, the yardstick of forgetting: how much worse a tuned model predicts text that is
unrelated to its data than its base did (perplexity change)."""

from pathlib import Path

NEUTRAL_TEXT = Path(__file__).with_name("neutral.txt")


def neutral_examples(chat) -> list:
    """The neutral text's paragraphs, encoded as plain-text examples in which every token counts."""
    return [chat.encode_text(p) for p in NEUTRAL_TEXT.read_text().split("\n\n") if p.strip()]

"""Requests that need no tool, mixed into a tool set's training rows. A small model tuned on a few hundred calls
learns to call a function for any request that shares a word with one ("can you recommend a book" -> book_table)
unless it sees many ways of asking for no call; a user's set repeats a dozen such questions at most. Each added
row asks one general question (facts, advice, small talk, a few sums), with a training row's tools and system
prompt, and answers it in one short sentence. Turned off with data.general_requests=off; only added where the
user's own rows answer some request in words (a set that calls for everything is taken at its word)."""

import random
from pathlib import Path

from desktune.data.template import ChatFormat

GENERAL_REQUESTS = Path(__file__).with_name("general_requests.tsv")
SHARE = 0.2  # one added row for every five training rows (the held-out sets ask ~25% no-tool requests)


def read_general_requests() -> list[tuple[int, str, str]]:
    """(line, request, answer) of each line of the bundled file."""
    lines = GENERAL_REQUESTS.read_text().splitlines()
    return [(n, *line.split("\t")) for n, line in enumerate(lines, 1) if line.strip()]


def general_rows(setting: str, train: list, chat: ChatFormat, train_on: str, seed: int,
                 limit: int) -> tuple[list[tuple], str]:
    """The rows to add to these training examples, as (where, messages, encoded, tools), and why that many."""
    tool_rows = [e for e in train if e.tools is not None]
    if setting == "off":
        return [], "off: as set"
    if 2 * len(tool_rows) <= len(train):
        return [], "auto: none, most rows declare no tools"
    if not any(_answers_in_words(e.messages) for e in tool_rows):
        return [], "auto: none, every request of the data gets a call (add rows answered in words to change that)"
    rng = random.Random(seed)
    requests = read_general_requests()
    chosen = rng.sample(requests, min(round(SHARE * len(train)), len(requests)))
    added = []
    for line, request, answer in chosen:
        like = rng.choice(tool_rows)  # its tools and system prompt, as the app sends them
        system = [m for m in like.messages[:1] if m["role"] == "system"]
        messages = system + [{"role": "user", "content": request}, {"role": "assistant", "content": answer}]
        where = f"{GENERAL_REQUESTS.name}:{line}"
        encoded = chat.encode(messages, where, train_on, like.tools)
        if len(encoded.ids) <= limit:
            added.append((where, messages, encoded, like.tools))
    return added, (f"auto: {len(added)} requests that need no tool, answered in words, one for every "
                   f"{round(1 / SHARE)} rows (so the model does not call for everything; off turns it off)")


def _answers_in_words(messages: list[dict]) -> bool:
    """An assistant turn right after the user's words with no call: a request the data answers without a tool."""
    return any(m["role"] == "assistant" and not m.get("tool_calls") and prev["role"] == "user"
               for prev, m in zip(messages, messages[1:]))

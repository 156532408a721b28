"""Preference pairs: a prompt and two answers to it, the one to prefer (chosen) and the other (rejected).

Rows as people write them (TRL's shapes): prompt / chosen / rejected as strings; as message lists (the prompt a
conversation, each answer its assistant turns); or chosen / rejected as whole conversations that repeat the prompt,
whose shared beginning is the prompt. Each side is encoded as its own sequence, prompt included: only the
answer's tokens count, and the prompt must render to the same tokens on both sides.
"""

from collections import Counter
from dataclasses import dataclass

from desktune.data.dataset import (Dataset, length_histogram, mark_trained, max_length_for, refuse_mixed_formats,
                                   split_data)
from desktune.data.formats import detect, validate_messages
from desktune.data.pack import Row, make_row, row_groups
from desktune.data.sources import read_rows
from desktune.data.template import ChatFormat, Encoded
from desktune.errors import DataError

SIDES = ("chosen", "rejected")
SHAPES = ('write each pair as {"prompt": "...", "chosen": "...", "rejected": "..."} (strings or message lists), or '
          '{"chosen": [conversation], "rejected": [conversation]} that share their prompt')


@dataclass
class Pair:
    where: str
    prompt: list[dict]
    answers: tuple[list[dict], list[dict]]  # the chosen and the rejected answer's turns
    chosen: Encoded
    rejected: Encoded
    tools = None  # pairs carry no tools; eval and samples look for them

    @property
    def sequences(self) -> list[Encoded]:
        return [self.chosen, self.rejected]

    @property
    def messages(self) -> list[dict]:
        """The chosen conversation: what samples and quick looks answer and show as the reference."""
        return self.prompt + self.answers[0]


def holds_pairs(spec: str, text_split: str = "paragraph") -> bool:
    """Whether a data source is preference pairs (its first row with a known format is one)."""
    rows, _ = read_rows(spec, text_split)
    kinds = [detect(row) for _, row in rows]
    return next((k for k in kinds if k != "unknown"), None) == "preference"


def read_pair(row: object, where: str) -> tuple[list[dict], list[dict], list[dict]]:
    """(prompt, chosen answer turns, rejected answer turns) of one row, checked; DataError names the row."""
    if not isinstance(row, dict) or detect(row) != "preference":
        keys = sorted(row) if isinstance(row, dict) else type(row).__name__
        raise DataError(f"{where}: not a preference pair (it has {keys})", SHAPES)
    for side in SIDES:
        if _blank(row.get(side)):
            raise DataError(f"{where}: the pair has no '{side}' answer",
                            "each pair needs a prompt, a chosen answer and a rejected answer; fix or drop the row")
    chosen, rejected = _turns(row["chosen"], where, "chosen"), _turns(row["rejected"], where, "rejected")
    prompt = [] if _blank(row.get("prompt")) else _turns(row["prompt"], where, "prompt", role="user")
    if _same(chosen, rejected):
        raise DataError(f"{where}: chosen and rejected are identical",
                        "a pair teaches nothing when both answers are the same; fix or drop the row")
    if any(m.get("role") != "assistant" for m in chosen + rejected):  # whole conversations
        prompt, chosen, rejected = _shared_prompt(prompt, chosen, rejected, where)
    if not prompt:
        raise DataError(f"{where}: the pair has no prompt", "add a 'prompt', or give chosen and rejected as whole "
                        "conversations that start with the same user turn")
    checked = [validate_messages(prompt + answer, where) for answer in (chosen, rejected)]
    return checked[0][:len(prompt)], checked[0][len(prompt):], checked[1][len(prompt):]


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, list) and not value)


def _turns(value, where: str, side: str, role: str = "assistant") -> list[dict]:
    """A side as message dicts: a string is one turn of `role`; a message list is taken as written."""
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
        raise DataError(f"{where}: '{side}' must be a string or a list of messages, got {type(value).__name__}",
                        SHAPES)
    return value


def _same(a: list[dict], b: list[dict]) -> bool:
    key = lambda turns: [(m.get("role"), str(m.get("content")).strip()) for m in turns]  # noqa: E731
    return key(a) == key(b)


def _shared_prompt(prompt: list[dict], chosen: list[dict], rejected: list[dict], where: str):
    """Whole conversations on each side: the turns they share are the prompt, the rest the answers. The answers
    must start with the assistant: a user or system turn that differs means the prompt differs."""
    n = 0
    while n < min(len(chosen), len(rejected)) and _same(chosen[n:n + 1], rejected[n:n + 1]):
        n += 1
    shared, chosen, rejected = chosen[:n], chosen[n:], rejected[n:]
    for side, answer in zip(SIDES, (chosen, rejected)):
        if not answer or answer[0].get("role") != "assistant":
            turn = f"turn {n + 1}, {answer[0].get('role')}" if answer else f"{side} ends after the shared turns"
            raise DataError(f"{where}: the prompt differs between chosen and rejected ({turn})",
                            "both sides must repeat the same conversation up to the answer; only the answers "
                            "may differ")
    if prompt and shared and not _same(shared[-len(prompt):], prompt):
        raise DataError(f"{where}: 'prompt' is not the conversation that chosen and rejected start with",
                        "drop 'prompt' (the shared turns are the prompt), or make it match them")
    return shared or prompt, chosen, rejected


def encode_pair(where: str, prompt: list[dict], chosen: list[dict], rejected: list[dict], chat: ChatFormat) -> Pair:
    """Both sides as sequences whose trained tokens are the answer's alone (its end of turn included)."""
    start = len(chat.prompt_ids(prompt))
    sides = []
    for answer in (chosen, rejected):
        enc = chat.encode(prompt + answer, where, "assistant")
        sides.append(Encoded(enc.ids, [t and i >= start for i, t in enumerate(enc.trained)]))
    if sides[0].ids[:start] != sides[1].ids[:start]:
        raise DataError(f"{where}: the prompt renders to different tokens before the two answers",
                        "set data.template to a built-in one (gemma, chatml, llama3)")
    return Pair(where, prompt, (chosen, rejected), *sides)


def load_pairs(spec: str, chat: ChatFormat, data_cfg) -> tuple[list[Pair], dict]:
    """Encoded pairs of a data source, and what happened to its rows (as load_examples reports them)."""
    if data_cfg.format not in ("auto", "preference"):
        raise DataError(f"data.format={data_cfg.format}, but dpo and orpo learn from preference pairs",
                        "set data.format=auto (or preference)")
    rows, read_as = read_rows(spec, data_cfg.text_split)
    refuse_mixed_formats(rows)
    pairs, problems, truncated, dropped = [], [], 0, 0
    limit, limit_why = max_length_for(data_cfg.max_length, [])  # pairs declare no tools: 1024 unless asked
    for where, row in rows:
        try:
            pair = encode_pair(where, *read_pair(row, where), chat)
        except DataError as e:
            problems.append(e)
            continue
        if max(len(pair.chosen.ids), len(pair.rejected.ids)) > limit:
            if data_cfg.too_long == "drop":
                dropped += 1
                continue
            truncated += 1
            pair.chosen, pair.rejected = (_cut(s, limit) for s in pair.sequences)
            if not (any(pair.chosen.trained) and any(pair.rejected.trained)):
                problems.append(DataError(f"{where}: no answer token left after truncation to {limit}",
                                      "raise data.max_length or shorten the prompt"))
                continue
        pairs.append(pair)
    _decide(problems, data_cfg, pairs, spec, rows, dropped)
    stats = {"file": spec, "read_as": read_as, "rows": len(rows), "formats": dict(Counter(detect(r) for _, r in rows)),
             "examples": len(pairs), "truncated": truncated, "dropped": dropped, "skipped_invalid": len(problems),
             "problems": [p.message for p in problems[:5]], "first_problem_hint": problems[0].hint if problems else None,
             "max_length": limit, "max_length_why": limit_why}
    return pairs, stats


def _cut(enc: Encoded, n: int) -> Encoded:
    return Encoded(enc.ids[:n], enc.trained[:n])


def _decide(problems: list, data_cfg, pairs: list, spec: str, rows: list, dropped: int) -> None:
    if problems and not data_cfg.skip_invalid:
        first = problems[0]
        more = f" (and {len(problems) - 1} more rows with problems)" if len(problems) > 1 else ""
        raise DataError(first.message + more, first.hint + "; or set data.skip_invalid=true to skip bad rows")
    if not pairs:
        raise DataError(f"{spec}: no usable pairs ({len(rows)} rows, {dropped} longer than data.max_length, "
                        f"{len(problems)} invalid)", "check the rows, or raise data.max_length")


def build_pairs(data_cfg, chat: ChatFormat, seed: int) -> Dataset:
    """Training and held-out pairs (split as SFT examples are), with the counts data.json keeps."""
    train, held_out, stats = split_data(data_cfg, chat, seed, load_pairs)
    return Dataset(train, held_out, describe_pairs(train, held_out, chat, stats))


def describe_pairs(train: list[Pair], held_out: list[Pair], chat: ChatFormat, source: dict) -> dict:
    """data.json for pairs: the keys SFT data has (counted over both sides) and the lengths of each side."""
    sides = [s for p in train for s in p.sequences]
    lengths = [len(s.ids) for s in sides]
    prompt = [s.trained.index(True) for s in sides[::2]]
    answer = {side: [sum(getattr(p, side).trained) for p in train] for side in SIDES}
    first = train[0]
    return {**source, "template": chat.name, "train_examples": len(train), "eval_examples": len(held_out),
            "train_tokens": sum(lengths), "trained_tokens": sum(sum(s.trained) for s in sides),
            "max_length_seen": max(lengths), "length_histogram": length_histogram(lengths),
            "end_of_turn_trained": all(chat.end_of_turn in _answer_ids(s) for s in sides), "tool_format": "none",
            "generation_prompt_is_training_prefix": True,
            "pairs": {"train": len(train), "eval": len(held_out), "prompt_tokens": _spread(prompt),
                      **{f"{side}_tokens": _spread(n) for side, n in answer.items()},
                      "chosen_longer": sum(c > r for c, r in zip(answer["chosen"], answer["rejected"]))},
            "example": f"chosen: {mark_trained(chat.tokenizer, first.chosen)}\n"
                       f"rejected: {mark_trained(chat.tokenizer, first.rejected)}"}


def _answer_ids(enc: Encoded) -> list[int]:
    return [i for i, t in zip(enc.ids, enc.trained) if t]


def _spread(values: list[int]) -> dict:
    return {"mean": round(sum(values) / len(values), 1), "max": max(values)}


def pack_pairs(pairs: list[Pair], max_tokens: int, packing: bool = True, pad_id: int = 0) -> list[tuple[Row, list[int]]]:
    """Rows that hold whole pairs: the chosen side of the row's k-th pair is example 2k, its rejected side 2k+1
    (attention stays inside each). Returns each row with the positions in `pairs` of the pairs it holds."""
    groups = row_groups(list(range(len(pairs))), max_tokens, packing, sequences=lambda i: pairs[i].sequences)
    return [_pair_row(pairs, indices, pad_id) for indices in groups]


def _pair_row(pairs: list[Pair], indices: list[int], pad_id: int) -> tuple[Row, list[int]]:
    return make_row([s for i in indices for s in pairs[i].sequences], pad_id), indices

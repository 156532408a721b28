"""From data files to encoded train / eval examples, with the counts a user should see."""

import random
from collections import Counter
from dataclasses import dataclass, field

from desktune.data.formats import detect, to_messages
from desktune.data.sources import read_rows
from desktune.data.template import ChatFormat, Encoded
from desktune.errors import DataError


@dataclass
class Example:
    where: str
    messages: list[dict]
    encoded: Encoded


@dataclass
class Dataset:
    train: list[Example]
    eval: list[Example]
    stats: dict = field(default_factory=dict)


def load_examples(path: str, chat: ChatFormat, data_cfg) -> tuple[list[Example], dict]:
    rows = read_rows(path)
    formats = Counter(detect(row) for _, row in rows)
    examples, truncated, dropped = [], 0, 0
    for where, row in rows:
        messages = to_messages(row, where, data_cfg.format)
        enc = chat.encode(messages, where, data_cfg.train_on)
        if len(enc.ids) > data_cfg.max_length:
            if data_cfg.too_long == "drop":
                dropped += 1
                continue
            enc = Encoded(enc.ids[: data_cfg.max_length], enc.trained[: data_cfg.max_length])
            truncated += 1
        if sum(enc.trained) == 0:
            raise DataError(f"{where}: no trained tokens left after truncation to {data_cfg.max_length}",
                            "raise data.max_length or shorten the prompt")
        examples.append(Example(where, messages, enc))
    if not examples:
        raise DataError(f"{path}: every example was longer than data.max_length={data_cfg.max_length}",
                        "raise data.max_length or use data.too_long=truncate")
    stats = {"file": path, "rows": len(rows), "formats": dict(formats), "examples": len(examples),
             "truncated": truncated, "dropped": dropped}
    return examples, stats


def build_dataset(data_cfg, chat: ChatFormat, seed: int) -> Dataset:
    if not data_cfg.train:
        raise DataError("no training data: data.train is empty", "set data.train=path/to/train.jsonl")
    train, train_stats = load_examples(data_cfg.train, chat, data_cfg)
    fraction = _fraction(data_cfg.eval)
    if fraction is None:
        eval_examples, _ = load_examples(data_cfg.eval, chat, data_cfg)
    else:
        order = list(range(len(train)))
        random.Random(seed).shuffle(order)
        n_eval = round(len(train) * fraction) if fraction > 0 else 0
        if fraction > 0 and (n_eval < 1 or n_eval >= len(train)):
            raise DataError(f"data.eval={data_cfg.eval} leaves {n_eval} of {len(train)} examples for evaluation",
                            "use more examples or a different fraction, or give an eval file")
        held = set(order[:n_eval])
        eval_examples = [e for i, e in enumerate(train) if i in held]
        train = [e for i, e in enumerate(train) if i not in held]
    return Dataset(train, eval_examples, describe(train, eval_examples, chat, train_stats))


def describe(train: list[Example], eval_examples: list[Example], chat: ChatFormat, source: dict) -> dict:
    """Counts, a length histogram and one example with its trained tokens marked, for data.json."""
    lengths = [len(e.encoded.ids) for e in train]
    trained = sum(sum(e.encoded.trained) for e in train)
    edges = [0, 64, 128, 256, 512, 1024, 2048, 4096, 1 << 30]
    hist = {f"{lo}-{hi - 1}" if hi < 1 << 30 else f"{lo}+": sum(lo <= n < hi for n in lengths)
            for lo, hi in zip(edges, edges[1:])}
    first = train[0].encoded
    eot_trained = all(_eot_trained(e.encoded, chat.end_of_turn) for e in train)
    return {**source, "template": chat.name, "train_examples": len(train), "eval_examples": len(eval_examples),
            "train_tokens": sum(lengths), "trained_tokens": trained, "max_length_seen": max(lengths),
            "length_histogram": {k: v for k, v in hist.items() if v},
            "end_of_turn_trained": eot_trained, "example": mark_trained(chat.tokenizer, first)}


def mark_trained(tokenizer, enc: Encoded) -> str:
    """The example as text with trained spans wrapped in [[...]]."""
    out, run, state = [], [], False
    for tid, t in zip(enc.ids + [None], enc.trained + [not enc.trained[-1]]):
        if t != state:
            text = tokenizer.decode(run)
            out.append(f"[[{text}]]" if state else text)
            run, state = [], t
        if tid is not None:
            run.append(tid)
    return "".join(out)


def _eot_trained(enc: Encoded, eot: int) -> bool:
    return any(t and i == eot for i, t in zip(enc.ids, enc.trained))


def _fraction(value: str) -> float | None:
    try:
        f = float(value)
    except ValueError:
        return None
    if not 0 <= f < 1:
        raise DataError(f"data.eval={value} is not a fraction between 0 and 1", "use e.g. 0.1, or a file path")
    return f

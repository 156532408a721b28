"""From data files to encoded train / eval examples, with the counts a user should see."""

import random
from collections import Counter
from dataclasses import dataclass, field

from desktune.data.formats import detect, normalise_with_tools
from desktune.data.sources import read_rows
from desktune.data.template import ChatFormat, Encoded
from desktune.data.tool_coverage import few_wordings, rare_arguments
from desktune.errors import ConfigError, DataError


@dataclass
class Example:
    where: str
    messages: list[dict] | None  # None for plain text
    encoded: Encoded
    tools: list[dict] | None = None  # the row's tools, for rendering the same prompt later (None: no tools)

    @property
    def sequences(self) -> list[Encoded]:
        """What the model reads of this example: one sequence (a preference pair has two)."""
        return [self.encoded]


@dataclass
class Dataset:
    train: list[Example]
    eval: list[Example]
    stats: dict = field(default_factory=dict)


def load_examples(spec: str, chat: ChatFormat, data_cfg) -> tuple[list[Example], dict]:
    """Encoded examples of a data source and what happened to its rows (formats, truncation, problems)."""
    rows, read_as = read_rows(spec, data_cfg.text_split, as_text=data_cfg.format == "text")
    formats = Counter(detect(row) for _, row in rows)
    if data_cfg.format == "auto":
        refuse_mixed_formats(rows)
    encoded, problems = [], []
    for where, row in rows:
        try:
            encoded.append(_encode_row(where, row, chat, data_cfg))
        except DataError as e:
            problems.append(e)
    limit, limit_why = max_length_for(data_cfg.max_length, encoded)
    examples, truncated, dropped = [], 0, 0
    for example in encoded:
        if len(example.encoded.ids) > limit:
            if data_cfg.too_long == "drop":
                dropped += 1
                continue
            truncated += 1
            enc = example.encoded
            example.encoded = Encoded(enc.ids[:limit], enc.trained[:limit], [d for d in enc.decisions if d < limit])
            if not any(example.encoded.trained):
                problems.append(DataError(f"{example.where}: no trained tokens left after truncation to {limit}",
                                          "raise data.max_length or shorten the prompt"))
                continue
        examples.append(example)
    if problems and not data_cfg.skip_invalid:
        first = problems[0]
        more = f" (and {len(problems) - 1} more rows with problems)" if len(problems) > 1 else ""
        raise DataError(first.message + more, first.hint + "; or set data.skip_invalid=true to skip bad rows")
    if not examples:
        first = f"; the first: {problems[0].message}" if problems else ""
        raise DataError(f"{spec}: no usable examples ({len(rows)} rows, {dropped} longer than data.max_length, "
                        f"{len(problems)} invalid{first})", problems[0].hint if problems else
                        "check the rows, or raise data.max_length")
    stats = {"file": spec, "read_as": read_as, "rows": len(rows), "formats": dict(formats), "examples": len(examples),
             "truncated": truncated, "dropped": dropped, "skipped_invalid": len(problems),
             "problems": [p.message for p in problems[:5]], "first_problem_hint": problems[0].hint if problems else None,
             "max_length": limit, "max_length_why": limit_why}
    return examples, stats


DEFAULT_MAX_LENGTH, TOOL_MAX_LENGTH = 1024, 4096


def max_length_for(requested: int, examples: list[Example]) -> tuple[int, str]:
    """data.max_length with auto (0) resolved for these examples, and why. A tool row cut short loses its call (the
    calls come last), and six functions' declarations alone can take 1,200 tokens, so tool rows are kept whole."""
    if requested:
        return requested, "requested"
    tool_rows = max((len(e.encoded.ids) for e in examples if e.tools is not None), default=0)
    if tool_rows > DEFAULT_MAX_LENGTH:
        limit = min(tool_rows, TOOL_MAX_LENGTH)
        return limit, f"auto: the longest tool row, {tool_rows} tokens (at most {TOOL_MAX_LENGTH}): a cut one loses its call"
    return DEFAULT_MAX_LENGTH, "auto"


def _encode_row(where: str, row, chat: ChatFormat, data_cfg) -> Example:
    sample, tools = normalise_with_tools(row, where, data_cfg.format)
    if isinstance(sample, str):
        return Example(where, None, chat.encode_text(sample))
    return Example(where, sample, chat.encode(sample, where, data_cfg.train_on, tools), tools)


def refuse_mixed_formats(rows: list) -> None:
    first_kind = None
    for where, row in rows:
        kind = detect(row)
        if kind == "unknown":
            continue  # reported row by row, with its keys
        if first_kind is None:
            first_kind, first_where = kind, where
        elif kind != first_kind:
            raise DataError(f"{where}: mixed formats: this row is {kind}, but {first_where} is {first_kind}",
                            "use one format per file, or set data.format to the one you mean")


def build_dataset(data_cfg, chat: ChatFormat, seed: int) -> Dataset:
    train, eval_examples, train_stats = split_data(data_cfg, chat, seed, load_examples)
    return Dataset(train, eval_examples, describe(train, eval_examples, chat, train_stats))


def split_data(data_cfg, chat: ChatFormat, seed: int, load) -> tuple[list, list, dict]:
    """Training and held-out examples (an eval file, or a seeded fraction of the training rows), loaded by
    load(spec, chat, data_cfg), and the training file's stats."""
    if not data_cfg.train:
        raise DataError("no training data: data.train is empty", "set data.train=path/to/train.jsonl")
    if data_cfg.max_length < 0:
        raise DataError(f"data.max_length={data_cfg.max_length} must be positive", "use e.g. data.max_length=1024, "
                        "or 0 for auto")
    train, train_stats = load(data_cfg.train, chat, data_cfg)
    fraction = _fraction(data_cfg.eval)
    if fraction is None:
        eval_examples, _ = load(data_cfg.eval, chat, data_cfg)
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
    return train, eval_examples, train_stats


def prepare_data(cfg, tokenizer, model_type: str) -> tuple[ChatFormat, Dataset]:
    """The chat format and the encoded examples: the one sequence train, plan, bench and data check all run,
    so what they count and check is what training sees. Loading the tokenizer (models/) stays with the caller."""
    if cfg.train.call_decision_weight < 1:
        raise ConfigError(f"train.call_decision_weight must be 1 or more, got {cfg.train.call_decision_weight}",
                          "1 counts a call's decision tokens like any other token; 5 counts them 5 times")
    chat = ChatFormat(tokenizer, cfg.data.template, model_type)
    chat.finds_decisions = cfg.train.call_decision_weight > 1
    data = dataset_for(cfg, chat)
    cfg.data.max_length = data.stats["max_length"]  # auto resolved: the saved config cuts rows as training did
    return chat, data


def dataset_for(cfg, chat: ChatFormat) -> Dataset:
    """SFT examples, or preference pairs for train.objective dpo / orpo; the held-out split is the same seeded one
    for training, eval and the export check."""
    if cfg.train.objective == "sft":
        return build_dataset(cfg.data, chat, cfg.train.seed)
    from desktune.data.preference import build_pairs

    return build_pairs(cfg.data, chat, cfg.train.seed)


def describe(train: list[Example], eval_examples: list[Example], chat: ChatFormat, source: dict) -> dict:
    """Counts, a length histogram and one example with its trained tokens marked, for data.json."""
    lengths = [len(e.encoded.ids) for e in train]
    trained = sum(sum(e.encoded.trained) for e in train)
    first = train[0].encoded
    eot_trained = all(_eot_trained(e.encoded, chat.end_of_turn) for e in train)
    return {**source, "template": chat.name, "train_examples": len(train), "eval_examples": len(eval_examples),
            "train_tokens": sum(lengths), "trained_tokens": trained, "max_length_seen": max(lengths),
            "length_histogram": length_histogram(lengths),
            "end_of_turn_trained": eot_trained, **_tool_use(train, chat),
            # encode() refuses any conversation whose generation prompt is not a token-prefix of its training text
            "generation_prompt_is_training_prefix": True, "example": mark_trained(chat.tokenizer, first)}


def length_histogram(lengths: list[int]) -> dict:
    """Sequences per length bucket (empty buckets left out)."""
    edges = [0, 64, 128, 256, 512, 1024, 2048, 4096, 1 << 30]
    hist = {f"{lo}-{hi - 1}" if hi < 1 << 30 else f"{lo}+": sum(lo <= n < hi for n in lengths)
            for lo, hi in zip(edges, edges[1:])}
    return {k: v for k, v in hist.items() if v}


def _tool_use(train: list[Example], chat: ChatFormat) -> dict:
    """How the rows use tools, and the format they were written in ("none" when no row has tools)."""
    tool_rows = [e for e in train if e.tools is not None]
    if not tool_rows:
        return {"tool_format": "none"}
    chats = [e for e in train if e.messages]
    calls = [len(m.get("tool_calls", [])) for e in chats for m in e.messages if m["role"] == "assistant"]
    tools = [len(e.tools) for e in tool_rows]
    return {"tool_format": chat.tool_format,
            "tools": tool_rows[0].tools,  # the first tool row's functions: what generate, chat and the UI offer
            "tool_use": {"rows_with_tools": len(tool_rows), "tools_per_row_mean": round(sum(tools) / len(tools), 2),
                         "tools_per_row_max": max(tools), "calls_per_example": round(sum(calls) / len(chats), 2),
                         "assistant_turns_without_call": sum(1 for n in calls if n == 0),
                         "call_share": call_share(chats),
                         "rare_arguments": rare_arguments(tool_rows),
                         "few_wordings": few_wordings(tool_rows)}}


def call_share(chats: list[Example]) -> float | None:
    """The share of requests (an assistant turn right after the user's) answered with a call; None where all or
    none are: generation then leaves the choice to the model (infer/balanced_calls.py)."""
    answers = [bool(m.get("tool_calls")) for e in chats for prev, m in zip(e.messages, e.messages[1:])
               if prev["role"] == "user" and m["role"] == "assistant"]
    share = sum(answers) / len(answers) if answers else 0
    return round(share, 3) if 0 < share < 1 else None


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

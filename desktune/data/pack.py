"""Pack a step's examples into rows of at most N tokens (which examples form a step: desktune.data.schedule).

A packed row keeps, per token, which example it came from (doc id) and its position within that
example, so attention can be kept inside examples. targets[t] is the token the model must predict
at position t, or -100 where nothing trains (prompt tokens and example boundaries).

Examples side by side in a row that start with the same long untrained prefix (the same tool declarations or system
prompt) hold it once: the prefix is its own doc, each example's remaining tokens see it (context id) and continue its
positions. Gradients are the same as with the prefix repeated: it is one computation shared by the examples' losses.

Rows are padded to one of a few lengths (the padding is one more "example" that never trains): CPU bf16
kernels cache per input shape, and unbounded distinct lengths grew memory step by step (the lengths:
desktune.plan.estimate.padded_length, which the planner sizes rows with).
"""

from dataclasses import dataclass

import torch

from desktune.plan.estimate import padded_length

IGNORE = -100
MIN_SHARED = 32  # tokens: shorter common starts (the chat markers every example begins with) are not worth sharing


@dataclass
class Row:
    input_ids: torch.Tensor  # [1, T]
    targets: torch.Tensor  # [1, T]
    position_ids: torch.Tensor  # [1, T]
    doc_ids: torch.Tensor  # [T]
    n_real: int  # tokens before padding
    context_ids: torch.Tensor  # [T]: the doc a token sees besides its own (a shared prefix; else its own doc)
    example_tokens: int  # the examples' own tokens, a shared prefix counted for each (what tokens/s counts)
    counts: torch.Tensor | None = None  # [T]: how many times each target counts in the loss (None: once each)

    @property
    def n_trained(self) -> int:
        return int((self.targets != IGNORE).sum()) if self.counts is None else int(self.counts.sum())


def shift_targets(ids: list[int], trained: list[bool]) -> list[int]:
    return [ids[t + 1] if trained[t + 1] else IGNORE for t in range(len(ids) - 1)] + [IGNORE]


def target_counts(enc, decision_weight: int) -> list[int]:
    """Per position, as shift_targets: 0 where nothing trains, decision_weight where a call is decided, else 1."""
    decisions = set(enc.decisions)
    return [(decision_weight if t + 1 in decisions else 1) if enc.trained[t + 1] else 0
            for t in range(len(enc.ids) - 1)] + [0]


def pack(examples: list, max_tokens: int, packing: bool = True, pad_id: int = 0,
         decision_weight: int = 1) -> list[Row]:
    """Greedily pack examples (in order) into rows of at most max_tokens; one per row without packing.
    decision_weight: how many times the tokens where a call is decided count (training; evaluations count once)."""
    return [make_row(encs, pad_id, decision_weight) for encs in row_groups(examples, max_tokens, packing)]


def row_groups(items: list, max_tokens: int, packing: bool = True, sequences=lambda item: [item]) -> list[list]:
    """The items of each row pack() makes, in order: examples, or anything whose sequences(item) share a row (the
    two sides of a preference pair)."""
    rows, current = [], []
    for item in items:
        if current and (not packing or row_length([s for x in current + [item] for s in sequences(x)]) > max_tokens):
            rows.append(current)
            current = []
        current.append(item)
    return rows + [current] if current else rows


def shared_prefix(a, b) -> int:
    """How many leading tokens two examples can hold once: the same ids, none of them a target (nor the token
    that follows, which the prefix's last position predicts), and at least one token of each left after."""
    limit = min(len(a.ids), len(b.ids)) - 1
    n = 0
    while n < limit and a.ids[n] == b.ids[n] and not (a.trained[n + 1] or b.trained[n + 1]):
        n += 1
    return n


def share_groups(encs: list) -> list[tuple[int, list[int]]]:
    """Consecutive examples that share a prefix of MIN_SHARED tokens or more, as (prefix length, their indices);
    an example alone has prefix 0. A group's prefix is what its first two members share; later ones need as much."""
    groups = []
    for k, enc in enumerate(encs):
        if groups:
            length, members = groups[-1]
            shared = shared_prefix(encs[members[0]], enc)
            if shared >= max(MIN_SHARED, length):
                groups[-1] = (length if len(members) > 1 else shared, members + [k])
                continue
        groups.append((0, [k]))
    return groups


def row_length(encs: list) -> int:
    """Tokens of a row of these examples, each shared prefix held once."""
    return sum(len(e.ids) for e in encs) - sum(length * (len(members) - 1) for length, members in share_groups(encs))


def make_row(encs: list, pad_id: int, decision_weight: int = 1) -> Row:
    """One row of these examples, in order (example k has doc id k, padding doc len(encs), shared prefixes the
    doc ids after it), padded."""
    ids, targets, positions, docs, context, counts = [], [], [], [], [], []

    def put(tokens, labels, start, doc, sees, times):
        ids.extend(tokens)
        targets.extend(labels)
        positions.extend(range(start, start + len(tokens)))
        docs.extend([doc] * len(tokens))
        context.extend([sees] * len(tokens))
        counts.extend(times)

    weighted = decision_weight != 1 and any(e.decisions for e in encs)
    prefix_doc = len(encs) + 1
    for length, members in share_groups(encs):
        if length:
            put(encs[members[0]].ids[:length], [IGNORE] * length, 0, prefix_doc, prefix_doc, [0] * length)
        for k in members:
            enc = encs[k]
            times = target_counts(enc, decision_weight)[length:] if weighted else []
            put(enc.ids[length:], shift_targets(enc.ids, enc.trained)[length:], length, k, prefix_doc if length else k,
                times)
        prefix_doc += bool(length)
    n_real = len(ids)
    pad = padded_length(n_real) - n_real
    put([pad_id] * pad, [IGNORE] * pad, 0, len(encs), len(encs), [0] * pad)
    as_row = lambda xs: torch.tensor([xs], dtype=torch.long)  # noqa: E731
    return Row(as_row(ids), as_row(targets), as_row(positions), torch.tensor(docs, dtype=torch.long), n_real,
               torch.tensor(context, dtype=torch.long), sum(len(e.ids) for e in encs),
               torch.tensor(counts, dtype=torch.long) if weighted else None)


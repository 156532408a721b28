"""Pack a step's examples into rows of at most N tokens (which examples form a step: desktune.data.schedule).

A packed row keeps, per token, which example it came from (doc id) and its position within that
example, so attention can be kept inside examples. targets[t] is the token the model must predict
at position t, or -100 where nothing trains (prompt tokens and example boundaries).

Rows are padded to one of a few lengths (the padding is one more "example" that never trains): CPU bf16
kernels cache per input shape, and unbounded distinct lengths grew memory step by step (the lengths:
desktune.plan.estimate.padded_length, which the planner sizes rows with).
"""

from dataclasses import dataclass

import torch

from desktune.plan.estimate import padded_length

IGNORE = -100


@dataclass
class Row:
    input_ids: torch.Tensor  # [1, T]
    targets: torch.Tensor  # [1, T]
    position_ids: torch.Tensor  # [1, T]
    doc_ids: torch.Tensor  # [T]
    n_real: int  # tokens before padding

    @property
    def n_trained(self) -> int:
        return int((self.targets != IGNORE).sum())


def shift_targets(ids: list[int], trained: list[bool]) -> list[int]:
    return [ids[t + 1] if trained[t + 1] else IGNORE for t in range(len(ids) - 1)] + [IGNORE]


def pack(examples: list, max_tokens: int, packing: bool = True, pad_id: int = 0) -> list[Row]:
    """Greedily pack examples (in order) into rows of at most max_tokens; one per row without packing."""
    rows, current, size = [], [], 0
    for enc in examples:
        if current and (not packing or size + len(enc.ids) > max_tokens):
            rows.append(make_row(current, pad_id))
            current, size = [], 0
        current.append(enc)
        size += len(enc.ids)
    if current:
        rows.append(make_row(current, pad_id))
    return rows


def make_row(encs: list, pad_id: int) -> Row:
    """One row of these examples, in order (example k has doc id k), padded."""
    ids, targets, positions, docs = [], [], [], []
    for doc, enc in enumerate(encs):
        ids += enc.ids
        targets += shift_targets(enc.ids, enc.trained)
        positions += range(len(enc.ids))
        docs += [doc] * len(enc.ids)
    n_real = len(ids)
    pad = padded_length(n_real) - n_real
    ids, targets, positions, docs = ids + [pad_id] * pad, targets + [IGNORE] * pad, positions + list(range(pad)), docs + [len(encs)] * pad
    as_row = lambda xs: torch.tensor([xs], dtype=torch.long)  # noqa: E731
    return Row(as_row(ids), as_row(targets), as_row(positions), torch.tensor(docs, dtype=torch.long), n_real)


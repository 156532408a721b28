"""One SFT step through the loop: this process's examples packed into rows, forward and backward, the loss a mean
over the whole step's trained tokens however rows and processes split them (pairs.py is the preference twin)."""

import contextlib

import torch

from desktune.data.pack import pack
from desktune.train.distributed import even_rows, sum_over_processes


def sft_step(t, indices: list[int], weight: float) -> tuple[float, int]:
    """Forward and backward over this process's examples of a step; returns the step's mean token loss and its
    real tokens."""
    cfg, accelerator, device = t.cfg, t.accelerator, t.accelerator.device
    batch = [t.data.train[i].encoded for i in indices]
    rows = pack(batch, cfg.train.micro_batch_tokens, cfg.data.packing, t.tokenizer.pad_token_id or 0,
                cfg.train.call_decision_weight)
    n_trained = sum_over_processes(accelerator, weight * sum(r.n_trained for r in rows), device)
    real_tokens = int(sum_over_processes(accelerator, weight * sum(r.example_tokens for r in rows), device))
    rows, n_rows = even_rows(rows, accelerator) if t.sharded else (rows, len(rows))
    loss_sum = torch.zeros((), device=device)
    for i, row in enumerate(rows):
        last = i == len(rows) - 1  # gradients are exchanged once per step, after the last row
        counts = weight if i < n_rows else 0.0  # rows that only keep sharded processes in step count 0
        with contextlib.nullcontext() if last else accelerator.no_sync(t.loss_fn):
            with accelerator.autocast():
                row_sum, _ = t.loss_fn(row)
            # the mean over the whole step's trained tokens, however rows and processes split them
            accelerator.backward(row_sum * (counts * accelerator.num_processes / n_trained))
        loss_sum += row_sum.detach() * counts
    return sum_over_processes(accelerator, loss_sum.item(), device) / n_trained, real_tokens

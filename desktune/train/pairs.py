"""Preference pairs through the loop: the reference pass before step 1, one step's rows, the held-out pairs.

The reference is the model as it is before step 1 (the base, or init_from's adapter), never a second copy: each
pair's two summed log-probabilities are computed once, kept in the training state (and in every checkpoint, so a
resumed run uses the very same numbers). Per step that saves the forward pass an adapter-off reference would cost
(benchmarks/preference_reference.py measures both).
"""

import contextlib
import time
from collections import Counter

import torch

from desktune.data.preference import pack_pairs
from desktune.train.distributed import sum_over_processes
from desktune.train.forward import sequence_logps
from desktune.train.objectives import means, pair_loss


def rows_of(t, pairs: list) -> list:
    """Pairs packed into rows of the run's size: [(row, positions of its pairs)]."""
    return pack_pairs(pairs, t.cfg.train.micro_batch_tokens, t.cfg.data.packing, t.tokenizer.pad_token_id or 0)


def beta(cfg) -> float:
    return cfg.dpo.beta if cfg.train.objective == "dpo" else cfg.orpo.beta


def split_sides(sums: torch.Tensor, counts: torch.Tensor) -> tuple:
    """Per-side tensors of a row (chosen = even examples, rejected = odd) as (chosen, rejected, their counts)."""
    return sums[0::2], sums[1::2], counts[0::2], counts[1::2]


@torch.no_grad()
def answer_logps(model, rows: list, n_pairs: int, device, autocast=contextlib.nullcontext) -> torch.Tensor:
    """[n_pairs, 2]: each pair's chosen and rejected summed log-probabilities by the model as it is now, without
    dropout (autocast: the training's precision). Before step 1 these are the reference's."""
    out = torch.zeros(n_pairs, 2)
    was_training = model.training
    model.eval()
    with autocast():
        for row, positions in rows:
            sums, _ = sequence_logps(model, row, device, 2 * len(positions))
            out[positions] = sums.view(-1, 2).cpu()
    model.train(was_training)
    return out


def pair_step(t, indices: list[int], weight: float) -> tuple[float, int, dict]:
    """Forward and backward over this process's pairs of a step (weight 0: it has none and only keeps in step);
    returns the step's loss, its real tokens and the mean rewards."""
    cfg, accelerator, device = t.cfg, t.accelerator, t.accelerator.device
    pairs = [t.data.train[i] for i in indices]
    rows = rows_of(t, pairs)
    totals = {"pairs": sum_over_processes(accelerator, weight * len(pairs), device),
              "chosen_tokens": sum_over_processes(accelerator, weight * sum(sum(p.chosen.trained) for p in pairs),
                                                  device)}
    real_tokens = int(sum_over_processes(accelerator, weight * sum(row.example_tokens for row, _ in rows), device))
    reference = t.state.reference["train"][indices].to(device) if cfg.train.objective == "dpo" else None
    loss_sum, sums = 0.0, Counter()
    for i, (row, positions) in enumerate(rows):
        last = i == len(rows) - 1  # gradients are exchanged once per step, after the last row
        with contextlib.nullcontext() if last else accelerator.no_sync(t.loss_fn):
            with accelerator.autocast():
                logps = split_sides(*t.loss_fn(row, 2 * len(positions)))
            loss, row_sums = pair_loss(cfg.train.objective, beta(cfg), logps,
                                       reference[positions] if reference is not None else None, totals, cfg.dpo.nll)
            accelerator.backward(loss * (weight * accelerator.num_processes))
        loss_sum += loss.item() * weight
        sums.update({k: v * weight for k, v in row_sums.items()})
    loss = sum_over_processes(accelerator, loss_sum, device)
    sums = {k: sum_over_processes(accelerator, v, device) for k, v in sums.items()}
    return loss, real_tokens, means(sums, totals)


@torch.no_grad()
def held_out(t) -> dict:
    """The held-out preference loss (eval_loss: what early stopping and the best checkpoint follow) and the eval_
    rewards; every process runs every held-out pair."""
    pairs, model = t.data.eval, t.judge
    reference = t.state.reference["eval"] if t.cfg.train.objective == "dpo" else None
    totals = {"pairs": len(pairs), "chosen_tokens": sum(sum(p.chosen.trained) for p in pairs)}
    was_training = model.training
    model.eval()
    loss, sums = 0.0, Counter()
    for row, positions in t.eval_rows:
        with t.accelerator.autocast():
            logps = split_sides(*sequence_logps(model, row, t.accelerator.device, 2 * len(positions)))
        part, row_sums = pair_loss(t.cfg.train.objective, beta(t.cfg), logps,
                                   reference[positions].to(t.accelerator.device) if reference is not None else None,
                                   totals, t.cfg.dpo.nll)
        loss += part.item()
        sums.update(row_sums)
    model.train(was_training)
    return {"eval_loss": loss, **means(sums, totals, "eval_")}


def compute_reference(t) -> None:
    """dpo: the reference log-probabilities of every pair, by the model before step 1 (kept in the state)."""
    started = time.perf_counter()
    t.state.reference = {split: answer_logps(t.model, rows_of(t, pairs), len(pairs), t.accelerator.device,
                                             t.accelerator.autocast)
                         for split, pairs in (("train", t.data.train), ("eval", t.data.eval))}
    t.reference_seconds = time.perf_counter() - started
    t.report.say(f"reference log-probabilities of {len(t.data.train) + len(t.data.eval)} pairs computed once, "
                 f"in {t.reference_seconds:.1f} s")

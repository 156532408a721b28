"""Held-out preference pairs, base vs tuned: how often each model gives the chosen answer the higher
log-probability, by how much, and the tuned model's DPO rewards with the base as the reference."""

import torch

from desktune.data.preference import pack_pairs
from desktune.infer.generate import base_model
from desktune.train.pairs import answer_logps


def preference_eval(model, pairs: list, row_tokens: int, beta: float, base_ref: str | None) -> dict:
    """base_ref: the model a full fine-tune started from (an adapter's base is the adapter switched off)."""
    rows = pack_pairs(pairs, row_tokens or 4096)
    device = next(model.parameters()).device
    tuned = answer_logps(model, rows, len(pairs), device)
    with base_model(model, base_ref):
        base = answer_logps(model, rows, len(pairs), device)
    tokens = torch.tensor([[sum(p.chosen.trained), sum(p.rejected.trained)] for p in pairs], dtype=torch.float32)
    rewards = beta * (tuned - base)
    return {"pairs": len(pairs), "base": _prefers(base, tokens), "tuned": _prefers(tuned, tokens),
            "against_base": {"beta": beta, "accuracy": _mean(rewards[:, 0] > rewards[:, 1]),
                             "margin": _mean(rewards[:, 0] - rewards[:, 1]),
                             "chosen": _mean(rewards[:, 0]), "rejected": _mean(rewards[:, 1])}}


def _prefers(logps: torch.Tensor, tokens: torch.Tensor) -> dict:
    """accuracy: share of pairs whose chosen answer has the higher summed log-probability (what DPO moves);
    margin: its mean lead in nats; per_token_accuracy: the same by mean log-probability per token (what ORPO
    compares, blind to length)."""
    per_token = logps / tokens
    return {"accuracy": _mean(logps[:, 0] > logps[:, 1]), "margin": _mean(logps[:, 0] - logps[:, 1]),
            "per_token_accuracy": _mean(per_token[:, 0] > per_token[:, 1])}


def _mean(values: torch.Tensor) -> float:
    return values.float().mean().item()

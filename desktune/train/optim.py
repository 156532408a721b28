"""Optimizer and learning rate: its auto value, and its schedule (a pure function of the step: warmup, then
cosine)."""

import math

import torch

# an adapter's auto lr for short answers, up to twice that for long ones (see choose_lr); for tool rows half
ADAPTER_LR, FULL_LR, SHORT_ANSWER, TOOL_LR = 1e-4, 2e-5, 40, 5e-5
# dpo with an adapter: 5x below SFT's. Measured on the built-in (benchmarks/README.md, captain set after the bundled
# SFT run): at 5e-6 (TRL's 20x ratio, the alignment-handbook's QLoRA DPO rate) the pairs separated at once but the
# greedy answers barely moved (trait 19/27, as with dpo.nll 1.0: 17/27); at 2e-5 23/27, neutral text -4.6%.
# A full fine-tune keeps TRL's DPO default, 1e-6 (not measured here)
PREFERENCE_ADAPTER_LR, PREFERENCE_FULL_LR = 2e-5, 1e-6


def lr_at(step: int, total: int, peak: float, warmup: float, min_ratio: float) -> float:
    """LR for optimizer step `step` (0-based) of `total`."""
    warm = max(1, round(total * warmup)) if warmup > 0 else 0
    if step < warm:
        return peak * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def make_optimizer(params, lr: float, weight_decay: float, device, fused: bool = True) -> torch.optim.Optimizer:
    # the fused kernel: one pass over the parameters instead of a loop of small ops; on CPU it updated 134M
    # parameters in 0.05 s instead of 0.70 s (benchmarks/README.md), which is most of a full fine-tune's step
    fused = fused and device.type in ("cuda", "cpu")  # not for FSDP's sharded parameters
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.999), fused=fused or None)


def choose_lr(cfg, answer_tokens: float, tools: bool = False) -> str:
    """Sets cfg.train.lr when it is auto (0); returns why it has its value. answer_tokens: trained tokens per
    training example (a pair's: its chosen answer's); tools: an adapter on the tool schedule
    (autoplan.tool_schedule)."""
    if cfg.train.lr:
        return "requested"
    if cfg.train.objective == "dpo":
        cfg.train.lr = PREFERENCE_FULL_LR if cfg.method == "full" else PREFERENCE_ADAPTER_LR
        if cfg.method == "full":
            return "auto: dpo moves an already good model by small steps (TRL's DPO default for a full fine-tune)"
        return "auto: dpo moves an already good model by small steps, 5x below an adapter's SFT rate"
    why = _sft_lr(cfg, answer_tokens, tools)
    if cfg.train.objective == "orpo":  # its loss is SFT's on the chosen answers plus a small odds-ratio term
        why += "; orpo learns the chosen answers as SFT does, at SFT's rate"
    return why


def _sft_lr(cfg, answer_tokens: float, tools: bool) -> str:
    if cfg.method == "full":
        cfg.train.lr = FULL_LR
        return "auto: every weight moves, so 10x gentler than an adapter"
    # Tool rows (~42 trained tokens each) forget neutral text as fast as they learn their calls: at the same
    # held-out loss ~0.6 the bundled tool set cost +0.6% at 5e-5, +2.1% at 1e-4, ~+5% at 2e-4 (benchmarks/README.md);
    # the lower rate spends the budget on a 4th epoch instead (autoplan.TOOL_EPOCHS)
    if tools:
        cfg.train.lr = TOOL_LR
        return "auto: tool rows, an adapter at half its chat rate: calls learned for less forgetting"
    # Measured on the built-in (benchmarks/README.md): short answers learn their form at 1e-4 and forget more
    # at 2e-4 (the bundled example's neutral perplexity +5% against +24%; 30-token pet-shop answers +15% at 2e-4),
    # while 170-token answers need 2e-4 to learn theirs (8 of 16 ended at 1e-4, 16 of 16 at 2e-4)
    scale = min(2.0, max(1.0, (answer_tokens / SHORT_ANSWER) ** 0.5))
    cfg.train.lr = float(f"{ADAPTER_LR * scale:.2g}")
    return (f"auto: an adapter, {ADAPTER_LR:g} for short answers, up to twice that for long ones "
            f"(here {answer_tokens:.0f} trained tokens per example)")

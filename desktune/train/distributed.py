"""Data parallelism on top of accelerate (launched by `accelerate launch` or `torchrun`).

Every process builds the same data and the same step batches; each takes every world_size-th example
of a step, and gradients are averaged by torch DDP. Scaling each process's loss by world_size / (trained
tokens in the whole step) makes the averaged gradient exactly the single-process one.
"""

import os

import torch


def is_main_process() -> bool:
    """Before accelerate starts: torchrun and accelerate launch name each process's rank in RANK."""
    return int(os.environ.get("RANK", "0")) == 0


def my_share(items: list, accelerator) -> list:
    return items[accelerator.process_index::accelerator.num_processes]


def sum_over_processes(accelerator, value: float, device) -> float:
    """The sum of value over all processes."""
    if accelerator.num_processes == 1:
        return value
    return float(accelerator.reduce(torch.tensor(float(value), dtype=torch.float64, device=device), "sum"))


def step_seed(seed: int, step: int, rank: int) -> int:
    """Dropout randomness from (seed, step, process): a resumed run draws what the uninterrupted one drew."""
    return (seed * 1_000_003 + step * 9_176 + rank) % (2**63)

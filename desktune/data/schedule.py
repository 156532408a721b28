"""Which examples form each optimizer step: one shuffled order per epoch, a pure function of the seed and the
epoch, so a resumed run recomputes exactly the batches it would have seen."""

import math
import random


class Schedule:
    """Steps per epoch and the examples of step k, for n_examples taken batch_size at a time."""

    def __init__(self, n_examples: int, batch_size: int, seed: int):
        self.n_examples, self.batch_size, self.seed = n_examples, batch_size, seed
        self.per_epoch = max(1, -(-n_examples // batch_size))
        self._cached: tuple[int, list[int]] | None = None  # (epoch, its order): steps run one epoch at a time

    def total(self, epochs: float, max_steps: int = 0) -> int:
        """Optimizer steps in the whole run: max_steps when set, else the epochs' worth."""
        return max_steps or math.ceil(epochs * self.per_epoch)

    def order(self, epoch: int) -> list[int]:
        """The example order of one epoch."""
        if self._cached is None or self._cached[0] != epoch:
            order = list(range(self.n_examples))
            random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
            self._cached = (epoch, order)
        return self._cached[1]

    def batch(self, step: int) -> list[int]:
        """Indices of the examples of step `step` (0-based, counted across epochs)."""
        epoch, index = divmod(step, self.per_epoch)
        return self.order(epoch)[index * self.batch_size:(index + 1) * self.batch_size]

"""TrainState: everything besides weights and optimizer that a resumed run needs, as a plain dict."""

import random
from dataclasses import asdict, dataclass, field, replace

import torch


@dataclass
class TrainState:
    step: int = 0  # optimizer steps done; the data position is a pure function of it (see data/pack.py)
    epoch: float = 0.0
    tokens: int = 0
    best_eval: float | None = None  # the eval loss at best_step
    best_score: float | None = None  # what evaluations are judged by: the eval loss, or the calls' loss (tool rows)
    best_step: int = 0
    evals_without_gain: int = 0
    loss: list = field(default_factory=list)  # [step, loss] pairs
    eval_loss: list = field(default_factory=list)  # [step, eval_loss] pairs; step 0 is before training
    stop_reason: str = ""
    neutral_base: float | None = None  # the base's loss on neutral text (forgetting guard)
    forgetting: list = field(default_factory=list)  # [step, neutral perplexity change in %] pairs
    # dpo: {"train": [pairs, 2], "eval": [pairs, 2]} tensors of the reference's log-probabilities (computed before
    # step 1; checkpoints keep them in reference.safetensors, not in state.json)
    reference: dict | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        d = asdict(replace(self, reference=None))
        del d["reference"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainState":
        return cls(**({"best_score": d.get("best_eval")} | d))  # a checkpoint from before best_score judged by eval

    def record_eval(self, step: int, value: float, min_delta: float, within_budget: bool = True,
                    score: float | None = None) -> bool:
        """Note an eval loss; True when its score (the eval loss unless given) is the best so far among those that
        forget within the budget."""
        self.eval_loss.append([step, value])
        score = value if score is None else score
        if within_budget and (self.best_score is None or score < self.best_score - min_delta):
            self.best_eval, self.best_score, self.best_step, self.evals_without_gain = value, score, step, 0
            return True
        self.evals_without_gain += 1
        return False


def rng_state() -> dict:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if torch.backends.mps.is_available():
        state["mps"] = torch.mps.get_rng_state()
    try:
        import numpy

        state["numpy"] = numpy.random.get_state()
    except ImportError:
        pass
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "mps" in state and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps"])
    if "numpy" in state:
        import numpy

        numpy.random.set_state(state["numpy"])

"""Failing safely: Ctrl-C, device out-of-memory and a diverged loss, each as one clear outcome."""

import signal

import torch

from desktune.errors import RunError


def catch_ctrl_c():
    """First Ctrl-C: finish the step, checkpoint, exit 130. A second one stops at once."""
    pressed = []

    def handler(signum, frame):
        if pressed:
            raise KeyboardInterrupt
        pressed.append(True)
        print("\nCtrl-C: finishing this step and writing a checkpoint (again to stop at once)", flush=True)

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave Ctrl-C as it is
        pass
    return lambda: bool(pressed)


def release_ctrl_c() -> None:
    """After the steps, Ctrl-C stops at once again."""
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:
        pass


class plain_out_of_memory:
    """Device out-of-memory becomes one clear error with what to change."""

    def __init__(self, cfg):
        self.cfg = cfg

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        if kind is not None and issubclass(kind, torch.OutOfMemoryError):
            raise RunError("the device ran out of memory during a training step",
                           f"lower train.micro_batch_tokens (now {self.cfg.train.micro_batch_tokens}) or "
                           f"data.max_length (now {self.cfg.data.max_length}), then continue with --resume") from None
        return False


def diverged(cfg, state, loss, checkpoint) -> RunError:
    kept = f"last good checkpoint: {checkpoint}" if checkpoint else "no checkpoint was written yet"
    return RunError(f"the loss became {loss} at step {state.step + 1}; training stopped ({kept})",
                    f"lower train.lr (now {cfg.train.lr:g}) or use train.precision=fp32, then train again")

"""Failing safely: Ctrl-C, device out-of-memory and a diverged loss, each as one clear outcome."""

import signal
from contextlib import contextmanager
from typing import Callable

import torch

from desktune.errors import RunError


@contextmanager
def ctrl_c_finishes_the_step():
    """Inside, a first Ctrl-C asks to stop after this step (yields: was it pressed?); a second one stops at once.
    On the way out, however it is left, Ctrl-C does again what it did before."""
    pressed = []

    def handler(signum, frame):
        if pressed:
            raise KeyboardInterrupt
        pressed.append(True)
        print("\nCtrl-C: finishing this step and writing a checkpoint (again to stop at once)", flush=True)

    before = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave Ctrl-C as it is
        before = None
    try:
        yield lambda: bool(pressed)
    finally:
        if before is not None:  # None too when a handler set outside Python was there: it cannot be put back
            signal.signal(signal.SIGINT, before)


@contextmanager
def failure_recorded(run, step_at: Callable[[], int], close: Callable[[], None]):
    """Whatever stops a run (an error, a diverged loss, Ctrl-C): close its files (close), mark it no longer
    running and, for anything but Ctrl-C, write failed.json with the cause and step_at() (the step in progress).
    run: None in processes that do not write the run folder. Checkpoints stay: --resume takes the last good one."""
    failure = None
    try:
        yield
    except KeyboardInterrupt:  # a checkpoint was written, or the last one stands: resumable, not failed
        raise
    except BaseException as e:
        failure = e
        raise
    finally:
        close()
        if run is not None and failure is not None:
            run.mark_failed(getattr(failure, "message", None) or f"{type(failure).__name__}: {failure}",
                            type(failure).__name__, step_at())
        if run is not None:
            run.mark_stopped()


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

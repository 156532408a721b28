"""Reporting only: metric lines to metrics.jsonl and train.log, and progress on the terminal.

On a terminal a live bar shows the latest step; evaluations stay on screen as lines. Elsewhere (CI, a
pipe, a log file) every step is one plain line.
"""

import json
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn


class Reporter:
    def __init__(self, run, total_steps: int, report_to: str = "none"):
        self.run, self.total = run, total_steps
        self.tensorboard = _tensorboard_writer(run.tensorboard) if report_to == "tensorboard" else None
        self.console = Console(highlight=False)
        self.started = time.perf_counter()
        self.metrics = open(run.metrics, "a", encoding="utf-8")
        self.log_file = open(run.log, "a", encoding="utf-8")
        self.live = None
        if sys.stdout.isatty():
            self.live = Progress(BarColumn(bar_width=16), MofNCompleteColumn(), TextColumn("{task.description}"),
                                 console=self.console, transient=True)
            self.task = self.live.add_task("starting", total=total_steps)

    def say(self, text: str) -> None:
        self.console.print(text, soft_wrap=True)
        self._log(text)

    def step(self, record: dict) -> None:
        self.metrics.write(json.dumps(record) + "\n")
        self.metrics.flush()
        if self.tensorboard is not None:
            for key, value in record.items():
                if key not in ("step", "epoch", "tokens"):
                    self.tensorboard.add_scalar(f"train/{key}", value, record["step"])
            self.tensorboard.flush()
        parts = self._parts(record)
        line = "  ".join(parts)
        self._log(line)
        if self.live is None:
            self.console.print(line, soft_wrap=True)
            return
        if not self.live.live.is_started:
            self.live.start()
        short = [p for p in parts if not p.startswith(("step", "lr "))]
        self.live.update(self.task, completed=record["step"], description=" ".join(short))
        if "eval_loss" in record:
            self.live.console.print(line, soft_wrap=True)

    def end_steps(self) -> None:
        """Training is over: take the live bar down so the summary prints below the last lines."""
        if self.live is not None:
            self.live.stop()
            self.live = None

    def close(self) -> None:
        """Take the bar down and close every file; closing again does nothing."""
        self.end_steps()
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None
        self.metrics.close()
        self.log_file.close()

    def _parts(self, record: dict) -> list[str]:
        elapsed = time.perf_counter() - self.started
        eta = elapsed / record["step"] * (self.total - record["step"])
        parts = [f"step {record['step']:>4}/{self.total}", f"loss {record['loss']:.4f}"]
        if "rewards/accuracies" in record:
            parts.append(f"acc {record['rewards/accuracies']:.2f} margin {record['rewards/margins']:+.3f}")
        if "eval_loss" in record:
            parts.append(f"eval {record['eval_loss']:.4f}")
        if "calls_loss" in record:
            parts.append(f"calls {record['calls_loss']:.4f}")
        if "eval_rewards/accuracies" in record:
            parts.append(f"eval acc {record['eval_rewards/accuracies']:.2f} "
                         f"margin {record['eval_rewards/margins']:+.3f}")
        if "forgetting_pct" in record:
            parts.append(f"neutral {record['forgetting_pct']:+.1f}%")
        parts += [f"lr {record['lr']:.2e}", f"{record['tokens_per_s']:.0f} tok/s",
                  f"{record['memory_gb']:.2f} GB", f"ETA {_clock(eta)}"]
        return parts

    def _log(self, text: str) -> None:
        self.log_file.write(text + "\n")
        self.log_file.flush()


class Silent:
    """The Reporter of processes other than the main one in a multi-process run: they report nothing."""

    def say(self, text: str) -> None:
        pass

    def step(self, record: dict) -> None:
        pass

    def end_steps(self) -> None:
        pass

    def close(self) -> None:
        pass


def _tensorboard_writer(folder):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        from desktune.errors import ConfigError

        raise ConfigError("train.report_to=tensorboard needs the tensorboard package", "pip install tensorboard") from None
    return SummaryWriter(log_dir=str(folder))


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"

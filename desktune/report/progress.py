"""Reporting only: metric lines to metrics.jsonl and train.log, and progress on the terminal."""

import json
import sys
import time

from rich.console import Console


class Reporter:
    def __init__(self, run, total_steps: int):
        self.run, self.total = run, total_steps
        self.console = Console(stderr=False, highlight=False)
        self.tty = sys.stdout.isatty()
        self.started = time.perf_counter()
        self.metrics = open(run.metrics, "a", encoding="utf-8")
        self.log_file = open(run.log, "a", encoding="utf-8")

    def say(self, text: str) -> None:
        self.console.print(text)
        self.log_file.write(text + "\n")
        self.log_file.flush()

    def step(self, record: dict) -> None:
        self.metrics.write(json.dumps(record) + "\n")
        self.metrics.flush()
        elapsed = time.perf_counter() - self.started
        eta = elapsed / record["step"] * (self.total - record["step"])
        parts = [f"step {record['step']:>4}/{self.total}", f"loss {record['loss']:.4f}"]
        if "eval_loss" in record:
            parts.append(f"eval {record['eval_loss']:.4f}")
        parts += [f"lr {record['lr']:.2e}", f"{record['tokens_per_s']:.0f} tok/s",
                  f"{record['memory_gb']:.2f} GB", f"ETA {_clock(eta)}"]
        line = "  ".join(parts)
        self.log_file.write(line + "\n")
        self.log_file.flush()
        self.console.print(f"[bold]{line}[/]" if self.tty and "eval_loss" in record else line)

    def close(self) -> None:
        self.metrics.close()
        self.log_file.close()


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"

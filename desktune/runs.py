"""RunDir: the one place that knows the run-folder layout."""

import json
import os
import shutil
from pathlib import Path

import yaml

from desktune.errors import RunError
from desktune.files import write_atomic


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    config = property(lambda self: self.path / "config.yaml")
    data_json = property(lambda self: self.path / "data.json")
    decisions_json = property(lambda self: self.path / "decisions.json")  # every 'auto' decided, and why
    plan_json = property(lambda self: self.path / "plan.json")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    log = property(lambda self: self.path / "train.log")
    adapter = property(lambda self: self.path / "adapter")
    model_dir = property(lambda self: self.path / "model")  # method=full: the whole tuned model instead
    summary = property(lambda self: self.path / "summary.json")
    samples = property(lambda self: self.path / "samples.md")
    report_md = property(lambda self: self.path / "report.md")
    loss_png = property(lambda self: self.path / "loss.png")
    eval_json = property(lambda self: self.path / "eval.json")
    tensorboard = property(lambda self: self.path / "tensorboard")
    merged = property(lambda self: self.path / "merged")  # desktune merge's default output folder
    export = property(lambda self: self.path / "export")  # desktune export's default output folder
    checkpoints = property(lambda self: self.path / "checkpoints")
    running_file = property(lambda self: self.path / "running.pid")
    failed_file = property(lambda self: self.path / "failed.json")

    def refuse_existing(self, overwrite: bool) -> None:
        """An existing non-empty run folder is an error unless overwrite is asked for."""
        if self.path.exists() and any(self.path.iterdir()) and not overwrite:
            saved = sorted(self.checkpoints.glob("step-*"))
            if saved:
                raise RunError(f"run folder {self.path} already holds a checkpoint ({saved[-1].name})",
                               "pass --resume to continue from it, or --overwrite to start again")
            raise RunError(f"run folder {self.path} already exists",
                           "pass --overwrite to replace it, or set output=runs/NEW_NAME")

    def create(self, overwrite: bool) -> None:
        """Make a fresh run folder (called once model and data have loaded, so a mistake loses nothing)."""
        self.refuse_existing(overwrite)
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)

    def trim_metrics(self, step: int) -> None:
        """Drop metric lines logged after `step` (a resumed run logs them again)."""
        if self.metrics.exists():
            kept = [line for line in self.metrics.read_text().splitlines(keepends=True)
                    if line.strip() and json.loads(line)["step"] <= step]
            write_atomic(self.metrics, "".join(kept))

    def mark_running(self) -> None:
        self.failed_file.unlink(missing_ok=True)
        write_atomic(self.running_file, str(os.getpid()))

    def mark_failed(self, message: str, kind: str, step: int) -> None:
        """failed.json: what stopped the run (the message, the exception's type) and at which step."""
        if self.path.is_dir():
            self.write_json(self.failed_file, {"error": message, "type": kind, "step": step})

    def mark_stopped(self) -> None:
        self.running_file.unlink(missing_ok=True)

    def status(self) -> str:
        """running | finished | stopped early | failed | resumable | incomplete"""
        if self.running_file.exists() and _alive(int(self.running_file.read_text() or 0)):
            return "running"
        if self.summary.exists():
            reason = json.loads(self.summary.read_text()).get("stop_reason", "")
            return "stopped early" if reason.startswith("early stopping") else "finished"
        if self.failed_file.exists():
            return "failed"
        return "resumable" if any(self.checkpoints.glob("step-*")) else "incomplete"

    def running_pid(self) -> int | None:
        """The pid of the live training process writing this run, if any."""
        if self.status() != "running":
            return None
        return int(self.running_file.read_text())

    def read_metrics(self, offset: int = 0) -> tuple[list[dict], int]:
        """Metric records from byte offset on (whole lines only: a line being written waits), and the next offset."""
        if not self.metrics.exists():
            return [], 0
        with open(self.metrics, "rb") as f:
            f.seek(offset)
            chunk = f.read()
        whole = chunk[:chunk.rfind(b"\n") + 1]
        return [json.loads(line) for line in whole.splitlines() if line.strip()], offset + len(whole)

    def read_json(self, path: Path) -> dict:
        return json.loads(path.read_text()) if path.exists() else {}

    def decisions(self) -> dict[str, str]:
        """Every 'auto' decision and its reason ({} for a run folder from before decisions.json)."""
        return self.read_json(self.decisions_json)

    def call_share(self) -> float | None:
        """The share of requests the training rows answered with a call (None: no tool rows, every request called,
        or a run from before data.json said)."""
        return (self.read_json(self.data_json).get("tool_use") or {}).get("call_share")

    def overview(self) -> dict:
        """The fields of one row of `desktune runs`, unformatted."""
        # libyaml when present: ten times faster, and a folder of hundreds of runs is listed at once
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        cfg = (yaml.load(self.config.read_text(), Loader=loader) if self.config.exists() else None) or {}
        s = self.read_json(self.summary)
        speeds = [m["tokens_per_s"] for m in self.read_metrics()[0]]
        return {"run": self.path.name, "model": str(cfg.get("model", "?")).rsplit("/", 1)[-1],
                "method": str(cfg.get("method", "?")),
                "data": str((cfg.get("data") or {}).get("train", "?")).rsplit("/", 1)[-1],
                "steps": s.get("steps_done") if s else (len(speeds) or None),
                "best_eval": s.get("best_eval_loss"), "seconds": s.get("seconds"),
                "tokens_per_s": sum(speeds) / len(speeds) if speeds else None, "status": self.status()}

    @property
    def is_full(self) -> bool:
        return (self.model_dir / "config.json").exists()

    def require_adapter(self) -> None:
        if not self.path.is_dir():
            raise RunError(f"run folder not found: {self.path}", "give a folder made by 'desktune train' (see 'ls runs')")
        if self.is_full:
            raise RunError(f"{self.path} is a full fine-tune: it has no adapter, {self.model_dir} is the whole model",
                           f"use {self.model_dir} directly (it is a plain transformers folder)")
        if not (self.adapter / "adapter_config.json").exists():
            raise RunError(f"{self.path} has no trained adapter (adapter/adapter_config.json)",
                           "the run did not finish; train it again or pick another run")

    def require_trained(self) -> None:
        """A finished run: its adapter, or (method=full) its whole model."""
        if not self.is_full:
            self.require_adapter()

    def require_model(self) -> None:
        """A finished run, or a plain transformers model folder (a merged model)."""
        if self.path.is_dir() and (self.path / "config.json").exists():
            return
        self.require_trained()

    def read_config(self) -> dict:
        return yaml.safe_load(self.config.read_text())

    def write_json(self, path: Path, obj) -> None:
        write_atomic(path, json.dumps(obj, indent=2, default=str) + "\n")

    def write_yaml(self, path: Path, obj, header: str = "") -> None:
        write_atomic(path, header + yaml.safe_dump(obj, sort_keys=False))


def list_runs(folder: str | Path) -> list[RunDir]:
    """Run folders (those with a config.yaml) directly under folder, oldest first."""
    root = Path(folder)
    if not root.is_dir():
        raise RunError(f"no runs folder at {root}", "train something first, or give the folder that holds your runs")
    runs = [RunDir(p) for p in root.iterdir() if (p / "config.yaml").exists()]
    return sorted(runs, key=lambda r: r.config.stat().st_mtime)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return pid > 0

"""Whatever stops a step of train() (the library, no CLI around it): Ctrl-C back as it was, files closed,
failed.json with the cause, no running.pid, and a run that resumes to the same end."""

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import example_rows, write_jsonl
from desktune.config import load_config
from desktune.errors import DataError
from desktune.runs import RunDir
from desktune.train import loop
from desktune.train.forward import RowLoss

STEPS = 6
pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="open files are read from /proc")


def train_run(model, data, out, resume=False) -> RunDir:
    cfg = load_config(None, [f"model={model}", f"data.train={data}", f"output={out}", f"train.max_steps={STEPS}",
                             "train.batch_size=4", "train.save_every=2", "train.eval_every=3", "train.early_stopping=0",
                             "train.lr=1e-2", "train.report_to=tensorboard"])
    run = RunDir(out)
    loop.train(cfg, run, samples=0, resume=resume, overwrite=not resume)
    return run


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("failure") / "d.jsonl", example_rows(30))


@pytest.fixture(scope="module")
def reference(tiny_models, data, tmp_path_factory):
    return train_run(tiny_models["llama"], data, tmp_path_factory.mktemp("failure") / "reference")


def fail_in_step(monkeypatch, step: int, failure) -> None:
    """The forward pass of optimizer step `step` (1-based) raises failure, or, failure 'nan', returns a NaN loss."""
    current = {}
    real_lr_at, real_forward = loop.lr_at, RowLoss.forward

    def lr_at(done, *args):  # called once at the start of each step
        current["step"] = done + 1
        return real_lr_at(done, *args)

    def forward(self, row):
        loss, count = real_forward(self, row)
        if current.get("step") == step:
            if failure == "nan":
                return loss * float("nan"), count
            raise failure
        return loss, count

    monkeypatch.setattr(loop, "lr_at", lr_at)
    monkeypatch.setattr(RowLoss, "forward", forward)


def open_files_under(folder: Path) -> list[str]:
    paths = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            paths.append(os.readlink(fd))
        except OSError:  # the listing's own descriptor, closed by now
            pass
    return [p for p in paths if p.startswith(str(folder))]


def losses(run: RunDir) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in run.read_metrics()[0]}


FAILURES = {  # name: (what the step raises, at which step, failed.json's type and the start of its message)
    "out of memory": (torch.OutOfMemoryError("CUDA out of memory"), 4, "RunError", "the device ran out of memory"),
    "bug": (RuntimeError("a bug in a step"), 1, "RuntimeError", "RuntimeError: a bug in a step"),
    "data": (DataError("row 7 cannot be read", "fix row 7"), 3, "DataError", "row 7 cannot be read"),
    "nan loss": ("nan", 4, "RunError", "the loss became nan at step 4"),
    "ctrl-c": (KeyboardInterrupt(), 5, None, None),
}


@pytest.mark.parametrize("name", FAILURES)
def test_a_failed_step_leaves_a_closed_marked_resumable_run(name, tiny_models, data, reference, tmp_path, monkeypatch):
    failure, step, kind, message = FAILURES[name]
    out = tmp_path / "run"
    fail_in_step(monkeypatch, step, failure)
    before = signal.signal(signal.SIGINT, lambda signum, frame: None)  # not the default: it must come back as is
    mine = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(KeyboardInterrupt if name == "ctrl-c" else Exception):
            train_run(tiny_models["llama"], data, out)
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, before)

    run = RunDir(out)
    assert open_files_under(out) == [], "metrics.jsonl, train.log and the TensorBoard file are closed"
    assert not run.running_file.exists() and not run.summary.exists()
    if kind is None:
        assert not run.failed_file.exists() and run.status() == "resumable"
    else:
        failed = json.loads(run.failed_file.read_text())
        assert failed["type"] == kind and failed["error"].startswith(message) and failed["step"] == step
        assert run.status() == "failed"
    saved = sorted(run.checkpoints.glob("step-*"))
    assert [p.name for p in saved] == [f"step-{s:06d}" for s in range(2, step, 2)][-2:], "none of the failed step"
    for path in saved:
        assert all(torch.isfinite(w).all() for w in load_file(path / "adapter_model.safetensors").values())

    monkeypatch.undo()
    resumed = train_run(tiny_models["llama"], data, out, resume=True)
    assert json.loads(resumed.summary.read_text())["steps_done"] == STEPS
    assert not resumed.failed_file.exists() and resumed.status() == "finished"
    ours, ref = losses(resumed), losses(reference)
    assert sorted(ours) == list(range(1, STEPS + 1))
    assert all(abs(ours[s] - ref[s]) < 1e-5 for s in ref), "resumed from the last checkpoint, or from step 0"


def test_decisions_are_data_written_again_on_resume(tiny_models, data, reference, tmp_path):
    decisions = reference.decisions()
    assert decisions == json.loads(reference.decisions_json.read_text())
    assert decisions["template"] == "llama3" and decisions["steps"].startswith(f"{STEPS} (")
    reference.decisions_json.unlink()
    assert reference.decisions() == {}, "a run folder from before decisions.json"
    train_run(tiny_models["llama"], data, reference.path, resume=True)  # finished: nothing left to train
    assert reference.decisions() == decisions

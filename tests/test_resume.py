"""Never lose a run: SIGKILL at random moments (one inside a checkpoint write), NaN, early stopping."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from conftest import example_rows, write_jsonl
from desktune.cli import main
from desktune.data.schedule import Schedule

STEPS = 12


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("resume") / "d.jsonl", example_rows(40))


def train_args(model, data, out, *extra):
    return [f"model={model}", f"data.train={data}", f"output={out}", f"train.max_steps={STEPS}", "train.batch_size=4",
            "train.save_every=2", "train.eval_every=4", "train.early_stopping=0", "train.lr=1e-2", "--samples=0", *extra]


def launch(args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "desktune", "train", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def kill_when(proc, condition, timeout=60.0) -> bool:
    """SIGKILL proc as soon as condition() holds; False if it finished first."""
    end = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < end:
        if condition():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.0005)
    proc.wait()
    return False


def assert_checkpoints_readable(run):
    for ckpt in (run / "checkpoints").glob("step-*"):
        json.loads((ckpt / "state.json").read_text())
        load_file(ckpt / "adapter_model.safetensors")
        torch.load(ckpt / "optimizer.pt", weights_only=True)
        torch.load(ckpt / "rng.pt", weights_only=False)


def losses(run):
    return {r["step"]: r["loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())}


def test_sigkill_anywhere_then_resume_gives_the_same_adapter(tiny_models, data_file, tmp_path):
    model = tiny_models["llama"]
    reference = tmp_path / "reference"
    assert main(["train", *train_args(model, data_file, reference)]) == 0

    run = tmp_path / "killed"
    rng = random.Random(1)
    in_write = lambda: any((run / "checkpoints").glob(".tmp-step-*"))  # noqa: E731
    conditions = [in_write] + [lambda d=rng.uniform(3.0, 6.0): time.monotonic() > started + d for _ in range(3)]
    kills, flag = [], "--overwrite"
    for condition in conditions:
        started = time.monotonic()
        proc = launch(train_args(model, data_file, run, flag))
        kills.append(kill_when(proc, condition))
        assert_checkpoints_readable(run)
        if (run / "summary.json").exists():
            break
        flag = "--resume" if list((run / "checkpoints").glob("step-*")) else "--overwrite"
    assert kills[0], "the first kill lands inside a checkpoint write"
    assert sum(kills) >= 2, "the test must really interrupt the run"
    if not (run / "summary.json").exists():
        proc = launch(train_args(model, data_file, run, flag))
        assert proc.wait() == 0, proc.stderr.read()

    assert_checkpoints_readable(run)
    ours, ref = losses(run), losses(reference)
    assert sorted(ours) == list(range(1, STEPS + 1))
    assert all(abs(ours[s] - ref[s]) < 1e-5 for s in ref)
    a, b = load_file(run / "adapter" / "adapter_model.safetensors"), load_file(reference / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_resume_refuses_a_changed_config(tiny_models, data_file, tmp_path, capsys):
    run = tmp_path / "run"
    args = train_args(tiny_models["llama"], data_file, run)
    assert main(["train", *args]) == 0
    assert main(["train", *args, "train.lr=5e-3", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "changed since the checkpoint: train.lr 0.01 -> 0.005" in err and "--allow-changes" in err


def test_absurd_learning_rate_stops_on_nan_and_keeps_the_last_good_checkpoint(tiny_models, data_file, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", *train_args(tiny_models["llama"], data_file, run, "train.lr=1e30", "train.save_every=1",
                                      "train.max_grad_norm=0")])
    err = capsys.readouterr().err
    assert code == 2
    assert "error: the loss became" in err and "last good checkpoint" in err and "hint: lower train.lr" in err
    assert_checkpoints_readable(run)
    saved = sorted((run / "checkpoints").glob("step-*"))
    assert saved, "a good checkpoint was written before the loss went bad"
    weights = load_file(saved[-1] / "adapter_model.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_early_stopping_keeps_the_best_adapter_and_shows_its_answers(tiny_models, tmp_path):
    from desktune.infer.generate import Sampling, generate, load_run
    from desktune.infer.samples import answer_limit, prompt_of
    from desktune.runs import RunDir

    rows = example_rows(30)
    data = write_jsonl(tmp_path / "small.jsonl", rows)
    run = tmp_path / "run"
    assert main(["train", f"model={tiny_models['llama']}", f"data.train={data}", f"output={run}", "data.eval=0.25",
                 "train.max_steps=30", "train.batch_size=4", "train.eval_every=2", "train.early_stopping=2",
                 "train.lr=0.1", "--samples=2"]) == 0  # a high rate: the tiny model plateaus within 30 steps
    summary = json.loads((run / "summary.json").read_text())
    evals = {r["step"]: r["eval_loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
             if "eval_loss" in r}
    assert summary["stop_reason"].startswith("early stopping") and summary["steps_done"] < 30
    assert summary["best_step"] == min(evals, key=evals.get) and summary["best_eval_loss"] == min(evals.values())
    assert max(evals) > summary["best_step"], "later evaluations were worse"
    final = load_file(run / "adapter" / "adapter_model.safetensors")
    best = load_file(run / "checkpoints" / "best" / "adapter_model.safetensors")
    last = load_file(sorted((run / "checkpoints").glob("step-*"))[-1] / "adapter_model.safetensors")
    assert all(torch.equal(final[k], best[k]) for k in final)
    assert not all(torch.equal(final[k], last[k]) for k in final)
    # the answers shown at the end are the saved model's, not the last step's
    samples = (run / "samples.md").read_text()
    model, chat = load_run(RunDir(run))
    shown = [r["messages"] for r in rows if f"### {prompt_of(r['messages'])[-1]['content']}\n" in samples]
    assert len(shown) == 2
    for messages in shown:
        reply = generate(model, chat, prompt_of(messages), Sampling(answer_limit(chat.tokenizer, shown)))
        assert f"**tuned:** {reply.text}\n" in samples


def test_ctrl_c_finishes_the_step_writes_a_checkpoint_and_exits_130(tiny_models, data_file, tmp_path):
    run = tmp_path / "run"
    args = train_args(tiny_models["llama"], data_file, run, "train.max_steps=400", "train.save_every=0")
    proc = launch(args)
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while not (metrics.exists() and metrics.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    saved = sorted((run / "checkpoints").glob("step-*"))
    assert len(saved) == 1 and 0 < json.loads((saved[0] / "state.json").read_text())["step"] < 400
    assert "continue with --resume" in (run / "train.log").read_text()
    assert_checkpoints_readable(run)


def test_resume_refuses_changed_data(tiny_models, data_file, tmp_path, capsys):
    run, data = tmp_path / "run", tmp_path / "d.jsonl"
    data.write_text(data_file.read_text())
    args = train_args(tiny_models["llama"], data, run)
    assert main(["train", *args]) == 0
    data.write_text(data_file.read_text().replace("Ahoy", "Hello"))
    assert main(["train", *args, "--resume"]) == 2
    assert "changed since the checkpoint: the training or eval data" in capsys.readouterr().err


def test_the_schedule_keeps_the_order_checkpoints_were_made_with():
    """A checkpoint stores its step, not the order: each epoch's order must stay what it was when it was saved."""
    schedule = Schedule(10, 4, seed=7)
    assert schedule.per_epoch == 3 and schedule.total(2.5) == 8 and schedule.total(2.5, max_steps=5) == 5
    assert [schedule.batch(k) for k in range(6)] == [[0, 6, 9, 7], [5, 1, 4, 8], [3, 2],  # epoch 0
                                                     [5, 9, 0, 1], [7, 6, 8, 4], [3, 2]]  # epoch 1
    assert schedule.batch(1) == [5, 1, 4, 8], "going back an epoch (a resume) gives the same batch"

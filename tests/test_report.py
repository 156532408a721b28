"""report.md + loss.png, the runs table with every status, and TensorBoard files tensorboard can read."""

import signal
import subprocess
import sys
import time

from conftest import example_rows, write_jsonl
from desktune.cli import main
from desktune.runs import RunDir


def train(tiny_models, data, out, *extra):
    return main(["train", f"model={tiny_models['llama']}", f"data.train={data}", f"output={out}", "train.max_steps=8",
                 "train.eval_every=4", "train.eval_samples=0", "train.lr=1e-2", "--samples=0", *extra])


def test_report_and_runs_table(tiny_models, tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", example_rows(30))
    runs = tmp_path / "runs"
    assert train(tiny_models, data, runs / "done", "train.report_to=tensorboard") == 0
    assert train(tiny_models, data, runs / "early", "train.lr=0.05", "train.eval_every=2", "train.max_steps=30",
                 "train.early_stopping=2", "train.early_stopping_delta=1.0", "train.batch_size=4",
                 "data.eval=0.25") == 0
    assert train(tiny_models, data, runs / "broken", "train.lr=1e30", "train.max_grad_norm=0", "train.save_every=1") == 2
    killed = subprocess.Popen([sys.executable, "-m", "desktune", "train", f"model={tiny_models['llama']}",
                               f"data.train={data}", f"output={runs / 'killed'}", "train.max_steps=400",
                               "train.save_every=2", "--samples=0"], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list((runs / "killed" / "checkpoints").glob("step-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    capsys.readouterr()

    done = runs / "done"
    report = (done / "report.md").read_text()
    assert "| eval loss |" in report and "![loss](loss.png)" in report and "finished all 8 steps" in report
    png = (done / "loss.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000

    assert main(["runs", str(runs)]) == 0
    table = capsys.readouterr().out
    statuses = {name: RunDir(runs / name).status() for name in ("done", "early", "broken", "killed")}
    assert statuses == {"done": "finished", "early": "stopped early", "broken": "failed", "killed": "resumable"}
    for name, status in statuses.items():
        assert any(name in line and status in line for line in table.splitlines()), (name, status)

    assert main(["runs", "compare", str(done), str(runs / "early")]) == 0
    assert "train.lr 0.01 -> 0.05" in capsys.readouterr().out


def test_tensorboard_events_are_readable_by_tensorboard(tiny_models, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data = write_jsonl(tmp_path / "d.jsonl", example_rows(30))
    assert train(tiny_models, data, tmp_path / "run", "train.report_to=tensorboard") == 0
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    assert "train/loss" in events.Tags()["scalars"] and "train/eval_loss" in events.Tags()["scalars"]
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 9))


def test_report_and_runs_bad_input(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert main(["runs", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "is not a run folder" in err and "no runs folder" in err

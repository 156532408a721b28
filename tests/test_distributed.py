"""Two CPU processes (gloo) launched by torchrun: the single-process run's losses, one writer, exact resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import example_rows, write_jsonl
from safetensors.torch import load_file

from desktune.cli import main

TORCHRUN = Path(sys.executable).with_name("torchrun")


def args(model, data, out, *extra):
    return [f"model={model}", f"data.train={data}", f"output={out}", "train.max_steps=10", "train.batch_size=6",
            "train.lr=1e-2", "train.eval_every=5", "train.micro_batch_tokens=256", "train.precision=fp32",
            "train.eval_samples=0", "train.early_stopping=0", "--samples=0", *extra]


def torchrun(train_args, **popen):
    # CUDA hidden: the processes use gloo on the CPU even on a one-GPU machine (NCCL refuses two processes per GPU)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "CUDA_VISIBLE_DEVICES": ""}
    # --standalone: a free port each time (the default 29500 may still be held by the previous test's processes)
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "desktune", "train", *train_args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, **popen)


def finished(proc) -> str:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    return out


def metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("ddp") / "d.jsonl", example_rows(60))


def test_two_processes_match_one_and_write_once(tiny_models, data, tmp_path):
    model = tiny_models["llama"]
    assert main(["train", *args(model, data, tmp_path / "one", "lora.dropout=0")]) == 0
    out = finished(torchrun(args(model, data, tmp_path / "two", "lora.dropout=0")))
    one, two = metrics(tmp_path / "one"), metrics(tmp_path / "two")
    assert len(two) == 10  # one writer: each step logged once
    for a, b in zip(one, two):
        assert abs(a["loss"] - b["loss"]) < 1e-3 and a["tokens"] == b["tokens"]
    assert abs(one[-1]["eval_loss"] - two[-1]["eval_loss"]) < 1e-3
    assert out.count("eval loss before training") == 1
    assert (tmp_path / "two" / "train.log").read_text().count("eval loss before training") == 1
    assert "x 2 processes" in (tmp_path / "two" / "config.yaml").read_text()


def test_two_processes_resume_exactly_after_a_kill(tiny_models, data, tmp_path):
    model = tiny_models["qwen2"]
    finished(torchrun(args(model, data, tmp_path / "whole", "train.save_every=3")))
    run = tmp_path / "killed"
    proc = torchrun(args(model, data, run, "train.save_every=3"))
    deadline = time.monotonic() + 120
    while not (run / "checkpoints" / "step-000006").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both workers
    proc.wait()
    assert not (run / "summary.json").exists(), "the run ended before it could be killed"
    finished(torchrun(args(model, data, run, "train.save_every=3") + ["--resume"]))
    whole, resumed = metrics(tmp_path / "whole"), metrics(run)
    assert [r["step"] for r in resumed] == list(range(1, 11))
    for a, b in zip(whole, resumed):
        assert abs(a["loss"] - b["loss"]) < 1e-5
    for name, tensor in load_file(tmp_path / "whole" / "adapter" / "adapter_model.safetensors").items():
        torch.testing.assert_close(load_file(run / "adapter" / "adapter_model.safetensors")[name], tensor,
                                   atol=1e-6, rtol=0)


def test_fsdp_full_fine_tune_matches_one_process_and_resumes_after_a_kill(tiny_models, data, tmp_path):
    """train.fsdp: weights, gradients and AdamW state sharded over 2 processes (torch FSDP2, gloo)."""
    model, full = tiny_models["gemma3"], ["method=full", "train.save_every=3"]  # Gemma: tied embeddings
    assert main(["train", *args(model, data, tmp_path / "one", *full)]) == 0
    finished(torchrun(args(model, data, tmp_path / "whole", *full, "train.fsdp=true")))
    one, whole = metrics(tmp_path / "one"), metrics(tmp_path / "whole")
    assert len(whole) == 10 and all(abs(a["loss"] - b["loss"]) < 1e-3 for a, b in zip(one, whole))
    reference = load_file(tmp_path / "one" / "model" / "model.safetensors")
    for name, tensor in load_file(tmp_path / "whole" / "model" / "model.safetensors").items():
        torch.testing.assert_close(tensor, reference[name], atol=1e-3, rtol=0)  # written once, whole
    run = tmp_path / "killed"
    proc = torchrun(args(model, data, run, *full, "train.fsdp=true"))
    deadline = time.monotonic() + 120
    while not (run / "checkpoints" / "step-000006").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "summary.json").exists(), "the run ended before it could be killed"
    finished(torchrun(args(model, data, run, *full, "train.fsdp=true") + ["--resume"]))
    resumed = metrics(run)
    assert [r["step"] for r in resumed] == list(range(1, 11))
    assert all(abs(a["loss"] - b["loss"]) < 1e-5 for a, b in zip(whole, resumed))


def test_fsdp_is_refused_for_an_adapter(tiny_models, data, tmp_path, capsys):
    assert main(["train", *args(tiny_models["llama"], data, tmp_path / "r", "method=lora", "train.fsdp=true")]) == 2
    assert "train.fsdp shards every trained weight" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


COLLECTIVES = """
import json, sys
import torch, torch.distributed as dist
from accelerate import Accelerator
from desktune.train.distributed import any_process, even_rows, sum_over_processes

accelerator = Accelerator(cpu=not torch.cuda.is_available())
seen = []
original = dist.all_reduce
def recording(tensor, *args, **kwargs):
    seen.append(str(tensor.device))
    return original(tensor, *args, **kwargs)
dist.all_reduce = recording
rank = accelerator.process_index
# the default device differs from the training device, as CPU does from CUDA on a GPU machine: a tensor made
# without naming the device lands on meta, which no collective can send
with torch.device("meta"):
    rows, real = even_rows(["row"] * (rank + 1), accelerator)
    result = {"rows": len(rows), "real": real, "any": any_process(rank == 1), "none": any_process(False),
              "sum": sum_over_processes(accelerator, rank + 1.0, accelerator.device)}
with open(f"{sys.argv[1]}/rank-{rank}.json", "w") as out:
    json.dump({**result, "seen": seen, "device": str(torch.empty(0, device=accelerator.device).device)}, out)
# exiting with the process group alive left gloo's threads to be killed: "terminate called without an active
# exception" (SIGABRT) under a loaded machine
dist.destroy_process_group()
"""


def test_collectives_send_tensors_on_the_training_device(tmp_path):
    """NCCL refuses a CPU tensor; every collective's tensor must be on the device the process trains on."""
    script = tmp_path / "collectives.py"
    script.write_text(COLLECTIVES)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([str(TORCHRUN), "--standalone", "--nproc_per_node", "2", str(script), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    results = [json.loads((tmp_path / f"rank-{rank}.json").read_text()) for rank in (0, 1)]
    assert [(r["rows"], r["real"]) for r in results] == [(2, 1), (2, 2)]  # the busier process sets the count
    assert all(r["any"] and not r["none"] and r["sum"] == 3.0 for r in results)
    for r in results:
        assert len(r["seen"]) >= 4 and set(r["seen"]) == {r["device"]}, r

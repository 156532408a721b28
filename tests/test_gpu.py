"""The built-in model with lora, qlora and full on a CUDA GPU: loss falls; figures printed for the notes.

Skipped without CUDA. Run on a GPU machine with: python -m pytest tests/test_gpu.py -s
"""

import json

import pytest
import torch

from desktune.cli import main
from desktune.runs import RunDir

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.mark.parametrize("method", ["lora", "qlora", "full"])
def test_builtin_trains_on_cuda(method, tmp_path):
    if method == "qlora":
        pytest.importorskip("bitsandbytes")
    run = tmp_path / method
    lr = "train.lr=2e-5" if method == "full" else "train.lr=2e-4"
    assert main(["train", f"output={run}", f"method={method}", lr, "train.max_steps=36", "train.eval_every=12",
                 "train.early_stopping=0", "--samples=1"]) == 0
    summary = json.loads(RunDir(run).summary.read_text())
    assert summary["eval_loss_end"] < summary["eval_loss_start"]
    assert summary["precision"].startswith(("bf16", "fp16"))
    records = [json.loads(line) for line in RunDir(run).metrics.read_text().splitlines()]
    rates = [r["tokens_per_s"] for r in records if "tokens_per_s" in r][2:]  # after warm-up
    print(f"\n{method}: {torch.cuda.get_device_name(0)}, eval loss {summary['eval_loss_start']:.3f} -> "
          f"{summary['eval_loss_end']:.3f}, peak {summary['peak_memory_gb']} GB, "
          f"{sum(rates) / len(rates):.0f} tokens/s")


def test_a_process_capped_at_8gb_plans_for_8gb():
    from desktune.hardware.detect import device_memory

    torch.cuda.set_per_process_memory_fraction(8e9 / torch.cuda.mem_get_info()[1])
    try:
        total, available = device_memory("cuda")
        assert abs(total - 8e9) < 1e6 and available <= total
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)

"""desktune doctor's checks: each a (name, ok, what was found, how to fix) about this machine."""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from desktune.hardware.detect import DeviceFacts, device_memory
from desktune.hardware.probe import dtype_trains, matmul_gflops

MIN_FREE_DISK = 2e9  # bytes: checkpoints and an export of a small model


@dataclass
class Check:
    name: str
    ok: bool
    found: str
    fix: str = ""
    needed: bool = True  # a failed optional check is a warning, not an error


def run_checks(facts: DeviceFacts, output: Path, min_free_disk: float = MIN_FREE_DISK) -> list[Check]:
    import torch

    total, available = device_memory(facts.kind)
    checks = [Check("device", True, f"{facts.kind}: {facts.name}"),
              Check("memory", available > 2e9, f"{available / 1e9:.1f} GB available of {total / 1e9:.1f} GB",
                    "close other programs; 2 GB is the least a 270M model needs"),
              Check("torch", True, torch.__version__)]
    checks += [_dtype(facts, name) for name in ("fp32", "bf16", "fp16")]
    if facts.kind == "mps":
        fallback = os.environ.get("PYTORCH_ENABLE_MPS_FALLBACK") == "1"
        checks.append(Check("MPS fallback", fallback, "PYTORCH_ENABLE_MPS_FALLBACK=" + ("1" if fallback else "unset"),
                            "export PYTORCH_ENABLE_MPS_FALLBACK=1 (ops MPS lacks then run on the CPU)", needed=False))
        checks.append(Check("MPS fp16", True, "fp16 backward is unsafe on MPS: desktune never uses it"))
    checks.append(_bitsandbytes(facts))
    checks.append(disk_check(output, min_free_disk))
    checks.append(_smoke_test(facts))
    return checks


def _dtype(facts: DeviceFacts, name: str) -> Check:
    if name == "fp16" and facts.kind != "cuda":
        return Check("fp16", True, f"not used on {facts.kind} (emulated on CPU, unsafe backward on MPS)", needed=False)
    problem = dtype_trains(facts.kind, name)
    if problem:
        return Check(name, False, problem, "train.precision=fp32", needed=name == "fp32")
    return Check(name, True, f"matmul + backward ok, {matmul_gflops(facts.kind, name, seconds=0.2):.0f} GFLOP/s")


def _bitsandbytes(facts: DeviceFacts) -> Check:
    try:
        import bitsandbytes  # noqa: F401
        have = True
    except ImportError:
        have = False
    if facts.kind != "cuda":
        return Check("QLoRA", False, f"not available on {facts.kind} (4-bit kernels are CUDA only)",
                     "use method=lora here", needed=False)
    return Check("QLoRA", have, "bitsandbytes " + ("installed" if have else "missing"), "pip install bitsandbytes",
                 needed=False)


def disk_check(output: Path, min_free: float) -> Check:
    """At least min_free bytes free where runs will be written (output, or its nearest existing parent)."""
    folder = output
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    return Check("disk", free >= min_free, f"{free / 1e9:.1f} GB free at {folder} (needs {min_free / 1e9:g} GB)",
                 "free some space: checkpoints and exports need a few GB")


def _smoke_test(facts: DeviceFacts) -> Check:
    """Three optimizer steps of a tiny random Llama on this device: the loss must be finite and fall."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    try:
        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2)
        model = LlamaForCausalLM(config).to(facts.kind)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        ids = torch.randint(0, 256, (2, 32), device=facts.kind)
        losses = []
        for _ in range(3):
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
    except RuntimeError as e:
        return Check("training smoke test", False, str(e).splitlines()[0], "run desktune doctor --json and report it")
    ok = all(map(torch.isfinite, map(torch.tensor, losses))) and losses[-1] < losses[0]
    return Check("training smoke test", ok, f"3 steps on a tiny model: loss {losses[0]:.3f} -> {losses[-1]:.3f}",
                 "train.precision=fp32, and report this machine")

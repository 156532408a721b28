"""Small measurements on the real device: does a dtype work here, and how fast are its matmuls."""

import time
from functools import lru_cache


@lru_cache
def matmul_gflops(device: str, dtype_name: str, size: int = 1024, seconds: float = 1.2) -> float:
    """Sustained matmul throughput (GFLOP/s) of square size x size matrices (measured once per process). Over
    0.4 s a shared 2-core VM gave 90-166 GFLOP/s from one call to the next (a time plan off by up to 1.8x); over
    1.2 s, 160-168 (2026-12-05)."""
    import torch

    dtype = _torch_dtype(dtype_name)
    a = torch.ones(size, size, device=device, dtype=dtype)  # values do not change the speed; random ones
    b = torch.ones(size, size, device=device, dtype=dtype)  # would draw from the training run's seeded RNG
    started = time.perf_counter()
    while time.perf_counter() - started < seconds / 4:  # warm up: kernel selection, clock ramp
        _sync(device, a @ b)
    best = 0.0
    for _ in range(8):  # the best of eight slices: a busy moment on a shared machine should not count
        runs, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / 8:
            _sync(device, a @ b)
            runs += 1
        best = max(best, 2 * size**3 * runs / (time.perf_counter() - started) / 1e9)
    return best


def dtype_trains(device: str, dtype_name: str) -> str | None:
    """None when a matmul and its backward in this dtype are finite and close to fp32; else what went wrong."""
    import torch

    dtype = _torch_dtype(dtype_name)
    try:
        own = torch.Generator().manual_seed(0)  # leaves the global RNG (and so a run's seeding) alone
        x = torch.randn(64, 256, generator=own).to(device)
        w = torch.randn(256, 256, generator=own).to(device).requires_grad_(True)
        wl = w.detach().to(dtype).requires_grad_(True)
        (x @ w).square().mean().backward()
        (x.to(dtype) @ wl).float().square().mean().backward()
    except (RuntimeError, TypeError) as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"
    if not torch.isfinite(wl.grad).all():
        return "backward gave inf/NaN"
    error = ((wl.grad.float() - w.grad).norm() / w.grad.norm()).item()
    return None if error < 0.05 else f"backward differs from fp32 by {error:.0%}"


def _torch_dtype(name: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def _sync(device: str, _result) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()
    # CPU operations are synchronous

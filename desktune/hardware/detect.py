"""Facts about this machine's compute device. No decisions here: see precision.py."""

import platform
from dataclasses import dataclass
from pathlib import Path


@dataclass
class DeviceFacts:
    kind: str  # cuda | mps | cpu
    name: str
    bf16_matmul: bool  # the hardware runs bf16 matmuls natively (not emulated)
    avx512: bool = False  # a CPU with 512-bit vectors: its fp32 training reaches more of the probed matmul peak


def detect() -> DeviceFacts:
    import torch

    if torch.cuda.is_available():
        return DeviceFacts("cuda", torch.cuda.get_device_name(0), torch.cuda.is_bf16_supported())
    if torch.backends.mps.is_available():
        return DeviceFacts("mps", "Apple " + platform.machine(), False)
    return DeviceFacts("cpu", _cpu_name(), _cpu_has_bf16(), " avx512f" in _cpuinfo())


def _cpu_name() -> str:
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _cpu_has_bf16() -> bool:
    flags = _cpuinfo()
    return " avx512_bf16" in flags or " amx_bf16" in flags


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def peak_memory_gb(kind: str) -> float:
    """Peak memory of this process on the device (GPU allocator peak, else peak RSS)."""
    import torch

    if kind == "cuda":
        return torch.cuda.max_memory_allocated() / 1e9
    if kind == "mps":
        return torch.mps.driver_allocated_memory() / 1e9
    if platform.system() == "Linux":  # the high-water mark of this program's own memory: ru_maxrss would also
        # count the RSS of the process that started it (Linux carries it over fork and exec)
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) * 1024 / 1e9
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1e9 if platform.system() == "Darwin" else rss / 1e6


def device_memory(kind: str) -> tuple[float, float]:
    """(total, available) bytes of the memory training can use: GPU memory on CUDA, system RAM otherwise."""
    import torch

    if kind == "cuda":  # a process capped by torch.cuda.set_per_process_memory_fraction plans for its cap
        free, total = torch.cuda.mem_get_info()
        cap = total * torch.cuda.get_per_process_memory_fraction()
        return float(cap), float(min(free, cap))
    total, available = _system_memory()
    if kind == "mps":  # unified memory: Metal's recommended working set is what a process may really use
        return total, min(available, float(torch.mps.recommended_max_memory()))
    return total, available


def usable_memory(kind: str, available: float) -> float:
    """What a training job may plan to use: leave room for the OS and fragmentation."""
    return available * (0.9 if kind == "cuda" else 0.85)


def _system_memory() -> tuple[float, float]:
    info = {}
    for line in _meminfo().splitlines():
        key, _, value = line.partition(":")
        info[key] = float(value.split()[0]) * 1024 if value.strip() else 0.0
    if "MemTotal" in info:
        return info["MemTotal"], info.get("MemAvailable", info["MemTotal"])
    import os

    total = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))  # macOS: no /proc
    return total, total * 0.6


def _meminfo() -> str:
    try:
        return Path("/proc/meminfo").read_text()
    except OSError:
        return ""

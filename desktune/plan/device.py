"""The device a plan is for: this machine, or one named with `plan --device KIND:MEMORY` / `"GPU NAME:MEMORY"`.
Known devices and their speed are data (devices.json), not code."""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from desktune.errors import ConfigError

GB = 1e9
KINDS = ("cuda", "mps", "cpu")
CUDA_CONTEXT = 0.5 * GB  # what the driver and CUDA context take from a GPU before any tensor


@dataclass
class DeviceProfile:
    kind: str
    name: str
    usable: float  # bytes a training job may plan to use
    gflops: float | None  # dense matmul peak in the training dtype; None: unknown, so no time estimate
    bf16: bool
    avx512: bool = False  # CPU: see DeviceFacts


@cache
def known_devices() -> dict:
    table = json.loads((Path(__file__).with_name("devices.json")).read_text())
    table.pop("_about")
    return table


def parse_device(text: str) -> DeviceProfile:
    """'cuda:8GB', 'mps:16GB', 'cpu:32GB', 'RTX 4090:24GB' (a known name sets kind and speed)."""
    name, sep, size = text.rpartition(":")
    if not sep or not name.strip():
        raise _bad(text, "no memory size")
    try:
        total = float(size.strip().upper().removesuffix("GB").removesuffix("G")) * GB
    except ValueError:
        raise _bad(text, f"'{size}' is not a size in GB") from None
    if total <= 0:
        raise _bad(text, "the memory size must be positive")
    name = name.strip()
    known = {k.lower(): k for k in known_devices()}
    if name.lower() in KINDS:
        kind, gflops, bf16, label = name.lower(), None, name.lower() == "cuda", f"{size.strip()}, speed unknown"
    elif name.lower() in known:
        entry = known_devices()[known[name.lower()]]
        kind, gflops, bf16, label = entry["kind"], entry["tflops"] * 1000, entry["bf16"], f"{known[name.lower()]} ({size.strip()})"
    else:
        raise _bad(text, f"unknown device '{name}'")
    return DeviceProfile(kind, label, usable_of(kind, total), gflops, bf16)


def usable_of(kind: str, total: float) -> float:
    """What a job may plan to use of a device's memory: a GPU less its CUDA context, and room for fragmentation
    and (unified memory, CPU) the operating system: the shares desktune.hardware.detect uses for free memory."""
    if kind == "cuda":
        return (total - CUDA_CONTEXT) * 0.9
    return total * (0.7 if kind == "mps" else 0.85)  # macOS keeps ~30% of unified memory from Metal


def _bad(text: str, why: str) -> ConfigError:
    return ConfigError(f"--device {text!r}: {why}", "use cuda:8GB, mps:16GB or cpu:32GB, or a known device with its "
                       f"memory for a time estimate too, e.g. \"RTX 4090:24GB\"; known: {', '.join(known_devices())}")

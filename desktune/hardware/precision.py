"""Choose the compute dtype for a device, with the reason recorded in the resolved config."""

from desktune.errors import ConfigError
from desktune.hardware.detect import DeviceFacts


def choose_precision(requested: str, facts: DeviceFacts) -> tuple[str, str]:
    """(precision, reason). Trainable weights and optimizer stay fp32; bf16/fp16 is autocast compute only."""
    if requested == "bf16":
        if not facts.bf16_matmul:
            raise ConfigError(f"train.precision=bf16 but this {facts.kind} has no native bf16 matmul",
                              "use train.precision=auto or fp32")
        return "bf16", "requested"
    if requested == "fp16":
        if facts.kind != "cuda":
            raise ConfigError(f"train.precision=fp16 is for CUDA GPUs without bf16; this machine trains on {facts.kind}"
                              + (" where fp16 backward is unsafe" if facts.kind == "mps" else ""),
                              "use train.precision=auto")
        return "fp16", "requested (autocast with loss scaling)"
    if requested == "fp32":
        return "fp32", "requested"
    if facts.kind == "mps":
        return "fp32", "MPS: bf16 not proven on this device and fp16 backward is unsafe"
    if facts.bf16_matmul:
        return "bf16", f"{facts.kind} has native bf16 matmul (about 2x fp32 throughput)"
    if facts.kind == "cuda":
        return "fp16", "CUDA GPU without bf16 (pre-Ampere): fp16 autocast with dynamic loss scaling"
    return "fp32", f"{facts.kind} has no native bf16 matmul"

"""Precision and method decisions for CUDA / MPS / CPU profiles, from injected device facts."""

import pytest

from desktune.errors import ConfigError
from desktune.hardware.detect import DeviceFacts
from desktune.hardware.precision import choose_precision
from desktune.models.methods import check_method

AMPERE = DeviceFacts("cuda", "NVIDIA RTX 3090", True)
TURING = DeviceFacts("cuda", "Tesla T4", False)
M1 = DeviceFacts("mps", "Apple arm64", False)
SAPPHIRE = DeviceFacts("cpu", "Intel Xeon (AMX)", True)
OLD_CPU = DeviceFacts("cpu", "Intel i5-8250U", False)


@pytest.mark.parametrize("facts,expected", [(AMPERE, "bf16"), (TURING, "fp16"), (M1, "fp32"), (SAPPHIRE, "bf16"),
                                            (OLD_CPU, "fp32")])
def test_auto_precision_per_device(facts, expected):
    precision, why = choose_precision("auto", facts)
    assert precision == expected and why


def test_fp16_backward_is_never_chosen_or_allowed_on_mps():
    assert choose_precision("auto", M1)[0] != "fp16"
    with pytest.raises(ConfigError, match="fp16 backward is unsafe"):
        choose_precision("fp16", M1)


@pytest.mark.parametrize("facts", [M1, OLD_CPU, TURING])
def test_bf16_is_refused_without_native_support(facts):
    with pytest.raises(ConfigError, match="no native bf16"):
        choose_precision("bf16", facts)


@pytest.mark.parametrize("facts", [M1, SAPPHIRE, OLD_CPU])
def test_qlora_is_refused_off_cuda_with_the_reason(facts):
    with pytest.raises(ConfigError, match=f"needs an NVIDIA GPU.*trains on {facts.kind}"):
        check_method("qlora", facts)


@pytest.mark.parametrize("method", ["lora", "full"])
@pytest.mark.parametrize("facts", [AMPERE, M1, OLD_CPU])
def test_lora_and_full_run_everywhere(method, facts):
    check_method(method, facts)


@pytest.mark.parametrize("processes,gpus,refused", [(2, 1, True), (8, 4, True), (2, 2, False), (1, 1, False),
                                                    (4, 0, False)])  # no GPU: gloo on the CPU
def test_more_processes_than_gpus_on_a_node_is_refused_before_nccl_starts(processes, gpus, refused):
    from desktune.train.distributed import launch_problem

    problem = launch_problem(processes, gpus)
    assert bool(problem) == refused
    if refused:
        assert f"{processes} processes" in problem and "one GPU per process" in problem

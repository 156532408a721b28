"""Precision and method decisions for CUDA / MPS / CPU profiles, from injected device facts."""

from importlib.util import find_spec

import pytest
import torch

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


@pytest.mark.parametrize("facts", [AMPERE, TURING, M1, SAPPHIRE, OLD_CPU], ids=lambda f: f.name)
def test_qlora_off_cuda_is_the_only_refusal(facts):
    refused = set()
    for method in ("lora", "qlora", "full"):
        try:
            check_method(method, facts)
        except ConfigError as e:
            refused.add(method)
            if facts.kind == "cuda":  # only the missing package can refuse qlora on CUDA
                assert "needs the bitsandbytes package" in e.message and find_spec("bitsandbytes") is None
    assert refused - {"qlora"} == set()
    assert ("qlora" in refused) == (facts.kind != "cuda" or find_spec("bitsandbytes") is None)


@pytest.mark.parametrize("method", ["lora", "full"])
@pytest.mark.parametrize("facts", [AMPERE, M1, OLD_CPU], ids=lambda f: f.name)
def test_lora_and_full_are_ready_to_train_in_each_devices_precision(method, facts, tiny_models):
    """An adapter trains only its LoRA weights, in fp32 whatever the device computes in; full trains every weight."""
    from desktune.config.schema import LoraConfig
    from desktune.models.load import load_model, resolve
    from desktune.models.methods import prepare

    check_method(method, facts)
    precision = choose_precision("auto", facts)[0]
    model = prepare(load_model(resolve(str(tiny_models["llama"]))), method, LoraConfig(), precision)
    trained = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if method == "full":
        assert len(trained) == len(list(model.parameters())) > 0
    else:
        assert trained and all("lora_" in n and p.dtype == torch.float32 for n, p in trained.items())


@pytest.mark.parametrize("processes,gpus,refused", [(2, 1, True), (8, 4, True), (2, 2, False), (1, 1, False),
                                                    (4, 0, False)])  # no GPU: gloo on the CPU
def test_more_processes_than_gpus_on_a_node_is_refused_before_nccl_starts(processes, gpus, refused):
    from desktune.train.distributed import launch_problem

    problem = launch_problem(processes, gpus)
    assert bool(problem) == refused
    if refused:
        assert f"{processes} processes" in problem and "one GPU per process" in problem


def test_the_auto_lr_follows_the_answer_length_and_a_requested_one_is_kept():
    from desktune.config import load_config
    from desktune.train.optim import choose_lr

    def chosen(answer_tokens, *overrides, tools=False):
        cfg = load_config(None, list(overrides))
        why = choose_lr(cfg, answer_tokens, tools)
        return cfg.train.lr, why

    assert chosen(30)[0] == 1e-4  # short answers forget less at the lower rate
    assert chosen(90)[0] == 1.5e-4
    assert chosen(400)[0] == 2e-4  # long answers need twice that to learn to end
    assert "here 90 trained tokens per example" in chosen(90)[1]
    assert chosen(30, "train.objective=dpo")[0] == 2e-5  # small steps from a model that already answers
    lr, why = chosen(30, "train.objective=orpo")  # learns the chosen answers from the base, as SFT does
    assert lr == 1e-4 and "orpo learns the chosen answers as SFT does" in why
    assert chosen(30, "method=full") == (2e-5, "auto: every weight moves, so 10x gentler than an adapter")
    assert chosen(30, "train.lr=3e-4") == (3e-4, "requested")
    assert chosen(42, tools=True)[0] == 5e-5  # tool rows: calls learned for less forgetting
    assert chosen(42, "method=full", tools=True)[0] == 2e-5
    assert chosen(42, "train.lr=3e-4", tools=True) == (3e-4, "requested")


# --- method auto: a small model learning tool calls trains every weight where it fits ---

def method_for(*overrides, tools=True, hidden=64, usable=16e9) -> tuple[str, str]:
    from types import SimpleNamespace

    from transformers import LlamaConfig

    from desktune.config import load_config
    from desktune.train.autoplan import choose_method

    cfg = load_config(None, list(overrides))
    examples = [SimpleNamespace(tools=[{"name": "f"}] if tools else None) for _ in range(4)]
    model_config = LlamaConfig(hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=16,
                               num_attention_heads=8, num_key_value_heads=8, vocab_size=32000)
    why = choose_method(cfg, examples, model_config, usable)
    return cfg.method, why


def test_auto_method_trains_a_small_model_learning_tool_calls_whole():
    method, why = method_for()
    assert method == "full" and why.startswith("auto: a small model") and "FunctionGemma" in why


@pytest.mark.parametrize("overrides,kwargs,expected,why", [
    ((), {"tools": False}, "lora", "auto"),  # chat rows keep the adapter the quality defaults were measured on
    ((), {"hidden": 2048}, "lora", "auto: tool rows, and a model of 1.2B parameters trains an adapter"),
    ((), {"usable": 1e7}, "lora", "auto: tool rows, but a full fine-tune of"),  # ~3M parameters: ~0.1 GB
    (("train.objective=dpo",), {}, "lora", "auto"),
    (("init_from=runs/earlier",), {}, "lora", "auto"),
    (("train.fsdp=true",), {"tools": False}, "full", "auto: train.fsdp shards a full fine-tune"),
    (("method=lora",), {}, "lora", "requested"),
])
def test_auto_method_keeps_an_adapter_otherwise(overrides, kwargs, expected, why):
    method, said = method_for(*overrides, **kwargs)
    assert method == expected and said.startswith(why)

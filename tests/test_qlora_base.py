"""QLoRA's frozen base as prepare() leaves it: NF4 linears, the embedding (and an untied head) in bf16, norms and
the residual stream in fp32, and an adapter that learns. bitsandbytes' CPU kernels stand in for CUDA's here;
desktune itself runs QLoRA on CUDA only (tests/test_gpu.py trains it there)."""

import pytest
import torch

from desktune.config.schema import LoraConfig
from desktune.models.load import load_model, resolve
from desktune.models.methods import prepare, quantization_kwargs

pytest.importorskip("bitsandbytes")


def qlora_model(folder, token_ids=()):
    kwargs = quantization_kwargs("qlora") | {"device_map": {"": "cpu"}}
    return prepare(load_model(resolve(str(folder)), **kwargs), "qlora", LoraConfig(), "bf16", list(token_ids))


@pytest.mark.parametrize("arch", ["gemma3", "llama"])
def test_the_frozen_matrices_stay_bf16_and_what_trains_is_fp32(tiny_models, arch):
    model = qlora_model(tiny_models[arch], token_ids=[7])
    embedding, head = model.get_input_embeddings(), model.get_output_embeddings()
    assert embedding.weight.dtype == torch.bfloat16 and head.weight.dtype == torch.bfloat16
    quantized = [n for n, p in model.named_parameters() if type(p).__name__ == "Params4bit"]
    assert quantized and not any("lm_head" in n or "embed" in n for n in quantized)
    floats = [(n, p) for n, p in model.named_parameters() if p.is_floating_point()]
    assert all(p.dtype == torch.float32 for n, p in floats if p.dim() < 2 or p.requires_grad)
    trained = {n for n, p in floats if p.requires_grad}
    assert any("lora_A" in n for n in trained) and any("trainable_tokens" in n for n in trained)
    assert all("lora_" in n or "trainable_tokens" in n for n in trained)


def test_the_residual_stream_is_fp32_and_the_adapter_learns(tiny_models):
    torch.manual_seed(0)
    model = qlora_model(tiny_models["gemma3"])
    seen = []
    first_layer = model.base_model.model.model.layers[0]
    first_layer.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs.get(
        "hidden_states", args[0] if args else None).dtype), with_kwargs=True)
    ids = torch.randint(3, 500, (1, 24))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(8):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert set(seen) == {torch.float32}
    assert losses[-1] < losses[0] * 0.9, losses

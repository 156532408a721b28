"""The three ways to fine-tune: a LoRA adapter, a LoRA adapter on a 4-bit base (QLoRA), or every weight."""

from desktune.errors import ConfigError
from desktune.hardware.detect import DeviceFacts
from desktune.models.adapters import add_lora, load_adapter


def check_method(method: str, facts: DeviceFacts) -> None:
    """Refuse before loading anything when the method cannot run here."""
    if method != "qlora":
        return
    if facts.kind != "cuda":
        raise ConfigError(f"method=qlora needs an NVIDIA GPU: its 4-bit NF4 kernels (bitsandbytes) run only on CUDA, "
                          f"and this machine trains on {facts.kind}",
                          "use method=lora (same adapter, full-precision base)")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ConfigError("method=qlora needs the bitsandbytes package", "pip install bitsandbytes") from None


def quantization_kwargs(method: str) -> dict:
    """from_pretrained arguments: QLoRA's base is NF4 with double quantisation and bf16 compute; what stays
    unquantised (embeddings, an untied head, norms) loads in bf16 (prepare() puts the norms back in fp32)."""
    if method != "qlora":
        return {}
    import torch
    from transformers import BitsAndBytesConfig

    return {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                      bnb_4bit_use_double_quant=True,
                                                      bnb_4bit_compute_dtype=torch.bfloat16),
            "dtype": torch.bfloat16, "device_map": {"": 0}}


def prepare(model, method: str, lora_cfg, precision: str = "fp32", token_ids: list[int] = (), init_adapter=None):
    """The model ready to train: which weights learn depends on the method. token_ids: embedding rows that
    train with an adapter too (tokens the base never learned). init_adapter: a saved adapter folder that trains
    further instead of a new adapter (lora_cfg and token_ids are then its own)."""
    if method == "full":
        model.requires_grad_(True)
        return model
    frozen_low = method == "qlora" or (method == "lora" and precision in ("bf16", "fp16"))
    if method == "qlora":
        freeze_quantized_base(model)
    elif frozen_low:
        store_frozen_in(model, precision)
    model = add_lora(model, lora_cfg, token_ids) if init_adapter is None else load_adapter(model, init_adapter, True)
    if frozen_low:
        keep_trainable_fp32(model)
    plain_head_input(model)
    return model


def plain_head_input(model) -> None:
    """Generation hands the vocabulary projection the last position as a [1, 1, hidden] slice of the prompt's
    [1, T, hidden]. matmul cannot fold those strides into one matrix, and for a frozen head it then takes bmm, which
    copied the whole transposed vocab x hidden matrix at every prompt: 335 MB for the built-in in bf16, the peak of
    LoRA runs on short sets (their look at answers at each evaluation, 2026-12-07). The slice is copied instead."""
    import torch

    def plain_strides(module, args):
        x = args[0]
        if x.dim() > 2 and any(x.stride(i) != x.stride(i + 1) * x.size(i + 1) for i in range(x.dim() - 2)):
            return (x.clone(memory_format=torch.contiguous_format), *args[1:])
        return None

    model.get_output_embeddings().register_forward_pre_hook(plain_strides)


def store_frozen_in(model, precision: str) -> None:
    """LoRA's frozen base: matrices stored in the compute dtype, which autocast would cast them to at every
    forward anyway (and keep those copies for backward). Norms and biases stay fp32."""
    import torch

    from desktune.hardware.pages import release_pages

    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    for p in model.parameters():
        # a copy either way, and the loaded weight's mapped pages go back now: the checkpoint's memory map
        # itself is released only when no tensor views the file any more
        loaded, p.data = p.data, p.data.to(dtype) if p.dim() >= 2 else p.data.clone()
        release_pages(loaded)


def freeze_quantized_base(model) -> None:
    """QLoRA's base, frozen: the embedding (and an untied head) stay in bf16, where PEFT's
    prepare_model_for_kbit_training casts every unquantised weight to fp32. On Gemma 3 4B's 262k x 2560 embedding
    that cast added 1.3 GB, and autocast's bf16 copy of the fp32 head for the loss 1.3 GB more. Norms and biases
    go to fp32, as PEFT has them; the residual stream stays fp32 (keep_trainable_fp32)."""
    model.requires_grad_(False)
    for p in model.parameters():
        if p.dim() < 2 and p.is_floating_point():
            p.data = p.data.float()


def keep_trainable_fp32(model) -> None:
    """What trains stays fp32 (PEFT copies trained embedding rows in the base's dtype), and so does the
    residual stream: the embedding's output is cast back up."""
    import torch

    for p in model.parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
    model.get_input_embeddings().register_forward_hook(lambda module, args, out: out.float())

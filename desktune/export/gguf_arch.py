"""What gguf-py does not know about a transformers model: its llama.cpp architecture, hyper-parameters and the
few tensor rewrites llama.cpp expects (tensor names themselves come from gguf-py's TensorNameMap)."""

import math
from collections.abc import Iterator

import gguf
import torch

from desktune.errors import ModelError

ARCHITECTURES = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2, "gemma3_text": gguf.MODEL_ARCH.GEMMA3}
SWA_ROPE_THETA = 10000.0  # llama.cpp's fixed RoPE base for Gemma 3's sliding-window layers
GEMMA3_GLOBAL_EVERY = 6  # llama.cpp's fixed Gemma 3 layout: five sliding-window layers, then one global


def architecture(config) -> gguf.MODEL_ARCH:
    arch = ARCHITECTURES.get(config.model_type)
    if arch is None:
        raise ModelError(f"GGUF export does not support model type '{config.model_type}'",
                         f"supported: {', '.join(ARCHITECTURES)}; `desktune merge` still gives a transformers folder")
    if arch == gguf.MODEL_ARCH.GEMMA3:
        _check_gemma3(config)
    return arch


def head_dim(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def write_hparams(writer: gguf.GGUFWriter, config) -> None:
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_key_length(head_dim(config))
    writer.add_value_length(head_dim(config))
    writer.add_vocab_size(config.vocab_size)
    rope = _global_rope(config)
    writer.add_rope_freq_base(rope["rope_theta"])
    if rope.get("rope_type", "default") == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(rope["factor"])
    if config.model_type == "gemma3_text":
        writer.add_sliding_window(config.sliding_window)
    else:
        writer.add_rope_dimension_count(head_dim(config))


def gguf_tensors(model, arch: gguf.MODEL_ARCH) -> Iterator[tuple[str, torch.Tensor]]:
    """(GGUF name, fp32 tensor) for every weight llama.cpp needs."""
    config = model.config
    names = gguf.get_tensor_name_map(arch, config.num_hidden_layers)
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and config.tie_word_embeddings:
            continue  # llama.cpp reuses token_embd
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ModelError(f"no GGUF name for tensor {hf_name} of {config.model_type}",
                             "this checkpoint has layers llama.cpp's architecture does not know")
        yield name, _rewrite(hf_name, tensor.detach().float(), config, arch)
    factors = _llama3_rope_factors(config)
    if factors is not None:
        yield gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight", factors


def _rewrite(hf_name: str, tensor: torch.Tensor, config, arch) -> torch.Tensor:
    if arch == gguf.MODEL_ARCH.LLAMA and hf_name.endswith(("q_proj.weight", "k_proj.weight")):
        # transformers rotates half-vectors, llama.cpp's llama kernel rotates adjacent pairs
        heads = config.num_attention_heads if "q_proj" in hf_name else config.num_key_value_heads
        return tensor.reshape(heads, 2, tensor.shape[0] // heads // 2, -1).swapaxes(1, 2).reshape(tensor.shape)
    if arch == gguf.MODEL_ARCH.GEMMA3 and hf_name.endswith("norm.weight"):
        return tensor + 1.0  # Gemma's RMSNorm multiplies by (1 + weight); llama.cpp by weight
    return tensor


def _global_rope(config) -> dict:
    rope = getattr(config, "rope_parameters", None) or {"rope_theta": getattr(config, "rope_theta", 10000.0)}
    rope = rope.get("full_attention", rope)
    kind = rope.get("rope_type", "default")
    if kind not in ("default", "linear", "llama3"):
        raise ModelError(f"GGUF export does not support RoPE scaling '{kind}'", "supported: none, linear, llama3")
    return rope


def _llama3_rope_factors(config) -> torch.Tensor | None:
    """Llama 3.1+ scales RoPE frequencies per band; llama.cpp reads the factors from a rope_freqs tensor."""
    rope = _global_rope(config)
    if rope.get("rope_type") != "llama3":
        return None
    dim = head_dim(config)
    freqs = 1.0 / (rope["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    old_len = rope.get("original_max_position_embeddings", 8192)
    low, high, factor = rope.get("low_freq_factor", 1.0), rope.get("high_freq_factor", 4.0), rope["factor"]
    factors = []
    for wavelength in (2 * math.pi / freqs).tolist():
        if wavelength < old_len / high:
            factors.append(1.0)
        elif wavelength > old_len / low:
            factors.append(factor)
        else:
            smooth = (old_len / wavelength - low) / (high - low)
            factors.append(1.0 / ((1 - smooth) / factor + smooth))
    return torch.tensor(factors, dtype=torch.float32)


def _check_gemma3(config) -> None:
    """llama.cpp hard-codes two Gemma 3 constants; a checkpoint that differs would export wrong silently."""
    expected = ["full_attention" if (i + 1) % GEMMA3_GLOBAL_EVERY == 0 else "sliding_attention"
                for i in range(config.num_hidden_layers)]
    if list(config.layer_types) != expected:
        raise ModelError("this Gemma 3 mixes local and global attention layers differently from llama.cpp's "
                         f"fixed pattern (every {GEMMA3_GLOBAL_EVERY}th layer global)", "export it with desktune merge")
    local = (config.rope_parameters or {}).get("sliding_attention", {})
    if local.get("rope_theta", SWA_ROPE_THETA) != SWA_ROPE_THETA or local.get("rope_type", "default") != "default":
        raise ModelError("this Gemma 3 uses a sliding-window RoPE llama.cpp cannot express", "export it with desktune merge")
    if config.query_pre_attn_scalar != head_dim(config):  # llama.cpp scales queries by 1/sqrt(head_dim)
        raise ModelError(f"this Gemma 3's query_pre_attn_scalar ({config.query_pre_attn_scalar}) is not its head size, "
                         "which llama.cpp assumes", "export it with desktune merge")
    if getattr(config, "final_logit_softcapping", None) or getattr(config, "attn_logit_softcapping", None):
        raise ModelError("this Gemma 3 uses logit soft-capping, which this exporter does not write", "export it with desktune merge")

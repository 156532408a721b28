"""Write a merged transformers model as a GGUF file (gguf-py does the format; we choose names and types)."""

from pathlib import Path

import gguf
import numpy as np

from desktune.errors import DesktuneError
from desktune.export.gguf_arch import architecture, gguf_tensors, write_hparams
from desktune.export.gguf_vocab import write_vocab

FILE_TYPES = {"f16": gguf.LlamaFileType.MOSTLY_F16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}
QUANTIZER_TYPES = {"q4_k_m": gguf.LlamaFileType.MOSTLY_Q4_K_M}  # need llama.cpp's quantizer
QUANTS = list(FILE_TYPES) + list(QUANTIZER_TYPES)
# Where the model's output head is its token embedding (Gemma), a q8_0 file keeps that matrix in f16: rounded to
# q8_0, a full fine-tune of the built-in (errands tool set, 2026-12-06) answered one of five check prompts with a
# stray token where transformers ended the turn by a margin of 1.97, and looped on another; f16 there: 5 of 5.
OUTPUT_HEAD = "token_embd.weight"


def write_gguf(model, chat, path: Path, quant: str, name: str) -> Path:
    """model: merged, fp32; chat: the ChatFormat used in training (its template goes into the file)."""
    arch = architecture(model.config)
    writer = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[arch])
    writer.add_name(name)
    writer.add_file_type(FILE_TYPES[quant])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    write_hparams(writer, model.config)
    write_vocab(writer, chat.tokenizer, model.config.vocab_size, chat.tokenizer.chat_template, chat.end_of_turn)
    head_quant = "f16" if getattr(model.config, "tie_word_embeddings", False) else quant
    for tensor_name, tensor in gguf_tensors(model, arch):
        data, dtype = _encode(tensor.numpy(), head_quant if tensor_name == OUTPUT_HEAD else quant)
        writer.add_tensor(tensor_name, data, raw_dtype=dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _encode(array: np.ndarray, quant: str) -> tuple[np.ndarray, gguf.GGMLQuantizationType]:
    """Norms, biases and RoPE factors stay fp32 (llama.cpp expects it); matrices take the requested type."""
    if array.ndim == 1:
        return array.astype(np.float32), gguf.GGMLQuantizationType.F32
    block = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0][0]
    if quant == "q8_0" and array.shape[-1] % block == 0:
        return gguf.quants.quantize(array, gguf.GGMLQuantizationType.Q8_0), gguf.GGMLQuantizationType.Q8_0
    return array.astype(np.float16), gguf.GGMLQuantizationType.F16


def quantize_with_llama_cpp(source: Path, target: Path, quant: str) -> Path:
    """K-quants come from llama.cpp's own quantizer (in the cyllama wheel), run on the f16 file."""
    try:
        from cyllama.llama import llama_cpp
    except ImportError:
        raise DesktuneError(f"--quant {quant} needs llama.cpp's quantizer, which is not installed",
                            "pip install cyllama, or use --quant q8_0 (written without it)") from None
    llama_cpp.disable_logging()
    params = llama_cpp.LlamaModelQuantizeParams()
    params.ftype = int(QUANTIZER_TYPES[quant])
    llama_cpp.model_quantize(str(source), str(target), params)
    return target

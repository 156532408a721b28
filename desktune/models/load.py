"""Resolve a model reference (builtin:NAME | local folder | .gguf file | hub id) and load it."""

import re
from dataclasses import dataclass
from pathlib import Path

from desktune.errors import ModelError
from desktune.models.builtin import builtin_folder, cache_root


@dataclass
class ModelSource:
    path: str  # folder or hub id handed to from_pretrained
    gguf_file: str | None = None

    def kwargs(self) -> dict:
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}


def resolve(ref: str) -> ModelSource:
    """Turn what the user wrote into something from_pretrained can load, or say clearly why not."""
    if ref.startswith("builtin:"):
        return ModelSource(str(builtin_folder(ref.removeprefix("builtin:"))))
    path = Path(ref).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelError(f"model file not found: {ref}", "give the path to an existing .gguf file")
        return ModelSource(str(path.parent), path.name)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelError(f"{ref} is a folder but has no config.json",
                             "point at a transformers model folder (config.json + safetensors)")
        return ModelSource(str(path))
    if ref.startswith((".", "/", "~")) or ref.count("/") > 1 or not ref:
        raise ModelError(f"model not found: '{ref}'", "use builtin:gemma-3-270m, a local folder, a .gguf file or a hub id like org/name")
    return ModelSource(ref)


def quiet_transformers() -> None:
    """desktune prints its own progress; the libraries' bars and deprecation chatter only hide it."""
    import warnings

    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def load_tokenizer(source: ModelSource):
    from transformers import AutoTokenizer

    with _clear_errors(source):
        return AutoTokenizer.from_pretrained(source.path, **source.kwargs())


def load_model(source: ModelSource, dtype=None, **extra):
    """Load weights in fp32 by default: trainable weights and optimizer stay fp32; compute may autocast."""
    import torch
    from transformers import AutoModelForCausalLM

    quiet_transformers()
    with _clear_errors(source):
        # use_safetensors keeps pickle checkpoints from being loaded silently.
        return AutoModelForCausalLM.from_pretrained(
            source.path, dtype=dtype or torch.float32, attn_implementation="sdpa",
            use_safetensors=None if source.gguf_file else True, **source.kwargs(), **extra)


class _clear_errors:
    """Turn the loaders' errors into a ModelError that says which problem it is: the hub or the network, a
    folder that is not a model, an architecture transformers does not know, or a damaged file."""

    def __init__(self, source: ModelSource):
        self.source = source

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        from safetensors import SafetensorError

        if kind is None or issubclass(kind, ModelError) or not issubclass(kind, (OSError, ValueError, SafetensorError)):
            return False
        raise _explain(err, self.source) from None


def _explain(err: Exception, source: ModelSource) -> ModelError:
    from safetensors import SafetensorError

    text = str(err).strip()
    reason = text.splitlines()[0] if text else type(err).__name__
    where = str(Path(source.path) / source.gguf_file) if source.gguf_file else source.path
    if isinstance(err, SafetensorError):
        return ModelError(f"the weights in '{where}' are damaged or incomplete: {reason}", _restore_hint(
            source, "the file was probably cut short by an interrupted download or copy: fetch the model again"))
    if "not a valid JSON file" in text:
        return ModelError(f"'{where}' has a config.json that is not valid JSON", _restore_hint(
            source, "the file is damaged or was edited by hand: restore it from where the model came from"))
    unknown = re.search(r"model type `([^`]*)` but Transformers does not recognize", text)
    if unknown:
        import transformers

        return ModelError(f"'{where}' is a '{unknown[1]}' model, an architecture transformers "
                          f"{transformers.__version__} does not know",
                          "upgrade transformers (pip install -U transformers), or choose a model of a supported "
                          "architecture (Llama, Qwen2, Gemma 3, ...)")
    if "Should have a `model_type` key" in text:
        return ModelError(f"'{where}' is not a transformers model: its config.json has no model_type",
                          "point at a folder written by save_pretrained (config.json, safetensors, tokenizer)")
    if source.gguf_file:
        return ModelError(f"could not read '{where}' as a GGUF model: {reason}",
                          "the file may be incomplete (download it again), or use the model's safetensors folder")
    if not Path(source.path).is_dir() and isinstance(err, OSError):
        return ModelError(f"could not load model '{where}' from the Hugging Face Hub: {reason}",
                          "check the hub id (org/name) and your network (a gated model also needs `hf auth login`), "
                          "or use a local folder / builtin:gemma-3-270m")
    return ModelError(f"could not load model '{where}': {reason}",
                      "a model folder needs config.json, safetensors weights and a tokenizer, as save_pretrained "
                      "writes them")


def _restore_hint(source: ModelSource, hint: str) -> str:
    """A damaged built-in copy is desktune's own cache: deleting it is the fix."""
    if Path(source.path).resolve().is_relative_to((cache_root() / "models").resolve()):
        return f"delete {source.path} and run again: desktune converts the built-in model again"
    return hint


def load_model_config(source: ModelSource):
    """The model's config alone (no weights): enough to choose a template or plan memory."""
    from transformers import AutoConfig

    with _clear_errors(source):
        return AutoConfig.from_pretrained(source.path, **source.kwargs())

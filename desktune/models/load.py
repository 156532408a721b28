"""Resolve a model reference (builtin:NAME | local folder | .gguf file | hub id) and load it."""

from dataclasses import dataclass
from pathlib import Path

from desktune.errors import ModelError
from desktune.models.builtin import builtin_folder


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
    """Map the loader's OSError (missing files, no network, gated repo) to one clear ModelError."""

    def __init__(self, source: ModelSource):
        self.source = source

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        if kind is not None and issubclass(kind, (OSError, ValueError)) and not issubclass(kind, ModelError):
            first = str(err).strip().splitlines()[0] if str(err).strip() else kind.__name__
            raise ModelError(f"could not load model '{self.source.path}': {first}",
                             "check the hub id and your network, or use a local folder / builtin:gemma-3-270m") from None
        return False


def load_model_config(source: ModelSource):
    """The model's config alone (no weights): enough to choose a template or plan memory."""
    from transformers import AutoConfig

    with _clear_errors(source):
        return AutoConfig.from_pretrained(source.path, **source.kwargs())

"""init_from: start from an earlier run's adapter and train that adapter further (the usual SFT-then-DPO path), so
the new run's adapter/ alone, on the base, is the tuned model."""

from pathlib import Path

from desktune.errors import ConfigError
from desktune.runs import RunDir


def init_adapter(cfg) -> Path | None:
    """The adapter folder init_from names (a run folder's adapter/, or an adapter folder), checked against the
    config; None when init_from is empty."""
    if not cfg.init_from:
        return None
    path = Path(cfg.init_from).expanduser()
    if not path.is_dir():
        raise ConfigError(f"init_from: {cfg.init_from} not found",
                          "give a run folder (its adapter/ is used) or a folder with adapter_config.json")
    if cfg.method == "full":
        raise ConfigError("init_from continues an adapter, and method=full trains every weight",
                          f"use method=lora, or merge the adapter first (desktune merge {cfg.init_from}) and set "
                          "model= to the merged folder")
    if (path / "adapter_config.json").exists():
        return path
    run = RunDir(path)
    if run.is_full:
        raise ConfigError(f"init_from: {path} is a full fine-tune, not an adapter", f"set model={run.model_dir}")
    if not (run.adapter / "adapter_config.json").exists():
        raise ConfigError(f"init_from: {path} holds no adapter (no adapter_config.json, no finished run's adapter/)",
                          "give a finished run folder, or an adapter folder")
    trained_on = run.read_config().get("model") if run.config.exists() else None
    if trained_on and trained_on != cfg.model:
        raise ConfigError(f"init_from: {path} was trained on {trained_on}, but model is {cfg.model}",
                          f"set model={trained_on}")
    return run.adapter


def tokenizer_of(folder: Path, fallback):
    """The adapter's own tokenizer (desktune saves it with the chat template and any added tokens), else fallback."""
    if not (folder / "tokenizer_config.json").exists():
        return fallback
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)

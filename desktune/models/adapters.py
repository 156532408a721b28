"""LoRA adapters through PEFT: which modules to adapt, wrap the model, load a saved adapter."""

from desktune.errors import ConfigError


def linear_module_names(model) -> list[str]:
    import torch

    names = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    return sorted(names - {"lm_head"})


def add_lora(model, lora_cfg, token_ids: list[int] = ()):
    from peft import LoraConfig, get_peft_model

    targets = lora_cfg.targets
    if targets != "all-linear":
        targets = [t.strip() for t in targets.split(",") if t.strip()]
        known = linear_module_names(model)
        unknown = [t for t in targets if t not in known]
        if unknown:
            raise ConfigError(f"lora.targets: no linear layer named {', '.join(unknown)} in this model",
                              f"this model's linear layers: {', '.join(known)} (or all-linear)")
    config = LoraConfig(r=lora_cfg.r, lora_alpha=lora_cfg.alpha, lora_dropout=lora_cfg.dropout,
                        target_modules=targets, task_type="CAUSAL_LM", bias="none", use_dora=lora_cfg.dora,
                        trainable_token_indices=_token_rows(model, token_ids))
    return get_peft_model(model, config)


def _token_rows(model, token_ids: list[int]) -> dict | None:
    """PEFT trainable tokens: these rows of the input embedding, and of the output layer when it is not tied
    to it (tied ones PEFT keeps tied)."""
    if not token_ids:
        return None
    name = {module: n.rsplit(".", 1)[-1] for n, module in model.named_modules()}
    rows = {name[model.get_input_embeddings()]: list(token_ids)}
    if not getattr(model.config, "tie_word_embeddings", False):
        rows[name[model.get_output_embeddings()]] = list(token_ids)
    return rows


def load_adapter(model, adapter_dir: str):
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter_dir)


def save_tuned_weights(model, folder, weights: dict | None = None) -> None:
    """The adapter (or a full fine-tune's model; weights: its state gathered from shards). Trained token rows
    are in the adapter already: PEFT would otherwise store the whole resized embedding (670 MB for Gemma)."""
    extra = {"save_embedding_layers": False} if hasattr(model, "peft_config") else {}
    if weights is not None:
        extra["state_dict"] = weights
    model.save_pretrained(folder, **extra)

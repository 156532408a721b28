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
    return fast_token_rows(get_peft_model(model, config))


def fast_token_rows(model):
    """Trained token rows applied as a few swapped rows or columns. PEFT's own forward copies the whole
    vocab x hidden matrix at every call (and in backward builds its full gradient): on Gemma's 262k vocabulary
    that made training steps 8x and generation far slower. Same results (tests/test_untrained.py)."""
    from peft.tuners.trainable_tokens.layer import TrainableTokensLayer

    for module in model.modules():
        if isinstance(module, TrainableTokensLayer):
            module.forward = _swapped_rows_forward.__get__(module)
    return model


def _swapped_rows_forward(self, x, *args, **kwargs):
    import torch
    import torch.nn.functional as F

    if self.disable_adapters or self.merged or len(self.active_adapters) != 1:
        return type(self).forward(self, x, *args, **kwargs)
    rows = self.trainable_tokens_delta[self.active_adapters[0]]
    ids = torch.tensor(self.token_indices[self.active_adapters[0]], device=x.device)
    out = self.base_layer(x, *args, **kwargs)
    if isinstance(self.base_layer, torch.nn.Embedding):  # swap in the trained rows where those tokens are
        scale = self._get_embed_scale()  # Gemma scales embeddings in its module's forward
        trained = (rows * scale.to(rows.dtype) if scale is not None else rows).to(out.dtype)
        hit = (x[..., None] == ids).to(out.dtype)  # [..., trained ids]
        return torch.where(hit.sum(-1, keepdim=True) > 0, hit @ trained, out)
    return out.index_copy(-1, ids, F.linear(x, rows).to(out.dtype))  # an output layer: replace those logits


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

    return fast_token_rows(PeftModel.from_pretrained(model, adapter_dir))


def save_tuned_weights(model, folder, weights: dict | None = None) -> None:
    """The adapter (or a full fine-tune's model; weights: its state gathered from shards). Trained token rows
    are in the adapter already: PEFT would otherwise store the whole resized embedding (670 MB for Gemma)."""
    extra = {"save_embedding_layers": False} if hasattr(model, "peft_config") else {}
    if weights is not None:
        extra["state_dict"] = weights
    model.save_pretrained(folder, **extra)

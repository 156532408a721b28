"""LoRA adapters through PEFT: which modules to adapt, wrap the model, save and load an adapter."""

import json
from pathlib import Path

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


def load_adapter(model, adapter_dir: str, trainable: bool = False):
    """A saved adapter in either form of trained token rows (PEFT trainable tokens, or LoRA: rows_as_lora);
    trainable: to train it further (init_from)."""
    from peft import PeftModel

    return fast_token_rows(PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=trainable))


def save_tuned_weights(model, folder, weights: dict | None = None, rows_as_lora: bool = True) -> None:
    """The adapter (or a full fine-tune's model; weights: its state gathered from shards). Trained token rows
    are in the adapter already: PEFT would otherwise store the whole resized embedding (670 MB for Gemma).
    rows_as_lora: those rows saved as LoRA, which plain PEFT runs fast; False keeps the trainable-tokens form
    training resumes from (checkpoints)."""
    extra = {"save_embedding_layers": False} if hasattr(model, "peft_config") else {}
    if weights is not None:
        extra["state_dict"] = weights
    model.save_pretrained(folder, **extra)
    if rows_as_lora and weights is None and hasattr(model, "peft_config"):
        _rows_as_lora(model, Path(folder))


def _rows_as_lora(model, folder: Path) -> None:
    """Rewrite the saved trained token rows as LoRA. k rows changed by D are the rank-k update onehot(ids)^T D:
    LoRA on the embedding (A one-hot at the ids, B = D^T) and on the head (A = D, B one-hot), scale exactly 1.
    PEFT runs LoRA without the vocab x hidden copy its trainable-tokens forward makes at every call (see
    fast_token_rows). D is taken against the base rows as stored on disk, the rows a loader will add it to;
    the adapter keeps PEFT's form where that cannot be exact: a head tied to the embedding (PEFT 0.21's
    merge_and_unload would add the tied head's LoRA to the shared matrix a second time, peft#2777), DoRA or
    rsLoRA scaling, rows the base file lacks (tokens added by resizing start from random rows), a base that is
    not a local safetensors folder."""
    import torch
    from peft.tuners.trainable_tokens.layer import TrainableTokensLayer
    from safetensors.torch import load_file, save_file

    config = model.peft_config[model.active_adapter]
    layers = {n: m for n, m in model.named_modules() if isinstance(m, TrainableTokensLayer)}
    if not layers or any(m.tied_adapter for m in layers.values()) or config.use_dora or config.use_rslora or not isinstance(config.target_modules, (set, list)):
        return
    adapter = model.active_adapter
    base = _base_rows(config.base_model_name_or_path, {_module_name(n): m.token_indices[adapter] for n, m in layers.items()})
    if base is None:
        return
    saved = load_file(folder / "adapter_model.safetensors")
    settings = json.loads((folder / "adapter_config.json").read_text())
    names, patterns = set(settings["target_modules"]), {}
    for name, layer in layers.items():
        module, ids = _module_name(name), layer.token_indices[adapter]
        rows, vocab = base[module]
        change = saved.pop(f"{name}.trainable_tokens_delta").float() - rows
        one_hot = torch.zeros(len(ids), vocab)
        one_hot[torch.arange(len(ids)), torch.tensor(ids)] = 1
        saved |= _lora_weights(name.removesuffix(".token_adapter"), layer.base_layer, one_hot, change)
        names.add(module.rsplit(".", 1)[-1])
        patterns[module.rsplit(".", 1)[-1]] = len(ids)
    settings["rank_pattern"] = (settings.get("rank_pattern") or {}) | patterns
    settings["alpha_pattern"] = (settings.get("alpha_pattern") or {}) | patterns  # alpha / r = 1: the change as is
    settings |= {"target_modules": sorted(names), "trainable_token_indices": None}
    save_file({k: v.contiguous() for k, v in saved.items()}, folder / "adapter_model.safetensors",
              metadata={"format": "pt"})
    (folder / "adapter_config.json").write_text(json.dumps(settings, indent=2, sort_keys=True))


def _lora_weights(prefix: str, base_layer, one_hot, change) -> dict:
    import torch

    if isinstance(base_layer, torch.nn.Embedding):
        return {f"{prefix}.lora_embedding_A": one_hot, f"{prefix}.lora_embedding_B": change.T}
    return {f"{prefix}.lora_A.weight": change, f"{prefix}.lora_B.weight": one_hot.T}


def _module_name(peft_name: str) -> str:
    """base_model.model.model.embed_tokens.token_adapter -> model.embed_tokens"""
    return peft_name.removeprefix("base_model.model.").removesuffix(".token_adapter")


def _base_rows(base: str, wanted: dict) -> dict | None:
    """module -> (its rows at the wanted ids, its row count) as the base checkpoint stores them, read from its local
    safetensors files (None: none here, or a module or id they lack)."""
    import torch
    from safetensors import safe_open

    found, folder = {}, _local_folder(base)
    for f in sorted(Path(folder).glob("*.safetensors")) if folder else []:
        with safe_open(str(f), "pt") as weights:
            for module in set(wanted) & {k.removesuffix(".weight") for k in weights.keys()}:
                matrix = weights.get_slice(f"{module}.weight")
                count = matrix.get_shape()[0]
                if max(wanted[module]) < count:
                    found[module] = torch.cat([matrix[i:i + 1] for i in wanted[module]]).float(), count
    return found if set(found) == set(wanted) else None


def _local_folder(base: str) -> str:
    """A folder, or a hub id's snapshot already in the local cache ('' when it is not there)."""
    if Path(base).is_dir():
        return base
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(base, local_files_only=True, allow_patterns=["*.safetensors", "*.json"])
    except Exception:  # not a hub id, or not cached: the adapter keeps PEFT's trainable-tokens form
        return ""

"""LoRA adapters through PEFT: which modules to adapt, wrap the model, load a saved adapter."""

from desktune.errors import ConfigError


def linear_module_names(model) -> list[str]:
    import torch

    names = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    return sorted(names - {"lm_head"})


def add_lora(model, lora_cfg):
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
                        target_modules=targets, task_type="CAUSAL_LM", bias="none", use_dora=lora_cfg.dora)
    return get_peft_model(model, config)


def load_adapter(model, adapter_dir: str):
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter_dir)

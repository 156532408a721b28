"""The TRL DPO recipe, to race desktune's DPO on the same pairs: DPOTrainer as TRL's docs show it,
`DPOTrainer(model=..., ref_model=None, args=DPOConfig(...), train_dataset=..., processing_class=tokenizer,
peft_config=LoraConfig(...))`. With PEFT and ref_model=None TRL's reference is the model with its adapter off, one
more forward pass in every step (desktune computes the same numbers once, before step 1).

It takes desktune's resolved config (settings_of): the same LoRA (r, alpha, dropout, targets: desktune's all-linear
is PEFT's "all-linear"; DoRA if on), beta, dpo.nll (TRL's loss_type ["sigmoid", "sft"] weighted [1, nll]), learning
rate, max_length and seed, one epoch. The rest is a typical copied
recipe: per-device batch 2 as in TRL's own scripts/dpo.py examples, with gradient accumulation 4 (that script uses 8)
so that a step holds 8 pairs, desktune's default batch; TRL's defaults otherwise (linear decay, no warmup); gradient
checkpointing on (DPOConfig's default) and fp32, as the TRL SFT recipe in recipes.py.

The data: {"prompt", "chosen", "rejected"} rows of messages (measure.write_pairs), TRL's conversational preference
format, which DPOTrainer renders with the tokenizer's chat template, the one desktune trains with.
Real tokens: every pair's prompt + chosen and prompt + rejected tokens, each cut at max_length, as trained (both
trainers read the prompt once per answer): what desktune's tokens_seen counts and TRL logs as num_tokens.
Time: from the first step to the end of training (recipes.clock). Peak memory: this process's. Judge:
measure.heldout_rewards, as for desktune's side.
Run as `python -m desktune.bench.dpo TOKENIZER_DIR MODEL TRAIN EVAL WORK SETTINGS_JSON`; needs
`pip install 'desktune[bench]'`.
"""

import json
import sys

from desktune.bench.recipes import clock, rows


def settings_of(resolved: dict) -> dict:
    """What the TRL DPO recipe takes from desktune's resolved config (its run folder's config.yaml)."""
    lora, targets = resolved["lora"], resolved["lora"]["targets"]
    return {"r": lora["r"], "alpha": lora["alpha"], "dropout": lora["dropout"], "dora": lora["dora"],
            "targets": targets if targets == "all-linear" else [t.strip() for t in targets.split(",") if t.strip()],
            "beta": resolved["dpo"]["beta"], "nll": resolved["dpo"].get("nll", 0.0), "lr": resolved["train"]["lr"],
            "seed": resolved["train"]["seed"], "max_length": resolved["data"]["max_length"]}


def trl_dpo(model, tokenizer, train_file: str, work: str, settings: dict):
    """DPOTrainer + LoRA, one epoch; returns the trainer and its clock."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(output_dir=work, per_device_train_batch_size=2, gradient_accumulation_steps=4,
                     gradient_checkpointing=True, max_length=settings["max_length"], learning_rate=settings["lr"],
                     beta=settings["beta"], num_train_epochs=1, seed=settings["seed"], logging_steps=1,
                     save_strategy="no", report_to="none", bf16=False, **_loss(settings["nll"]))
    lora = LoraConfig(r=settings["r"], lora_alpha=settings["alpha"], lora_dropout=settings["dropout"],
                      target_modules=settings["targets"], use_dora=settings["dora"], task_type="CAUSAL_LM")
    timer = clock()
    trainer = DPOTrainer(model=model, ref_model=None, args=args, train_dataset=Dataset.from_list(rows(train_file)),
                         processing_class=tokenizer, peft_config=lora, callbacks=[timer])
    trainer.train()
    return trainer, timer


def _loss(nll: float) -> dict:
    """desktune's dpo.nll in TRL's terms: the sigmoid loss plus nll x the chosen answers' token loss (TRL's RPO)."""
    return {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, nll]} if nll else {}


def real_tokens(dataset, max_length: int) -> tuple[int, int]:
    """(real tokens, answer tokens) of TRL's tokenized pairs: each side is prompt + answer, cut at max_length."""
    real = answers = 0
    for prompt, *sides in zip(dataset["prompt_ids"], dataset["chosen_ids"], dataset["rejected_ids"]):
        for answer in sides:
            length = min(len(prompt) + len(answer), max_length)
            real, answers = real + length, answers + max(0, length - len(prompt))
    return real, answers


def judge(model, tokenizer, eval_file: str, beta: float) -> dict:
    """The held-out rewards of a model TRL trained, through the same judge as desktune's (its chat template is the
    tokenizer's own: the one desktune trained with, saved for the recipes)."""
    from desktune.bench.measure import heldout_rewards
    from desktune.data.template import ChatFormat

    return heldout_rewards(model, ChatFormat(tokenizer, "own", model.config.model_type), eval_file, beta)


def main(tokenizer_dir: str, model_ref: str, train_file: str, eval_file: str, work: str, settings: str) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from desktune.bench.measure import peak_rss_gb, preference_flops_per_token
    from desktune.models.load import quiet_transformers

    settings = json.loads(settings)
    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)  # the model's, with the chat template desktune uses
    model = AutoModelForCausalLM.from_pretrained(model_ref, dtype=torch.float32)
    trainer, timer = trl_dpo(model, tokenizer, train_file, work, settings)
    peak = peak_rss_gb()
    real, answers = real_tokens(trainer.train_dataset, settings["max_length"])
    return {"real_tokens": real, "seconds": timer.seconds, "peak_memory_gb": peak,
            **judge(trainer.model, tokenizer, eval_file, settings["beta"]),
            "flops_per_token": preference_flops_per_token(model.config, False, answers / real, reference=True)}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:7])))

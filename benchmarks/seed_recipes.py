"""The two recipes people copy today, as the seeds wrote them, for benchmarks/speed.py to race.

trl:     TRL SFTTrainer, LoRA r16 on q/k/v/o, batch 1 x accumulation 8, gradient checkpointing, fp32, max 512.
hf-full: HF Trainer full fine-tune, every example padded to 512, gradient checkpointing, fp32, batch 4.

Each trains one epoch over the file it is given (shuffled as the seeds do) and returns the model it trained, the
real (non-padding) tokens it saw and the seconds its training loop took.
"""

import json
import time

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainerCallback, TrainingArguments

MAX_LENGTH = 512


def rows(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Clock(TrainerCallback):
    """Seconds from the first step's start to the last step's end (model loading and setup excluded)."""

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_train_end(self, args, state, control, **kwargs):
        self.seconds = time.perf_counter() - self.started


def trl_lora(model_dir: str, train_file: str, work: str):
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    args = SFTConfig(output_dir=work, per_device_train_batch_size=1, gradient_accumulation_steps=8,
                     gradient_checkpointing=True, max_length=MAX_LENGTH, learning_rate=2e-4, num_train_epochs=1,
                     logging_steps=1, save_strategy="no", report_to="none", use_cpu=True, bf16=False, packing=False,
                     dataloader_drop_last=False)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                      task_type="CAUSAL_LM")
    clock = Clock()
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows(train_file)),
                         processing_class=tokenizer, peft_config=lora, callbacks=[clock])
    trainer.train()
    real = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    return trainer.model, tokenizer, real, clock.seconds


def hf_full(model_dir: str, train_file: str, work: str):
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)

    def encode(row):
        text = tokenizer.apply_chat_template(row["messages"], tokenize=False)
        enc = tokenizer(text, max_length=MAX_LENGTH, truncation=True, padding="max_length", add_special_tokens=False)
        enc["labels"] = [t if m else -100 for t, m in zip(enc["input_ids"], enc["attention_mask"])]
        return enc

    data = Dataset.from_list(rows(train_file)).map(encode, remove_columns=["messages"])
    args = TrainingArguments(output_dir=work, per_device_train_batch_size=4, gradient_checkpointing=True,
                             learning_rate=5e-5, num_train_epochs=1, logging_steps=1, save_strategy="no",
                             report_to="none", use_cpu=True, bf16=False)
    clock = Clock()
    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[clock])
    trainer.train()
    real = sum(sum(m) for m in data["attention_mask"])
    return trainer.model, tokenizer, real, clock.seconds


RECIPES = {"trl": trl_lora, "hf-full": hf_full}

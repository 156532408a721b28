"""The two SFT recipes people copy today, to race desktune on the same data (the TRL DPO recipe is dpo.py):

trl:     the TRL SFT recipe: SFTTrainer, LoRA r16 on q/k/v/o, batch 1 x accumulation 8, gradient checkpointing,
         fp32, max 512.
hf-full: the HF Trainer full fine-tune: every example padded to 512, gradient checkpointing, fp32, batch 4.

Each trains one epoch over a jsonl of {"messages": [...]} rows (shuffled as those scripts do) and reports the real
(non-padding) tokens it saw, the seconds its training loop took, its peak RSS and its held-out loss.
Run as `python -m desktune.bench.recipes NAME TOKENIZER_DIR MODEL TRAIN EVAL WORK` (one process per recipe, so the
peak memory is its own); needs `pip install 'desktune[bench]'` for the TRL recipe.
"""

import json
import sys
import time

MAX_LENGTH = 512


def rows(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def clock():
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        """Seconds from the first step's start to the last step's end (loading and setup excluded)."""

        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_train_end(self, args, state, control, **kwargs):
            self.seconds = time.perf_counter() - self.started

    return Clock()


def trl_lora(model, tokenizer, train_file: str, work: str):
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(output_dir=work, per_device_train_batch_size=1, gradient_accumulation_steps=8,
                     gradient_checkpointing=True, max_length=MAX_LENGTH, learning_rate=2e-4, num_train_epochs=1,
                     logging_steps=1, save_strategy="no", report_to="none", bf16=False, packing=False)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                      task_type="CAUSAL_LM")
    timer = clock()
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows(train_file)),
                         processing_class=tokenizer, peft_config=lora, callbacks=[timer])
    trainer.train()
    return trainer.model, sum(len(ids) for ids in trainer.train_dataset["input_ids"]), timer.seconds


def hf_full(model, tokenizer, train_file: str, work: str):
    from transformers import Trainer, TrainingArguments

    def encode(row):
        text = tokenizer.apply_chat_template(row["messages"], tokenize=False)
        enc = dict(tokenizer(text, max_length=MAX_LENGTH, truncation=True, padding="max_length",
                             add_special_tokens=False))
        enc["labels"] = [t if m else -100 for t, m in zip(enc["input_ids"], enc["attention_mask"])]
        return enc

    data = [encode(row) for row in rows(train_file)]
    args = TrainingArguments(output_dir=work, per_device_train_batch_size=4, gradient_checkpointing=True,
                             learning_rate=5e-5, num_train_epochs=1, logging_steps=1, save_strategy="no",
                             report_to="none", bf16=False)
    timer = clock()
    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[timer])
    trainer.train()
    return trainer.model, sum(sum(e["attention_mask"]) for e in data), timer.seconds


RECIPES = {"trl": trl_lora, "hf-full": hf_full}


def main(name: str, tokenizer_dir: str, model_ref: str, train_file: str, eval_file: str, work: str) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from desktune.bench.measure import heldout_loss, peak_rss_gb
    from desktune.data.template import ChatFormat
    from desktune.models.load import quiet_transformers
    from desktune.plan.estimate import Shape, model_flops_per_token

    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)  # the model's, with the chat template desktune uses
    model = AutoModelForCausalLM.from_pretrained(model_ref, dtype=torch.float32)
    model, real_tokens, seconds = RECIPES[name](model, tokenizer, train_file, work)
    peak = peak_rss_gb()
    chat = ChatFormat(tokenizer, "own", model.config.model_type)
    return {"real_tokens": real_tokens, "seconds": seconds, "peak_memory_gb": peak,
            "heldout_loss": heldout_loss(model, chat, eval_file),
            # both recipes compute the loss on every token
            "flops_per_token": model_flops_per_token(Shape.from_config(model.config), name == "hf-full", 1.0)}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:7])))

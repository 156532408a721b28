"""Tiny random Llama / Qwen2 / Gemma3 models and a small BPE tokenizer, built locally in seconds."""

import json
import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never touch the network; read when huggingface_hub is imported

EXAMPLE_DATA = Path(__file__).resolve().parent.parent / "desktune" / "examples" / "persona" / "train.jsonl"
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>",
            "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
ARCHS = ["llama", "qwen2", "gemma3"]


def example_rows(n: int | None = None) -> list[dict]:
    rows = [json.loads(line) for line in EXAMPLE_DATA.read_text().splitlines()]
    return rows[:n] if n else rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    texts = [m["content"] for row in example_rows() for m in row["messages"]] + ["system user assistant model"]
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>")


def build_model(arch: str, vocab: int):
    from transformers import (
        AutoModelForCausalLM,
        Gemma3TextConfig,
        LlamaConfig,
        Qwen2Config,
    )

    common = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                  pad_token_id=0, eos_token_id=1, bos_token_id=2)
    if arch == "llama":
        config = LlamaConfig(**common)
    elif arch == "qwen2":
        config = Qwen2Config(**common)
    else:  # a short sliding window so packing tests cross it; 6 layers: llama.cpp's fixed 5 local + 1 global
        config = Gemma3TextConfig(**common | {"num_hidden_layers": 6}, head_dim=16, sliding_window=16,
                                  query_pre_attn_scalar=16)
    return AutoModelForCausalLM.from_config(config)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """arch -> a saved transformers folder (config, safetensors, tokenizer without chat template)."""
    import torch

    tokenizer = build_tokenizer()
    folders = {}
    for arch in ARCHS:
        torch.manual_seed(0)
        folder = tmp_path_factory.mktemp(f"tiny-{arch}")
        build_model(arch, len(tokenizer)).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders[arch] = folder
    return folders

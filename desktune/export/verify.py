"""Prove a GGUF file works: llama.cpp (the cyllama wheel) continues prompts greedily as the merged model does."""

from dataclasses import dataclass, field
from pathlib import Path

import torch

from desktune.errors import DesktuneError

PROMPTS = [
    "Hello! Who are you?",
    "Give me three tips for staying focused while studying.",
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain what a GPU is in one sentence.",
]
NEW_TOKENS = 20
HEAD_TOKENS = 5
# How many of the 5 prompts must match all 20 tokens: f16 rounds weights a little, q8_0 more, K-quants much more.
REQUIRED_FULL = {"f16": 4, "q8_0": 3}
# Rounding may flip a choice between two tokens whose logits (in transformers) lie closer than this; a wrong
# conversion parts ways where transformers was sure.
NEAR_TIE = 0.5
# 4-bit files move logits more; they must still start 3 of the 5 answers as transformers does. (A small fine-tune
# on a base that was itself 4-bit, like the built-in model, can round back to the base: this catches it.)
K_QUANT_HEADS = 3


@dataclass
class Check:
    quant: str
    full_matches: int = 0  # prompts whose greedy continuations agree on every token
    head_matches: int = 0  # prompts whose first HEAD_TOKENS agree
    same_tokenization: int = 0  # prompts llama.cpp tokenizes exactly as transformers does
    pairs: list = field(default_factory=list)  # (transformers text, llama.cpp text) per prompt
    split_margins: list = field(default_factory=list)  # where they part: transformers' top-2 logit gap

    @property
    def meets_targets(self) -> bool:
        """The strict bar: enough identical continuations for this file type."""
        return (self.full_matches >= REQUIRED_FULL.get(self.quant, 0) and self.head_matches == len(PROMPTS)
                and self.same_tokenization == len(PROMPTS))

    @property
    def passed(self) -> bool:
        """Correct export: same tokenizer, f16 meets its targets, and any quantized file parts only at near-ties."""
        if self.same_tokenization < len(PROMPTS):
            return False
        if self.quant == "f16" and not self.meets_targets:
            return False
        if self.quant not in REQUIRED_FULL:
            return self.head_matches >= K_QUANT_HEADS
        return all(m < NEAR_TIE for m in self.split_margins)

    def summary(self) -> str:
        n = len(PROMPTS)
        return (f"{self.quant}: {self.full_matches}/{n} prompts identical for {NEW_TOKENS} tokens, "
                f"{self.head_matches}/{n} on the first {HEAD_TOKENS}, "
                f"tokenizer agrees on {self.same_tokenization}/{n}"
                + (f"; they part where transformers' top-2 logits differ by {self.split_margins}" if self.split_margins else ""))


def verify(gguf_path: Path, model, chat, quant: str) -> Check:
    prompts = [chat.prompt_ids([{"role": "user", "content": p}]) for p in PROMPTS]
    theirs_tokens, theirs = _llama_cpp(gguf_path, [chat.render([{"role": "user", "content": p}], True) for p in PROMPTS],
                                       prompts)
    check = Check(quant)
    stops = set(chat.stop_ids)
    for ids, their_ids, their_out in zip(prompts, theirs_tokens, theirs):
        ours, margins = _transformers_greedy(model, ids)
        ours, their_out = _until_stop(ours, stops), _until_stop(their_out, stops)
        check.same_tokenization += their_ids == ids
        check.full_matches += ours == their_out
        split = next((i for i, (a, b) in enumerate(zip(ours, their_out)) if a != b), None)
        if split is not None:
            check.split_margins.append(round(margins[split], 3))
        check.head_matches += ours[:HEAD_TOKENS] == their_out[:HEAD_TOKENS]
        check.pairs.append((chat.tokenizer.decode(ours), chat.tokenizer.decode(their_out)))
    return check


def _transformers_greedy(model, ids: list[int]) -> tuple[list[int], list[float]]:
    """(greedy tokens, at each step the gap between transformers' two best logits)."""
    out, margins = [], []
    with torch.no_grad():  # no KV cache: 20 short forwards are cheap and leave nothing to get wrong
        for _ in range(NEW_TOKENS):
            logits = model(input_ids=torch.tensor([ids + out]), use_cache=False, logits_to_keep=1).logits
            top = logits[0, -1].float().topk(2)
            out.append(int(top.indices[0]))
            margins.append(float(top.values[0] - top.values[1]))
    return out, margins


def _llama_cpp(path: Path, texts: list[str], prompts: list[list[int]]) -> tuple[list[list[int]], list[list[int]]]:
    """llama.cpp's own tokenization of each rendered prompt, and its greedy continuation of our token ids."""
    try:
        from cyllama.llama import llama_cpp
    except ImportError:
        raise DesktuneError("checking the GGUF needs a llama.cpp runtime, which is not installed",
                            "pip install cyllama (or pass --no-verify to skip the check)") from None
    llama_cpp.disable_logging()
    llama_cpp.ggml_backend_load_all()
    model = llama_cpp.LlamaModel(str(path), llama_cpp.LlamaModelParams())
    vocab = model.get_vocab()
    tokenized = [vocab.tokenize(text, add_special=False, parse_special=True) for text in texts]
    return tokenized, [_llama_cpp_greedy(llama_cpp, model, ids) for ids in prompts]


def _llama_cpp_greedy(llama_cpp, model, ids: list[int]) -> list[int]:
    params = llama_cpp.LlamaContextParams()
    params.n_ctx = params.n_batch = len(ids) + NEW_TOKENS + 1
    context = llama_cpp.LlamaContext(model, params)
    sampler = llama_cpp.LlamaSampler(llama_cpp.LlamaSamplerChainParams())
    sampler.add_greedy()
    context.decode(llama_cpp.llama_batch_get_one(ids, 0))
    out = []
    for position in range(len(ids), len(ids) + NEW_TOKENS):
        out.append(sampler.sample(context, -1))
        context.decode(llama_cpp.llama_batch_get_one([out[-1]], position))
    return out


def _until_stop(ids: list[int], stops: set) -> list[int]:
    for i, token in enumerate(ids):
        if token in stops:
            return ids[: i + 1]
    return ids

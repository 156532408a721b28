"""The base model's answers, kept between evaluations.

A run's base does not change when it is tuned again: evaluating a second run on the same prompts (or the same run
again, or training's closing samples) asks it the same questions, and greedy decoding gives the same answers. On a
CPU those answers are half the time of a tool eval. Each answer is kept under a key made of the base's weights (a
checksum of every tensor it answers with), the prompt's tokens, its tools and how it was asked.
"""

import hashlib
import json

import torch

from desktune.files import write_atomic
from desktune.infer.generate import Reply, Sampling, generate
from desktune.models.builtin import cache_root

VERSION = 1  # raise it when a change to generation changes what a greedy answer is


def answers_folder():
    return cache_root() / "base-answers"


def base_replies(model, chat, prompts: list[tuple[list[dict], list[dict] | None]], limits: list[int],
                 strict_calls: bool = True) -> list[Reply]:
    """Greedy replies of the model as it is now (call it with the adapter off) to each (messages, tools), each
    within its token limit: kept ones where the same base was asked the same, the others generated and kept."""
    weights = weights_checksum(model)
    replies = []
    for (messages, tools), limit in zip(prompts, limits):
        sampling = Sampling(max_new_tokens=limit, strict_calls=strict_calls)
        key = _key(weights, model, chat, chat.prompt_ids(messages, tools), tools, sampling)
        path = answers_folder() / f"{key}.json"
        if path.exists():
            kept = json.loads(path.read_text())
            replies.append(Reply(kept["text"], kept["finished"], kept["ids"]))
            continue
        reply = generate(model, chat, messages, sampling, tools=tools)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"text": reply.text, "finished": reply.finished, "ids": reply.ids}))
        replies.append(reply)
    return replies


def weights_checksum(model) -> str:
    """Every tensor the model answers with now, summed up: adapter layers left out (they are off for the base),
    names as a plain model has them, so that runs with the same base and the same adapted layers agree."""
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            if any(part in name for part in ("lora_", "trainable_tokens", "modules_to_save")):
                continue
            plain = name.removeprefix("base_model.model.").replace(".base_layer", "").replace(".original_module", "")
            values = tensor.detach().float()
            digest.update(f"{plain}:{tensor.dtype}:{tuple(tensor.shape)}:{values.sum().item():.8e}:"
                          f"{values.square().sum().item():.8e};".encode())
    return digest.hexdigest()


def _key(weights: str, model, chat, prompt_ids: list[int], tools, sampling: Sampling) -> str:
    asked = [VERSION, weights, model.device.type, prompt_ids, tools, sampling.max_new_tokens, sampling.strict_calls,
             *([chat.call_share] if chat.call_share else [])]  # answers kept before balanced calls stay valid
    return hashlib.sha256(json.dumps(asked, sort_keys=True, default=str).encode()).hexdigest()[:32]

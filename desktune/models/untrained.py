"""Tokens a base model never learned, found from its embedding (and output) rows.

The rule: a row is untrained when it is (near) zero, as Llama 3 base ships its reserved and chat tokens, or
when at least 32 other rows of the vocabulary point the same way (cosine >= 0.9), as never-seen rows end up
in pretraining: they only ever get the shared "not this token" gradient and collapse into one cluster (the
built-in Gemma 3 270M: `<end_of_turn>` has 6,442 such neighbours, `<unused33>` 6,007, while learned tokens
such as "▁the" or "model" have none). Under LoRA the head is frozen, so an answer cannot single out an
untrained end-of-turn token from its cluster and never stops: such rows must train.
"""

from pathlib import Path

COSINE = 0.9
NEIGHBOURS = 32
SMALL_NORM = 0.05  # of the median row norm
CHUNK_ROWS = 32768


def untrained_ids(rows, ids) -> list[int]:
    """The ids among ids whose rows (a vocab x hidden matrix) look never trained."""
    import torch

    ids = sorted(set(ids))
    if not ids:
        return []
    picked = rows[ids].detach().float()
    picked_norms = picked.norm(dim=1)
    norms, crowd = [], 0
    for start in range(0, rows.shape[0], CHUNK_ROWS):  # in slices: a float copy of Gemma's matrix is 670 MB
        w = rows[start:start + CHUNK_ROWS].detach().float()
        norms.append(w.norm(dim=1))
        cosine = (w @ picked.T) / (norms[-1][:, None] * picked_norms[None, :]).clamp_min(1e-12)
        crowd = crowd + (cosine >= COSINE).sum(dim=0)
    small = picked_norms < SMALL_NORM * torch.cat(norms).median()
    crowded = crowd - 1 >= NEIGHBOURS
    return [i for i, bad in zip(ids, (small | crowded).tolist()) if bad]


def untrained_in_model(model, ids) -> list[int]:
    """ids whose input embedding row, or output row when the head is not tied to it, is untrained."""
    embedding = stored_weight(model.get_input_embeddings())
    found = set(untrained_ids(embedding, ids))
    head = model.get_output_embeddings()
    if head is not None and stored_weight(head).data_ptr() != embedding.data_ptr():
        found |= set(untrained_ids(stored_weight(head), ids))
    return sorted(found)


def stored_weight(module):
    """A layer's matrix as stored, under any PEFT wrapper: PEFT's merged `weight` of a layer with trained token
    rows builds a whole vocab x hidden copy at each access."""
    module = getattr(module, "original_module", None) or module
    return (module.get_base_layer() if hasattr(module, "get_base_layer") else module).weight


def untrained_in_answer(model, ids) -> list[int]:
    """The never-trained tokens an answer contains (rows an adapter trained are learned now)."""
    return untrained_in_model(model, set(ids) - trained_rows(model))


def trained_rows(model) -> set[int]:
    """The rows an adapter trained: PEFT trainable tokens, or, saved as LoRA (models/adapters.py), the ids the
    embedding LoRA's one-hot A picks out."""
    config = getattr(model, "peft_config", {}).get("default")
    trained = {i for rows in (getattr(config, "trainable_token_indices", None) or {}).values() for i in rows}
    for one_hot in getattr(model.get_input_embeddings(), "lora_embedding_A", {}).values():
        trained |= set(one_hot.nonzero()[:, 1].tolist())
    return trained


def untrained_in_folder(folder: str, ids) -> list[int] | None:
    """The same from a local safetensors checkpoint, reading only its embedding and head (no model built);
    None when the weights are not in a local folder (a hub id not downloaded, a .gguf file)."""
    from safetensors import safe_open

    files = sorted(Path(folder).glob("*.safetensors")) if Path(folder).is_dir() else []
    found, seen = set(), False
    for f in files:
        with safe_open(str(f), "pt") as weights:
            for name in weights.keys():
                if name.endswith(("embed_tokens.weight", "lm_head.weight", "wte.weight")):
                    found |= set(untrained_ids(weights.get_tensor(name), ids))
                    seen = True
    return sorted(found) if seen else None


def marker_ids(tokenizer, sequences, end_of_turn: int) -> list[int]:
    """The tokens to check: the end-of-turn token, and every special token the data uses (turn starts, role
    markers, tokens the user added): ordinary text tokens are left to training as usual."""
    special = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder)
    used = {i for ids in sequences for i in ids if i in special}
    return sorted(used | {end_of_turn})


def describe(tokenizer, ids: list[int]) -> str:
    return ", ".join(tokenizer.convert_ids_to_tokens(ids))


def tokens_to_train(setting: str, method: str, model, tokenizer, sequences, end_of_turn: int) -> tuple[list[int], str]:
    """(ids whose rows train, the reason recorded in config.yaml) for untrained_tokens=auto|off."""
    if method == "full":
        return [], "method=full: every row trains"
    if setting == "off":
        return [], "off: rows left as the base has them"
    ids = untrained_in_model(model, marker_ids(tokenizer, sequences, end_of_turn))
    if not ids:
        return [], "auto: every chat marker and special token the data uses is learned in this base"
    return ids, f"auto: {describe(tokenizer, ids)} never learned by this base ({RULE}): their rows train"


def before_training(setting: str, method: str, folder: str, tokenizer, sequences, end_of_turn: int) -> str:
    """What training will find and do, from the checkpoint alone (data check, plan)."""
    found = untrained_in_folder(folder, marker_ids(tokenizer, sequences, end_of_turn))
    if found is None:
        return "not checked: the weights are not in a local folder (training checks them when it starts)"
    if not found:
        return "none: every chat marker and special token the data uses is learned in this base"
    if method == "full":
        action = "they train with every other weight (method=full)"
    elif setting == "auto":
        action = "their rows will train (untrained_tokens=auto)"
    else:
        action = "untrained_tokens=off leaves them: answers may not stop"
    return f"{describe(tokenizer, found)} never learned by this base; {action}"


RULE = f"row near zero, or >= {NEIGHBOURS} never-seen tokens within cosine {COSINE}"

"""The tokenizer in GGUF terms: llama.cpp's "llama" (SentencePiece-style BPE with scores) or "gpt2"
(byte-level BPE with merges), special token ids and the chat template."""

import json

import gguf

from desktune.errors import ModelError

# llama.cpp recognises a byte-level BPE pre-tokenizer by name; these are the regexes behind the names.
GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
PRE_TOKENIZERS = {
    GPT2_REGEX: "gpt-2",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+":
        "llama-bpe",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+":
        "qwen2",
}


def write_vocab(writer: gguf.GGUFWriter, tokenizer, n_vocab: int, chat_template: str, end_of_turn: int) -> None:
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    model = spec["model"]
    if model["type"] == "BPE" and model.get("byte_fallback"):
        _write_sentencepiece(writer, tokenizer, spec, n_vocab)
    elif model["type"] == "BPE" and "ByteLevel" in json.dumps(spec.get("pre_tokenizer")):
        _write_byte_level(writer, tokenizer, spec, n_vocab)
    else:
        raise ModelError(f"GGUF export does not support this tokenizer ({model['type']})",
                         "supported: SentencePiece-style BPE (Gemma, Llama 2) and byte-level BPE (Llama 3, Qwen)")
    for kind, token_id in [("bos", tokenizer.bos_token_id), ("eos", tokenizer.eos_token_id),
                           ("unk", tokenizer.unk_token_id), ("pad", tokenizer.pad_token_id), ("eot", end_of_turn)]:
        if token_id is not None:
            getattr(writer, f"add_{kind}_token_id")(token_id)
    # Our templates write BOS themselves; llama.cpp and Ollama add it when the file says so.
    writer.add_add_bos_token("bos_token" in chat_template and tokenizer.bos_token_id is not None)
    writer.add_add_eos_token(False)
    writer.add_chat_template(chat_template)


def _tokens_and_types(tokenizer, n_vocab: int, normal_type) -> tuple[list[str], list[int]]:
    size = len(tokenizer)
    if size > n_vocab:
        raise ModelError(f"the tokenizer has {size} tokens but the model's embedding only {n_vocab}",
                         "resize the model's embeddings to the tokenizer before exporting")
    added = {t.content: t.special for t in tokenizer.added_tokens_decoder.values()}
    tokens, types = [], []
    for i in range(size):
        text = tokenizer.backend_tokenizer.id_to_token(i)
        tokens.append(text)
        if text in added:
            types.append(gguf.TokenType.CONTROL if added[text] else gguf.TokenType.USER_DEFINED)
        else:
            types.append(normal_type(text))
    for i in range(size, n_vocab):  # embedding rows with no token behind them
        tokens.append(f"[PAD{i}]")
        types.append(gguf.TokenType.UNUSED)
    return tokens, types


def _write_sentencepiece(writer, tokenizer, spec, n_vocab: int) -> None:
    def normal_type(text):
        return gguf.TokenType.BYTE if len(text) == 6 and text.startswith("<0x") and text.endswith(">") else gguf.TokenType.NORMAL

    tokens, types = _tokens_and_types(tokenizer, n_vocab, normal_type)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    # SentencePiece merges the pair whose result scores highest; vocabularies are stored best-first.
    writer.add_token_scores([-float(i) if t == gguf.TokenType.NORMAL else -1000.0 for i, t in enumerate(types)])
    writer.add_token_types(types)
    writer.add_add_space_prefix("Prepend" in json.dumps(spec.get("normalizer") or spec.get("pre_tokenizer")))


def _write_byte_level(writer, tokenizer, spec, n_vocab: int) -> None:
    tokens, types = _tokens_and_types(tokenizer, n_vocab, lambda text: gguf.TokenType.NORMAL)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre_tokenizer(spec))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    merges = spec["model"]["merges"]
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])


def _pre_tokenizer(spec) -> str:
    pre = spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre])
    for step in steps:
        if step.get("type") == "ByteLevel" and step.get("use_regex", True):
            return "gpt-2"
        if step.get("type") == "Split":
            regex = step.get("pattern", {}).get("Regex")
            if regex in PRE_TOKENIZERS:
                return PRE_TOKENIZERS[regex]
            raise ModelError("GGUF export does not know this tokenizer's pre-tokenizer pattern",
                             f"known: {', '.join(PRE_TOKENIZERS.values())}")
    return "default"

"""Tokens the data needs that the base never learned: added to the vocabulary if missing, their rows trained."""


def token_list(spec: str) -> list[str]:
    return [t.strip() for t in spec.split(",") if t.strip()]


def add_new_tokens(tokenizer, model, spec: str) -> list[int]:
    """Add the listed tokens the tokenizer lacks (kept whole, shown in decoded text), grow the embeddings to
    match, and return the ids of every listed token: their embedding (and output) rows train."""
    tokens = token_list(spec)
    if not tokens:
        return []
    missing = [t for t in tokens if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_tokens(missing)
    match_vocabulary(model, tokenizer)
    return tokenizer.convert_tokens_to_ids(tokens)


def match_vocabulary(model, tokenizer) -> None:
    """Grow the embeddings to the tokenizer when tokens were added."""
    grow_vocabulary(model, len(tokenizer))


def grow_vocabulary(model, rows: int) -> None:
    """Grow the embeddings to `rows` where they have fewer (new rows start at the mean embedding)."""
    if rows > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(rows, mean_resizing=True)

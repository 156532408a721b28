"""Metric records as the columns a chart draws, thinned on the server so a long run still plots at once."""

REWARDS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies")  # dpo, orpo
KEYS = ("step", "tokens", "loss", "eval_loss", "calls_loss", "lr", "tokens_per_s", "memory_gb", *REWARDS,
        *(f"eval_{k}" for k in REWARDS))


def thin(records: list[dict], limit: int = 2000) -> list[dict]:
    """At most about `limit` records: in each bucket the lowest and highest loss survive (the curve keeps its
    shape and spikes), as does every evaluation (few) and the last record."""
    if len(records) <= limit:
        return records
    buckets = max(limit // 2, 1)
    size = len(records) / buckets
    kept = {0, len(records) - 1}
    for b in range(buckets):
        chunk = range(int(b * size), min(int((b + 1) * size), len(records)))
        if chunk:
            kept.add(min(chunk, key=lambda i: records[i]["loss"]))
            kept.add(max(chunk, key=lambda i: records[i]["loss"]))
    evals = [i for i, r in enumerate(records) if "eval_loss" in r]
    kept.update(evals[::max(1, len(evals) // (limit // 4 or 1))] + evals[-1:])
    return [records[i] for i in sorted(kept)]


def columns(records: list[dict]) -> dict[str, list]:
    """{key: [value per record]} with None where a record lacks the key (eval_loss on most steps)."""
    return {k: [r.get(k) for r in records] for k in KEYS}

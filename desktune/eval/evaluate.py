"""Held-out loss and perplexity of base and tuned, a forgetting check, and side-by-side answers."""

import math
import torch

from desktune.config import load_config
from desktune.data.dataset import build_dataset, load_examples
from desktune.data.neutral import neutral_examples
from desktune.data.pack import pack
from desktune.errors import DataError
from desktune.infer.generate import base_model, load_run
from desktune.infer.samples import side_by_side, write_samples
from desktune.train.forward import mean_loss



def evaluate(run, data_file: str | None = None, n_samples: int = 8, max_new_tokens: int = 0) -> dict:
    """Measure the run against its base model; writes eval.json and samples.md into the run folder."""
    cfg = load_config(str(run.config))
    model, chat = load_run(run)
    if data_file:
        examples, _ = load_examples(data_file, chat, cfg.data)
    else:
        examples = build_dataset(cfg.data, chat, cfg.train.seed).eval  # the same seeded split training held out
    if not examples:
        raise DataError(f"{run.path} trained without a held-out split", "pass --data FILE with held-out examples")
    rows = pack([e.encoded for e in examples], cfg.train.micro_batch_tokens, cfg.data.packing)
    neutral_rows = pack(neutral_examples(chat), cfg.train.micro_batch_tokens)

    losses = {"tuned": _losses(model, rows, neutral_rows)}
    with base_model(model, cfg.model):
        losses["base"] = _losses(model, rows, neutral_rows)
    records = side_by_side(model, chat, [e.messages for e in examples if e.messages][:n_samples], cfg.model,
                           max_new_tokens)
    write_samples(run.samples, records)
    result = {
        "examples": len(examples),
        "held_out": {k: {"loss": v[0], "perplexity": math.exp(v[0])} for k, v in losses.items()},
        "neutral_text": {k: {"loss": v[1], "perplexity": math.exp(v[1])} for k, v in losses.items()},
        "samples": records,
        "tuned_finished": sum(r["tuned_finished"] for r in records),
        "tuned_with_untrained_tokens": sum(bool(r["tuned_untrained_tokens"]) for r in records),
    }
    base_ppl, tuned_ppl = (result["neutral_text"][k]["perplexity"] for k in ("base", "tuned"))
    result["neutral_perplexity_change_pct"] = 100 * (tuned_ppl / base_ppl - 1)
    run.write_json(run.eval_json, result)
    return result


def _losses(model, rows, neutral_rows) -> tuple[float, float]:
    device = next(model.parameters()).device
    with torch.no_grad():
        return mean_loss(model, rows, device), mean_loss(model, neutral_rows, device)

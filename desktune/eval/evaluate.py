"""Held-out loss and perplexity of base and tuned, a forgetting check, side-by-side answers, and on tool rows the
calls each model makes."""

import json
import math
from dataclasses import replace

import torch

from desktune.config import load_config
from desktune.data.dataset import dataset_for, load_examples
from desktune.data.neutral import neutral_examples
from desktune.data.pack import pack
from desktune.data.preference import load_pairs
from desktune.errors import DataError
from desktune.eval.preference import preference_eval
from desktune.eval.tools import score_turn, summarize, tool_turns
from desktune.infer.base_answers import base_replies
from desktune.infer.generate import Sampling, base_model, generate, load_run
from desktune.infer.samples import side_by_side, write_samples
from desktune.infer.tool_calls import parse_calls
from desktune.models.untrained import untrained_in_answer
from desktune.report.card import write_cards
from desktune.train.forward import mean_loss


def evaluate(run, data_file: str | None = None, n_samples: int = 8, max_new_tokens: int = 0,
             strict_calls: bool = True) -> dict:
    """Measure the run against its base model; writes eval.json and samples.md into the run folder."""
    cfg = load_config(str(run.config))
    model, chat = load_run(run)
    pairs = cfg.train.objective != "sft"  # dpo / orpo: held-out preference pairs
    if data_file:  # cut as the run's auto length would cut it: a held-out tool row may be longer than training's
        auto = "(auto" in run.decisions().get("max_length", "")
        examples, _ = (load_pairs if pairs else load_examples)(data_file, chat,
                                                                replace(cfg.data, max_length=0) if auto else cfg.data)
    else:
        examples = dataset_for(cfg, chat).eval  # the same seeded split training held out
    if not examples:
        raise DataError(f"{run.path} trained without a held-out split", "pass --data FILE with held-out examples")
    # pairs: the loss of their chosen answers
    rows = pack([e.sequences[0] for e in examples], cfg.train.micro_batch_tokens, cfg.data.packing)
    neutral_rows = pack(neutral_examples(chat), cfg.train.micro_batch_tokens)

    losses = {"tuned": _losses(model, rows, neutral_rows)}
    with base_model(model, cfg.model):
        losses["base"] = _losses(model, rows, neutral_rows)
    tool_examples = [e for e in examples if e.messages and e.tools is not None]
    plain = [e.messages for e in examples if e.messages and e.tools is None][:n_samples]
    records = side_by_side(model, chat, plain, cfg.model, max_new_tokens) if plain else []
    tools = tool_eval(model, chat, tool_examples, cfg.model, max_new_tokens, strict_calls) if tool_examples else None
    if tools:
        records += tools["turns"][: max(0, n_samples - len(records))]
    write_samples(run.samples, records)
    result = {
        "examples": len(examples),
        "held_out": {k: {"loss": v[0], "perplexity": math.exp(v[0])} for k, v in losses.items()},
        "neutral_text": {k: {"loss": v[1], "perplexity": math.exp(v[1])} for k, v in losses.items()},
        "samples": records,
        "tuned_finished": sum(r["tuned_finished"] for r in records),
        "tuned_with_untrained_tokens": sum(bool(r["tuned_untrained_tokens"]) for r in records),
    }
    if tools:
        result["tool_calls"] = tools
    if pairs:
        beta = cfg.dpo.beta if cfg.train.objective == "dpo" else cfg.orpo.beta
        result["preference"] = preference_eval(model, examples, cfg.train.micro_batch_tokens, beta, cfg.model)
    base_ppl, tuned_ppl = (result["neutral_text"][k]["perplexity"] for k in ("base", "tuned"))
    result["neutral_perplexity_change_pct"] = 100 * (tuned_ppl / base_ppl - 1)
    run.write_json(run.eval_json, result)
    write_cards(run)  # the cards now show these results
    return result


def tool_eval(model, chat, examples, base_ref: str | None, max_new_tokens: int = 0, strict_calls: bool = True) -> dict:
    """Each assistant turn of the tool rows, answered greedily by base and tuned from the conversation before it
    (its tools in the prompt, as training wrote them; calls strict unless strict_calls is off), parsed and scored
    (eval/tools.py)."""
    tests = [(prompt, expected, kind, e.tools) for e in examples for prompt, expected, kind in tool_turns(e.messages)]
    limits = [max_new_tokens or _turn_limit(chat, prompt, expected, tools) for prompt, expected, _, tools in tests]
    was_training = model.training
    model.eval()
    try:
        with base_model(model, base_ref):
            base = base_replies(model, chat, [(prompt, tools) for prompt, _, _, tools in tests], limits, strict_calls)
        tuned = [generate(model, chat, prompt, Sampling(max_new_tokens=limit, strict_calls=strict_calls), tools=tools)
                 for (prompt, _, _, tools), limit in zip(tests, limits)]
        never_learned = set(untrained_in_answer(model, {i for reply in tuned for i in reply.ids}))
    finally:
        model.train(was_training)
    turns = [_record(chat, test, limit, _scored(chat, test, b), _scored(chat, test, t), never_learned)
             for test, limit, b, t in zip(tests, limits, base, tuned)]
    return {"base": summarize([t["base_score"] for t in turns]), "tuned": summarize([t["tuned_score"] for t in turns]),
            "tool_format": chat.tool_format, "strict_calls": strict_calls,
            "balanced_calls": chat.call_share if strict_calls else None, "turns": turns}


def _turn_limit(chat, prompt, expected, tools) -> int:
    """Twice the expected turn's length in tokens, at least 64: a reply still going at twice that does not stop."""
    expected_ids = chat.tokens(chat.render(prompt + [expected], tools=tools))
    return max(64, 2 * (len(expected_ids) - len(chat.prompt_ids(prompt, tools))))


def _scored(chat, test, reply):
    _, expected, kind, tools = test
    declared = {tool["name"] for tool in tools or []}
    return reply, score_turn(expected, kind, parse_calls(reply.text, chat.tool_format), declared)


def _record(chat, test, limit, base, tuned, never_learned) -> dict:
    """One turn in the shape samples.md reads, with what was expected and both scores."""
    prompt, expected, kind, _ = test
    (b, b_score), (t, t_score) = base, tuned
    return {"prompt": prompt[-1]["content"], "kind": kind, "expected": _expected_text(expected),
            "base": b.text, "tuned": t.text, "base_finished": b.finished, "tuned_finished": t.finished,
            "max_new_tokens": limit, "base_score": b_score, "tuned_score": t_score,
            "tuned_untrained_tokens": chat.tokenizer.convert_ids_to_tokens(sorted(set(t.ids) & never_learned))}


def _expected_text(expected: dict) -> str:
    calls = [f"call {c['name']} {json.dumps(c['arguments'], ensure_ascii=False)}" for c in expected.get("tool_calls") or []]
    return "\n".join(([expected["content"]] if expected.get("content") else []) + calls)


def _losses(model, rows, neutral_rows) -> tuple[float, float]:
    device = next(model.parameters()).device
    with torch.no_grad():
        return mean_loss(model, rows, device), mean_loss(model, neutral_rows, device)

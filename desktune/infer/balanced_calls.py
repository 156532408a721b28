"""Balanced calls: whether an answer opens with a call, decided as if calls and answers in words were equally common.

A model tuned on rows that mostly call (three requests in four, in the tool sets people write) learns that share as
a prior: it opens a call for a request no declared function serves ("will it rain in Bergen tomorrow" ->
check_flight_status) at a probability of 0.5-0.98, where most requests that need a call score above 0.95.
Dividing each side by its share in training (the usual prior correction) gives the rule: open a call where the
model's probability of the call's first token is at least the share of requests the training rows answer with a
call. The call's first token is the one training wrote it with; strict calls (strict_calls.py) take it from there.
"""

import math


def opener_ids(tokenizer, tool_format: str | None) -> list[int]:
    """The first token of the format's call mark, as training wrote it (the built-in Gemma 3: the '<' of
    <start_function_call>); a tokenizer's own template: the mark that is one token of its vocabulary (Qwen's
    <tool_call>, FunctionGemma's <start_function_call>). [] for a format no mark opens."""
    from desktune.infer.tool_calls import FUNCTIONGEMMA_START, HERMES_START

    if tool_format == "tokenizer template":
        ids = [tokenizer.encode(mark, add_special_tokens=False) for mark in (FUNCTIONGEMMA_START, HERMES_START)]
        return sorted({i[0] for i in ids if len(i) == 1})
    mark = {"functiongemma": FUNCTIONGEMMA_START, "hermes-json": HERMES_START}.get(tool_format)
    return tokenizer.encode(mark, add_special_tokens=False)[:1] if mark else []


class BalancedCalls:
    """A logits processor for model.generate acting on the answer's first token: greedy, a call opens where its
    probability is at least call_share and words follow otherwise; sampling, the call's odds are divided by
    call_share / (1 - call_share)."""

    def __init__(self, prompt_length: int, openers: list[int], call_share: float, greedy: bool):
        self.prompt_length, self.openers, self.share, self.greedy = prompt_length, openers, call_share, greedy

    def __call__(self, input_ids, scores):
        if input_ids.shape[1] != self.prompt_length:
            return scores
        for row in range(scores.shape[0]):
            if not self.greedy:
                scores[row, self.openers] += math.log((1 - self.share) / self.share)
                continue
            calls = scores[row].float().softmax(-1)[self.openers].sum().item()
            if calls < self.share:
                scores[row, self.openers] = float("-inf")
            else:
                keep = scores[row, self.openers].clone()
                scores[row] = float("-inf")
                scores[row, self.openers] = keep
        return scores

"""Ending a generation early: when the answer shows one of the caller's stop texts (OpenAI's `stop`), or when the
caller no longer wants it (a client that went away), so the model is free for the next request."""

import threading


def stopping_criteria(tokenizer, prompt_length: int, stop_texts: tuple[str, ...] = (),
                      cancel: threading.Event | None = None):
    """A StoppingCriteriaList for model.generate, or None when there is nothing to watch."""
    from transformers import StoppingCriteriaList

    criteria = ([_StopText(tokenizer, prompt_length, stop_texts)] if stop_texts else []) + \
        ([_Cancelled(cancel)] if cancel is not None else [])
    return StoppingCriteriaList(criteria) if criteria else None


# Plain callables: StoppingCriteriaList calls each one with (input_ids, scores) and ORs the answers, and this keeps
# transformers' generation package unimported until a generation needs it.

class _StopText:
    """True once a stop text appears in the answer. Only the answer's last tokens are decoded: a token holds at least
    one byte and a character at most four, so 4 x (longest stop) + 2 tokens always hold a stop that just ended."""

    def __init__(self, tokenizer, prompt_length: int, stop_texts: tuple[str, ...]):
        self.tokenizer, self.prompt_length, self.stop_texts = tokenizer, prompt_length, stop_texts
        self.window = 4 * max(len(s) for s in stop_texts) + 2

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        tails = [self.tokenizer.decode(row[self.prompt_length:][-self.window:], skip_special_tokens=False)
                 for row in input_ids.tolist()]
        return torch.tensor([any(s in tail for s in self.stop_texts) for tail in tails], device=input_ids.device)


class _Cancelled:
    def __init__(self, cancel: threading.Event):
        self.cancel = cancel

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        return torch.full((input_ids.shape[0],), self.cancel.is_set(), device=input_ids.device)

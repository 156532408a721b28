"""Text pieces of a reply as the model makes them: generate() (the training template and stop tokens) on a
thread feeding a TextIteratorStreamer, for callers that forward tokens elsewhere (the web page)."""

import threading
from contextlib import nullcontext
from typing import Iterator

from desktune.infer.generate import Reply, Sampling, base_model, generate


def stream_reply(model, chat, messages: list[dict], sampling: Sampling, base: bool = False,
                 lock=None) -> Iterator[str | Reply]:
    """Yields text pieces, then the whole Reply. base: the untuned model answers. lock: held while generating,
    so one model never runs two generations (or the adapter on and off) at once."""
    streamer = _streamer(chat)
    outcome = {}

    def work():
        try:
            with lock or nullcontext(), base_model(model) if base else nullcontext():
                outcome["reply"] = generate(model, chat, messages, sampling, streamer=streamer)
        except BaseException as e:  # handed to the caller's thread below
            outcome["error"] = e
            streamer.end()

    thread = threading.Thread(target=work, daemon=True, name="desktune-generate")
    thread.start()
    for piece in streamer:
        if piece:
            yield piece
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    yield outcome["reply"]


def _streamer(chat):
    """Special tokens shown as the Reply shows them (an untrained <unused33> must be seen), the stop tokens not."""
    from transformers import TextIteratorStreamer

    stop = set(getattr(chat, "stop_ids", [chat.end_of_turn]))

    class WithoutStop(TextIteratorStreamer):
        def put(self, value):
            if self.next_tokens_are_prompt:
                return super().put(value)
            kept = [int(t) for t in value.reshape(-1) if int(t) not in stop]
            if kept:
                super().put(value.new_tensor(kept))

    return WithoutStop(chat.tokenizer, skip_prompt=True, skip_special_tokens=False)

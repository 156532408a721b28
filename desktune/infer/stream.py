"""Text pieces of a reply as the model makes them: generate() (the training template and stop tokens) on a
thread feeding a TextIteratorStreamer, for callers that forward tokens elsewhere (the web page)."""

import threading
from contextlib import nullcontext
from typing import Iterator

from desktune.infer.generate import Reply, Sampling, base_model, generate, text_streamer


def stream_reply(model, chat, messages: list[dict], sampling: Sampling, base: bool = False,
                 lock=None, base_ref: str | None = None, tools: list[dict] | None = None,
                 cancel=None) -> Iterator[str | Reply]:
    """Yields text pieces, then the whole Reply. base: the untuned model answers (base_ref: the model a full
    fine-tune was tuned from, see base_model). lock: held while generating, so one model never runs two
    generations (or the adapter on and off) at once. tools: the functions the model may call, and cancel (a
    threading.Event: set, the generation ends at its next token), as for generate."""
    streamer = text_streamer(chat, iterator=True)
    outcome = {}

    def work():
        try:
            with lock or nullcontext(), base_model(model, base_ref) if base else nullcontext():
                outcome["reply"] = generate(model, chat, messages, sampling, streamer=streamer, tools=tools,
                                           cancel=cancel)
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


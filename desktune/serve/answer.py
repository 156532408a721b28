"""One request answered: generation through infer's stream_reply (the streamer chat and the UI share), on its own
thread, with the pieces handed to the event loop; then the whole completion, or its chunks as they come.

With tools offered, a stream sends the reply once it has ended, parsed: streamed as it came, a call's markup would
reach the client as words before the call itself (desktune generate and chat do the same)."""

import asyncio
import logging
import threading
from collections.abc import AsyncIterator

from desktune.infer.generate import Reply, Sampling
from desktune.infer.stream import stream_reply
from desktune.serve.request import ChatRequest
from desktune.serve.responses import DONE, Completion, final_message, message_chunks, usage
from desktune.serve.served import Served
from desktune.serve.stops import StopCutter

log = logging.getLogger("desktune.serve")


async def generation(served: Served, request: ChatRequest, sampling: Sampling,
                     cancel: threading.Event) -> AsyncIterator[str | Reply]:
    """Text pieces as the model writes them, then the whole Reply."""
    pieces = stream_reply(served.model, served.chat, request.messages, sampling, lock=served.lock,
                          tools=request.tools, cancel=cancel)
    while (piece := await asyncio.to_thread(next, pieces, None)) is not None:
        yield piece


async def complete(served: Served, request: ChatRequest, sampling: Sampling, prompt_tokens: int) -> dict:
    """The chat.completion object."""
    cancel = threading.Event()
    try:
        async for piece in generation(served, request, sampling, cancel):
            reply = piece
    finally:
        cancel.set()
    message, finish = final_message(served.chat, reply, request.stop, request.parse_calls)
    return Completion(served.model_id).whole(message, finish, usage(prompt_tokens, reply))


async def stream(served: Served, request: ChatRequest, sampling: Sampling, prompt_tokens: int,
                 turn) -> AsyncIterator[str]:
    """Server-sent events: the role, the content as it comes, the finish_reason (and usage when asked), [DONE].
    turn: the queue's context that gives this request the model, entered once the stream has started."""
    completion, cutter, cancel = Completion(served.model_id), StopCutter(request.stop), threading.Event()
    yield completion.chunk({"role": "assistant", "content": ""})
    try:
        async with turn():
            async for piece in generation(served, request, sampling, cancel):
                if isinstance(piece, Reply):
                    reply = piece
                elif not request.parse_calls and (text := cutter.feed(piece)):
                    yield completion.chunk({"content": text})
    except Exception as e:  # the response has started: the error goes in the stream, as OpenAI's does
        log.exception("generation failed")
        yield completion.error(f"the server failed while generating: {type(e).__name__}: {e}")
        return
    finally:
        cancel.set()  # a client that left mid-answer frees the model at the next token
    message, finish = final_message(served.chat, reply, request.stop, request.parse_calls)
    tail = message_chunks(completion, message) if request.parse_calls else \
        [completion.chunk({"content": rest}) for rest in [cutter.finish()] if rest]
    for chunk in tail:
        yield chunk
    yield completion.chunk({}, finish)
    if request.include_usage:
        yield completion.usage_chunk(usage(prompt_tokens, reply))
    yield DONE

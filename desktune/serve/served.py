"""The model a server answers with: loaded once through infer/ (as `desktune chat` loads it), its name, and the
prompt of a request checked against its chat template and context length before any answer starts."""

import threading
from dataclasses import dataclass, field
from pathlib import Path

from desktune.errors import DesktuneError
from desktune.infer.generate import Sampling
from desktune.serve.api_error import bad_request
from desktune.serve.request import ChatRequest


@dataclass
class Served:
    model: object
    chat: object  # the run's ChatFormat: its training template, end tokens and tool format
    model_id: str  # the run folder's name
    created: int  # unix seconds: when the run folder last changed
    context_length: int | None
    lock: threading.Lock = field(default_factory=threading.Lock)  # one generation at a time on the model


def load_served(path: str) -> Served:
    """A run folder (base + adapter, or a full fine-tune) or a plain model folder such as a merged model."""
    from desktune.infer.generate import load_for_chat

    model, chat = load_for_chat(path)
    folder = Path(path).resolve()
    return Served(model, chat, folder.name, int(folder.stat().st_mtime),
                  getattr(model.config, "max_position_embeddings", None))


def prompt_ids(served: Served, request: ChatRequest) -> list[int]:
    """The prompt's tokens as the run's template renders it, or a 400 saying why it cannot be answered."""
    uses_tools = request.tools or any(m["role"] == "tool" or m.get("tool_calls") for m in request.messages)
    if uses_tools and served.chat.tool_format is None:
        raise bad_request("this run's chat template (the tokenizer's own) never mentions tools: it cannot show the "
                          "model the functions; send no tools, or train with data.template=gemma, chatml or llama3",
                          "tools")
    try:
        ids = served.chat.prompt_ids(request.messages, request.tools)
    except DesktuneError as e:  # the template rejects the conversation's shape (e.g. two user turns in a row)
        raise bad_request(e.message + (f" ({e.hint})" if e.hint else ""), "messages") from None
    room = served.context_length - len(ids) if served.context_length else None
    if room is not None and room < (request.max_tokens or 1):
        raise bad_request(f"This model's maximum context length is {served.context_length} tokens. However, you "
                          f"requested {len(ids) + (request.max_tokens or 1)} tokens ({len(ids)} in the messages, "
                          f"{request.max_tokens or 1} in the completion)", "messages", "context_length_exceeded")
    return ids


def sampling(served: Served, request: ChatRequest, prompt_length: int, limit: int) -> Sampling:
    """How to generate: temperature 0 is greedy (desktune generate's default); without max_tokens, as many tokens as
    the server allows and the context holds."""
    room = served.context_length - prompt_length if served.context_length else limit
    return Sampling(max_new_tokens=request.max_tokens or min(limit, room), temperature=request.temperature,
                    top_p=request.top_p, stop=request.stop)


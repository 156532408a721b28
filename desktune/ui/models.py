"""Models loaded for chat: at most `limit` stay in memory, the least recently used one leaves first."""

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Loaded:
    model: object
    chat: object
    base_ref: str | None  # the model it was tuned from (None: a plain model folder), for answers of the base
    lock: threading.Lock = field(default_factory=threading.Lock)  # one generation at a time per model


class Models:
    def __init__(self, limit: int = 2):
        self.limit = max(1, limit)
        self._loaded: OrderedDict[str, Loaded] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str, folder: Path) -> Loaded:
        """The run's model, loaded with load_for_chat (as `desktune chat` does) on first use."""
        from desktune.infer.generate import base_of, load_for_chat

        with self._lock:  # loads one at a time: two requests for a new run load it once
            if name in self._loaded:
                self._loaded.move_to_end(name)
                return self._loaded[name]
            model, chat = load_for_chat(str(folder))
            self._loaded[name] = Loaded(model, chat, base_of(folder))
            while len(self._loaded) > self.limit:
                self._loaded.popitem(last=False)  # a generation still using it keeps its own reference
            return self._loaded[name]

    def status(self) -> dict:
        return {"loaded": list(self._loaded), "limit": self.limit}

"""The answer's text as OpenAI gives it: cut before the first stop text (which is not included), and without the
whitespace around it. Fed the text piece by piece, it hands out only what can no longer change (text that could
still turn out to start a stop text, or trailing whitespace, waits), so a stream and a whole answer agree."""


class StopCutter:
    def __init__(self, stops: tuple[str, ...] = ()):
        self.stops = stops
        self.raw = ""  # everything fed
        self.sent = 0  # characters of text() handed out so far
        self.stopped = False  # a stop text was found

    def feed(self, piece: str) -> str:
        """The next part of the answer that is safe to hand out ('' when none is)."""
        if self.stopped:
            return ""
        self.raw += piece
        return self._hand_out(self._safe_end())

    def finish(self) -> str:
        """What is left once the answer has ended."""
        return self._hand_out(self._cut_at())

    def text(self) -> str:
        """The whole answer so far, cut and stripped."""
        return self.raw[: self._cut_at()].strip()

    def _cut_at(self) -> int:
        found = [i for i in (self.raw.find(s) for s in self.stops) if i >= 0]
        return min(found) if found else len(self.raw)

    def _safe_end(self) -> int:
        """Where the text that can no longer change ends: before a stop text found, else before the longest tail
        that is the start of a stop text."""
        cut = self._cut_at()
        if cut < len(self.raw):
            self.stopped = True
            return cut
        held = max((n for s in self.stops for n in range(1, len(s)) if self.raw.endswith(s[:n])), default=0)
        return len(self.raw) - held

    def _hand_out(self, end: int) -> str:
        # The safe end only moves forward, so what is ready now always extends what was handed out before.
        ready = self.raw[:end].strip()
        piece = ready[self.sent:]
        self.sent = max(self.sent, len(ready))
        return piece

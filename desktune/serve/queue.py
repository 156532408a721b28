"""Turns on the model: one request generates at a time, the others wait in arrival order, and once `waiting` are
waiting a new one is refused at once (429 with Retry-After) rather than left to time out.

Waiting happens on the event loop (an asyncio.Lock), so a waiting request holds no thread; the model's own
threading.Lock (Served.lock, held by infer while it generates) still guarantees that a generation cut short by a
client that left has ended before the next one starts."""

import asyncio
from contextlib import asynccontextmanager

from desktune.serve.api_error import ApiError

RETRY_AFTER_S = 2


class ModelQueue:
    def __init__(self, waiting: int):
        self.waiting = waiting
        self.admitted = 0  # the request generating and those waiting
        self._turn = asyncio.Lock()  # FIFO: waiters are woken in the order they came

    def admit(self) -> "Ticket":
        """A place in the queue, or 429 when it is full. Called before the response starts, so that a stream can
        still be refused with a status code."""
        if self.admitted > self.waiting:
            raise ApiError(429, f"the model is busy: {self.admitted - 1} requests are already waiting for it; try "
                           f"again in a few seconds", code="rate_limit_exceeded", kind="rate_limit_error",
                           headers={"Retry-After": str(RETRY_AFTER_S)})
        self.admitted += 1
        return Ticket(self)


class Ticket:
    def __init__(self, queue: ModelQueue):
        self.queue, self.left = queue, False

    @asynccontextmanager
    async def turn(self):
        """Inside, this request has the model."""
        async with self.queue._turn:
            yield

    def leave(self) -> None:
        """Give the place back (once, whatever happened to the request)."""
        if not self.left:
            self.left = True
            self.queue.admitted -= 1

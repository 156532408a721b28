"""The server: /v1/models and /v1/chat/completions over one loaded run. Every refusal is OpenAI's error JSON with
a 4xx code; a failure of the server itself is a 500 with a message, its traceback only in the server's log."""

import asyncio

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from desktune.errors import DesktuneError
from desktune.serve import answer
from desktune.serve.access import check_access, read_json_body
from desktune.serve.api_error import ApiError, error_body
from desktune.serve.queue import ModelQueue, Ticket
from desktune.serve.request import Limits, read_request
from desktune.serve.served import Served, prompt_ids, sampling

SSE = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def create_app(served: Served, key: str | None = None, local: bool = True, limits: Limits | None = None) -> FastAPI:
    """The app over served. key: required as 'Authorization: Bearer KEY' (None: none is); local: bound to
    localhost, so requests addressed elsewhere are refused."""
    limits = limits or Limits()

    async def access(request: Request):
        check_access(request.headers, key, local)

    app = FastAPI(title="desktune serve", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(access)])
    queue = app.state.queue = ModelQueue(limits.max_waiting)
    _error_handlers(app)

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [_model_card(served)]}

    @app.get("/v1/models/{model:path}")
    async def model(model: str):
        if model != served.model_id:
            raise ApiError(404, f"The model `{model}` does not exist; this server serves `{served.model_id}`",
                           "model", "model_not_found")
        return _model_card(served)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        chat = read_request(await read_json_body(request, limits.max_body), served.model_id, limits)
        prompt = await asyncio.to_thread(prompt_ids, served, chat)
        how = sampling(served, chat, len(prompt), limits.max_tokens)
        ticket = queue.admit()
        if chat.stream:
            return QueuedStream(answer.stream(served, chat, how, len(prompt), ticket.turn), ticket)
        try:
            async with ticket.turn():
                return await answer.complete(served, chat, how, len(prompt))
        finally:
            ticket.leave()

    return app


class QueuedStream(StreamingResponse):
    """A stream that gives its place in the queue back when it ends, however it ends (a client that left before
    the first chunk included)."""

    def __init__(self, events, ticket: Ticket):
        super().__init__(events, media_type="text/event-stream", headers=SSE)
        self.ticket = ticket

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.ticket.leave()
            await self.body_iterator.aclose()


def _model_card(served: Served) -> dict:
    return {"id": served.model_id, "object": "model", "created": served.created, "owned_by": "desktune"}


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def refused(request: Request, e: ApiError):
        return JSONResponse(e.body(), e.status, headers=e.headers)

    @app.exception_handler(DesktuneError)
    async def user_mistake(request: Request, e: DesktuneError):
        return JSONResponse(error_body(e.message + (f" ({e.hint})" if e.hint else ""), "invalid_request_error"), 400)

    @app.exception_handler(HTTPException)
    async def no_route(request: Request, e: HTTPException):
        message = f"Unknown request URL: {request.method} {request.url.path}" if e.status_code in (404, 405) \
            else str(e.detail)
        return JSONResponse(error_body(message, "invalid_request_error", code="unknown_url"), e.status_code)

    @app.exception_handler(Exception)
    async def failed(request: Request, e: Exception):  # logged with its traceback by uvicorn; never sent
        return JSONResponse(error_body(f"the server failed: {type(e).__name__}", "server_error"), 500)

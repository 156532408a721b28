"""The web app: JSON and server-sent-event routes over the runs folder, and the page itself."""

import asyncio
import json
import threading
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from desktune.errors import DesktuneError
from desktune.ui import chat, live
from desktune.ui.catalog import Catalog
from desktune.ui.guard import COOKIE, Refused, host_header_ok, run_folder, same_origin, token_ok
from desktune.ui.jobs import Jobs
from desktune.ui.models import Models
from desktune.ui.tools import run_tools

STATIC = Path(__file__).parent / "static"
MAX_BODY = 64_000  # bytes of a POST body
SSE = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def create_app(root: Path, token: str | None = None, local: bool = True, max_models: int = 2) -> FastAPI:
    app = FastAPI(title="desktune", docs_url=None, redoc_url=None, openapi_url=None)
    catalog, jobs, models = Catalog(root), Jobs(root), Models(max_models)
    threading.Thread(target=catalog.overviews, daemon=True).start()  # the first page view finds them read

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if not host_header_ok(local, request.headers.get("host", "")):
            return JSONResponse({"error": "this server answers on localhost only"}, 403)
        if request.method == "POST" and not same_origin(request.headers):
            return JSONResponse({"error": "a request from another site, or not JSON, is refused"}, 403)
        query = request.query_params.get("token")
        if not token_ok(token, query, request.cookies.get(COOKIE)):
            return JSONResponse({"error": "a token is required: open the URL desktune ui printed"}, 401)
        response = await call_next(request)
        if token and query:
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.exception_handler(DesktuneError)
    async def refused(request: Request, e: DesktuneError):  # Refused, or a user mistake such as an unfinished run
        text = e.message + (f" ({e.hint})" if e.hint else "")
        return JSONResponse({"error": text}, getattr(e, "status", 400))

    @app.get("/")
    async def page():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/runs")
    async def runs():
        return {"runs": await asyncio.to_thread(catalog.overviews), "jobs": jobs.all(), "models": models.status()}

    @app.get("/api/events/runs")
    async def runs_events():
        return StreamingResponse(live.runs_events(catalog, jobs), media_type="text/event-stream", headers=SSE)

    @app.get("/api/runs/{name}")
    async def run_detail(name: str):
        detail = await asyncio.to_thread(catalog.detail, name)
        return detail | {"job": jobs.state(name)}

    @app.get("/api/runs/{name}/metrics")
    async def metrics(name: str, limit: int = 2000):
        return await asyncio.to_thread(catalog.metrics, name, max(10, min(limit, 20_000)))

    @app.get("/api/events/run/{name}")
    async def run_events(name: str, offset: int = 0):
        run_folder(root, name)  # refuse a bad name before the stream starts
        return StreamingResponse(live.run_events(catalog, jobs, name, max(0, offset)), media_type="text/event-stream",
                                 headers=SSE)

    @app.get("/api/runs/{name}/loss.png")
    async def loss_png(name: str):
        png = catalog.run(name).loss_png
        if not png.exists():
            raise Refused("no loss.png yet: it is written when the run ends", 404)
        return FileResponse(png)

    @app.get("/api/compare")
    async def compare(runs: str):
        return await asyncio.to_thread(catalog.compare, [n for n in runs.split(",") if n])

    @app.get("/api/models")
    async def loaded_models():
        return models.status()

    @app.get("/api/jobs/{name}")
    async def job(name: str):
        run_folder(root, name)
        return jobs.state(name) or {"name": name, "returncode": None, "log": ""}

    @app.get("/api/chat/{name}/tools")
    async def chat_tools(name: str):
        """The run's tool format (None: its template cannot show tools) and its own tools, the page's default."""
        run = catalog.run(name)
        loaded = await asyncio.to_thread(models.get, name, run.path)
        own = run_tools(run.read_json(run.data_json)) if loaded.chat.tool_format else []
        return {"tool_format": loaded.chat.tool_format, "tools": own, "models": models.status()}

    @app.post("/api/chat/{name}")
    async def chat_turn(name: str, request: Request):
        messages, sampling, base, tools = chat.check(await _json(request))
        run = catalog.run(name)
        loaded = await asyncio.to_thread(models.get, name, run.path)
        prompt = await asyncio.to_thread(chat.prompt_text, loaded, messages, tools)  # a refusal here is a 400
        return StreamingResponse(chat.answer(loaded, messages, sampling, base, models.status, tools, prompt),
                                 media_type="text/event-stream", headers=SSE)

    @app.post("/api/train")
    async def start(request: Request):
        body = await _json(request)
        name = str(body.get("name", ""))
        overrides = body.get("overrides") or []
        if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
            raise Refused("overrides are a list of key=value", 400)
        return jobs.start(name, run_folder(root, name), str(body.get("config") or ""), overrides)

    @app.post("/api/runs/{name}/stop")
    async def stop(name: str):
        return jobs.stop(name, run_folder(root, name))

    return app


async def _json(request: Request) -> dict:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise Refused(f"the request is limited to {MAX_BODY} bytes", 413)
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise Refused("the body is not JSON", 400) from None
    if not isinstance(body, dict):
        raise Refused("the body is a JSON object", 400)
    return body

"""Server-sent events: the runs list and a run's new metric lines, pushed as the files change (checked twice a
second on the server; the page never polls)."""

import asyncio
import json

from desktune.ui import series
from desktune.ui.catalog import Catalog

TICK = 0.5  # seconds between looks at the files: new points reach the page well within 2 s


def event(data, name: str = "message") -> str:
    return f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n"


async def runs_events(catalog: Catalog, jobs):
    """The whole list whenever any run changes (cheap: overviews are cached per run)."""
    last = None
    while True:
        now = {"runs": await asyncio.to_thread(catalog.overviews), "jobs": jobs.all()}
        if now != last:
            yield event(now, "runs")
            last = now
        else:
            yield ": keep-alive\n\n"  # also how a closed page is noticed
        await asyncio.sleep(TICK * 2)


async def run_events(catalog: Catalog, jobs, name: str, offset: int):
    """New metric records after byte `offset`, and the run's status when it changes (before the run folder
    exists, the output of the job that is starting it)."""
    run = catalog.run(name, must_exist=False)
    status, job = None, None
    while True:
        size = run.metrics.stat().st_size if run.metrics.exists() else 0
        if size < offset:  # the file was rewritten (a resume trims it, --overwrite starts it again)
            yield event({}, "reset")
            return
        if size > offset:
            records, offset = await asyncio.to_thread(run.read_metrics, offset)
            if records:
                yield event({"columns": series.columns(series.thin(records)), "offset": offset}, "metrics")
        now = await asyncio.to_thread(run.status) if run.config.exists() else "starting"
        if now == "starting" and jobs.state(name) != job:
            job = jobs.state(name)
            yield event(job, "job")
        if now != status:
            yield event({"status": now}, "status")
            status = now
        else:
            yield ": keep-alive\n\n"
        await asyncio.sleep(TICK)

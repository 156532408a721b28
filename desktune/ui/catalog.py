"""The runs folder as the page sees it, read through RunDir (the same fields as `desktune runs`), with each
run's overview cached until one of its files changes, so a folder of hundreds of runs lists at once."""

from pathlib import Path

from desktune.config.load import differences
from desktune.runs import RunDir, list_runs
from desktune.ui import series
from desktune.ui.guard import Refused, run_folder


class Catalog:
    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[str, tuple[tuple, dict]] = {}

    def run(self, name: str, must_exist: bool = True) -> RunDir:
        run = RunDir(run_folder(self.root, name))
        if must_exist and not run.config.exists():
            raise Refused(f"no run named {name!r}", 404)
        self._inside(run)
        return run

    def _inside(self, run: RunDir) -> None:
        """Every file the page reads from a run resolves inside the runs folder (a symlink may not lead out)."""
        real_root = self.root.resolve()
        for path in (run.config, run.decisions_json, run.summary, run.metrics, run.data_json, run.plan_json,
                     run.samples, run.failed_file, run.report_md, run.loss_png):
            if path.is_symlink() and not path.resolve().is_relative_to(real_root):
                raise Refused(f"{run.path.name}/{path.name} leads outside the runs folder", 403)

    def overviews(self) -> list[dict]:
        """One overview per run folder, oldest first (as `desktune runs` lists them)."""
        if not self.root.is_dir():
            return []
        out = []
        for run in list_runs(self.root):
            try:
                run_folder(self.root, run.path.name)
                self._inside(run)
            except Refused:  # a symlink out of the folder: not shown
                continue
            key = _signature(run)
            hit = self._cache.get(run.path.name)
            if hit is None or hit[0] != key:
                hit = self._cache[run.path.name] = (key, run.overview())
            out.append(hit[1])
        return out

    def detail(self, name: str) -> dict:
        """Everything the run page shows besides the curves."""
        run = self.run(name)
        plan = run.read_json(run.plan_json)
        return {"overview": run.overview(), "config": run.config.read_text(), "decisions": run.decisions(),
                "data": run.read_json(run.data_json), "summary": run.read_json(run.summary),
                "planned_memory_gb": plan.get("peak_memory_gb"),
                "samples": run.samples.read_text() if run.samples.exists() else None,
                "report": run.report_md.read_text() if run.report_md.exists() else None,
                "failed": run.read_json(run.failed_file).get("error")}

    def metrics(self, name: str, limit: int = 2000) -> dict:
        run = self.run(name)
        records, offset = run.read_metrics()
        return {"columns": series.columns(series.thin(records, limit)), "offset": offset, "count": len(records),
                "status": run.status()}

    def compare(self, names: list[str]) -> dict:
        """Curves of each run and how each config differs from the first one's."""
        if len(names) < 2:
            raise Refused("pick two or more runs to compare", 400)
        runs = [self.run(n) for n in names]
        first = runs[0].read_config()
        diffs = {r.path.name: [d for d in differences(first, r.read_config()) if not d.startswith("output ")]
                 for r in runs[1:]}
        return {"runs": {n: self.metrics(n) for n in names}, "differences": diffs, "base": names[0]}


def _signature(run: RunDir) -> tuple:
    """Changes whenever the overview could: a file written, or a training process that died."""
    stats = []
    for path in (run.config, run.summary, run.metrics, run.running_file, run.failed_file):
        try:
            st = path.stat()
            stats.append((st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            stats.append(None)
    return tuple(stats) + ((run.status(),) if stats[3] else ())

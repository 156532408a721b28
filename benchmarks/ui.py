"""desktune ui speed in a real browser: the runs page with 200 runs, and one run with 10,000 metric lines.

    python benchmarks/ui.py [--runs 200] [--lines 10000]

Builds a synthetic runs folder (files as training writes them, through RunDir), starts `desktune ui` on it and
times headless chromium from navigation to the table / the chart being drawn. Needs desktune[ui], playwright and
Debian's chromium. Prints figures; not a test.
"""

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from desktune.runs import RunDir

DECISIONS = "# resolved by desktune; every 'auto' decided:\n# precision: fp32: cpu has no native bf16 matmul\n"


def make_run(root: Path, name: str, lines: int, seed: int) -> None:
    run = RunDir(root / name)
    run.path.mkdir(parents=True)
    cfg = {"model": "builtin:gemma-3-270m", "method": "lora", "output": str(run.path),
           "data": {"train": "data/train.jsonl", "template": "gemma"}, "lora": {"r": 8 + seed % 3 * 8},
           "train": {"lr": 1e-4 * (1 + seed % 5), "max_steps": lines, "precision": "fp32"}}
    run.write_yaml(run.config, cfg, DECISIONS)
    records = [{"step": i, "epoch": round(i / 100, 3), "tokens": 900 * i, "loss": 4 / (1 + i / 200) + (i * seed % 13) / 50,
                "lr": cfg["train"]["lr"], "tokens_per_s": 230 + i % 17, "memory_gb": 2.1}
               | ({"eval_loss": 4 / (1 + i / 150)} if i % 10 == 0 else {}) for i in range(1, lines + 1)]
    run.metrics.write_text("".join(json.dumps(r) + "\n" for r in records))
    run.write_json(run.summary, {"steps_done": lines, "best_eval_loss": min(r.get("eval_loss", 9) for r in records),
                                 "seconds": lines * 0.6, "stop_reason": f"finished all {lines} steps"})
    run.write_json(run.plan_json, {"peak_memory_gb": 2.3})


def serve(root: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = root.parent / "ui.log"
    proc = subprocess.Popen([sys.executable, "-m", "desktune", "ui", "--runs", str(root), "--port", str(port)],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.1)
    raise SystemExit("desktune ui did not start: " + log.read_text())


def timed(page, url: str, ready: str) -> float:
    page.goto("about:blank")
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_function(ready, timeout=30_000)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--lines", type=int, default=10_000)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    top = Path(tempfile.mkdtemp(prefix="desktune-ui-bench-"))
    root = top / "runs"
    for i in range(args.runs):
        make_run(root, f"run-{i:03d}", 100, i)
    make_run(root, "long", args.lines, 7)
    proc, url = serve(root)
    try:
        start = time.perf_counter()
        urllib.request.urlopen(url + "api/runs").read()
        print(f"GET /api/runs, {args.runs + 1} runs, first request: {time.perf_counter() - start:.3f} s")
        start = time.perf_counter()
        body = urllib.request.urlopen(url + "api/runs/long/metrics").read()
        points = len(json.loads(body)["columns"]["step"])
        print(f"GET metrics of a {args.lines}-line run: {time.perf_counter() - start:.3f} s, {len(body) / 1e3:.0f} kB, "
              f"{points} points after thinning")
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            table = f"document.querySelectorAll('#runs-table tbody tr').length === {args.runs + 1}"
            chart = "Number(document.querySelector('#chart-loss')?.dataset.points) > 0"
            for attempt in ("first", "second"):
                print(f"runs page, {args.runs + 1} runs, navigation to table drawn ({attempt}): "
                      f"{timed(page, url + '#/', table):.3f} s")
                print(f"run page, {args.lines} metric lines, navigation to 5 charts drawn ({attempt}): "
                      f"{timed(page, url + '#/run/long', chart):.3f} s")
            browser.close()
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(top)


if __name__ == "__main__":
    main()

"""The README's picture (docs/ui.png): the bundled example training, beside a chat with the tuned model.

    .venv/bin/python docs/screenshot.py [FINISHED_RUN]   (default runs/persona, e.g. after `make demo`)

Starts `desktune ui` over runs/screenshot/, a real `desktune train` of the bundled example on the built-in model
in it, and asks the finished run one of the example's held-out questions in the chat page; each page is shot in
headless chromium (Playwright) and the two are put side by side. Needs chromium (apt-get install chromium).
"""

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs" / "screenshot"
QUESTION = json.loads((ROOT / "desktune/examples/persona/heldout.jsonl").read_text().splitlines()[0])["messages"][0]
SIZE = {"width": 820, "height": 1000}


def start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "desktune", *args], cwd=ROOT, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT)


def wait_for_url(log: Path, server: subprocess.Popen) -> str:
    deadline = time.time() + 60
    while not re.search(r"http://\S+", log.read_text()):
        if server.poll() is not None or time.time() > deadline:
            raise SystemExit("desktune ui did not start:\n" + log.read_text())
        time.sleep(0.2)
    return re.search(r"http://\S+", log.read_text()).group(0)


def shoot(url: str, chromium: str) -> tuple[Path, Path]:
    training, chat = RUNS / "training.png", RUNS / "chat.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport=SIZE)
        page.goto(url + "#/chat/persona")
        page.fill("#temperature", "0")
        page.fill("#chat-input", QUESTION["content"])
        page.press("#chat-input", "Enter")
        page.wait_for_selector("#log-tuned .msg.assistant[data-state='done']", timeout=600_000)
        page.wait_for_selector("#log-base .msg.assistant[data-state='done']", timeout=600_000)
        page.screenshot(path=chat)
        page.goto(url + "#/run/training")
        page.wait_for_function("Number(document.querySelector('#chart-loss')?.dataset.points) >= 24", timeout=900_000)
        page.screenshot(path=training)
        browser.close()
    return training, chat


def side_by_side(left: Path, right: Path, out: Path) -> None:
    a, b = Image.open(left), Image.open(right)
    both = Image.new("RGB", (a.width + b.width, max(a.height, b.height)), "white")
    both.paste(a, (0, 0))
    both.paste(b, (a.width, 0))
    both.save(out, optimize=True)


def main(finished: str = "runs/persona") -> None:
    chromium = next(filter(None, map(shutil.which, ["chromium", "chromium-browser", "google-chrome"])), None)
    if not chromium or not (ROOT / finished / "adapter").is_dir():
        raise SystemExit(f"needs chromium and a finished run of the bundled example in {finished} (make demo)")
    shutil.rmtree(RUNS, ignore_errors=True)
    RUNS.mkdir(parents=True)
    shutil.copytree(ROOT / finished, RUNS / "persona")
    server = start(["ui", "--runs", str(RUNS), "--port", "7861"], RUNS / "ui.log")
    trainer = start(["train", f"output={RUNS / 'training'}", "train.log_every=1", "--samples=0"], RUNS / "train.log")
    try:
        training, chat = shoot(wait_for_url(RUNS / "ui.log", server), chromium)
        side_by_side(training, chat, ROOT / "docs" / "ui.png")
        print(f"wrote {ROOT / 'docs' / 'ui.png'}")
    finally:
        for process in (trainer, server):
            process.send_signal(signal.SIGINT)
            process.wait(timeout=120)


if __name__ == "__main__":
    main(*sys.argv[1:])

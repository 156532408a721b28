"""Training runs started from the page: real `desktune train` processes that outlive the page and the server."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from desktune.runs import RunDir
from desktune.ui.guard import Refused

LOG_DIR = ".desktune-ui"  # hidden, no config.yaml: never listed as a run


class Jobs:
    def __init__(self, root: Path):
        self.root = root
        self.started: dict[str, subprocess.Popen] = {}

    def start(self, name: str, folder: Path, config: str, overrides: list[str]) -> dict:
        """`desktune train [config] overrides output=<runs>/<name>` in its own session (Ctrl-C on the server
        does not reach it); its output goes to a log the page shows until the run folder has its own."""
        if any(o.split("=", 1)[0].strip() == "output" for o in overrides):
            raise Refused("output is set by the run name", 400)
        if any("=" not in o or o.startswith("-") for o in overrides):
            raise Refused("overrides are key=value, e.g. train.lr=1e-4", 400)
        if folder.exists() or (name in self.started and self.started[name].poll() is None):
            raise Refused(f"a run named {name} already exists", 409)
        log = self.log_path(name)
        log.parent.mkdir(exist_ok=True)
        argv = [sys.executable, "-m", "desktune", "train", *([config] if config else []), *overrides,
                f"output={folder}"]
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=os.getcwd())
        self.started[name] = proc
        threading.Thread(target=proc.wait, daemon=True).start()  # reaped: a zombie would look alive
        return {"name": name, "pid": proc.pid, "argv": argv[1:]}

    def stop(self, name: str, folder: Path) -> dict:
        """What Ctrl-C does: SIGINT to the training process; it finishes the step, checkpoints and exits."""
        pid = RunDir(folder).running_pid()
        if pid is None:
            raise Refused(f"{name} is not running", 409)
        os.kill(pid, signal.SIGINT)
        return {"name": name, "pid": pid, "signal": "SIGINT"}

    def log_path(self, name: str) -> Path:
        return self.root / LOG_DIR / f"{name}.log"

    def state(self, name: str) -> dict | None:
        """A job this server started: its exit code (None while it runs) and the end of its output."""
        proc = self.started.get(name)
        if proc is None:
            return None
        log = self.log_path(name)
        tail = log.read_bytes()[-4000:].decode("utf-8", "replace") if log.exists() else ""
        return {"name": name, "pid": proc.pid, "returncode": proc.poll(), "log": tail}

    def all(self) -> list[dict]:
        return [self.state(n) for n in self.started]

"""desktune ui over real tiny runs, as a user and an attacker reach it: plain HTTP (paths, token, limits,
concurrency, Ctrl-C). The page itself, in a real browser, is tests/test_ui_browser.py."""

import http.client
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="desktune ui needs its extra: pip install 'desktune[ui]'")

from conftest import example_rows, write_jsonl  # noqa: E402
from desktune.cli import main  # noqa: E402

SECRET = "desktune-ui-test-secret-outside-the-runs-folder"


def train_tiny(model: Path, data: Path, out: Path, *extra: str) -> Path:
    args = ["train", f"model={model}", f"data.train={data}", f"output={out}", "data.eval=0.2", "train.max_steps=6",
            "train.batch_size=8", "train.eval_every=3", "lora.r=8", "train.micro_batch_tokens=256", "train.eval_samples=0",
            "--samples=1", *extra]
    assert main(args) == 0
    return out


_SHARED = {}  # test_ui_browser.py imports these fixtures: one set of runs and one server for both files


@pytest.fixture(scope="session")
def ui_runs(tiny_models, tmp_path_factory) -> dict:
    """A runs folder with three finished tiny runs (b differs from a in lr, c is a copy of a), a secret file beside
    it, and a run-looking symlink that leads out of it."""
    if "runs" in _SHARED:
        return _SHARED["runs"]
    top = tmp_path_factory.mktemp("ui")
    data = write_jsonl(top / "persona.jsonl", example_rows(40))
    runs = top / "runs"
    train_tiny(tiny_models["llama"], data, runs / "a", "train.lr=1e-2")
    train_tiny(tiny_models["llama"], data, runs / "b", "train.lr=3e-3", "--samples=0")
    shutil.copytree(runs / "a", runs / "c")  # a third model to load, for the least-recently-used limit
    (runs / "c" / "config.yaml").touch()  # listed after b, like a run made now
    outside = top / "outside"
    outside.mkdir()
    (outside / "config.yaml").write_text(f"model: {SECRET}\n")
    (outside / "secret.txt").write_text(SECRET)
    (runs / "escape").symlink_to(outside, target_is_directory=True)
    _SHARED["runs"] = {"runs": runs, "data": data, "model": tiny_models["llama"], "top": top}
    return _SHARED["runs"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real `desktune ui` process on a free port."""

    def __init__(self, runs: Path, log: Path, *args: str):
        self.port = free_port()
        self.log = log
        self.proc = subprocess.Popen([sys.executable, "-m", "desktune", "ui", "--runs", str(runs), "--port",
                                      str(self.port), *args], stdout=open(log, "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while not re.search(r"http://\S+", log.read_text()) or not self._listening():
            assert self.proc.poll() is None, log.read_text()
            assert time.time() < deadline, "desktune ui did not start: " + log.read_text()
            time.sleep(0.2)
        self.url = re.search(r"http://\S+", log.read_text()).group(0)

    def _listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def request(self, method: str, path: str, body=None, headers=None, timeout: float = 120):
        """(status, body text) for a raw path (sent as written: no client-side normalising of .. or %2F)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        r = conn.getresponse()
        text = r.read().decode("utf-8", "replace")
        conn.close()
        return r.status, text, r

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=20)


@pytest.fixture(scope="session")
def ui_server(ui_runs, tmp_path_factory):
    if "server" not in _SHARED:
        _SHARED["server"] = Server(ui_runs["runs"], tmp_path_factory.mktemp("ui-log") / "ui.log")
    yield _SHARED["server"]
    if _SHARED["server"].proc.poll() is None:
        _SHARED["server"].stop()


def sse_events(text: str) -> list[tuple[str, dict]]:
    blocks = [b for b in text.split("\n\n") if b.startswith("event:")]
    return [(re.search(r"^event: (.*)$", b, re.M).group(1), json.loads(re.search(r"^data: (.*)$", b, re.M).group(1)))
            for b in blocks]


def chat(server: Server, run: str, prompt: str, base: bool = False, **extra) -> tuple[int, list]:
    body = {"messages": [{"role": "user", "content": prompt}], "temperature": 0, "max_new_tokens": 8, "base": base}
    status, text, _ = server.request("POST", f"/api/chat/{run}", body | extra)
    return status, sse_events(text) if status == 200 else text


def test_binds_localhost_and_prints_the_url(ui_server):
    assert ui_server.url == f"http://127.0.0.1:{ui_server.port}/"
    status, page, _ = ui_server.request("GET", "/")
    assert status == 200 and "/static/uPlot.iife.min.js" in page
    status, _, _ = ui_server.request("GET", "/api/runs", headers={"Host": "attacker.example"})
    assert status == 403, "a page on another site (DNS rebinding) must not read the runs"


@pytest.mark.parametrize("path", [
    "/api/runs/..%2F..%2Foutside%2Fsecret.txt", "/api/runs/%2e%2e", "/api/runs/%2e%2e/metrics",
    "/api/runs/..%2foutside/metrics", "/api/runs/%2Fetc%2Fpasswd", "/api/runs/a/../../outside/secret.txt",
    "/api/runs/escape", "/api/runs/escape/metrics", "/api/runs/escape/loss.png", "/api/events/run/..%2Foutside",
    "/static/..%2F..%2F..%2Foutside%2Fsecret.txt", "/static/%2e%2e/%2e%2e/runs.py", "/static/../app.py",
    "/api/compare?runs=a,..%2Foutside", "/api/runs/.desktune-ui",
])
def test_nothing_outside_the_runs_folder_is_served(ui_server, path):
    status, text, _ = ui_server.request("GET", path, timeout=10)
    assert status in (400, 403, 404), (status, text[:200])
    assert SECRET not in text and "import" not in text


def test_a_file_symlinked_out_of_a_run_is_refused(ui_server, ui_runs):
    link = ui_runs["runs"] / "a" / "report.md"
    kept = link.read_text()
    link.unlink()
    link.symlink_to(ui_runs["top"] / "outside" / "secret.txt")
    try:
        status, text, _ = ui_server.request("GET", "/api/runs/a")
        assert status == 403 and SECRET not in text
    finally:
        link.unlink()
        link.write_text(kept)
    assert ui_server.request("GET", "/api/runs/a")[0] == 200


def test_runs_are_listed_through_the_same_fields_as_desktune_runs(ui_server, ui_runs):
    from desktune.runs import RunDir

    listed = json.loads(ui_server.request("GET", "/api/runs")[1])["runs"]
    assert [r["run"] for r in listed] == ["a", "b", "c"], "the symlink out of the folder is not listed"
    assert listed[0] == RunDir(ui_runs["runs"] / "a").overview()
    detail = json.loads(ui_server.request("GET", "/api/runs/a")[1])
    assert detail["decisions"]["template"] == "llama3" and "precision" in detail["decisions"]
    assert detail["data"]["train_examples"] == 32 and "[[" in detail["data"]["example"]
    assert "**tuned:**" in detail["samples"] and detail["report"].startswith("# Run a")


def test_long_metrics_are_thinned_on_the_server(ui_server, ui_runs):
    from desktune.runs import RunDir

    run = RunDir(ui_runs["runs"] / "long")
    run.path.mkdir()
    run.config.write_text((ui_runs["runs"] / "a" / "config.yaml").read_text())
    run.metrics.write_text("".join(json.dumps({"step": i, "tokens": 100 * i, "loss": 5 - i / 5000 + (i % 7) / 10,
                                               "lr": 1e-4, "tokens_per_s": 100, "memory_gb": 1.0}
                                              | ({"eval_loss": 4.0} if i % 500 == 0 else {})) + "\n"
                                   for i in range(1, 10_001)))
    try:
        m = json.loads(ui_server.request("GET", "/api/runs/long/metrics")[1])
        assert m["count"] == 10_000 and len(m["columns"]["step"]) <= 2100
        assert m["columns"]["step"][-1] == 10_000 and min(m["columns"]["loss"]) == pytest.approx(5 - 9996 / 5000)
        assert sum(v is not None for v in m["columns"]["eval_loss"]) == 20, "every evaluation survives"
    finally:
        shutil.rmtree(run.path)


def test_chat_streams_with_the_training_template_and_refuses_oversized_input(ui_server, ui_runs):
    status, events = chat(ui_server, "a", "Why is the sky blue?", base=True, max_new_tokens=12)
    assert status == 200
    kinds = [k for k, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("token") >= 2, kinds
    start = events[0][1]
    assert start["template"] == "llama3"
    assert start["prompt"].endswith("Why is the sky blue?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    streamed = "".join(e["text"] for k, e in events if k == "token")
    assert streamed.strip() == events[-1][1]["text"]
    assert chat(ui_server, "a", "x" * 4001)[0] == 413
    assert ui_server.request("POST", "/api/chat/a", b"{" + b" " * 70_000 + b"}")[0] == 413
    assert chat(ui_server, "a", "  ")[0] == 400
    assert chat(ui_server, "../a", "hi")[0] == 404


def test_twenty_concurrent_chats_and_streams_keep_their_own_answers(ui_server):
    prompts = [(run, f"Tell me about ship number {i}.", i % 3 == 0) for i, run in enumerate(["a", "b"] * 5)]
    alone = {p: chat(ui_server, *p)[1][-1][1]["text"] for p in prompts}

    def stream(_):
        conn = http.client.HTTPConnection("127.0.0.1", ui_server.port, timeout=30)
        conn.request("GET", "/api/events/run/a")
        first = conn.getresponse().read1(65536).decode()
        conn.close()
        return first

    with ThreadPoolExecutor(20) as pool:
        chats = [pool.submit(chat, ui_server, *p) for p in prompts]
        streams = [pool.submit(stream, i) for i in range(10)]
        for p, f in zip(prompts, chats):
            status, events = f.result()
            assert status == 200 and events[-1][0] == "done", events
            assert events[-1][1]["text"] == alone[p], "an answer must not mix with another request's"
        assert all("event: " in s.result() for s in streams)
    assert ui_server.proc.poll() is None and ui_server.request("GET", "/api/runs")[0] == 200


def test_at_most_n_models_stay_loaded(ui_server):
    for run in ("a", "b", "c"):
        assert chat(ui_server, run, "Hello")[0] == 200
    assert json.loads(ui_server.request("GET", "/api/models")[1]) == {"loaded": ["b", "c"], "limit": 2}


def test_chat_with_an_unfinished_run_says_why(ui_server, ui_runs):
    folder = ui_runs["runs"] / "unfinished"
    folder.mkdir()
    shutil.copy(ui_runs["runs"] / "a" / "config.yaml", folder)
    try:
        status, text = chat(ui_server, "unfinished", "Hello")
        assert status == 400 and "no trained adapter" in text
    finally:
        shutil.rmtree(folder)


def test_start_refuses_bad_requests(ui_server):
    for body, code in [({"name": "../x"}, 404), ({"name": "a"}, 409), ({"name": "n", "overrides": ["output=/tmp/x"]}, 400),
                       ({"name": "n", "overrides": ["--overwrite"]}, 400)]:
        assert ui_server.request("POST", "/api/train", body)[0] == code, body
    assert ui_server.request("POST", "/api/runs/a/stop")[0] == 409, "a finished run cannot be stopped"
    cross_site = {"Origin": "http://attacker.example"}
    assert ui_server.request("POST", "/api/runs/a/stop", headers=cross_site)[0] == 403
    assert ui_server.request("POST", "/api/train", b'{"name": "x"}', headers={"Content-Type": "text/plain"})[0] == 403


def test_off_localhost_a_token_is_required_and_ctrl_c_stops_cleanly(ui_runs, tmp_path):
    server = Server(ui_runs["runs"], tmp_path / "ui.log", "--host", "0.0.0.0")
    try:
        token = re.search(r"\?token=([\w-]+)", server.url).group(1)
        assert server.request("GET", "/api/runs")[0] == 401
        assert server.request("GET", "/api/runs?token=wrong")[0] == 401
        status, _, response = server.request("GET", f"/?token={token}")
        assert status == 200 and token in response.getheader("set-cookie")
        assert server.request("GET", "/api/runs", headers={"Cookie": f"desktune_token={token}"})[0] == 200
        live = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)  # an open stream must not hold it
        live.request("GET", f"/api/events/runs?token={token}")
        assert live.getresponse().status == 200
    finally:
        assert server.stop() == 0
    assert "stopped" in (tmp_path / "ui.log").read_text()


def test_a_run_that_cannot_start_shows_why(ui_server, ui_runs):
    assert ui_server.request("POST", "/api/train", {"name": "typo", "overrides": ["train.lrr=1e-4"]})[0] == 200
    deadline = time.time() + 120
    while (job := json.loads(ui_server.request("GET", "/api/jobs/typo")[1]))["returncode"] is None:
        assert time.time() < deadline, job
        time.sleep(0.5)
    assert job["returncode"] == 2 and "error:" in job["log"] and "train.lr" in job["log"], job
    assert "typo" not in [r["run"] for r in json.loads(ui_server.request("GET", "/api/runs")[1])["runs"]]


"""desktune ui in a real headless browser (Debian's chromium driven by Playwright), over real tiny runs, one
of them started from the page, watched while it trains, and stopped from the page."""

import json
import os
import shutil
import time

import pytest

pytest.importorskip("fastapi", reason="desktune ui needs its extra: pip install 'desktune[ui]'")
playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra)")
CHROMIUM = next(filter(None, map(shutil.which, ["chromium", "chromium-browser", "google-chrome"])), None)
if CHROMIUM is None:
    pytest.skip("no chromium on this machine: apt-get install chromium (.ci/run installs it)", allow_module_level=True)

from test_ui import ui_runs, ui_server  # noqa: E402,F401  (the same runs folder and server as the HTTP tests)
from test_ui_tools import tool_server  # noqa: E402,F401  (a tiny Gemma 3 run overfit to call get_weather)

from desktune.runs import RunDir  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])  # CI runs as root
        yield b
        b.close()


def watched_page(browser, url):
    """A page at url; it fails the test if its scripts raised."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    yield page
    page.close()
    assert not errors, errors


@pytest.fixture
def page(browser, ui_server):
    yield from watched_page(browser, ui_server.url)


@pytest.fixture
def tool_page(browser, tool_server):
    yield from watched_page(browser, tool_server.url)


def test_runs_table_matches_desktune_runs_and_sorts(page, ui_runs):
    import subprocess
    import sys

    from desktune.cli.runs import row

    listed = json.loads(subprocess.run([sys.executable, "-m", "desktune", "runs", str(ui_runs["runs"]), "--json"],
                                       capture_output=True, text=True, check=True).stdout)
    listed = [r for r in listed if not (ui_runs["runs"] / r["run"]).is_symlink()]  # the UI never follows those out
    page.wait_for_selector("#runs-table[data-ready='1'] tr[data-run='c']")
    shown = page.locator("#runs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)")
    assert sorted(shown) == sorted(r["run"] for r in listed) == ["a", "b", "c"]
    for r in listed:
        cells = [c.strip() for c in page.locator(f"tr[data-run='{r['run']}'] td[data-key]").all_inner_texts()]
        assert cells == row(RunDir(ui_runs["runs"] / r["run"])) and cells[-1] == r["status"]
    page.click("th[data-key='best_eval']")
    page.click("th[data-key='best_eval']")  # descending
    shown = page.locator("#runs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.run)")
    best = {n: json.loads((ui_runs["runs"] / n / "summary.json").read_text())["best_eval_loss"] for n in shown}
    assert shown == sorted(best, key=lambda n: -best[n])


def test_run_page_shows_curves_decisions_data_samples_and_report(page):
    page.goto(page.url.split("#")[0] + "#/run/a")
    page.wait_for_selector("#report img")
    assert page.get_attribute("#chart-loss", "data-points") == "6"
    assert page.get_attribute("#chart-loss", "data-series") == "2", "a chat run: train and eval loss"
    for chart in ("#chart-loss-tokens", "#chart-lr", "#chart-speed", "#chart-memory"):
        assert page.get_attribute(chart, "data-points") == "6", chart
    assert "template" in page.inner_text("#decisions") and "llama3" in page.inner_text("#decisions")
    assert page.locator("#data-example mark").count() >= 1, "the trained tokens are marked"
    assert "base:" in page.inner_text("#samples") and "tuned:" in page.inner_text("#samples")
    assert "eval loss" in page.inner_text("#report")


def test_compare_overlays_two_runs_and_lists_config_differences(page):
    page.wait_for_selector("tr[data-run='b']")
    page.check("tr[data-run='a'] input[type=checkbox]")
    page.check("tr[data-run='b'] input[type=checkbox]")
    page.click("#compare-picked")
    page.wait_for_selector("#config-diff li")
    assert page.get_attribute("#compare-loss", "data-series") == "2"
    assert page.get_attribute("#compare-loss", "data-points") == "6", "both ran steps 1..6"
    assert "train.lr 0.01 -> 0.003" in page.inner_text("#config-diff")


def test_chat_streams_the_answer_of_the_training_template_beside_the_base(page, ui_runs):
    from desktune.infer.generate import Sampling, generate, load_for_chat

    page.goto(page.url.split("#")[0] + "#/chat/a")
    page.fill("#temperature", "0")
    page.fill("#chat-input", "Why is the sky blue?")
    page.press("#chat-input", "Enter")
    page.wait_for_selector("#log-tuned .msg.assistant[data-state='done']", timeout=60_000)
    page.wait_for_selector("#log-base .msg.assistant[data-state='done']", timeout=60_000)
    model, chat = load_for_chat(str(ui_runs["runs"] / "a"))
    expected = generate(model, chat, [{"role": "user", "content": "Why is the sky blue?"}],
                        Sampling(256, 0.0, 0.9, 1.1)).text
    tuned = page.locator("#log-tuned .msg.assistant")
    assert tuned.inner_text().strip() == expected
    if expected:
        assert int(tuned.get_attribute("data-pieces")) >= 1 and tuned.get_attribute("data-streamed").strip() == expected
    assert "<|start_header_id|>assistant<|end_header_id|>" in page.locator("#prompt-seen").text_content()
    assert "at most 2" in page.inner_text("#models")
    page.click("#reset")
    assert page.locator("#log-tuned .msg").count() == 0


def test_start_watch_and_stop_a_real_training_run(page, browser, ui_server, ui_runs, tmp_path):
    runs_page = browser.new_page()  # stays on the runs table: the new run must appear there without a reload
    runs_page.goto(ui_server.url)
    runs_page.wait_for_selector("#runs-table[data-ready='1']")
    overrides = [f"model={ui_runs['model']}", f"data.train={ui_runs['data']}", "data.eval=0.2", "train.max_steps=5000",
                 "train.batch_size=8", "train.eval_every=10", "lora.r=8", "train.micro_batch_tokens=256",
                 "train.save_every=0", "train.log_every=1", "train.eval_samples=0"]
    page.goto(page.url.split("#")[0] + "#/train")
    page.fill("#train-name", "live")
    page.fill("#train-overrides", "\n".join(overrides))
    page.click("#train-start")
    run = RunDir(ui_runs["runs"] / "live")
    try:
        page.wait_for_function("Number(document.querySelector('#chart-loss')?.dataset.points) >= 1", timeout=120_000)
        runs_page.wait_for_selector("tr[data-run='live'] [data-status='running']", timeout=10_000)
        _curve_follows_the_file(page, run)
        page.click("#stop-run")
        page.wait_for_selector("h2 + [data-status='resumable']", timeout=60_000)
    finally:
        if run.running_pid():  # never leave a training process behind
            os.kill(run.running_pid(), 9)
    assert list(run.checkpoints.glob("step-*")), "a stop writes a checkpoint"
    assert "interrupted: checkpoint written" in run.log.read_text()
    runs_page.wait_for_selector("tr[data-run='live'] [data-status='resumable']", timeout=10_000)
    runs_page.close()


def _curve_follows_the_file(page, run: RunDir) -> None:
    """Each new metric line reaches the chart within 2 s of being written (seen here within 0.2 s), no reload."""
    first = lines = len(run.read_metrics()[0])
    deadline = time.time() + 180
    while lines < first + 3:  # three more steps, however slow this machine is today
        assert time.time() < deadline, f"the run wrote {lines - first} lines in 3 minutes"
        time.sleep(0.2)
        now = len(run.read_metrics()[0])
        if now > lines:
            lines = now
            page.wait_for_function(f"Number(document.querySelector('#chart-loss').dataset.points) >= {lines}",
                                   timeout=2_000)


def test_a_tool_run_draws_the_calls_loss_that_picked_its_kept_step(tool_page):
    page = tool_page
    page.goto(page.url.split("#")[0] + "#/run/tools")
    page.wait_for_selector("#chart-loss[data-series='3']", timeout=60_000)
    assert "calls' loss" in page.inner_text("#chart-loss")


def test_chat_shows_a_call_as_its_name_and_arguments_and_takes_its_result(tool_page):
    from test_tools_data import WEATHER

    page = tool_page
    page.goto(page.url.split("#")[0] + "#/chat/tools")
    page.wait_for_selector("#tools-box[data-format='functiongemma']:not([hidden])", timeout=60_000)
    assert json.loads(page.input_value("#tools")) == [WEATHER], "the run's own tools are the default"
    page.uncheck("#with-base")
    page.fill("#temperature", "0")
    page.fill("#chat-input", "Weather in Paris?")
    page.press("#chat-input", "Enter")
    page.wait_for_selector("#log-tuned .msg.assistant[data-state='done']", timeout=60_000)
    reply = page.locator("#log-tuned .msg.assistant").first
    call = reply.locator(".call")
    assert call.count() == 1 and call.get_attribute("data-name") == "get_weather"
    assert call.locator(".call-name").inner_text() == "get_weather"
    assert json.loads(call.locator(".call-args").inner_text()) == {"city": "Paris"}
    assert "start_function_call" not in reply.inner_text(), "the raw call text is replaced by the call"
    assert "start_function_call" in reply.get_attribute("data-streamed"), "it streamed as text first"

    page.fill("#chat-input", "And tomorrow?")
    page.press("#chat-input", "Enter")
    assert "waits for its result" in page.inner_text("#chat-note")
    page.fill("#tool-result", "sunny, 21 C")
    page.press("#tool-result", "Enter")
    page.wait_for_selector("#log-tuned .msg.assistant[data-state='done'] >> nth=1", timeout=60_000)
    assert "result of get_weather: sunny, 21 C" in page.inner_text("#log-tuned .msg.tool")
    assert page.locator("#log-tuned .msg.assistant").nth(1).inner_text() == "Sunny and 21 degrees in Paris."
    page.wait_for_selector("#tool-result-row", state="hidden", timeout=5_000)  # no call waits any more

    # A call cut off by the token limit stays on the page, raw and marked.
    page.route("**/api/chat/tools", lambda route: route.continue_(
        post_data=json.dumps(json.loads(route.request.post_data) | {"max_new_tokens": 30})))
    page.click("#reset")
    page.fill("#chat-input", "Weather in Paris?")
    page.press("#chat-input", "Enter")
    page.wait_for_selector("#log-tuned .msg.assistant[data-state='done']", timeout=60_000)
    unparsed = page.locator("#log-tuned .call.unparsed")
    assert unparsed.locator(".unparsed-mark").inner_text() == "unparsed"
    assert unparsed.locator(".call-raw").inner_text().startswith("<start_function_call>call:")

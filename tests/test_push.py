"""desktune push, against a stand-in for the Hub's API on 127.0.0.1 (HF_ENDPOINT): the files and the commit that
arrive are the ones --dry-run lists; each failure is one error line and a hint, exit 2, and the run folder unchanged."""

import hashlib
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import example_rows, write_jsonl
from hub_standin import Hub
from huggingface_hub import ModelCard

from desktune.cli import main

ROOT = Path(__file__).resolve().parent.parent
ALICE = "hf_alice_token"


@pytest.fixture(scope="module")
def run(tiny_models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("push")
    data = write_jsonl(folder / "d.jsonl", example_rows(20))
    out = folder / "run"
    assert main(["train", f"model={tiny_models['qwen2']}", f"data.train={data}", f"output={out}",
                 "train.max_steps=2", "train.eval_samples=0", "--samples=0"]) == 0
    return out


@pytest.fixture
def hub():
    with Hub({ALICE: "alice"}, {"bob/taken": {"owner": "bob", "private": False}}) as hub:
        yield hub


def push(args: list[str], home: Path, endpoint: str, token: str | None = ALICE) -> subprocess.CompletedProcess:
    """desktune push in its own process: huggingface_hub reads HF_ENDPOINT and the token when it is imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env |= {"HF_HOME": str(home), "HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_XET": "1"} | ({"HF_TOKEN": token} if token else {})
    return subprocess.run([sys.executable, "-m", "desktune", "push", *map(str, args)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def fingerprint(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def listed(dry_run_output: str) -> tuple[list[str], str]:
    """The file names and the commit message a dry run announces."""
    files = [line.split()[0] for line in dry_run_output.splitlines() if line.startswith("  ")]
    return files, re.search(r'one commit: "(.*)"', dry_run_output)[1]


def test_push_sends_exactly_what_the_dry_run_lists(run, hub, tmp_path):
    before = fingerprint(run)
    dry = push([run, "alice/pirate", "--dry-run"], tmp_path, hub.url)
    assert dry.returncode == 0, dry.stderr
    assert hub.requests == [] and "private" in dry.stdout and "token: from HF_TOKEN" in dry.stdout
    files, message = listed(dry.stdout)
    assert files == sorted(p.name for p in (run / "adapter").iterdir())  # the whole adapter folder, its card too

    done = push([run, "alice/pirate"], tmp_path, hub.url)
    assert done.returncode == 0, done.stderr
    assert "private" in done.stdout and "alice/pirate is private" in done.stdout
    assert hub.created == [{"name": "pirate", "organization": "alice", "visibility": "private"}]
    [commit] = hub.commits
    assert commit["repo"] == "alice/pirate" and commit["summary"] == message and "desktune" in message
    assert "'run'" in message and commit["other_operations"] == []
    assert sorted(commit["files"]) == files
    for name, content in commit["files"].items():
        if name != "README.md":
            assert content == (run / "adapter" / name).read_bytes(), name
    card = ModelCard(commit["files"]["README.md"].decode())
    assert card.data.library_name == "peft" and 'adapter = "alice/pirate"' in card.text
    assert fingerprint(run) == before  # the card went up from memory: the run folder is as it was


def test_public_repo_named_without_owner_with_the_login_cache_token(run, hub, tmp_path):
    (tmp_path / "token").write_text(ALICE)  # what `hf auth login` leaves in HF_HOME
    done = push([run, "pirate-public", "--public"], tmp_path, hub.url, token=None)
    assert done.returncode == 0, done.stderr
    assert "token from the login cache" in done.stdout and "alice/pirate-public is public" in done.stdout
    assert hub.created[0]["visibility"] == "public" and hub.commits[0]["repo"] == "alice/pirate-public"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("case, args, token, endpoint, said", [
    ("no token", ["alice/pirate"], None, None, "no Hugging Face token"),
    ("bad name", ["alice/pi..rate"], ALICE, None, "not a valid Hub repo name"),
    ("bad token", ["alice/pirate"], "hf_wrong", None, "refused the token"),
    ("server down", ["alice/pirate"], ALICE, "down", "could not reach the Hub"),
    ("someone else's repo", ["bob/taken"], ALICE, None, "no write access to bob/taken"),
    ("no export yet", ["alice/pirate", "--what", "gguf"], ALICE, None, "has no GGUF export"),
])
def test_each_failure_is_one_line_and_a_hint_and_changes_nothing(run, hub, tmp_path, case, args, token, endpoint,
                                                                 said):
    before = fingerprint(run)
    url = f"http://127.0.0.1:{closed_port()}" if endpoint == "down" else hub.url
    done = push([run, *args], tmp_path, url, token=token)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 2, done.stderr
    assert lines[0].startswith("error: ") and said in lines[0] and lines[1].startswith("hint: ")
    assert "Traceback" not in done.stderr and hub.commits == []
    if case in ("no token", "bad name", "no export yet"):
        assert hub.requests == []  # refused before any network call
    assert fingerprint(run) == before

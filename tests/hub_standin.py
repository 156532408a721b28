"""A stand-in for the Hugging Face Hub's API, a real HTTP server on 127.0.0.1: just the endpoints huggingface_hub 2.4
calls to push a folder (whoami, create repo, repo info, validate README metadata, preupload, commit). It answers
preupload with "regular" so files arrive inline in the commit, and it records every request and what arrives."""

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

REPO = r"/api/models/(?P<repo>[^/]+/[^/]+)"
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")  # what the Hub takes as base_model: a model id, never a path


class Hub:
    def __init__(self, tokens: dict[str, str], repos: dict[str, dict] | None = None):
        self.tokens = tokens  # token -> user name
        self.repos = repos or {}  # repo id -> {"owner": user, "private": bool}
        self.requests: list[tuple[str, str]] = []
        self.created: list[dict] = []
        self.commits: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, method: str, path: str, user: str | None, body: bytes) -> tuple[int, dict]:
        self.requests.append((method, path))
        if path == "/api/whoami-v2" and method == "GET":
            return (200, {"type": "user", "name": user, "orgs": []}) if user else (401, {"error": "Invalid token"})
        if user is None and method == "POST":
            return 401, {"error": "Invalid credentials in Authorization header"}
        if path == "/api/repos/create" and method == "POST":
            return self._create(json.loads(body), user)
        if path == "/api/validate-yaml" and method == "POST":
            return _validate(json.loads(body)["content"])
        for pattern, handler in [(REPO + r"$", self._info), (REPO + r"/preupload/main$", self._preupload),
                                 (REPO + r"/commit/main$", self._commit)]:
            if m := re.match(pattern, path):
                return handler(m["repo"], user, body)
        return 404, {"error": f"the stand-in does not serve {method} {path}"}

    def _create(self, payload: dict, user: str) -> tuple[int, dict]:
        self.created.append(payload)
        repo = f"{payload.get('organization') or user}/{payload['name']}"
        owner = repo.split("/")[0]
        if owner != user:
            return 403, {"error": f"You don't have the rights to create a model under the namespace {owner}"}
        if repo in self.repos:
            return 409, {"error": "You already created this model repo", "url": f"{self.url}/{repo}"}
        self.repos[repo] = {"owner": user, "private": payload.get("visibility") == "private"}
        return 200, {"url": f"{self.url}/{repo}", "name": repo}

    def _info(self, repo: str, user: str | None, body: bytes) -> tuple[int, dict]:
        info = self.repos.get(repo)
        if not info or (info["private"] and info["owner"] != user):
            return 404, {"error": "Repository not found"}
        return 200, {"id": repo, "private": info["private"], "sha": "0" * 40}

    def _preupload(self, repo: str, user: str, body: bytes) -> tuple[int, dict]:
        if self.repos.get(repo, {}).get("owner") != user:
            return 403, {"error": "You don't have write access to this repository"}
        files = json.loads(body)["files"]
        return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}

    def _commit(self, repo: str, user: str, body: bytes) -> tuple[int, dict]:
        if self.repos.get(repo, {}).get("owner") != user:
            return 403, {"error": "You don't have write access to this repository"}
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next(item["value"] for item in lines if item["key"] == "header")
        files = {item["value"]["path"]: base64.b64decode(item["value"]["content"]) for item in lines
                 if item["key"] == "file"}
        others = [item["key"] for item in lines if item["key"] not in ("header", "file")]
        oid = hashlib.sha1(body).hexdigest()
        self.commits.append({"repo": repo, "summary": header["summary"], "description": header["description"],
                             "files": files, "other_operations": others})
        return 200, {"commitUrl": f"{self.url}/{repo}/commit/{oid}", "commitOid": oid}


def _validate(readme: str) -> tuple[int, dict]:
    """Two of the Hub's metadata rules that a generated card could break."""
    meta = yaml.safe_load(readme.split("---")[1]) if readme.startswith("---") else {}
    errors = []
    for base in [meta.get("base_model")] if isinstance(meta.get("base_model"), str) else meta.get("base_model") or []:
        if not HUB_ID.fullmatch(base):
            errors.append({"message": f'"base_model" with value "{base}" is not valid. Use a model id.'})
    if not isinstance(meta.get("tags", []), list):
        errors.append({"message": '"tags" must be an array'})
    return (400, {"errors": errors}) if errors else (200, {"errors": [], "warnings": []})


def _handler(hub: Hub):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            status, answer = hub.answer(self.command, self.path.split("?")[0], hub.tokens.get(token), body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 404 and "Repository" in answer.get("error", ""):
                self.send_header("X-Error-Code", "RepoNotFound")
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, *args):  # quiet: the test reads hub.requests
            pass

    return Handler

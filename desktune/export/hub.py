"""Push one folder of a run (its adapter, merged model or GGUF export) to the Hugging Face Hub in one commit, its
model card rewritten to load from the repo. Nothing in the run folder is written: the card goes up from memory."""

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from desktune.errors import HubError, RunError
from desktune.report.card import card_text, tuned_folder

WHAT = ("adapter", "merged", "gguf")
NETWORK_MODULES = ("httpx", "httpx2", "requests", "urllib3")  # the HTTP clients huggingface_hub versions use
TOKEN_HINT = ("set HF_TOKEN to a token with write access (https://huggingface.co/settings/tokens), "
              "or run `hf auth login`")


@dataclass
class Upload:
    run: object
    kind: str  # adapter | full | merged | gguf: which card
    folder: Path
    files: list[str]  # paths in the repo, README.md among them

    def size(self) -> int:
        return sum((self.folder / f).stat().st_size for f in self.files if (self.folder / f).is_file())

    def message(self) -> str:
        return f"desktune push: {self.kind} of run '{self.run.path.name}'"


def plan_upload(run, what: str) -> Upload:
    """What `desktune push --what WHAT` sends: every file of the folder (hidden ones aside) and the card."""
    if not run.config.exists():
        raise RunError(f"{run.path} is not a run folder (no config.yaml)", "give a folder made by 'desktune train'")
    kind, folder = _source(run, what)
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*")
             if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}
    return Upload(run, kind, folder, sorted(files | {"README.md"}))


def _source(run, what: str) -> tuple[str, Path]:
    if what == "adapter":
        run.require_trained()
        return tuned_folder(run)  # a full fine-tune's model/ stands in for the adapter it does not have
    if what == "merged":
        if not (run.merged / "config.json").exists():
            raise RunError(f"{run.path} has no merged model ({run.merged} is missing)",
                           f"run `desktune merge {run.path}` first, or push --what adapter")
        return "merged", run.merged
    if not any(run.export.glob("*.gguf")):
        raise RunError(f"{run.path} has no GGUF export ({run.export} holds no .gguf file)",
                       f"run `desktune export {run.path} --format gguf` first")
    return "gguf", run.export


def check_repo_id(repo_id: str) -> None:
    """The name as the Hub allows it, checked here before any network call."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise HubError(f"'{repo_id}' is not a valid Hub repo name: {str(e).splitlines()[0]}",
                       "use NAME or OWNER/NAME: letters, digits, '-', '_' and '.', no '--' or '..', at most 96 "
                       "characters") from None


def find_token() -> tuple[str | None, str]:
    """The token huggingface_hub would use (HF_TOKEN, else the login cache), and where it came from."""
    from huggingface_hub import get_token

    token = get_token()
    return token, "HF_TOKEN" if token and token == os.environ.get("HF_TOKEN") else "the login cache"


@dataclass
class Pushed:
    repo_id: str
    private: bool
    commit_url: str


def push(upload: Upload, repo_id: str, public: bool, token: str) -> Pushed:
    """Create the repo if missing (private unless public) and send every file in one commit."""
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(token=token)
    with hub_errors(repo_id, api.endpoint):
        if "/" not in repo_id:
            repo_id = f"{api.whoami()['name']}/{repo_id}"
        else:
            api.whoami()  # a refused token is named as such, not as a 403 on the repo
        api.create_repo(repo_id, private=not public, exist_ok=True)
        private = bool(api.repo_info(repo_id).private)
        card = card_text(upload.run, upload.folder, upload.kind, repo_id).encode()
        ops = [CommitOperationAdd(f, card if f == "README.md" else upload.folder / f) for f in upload.files]
        info = api.create_commit(repo_id, ops, commit_message=upload.message(),
                                 commit_description="README.md (the model card) says what was tuned, on what "
                                                    "data, how it went and how to load it.")
    return Pushed(repo_id, private, info.commit_url)


@contextmanager
def hub_errors(repo_id: str, endpoint: str):
    """huggingface_hub's errors as one line and a hint each."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        yield
    except OfflineModeIsEnabled:
        raise HubError("HF_HUB_OFFLINE is set, so huggingface_hub makes no network calls",
                       "unset HF_HUB_OFFLINE (or set it to 0) to push") from None
    except HfHubHTTPError as e:
        raise _http_error(e, repo_id) from None
    except ValueError as e:
        if "Invalid metadata" not in str(e):
            raise
        raise HubError(f"the Hub rejected the model card's metadata: {_one_line(e)}",
                       "this is a desktune bug: please report it with the line above") from None
    except Exception as e:
        if not _network_error(e):
            raise
        raise HubError(f"could not reach the Hub at {endpoint}: {_one_line(e) or type(e).__name__}",
                       "check the network connection (and HF_ENDPOINT, if set); nothing was uploaded") from None


def _network_error(e: Exception) -> bool:
    return isinstance(e, (ConnectionError, TimeoutError)) or type(e).__module__.split(".")[0] in NETWORK_MODULES


def _http_error(e, repo_id: str) -> HubError:
    status = e.response.status_code
    said = _one_line(e.server_message or e)
    owner = repo_id.split("/")[0] if "/" in repo_id else "your account"
    if status == 401:
        return HubError(f"the Hub refused the token (401): {said}", TOKEN_HINT)
    if status == 403:
        return HubError(f"no write access to {repo_id} (403): {said}",
                        f"the repo belongs to someone else, or the token may only read: push to a repo under your own "
                        f"name, or use a token with write access to '{owner}'")
    if status == 404:
        return HubError(f"{repo_id} was not found on the Hub (404): {said}",
                        "check the name; the token may lack the right to create repos there")
    return HubError(f"the Hub answered {status} for {repo_id}: {said}", "try again later; nothing was uploaded")


def _one_line(e) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else ""

"""What the server lets through: run names inside the runs folder only, a token off localhost, sizes capped."""

import hmac
import re
from pathlib import Path

from desktune.errors import DesktuneError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")
COOKIE = "desktune_token"


class Refused(DesktuneError):
    """A request the server will not serve; status is the HTTP code it answers with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def run_folder(root: Path, name: str) -> Path:
    """The run folder `name` directly under root. A name is one plain path part: no '/', no '..', no leading
    dot, no symlink leading out of root; anything else is refused (the route decodes %2F and %2e first)."""
    if not NAME.fullmatch(name or "") or ".." in name:
        raise Refused(f"not a run name: {name!r}", 404)
    real_root = root.resolve()
    path = (real_root / name).resolve()
    if path.parent != real_root:
        raise Refused(f"{name!r} leads outside the runs folder", 404)
    return path


def is_local(host: str) -> bool:
    return host in LOCAL_HOSTS


def token_ok(expected: str | None, query: str | None, cookie: str | None) -> bool:
    if expected is None:
        return True
    return any(v is not None and hmac.compare_digest(v.encode(), expected.encode()) for v in (query, cookie))


def host_header_ok(expected_local: bool, host_header: str) -> bool:
    """Bound to localhost, only answer requests addressed to localhost (a DNS-rebinding page cannot reach us)."""
    if not expected_local:
        return True
    host = host_header.rsplit(":", 1)[0].strip("[]") if host_header else ""
    return host in LOCAL_HOSTS


def same_origin(headers) -> bool:
    """A POST changes things (starts, stops, loads a model): it must be JSON, which a page on another site can only
    send after a CORS check this server never passes, and any Origin it carries must be this server."""
    if not headers.get("content-type", "").startswith("application/json"):
        return False
    origin = headers.get("origin")
    return origin is None or origin.split("://", 1)[-1] == headers.get("host", "")

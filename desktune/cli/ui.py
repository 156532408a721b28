"""desktune ui [--runs DIR] [--host H] [--port P] — the runs, live curves, compare, chat and start/stop in a browser."""

import argparse
import secrets
import socket
from pathlib import Path

from desktune.errors import DesktuneError


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="desktune ui", description="Serve a web page over a runs folder.")
    parser.add_argument("--runs", default="runs", help="the folder that holds the runs (default: runs)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind; off localhost a token is required")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--max-models", type=int, default=2, help="chat models kept loaded (least recently used leaves)")
    parser.add_argument("--token", default=None, help="the access token (default: random when --host is not local)")
    args = parser.parse_args(argv)
    try:
        import uvicorn  # noqa: F401  (the ui extra is installed)

        from desktune.ui.app import create_app
        from desktune.ui.guard import is_local
    except ImportError as e:
        raise DesktuneError(f"desktune ui needs its extra packages ({e.name} is missing)",
                            "pip install 'desktune[ui]'") from None
    check_port(args.host, args.port)
    root = Path(args.runs)
    root.mkdir(parents=True, exist_ok=True)
    local = is_local(args.host)
    token = args.token or (None if local else secrets.token_urlsafe(24))
    app = create_app(root, token, local, args.max_models)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{args.port}/" + (f"?token={token}" if token else "")
    print(f"desktune ui: {url}  (runs in {root.resolve()}; Ctrl-C stops it)", flush=True)
    run_until_stopped(app, args.host, args.port, "ui", "warning")
    return 0


def run_until_stopped(app, host: str, port: int, verb: str, log_level: str) -> None:
    """Serve app with uvicorn until Ctrl-C, then say so (desktune ui and desktune serve)."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=1)
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:
        pass
    print(f"desktune {verb}: stopped", flush=True)


def check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a just-closed port is free
        try:
            s.bind((host, port))
        except OSError as e:
            raise DesktuneError(f"cannot listen on {host}:{port}: {e.strerror}",
                                f"pass another --port (e.g. --port {port + 1}), or stop what uses it") from None

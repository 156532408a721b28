"""desktune serve RUN [--host 127.0.0.1] [--port 8000] [--api-key KEY] — an OpenAI-compatible API over a run."""

import argparse
import os

from desktune.errors import ConfigError, DesktuneError
from desktune.runs import RunDir

KEY_ENV = "DESKTUNE_API_KEY"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="desktune serve", description="Serve a trained run as an OpenAI-compatible "
                                     "API: /v1/models and /v1/chat/completions (streaming, stop, tools).")
    parser.add_argument("run", help="run folder made by desktune train, or a merged model folder")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind; off localhost an API key is required")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api-key", default=None, help=f"the key clients must send as 'Authorization: Bearer KEY' "
                        f"(default: ${KEY_ENV}); without one, only localhost is served and any key is accepted")
    parser.add_argument("--max-tokens", type=int, default=4096,
                        help="the most tokens one answer may have (also the default when a request sets none)")
    parser.add_argument("--max-waiting", type=int, default=64,
                        help="requests that may wait for the model (one generates at a time); more get 429")
    args = parser.parse_args(argv)
    key = args.api_key or os.environ.get(KEY_ENV) or None
    try:
        import uvicorn  # noqa: F401  (the ui extra is installed)

        from desktune.serve.request import Limits
        from desktune.ui.guard import is_local
    except ImportError as e:
        raise DesktuneError(f"desktune serve needs its extra packages ({e.name} is missing)",
                            "pip install 'desktune[ui]'") from None
    local = is_local(args.host)
    if not local and key is None:
        raise ConfigError(f"--host {args.host} serves other machines, and they would need no key",
                          f"pass --api-key KEY (or set {KEY_ENV}); clients send it as 'Authorization: Bearer KEY'")
    if args.max_tokens < 1 or args.max_waiting < 0:
        raise ConfigError("--max-tokens must be at least 1 and --max-waiting at least 0", "e.g. --max-tokens 4096")
    RunDir(args.run).require_model()
    from desktune.cli.ui import check_port, run_until_stopped
    from desktune.serve.app import create_app
    from desktune.serve.served import load_served

    check_port(args.host, args.port)
    served = load_served(args.run)
    app = create_app(served, key, local, Limits(max_tokens=args.max_tokens, max_waiting=args.max_waiting))
    shown = f"[{args.host}]" if ":" in args.host else args.host
    tools = f", tools written as {served.chat.tool_format}" if served.chat.tool_format else ""
    print(f"desktune serve: base_url http://{shown}:{args.port}/v1, model '{served.model_id}' ({served.chat.name} "
          f"template{tools}{', key required' if key else ''}); Ctrl-C stops it", flush=True)
    run_until_stopped(app, args.host, args.port, "serve", "info")
    return 0

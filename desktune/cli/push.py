"""desktune push RUN REPO [--what adapter|merged|gguf] [--public] [--dry-run]"""

import argparse

from desktune.errors import HubError
from desktune.runs import RunDir


def run(argv: list[str]) -> int:
    from desktune.export.hub import TOKEN_HINT, WHAT, check_repo_id, find_token, plan_upload, push

    parser = argparse.ArgumentParser(prog="desktune push", description="Upload a run's adapter, merged model or GGUF "
                                     "export, with its model card, to the Hugging Face Hub (private unless --public).")
    parser.add_argument("run", help="run folder made by desktune train")
    parser.add_argument("repo", help="Hub repo: OWNER/NAME, or NAME under the token's account (created if missing)")
    parser.add_argument("--what", default="adapter", choices=WHAT,
                        help="adapter (model/ for a full fine-tune), merged (desktune merge) or gguf (desktune export)")
    parser.add_argument("--public", action="store_true", help="create the repo public (default: private)")
    parser.add_argument("--dry-run", action="store_true", help="list what would go up and where, and send nothing")
    args = parser.parse_args(argv)
    check_repo_id(args.repo)
    upload = plan_upload(RunDir(args.run), args.what)
    token, source = find_token()
    visibility = "public" if args.public else "private (pass --public for a public repo)"
    if args.dry_run:
        print(_listing(upload, args.repo, visibility))
        print(f"token: from {source}" if token else f"token: none found; before pushing, {TOKEN_HINT}")
        return 0
    if not token:
        raise HubError("no Hugging Face token: HF_TOKEN is not set and there is no login cache", TOKEN_HINT)
    print(f"pushing {len(upload.files)} files ({_mb(upload.size())}) from {upload.folder} to {args.repo}, "
          f"{visibility}; token from {source}")
    done = push(upload, args.repo, args.public, token)
    print(f"pushed: {done.commit_url}\n{done.repo_id} is {'private' if done.private else 'public'}"
          + ("" if done.private != args.public else " (it existed already: its visibility was left as it was)"))
    return 0


def _listing(upload, repo: str, visibility: str) -> str:
    where = repo if "/" in repo else f"{repo} under the token's account"
    lines = [f"dry run: would push {len(upload.files)} files ({_mb(upload.size())}) from {upload.folder} to {where}, "
             f"{visibility}, in one commit: {upload.message()!r}"]
    for name in upload.files:
        path = upload.folder / name
        note = "  (the model card, rewritten to load from the repo)" if name == "README.md" else ""
        lines.append(f"  {name}  {_mb(path.stat().st_size) if path.is_file() else ''}{note}")
    return "\n".join(lines)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"

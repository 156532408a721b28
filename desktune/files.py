"""Writing files and folders so that a reader never sees half of one."""

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from desktune.errors import RunError


def write_atomic(path: Path, text: str) -> None:
    """Write to a temp file in the same folder, then rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def refuse_taken_output(out: Path, overwrite: bool) -> None:
    """An output folder that already holds files is only replaced when asked to."""
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise RunError(f"output folder {out} already exists", "pass --overwrite to replace it, or --out NEW_FOLDER")


@contextmanager
def replaced_folder(dest: Path):
    """Yield a fresh temporary path beside dest to fill; on success it replaces dest whole, on error it goes."""
    tmp = dest.with_name(f".tmp-{dest.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(dest, ignore_errors=True)
    tmp.replace(dest)

"""Files that hold patient data or secrets: folders 0700, files 0600, whatever the umask.

The cart's ``var/`` holds the database, the BLE bonds (keys that let a device pair
without the nurse) and the devices file; on a shared or stolen machine another
account must not read them.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "private_dir", "write_private"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create the missing folders of ``path`` with mode 0700.

    Folders that already exist keep their mode (``/tmp`` must stay 1777); `cart doctor`
    reports a ``var/`` that is not private.
    """
    missing: list[Path] = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        folder.chmod(DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def write_private(path: Path, data: str | bytes) -> None:
    """Write ``path`` atomically, created 0600 from the first byte (no window at 0644)."""
    private_dir(path.parent)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    temp = path.with_name(f".{path.name}.tmp")
    fd = os.open(temp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an older temp file may have had another mode
        with os.fdopen(fd, "wb") as f:
            fd = -1
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
    finally:
        if fd != -1:
            os.close(fd)
    os.replace(temp, path)

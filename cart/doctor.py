"""`cart doctor` checks: is the cart's data private on this computer and encrypted at rest?

- **File modes.** Every folder under ``var/`` 0700 and every file 0600 (no group or
  other bits): another account on the cart must not read patients or BLE bonds.
- **Encryption at rest.** A cart is carried between communities and can be stolen:
  the disk holding ``var/`` should be a LUKS (dm-crypt) volume. The block device behind
  the folder is found from its ``st_dev`` and walked down through the kernel's
  ``/sys/dev/block/MAJ:MIN/slaves`` (LVM on LUKS, RAID...), looking for a device-mapper
  target whose ``dm/uuid`` starts with ``CRYPT-``. When the folder's file system has no
  block device number of its own (btrfs, overlay, ZFS), ``findmnt`` names its source and
  ``lsblk -s`` lists the layers under it. Anything else is reported as ``unknown``:
  best effort, never a guess.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["Encryption", "ModeProblem", "disk_encryption", "mode_problems", "report"]

SYS_BLOCK = Path("/sys/dev/block")
EncryptionState = Literal["encrypted", "not_encrypted", "unknown"]


@dataclass(frozen=True)
class ModeProblem:
    path: str
    mode: str
    """What it is (octal)."""
    expected: str
    """What it should be (octal)."""


@dataclass(frozen=True)
class Encryption:
    state: EncryptionState
    device: str | None
    """The block device behind the folder (``dm-0``, ``/dev/mapper/cart``...)."""
    detail: str
    layers: list[str] = field(default_factory=list)
    """The devices walked, top first."""


def mode_problems(var: Path) -> list[ModeProblem]:
    """Folders under (and including) ``var`` that are not 0700, files that are not 0600."""
    problems: list[ModeProblem] = []
    paths = [var, *sorted(var.rglob("*"))] if var.is_dir() else []
    for path in paths:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            continue
        mode = stat.S_IMODE(info.st_mode)
        expected = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
        if mode & 0o077:
            problems.append(ModeProblem(str(path), f"{mode:04o}", f"{expected:04o}"))
    return problems


def disk_encryption(path: Path, *, sys_block: Path = SYS_BLOCK) -> Encryption:
    dev = path.stat().st_dev
    if os.major(dev) != 0:
        return _walk_sysfs(f"{os.major(dev)}:{os.minor(dev)}", sys_block)
    source = _findmnt_source(path)
    if source is None or not source.startswith("/dev/"):
        return Encryption(
            "unknown",
            source,
            "the folder's file system has no block device (overlay, "
            "network or RAM file system?): check the host's disk by hand",
        )
    try:
        rdev = Path(source.split("[", 1)[0]).stat().st_rdev  # btrfs: /dev/x[/subvol]
    except OSError as exc:
        return Encryption("unknown", source, f"cannot stat {source}: {exc.strerror}")
    found = _walk_sysfs(f"{os.major(rdev)}:{os.minor(rdev)}", sys_block)
    if found.state != "unknown":
        return found
    return _lsblk(source)


def _walk_sysfs(majmin: str, sys_block: Path) -> Encryption:
    top = sys_block / majmin
    if not top.exists():
        return Encryption("unknown", majmin, f"{top} does not exist (no sysfs?)")
    seen: list[str] = []
    todo = [top.resolve()]
    while todo:
        node = todo.pop()
        seen.append(node.name)
        uuid = node / "dm" / "uuid"
        if uuid.exists() and uuid.read_text().strip().upper().startswith("CRYPT-"):
            name = _dm_name(node)
            return Encryption("encrypted", name, f"dm-crypt target {name}", seen)
        slaves = node / "slaves"
        if slaves.is_dir():
            todo.extend(sorted((s.resolve() for s in slaves.iterdir()), reverse=True))
    return Encryption(
        "not_encrypted", seen[0], "no dm-crypt (LUKS) layer under " + " > ".join(seen), seen
    )


def _dm_name(node: Path) -> str:
    name = node / "dm" / "name"
    return f"/dev/mapper/{name.read_text().strip()}" if name.exists() else node.name


def _findmnt_source(path: Path) -> str | None:
    tool = shutil.which("findmnt")
    if tool is None:
        return None
    done = subprocess.run(  # noqa: S603 (fixed tool, path as one argument)
        [tool, "-n", "-o", "SOURCE", "-T", str(path)],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    out = done.stdout.strip()
    return out or None


def _lsblk(source: str) -> Encryption:
    tool = shutil.which("lsblk")
    if tool is None:
        return Encryption("unknown", source, "lsblk is not installed")
    done = subprocess.run(  # noqa: S603 (fixed tool, device as one argument)
        [tool, "-n", "-s", "-o", "NAME,TYPE", source.split("[", 1)[0]],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    rows = [line.split() for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not rows:
        return Encryption("unknown", source, f"lsblk could not read {source}")
    names = [row[0].lstrip("`|-└─├ ") for row in rows]
    if any(len(row) > 1 and row[-1] == "crypt" for row in rows):
        return Encryption("encrypted", source, "lsblk shows a crypt layer", names)
    return Encryption("not_encrypted", source, "lsblk shows no crypt layer", names)


def report(var: Path) -> dict[str, Any]:
    """Both checks as JSON-ready data; ``ok`` is False when a check fails."""
    problems = mode_problems(var)
    encryption = disk_encryption(var if var.exists() else Path.cwd())
    return {
        "var": str(var),
        "exists": var.is_dir(),
        "modes": {"ok": not problems, "problems": [asdict(p) for p in problems]},
        "encryption": asdict(encryption),
        "ok": not problems and encryption.state != "not_encrypted",
    }

"""`cart doctor`: file modes under var/ and whether var/'s disk is LUKS-encrypted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cart.doctor import disk_encryption, mode_problems

CART = Path(sys.executable).with_name("cart")


def _doctor(var: Path) -> tuple[int, dict]:
    done = subprocess.run(
        [str(CART), "doctor", "--json", "--var", str(var)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def test_readable_files_and_folders_are_reported(tmp_path: Path):
    var = tmp_path / "var"
    (var / "bench").mkdir(parents=True)
    var.chmod(0o700)
    (var / "bench").chmod(0o755)
    (var / "cart.db").write_text("x")
    (var / "cart.db").chmod(0o644)
    (var / "devices.toml").write_text("x")
    (var / "devices.toml").chmod(0o600)
    code, result = _doctor(var)
    assert code == 1
    assert result["modes"]["ok"] is False
    assert {(p["path"], p["mode"], p["expected"]) for p in result["modes"]["problems"]} == {
        (str(var / "bench"), "0755", "0700"),
        (str(var / "cart.db"), "0644", "0600"),
    }
    (var / "bench").chmod(0o700)
    (var / "cart.db").chmod(0o600)
    assert mode_problems(var) == []
    code, result = _doctor(var)
    assert result["modes"] == {"ok": True, "problems": []}
    assert code == (0 if result["encryption"]["state"] != "not_encrypted" else 1)


def test_this_machines_disk_is_classified_like_lsblk_does(tmp_path: Path):
    found = disk_encryption(tmp_path)
    assert found.state in ("encrypted", "not_encrypted", "unknown")
    assert found.detail
    lsblk = shutil.which("lsblk")
    device = Path("/dev") / (found.layers[0] if found.layers else "")
    if found.state == "unknown" or lsblk is None or not device.exists():
        pytest.skip(f"no block device to compare with lsblk: {found.detail}")
    types = subprocess.run(
        [lsblk, "-n", "-s", "-o", "TYPE", str(device)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert (found.state == "encrypted") == ("crypt" in types)


def _block(root: Path, name: str, uuid: str | None = None, dm_name: str | None = None) -> Path:
    node = root / "devices" / name
    (node / "slaves").mkdir(parents=True)
    if uuid is not None:
        (node / "dm").mkdir()
        (node / "dm" / "uuid").write_text(uuid + "\n")
        (node / "dm" / "name").write_text((dm_name or name) + "\n")
    return node


def _layout(root: Path, top: Path, folder: Path) -> Path:
    """The kernel's /sys/dev/block/MAJ:MIN link for ``folder``'s device, pointing at ``top``."""
    sys_block = root / "dev" / "block"
    sys_block.mkdir(parents=True)
    dev = folder.stat().st_dev
    (sys_block / f"{os.major(dev)}:{os.minor(dev)}").symlink_to(top)
    return sys_block


def test_lvm_on_luks_is_found_through_the_slaves(tmp_path: Path):
    # the layout of Debian's installer "guided, encrypted LVM": ext4 on an LV (dm-1) on
    # a dm-crypt mapping (dm-0) of a partition (sda3)
    root = tmp_path / "sys"
    sda3 = _block(root, "sda3")
    crypt = _block(root, "dm-0", "CRYPT-LUKS2-3f1e2a7c9b0d4e5f-sda3_crypt", "sda3_crypt")
    lv = _block(root, "dm-1", "LVM-abcdef", "cart--vg-root")
    (crypt / "slaves" / "sda3").symlink_to(sda3)
    (lv / "slaves" / "dm-0").symlink_to(crypt)
    if os.major(tmp_path.stat().st_dev) == 0:
        pytest.skip("tmp_path's file system has no block device number")
    found = disk_encryption(tmp_path, sys_block=_layout(root, lv, tmp_path))
    assert found.state == "encrypted"
    assert found.device == "/dev/mapper/sda3_crypt"
    assert found.layers == ["dm-1", "dm-0"]


def test_plain_partition_is_not_encrypted(tmp_path: Path):
    root = tmp_path / "sys"
    sda2 = _block(root, "sda2")
    if os.major(tmp_path.stat().st_dev) == 0:
        pytest.skip("tmp_path's file system has no block device number")
    found = disk_encryption(tmp_path, sys_block=_layout(root, sda2, tmp_path))
    assert found.state == "not_encrypted"
    assert found.layers == ["sda2"]


def test_no_sysfs_entry_is_unknown(tmp_path: Path):
    if os.major(tmp_path.stat().st_dev) == 0:
        pytest.skip("tmp_path's file system has no block device number")
    empty = tmp_path / "sys" / "dev" / "block"
    empty.mkdir(parents=True)
    assert disk_encryption(tmp_path, sys_block=empty).state == "unknown"

"""Issue 14 hardening outside the routes: token strength, uvicorn's proxy trust, file
modes under var/ (database, devices file, BLE bonds) and SQLite durability."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from bumble.keys import JsonKeyStore, PairingKeys
from pydantic import ValidationError
from sqlalchemy import text

from cart.commands.serve import uvicorn_options
from cart.config import MIN_TOKEN_LENGTH, Settings
from cart.drivers.bumble_bleak.keystore import PrivateJsonKeyStore
from cart.private import private_dir, write_private
from cart.store import create_db_engine, migrate
from tests.helpers import free_port, running_app
from tests.service.support import simulated

CART = Path(sys.executable).with_name("cart")
GOOD_TOKEN = "x" * MIN_TOKEN_LENGTH


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


# --------------------------------------------------------------------------- token


@pytest.mark.parametrize("token", ["", "   ", "\t\n", "short", "x" * (MIN_TOKEN_LENGTH - 1)])
def test_blank_or_short_token_is_refused_at_start_up(token: str):
    with pytest.raises(ValidationError, match="CART_API_TOKEN"):
        Settings(api_token=token, _env_file=None)


def test_token_with_padding_is_refused_and_a_long_one_accepted():
    with pytest.raises(ValidationError, match="CART_API_TOKEN"):
        Settings(api_token=f" {GOOD_TOKEN} ", _env_file=None)
    settings = Settings(host="0.0.0.0", api_token=GOOD_TOKEN, _env_file=None)
    assert settings.api_token is not None


def test_blank_token_from_the_environment_stops_cart_serve(tmp_path: Path):
    env = {**os.environ, "CART_API_TOKEN": "   "}
    done = subprocess.run(
        [str(CART), "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "CART_API_TOKEN is blank" in done.stderr


# --------------------------------------------------------------------------- proxy trust


def test_uvicorn_proxy_trust_is_pinned():
    options = uvicorn_options(Settings(_env_file=None))
    assert options["proxy_headers"] is False
    assert options["forwarded_allow_ips"] == "127.0.0.1"


def test_forwarded_for_is_ignored_even_if_the_environment_trusts_everyone(tmp_path: Path):
    """uvicorn reads FORWARDED_ALLOW_IPS itself; `cart serve` must not let it choose."""
    port = free_port()
    env = {
        **os.environ,
        "FORWARDED_ALLOW_IPS": "*",
        "CART_API_TOKEN": GOOD_TOKEN,
        "CART_DEVICES_FILE": str(tmp_path / "none.toml"),
        "CART_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'cart.db'}",
    }
    proc = subprocess.Popen(
        [str(CART), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as client:
            for _ in range(600):
                try:
                    client.get("/api/v1/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            # with proxy headers trusted, uvicorn would make this client 192.0.2.7: a
            # remote client, 401. Pinned, it is the loopback client it really is.
            remote = client.get("/api/v1/health", headers={"X-Forwarded-For": "192.0.2.7"})
            assert remote.status_code == 200
            assert "server" not in remote.headers
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


# --------------------------------------------------------------------------- file modes


def test_private_dir_creates_0700_and_leaves_existing_folders_alone(tmp_path: Path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with _umask(0o022):
        private_dir(shared / "var" / "bench")
    assert _mode(shared) == 0o755
    assert _mode(shared / "var") == 0o700
    assert _mode(shared / "var" / "bench") == 0o700


def test_write_private_is_0600_even_over_a_readable_file(tmp_path: Path):
    target = tmp_path / "var" / "devices.toml"
    target.parent.mkdir()
    target.write_text("old")
    target.chmod(0o644)
    with _umask(0o022):
        write_private(target, "new")
    assert target.read_text() == "new"
    assert _mode(target) == 0o600


async def test_ble_bonds_are_0600_in_a_0700_folder(tmp_path: Path):
    keys = PairingKeys(ltk=PairingKeys.Key(value=bytes(range(16)), authenticated=True))
    with _umask(0o022):
        plain = JsonKeyStore(None, str(tmp_path / "plain" / "bonds.json"))
        await plain.update("C0:98:E5:49:00:01", keys)
        private = PrivateJsonKeyStore(None, str(tmp_path / "var" / "ble" / "bonds.json"))
        await private.update("C0:98:E5:49:00:01", keys)
    assert _mode(tmp_path / "plain" / "bonds.json") == 0o644  # what bumble alone does
    assert _mode(tmp_path / "var" / "ble" / "bonds.json") == 0o600
    assert _mode(tmp_path / "var" / "ble") == 0o700
    again = PrivateJsonKeyStore(None, str(tmp_path / "var" / "ble" / "bonds.json"))
    stored = await again.get("C0:98:E5:49:00:01")
    assert stored is not None
    assert stored.ltk is not None
    assert stored.ltk.value == bytes(range(16))


async def test_service_files_under_var_are_private(tmp_path: Path):
    var = tmp_path / "var"
    settings = simulated(
        tmp_path,
        database_url=f"sqlite:///{var / 'cart.db'}",
        devices_file=var / "devices.toml",
    )
    with _umask(0o022):
        async with running_app(settings) as (_, client):
            assert (await client.get("/api/v1/health")).status_code == 200
    assert _mode(var) == 0o700
    files = [p for p in var.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"cart.db", "devices.toml"}
    for path in files:
        assert _mode(path) == 0o600, path


# --------------------------------------------------------------------------- durability


def test_sqlite_runs_synchronous_full(tmp_path: Path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'cart.db'}")
    try:
        migrate(engine)
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        engine.dispose()

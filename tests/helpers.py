"""Helpers shared by tests: running the app in-process with its lifespan."""

from __future__ import annotations

import functools
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from cart.config import Settings
from cart.devices import DeviceConfig, dump_devices
from cart.store import create_db_engine, migrate
from cart.store.accounts import Accounts
from cart.users import Role, hash_pin
from service.demo import DEMO_PIN, DEMO_USERNAME
from service.main import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_up(proc: subprocess.Popen[Any], url: str, timeout_s: float) -> bool:
    """Poll ``url`` until it answers 200 (True); False once ``proc`` exits or time is up."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


def write_devices(path: Path, devices: list[DeviceConfig]) -> Path:
    path.write_text(dump_devices(devices), encoding="utf-8")
    return path


#: the PIN of every user the tests create
TEST_PIN = "135790"
#: the nurse that processes started by the tests sign in as
TEST_NURSE = "test-nurse"


@functools.cache
def _test_pin_hash() -> str:
    return hash_pin(TEST_PIN)  # argon2 is slow on purpose: hash once per test session


def add_user(app: FastAPI, role: str, username: str | None = None) -> str:
    """Create a user of ``role`` (PIN :data:`TEST_PIN`) in the running app; its bearer token."""
    accounts = app.state.cart.accounts
    name = username or f"test-{role}"
    if accounts.by_name(name) is None:
        accounts.add_user(name, f"Test {role}", Role(role), pin_hash=_test_pin_hash())
    token: str = accounts.issue_token(name)
    return token


@asynccontextmanager
async def running_app(
    settings: Settings, *, client_host: str = "127.0.0.1", role: str | None = "nurse"
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The real app with its lifespan, reached over ASGI from ``client_host``.

    The client acts as a user of ``role`` (a bearer token; None: as nobody).
    """
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_host, 50000))
        headers = {}
        if role is not None:
            headers["Authorization"] = f"Bearer {add_user(app, role)}"
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", headers=headers
        ) as client:
            yield app, client


def sign_in(client: httpx.Client, username: str = DEMO_USERNAME, pin: str = DEMO_PIN) -> None:
    """Sign ``client`` in (session cookie) on a real `cart serve`; the demo nurse by default."""
    resp = client.post("/api/v1/session", json={"username": username, "pin": pin})
    assert resp.status_code == 200, resp.text


def sign_in_page(page: Any, base: str, username: str = DEMO_USERNAME, pin: str = DEMO_PIN) -> None:
    """Sign a Playwright page's browser context in (the demo nurse by default) through the
    sign-in screen the kiosk redirects to (the cookie is HttpOnly: only the server sets it)."""
    page.goto(base)
    page.wait_for_url(f"{base}/signin.html")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("PIN").fill(pin)
    page.get_by_role("button", name="Entrar").click()
    page.wait_for_url(f"{base}/")


def add_user_cli(cwd: Path, username: str, role: str = "nurse", pin: str = TEST_PIN) -> None:
    """`cart users add` in ``cwd`` (its var/cart.db), as the clinic's administrator does."""
    cart = Path(sys.executable).with_name("cart")
    done = subprocess.run(
        [str(cart), "users", "add", username, "--role", role, "--name", username, "--pin-stdin"],
        input=pin + "\n",
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def ensure_test_nurse(database_url: str) -> None:
    """Create :data:`TEST_NURSE` (PIN :data:`TEST_PIN`) in the database unless she exists."""
    engine = create_db_engine(database_url)
    try:
        migrate(engine)
        accounts = Accounts(engine)
        if accounts.by_name(TEST_NURSE) is None:
            accounts.add_user(TEST_NURSE, "Test nurse", Role.NURSE, pin_hash=_test_pin_hash())
    finally:
        engine.dispose()

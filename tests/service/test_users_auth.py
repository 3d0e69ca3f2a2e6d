"""Users and roles (issue 14): sign-in, sessions, role checks, tokens, who did what."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from alembic import command

from cart.store import create_db_engine, migrate
from cart.store.accounts import Accounts
from cart.store.db import alembic_config
from cart.users import Role, verify_pin
from service.auth import SessionRegistry, SignInThrottle
from service.demo import DEMO_PIN, DEMO_USERNAME
from tests.helpers import TEST_PIN, add_user, running_app
from tests.service.support import API, PATIENT, enter, measure, new_screening, simulated

CART = Path(sys.executable).with_name("cart")
TOKEN_24 = "a-network-token-of-24-chars"


def _idle(tmp_path: Path, **kw):
    from tests.service.support import with_devices

    return with_devices(tmp_path, tmp_path / "none.toml", **kw)


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


# --------------------------------------------------------------------------- no session


async def test_signed_out_kiosk_sees_no_patient(tmp_path: Path):
    async with running_app(_idle(tmp_path)) as (app, nurse):
        pid = (await nurse.post(f"{API}/patients", json=PATIENT)).json()["id"]
        sid = await new_screening(nurse, patient_id=pid)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as anon:
            for method, path in (
                ("GET", f"{API}/patients?q=%25%25"),
                ("GET", f"{API}/patients?curp={PATIENT['curp']}"),
                ("GET", f"{API}/patients/{pid}"),
                ("POST", f"{API}/patients"),
                ("POST", f"{API}/screenings"),
                ("GET", f"{API}/screenings/{sid}"),
                ("GET", f"{API}/screenings/{sid}/events"),
                ("POST", f"{API}/screenings/{sid}/complete"),
                ("GET", f"{API}/session"),
            ):
                resp = await anon.request(method, path, json={} if method == "POST" else None)
                assert resp.status_code == 401, (method, path)
                assert resp.json()["detail"]["nurse_message"] == "Inicie sesión para continuar"
                assert "Lucía" not in resp.text
            assert (await anon.get(f"{API}/health")).status_code == 200
            # the static network token has no role: it is not a sign-in
            bearer = {"Authorization": "Bearer not-a-user-token-at-all-000"}
            assert (await anon.get(f"{API}/patients/{pid}", headers=bearer)).status_code == 401


async def test_technician_cannot_reach_patients(tmp_path: Path):
    async with running_app(_idle(tmp_path), role="technician") as (_, tech):
        resp = await tech.get(f"{API}/patients", params={"q": "Lu"})
        assert resp.status_code == 403
        assert resp.json()["detail"]["nurse_message"] == "Su usuario no tiene permiso para esto"
        assert (await tech.post(f"{API}/patients", json=PATIENT)).status_code == 403
        assert (await tech.get(f"{API}/devices")).status_code == 200


async def test_administrator_may_reach_patients(tmp_path: Path):
    async with running_app(_idle(tmp_path), role="administrator") as (_, admin):
        assert (await admin.post(f"{API}/patients", json=PATIENT)).status_code == 201


# --------------------------------------------------------------------------- sign-in


async def test_sign_in_sets_a_strict_httponly_cookie_and_sign_out_ends_it(tmp_path: Path):
    async with running_app(_idle(tmp_path), role=None) as (app, client):
        add_user(app, "nurse", "ana")
        wrong = await client.post(f"{API}/session", json={"username": "ana", "pin": "000000"})
        assert wrong.status_code == 401
        assert wrong.json()["detail"]["nurse_message"] == "Usuario o PIN incorrectos"
        assert "set-cookie" not in wrong.headers
        resp = await client.post(f"{API}/session", json={"username": "ana", "pin": TEST_PIN})
        assert resp.status_code == 200
        assert resp.json()["user"]["username"] == "ana"
        assert resp.json()["user"]["role"] == "nurse"
        cookie = resp.headers["set-cookie"]
        assert cookie.startswith("cart_session=")
        lowered = cookie.lower()
        assert "httponly" in lowered
        assert "samesite=strict" in lowered
        assert "path=/" in lowered
        assert (await client.post(f"{API}/patients", json=PATIENT)).status_code == 201
        assert (await client.get(f"{API}/session")).json()["user"]["username"] == "ana"
        assert (await client.delete(f"{API}/session")).status_code == 204
        assert (await client.get(f"{API}/patients", params={"q": "Lu"})).status_code == 401


async def test_wrong_pins_lock_the_user_name(tmp_path: Path):
    async with running_app(_idle(tmp_path), role=None) as (app, client):
        add_user(app, "nurse", "ana")
        for _ in range(5):
            body = {"username": "ana", "pin": "999999"}
            assert (await client.post(f"{API}/session", json=body)).status_code == 401
        good = {"username": "ana", "pin": TEST_PIN}
        locked = await client.post(f"{API}/session", json=good)
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) > 0
        other = await client.post(f"{API}/session", json={"username": "bea", "pin": "1"})
        assert other.status_code == 401  # another user name is not locked


def test_session_ends_after_inactivity():
    now = [1000.0]
    registry = SessionRegistry(idle_s=600, clock=lambda: now[0])
    from cart.store.accounts import Principal

    token = registry.open(Principal(1, "ana", "Ana", Role.NURSE))
    now[0] += 599
    assert registry.get(token) is not None  # a request touches the session
    now[0] += 599
    assert registry.get(token) is not None
    now[0] += 601
    assert registry.get(token) is None
    assert registry.get("never-issued") is None


def test_throttle_forgets_old_failures():
    now = [0.0]
    throttle = SignInThrottle(attempts=3, lock_s=60, clock=lambda: now[0])
    for _ in range(3):
        throttle.failed("ana")
    assert throttle.locked_for("ana") == 60
    now[0] = 30
    assert throttle.locked_for("ana") == 30
    now[0] = 61
    assert throttle.locked_for("ana") == 0


async def test_disabled_user_loses_session_and_tokens(tmp_path: Path):
    async with running_app(_idle(tmp_path)) as (app, nurse):
        accounts: Accounts = app.state.cart.accounts
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as kiosk:
            body = {"username": "test-nurse", "pin": TEST_PIN}
            assert (await kiosk.post(f"{API}/session", json=body)).status_code == 200
            assert (await kiosk.post(f"{API}/patients", json=PATIENT)).status_code == 201
            assert accounts.set_active("test-nurse", False)
            assert (await kiosk.get(f"{API}/patients/1")).status_code == 401
            assert (await nurse.get(f"{API}/patients/1")).status_code == 401
            assert (await kiosk.post(f"{API}/session", json=body)).status_code == 401


async def test_remote_client_with_a_user_token_passes_the_network_gate(tmp_path: Path):
    settings = _idle(tmp_path, api_token=TOKEN_24)
    async with running_app(settings, client_host="192.0.2.10") as (_, remote):
        assert (await remote.post(f"{API}/patients", json=PATIENT)).status_code == 201
        forged = {"Authorization": "Bearer mct_forged-token"}
        assert (await remote.get(f"{API}/health", headers=forged)).status_code == 401


# --------------------------------------------------------------------------- who did what


async def test_screening_readings_and_completion_name_the_user(tmp_path: Path):
    async with running_app(simulated(tmp_path)) as (app, nurse):
        nurse_id = app.state.cart.accounts.by_name("test-nurse").id
        sid = await new_screening(nurse)
        await measure(nurse, sid, ["bascula"])
        assert (await enter(nurse, sid, "waist_circumference", 90, "cm")).status_code == 201
        await enter(nurse, sid, "body_height", 165, "cm")
        done = await nurse.post(f"{API}/screenings/{sid}/complete")
        assert done.status_code == 200
        body = done.json()
        assert body["opened_by"] == nurse_id
        assert body["completed_by"] == nurse_id
        assert {m["recorded_by"] for m in body["measurements"]} == {nurse_id}
    db = tmp_path / "cart.db"
    assert _rows(db, f"SELECT opened_by, completed_by FROM screening WHERE id={sid}") == [
        (nurse_id, nurse_id)
    ]
    by_kind = dict(
        _rows(db, f"SELECT manual_entry, recorded_by FROM measurement WHERE screening_id={sid}")
    )
    assert by_kind == {0: nurse_id, 1: nurse_id}  # device reading and typed value
    assert _rows(db, "SELECT DISTINCT started_by FROM measure_run") == [(nurse_id,)]


# --------------------------------------------------------------------------- demo nurse


async def test_simulated_cart_has_a_demo_nurse_and_says_how_to_sign_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING, logger="service.main")
    async with running_app(simulated(tmp_path), role=None) as (_, client):
        body = {"username": DEMO_USERNAME, "pin": DEMO_PIN}
        assert (await client.post(f"{API}/session", json=body)).status_code == 200
        assert (await client.post(f"{API}/patients", json=PATIENT)).status_code == 201
    assert any(
        DEMO_USERNAME in r.getMessage() and DEMO_PIN in r.getMessage() for r in caplog.records
    )


async def test_a_real_cart_has_no_demo_user(tmp_path: Path):
    async with running_app(_idle(tmp_path), role=None) as (app, _):
        assert app.state.cart.accounts.by_name(DEMO_USERNAME) is None


# --------------------------------------------------------------------------- cart users


def _users(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CART), "users", "--database-url", f"sqlite:///{tmp_path / 'cart.db'}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cart_users_add_list_disable_and_token(tmp_path: Path):
    add = _users(
        tmp_path,
        *("add", "admin", "--role", "administrator", "--name", "Rosa Díaz", "--pin-stdin"),
        stdin="97531086\n",
    )
    assert add.returncode == 0, add.stderr
    short = _users(
        tmp_path, "add", "x1", "--role", "nurse", "--name", "X", "--pin-stdin", stdin="12\n"
    )
    assert short.returncode == 1
    assert "6 to 12 digits" in short.stderr
    again = _users(
        tmp_path,
        "add",
        "admin",
        "--role",
        "nurse",
        "--name",
        "R",
        "--pin-stdin",
        stdin="97531086\n",
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr
    listed = _users(tmp_path, "list", "--json")
    assert '"username": "admin"' in listed.stdout
    assert '"active": true' in listed.stdout
    pin_hash = _rows(tmp_path / "cart.db", "SELECT pin_hash FROM cart_user")[0][0]
    assert isinstance(pin_hash, str)
    assert pin_hash.startswith("$argon2id$")
    assert "97531086" not in pin_hash
    assert verify_pin(pin_hash, "97531086")
    token = _users(tmp_path, "token", "admin").stdout.strip()
    assert token.startswith("mct_")
    engine = create_db_engine(f"sqlite:///{tmp_path / 'cart.db'}")
    try:
        accounts = Accounts(engine)
        principal = accounts.principal_for_token(token)
        assert principal is not None
        assert principal.role is Role.ADMINISTRATOR
        assert _users(tmp_path, "disable", "admin").returncode == 0
        assert accounts.principal_for_token(token) is None
        assert accounts.authenticate("admin", "97531086") is None
        assert _users(tmp_path, "enable", "admin").returncode == 0
        assert accounts.authenticate("admin", "97531086") is not None
        assert _users(tmp_path, "disable", "nobody").returncode == 1
    finally:
        engine.dispose()


def test_migration_0004_upgrades_and_downgrades(tmp_path: Path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'cart.db'}")
    try:
        migrate(engine, "0003")
        migrate(engine)
        cfg = alembic_config()
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "0003")
        with engine.connect() as conn:
            columns = {r[1] for r in conn.exec_driver_sql("PRAGMA table_info(screening)")}
        assert "opened_by" not in columns
        migrate(engine)
        with engine.connect() as conn:
            columns = {r[1] for r in conn.exec_driver_sql("PRAGMA table_info(measurement)")}
        assert "recorded_by" in columns
    finally:
        engine.dispose()

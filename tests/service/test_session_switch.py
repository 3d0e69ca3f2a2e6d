"""Switching nurse at the kiosk (issue 14): the open screening stays, each nurse's part
names her, the audit trail shows the sign-out, the sign-in and the switch, and a run
under way when the first nurse leaves finishes under her, in the same screening."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from cart.config import Settings
from cart.store.accounts import Principal
from cart.users import Role
from service.auth import SessionRegistry
from tests.helpers import TEST_PIN, add_user, running_app
from tests.service.support import (
    API,
    enter,
    events_of,
    measure,
    new_screening,
    simulated,
    with_devices,
)


async def _sign_in(client: httpx.AsyncClient, username: str) -> httpx.Response:
    resp = await client.post(f"{API}/session", json={"username": username, "pin": TEST_PIN})
    assert resp.status_code == 200, resp.text
    return resp


def _ids(app: FastAPI, *names: str) -> list[int]:
    return [app.state.cart.accounts.by_name(n).id for n in names]


def _no_devices(tmp_path: Path, **overrides: object) -> Settings:
    return with_devices(tmp_path, tmp_path / "none.toml", **overrides)


def _trail(app: FastAPI) -> list[tuple[object, ...]]:
    """(action, user, object id, reason) of the sign-ins, sign-outs and switches."""
    return [
        (e.action, e.username, e.object_id, (e.detail or {}).get("reason"))
        for e in app.state.cart.audit.events()
        if e.action in {"sign_in", "sign_out", "switch_user"}
    ]


async def test_switch_keeps_the_screening_and_names_each_nurse(tmp_path: Path) -> None:
    async with running_app(simulated(tmp_path), role=None) as (app, kiosk):
        add_user(app, "nurse", "ana")
        add_user(app, "nurse", "bea")
        ana, bea = _ids(app, "ana", "bea")
        await _sign_in(kiosk, "ana")
        sid = await new_screening(kiosk)
        assert (await enter(kiosk, sid, "waist_circumference", 90, "cm")).status_code == 201

        # "Cambiar de enfermera": the kiosk is signed out and shows nothing
        out = await kiosk.delete(f"{API}/session", params={"reason": "switch"})
        assert out.status_code == 204
        assert "cart_session" not in kiosk.cookies
        for path in (f"/screenings/{sid}", "/patients/1", "/screenings"):
            refused = await kiosk.get(f"{API}{path}")
            assert refused.status_code == 401, path
            assert "Lucía" not in refused.text

        # the next nurse signs in on the same kiosk and finishes the same screening
        await _sign_in(kiosk, "bea")
        assert (await kiosk.get(f"{API}/screenings/{sid}")).json()["status"] == "open"
        await measure(kiosk, sid, ["bascula"])
        done = await kiosk.post(f"{API}/screenings/{sid}/complete")
        assert done.status_code == 200, done.text
        body = done.json()

    assert body["opened_by"] == ana
    assert body["completed_by"] == bea
    by_kind = {m["kind"]: m["recorded_by"] for m in body["measurements"]}
    assert by_kind == {"waist_circumference": ana, "body_weight": bea}
    assert _trail(app) == [
        ("sign_in", "ana", None, None),
        ("sign_out", "ana", None, "switch"),
        ("sign_in", "bea", None, None),
        ("switch_user", "bea", str(ana), None),  # object: the nurse who left
    ]


async def test_a_run_under_way_finishes_under_the_nurse_who_started_it(tmp_path: Path) -> None:
    """The first nurse leaves (or the kiosk locks) mid-run: the run is not stopped, and its
    readings land in its own screening, recorded by her; the next nurse completes it."""
    settings = simulated(tmp_path, bp_interval_s=1)  # two cuff readings, 1 s apart
    async with running_app(settings, role=None) as (app, kiosk):
        add_user(app, "nurse", "ana")
        add_user(app, "nurse", "bea")
        ana, bea = _ids(app, "ana", "bea")
        await _sign_in(kiosk, "ana")
        other = await new_screening(kiosk)  # another patient's screening, left open
        sid = await new_screening(kiosk)
        started = await kiosk.post(f"{API}/screenings/{sid}/measure", json=None)
        assert started.status_code == 202
        out = await kiosk.delete(f"{API}/session", params={"reason": "lock"})
        assert out.status_code == 204
        assert (await kiosk.get(f"{API}/screenings/{sid}/events")).status_code == 401

        await _sign_in(kiosk, "bea")
        assert (await kiosk.get(f"{API}/screenings/{sid}")).json()["status"] == "measuring"
        events = await events_of(kiosk, sid)  # the same run, followed to its end
        assert events[-1].event == "end"
        done = await kiosk.post(f"{API}/screenings/{sid}/complete")
        assert done.status_code == 200, done.text
        untouched = (await kiosk.get(f"{API}/screenings/{other}")).json()

    body = done.json()
    assert {m["kind"] for m in body["measurements"]} >= {"body_weight", "systolic_pressure"}
    assert {m["recorded_by"] for m in body["measurements"]} == {ana}
    assert body["completed_by"] == bea
    assert untouched["measurements"] == []  # nothing of the run went anywhere else
    assert ("sign_out", "ana", None, "lock") in _trail(app)


async def test_unlock_by_the_same_nurse_is_no_switch_and_a_second_sign_in_ends_the_first(
    tmp_path: Path,
) -> None:
    async with running_app(_no_devices(tmp_path), role=None) as (app, kiosk):
        add_user(app, "nurse", "ana")
        add_user(app, "nurse", "bea")
        ana = _ids(app, "ana")[0]
        await _sign_in(kiosk, "ana")
        await kiosk.delete(f"{API}/session", params={"reason": "lock"})
        await _sign_in(kiosk, "ana")  # the same nurse unlocks
        first = kiosk.cookies["cart_session"]
        # another nurse signs in over a session still open: it ends, as a switch
        await _sign_in(kiosk, "bea")
        kiosk.cookies.set("cart_session", first, domain="127.0.0.1")
        assert (await kiosk.get(f"{API}/session")).status_code == 401
        bad = await kiosk.delete(f"{API}/session", params={"reason": "because"})
        assert bad.status_code == 422
    assert _trail(app) == [
        ("sign_in", "ana", None, None),
        ("sign_out", "ana", None, "lock"),
        ("sign_in", "ana", None, None),
        ("sign_out", "ana", None, "switch"),
        ("sign_in", "bea", None, None),
        ("switch_user", "bea", str(ana), None),
    ]


async def test_the_kiosk_learns_its_lock_time_from_the_settings(tmp_path: Path) -> None:
    settings = _no_devices(tmp_path, session_idle_s=60, kiosk_lock_s=5)
    async with running_app(settings, role=None) as (app, kiosk):
        add_user(app, "nurse", "ana")
        signed = (await _sign_in(kiosk, "ana")).json()
        assert (signed["idle_timeout_s"], signed["lock_after_s"]) == (60, 5)
        app.state.cart.settings.kiosk_lock_s = 600  # never later than the session lasts
        assert (await kiosk.get(f"{API}/session")).json()["lock_after_s"] == 60
        app.state.cart.settings.kiosk_lock_s = None
        assert (await kiosk.get(f"{API}/session")).json()["lock_after_s"] == 60


def test_a_session_ended_by_inactivity_is_reported_once_and_remembered() -> None:
    now = [1000.0]
    registry = SessionRegistry(idle_s=600, clock=lambda: now[0])
    ana = Principal(1, "ana", "Ana", Role.NURSE)
    token = registry.open(ana)
    now[0] += 601
    assert registry.get(token) is None
    assert registry.take_expired(token) == ana  # audited once ...
    assert registry.take_expired(token) is None
    assert registry.previous(token) == ana  # ... and still known for the next sign-in
    assert registry.close(token) is None  # nothing left to close
    now[0] += 13 * 3600
    registry.open(ana)  # an ended session is forgotten after KEEP_ENDED_S
    assert registry.previous(token) is None


async def test_a_session_the_service_ended_is_audited_and_handed_over(tmp_path: Path) -> None:
    """The kiosk slept past CART_SESSION_IDLE_S: its next request is refused, the idle end
    is audited once, and the nurse who signs in next is recorded as taking over."""
    async with running_app(_no_devices(tmp_path), role=None) as (app, kiosk):
        add_user(app, "nurse", "ana")
        add_user(app, "nurse", "bea")
        ana = _ids(app, "ana")[0]
        now = [1000.0]
        app.state.cart.sessions.clock = lambda: now[0]
        await _sign_in(kiosk, "ana")
        now[0] += app.state.cart.settings.session_idle_s + 1
        assert (await kiosk.get(f"{API}/screenings")).status_code == 401
        assert (await kiosk.get(f"{API}/screenings")).status_code == 401
        await _sign_in(kiosk, "bea")
        assert (await kiosk.get(f"{API}/screenings")).status_code == 200
    assert _trail(app) == [
        ("sign_in", "ana", None, None),
        ("sign_out", "ana", None, "idle"),  # once, however many requests found it ended
        ("sign_in", "bea", None, None),
        ("switch_user", "bea", str(ana), None),
    ]

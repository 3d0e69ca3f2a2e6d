"""The wrong-patient drill (issue 11): clinic situations that once misattributed readings.

Each scenario runs the real service (``service.main.create_app`` with its lifespan,
reached over ASGI as in the service tests) against simulators on real pseudo-terminals
that outlive the service: a "restart" stops the service and starts a new one on the
same SQLite file while the devices keep their memory, as real devices do. Patients A
and B take distinguishable values, so every stored reading can be traced to the
patient who took it; the pass is **0 misattributed readings**, counted from the
database file itself, plus a Spanish message telling the nurse what to do wherever a
reading was refused (a scenario's own checks; a failed check fails the scenario).

Scenarios: restart between patients; a failed download then the next patient; the stale
first reading of a new cart; a patient switch mid-run (cancel); measure and complete
sent together; the service killed between the two blood-pressure readings; a meter clock
three days fast or slow. Device memory of another user and device clocks that can or
cannot be set are covered by the driver tests (tests/ble, tests/glucometer).

    python -m bench.wrong_patient                 # every scenario, 20 rounds
    python -m bench.wrong_patient --rounds 1 --only restart

``tests/drill`` runs one round of each scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sqlite3
import sys
import tempfile
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from bench._sse import Event, parse_sse
from cart.attribution import CLOCK_MARGIN_S
from cart.config import Settings
from cart.curp import check_digit
from cart.devices import DeviceConfig, Role, dump_devices
from cart.store.accounts import Accounts
from cart.users import Role as UserRole
from cart.users import hash_pin
from service.main import create_app
from simulators.accutorr_cycles import CycleCuff
from simulators.faults import Fault
from simulators.serial_glucometer import GlucometerConfig, GlucometerSimulator, simulator_for

API = "/api/v1"


def curp(first17: str) -> str:
    return first17 + check_digit(first17)


PATIENT_A = {
    "curp": curp("HEPL750412MDFRRC0"),
    "given_name": "Lucía",
    "family_name": "Hernández Prieto",
    "birth_date": "1975-04-12",
    "sex": "female",
}
PATIENT_B = {
    "curp": curp("GOMJ800101HDFRRN0"),
    "given_name": "Juan",
    "family_name": "Gómez Martínez",
    "birth_date": "1980-01-01",
    "sex": "male",
}


@dataclass
class Cart:
    """The devices (kept across service restarts) and the service's database."""

    folder: Path
    meter: GlucometerSimulator
    cuff: CycleCuff
    devices_file: Path
    #: value -> the patient who took it on a device (the truth the store is judged by)
    taken_by: dict[float, str] = field(default_factory=dict)

    @property
    def db(self) -> Path:
        return self.folder / "cart.db"

    @asynccontextmanager
    async def service(
        self, bp_readings: int = 1, bp_interval_s: float = 0
    ) -> AsyncIterator[httpx.AsyncClient]:
        """One life of the service; leaving the block is a stop (its runs are cancelled)."""
        settings = _settings(self.folder, self.devices_file, bp_readings, bp_interval_s)
        async with _service(settings) as client:
            yield client

    def patient_takes_glucose(self, who: str, mg_dl: int) -> None:
        self.meter.add_reading(mg_dl)
        self.taken_by[float(mg_dl)] = who

    def rows(self) -> list[tuple[int, str, float, str]]:
        """(screening id, patient CURP, value, kind) of every stored device reading."""
        with sqlite3.connect(self.db) as db:
            return list(
                db.execute(
                    "SELECT m.screening_id, p.curp, m.value, m.kind FROM measurement m "
                    "JOIN screening s ON s.id = m.screening_id "
                    "JOIN patient p ON p.id = s.patient_id "
                    "WHERE m.manual_entry = 0 AND m.value IS NOT NULL"
                )
            )

    def misattributed(self) -> list[tuple[int, str, float, str]]:
        """Device readings stored under a patient other than the one who took them."""
        names = {PATIENT_A["curp"]: "A", PATIENT_B["curp"]: "B"}
        wrong = []
        for sid, who_curp, value, kind in self.rows():
            if kind != "glucose" and kind != "systolic_pressure":
                continue
            if names[who_curp] != self.taken_by.get(value):  # None: nobody took it
                wrong.append((sid, who_curp, value, kind))
        return wrong


def _settings(
    folder: Path, devices_file: Path, bp_readings: int = 1, bp_interval_s: float = 0
) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{folder / 'cart.db'}",
        devices_file=devices_file,
        bp_readings=bp_readings,
        bp_interval_s=bp_interval_s,  # the norm's two minutes, unless under test
        log_level="WARNING",
    )


def _write_devices(path: Path, devices: list[DeviceConfig]) -> Path:
    path.write_text(dump_devices(devices), encoding="utf-8")
    return path


@asynccontextmanager
async def _service(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """One life of the real app; leaving the block stops it (its runs are cancelled)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        token = await asyncio.to_thread(_nurse_token, app.state.cart.accounts)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://127.0.0.1",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            yield client


@functools.cache
def _pin_hash() -> str:
    return hash_pin("135790")  # argon2 is slow on purpose: once per drill


def _nurse_token(accounts: Accounts) -> str:
    """The drill's nurse (patients need a signed-in user or a user's token)."""
    if accounts.by_name("drill-nurse") is None:
        accounts.add_user("drill-nurse", "Drill", UserRole.NURSE, pin_hash=_pin_hash())
    return accounts.issue_token("drill-nurse")


async def events_of(client: httpx.AsyncClient, sid: int) -> list[Event]:
    """The screening's run events, followed to the run's end."""
    resp = await client.get(f"{API}/screenings/{sid}/events")
    assert resp.status_code == 200, resp.text
    return parse_sse(resp.text)


@asynccontextmanager
async def open_cart(folder: Path) -> AsyncIterator[Cart]:
    """A meter holding three readings of past days and a cuff with three cycles scripted."""
    meter = simulator_for("onetouch.ultra2", GlucometerConfig.fast(new_reading_mg_dl=None))
    await meter.start()
    try:
        async with CycleCuff([(150, 95, 113, 80), (118, 76, 90, 70), (152, 96, 115, 82)]) as cuff:
            devices = [
                DeviceConfig(
                    id="glucometro",
                    role=Role.GLUCOMETER,
                    driver="onetouch.ultra2",
                    transport="serial",
                    port=meter.port,
                    timeout_s=3.0,
                    options={"reply_s": 0.25, "retries": 1},
                ),
                DeviceConfig(
                    id="baumanometro",
                    role=Role.BP,
                    driver="datascope.accutorr",
                    transport="serial",
                    port=cuff.port,
                    timeout_s=5.0,
                    options={"poll_s": 0.02, "reply_s": 1.0},
                ),
            ]
            devices_file = _write_devices(folder / "devices.toml", devices)
            yield Cart(folder, meter, cuff, devices_file)
    finally:
        await meter.stop()


async def _register(client: httpx.AsyncClient, patient: dict[str, Any]) -> int:
    resp = await client.post(f"{API}/patients", json=patient)
    if resp.status_code == 409:
        existing: int = resp.json()["detail"]["existing_id"]
        return existing
    assert resp.status_code == 201, resp.text
    created: int = resp.json()["id"]
    return created


async def _screening(client: httpx.AsyncClient, patient: dict[str, Any]) -> int:
    pid = await _register(client, patient)
    resp = await client.post(f"{API}/screenings", json={"patient_id": pid})
    assert resp.status_code == 201, resp.text
    sid: int = resp.json()["id"]
    return sid


async def _measure(client: httpx.AsyncClient, sid: int, *devices: str) -> list[Event]:
    resp = await client.post(f"{API}/screenings/{sid}/measure", json={"devices": list(devices)})
    assert resp.status_code == 202, resp.text
    return await events_of(client, sid)


def _refusals(events: list[Event]) -> list[dict[str, Any]]:
    return [e.data["error"] for e in events if e.event == "error"]


def _assert_nurse_told(events: list[Event], *reasons: str) -> None:
    """A refusal for one of ``reasons`` reached the kiosk, each with what to do."""
    refused = _refusals(events)
    assert refused, [e.event for e in events]
    assert any(r.get("reason") in reasons for r in refused), refused
    for r in refused:
        assert r["nurse_message"]
        assert "Reintentar" in r["nurse_message"] or "mida" in r["nurse_message"].lower()


async def _values(client: httpx.AsyncClient, sid: int, kind: str) -> list[float]:
    screening = (await client.get(f"{API}/screenings/{sid}")).json()
    return [m["value"] for m in screening["measurements"] if m["kind"] == kind]


async def _complete(client: httpx.AsyncClient, sid: int) -> None:
    resp = await client.post(f"{API}/screenings/{sid}/complete")
    assert resp.status_code == 200, resp.text


async def restart_between_patients(cart: Cart) -> None:
    async with cart.service() as client:
        a = await _screening(client, PATIENT_A)
        cart.patient_takes_glucose("A", 236)
        await _measure(client, a, "glucometro")
        assert await _values(client, a, "glucose") == [236]
        await _complete(client, a)
    async with cart.service() as client:  # power cycle: nothing in memory survives
        b = await _screening(client, PATIENT_B)
        events = await _measure(client, b, "glucometro")
        assert await _values(client, b, "glucose") == []
        # refused twice over, whichever rule looks first: the record was downloaded
        # before (the store's memory) and was taken while A was attended (the floor)
        _assert_nurse_told(events, "already_seen", "other_screening")
    assert cart.misattributed() == []


async def failed_download_then_next_patient(cart: Cart) -> None:
    async with cart.service() as client:
        a = await _screening(client, PATIENT_A)
        cart.patient_takes_glucose("A", 236)
        # the download times out: every reply of the meter garbled
        healthy = cart.meter.config
        cart.meter.config = replace(healthy, fault=Fault.CHECKSUM, fault_replies=None)
        events = await _measure(client, a, "glucometro")
        assert [e.event for e in events if e.event == "error"]
        cart.meter.config = healthy
        typed = await client.post(
            f"{API}/screenings/{a}/measurements",
            json={"kind": "glucose", "value": 236, "unit": "mg/dL"},
        )
        assert typed.status_code == 201, typed.text
        await _complete(client, a)
        b = await _screening(client, PATIENT_B)
        events = await _measure(client, b, "glucometro")
        assert await _values(client, b, "glucose") == []
        _assert_nurse_told(events, "other_screening")
        # B measures now: that reading, and only that one, is B's
        cart.patient_takes_glucose("B", 97)
        events = await _measure(client, b, "glucometro")
        if not await _values(client, b, "glucose"):
            # taken within the clock margin of A's completion: the cart cannot tell it
            # from A's and refuses it; the nurse has B measure again, a moment later
            _assert_nurse_told(events, "other_screening")
            await asyncio.sleep(CLOCK_MARGIN_S + 1)
            cart.meter.add_reading(98, at=cart.meter.meter_now().replace(microsecond=0))
            cart.taken_by[98.0] = "B"
            await _measure(client, b, "glucometro")
            assert await _values(client, b, "glucose") == [98]
        else:
            assert await _values(client, b, "glucose") == [97]
    assert cart.misattributed() == []


async def stale_first_reading(cart: Cart) -> None:
    """The first screening after install: the meter holds only readings of past days."""
    async with cart.service() as client:
        b = await _screening(client, PATIENT_B)
        events = await _measure(client, b, "glucometro")
        assert await _values(client, b, "glucose") == []
        _assert_nurse_told(events, "stale")
    assert cart.rows() == []


async def patient_switch_mid_run(cart: Cart) -> None:
    async with cart.service() as client:
        a = await _screening(client, PATIENT_A)
        # the cuff inflates for A; the nurse switches patient before it ends
        cart.cuff.polls_per_cycle = 10_000  # a cycle that does not end by itself
        started = await client.post(
            f"{API}/screenings/{a}/measure", json={"devices": ["baumanometro"]}
        )
        assert started.status_code == 202
        await asyncio.sleep(0.3)
        cancelled = await client.post(f"{API}/screenings/{a}/measure/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["cancelled"] is True
        events = await events_of(client, a)
        assert events[-1].event == "end"
        assert await _values(client, a, "systolic_pressure") == []
        # the late reading of the cancelled run can never be stored: the store refuses it
        b = await _screening(client, PATIENT_B)
        cart.cuff.polls_per_cycle = 3
        cart.taken_by[118.0] = "B"
        cart.taken_by[150.0] = "B"  # the cycle A started, finished for B
        await _measure(client, b, "baumanometro")
        assert len(await _values(client, b, "systolic_pressure")) == 1
        assert await _values(client, a, "systolic_pressure") == []
    assert cart.misattributed() == []


async def measure_and_complete_raced(cart: Cart) -> None:
    async with cart.service() as client:
        for n in range(10):
            sid = await _screening(client, PATIENT_A if n % 2 else PATIENT_B)
            who = "A" if n % 2 else "B"
            cart.patient_takes_glucose(who, 150 + n)
            measure, complete = await asyncio.gather(
                client.post(f"{API}/screenings/{sid}/measure", json={"devices": ["glucometro"]}),
                client.post(f"{API}/screenings/{sid}/complete"),
            )
            assert measure.status_code in (202, 409), measure.text
            assert complete.status_code in (200, 409), complete.text
            if measure.status_code == 202:
                await events_of(client, sid)
            screening = (await client.get(f"{API}/screenings/{sid}")).json()
            if screening["status"] == "completed":
                stored = [m["value"] for m in screening["measurements"] if m["kind"] == "glucose"]
                classified = screening["classification"]
                assert classified is not None
                # completed first: nothing may have been stored after it
                if complete.status_code == 200 and measure.status_code == 202:
                    assert stored in ([], [150 + n])
            else:
                finish = await client.post(f"{API}/screenings/{sid}/complete")
                if finish.status_code == 409:  # the reading was refused: nothing to complete
                    assert finish.json()["detail"]["reason"] == "empty", finish.text
                    assert screening["measurements"] == []
                else:
                    assert finish.status_code == 200, finish.text
    assert cart.misattributed() == []


async def kill_between_bp_readings(cart: Cart) -> None:
    # the stop comes during the norm's wait between the two readings
    async with cart.service(bp_readings=2, bp_interval_s=60) as client:
        a = await _screening(client, PATIENT_A)
        cart.taken_by.update({150.0: "A", 118.0: "A", 152.0: "A"})
        resp = await client.post(
            f"{API}/screenings/{a}/measure", json={"devices": ["baumanometro"]}
        )
        assert resp.status_code == 202
        for _ in range(200):  # until the first of two readings is stored
            if await _values(client, a, "systolic_pressure"):
                break
            await asyncio.sleep(0.05)
    # the service stopped between the two readings (the run was cut short)
    async with cart.service(bp_readings=2) as client:
        screening = (await client.get(f"{API}/screenings/{a}")).json()
        assert screening["status"] == "open"
        done = await client.post(f"{API}/screenings/{a}/complete")
        assert done.status_code == 200, done.text
        body = done.json()
        bp = body["bp"]
        assert bp == {"required": 2, "valid": 1, "complete": False}
        quality = body["classification"]["data_quality"]
        assert quality, "the classification must say the blood pressure is incomplete"
    assert cart.misattributed() == []


async def meter_clock_three_days_off(cart: Cart) -> None:
    for skew in (3 * 86400.0, -3 * 86400.0):
        meter = simulator_for(
            "onetouch.ultra2", GlucometerConfig.fast(new_reading_mg_dl=None, clock_skew_s=skew)
        )
        await meter.start()
        folder = cart.folder / f"skew{int(skew)}"
        folder.mkdir()
        try:
            devices = _write_devices(
                folder / "devices.toml",
                [
                    DeviceConfig(
                        id="glucometro",
                        role=Role.GLUCOMETER,
                        driver="onetouch.ultra2",
                        transport="serial",
                        port=meter.port,
                        timeout_s=3.0,
                        options={"reply_s": 0.25, "retries": 1},
                    )
                ],
            )
            async with _service(_settings(folder, devices)) as client:
                sid = await _screening(client, PATIENT_A)
                meter.add_reading(180)  # taken now, stamped three days off
                events = await _measure(client, sid, "glucometro")
                screening = (await client.get(f"{API}/screenings/{sid}")).json()
                stored = [m for m in screening["measurements"] if m["kind"] == "glucose"]
                if stored:  # the driver read the clock: corrected and flagged
                    (m,) = stored
                    assert "clock_skew" in m["flags"]
                    assert abs(m["clock_offset_s"] - skew) <= 120
                    measured = m["measured_at"]
                    assert measured is not None
                else:  # the clock could not be read: the reading is refused, not trusted
                    refused = _refusals(events)
                    assert refused
                    assert refused[0]["reason"] in {"stale", "future"}
                    assert refused[0]["nurse_message"]
        finally:
            await meter.stop()


Scenario = Callable[[Cart], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {
    "restart_between_patients": restart_between_patients,
    "failed_download_then_next_patient": failed_download_then_next_patient,
    "stale_first_reading": stale_first_reading,
    "patient_switch_mid_run": patient_switch_mid_run,
    "measure_and_complete_raced": measure_and_complete_raced,
    "kill_between_bp_readings": kill_between_bp_readings,
    "meter_clock_three_days_off": meter_clock_three_days_off,
}


@dataclass
class Outcome:
    scenario: str
    misattributed: list[tuple[int, str, float, str]] = field(default_factory=list)
    failure: str | None = None
    seconds: float = 0.0


async def run_scenario(name: str, folder: Path) -> Outcome:
    """One scenario on a fresh cart in ``folder``: its misattributed rows and any failure."""
    began = time.perf_counter()
    outcome = Outcome(name)
    async with open_cart(folder) as cart:
        try:
            await SCENARIOS[name](cart)
        except AssertionError as exc:
            outcome.failure = f"{exc}\n{traceback.format_exc(limit=3)}"
        if cart.db.exists():
            outcome.misattributed = cart.misattributed()
    outcome.seconds = time.perf_counter() - began
    return outcome


async def drill(rounds: int, only: list[str]) -> dict[str, Any]:
    names = [n for n in SCENARIOS if not only or any(o in n for o in only)]
    per: dict[str, dict[str, Any]] = {
        n: {"runs": 0, "misattributed": 0, "failures": 0, "first_failure": None} for n in names
    }
    with tempfile.TemporaryDirectory(prefix="wrong-patient-") as tmp:
        for r in range(rounds):
            for name in names:
                folder = Path(tmp) / f"{r}-{name}"
                folder.mkdir()
                outcome = await run_scenario(name, folder)
                row = per[name]
                row["runs"] += 1
                row["misattributed"] += len(outcome.misattributed)
                if outcome.failure is not None:
                    row["failures"] += 1
                    row["first_failure"] = row["first_failure"] or outcome.failure[:2000]
    misattributed = sum(p["misattributed"] for p in per.values())
    failures = sum(p["failures"] for p in per.values())
    return {
        "rounds": rounds,
        "scenarios": per,
        "runs": sum(p["runs"] for p in per.values()),
        "misattributed": misattributed,
        "failures": failures,
        "targets": {"misattributed": 0, "ok": misattributed == 0 and failures == 0},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench.wrong_patient", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--only", nargs="*", default=[], help="scenario name fragments")
    args = parser.parse_args(argv if argv is not None else [])
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return asyncio.run(drill(args.rounds, args.only))


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))

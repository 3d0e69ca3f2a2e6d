"""Screenings: create, read, measure (202 + Server-Sent Events), enter by hand, complete."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from cart.devices import DeviceConfig, Role
from cart.store import create_db_engine
from simulators.accutorr_cycles import CycleCuff
from simulators.faults import Fault
from simulators.serial_scale import ScaleConfig, SerialScaleSimulator
from tests.helpers import running_app, write_devices
from tests.service.support import (
    API,
    curp,
    enter,
    events_of,
    measure,
    new_screening,
    register,
    simulated,
    with_devices,
)


def _scale(port: str, timeout_s: float = 5.0) -> DeviceConfig:
    return DeviceConfig(
        id="bascula",
        role=Role.SCALE,
        driver="and.weighing",
        transport="serial",
        port=port,
        timeout_s=timeout_s,
        options={"silence_s": timeout_s},
    )


def _rows(database_url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


@pytest.fixture
async def idle(tmp_path: Path, database_url: str):
    """The app with no device at all."""
    settings = with_devices(tmp_path, tmp_path / "none.toml", database_url=database_url)
    async with running_app(settings) as (app, client):
        yield app, client


# --------------------------------------------------------------------------- create / read


async def test_create_needs_an_existing_patient(idle):
    _, client = idle
    for body in (
        {},
        {"patient_id": None},
        {"patient_id": 1, "color": "blue"},
        {"patient_id": 1, "glucose_context": "after_lunch"},
        {"patient_id": 1, "known_diagnoses": ["flu"]},
    ):
        assert (await client.post(f"{API}/screenings", json=body)).status_code == 422, body
    resp = await client.post(f"{API}/screenings", json={"patient_id": 42})
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "patient_id"]


async def test_create_and_read(idle):
    _, client = idle
    patient = await register(client)
    resp = await client.post(
        f"{API}/screenings",
        json={
            "patient_id": patient["id"],
            "glucose_context": "fasting",
            "known_diagnoses": ["hypertension"],
        },
    )
    assert resp.status_code == 201
    created = resp.json()
    assert created["patient"] == patient
    assert created["status"] == "open"
    assert (created["glucose_context"], created["known_diagnoses"]) == ("fasting", ["hypertension"])
    assert created["measurements"] == []
    assert created["classification"]["ruleset"]["id"] == "nom"
    got = await client.get(f"{API}/screenings/{created['id']}")
    assert got.status_code == 200
    assert got.json()["id"] == created["id"]
    assert (await client.get(f"{API}/screenings/999")).status_code == 404
    assert (await client.get(f"{API}/screenings/0")).status_code == 422
    assert (await client.get(f"{API}/screenings/99999999999")).status_code == 422


# --------------------------------------------------------------------------- measure + SSE


async def test_measure_is_202_and_progress_streams_until_the_run_ends(
    tmp_path, database_url, no_leaked_tasks
):
    async with running_app(simulated(tmp_path, database_url=database_url)) as (_, client):
        sid = await new_screening(client)
        events = await measure(client, sid)
        names = [e.event for e in events]
        assert names[0] == "started"
        assert names[-1] == "end"
        assert [e.id for e in events] == list(range(1, len(events) + 1))
        started = events[0].data
        roles = {d["device_id"]: d["role"] for d in started["devices"]}
        # the simulated cart grows as devices land: a scale and a cuff at least
        assert roles.items() >= {("bascula", "scale"), ("baumanometro", "bp")}
        scale = [e for e in events if e.data.get("device_id") == "bascula"]
        stages = [e.event for e in scale]
        assert stages[0] == "connecting"
        assert "waiting" in stages
        assert stages[-1] == "done"
        (done,) = [e.data for e in scale if e.event == "done"]
        assert [(m["kind"], m["value"], m["unit"]) for m in done["measurements"]] == [
            ("body_weight", 72.4, "kg")
        ]
        assert done["measurements"][0]["id"] >= 1  # stored before it was announced
        partials = [e.data["measurement"] for e in scale if e.event == "progress"]
        assert all(p["kind"] == "body_weight" for p in partials)
        cuff = [e.data for e in events if e.data.get("role") == "bp"]
        pressures = [c["measurement"] for c in cuff if c["stage"] == "progress"]
        assert pressures
        assert all(p["kind"] == "cuff_pressure" for p in pressures)
        assert [c["reading"] for c in cuff if c["stage"] == "reading"] == [1, 2]  # NOM-030
        cuff_done = next(e.data for e in events if e.event == "done" and e.data["role"] == "bp")
        assert len(cuff_done["readings"]) == 2
        kinds = {m["kind"]: m["value"] for m in cuff_done["measurements"]}
        assert (kinds["systolic_pressure"], kinds["diastolic_pressure"]) == (128, 82)
        end = events[-1].data
        assert (end["status"], sorted(end["ok"]), end["failed"]) == ("finished", sorted(roles), [])
        screening = (await client.get(f"{API}/screenings/{sid}")).json()
        assert screening["status"] == "open"
        assert {m["kind"] for m in screening["measurements"]} >= {
            "body_weight",
            "systolic_pressure",
        }
        assert screening["classification"]["bp_category"] == "normal"
        states = {d["id"]: d["state"] for d in (await client.get(f"{API}/devices")).json()}
        assert states == dict.fromkeys(roles, "ready")


async def test_late_subscriber_gets_the_log_and_last_event_id_resumes(tmp_path, database_url):
    async with running_app(simulated(tmp_path, database_url=database_url)) as (_, client):
        sid = await new_screening(client)
        assert (await client.get(f"{API}/screenings/{sid}/events")).status_code == 404
        first = await measure(client, sid, ["bascula"])
        again = await events_of(client, sid)
        assert again == first
        resumed = await events_of(client, sid, {"Last-Event-ID": "2"})
        assert resumed == first[2:]
        junk = await client.get(f"{API}/screenings/{sid}/events", headers={"Last-Event-ID": "abc"})
        assert junk.status_code == 422
        assert (await client.get(f"{API}/screenings/999/events")).status_code == 404


async def test_second_measure_while_running_is_409(tmp_path, database_url, no_leaked_tasks):
    async with SerialScaleSimulator(ScaleConfig.fast(fault=Fault.SILENCE)) as sim:
        devices = write_devices(tmp_path / "devices.toml", [_scale(sim.port, 1.5)])
        async with running_app(with_devices(tmp_path, devices, database_url=database_url)) as (
            _,
            client,
        ):
            patient = await register(client)
            sid = await new_screening(client, patient_id=patient["id"])
            other = await new_screening(client, patient_id=patient["id"])
            assert (await client.post(f"{API}/screenings/{sid}/measure")).status_code == 202
            again = await client.post(f"{API}/screenings/{sid}/measure")
            assert again.status_code == 409
            assert again.json()["detail"]["nurse_message"]
            busy = await client.post(f"{API}/screenings/{other}/measure", json={})
            assert busy.status_code == 409
            assert busy.json()["detail"]["devices"] == ["bascula"]
            assert (await client.get(f"{API}/screenings/{sid}")).json()["status"] == "measuring"
            assert (await client.post(f"{API}/screenings/{sid}/complete")).status_code == 409
            events = await events_of(client, sid)
            (error,) = [e.data for e in events if e.event == "error"]
            assert error["device_id"] == "bascula"
            assert error["error"]["type"] == "DeviceTimeout"
            assert error["error"]["nurse_message"] == (
                "La báscula no responde: revise el cable y presione Reintentar"
            )
            assert events[-1].data["failed"] == ["bascula"]
            assert (await client.get(f"{API}/screenings/{sid}")).json()["status"] == "open"
            device = (await client.get(f"{API}/devices")).json()[0]
            assert (device["state"], device["message"]) == (
                "offline",
                error["error"]["nurse_message"],
            )


async def test_measure_refusals(idle, tmp_path):
    _, client = idle
    sid = await new_screening(client)
    none = await client.post(f"{API}/screenings/{sid}/measure")
    assert none.status_code == 503
    assert none.json()["detail"]["nurse_message"].startswith("No hay equipos")
    unknown = await client.post(f"{API}/screenings/{sid}/measure", json={"devices": ["xyz"]})
    assert unknown.status_code == 404
    assert unknown.json()["detail"]["type"] == "DeviceNotFound"
    assert (await client.post(f"{API}/screenings/999/measure")).status_code == 404
    bad = await client.post(f"{API}/screenings/{sid}/measure", json={"devices": []})
    assert bad.status_code == 422
    extra = await client.post(f"{API}/screenings/{sid}/measure", json={"all": True})
    assert extra.status_code == 422


async def test_implausible_device_reading_is_refused_and_kept_in_the_raw_log(
    tmp_path, database_url
):
    async with SerialScaleSimulator(ScaleConfig.fast(weight_kg=512.0)) as sim:
        devices = write_devices(tmp_path / "devices.toml", [_scale(sim.port)])
        async with running_app(with_devices(tmp_path, devices, database_url=database_url)) as (
            _,
            client,
        ):
            sid = await new_screening(client)
            events = await measure(client, sid)
            (error,) = [e.data["error"] for e in events if e.event == "error"]
            assert error["type"] == "ImplausibleValue"
            assert error["nurse_message"].startswith("La báscula dio un valor imposible (512 kg)")
    assert _rows(database_url, "SELECT count(*) FROM measurement") == [(0,)]
    assert _rows(database_url, "SELECT count(*) FROM raw_frame WHERE accepted = false")[0][0] >= 1


async def test_blood_pressure_is_read_n_times_and_averaged(tmp_path, database_url, no_leaked_tasks):
    async with CycleCuff([(128, 82, 97, 72), (133, 86, 102, 75)]) as cuff:
        cfg = DeviceConfig(
            id="baumanometro",
            role=Role.BP,
            driver="datascope.accutorr",
            transport="serial",
            port=cuff.port,
            timeout_s=5.0,
            options={"poll_s": 0.02, "reply_s": 1.0},
        )
        devices = write_devices(tmp_path / "devices.toml", [cfg])
        settings = with_devices(tmp_path, devices, bp_readings=2, database_url=database_url)
        async with running_app(settings) as (_, client):
            sid = await new_screening(client)
            events = await measure(client, sid)
            readings = [e.data for e in events if e.event == "reading"]
            assert [(r["reading"], r["readings"]) for r in readings] == [(1, 2), (2, 2)]
            waiting = [e.data["detail"] for e in events if e.event == "waiting"]
            assert [(w["reading"], w["readings"]) for w in waiting] == [(1, 2), (2, 2)]
            (done,) = [e.data for e in events if e.event == "done"]
            average = {m["kind"]: m for m in done["measurements"]}
            assert average["systolic_pressure"]["value"] == 130.5
            assert average["diastolic_pressure"]["value"] == 84.0
            assert average["pulse_rate"]["value"] == 73.5
            assert average["systolic_pressure"]["flags"] == ["average"]
            assert average["systolic_pressure"]["context"] == {
                "method": "average",
                "readings": "2",
                "required": "2",
            }
            assert len(done["readings"]) == 2
            screening = (await client.get(f"{API}/screenings/{sid}")).json()
            systolic = [
                m["value"] for m in screening["measurements"] if m["kind"] == "systolic_pressure"
            ]
            assert systolic == [128, 133, 130.5]  # each reading kept, the average last
            assert len({m["reading_id"] for m in screening["measurements"]}) == 3
    # the single readings keep their raw frames; the average has none of its own
    assert _rows(database_url, "SELECT count(*) FROM raw_frame WHERE accepted = true") == [(2,)]


async def test_shutdown_cancels_a_running_measurement(tmp_path, database_url, no_leaked_tasks):
    async with SerialScaleSimulator(ScaleConfig.fast(fault=Fault.SILENCE)) as sim:
        devices = write_devices(tmp_path / "devices.toml", [_scale(sim.port, 60.0)])
        async with running_app(with_devices(tmp_path, devices, database_url=database_url)) as (
            app,
            client,
        ):
            sid = await new_screening(client)
            assert (await client.post(f"{API}/screenings/{sid}/measure")).status_code == 202
            await asyncio.sleep(0.2)
            run = app.state.cart.runs.get(sid)
            assert run is not None
            assert not run.finished
        assert run.finished
        assert run.events[-1].event == "end"
        assert run.events[-1].data["status"] == "cancelled"


# --------------------------------------------------------------------------- by hand


async def test_manual_entry_is_flagged_and_checked(idle):
    _, client = idle
    sid = await new_screening(client)
    waist = await enter(client, sid, "waist_circumference", 94.5, "cm")
    assert waist.status_code == 201
    body = waist.json()
    assert (body["kind"], body["value"], body["unit"]) == ("waist_circumference", 94.5, "cm")
    assert body["manual_entry"] is True
    assert body["flags"] == ["manual_entry"]
    assert body["device_id"] is None
    inches = (await enter(client, sid, "body_height", 65, "in")).json()
    # whole inches typed (2.54 cm steps): whole centimetres, not 165.1
    assert (inches["value"], inches["original"]) == (165.0, {"value": 65.0, "unit": "[in_i]"})
    assert inches["decimals"] == 0

    implausible = await enter(client, sid, "body_weight", 900, "kg")
    assert implausible.status_code == 422
    (item,) = implausible.json()["detail"]
    assert item["loc"] == ["body", "value"]
    assert "plausible range" in item["msg"]
    assert item["nurse_message"].startswith("El valor 900 está fuera del rango posible")
    wrong_unit = await enter(client, sid, "waist_circumference", 90, "kg")
    assert wrong_unit.status_code == 422
    assert wrong_unit.json()["detail"][0]["loc"] == ["body", "unit"]
    overflow = await enter(client, sid, "body_height", 1e308, "in")
    assert overflow.status_code == 422
    for body in (
        {"kind": "cuff_pressure", "value": 120, "unit": "mm[Hg]"},
        {"kind": "waist_circumference", "value": 90},
        {"kind": "waist_circumference", "value": 90, "unit": "cm", "by": "nurse"},
        {"kind": "waist_circumference", "value": "ninety", "unit": "cm"},
    ):
        resp = await client.post(f"{API}/screenings/{sid}/measurements", json=body)
        assert resp.status_code == 422, body
    assert (await enter(client, 999, "waist_circumference", 90, "cm")).status_code == 404
    kinds = [
        m["kind"] for m in (await client.get(f"{API}/screenings/{sid}")).json()["measurements"]
    ]
    assert kinds == ["waist_circumference", "body_height"]


async def test_manual_entry_keeps_the_precision_typed(idle):
    _, client = idle
    sid = await new_screening(client)
    url = f"{API}/screenings/{sid}/measurements"

    async def typed(value: float, unit: str, **extra: int) -> httpx.Response:
        body = {"kind": "waist_circumference", "value": value, "unit": unit, **extra}
        return await client.post(url, json=body)

    # "92.0" typed on the keypad: JSON says 92.0 = 92, so the kiosk sends the digits
    assert ((await typed(92.0, "cm", decimals=1)).json()["decimals"]) == 1
    assert ((await typed(92.5, "cm")).json()["decimals"]) == 1  # omitted: fewest digits
    assert ((await typed(92, "cm")).json()["decimals"]) == 0
    inches = (await typed(36.2, "in", decimals=1)).json()  # 0.1 in = 0.254 cm: 1 decimal
    assert (inches["value"], inches["decimals"]) == (91.9, 1)
    too_few = await typed(92.25, "cm", decimals=1)
    assert too_few.status_code == 422
    assert too_few.json()["detail"][0]["loc"] == ["body", "decimals"]
    assert (await typed(92, "cm", decimals=7)).status_code == 422
    stored = (await client.get(f"{API}/screenings/{sid}")).json()["measurements"]
    assert [(m["value"], m["decimals"]) for m in stored] == [
        (92.0, 1),
        (92.5, 1),
        (92.0, 0),
        (91.9, 1),
    ]


# --------------------------------------------------------------------------- classify + complete


async def test_classification_from_latest_readings_then_complete(tmp_path, database_url):
    async with running_app(simulated(tmp_path, database_url=database_url)) as (_, client):
        sid = await new_screening(client, glucose_context="fasting")
        await measure(client, sid)
        for kind, value, unit in [
            ("body_height", 165, "cm"),
            ("waist_circumference", 94.5, "cm"),
            ("glucose", 104, "mg/dL"),
        ]:
            assert (await enter(client, sid, kind, value, unit)).status_code == 201
        open_ = (await client.get(f"{API}/screenings/{sid}")).json()
        c = open_["classification"]
        assert (c["bmi"], c["weight_status"], c["waist_risk"]) == (26.6, "overweight", "high")
        assert c["overall"]["obesity"] == "at_risk"
        assert c["glucose_category"] == "prediabetes"
        assert open_["classification_error"] is None

        sync = (await client.get(f"{API}/sync")).json()
        assert (sync["pending"], sync["sent"], sync["rejected"]) == (0, 0, 0)
        done = await client.post(f"{API}/screenings/{sid}/complete")
        assert done.status_code == 200
        completed = done.json()
        assert completed["status"] == "completed"
        assert completed["completed_at"] is not None
        assert completed["classification"] == c
        assert (await client.get(f"{API}/sync")).json()["pending"] == 1

        again = await client.post(f"{API}/screenings/{sid}/complete")
        assert again.status_code == 409
        assert (await enter(client, sid, "body_height", 166, "cm")).status_code == 409
        assert (await client.post(f"{API}/screenings/{sid}/measure")).status_code == 409
        assert (await client.post(f"{API}/screenings/999/complete")).status_code == 404


async def test_complete_needs_measurements_and_an_adult(idle):
    _, client = idle
    sid = await new_screening(client)
    empty = await client.post(f"{API}/screenings/{sid}/complete")
    assert empty.status_code == 409
    assert empty.json()["detail"]["nurse_message"].startswith("No hay mediciones")

    teen = await register(
        client,
        curp=curp("PEGA100709MDFRRNA"),
        given_name="Ana",
        family_name="Pérez García",
        birth_date="2010-07-09",
        sex="female",
    )
    young = await new_screening(client, patient_id=teen["id"])
    assert (await enter(client, young, "body_weight", 50, "kg")).status_code == 201
    got = (await client.get(f"{API}/screenings/{young}")).json()
    assert got["classification"] is None
    assert got["classification_error"]["loc"] == ["input", "age"]
    refused = await client.post(f"{API}/screenings/{young}/complete")
    assert refused.status_code == 422
    (item,) = refused.json()["detail"]
    assert item["loc"] == ["input", "age"]
    assert "20 años" in item["nurse_message"]

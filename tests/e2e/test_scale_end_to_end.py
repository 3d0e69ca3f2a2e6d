"""Issue 2's end-to-end path: simulator on a pty -> driver -> service -> SQLite file.

Measuring answers 202 and the outcome arrives as Server-Sent Events (issue 6).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cart.config import Settings
from cart.devices import DeviceConfig, Role
from simulators.faults import Fault
from simulators.serial_scale import ScaleConfig, SerialScaleSimulator
from tests.helpers import running_app, write_devices
from tests.service.support import Event, measure, new_screening


def _settings(tmp_path: Path, devices_file: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'cart.db'}", devices_file=devices_file)


def _scale(port: str, timeout_s: float = 5.0) -> DeviceConfig:
    return DeviceConfig(
        id="bascula",
        role=Role.SCALE,
        driver="and.weighing",
        transport="serial",
        port=port,
        timeout_s=timeout_s,
        options={"silence_s": 1.0},
    )


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def _outcome(events: list[Event]) -> Event:
    """The scale's final event of a run: ``done`` or ``error``."""
    (last,) = [e for e in events if e.event in ("done", "error")]
    return last


async def test_scale_measured_and_stored(tmp_path, no_leaked_tasks):
    async with SerialScaleSimulator(ScaleConfig.fast(weight_kg=81.35)) as sim:
        devices = write_devices(tmp_path / "devices.toml", [_scale(sim.port)])
        async with running_app(_settings(tmp_path, devices)) as (_, client):
            sid = await new_screening(client)
            result = _outcome(await measure(client, sid))
            assert result.event == "done"
            assert [(m["kind"], m["value"], m["unit"]) for m in result.data["measurements"]] == [
                ("body_weight", 81.35, "kg")
            ]
            screening = (await client.get(f"/api/v1/screenings/{sid}")).json()
            assert screening["measurements"][0]["value"] == 81.35
            devices_state = (await client.get("/api/v1/devices")).json()
            assert devices_state[0]["state"] == "ready"
            assert devices_state[0]["last_seen"] is not None
    db = tmp_path / "cart.db"
    assert _rows(db, "SELECT kind, value, unit, loinc, device_id FROM measurement") == [
        ("body_weight", 81.35, "kg", "29463-7", "bascula")
    ]
    (raw,) = _rows(db, "SELECT raw FROM measurement")
    assert raw[0].startswith(b"ST,+00081.35")
    assert _rows(db, "PRAGMA journal_mode") == [("wal",)]
    assert db.stat().st_mode & 0o777 == 0o600


async def test_silent_scale_gives_clear_timeout_and_stores_nothing(tmp_path, no_leaked_tasks):
    async with SerialScaleSimulator(ScaleConfig.fast(fault=Fault.SILENCE)) as sim:
        devices = write_devices(tmp_path / "devices.toml", [_scale(sim.port, timeout_s=1.5)])
        async with running_app(_settings(tmp_path, devices)) as (_, client):
            sid = await new_screening(client)
            result = _outcome(await measure(client, sid))
            assert result.event == "error"
            assert result.data["error"]["type"] == "DeviceTimeout"
            assert "no data from the scale" in result.data["error"]["message"]
            assert result.data["error"]["nurse_message"] == (
                "La báscula no responde: revise el cable y presione Reintentar"
            )
            state = (await client.get("/api/v1/devices")).json()[0]
            assert state["state"] == "offline"
            assert state["message"].startswith("La báscula no responde")
    assert _rows(tmp_path / "cart.db", "SELECT count(*) FROM measurement") == [(0,)]


async def test_unplugged_scale_is_connection_lost_and_nothing_stored(tmp_path, no_leaked_tasks):
    async with SerialScaleSimulator(ScaleConfig.fast(fault=Fault.UNPLUG)) as sim:
        devices = write_devices(tmp_path / "devices.toml", [_scale(sim.port)])
        async with running_app(_settings(tmp_path, devices)) as (_, client):
            sid = await new_screening(client)
            result = _outcome(await measure(client, sid))
            assert result.data["error"]["type"] in {"ConnectionLost", "DeviceNotFound"}
    assert _rows(tmp_path / "cart.db", "SELECT count(*) FROM measurement") == [(0,)]


async def test_noisy_cable_still_measures(tmp_path, no_leaked_tasks):
    async with SerialScaleSimulator(ScaleConfig.fast(weight_kg=64.2, fault=Fault.NOISE)) as sim:
        devices = write_devices(tmp_path / "devices.toml", [_scale(sim.port)])
        async with running_app(_settings(tmp_path, devices)) as (_, client):
            sid = await new_screening(client)
            result = _outcome(await measure(client, sid))
            assert result.data["measurements"][0]["value"] == 64.2


async def test_overload_and_broken_frames_are_device_errors(tmp_path, no_leaked_tasks):
    for fault, nurse in [
        (Fault.OVERLOAD, "La báscula marca sobrecarga"),
        (Fault.BROKEN_FRAME, "La báscula envía datos ilegibles"),
    ]:
        async with SerialScaleSimulator(ScaleConfig.fast(fault=fault, seed=3)) as sim:
            devices = write_devices(tmp_path / "devices.toml", [_scale(sim.port)])
            settings = _settings(tmp_path, devices)
            async with running_app(settings) as (_, client):
                sid = await new_screening(client)
                result = _outcome(await measure(client, sid))
                assert result.data["error"]["type"] == "DeviceReportedError", fault
                assert result.data["error"]["nurse_message"].startswith(nurse)
    assert _rows(tmp_path / "cart.db", "SELECT count(*) FROM measurement") == [(0,)]

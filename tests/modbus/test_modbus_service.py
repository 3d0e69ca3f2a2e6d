"""The Modbus height rod through the real service: devices.toml -> POST measure -> SQLite row."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx

from cart.config import Settings
from cart.protocols.modbus_rtu import with_crc
from simulators.modbus_device import ModbusDeviceConfig, ModbusDeviceSimulator
from tests.helpers import running_app, write_devices
from tests.modbus._util import FAST_LINK

#: the example CURP of the API docs (service/schemas.py), with a matching birth date and sex
PATIENT = {
    "curp": "BOXW310820HNERXN09",
    "given_name": "Wilfrido",
    "family_name": "Bozo Xochitl",
    "birth_date": "1931-08-20",
    "sex": "male",
}


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def _screening(client: httpx.AsyncClient) -> int:
    created = await client.post("/api/v1/screenings", json={})
    if created.status_code == 422:  # screenings need a registered patient
        patient = await client.post("/api/v1/patients", json=PATIENT)
        assert patient.status_code == 201, patient.text
        created = await client.post("/api/v1/screenings", json={"patient_id": patient.json()["id"]})
    assert created.status_code == 201, created.text
    sid: int = created.json()["id"]
    return sid


async def _measurements(client: httpx.AsyncClient, sid: int) -> list[dict[str, Any]]:
    """POST measure; with a 202 (background run) poll the screening until it is stored."""
    measured = await client.post(f"/api/v1/screenings/{sid}/measure")
    assert measured.status_code in (200, 202), measured.text
    for _ in range(200):
        screening = (await client.get(f"/api/v1/screenings/{sid}")).json()
        if screening["measurements"] and screening["status"] != "measuring":
            found: list[dict[str, Any]] = screening["measurements"]
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing stored for screening {sid}: {screening}")


async def test_modbus_height_rod_measured_through_the_service(tmp_path, no_leaked_tasks):
    async with ModbusDeviceSimulator(ModbusDeviceConfig.fast(value=171.4)) as sim:
        entry = sim.device_config("estadimetro", timeout_s=5.0, **FAST_LINK)
        devices = write_devices(tmp_path / "devices.toml", [entry])
        assert 'driver = "modbus.rtu"' in devices.read_text(encoding="utf-8")
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'cart.db'}", devices_file=devices)
        async with running_app(settings) as (_, client):
            sid = await _screening(client)
            (stored,) = await _measurements(client, sid)
            assert (stored["kind"], stored["value"], stored["unit"]) == ("body_height", 171.4, "cm")
            assert stored["device_id"] == "estadimetro"
    rows = _rows(
        tmp_path / "cart.db",
        "SELECT kind, value, unit, loinc, device_id, protocol, original_value, original_unit, "
        "raw FROM measurement",
    )
    assert rows == [
        (
            "body_height",
            171.4,
            "cm",
            "8302-2",
            "estadimetro",
            "modbus.rtu",
            1714.0,
            "mm",
            with_crc(bytes.fromhex("01030406b20000")),  # the answer ADU: 1714 mm, status 0
        )
    ]

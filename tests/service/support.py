"""Helpers for the service tests: settings, a patient, a screening, measuring over SSE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from bench._sse import Event, parse_sse
from cart.config import Settings
from cart.curp import check_digit

API = "/api/v1"


def curp(first17: str) -> str:
    """A CURP with its RENAPO check digit."""
    return first17 + check_digit(first17)


#: a fictional adult (born 1975-04-12, female, Ciudad de México)
CURP_ADULT = curp("HEPL750412MDFRRC0")
PATIENT: dict[str, Any] = {
    "curp": CURP_ADULT,
    "given_name": "Lucía",
    "family_name": "Hernández Prieto",
    "birth_date": "1975-04-12",
    "sex": "female",
}


def simulated(tmp_path: Path, **overrides: Any) -> Settings:
    """The fast simulated cart (``cart serve --simulate --fast``) on a temporary SQLite file."""
    values: dict[str, Any] = {
        "simulate": True,
        "fast_simulators": True,
        "database_url": f"sqlite:///{tmp_path / 'cart.db'}",
        "devices_file": tmp_path / "devices.toml",
        # the norm's two minutes between cuff readings, shortened so a test measures at once
        "bp_interval_s": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def with_devices(tmp_path: Path, devices_file: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'cart.db'}",
        "devices_file": devices_file,
        "bp_interval_s": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


async def register(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    resp = await client.post(f"{API}/patients", json={**PATIENT, **overrides})
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()
    return data


async def patient_id(client: httpx.AsyncClient) -> int:
    """The id of the standard patient, registering it unless it already is (409)."""
    resp = await client.post(f"{API}/patients", json=PATIENT)
    if resp.status_code == 409:
        existing: int = resp.json()["detail"]["existing_id"]
        return existing
    assert resp.status_code == 201, resp.text
    created: int = resp.json()["id"]
    return created


async def new_screening(client: httpx.AsyncClient, **body: Any) -> int:
    if "patient_id" not in body:
        body["patient_id"] = await patient_id(client)
    resp = await client.post(f"{API}/screenings", json=body)
    assert resp.status_code == 201, resp.text
    sid: int = resp.json()["id"]
    return sid


async def events_of(
    client: httpx.AsyncClient, sid: int, headers: dict[str, str] | None = None
) -> list[Event]:
    """Follow a screening's events until its run ends (the stream closes then)."""
    resp = await client.get(f"{API}/screenings/{sid}/events", headers=headers or {})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/event-stream")
    return parse_sse(resp.text)


async def measure(
    client: httpx.AsyncClient, sid: int, devices: list[str] | None = None
) -> list[Event]:
    """POST measure (202) and follow the events to the end."""
    body = {"devices": devices} if devices is not None else None
    resp = await client.post(f"{API}/screenings/{sid}/measure", json=body)
    assert resp.status_code == 202, resp.text
    assert resp.json()["events"] == f"{API}/screenings/{sid}/events"
    events = await events_of(client, sid)
    assert events[-1].event == "end"
    return events


async def enter(
    client: httpx.AsyncClient, sid: int, kind: str, value: float, unit: str
) -> httpx.Response:
    return await client.post(
        f"{API}/screenings/{sid}/measurements", json={"kind": kind, "value": value, "unit": unit}
    )

"""POST/GET /patients: CURP validated (format, check digit, birth date, sex), 409, search."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import running_app
from tests.service.support import API, CURP_ADULT, PATIENT, curp, register, with_devices


@pytest.fixture
async def client(tmp_path: Path, database_url: str):
    settings = with_devices(tmp_path, tmp_path / "none.toml", database_url=database_url)
    async with running_app(settings) as (_, client):
        yield client


async def test_register_returns_201_with_the_patient(client):
    resp = await client.post(f"{API}/patients", json={**PATIENT, "curp": CURP_ADULT.lower()})
    assert resp.status_code == 201
    body = resp.json()
    assert body["id"] >= 1
    assert body["curp"] == CURP_ADULT  # normalised
    assert (body["given_name"], body["family_name"]) == ("Lucía", "Hernández Prieto")
    assert (body["birth_date"], body["sex"]) == ("1975-04-12", "female")
    got = await client.get(f"{API}/patients/{body['id']}")
    assert got.json() == body


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"curp": "HEPL750412MDFRRC0"}, "curp", "length"),
        ({"curp": "HEPL75O412MDFRRC05"}, "curp", "format"),
        ({"curp": CURP_ADULT[:17] + str((int(CURP_ADULT[17]) + 1) % 10)}, "curp", "check_digit"),
        ({"curp": curp("HEPL750412MZZRRC0")}, "curp", "state"),
        ({"birth_date": "1975-04-13"}, "birth_date", "curp_mismatch"),
        ({"sex": "male"}, "sex", "curp_mismatch"),
        ({"birth_date": "2999-01-01"}, "birth_date", "ValidationError"),
    ],
)
async def test_invalid_curp_is_422_naming_field_and_reason(client, changes, field, code):
    resp = await client.post(f"{API}/patients", json={**PATIENT, **changes})
    assert resp.status_code == 422
    (item,) = resp.json()["detail"]
    assert item["loc"] == ["body", field]
    assert item["type"] == code
    assert item["msg"]
    assert item["nurse_message"]  # Spanish, for the kiosk


async def test_schema_errors_are_422(client):
    for body in (
        {**PATIENT, "nickname": "Lu"},  # unknown field
        {k: v for k, v in PATIENT.items() if k != "sex"},
        {**PATIENT, "sex": "F"},
        {**PATIENT, "given_name": "   "},
        {**PATIENT, "family_name": "x" * 121},
        {**PATIENT, "birth_date": "12/04/1975"},
    ):
        resp = await client.post(f"{API}/patients", json=body)
        assert resp.status_code == 422, body


async def test_registered_curp_is_409_with_the_existing_id(client):
    first = await register(client)
    resp = await client.post(
        f"{API}/patients", json={**PATIENT, "curp": " " + CURP_ADULT.lower(), "given_name": "Otra"}
    )
    assert resp.status_code == 409
    detail = resp.json()["detail"]
    assert detail["existing_id"] == first["id"]
    assert detail["nurse_message"].startswith("Esta CURP ya está registrada")


async def test_find_by_curp_and_by_name(client):
    lucia = await register(client)
    other = await register(
        client,
        curp=curp("GORA850101HJCNDN0"),
        given_name="Andrés",
        family_name="González Ramos",
        birth_date="1985-01-01",
        sex="male",
    )
    by_curp = await client.get(f"{API}/patients", params={"curp": CURP_ADULT.lower()})
    assert [p["id"] for p in by_curp.json()] == [lucia["id"]]
    assert (await client.get(f"{API}/patients", params={"curp": "NOPE"})).json() == []
    by_name = await client.get(f"{API}/patients", params={"q": "gonzález"})
    assert [p["id"] for p in by_name.json()] == [other["id"]]
    assert (await client.get(f"{API}/patients", params={"q": "zz"})).json() == []
    nothing = await client.get(f"{API}/patients")
    assert nothing.status_code == 422
    assert nothing.json()["detail"][0]["nurse_message"]
    assert (await client.get(f"{API}/patients", params={"q": "a"})).status_code == 422


async def test_unknown_patient_is_404(client):
    assert (await client.get(f"{API}/patients/999")).status_code == 404
    assert (await client.get(f"{API}/patients/0")).status_code == 422

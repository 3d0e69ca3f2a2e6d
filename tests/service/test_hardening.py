"""Issue 14 hardening: each test here failed before its fix (see the commit messages).

Host allowlist (DNS rebinding), Origin check, LIKE wildcards, database busy (503, no
PHI logged), non-finite JSON numbers, Last-Event-ID, body size, names, OpenAPI 401/403.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from service.api.middleware import MAX_BODY_BYTES, host_name
from tests.helpers import running_app
from tests.service.support import (
    API,
    CURP_ADULT,
    PATIENT,
    events_of,
    measure,
    new_screening,
    register,
    simulated,
    with_devices,
)


@pytest.fixture
async def idle(tmp_path: Path):
    """The app with no device, its database at ``tmp_path/var/cart.db``."""
    settings = with_devices(
        tmp_path,
        tmp_path / "none.toml",
        database_url=f"sqlite:///{tmp_path / 'var' / 'cart.db'}",
        allowed_hosts=["carrito-07.local"],
        db_busy_timeout_s=0.2,
    )
    async with running_app(settings) as (app, client):
        yield app, client


def _nurse(resp: Any) -> str:
    detail = resp.json()["detail"]
    item = detail[0] if isinstance(detail, list) else detail
    text: str = item["nurse_message"]
    return text


# --------------------------------------------------------------------------- Host


async def test_foreign_host_header_is_refused_dns_rebinding(idle):
    _, client = idle
    await register(client)
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "", "[::1"):
        resp = await client.get(f"{API}/patients", params={"q": "%%"}, headers={"Host": host})
        assert resp.status_code == 400, host
        assert resp.json()["detail"]["type"] == "HostNotAllowed"
        assert "Lucía" not in resp.text
        assert (await client.get("/", headers={"Host": host})).status_code == 400
    for host in ("127.0.0.1", "127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000"):
        resp = await client.get(f"{API}/health", headers={"Host": host})
        assert resp.status_code == 200, host
    configured = await client.get(f"{API}/health", headers={"Host": "carrito-07.local:8000"})
    assert configured.status_code == 200


def test_host_name_parsing():
    assert host_name("[::1]:8000") == "::1"
    assert host_name("LocalHost") == "localhost"
    assert host_name("127.0.0.1:80") == "127.0.0.1"
    assert host_name("127.0.0.1:eighty") is None
    assert host_name("") is None


# --------------------------------------------------------------------------- Origin


async def test_state_changing_request_from_another_origin_is_403(idle):
    _, client = idle
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:9999"},  # another port is another origin
        {"Sec-Fetch-Site": "cross-site"},
    ):
        resp = await client.post(f"{API}/patients", json=PATIENT, headers=headers)
        assert resp.status_code == 403, headers
        assert resp.json()["detail"]["type"] == "CrossOrigin"
        assert "otra página" in _nurse(resp)
    # nothing was registered by the refused requests
    assert (await client.get(f"{API}/patients", params={"curp": CURP_ADULT})).json() == []
    same = await client.post(
        f"{API}/patients", json=PATIENT, headers={"Origin": "http://127.0.0.1"}
    )
    assert same.status_code == 201
    # reading is not state-changing: a foreign Origin gets the data only via CORS, never sent
    read = await client.get(f"{API}/health", headers={"Origin": "http://evil.example"})
    assert read.status_code == 200
    assert "access-control-allow-origin" not in read.headers


# --------------------------------------------------------------------------- LIKE


async def test_search_wildcards_are_literal(idle):
    _, client = idle
    await register(client)
    for q in ("%%", "__", "%_", "\\%"):
        resp = await client.get(f"{API}/patients", params={"q": q})
        assert resp.status_code == 200
        assert resp.json() == [], q
    found = await client.get(f"{API}/patients", params={"q": "cía h"})
    assert [p["curp"] for p in found.json()] == [CURP_ADULT]


# --------------------------------------------------------------------------- database busy


async def test_locked_database_is_503_in_spanish_and_logs_no_phi(
    idle, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    _, client = idle
    caplog.set_level(logging.DEBUG)
    blocker = sqlite3.connect(tmp_path / "var" / "cart.db", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the lock
        resp = await client.post(f"{API}/patients", json=PATIENT)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "5"
    assert resp.json()["detail"]["type"] == "DatabaseBusy"
    assert "ocupada" in _nurse(resp)
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert any("answered 503" in r.getMessage() for r in caplog.records)
    for secret in (CURP_ADULT, "Lucía", "Hernández", "1975-04-12", "female"):
        assert secret not in text
        assert secret not in resp.text
    # the lock released, the same request goes through
    assert (await client.post(f"{API}/patients", json=PATIENT)).status_code == 201


# --------------------------------------------------------------------------- JSON numbers


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e309", "-1e309"])
async def test_non_finite_json_numbers_are_422(idle, number: str):
    _, client = idle
    sid = await new_screening(client)
    json_ct = {"Content-Type": "application/json"}
    manual = await client.post(
        f"{API}/screenings/{sid}/measurements",
        content=f'{{"kind": "waist_circumference", "value": {number}, "unit": "cm"}}',
        headers=json_ct,
    )
    assert manual.status_code == 422
    assert manual.json()["detail"][0]["type"] == "json_not_finite"
    # a non-finite number anywhere in a body, here next to a patient's data
    body = (
        f'{{"curp": "{CURP_ADULT}", "given_name": "Lucía", "family_name": "Hernández",'
        f' "birth_date": "1975-04-12", "sex": "female", "x": [{number}]}}'
    )
    resp = await client.post(f"{API}/patients", content=body.encode(), headers=json_ct)
    assert resp.status_code == 422
    assert CURP_ADULT not in resp.text


async def test_finite_numbers_and_malformed_json_are_not_misreported(idle):
    _, client = idle
    sid = await new_screening(client)
    ok = await client.post(
        f"{API}/screenings/{sid}/measurements",
        content=b'{"kind": "waist_circumference", "value": 9.45e1, "unit": "cm"}',
        headers={"Content-Type": "application/json"},
    )
    assert ok.status_code == 201, ok.text
    broken = await client.post(
        f"{API}/patients", content=b'{"curp": ', headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    assert broken.json()["detail"][0]["type"] == "json_invalid"


# --------------------------------------------------------------------------- Last-Event-ID


async def test_bad_last_event_id_is_422(tmp_path: Path):
    async with running_app(simulated(tmp_path)) as (_, client):
        sid = await new_screening(client)
        first = await measure(client, sid, ["bascula"])
        # Latin-1 "²" and "¹" are digits to str.isdigit (headers decode as Latin-1)
        bad_ids = (b"\xb2", b"1\xb9", "١٢".encode(), b"abc", b"-1", b"1.5", b"9" * 19)
        for bad in bad_ids:
            resp = await client.get(
                f"{API}/screenings/{sid}/events", headers={"Last-Event-ID": bad}
            )
            assert resp.status_code == 422, bad
        assert await events_of(client, sid, {"Last-Event-ID": "2"}) == first[2:]


# --------------------------------------------------------------------------- body size


async def test_bodies_over_64_kib_are_413(idle):
    _, client = idle
    big = {**PATIENT, "given_name": "A" * (MAX_BODY_BYTES + 1)}
    resp = await client.post(f"{API}/patients", json=big)
    assert resp.status_code == 413
    assert resp.json()["detail"]["type"] == "PayloadTooLarge"
    assert "AAAA" not in resp.text  # nothing echoed back
    assert "demasiado grandes" in _nurse(resp)

    async def chunks():  # no Content-Length: the guard counts what arrives
        for _ in range(20):
            yield b" " * 8192

    streamed = await client.post(
        f"{API}/patients", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Lu\u202ecía", "U+202E"),  # right-to-left override
        ("Lu\u200bcía", "U+200B"),  # zero-width space
        ("Lu\u2066cía", "U+2066"),  # left-to-right isolate
        ("Lucía\ufeff", "U+FEFF"),  # zero-width no-break space (BOM)
        ("Lu\u2028cía", "U+2028"),  # line separator
    ],
)
async def test_hidden_characters_in_names_are_422(idle, name: str, code: str):
    _, client = idle
    resp = await client.post(f"{API}/patients", json={**PATIENT, "given_name": name})
    assert resp.status_code == 422
    msg = resp.json()["detail"][0]["msg"]
    assert code in msg
    assert "invisible" in msg
    assert "carácter invisible" in msg


async def test_names_are_stored_nfc(idle):
    _, client = idle
    decomposed = "Luci\u0301a"  # "i" + combining acute, as some keyboards send it
    created = await register(client, given_name=decomposed)
    assert created["given_name"] == "Lucía"
    found = await client.get(f"{API}/patients", params={"q": "lucía"})
    assert [p["id"] for p in found.json()] == [created["id"]]


# --------------------------------------------------------------------------- OpenAPI


async def test_openapi_declares_401_and_403_everywhere(idle):
    _, client = idle
    schema = (await client.get("/openapi.json")).json()
    operations = [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if path.startswith(API)
    ]
    assert operations
    for path, method, op in operations:
        assert {"401", "403"} <= set(op["responses"]), f"{method} {path}"

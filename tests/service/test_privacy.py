"""CURP and names never reach the logs: a whole flow with every log record captured."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from service.security import RedactQueryStrings, install_log_redaction
from tests.helpers import running_app
from tests.service.support import API, CURP_ADULT, PATIENT, enter, measure, simulated


async def test_a_whole_flow_logs_no_curp_and_no_name(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    async with running_app(simulated(tmp_path, database_url=database_url)) as (_, client):
        created = await client.post(f"{API}/patients", json=PATIENT)
        pid = created.json()["id"]
        assert (await client.post(f"{API}/patients", json=PATIENT)).status_code == 409
        mismatch = {**PATIENT, "sex": "male"}
        assert (await client.post(f"{API}/patients", json=mismatch)).status_code == 422
        assert (await client.get(f"{API}/patients", params={"curp": CURP_ADULT})).json()
        assert (await client.get(f"{API}/patients", params={"q": "Hernández"})).json()
        sid = (await client.post(f"{API}/screenings", json={"patient_id": pid})).json()["id"]
        await measure(client, sid)
        await enter(client, sid, "waist_circumference", 94.5, "cm")
        await enter(client, sid, "body_height", 900, "cm")  # a refused value, logged or not
        await enter(client, sid, "body_height", 165, "cm")
        assert (await client.get(f"{API}/screenings/{sid}")).status_code == 200
        assert (await client.post(f"{API}/screenings/{sid}/complete")).status_code == 200
        assert (await client.get(f"{API}/sync")).status_code == 200
    text = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
    )
    assert caplog.records, "nothing was logged: the capture is not working"
    for secret in (CURP_ADULT, CURP_ADULT[:10], "Lucía", "Hernández", "Prieto"):
        assert secret not in text, f"{secret!r} reached the logs"
        assert secret.lower() not in text.lower()


def test_access_log_query_strings_are_redacted():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/api/v1/patients?curp={CURP_ADULT}&q=Luc%C3%ADa", "1.1", 200),
        None,
    )
    assert RedactQueryStrings().filter(record)
    message = record.getMessage()
    assert CURP_ADULT not in message
    assert "Luc" not in message
    assert "/api/v1/patients?curp=[redacted]&q=[redacted]" in message
    install_log_redaction()
    install_log_redaction()  # idempotent
    for name in ("uvicorn.access", "httpx"):
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RedactQueryStrings) for f in filters) == 1


def test_url_objects_are_redacted_too():
    url = httpx.URL("http://cart/api/v1/patients", params={"curp": CURP_ADULT})
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "HTTP Request: %s %s", ("GET", url), None
    )
    RedactQueryStrings().filter(record)
    assert record.getMessage() == "HTTP Request: GET http://cart/api/v1/patients?curp=[redacted]"

"""The SIC worker never dies silently (issue 12): a pass that raises is logged without PHI,
backed off and retried, and `GET /api/v1/health` shows it. On SQLite and PostgreSQL.

The failure is real: the outbox table is renamed away under the running worker (the
database half-migrated, or restored from the wrong backup), then put back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from cart.config import Settings
from cart.sic import GatewayIdentity
from cart.sic.sample import sample_screening
from cart.sic.status import describe_error
from cart.store import Store, create_db_engine, migrate
from cart.store.models import Patient
from tests.helpers import running_app
from tests.sic.support import FhirServer, expected_observations, make_worker, next_index


def _rename(engine: Engine, old: str, new: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


async def _until(predicate: Callable[[], bool], *, tries: int = 600) -> None:
    for _ in range(tries):
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.025)
    raise AssertionError("condition never became true")


def _phi(store: Store, sid: int) -> list[str]:
    rows = store.screening_rows(sid)
    assert rows is not None
    assert rows.patient is not None
    return [rows.patient.curp, rows.patient.given_name, rows.patient.family_name]


def _missing_table(message: str | None) -> bool:
    """SQLite's and PostgreSQL's words for it."""
    assert message is not None
    return "no such table" in message or "UndefinedTable" in message


async def test_a_failing_pass_is_logged_backed_off_and_retried(
    fhir_server: FhirServer, store: Store, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    sid = sample_screening(store, next_index())
    _rename(store.engine, "outbox", "outbox_away")
    worker = make_worker(store, fhir_server.base_url)
    assert worker.status().state == "starting"
    worker.start()
    try:
        await _until(lambda: worker.status().failures >= 2)  # it came back after backing off
        failing = worker.status()
        assert (failing.state, failing.healthy) == ("failing", False)
        assert _missing_table(failing.last_error)
        assert failing.last_error_at is not None
        _rename(store.engine, "outbox_away", "outbox")
        await _until(lambda: store.sync_status()["sent"] == 1)
        await _until(lambda: worker.status().state == "idle")
        recovered = worker.status()
        assert (recovered.failures, recovered.healthy) == (0, True)
        assert recovered.last_error == failing.last_error  # kept as history
        assert recovered.last_pass_at is not None
        assert recovered.last_pass_at > failing.last_error_at
    finally:
        await worker.stop()
    assert worker.status().state == "stopped"
    failed = [r for r in caplog.records if "outbox pass failed" in r.getMessage()]
    assert len(failed) >= 2
    assert all(r.levelno == logging.ERROR for r in failed)
    for secret in _phi(store, sid):
        assert secret not in caplog.text
    held = fhir_server.holdings(store, sid)
    assert held == {
        "Patient": 1,
        "Observation": expected_observations(store, sid),
        "RiskAssessment": 1,
    }


def test_database_errors_are_described_without_the_data(store: Store):
    """A duplicate CURP: the driver's error carries the row (SQL parameters, PostgreSQL's
    DETAIL); what the worker logs and health shows keeps only type, code and wording."""
    sid = sample_screening(store, next_index(), complete=False)
    rows = store.screening_rows(sid)
    assert rows is not None
    assert rows.patient is not None
    p = rows.patient
    twin = Patient(
        curp=p.curp,
        given_name=p.given_name,
        family_name=p.family_name,
        birth_date=p.birth_date,
        sex=p.sex,
    )
    with pytest.raises(IntegrityError) as caught:
        store.add_patient(twin)
    secrets = _phi(store, sid)
    assert secrets[0] in str(caught.value)  # the raw error does hold PHI
    told = describe_error(caught.value)
    assert told.startswith("IntegrityError: ")
    for secret in secrets:
        assert secret not in told
    assert describe_error(KeyError(secrets[0])) == "KeyError"


async def test_health_reports_the_worker_failing_then_recovered(
    fhir_server: FhirServer, database_url: str, tmp_path: Path
):
    engine = create_db_engine(database_url)
    try:
        migrate(engine)
        sid = sample_screening(Store(engine), next_index())
        _rename(engine, "outbox", "outbox_away")
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=database_url,
            devices_file=tmp_path / "devices.toml",
            sic_base_url=fhir_server.base_url,
        )
        async with running_app(settings) as (app, client):

            async def health() -> dict[str, object]:
                body: dict[str, object] = (await client.get("/api/v1/health")).json()
                return body

            for _ in range(600):
                degraded = await health()
                if degraded["status"] == "degraded":
                    break
                await asyncio.sleep(0.025)
            assert degraded["status"] == "degraded"
            assert degraded["database"] == "ok"  # the database answers; the worker fails
            worker = degraded["sic_worker"]
            assert isinstance(worker, dict)
            assert worker["state"] == "failing"
            assert worker["failures"] >= 1
            assert _missing_table(worker["last_error"])
            _rename(engine, "outbox_away", "outbox")
            store: Store = app.state.cart.store
            await _until(lambda: store.sync_status()["sent"] == 1)
            await _until(lambda: app.state.sic_worker.status().state == "idle")
            ok = await health()
            assert ok["status"] == "ok"
            recovered = ok["sic_worker"]
            assert isinstance(recovered, dict)
            assert (recovered["state"], recovered["failures"]) == ("idle", 0)
            assert recovered["last_error"] == worker["last_error"]
            held = fhir_server.holdings(store, sid, GatewayIdentity.of_this_machine())
            assert held["Patient"] == 1
    finally:
        engine.dispose()

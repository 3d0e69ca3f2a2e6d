"""Against a real FHIR server (sekmet-fhir 0.1.1 on 127.0.0.1): resends never duplicate."""

from __future__ import annotations

import asyncio
import logging
from datetime import date

from cart.config import Settings
from cart.sic import GatewayIdentity
from cart.sic.codes import CURP_SYSTEM
from cart.sic.sample import sample_curp, sample_screening
from cart.store import Store
from tests.helpers import running_app
from tests.sic.proxy import FaultProxy
from tests.sic.support import (
    FhirServer,
    expected_observations,
    make_worker,
    next_index,
    screenings,
)


async def test_sending_twice_leaves_one_patient_and_one_set(fhir_server: FhirServer, store: Store):
    sids = screenings(store, 3)
    async with make_worker(store, fhir_server.base_url, delivery=fhir_server.delivery) as worker:
        first = await worker.sync_pass()
        assert (first.sent, first.rejected, first.pause) == (3, 0, None)
        assert first.created > 0
        for sid in sids:  # complete again: the outbox sends everything a second time
            screening = store.get_screening(sid)
            assert screening is not None
            assert screening.classification is not None
            store.complete(sid, screening.classification)
        second = await worker.sync_pass()
    assert second.sent == 3
    assert second.existing >= 3 * 14  # all but (maybe) the re-stamped RiskAssessment
    for sid in sids:
        held = fhir_server.holdings(store, sid)
        assert held["Patient"] == 1
        assert held["Observation"] == expected_observations(store, sid) == 9
        assert held["RiskAssessment"] == 1
    assert store.sync_status()["sent"] == 3


async def test_search_by_curp_returns_the_patient_and_observations(
    fhir_server: FhirServer, store: Store
):
    index = next_index()
    sid = sample_screening(store, index)
    curp = sample_curp(index)[0]
    async with make_worker(store, fhir_server.base_url, delivery=fhir_server.delivery) as worker:
        assert (await worker.sync_pass()).sent == 1
    patients = fhir_server.get("Patient", identifier=f"{CURP_SYSTEM}|{curp}")
    assert patients["total"] == 1
    patient = patients["entry"][0]["resource"]
    assert patient["birthDate"] == sample_curp(index)[1].isoformat()
    observations = fhir_server.get("Observation", subject=f"Patient/{patient['id']}")
    assert observations["total"] == expected_observations(store, sid)
    codes = {
        c["code"]
        for e in observations["entry"]
        for c in e["resource"]["code"]["coding"]
        if c["system"] == "http://loinc.org"
    }
    assert codes == {"29463-7", "8302-2", "39156-5", "8280-0", "85354-9", "8867-4", "41653-7"}
    refs = {e["resource"]["subject"]["reference"] for e in observations["entry"]}
    assert refs == {f"Patient/{patient['id']}"}


async def test_the_service_lifespan_runs_the_worker(
    fhir_server: FhirServer, tmp_path, database_url, caplog
):
    """With CART_SIC_BASE_URL set, `make run` moves completed screenings to sent."""
    caplog.set_level(logging.DEBUG)
    token = "s3cr3t-sic-token-do-not-log"
    async with FaultProxy(fhir_server.base_url.removesuffix("/fhir")) as proxy:
        settings = Settings(
            database_url=database_url,
            devices_file=tmp_path / "devices.toml",
            sic_base_url=proxy.base_url,
            sic_token=token,  # type: ignore[arg-type]
        )
        async with running_app(settings) as (app, _client):
            worker = app.state.sic_worker
            assert worker is not None
            assert token not in repr(worker)
            store: Store = app.state.cart.store
            sid = await asyncio.to_thread(sample_screening, store, next_index())
            worker.wake()
            for _ in range(200):
                if (await asyncio.to_thread(store.sync_status))["sent"] == 1:
                    break
                await asyncio.sleep(0.05)
            assert store.sync_status()["sent"] == 1
            held = fhir_server.holdings(store, sid, GatewayIdentity.of_this_machine())
            assert held == {"Patient": 1, "Observation": 9, "RiskAssessment": 1}
        assert app.state.sic_worker._task is None  # stopped with the app
    assert {r.authorization for r in proxy.posts()} == {f"Bearer {token}"}
    assert token not in caplog.text


async def test_without_a_base_url_the_service_keeps_screenings_pending(tmp_path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'cart.db'}", devices_file=tmp_path / "devices.toml"
    )
    async with running_app(settings) as (app, _client):
        assert app.state.sic_worker is None
        store: Store = app.state.cart.store
        await asyncio.to_thread(sample_screening, store, next_index())
        assert store.sync_status()["pending"] == 1


def test_sample_curps_are_unique_and_well_formed():
    seen = {sample_curp(i)[0] for i in range(20_000)}
    assert len(seen) == 20_000
    curp, born, _ = sample_curp(5)
    assert born == date(1950, 1, 6)
    assert len(curp) == 18

"""Several screenings per transaction (the catch-up): shared resources once per Bundle,
and still exactly once on both servers through a lost answer and a poison screening."""

from __future__ import annotations

import asyncio

from cart.sic.codes import CURP_SYSTEM
from cart.sic.fhir import build_bundle
from cart.sic.merge import merge_bundles
from cart.sic.model import ScreeningExport
from cart.store import Store, create_db_engine, migrate
from tests.sic.proxy import FaultProxy
from tests.sic.support import (
    GATEWAY,
    FhirServer,
    expected_observations,
    make_worker,
    screenings,
)


def _all_once(server: FhirServer, store: Store, sids: list[int]) -> None:
    for sid in sids:
        held = server.holdings(store, sid)
        assert held == {
            "Patient": 1,
            "Observation": expected_observations(store, sid),
            "RiskAssessment": 1,
        }, (sid, held)


def test_a_merged_bundle_names_each_conditional_create_once(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'cart.db'}")  # pure: one database will do
    migrate(engine)
    store = Store(engine)
    sids = screenings(store, 3)
    bundles = []
    for sid in sids:
        rows = store.screening_rows(sid)
        assert rows is not None
        bundles.append(build_bundle(ScreeningExport.from_rows(rows), GATEWAY))
    merged = merge_bundles(bundles)
    entries = merged.bundle["entry"]
    conditions = [(e["request"]["url"], e["request"]["ifNoneExist"]) for e in entries]
    assert len(conditions) == len(set(conditions))
    # the gateway and the cart's scale are in every screening: once each in the merge
    assert len(entries) == sum(len(b["entry"]) for b in bundles) - 2 * 2
    assert merged.owners == sorted(merged.owners)
    assert set(merged.owners) == {0, 1, 2}
    urls = {e["fullUrl"] for e in entries}
    text = str(merged.bundle)
    for bundle in bundles:  # every reference points at an entry of the merged Bundle
        for entry in bundle["entry"]:
            if entry["fullUrl"] not in urls:
                assert f"'{entry['fullUrl']}'" not in text
    refs = {v for e in entries for v in _references(e["resource"]) if v.startswith("urn:uuid:")}
    assert refs <= urls
    engine.dispose()


def _references(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return own + [r for v in node.values() for r in _references(v)]
    if isinstance(node, list):
        return [r for v in node for r in _references(v)]
    return []


async def test_a_batch_whose_answer_is_lost_is_resent_whole_and_once(
    fhir_server: FhirServer, store: Store
):
    sids = screenings(store, 4)
    upstream = fhir_server.base_url.removesuffix("/fhir")
    async with FaultProxy(upstream) as proxy:
        proxy.script("lost")  # the server commits the first request; the answer never comes
        async with make_worker(
            store, proxy.base_url, delivery=fhir_server.delivery, batch_size=4
        ) as worker:
            lost = await worker.sync_pass()
            assert (lost.sent, lost.retried) == (0, 4)  # none marked: the batch failed whole
            assert store.sync_status()["sent"] == 0
            for _ in range(40):
                resend = await worker.sync_pass()
                if resend.sent:
                    break
                await asyncio.sleep(0.05)
    assert resend.sent == 4
    assert resend.existing > 0  # what the lost request committed was found, not created
    assert store.sync_status()["sent"] == 4
    _all_once(fhir_server, store, sids)


async def test_a_poison_screening_in_a_batch_parks_only_itself(
    fhir_server: FhirServer, store: Store
):
    sids = screenings(store, 3)
    rows = store.screening_rows(sids[1])
    assert rows is not None
    assert rows.patient is not None
    for _ in range(2):  # its CURP matches two Patients: its conditional create gets a 412
        response = fhir_server.post(
            "Patient",
            {
                "resourceType": "Patient",
                "identifier": [{"system": CURP_SYSTEM, "value": rows.patient.curp}],
            },
        )
        assert response.status_code == 201
    async with make_worker(
        store, fhir_server.base_url, delivery=fhir_server.delivery, batch_size=3
    ) as worker:
        report = await worker.sync_pass()
    assert (report.sent, report.rejected) == (2, 1)
    status = store.sync_status()
    assert [r["screening_id"] for r in status["rejections"]] == [sids[1]]
    assert status["rejections"][0]["status_code"] == 412
    _all_once(fhir_server, store, [sids[0], sids[2]])

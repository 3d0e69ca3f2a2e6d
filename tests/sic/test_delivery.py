"""Delivery that fits the server: one transaction, or steps when the server refuses the
size; exactly once either way, on sekmet-fhir and on Medplum."""

from __future__ import annotations

import sqlalchemy as sa

from cart.sic import RetryPolicy
from cart.sic.codes import DEVICE_ID_SYSTEM
from cart.sic.fhir import build_bundle, gateway_identifier
from cart.sic.model import ScreeningExport
from cart.sic.steps import plan_steps, refuses_size
from cart.store import Store
from tests.sic.proxy import FaultProxy
from tests.sic.support import (
    GATEWAY,
    FhirServer,
    expected_observations,
    make_worker,
    screenings,
)


def _send_again(store: Store) -> None:
    """Put every sent entry back in the queue as it was: the very same completion resent."""
    with store.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE outbox SET status = 'pending', sent_at = NULL, lease_until = NULL")
        )


async def test_auto_delivery_fits_the_server_and_a_resend_changes_nothing(
    fhir_server: FhirServer, store: Store
):
    sids = screenings(store, 3)
    upstream = fhir_server.base_url.removesuffix("/fhir")
    async with (
        FaultProxy(upstream) as proxy,
        make_worker(store, proxy.base_url, delivery="auto") as worker,
    ):
        first = await worker.sync_pass()
        assert (first.sent, first.rejected, first.pause) == (3, 0, None)
        # sekmet takes a whole screening; Medplum refuses 15 conditional creates
        assert worker.delivery == ("steps" if fhir_server.delivery == "steps" else "auto")
        before = {sid: fhir_server.holdings(store, sid) for sid in sids}
        _send_again(store)
        again = await worker.sync_pass()
    assert again.sent == 3
    assert again.created == 0
    assert again.existing == first.created + first.existing
    for sid in sids:
        held = fhir_server.holdings(store, sid)
        assert (
            held
            == before[sid]
            == {
                "Patient": 1,
                "Observation": expected_observations(store, sid),
                "RiskAssessment": 1,
            }
        )
    statuses = [r.status for r in proxy.posts()]
    if fhir_server.delivery == "steps":
        assert statuses[0] == 400  # the one whole transaction, refused for its size
        assert set(statuses[1:]) == {200}
    else:
        assert set(statuses) == {200}
        assert len(statuses) == 6


async def test_concurrent_delivery_is_exactly_once_too(fhir_server: FhirServer, store: Store):
    """Eight at once, ``auto``: on Medplum all eight first transactions are refused for
    their size, and each goes on in steps (not only the one that switched the worker)."""
    sids = screenings(store, 16)
    policy = RetryPolicy(backoff_base=0.05, backoff_max=0.2, timeout=10, page_size=50, settle=0.3)
    async with make_worker(
        store, fhir_server.base_url, delivery="auto", concurrency=8, policy=policy
    ) as worker:
        report = await worker.sync_pass()
    assert (report.sent, report.rejected) == (16, 0)
    # the gateway Device is in every screening: created once, whoever came first
    gateways = fhir_server.total(
        "Device", identifier=f"{DEVICE_ID_SYSTEM}|{gateway_identifier(GATEWAY)}"
    )
    assert gateways == 1
    for sid in sids:
        assert fhir_server.holdings(store, sid)["Observation"] == expected_observations(store, sid)
        assert fhir_server.holdings(store, sid)["Patient"] == 1


def test_steps_follow_the_references_and_respect_the_size(store: Store):
    (sid,) = screenings(store, 1)
    rows = store.screening_rows(sid)
    assert rows is not None
    bundle = build_bundle(ScreeningExport.from_rows(rows), GATEWAY)
    phases = plan_steps(bundle, 8)
    kinds = [sorted({e["resource"]["resourceType"] for c in p for e in c}) for p in phases]
    assert kinds[0] == ["Device", "Patient"]
    assert kinds[1] == ["Observation"]
    assert kinds[-1] == ["RiskAssessment"]
    assert all(len(chunk) <= 8 for phase in phases for chunk in phase)
    flat = [e["fullUrl"] for p in phases for c in p for e in c]
    assert sorted(flat) == sorted(e["fullUrl"] for e in bundle["entry"])


def test_what_counts_as_refusing_the_size():
    medplum = (
        b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid",'
        b'"details":{"text":"Transaction requires strict isolation but has too many entries"}}]}'
    )
    assert refuses_size(400, medplum)
    assert refuses_size(413, b"")
    assert not refuses_size(400, b'{"issue":[{"diagnostics":"Observation.status: bogus"}]}')
    assert not refuses_size(412, b"too many matches")

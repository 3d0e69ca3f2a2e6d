"""Faults between the cart and the FHIR server, injected by a real proxy on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from cart.sic import RetryPolicy
from cart.sic.codes import CURP_SYSTEM
from cart.sic.worker import parse_retry_after
from cart.store import Store
from cart.store.models import Screening
from tests.helpers import free_port
from tests.sic.proxy import FaultProxy
from tests.sic.support import (
    FhirServer,
    expected_observations,
    make_worker,
    requests_per_screening,
    screenings,
)


def _upstream(server: FhirServer) -> str:
    return server.base_url.removesuffix("/fhir")


async def _until(predicate: Callable[[], bool], *, tries: int = 400) -> None:
    for _ in range(tries):
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.025)
    raise AssertionError("condition never became true")


def _attempts(store: Store, screening_id: int) -> int:
    entry = store.outbox_entry(screening_id)
    assert entry is not None
    return entry.attempts


def _all_once(server: FhirServer, store: Store, sids: list[int]) -> None:
    for sid in sids:
        held = server.holdings(store, sid)
        assert held == {
            "Patient": 1,
            "Observation": expected_observations(store, sid),
            "RiskAssessment": 1,
        }, (sid, held)


async def test_server_down_for_n_attempts_then_up(fhir_server: FhirServer, store: Store):
    sids = screenings(store, 2)
    port = free_port()  # nothing listens here yet: connection refused
    worker = make_worker(store, f"http://127.0.0.1:{port}/fhir", delivery=fhir_server.delivery)
    worker.start()
    try:
        await _until(lambda: _attempts(store, sids[0]) >= 3)
        status = store.sync_status()
        assert status["pending"] == 2
        assert "network error" in status["last_error"]["message"]
        second = store.outbox_entry(sids[1])
        assert second is not None
        assert second.attempts == 0  # the pass stopped at the head: no hammering
        async with FaultProxy(_upstream(fhir_server), port=port):
            await _until(lambda: store.sync_status()["sent"] == 2)
    finally:
        await worker.stop()
    _all_once(fhir_server, store, sids)


async def test_5xx_is_retried_with_backoff(fhir_server: FhirServer, store: Store):
    sids = screenings(store, 2)
    async with FaultProxy(_upstream(fhir_server)) as proxy:
        proxy.script("503", "503")
        async with make_worker(store, proxy.base_url, delivery=fhir_server.delivery) as worker:
            report = await worker.sync_pass()
            assert (report.sent, report.retried) == (0, 1)
            assert report.pause is not None
            head = store.outbox_entry(sids[0])
            assert head is not None
            assert head.last_status_code == 503
            assert head.next_attempt_at > head.created_at  # this entry backs off on its own
        worker.start()
        try:
            await _until(lambda: store.sync_status()["sent"] == 2)
        finally:
            await worker.stop()
    assert [r.status for r in proxy.posts()][:2] == [503, 503]
    _all_once(fhir_server, store, sids)


async def test_a_timeout_is_retried_without_duplicates(fhir_server: FhirServer, store: Store):
    sids = screenings(store, 2)
    # Medplum's in-memory repository scans every resource for a conditional create: slower
    timeout = 0.3 if fhir_server.delivery == "transaction" else 3.0
    policy = RetryPolicy(backoff_base=0.05, backoff_max=0.2, timeout=timeout, lease=5.0, settle=0.3)
    async with FaultProxy(_upstream(fhir_server), hold=timeout + 0.7) as proxy:
        proxy.script("timeout")
        async with make_worker(
            store, proxy.base_url, policy=policy, delivery=fhir_server.delivery
        ) as worker:
            report = await worker.sync_pass()
            assert report.retried == 1
            assert "no answer" in report.errors[0]
            await asyncio.sleep(0.3)  # past this entry's own backoff
            for _ in range(20):
                await worker.sync_pass()
                if store.sync_status()["sent"] == 2:
                    break
                await asyncio.sleep(0.1)
    assert store.sync_status()["sent"] == 2
    _all_once(fhir_server, store, sids)


async def test_429_retry_after_is_honoured(fhir_server: FhirServer, store: Store):
    sids = screenings(store, 1)
    async with FaultProxy(_upstream(fhir_server)) as proxy:
        proxy.script("429:1")
        worker = make_worker(store, proxy.base_url, delivery=fhir_server.delivery)
        async with worker:
            report = await worker.sync_pass()
            assert report.pause == 1.0  # exactly what the server asked for, no jitter
        worker.start()
        try:
            await _until(lambda: store.sync_status()["sent"] == 1)
        finally:
            await worker.stop()
    posts = proxy.posts()
    assert posts[0].status == 429
    _all_once(fhir_server, store, sids)


def test_retry_after_accepts_seconds_and_http_dates():
    from datetime import UTC, datetime

    now = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Mon, 23 Nov 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Mon, 23 Nov 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


async def test_response_lost_after_commit_resend_does_not_duplicate(
    fhir_server: FhirServer, store: Store
):
    sids = screenings(store, 1)
    async with FaultProxy(_upstream(fhir_server)) as proxy:
        proxy.script("lost")
        async with make_worker(store, proxy.base_url, delivery=fhir_server.delivery) as worker:
            lost = await worker.sync_pass()
            assert (lost.sent, lost.retried) == (0, 1)  # the server committed; we don't know
            assert fhir_server.holdings(store, sids[0])["Patient"] == 1
            for _ in range(40):
                resend = await worker.sync_pass()
                if resend.sent:
                    break
                await asyncio.sleep(0.05)
    assert resend.sent == 1
    assert resend.created + resend.existing == 15
    if fhir_server.delivery == "transaction":
        assert resend.created == 0  # every resource was already there
    else:  # the first step (Patient, Devices) was committed: at least that is there
        assert resend.existing >= 5
    _all_once(fhir_server, store, sids)


async def test_poison_bundle_is_parked_and_the_rest_delivered(
    fhir_server: FhirServer, store: Store
):
    sids = screenings(store, 3)
    # make the middle one a poison: its CURP already matches two Patients on the server,
    # so the conditional create is refused with 412 (a data-integrity problem, not a retry)
    rows = store.screening_rows(sids[1])
    assert rows is not None
    assert rows.patient is not None
    curp = rows.patient.curp
    for _ in range(2):
        response = fhir_server.post(
            "Patient",
            {"resourceType": "Patient", "identifier": [{"system": CURP_SYSTEM, "value": curp}]},
        )
        assert response.status_code == 201
    orphan = store.add_screening(Screening()).id  # no patient: cannot even be mapped
    assert orphan is not None
    store.complete(orphan, {})
    async with make_worker(store, fhir_server.base_url, delivery=fhir_server.delivery) as worker:
        report = await worker.sync_pass()
    assert (report.sent, report.rejected, report.pause) == (2, 2, None)
    status = store.sync_status()
    assert (status["pending"], status["sent"], status["rejected"]) == (0, 2, 2)
    by_screening = {r["screening_id"]: r for r in status["rejections"]}
    poison = by_screening[sids[1]]
    assert poison["status_code"] == 412
    assert poison["outcome"]["resourceType"] == "OperationOutcome"
    assert "matched 2" in poison["message"] or "Multiple resources" in poison["message"]
    assert by_screening[orphan]["message"].startswith("not sent: ")
    _all_once(fhir_server, store, [sids[0], sids[2]])
    # the data fixed on the server side, the parked entry can be sent again by hand
    assert store.outbox_requeue_rejected() == 2


async def test_misconfigured_endpoint_is_not_parked(fhir_server: FhirServer, store: Store, caplog):
    caplog.set_level(logging.INFO)
    screenings(store, 2)
    wrong = fhir_server.base_url.removesuffix("/fhir") + "/not-fhir"
    async with make_worker(
        store, wrong, token="tok-123456", delivery=fhir_server.delivery
    ) as worker:
        report = await worker.sync_pass()
    assert report.pause is not None
    assert report.rejected == 0
    status = store.sync_status()
    assert (status["pending"], status["rejected"]) == (2, 0)
    assert "CART_SIC_BASE_URL" in status["last_error"]["message"]
    assert "tok-123456" not in caplog.text


async def test_pages_keep_memory_bounded_and_order_oldest_first(
    fhir_server: FhirServer, store: Store
):
    sids = screenings(store, 5)
    async with FaultProxy(_upstream(fhir_server)) as proxy:
        policy = RetryPolicy(backoff_base=0.05, backoff_max=0.2, timeout=5, page_size=2, settle=0.3)
        async with make_worker(
            store, proxy.base_url, policy=policy, delivery=fhir_server.delivery
        ) as worker:
            report = await worker.sync_pass()
    assert report.sent == 5
    sent = [store.outbox_entry(s) for s in sids]
    times = [e.sent_at for e in sent if e is not None]
    assert times == sorted(times)
    assert len(proxy.posts()) == sum(requests_per_screening(store, s, fhir_server) for s in sids)

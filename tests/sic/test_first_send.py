"""A screening's first send: its own Observations and RiskAssessment as plain creates,
proved safe by the store (no request ever carried it) and by one search on the server;
every other send all conditional creates. Exactly once on both servers, through a
restored database, a server that cannot search, and a lost search answer."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from cart.sic.fhir import build_bundle
from cart.sic.first_send import (
    OWN_TYPES,
    SEARCH_CHUNK,
    as_plain,
    existence_queries,
    fresh_subjects,
    is_conditional,
    own_entries,
    plain_first_send,
    search_total,
)
from cart.sic.merge import merge_bundles
from cart.sic.model import ScreeningExport
from cart.sic.sample import sample_screening
from cart.sic.steps import plan_steps
from cart.store import Store, create_db_engine, migrate
from cart.store.models import utcnow
from tests.sic.proxy import FaultProxy
from tests.sic.support import (
    FAST,
    GATEWAY,
    FhirServer,
    expected_observations,
    make_worker,
    next_index,
    screenings,
)


def _bundles(store: Store, sids: list[int]) -> list[dict]:
    out = []
    for sid in sids:
        rows = store.screening_rows(sid)
        assert rows is not None
        out.append(build_bundle(ScreeningExport.from_rows(rows), GATEWAY))
    return out


def _all_once(server: FhirServer, store: Store, sids: list[int]) -> None:
    for sid in sids:
        assert server.holdings(store, sid) == {
            "Patient": 1,
            "Observation": expected_observations(store, sid),
            "RiskAssessment": 1,
        }, sid


def _as_if_restored(store: Store) -> None:
    """What a database restored from a backup taken before the sends holds: every entry
    pending and never attempted, although the server has them."""
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE outbox SET status = 'pending', sent_at = NULL, lease_until = NULL,"
                " last_attempt_at = NULL, attempts = 0"
            )
        )


@pytest.fixture
def sqlite_store(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'cart.db'}")  # pure tests: one will do
    migrate(engine)
    yield Store(engine)
    engine.dispose()


def test_only_a_screenings_own_resources_become_plain_creates(sqlite_store: Store):
    (bundle,) = _bundles(sqlite_store, screenings(sqlite_store, 1))
    plain = plain_first_send(bundle)
    assert len(plain["entry"]) == len(bundle["entry"])
    for before, after in zip(bundle["entry"], plain["entry"], strict=True):
        assert after["resource"] is before["resource"]  # identifiers and all unchanged
        assert after["fullUrl"] == before["fullUrl"]
        kind = before["resource"]["resourceType"]
        assert is_conditional(before)
        assert is_conditional(after) == (kind not in OWN_TYPES), kind
        assert after["request"]["method"] == "POST"
    assert is_conditional(bundle["entry"][-1])  # the input is not changed
    kinds = {e["resource"]["resourceType"] for e in plain["entry"] if not is_conditional(e)}
    assert kinds == {"Observation", "RiskAssessment"}


def test_one_search_per_type_covers_every_own_identifier(sqlite_store: Store):
    bundles = _bundles(sqlite_store, screenings(sqlite_store, 3))
    queries = existence_queries(bundles)
    assert [kind for kind, _ in queries] == ["Observation", "RiskAssessment"]
    observations, risks = (params for _, params in queries)
    assert observations["_summary"] == risks["_summary"] == "count"
    wanted = [
        e["request"]["ifNoneExist"].removeprefix("identifier=")
        for b in bundles
        for e in b["entry"]
        if e["resource"]["resourceType"] == "Observation"
    ]
    assert observations["identifier"].split(",") == wanted
    assert len(risks["_tag"].split(",")) == 3
    # many screenings: the values are cut into searches of at most SEARCH_CHUNK
    many = existence_queries(bundles * 40)  # the same values dedupe first
    assert len(many) == 2
    more = [
        {
            "entry": [
                {
                    "resource": {"resourceType": "Observation"},
                    "request": {"ifNoneExist": f"identifier=s|v{i}"},
                }
            ]
        }
        for i in range(SEARCH_CHUNK * 2 + 1)
    ]
    cut = existence_queries(more)
    assert [len(p["identifier"].split(",")) for _, p in cut] == [SEARCH_CHUNK, SEARCH_CHUNK, 1]


@pytest.mark.parametrize(
    ("body", "total"),
    [
        ({"resourceType": "Bundle", "type": "searchset", "total": 0}, 0),
        ({"resourceType": "Bundle", "type": "searchset", "total": 3}, 3),
        ({"resourceType": "Bundle", "type": "searchset", "entry": [{}, {}]}, 2),
        ({"resourceType": "Bundle", "type": "searchset"}, None),  # says nothing: not "none"
        ({"resourceType": "Bundle", "type": "searchset", "total": True}, None),
        ({"resourceType": "Bundle", "type": "searchset", "total": -1}, None),
        ({"resourceType": "Bundle", "type": "batch-response", "total": 0}, None),
        ({"resourceType": "OperationOutcome"}, None),
        ([], None),
    ],
)
def test_only_a_searchset_that_says_zero_counts_as_nothing_found(body, total):
    assert search_total(body) == total


def test_plain_creates_go_in_one_last_step(sqlite_store: Store):
    bundles = [plain_first_send(b) for b in _bundles(sqlite_store, screenings(sqlite_store, 3))]
    merged = merge_bundles(bundles).bundle
    phases = plan_steps(merged, 8)
    *conditional, last = phases
    assert len(last) == 1
    assert {e["fullUrl"] for e in last[0]} == {
        e["fullUrl"] for e in merged["entry"] if not is_conditional(e)
    }
    for phase in conditional:
        for chunk in phase:
            assert len(chunk) <= 8
            assert all(is_conditional(e) for e in chunk)
    # a conditional create that pointed at a plain one could not go first: plain steps
    target = next(e for e in merged["entry"] if not is_conditional(e))
    pointing = {
        "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001",
        "resource": {"resourceType": "Device", "parent": {"reference": target["fullUrl"]}},
        "request": {"method": "POST", "url": "Device", "ifNoneExist": "identifier=s|x"},
    }
    odd = {"entry": [*merged["entry"], pointing]}
    steps = plan_steps(odd, 8)
    assert all(len(chunk) <= 8 for phase in steps for chunk in phase)
    assert sum(len(chunk) for phase in steps for chunk in phase) == len(odd["entry"])


def test_own_resources_left_after_the_patients_go_in_one_step_when_all_plain(
    sqlite_store: Store,
):
    merged = merge_bundles(_bundles(sqlite_store, screenings(sqlite_store, 3))).bundle
    own = [e for e in merged["entry"] if e["resource"]["resourceType"] in OWN_TYPES]
    assert len(own) > 8
    assert plan_steps(plain_first_send({"entry": own}), 8) == [
        [plain_first_send({"entry": own})["entry"]]
    ]


def test_only_a_patient_the_server_just_created_spares_the_search(sqlite_store: Store):
    """201 for the Patient: nothing on the server points at it, so none of the
    screening's own resources can be there. 200 (it was there) proves nothing."""
    a, b = _bundles(sqlite_store, screenings(sqlite_store, 2))
    merged = merge_bundles([a, b])
    patients = [
        e["fullUrl"] for e in merged.bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    answered = {patients[0]: ("201", "Patient/1"), patients[1]: ("200", "Patient/2")}
    own = [e for e in merged.bundle["entry"] if e["resource"]["resourceType"] in OWN_TYPES]
    fresh = fresh_subjects(own, answered)
    assert fresh == {
        e["fullUrl"] for e in own if e["resource"]["subject"]["reference"] == patients[0]
    }
    assert fresh_subjects(own, {}) == set()
    # only the screenings no request ever carried may have plain creates at all
    owned = own_entries(merged.bundle, merged.owners, [True, False])
    assert owned == {
        e["fullUrl"]
        for e, o in zip(merged.bundle["entry"], merged.owners, strict=True)
        if o == 0 and e["resource"]["resourceType"] in OWN_TYPES
    }
    plain = as_plain(merged.bundle, owned)
    assert [is_conditional(e) for e in plain["entry"]] == [
        e["fullUrl"] not in owned for e in merged.bundle["entry"]
    ]


def test_the_claim_tells_a_first_claim_from_any_later_one(store: Store):
    sids = screenings(store, 2)
    entries = [store.outbox_entry(s) for s in sids]
    ids = [e.id for e in entries if e is not None and e.id is not None]
    now = utcnow()
    assert store.outbox_claim_many(ids, now, now + timedelta(seconds=30)) == dict.fromkeys(
        ids, True
    )
    assert store.outbox_claim_many(ids, now, now + timedelta(seconds=30)) == {}  # held
    later = now + timedelta(seconds=31)  # the lease of a worker that died mid-send expired
    assert store.outbox_claim_many(ids[:1], later, later + timedelta(seconds=30)) == {ids[0]: False}
    assert store.outbox_claim(ids[1], later, later + timedelta(seconds=30))
    after = later + timedelta(seconds=31)
    assert store.outbox_claim_many(ids, after, after + timedelta(seconds=30)) == dict.fromkeys(
        ids, False
    )


async def test_a_first_send_searches_once_then_creates_its_own_resources_plainly(
    fhir_server: FhirServer, store: Store
):
    sids = screenings(store, 3)
    upstream = fhir_server.base_url.removesuffix("/fhir")
    async with FaultProxy(upstream) as proxy:
        async with make_worker(
            store, proxy.base_url, delivery=fhir_server.delivery, batch_size=3
        ) as worker:
            report = await worker.sync_pass()
        assert report.sent == 3
        own = sum(expected_observations(store, s) + 1 for s in sids)
        assert report.created >= own
        if fhir_server.delivery == "steps":
            # the Patients went first and the server created them (201): nothing on it
            # can point at them, so no search; the own resources in one last transaction
            assert proxy.searches() == []
            bundles = [plain_first_send(b) for b in _bundles(store, sids)]
            phases = plan_steps(merge_bundles(bundles).bundle, 8)
            assert len(proxy.posts()) == sum(len(p) for p in phases)
        else:  # one transaction: one search per own type first, both answered "none"
            searched = [r.path.split("?")[0].rsplit("/", 2)[-2] for r in proxy.searches()]
            assert searched == ["Observation", "RiskAssessment"]
            assert all(r.status == 200 for r in proxy.searches())
            assert len(proxy.posts()) == 1
    _all_once(fhir_server, store, sids)


async def test_a_restored_database_resends_nothing_twice(fhir_server: FhirServer, store: Store):
    sids = screenings(store, 3)
    async with make_worker(
        store, fhir_server.base_url, delivery=fhir_server.delivery, batch_size=3
    ) as worker:
        first = await worker.sync_pass()
        assert first.sent == 3
        _as_if_restored(store)  # the store now believes no request ever carried them
        again = await worker.sync_pass()
    assert again.sent == 3
    assert again.created == 0  # the search found them: every entry conditional, all there
    assert again.existing == first.created + first.existing
    _all_once(fhir_server, store, sids)


@pytest.mark.parametrize("fault", ["405", "drop"])  # 503 goes the way drop does
async def test_a_search_that_cannot_say_means_conditional_creates(
    fhir_server: FhirServer, store: Store, fault: str
):
    sids = screenings(store, 2)
    upstream = fhir_server.base_url.removesuffix("/fhir")
    async with FaultProxy(upstream) as proxy:
        proxy.script_searches(fault)
        async with make_worker(
            store, proxy.base_url, delivery=fhir_server.delivery, batch_size=2
        ) as worker:
            report = await worker.sync_pass()
            assert report.sent == 2
            # resend it all as first sends: the Patients are there now, so even in steps
            # the server is searched, and it must find, not create
            _as_if_restored(store)
            again = await worker.sync_pass()
            assert proxy.searches()[0].status == {"405": 405, "drop": None}[fault]
            # only a server that does not do the search at all turns the first send off
            assert worker.plain_first_send == (fault != "405")
    assert again.sent == 2
    assert again.created == 0
    _all_once(fhir_server, store, sids)


async def test_a_first_send_whose_answer_is_lost_waits_out_the_settle_time(
    fhir_server: FhirServer, store: Store
):
    sids = screenings(store, 2)
    bundles = [plain_first_send(b) for b in _bundles(store, sids)]
    transactions = 1
    if fhir_server.delivery == "steps":
        transactions = sum(len(p) for p in plan_steps(merge_bundles(bundles).bundle, 8))
    policy = replace(FAST, settle=30.0)
    upstream = fhir_server.base_url.removesuffix("/fhir")
    async with FaultProxy(upstream) as proxy:
        # the plain creates (the last transaction) reach the server; the answer never comes
        proxy.script(*["pass"] * (transactions - 1), "lost")
        async with make_worker(
            store, proxy.base_url, delivery=fhir_server.delivery, batch_size=2, policy=policy
        ) as worker:
            lost = await worker.sync_pass()
            assert (lost.sent, lost.retried) == (0, 2)
            for sid in sids:  # held back: the lost request might still be at work
                entry = store.outbox_entry(sid)
                assert entry is not None
                assert entry.next_attempt_at > utcnow() + timedelta(seconds=25)
            assert (await worker.sync_pass()).sent == 0  # not due yet
            with store.engine.begin() as conn:  # the settle time has passed
                conn.execute(sa.text("UPDATE outbox SET next_attempt_at = created_at"))
            await asyncio.sleep(policy.backoff_max)  # the pass's own pause
            resend = await worker.sync_pass()
    assert resend.sent == 2
    assert resend.created == 0  # all conditional: everything was there
    # the first send searched only in one transaction (in steps, the Patients' 201 was
    # the proof); the resend is no first send: no search
    assert len(proxy.searches()) == (0 if fhir_server.delivery == "steps" else 2)
    _all_once(fhir_server, store, sids)


def _patient_observation_ids(bundle: dict) -> set[str]:
    patient = bundle["entry"][0]["fullUrl"]
    return {
        e["resource"]["identifier"][0]["value"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["subject"]["reference"] == patient
    }


async def test_a_device_record_delivered_before_is_found_not_created_again(
    fhir_server: FhirServer, store: Store
):
    index = next_index()
    first = sample_screening(store, index)
    async with make_worker(
        store, fhir_server.base_url, delivery=fhir_server.delivery, batch_size=2
    ) as worker:
        assert (await worker.sync_pass()).sent == 1
        # the same person screened again, and the cuff and the meter replay the records
        # already delivered (same device, same device clock): a first send, yet not new
        second = sample_screening(store, index)
        report = await worker.sync_pass()
    assert report.sent == 1
    assert report.existing > 0
    a, b = _bundles(store, [first, second])
    shared = _patient_observation_ids(a) & _patient_observation_ids(b)
    assert shared  # the replayed readings
    rows = store.screening_rows(second)
    assert rows is not None
    assert rows.patient is not None
    union = _patient_observation_ids(a) | _patient_observation_ids(b)
    assert fhir_server.observations_of(rows.patient.curp) == len(union)
    for sid in (first, second):  # one Patient, one RiskAssessment each
        held = fhir_server.holdings(store, sid)
        assert (held["Patient"], held["RiskAssessment"]) == (1, 1)


async def test_a_lost_answer_before_the_plain_creates_holds_nothing_back(
    fhir_server: FhirServer, store: Store
):
    """In steps, the Patient and Devices go first, as conditional creates: a lost answer
    to that step means a conditional resend, which needs no settle time (the plain
    creates never went)."""
    sids = screenings(store, 2)
    policy = replace(FAST, settle=30.0)
    upstream = fhir_server.base_url.removesuffix("/fhir")
    async with FaultProxy(upstream) as proxy:
        proxy.script("lost")  # the first step reaches the server; its answer never comes
        async with make_worker(
            store, proxy.base_url, delivery="steps", batch_size=2, policy=policy
        ) as worker:
            lost = await worker.sync_pass()
            assert (lost.sent, lost.retried) == (0, 2)
            for sid in sids:
                entry = store.outbox_entry(sid)
                assert entry is not None
                assert entry.next_attempt_at < utcnow() + timedelta(seconds=5)
            await asyncio.sleep(policy.backoff_max)  # the pass's own pause
            resend = await worker.sync_pass()
    assert resend.sent == 2
    assert resend.existing >= 1  # what the lost step made is found, not made again
    _all_once(fhir_server, store, sids)

"""The Bundle names the nurse (issue 14, NOM-004): each Observation's performer is the
Practitioner who took or typed it, identified by her cédula profesional when known."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from cart.measurement import Measurement
from cart.sic.codes import CART_USER_ID_SYSTEM, CEDULA_SYSTEM
from cart.sic.fhir import build_bundle
from cart.sic.model import ScreeningExport
from cart.store import Store
from cart.store.accounts import Accounts
from cart.store.models import Patient, Screening
from cart.users import Role
from tests.service.support import curp
from tests.sic.profiles import problems
from tests.sic.support import GATEWAY, FhirServer, make_worker

CURP = curp("SAVA700510MOCNRN0")


def _screened(store: Store) -> tuple[int, int, int]:
    """A nurse with a cédula measures, a second nurse (no cédula) types the waist."""
    accounts = Accounts(store.engine)
    ana = accounts.add_user("ana", "Ana Sánchez", Role.NURSE, "246810", licence="12345678")
    luz = accounts.add_user("luz", "Luz Pérez", Role.NURSE, "135790")
    assert ana.id is not None
    assert luz.id is not None
    patient = store.find_patient_by_curp(CURP) or store.add_patient(
        Patient(
            curp=CURP,
            given_name="Antonia",
            family_name="Sánchez Vargas",
            birth_date=date(1970, 5, 10),
            sex="female",
        )
    )
    sid = store.add_screening(Screening(patient_id=patient.id, opened_by=ana.id)).id
    assert sid is not None
    store.record_reading(
        sid,
        [Measurement.create("body_weight", 71.2, "kg")],
        device_id="bascula",
        protocol="and.weighing",
        recorded_by=ana.id,
    )
    store.record_reading(
        sid,
        [Measurement.create("waist_circumference", 92, "cm", flags=["manual_entry"])],
        device_id=None,
        protocol=None,
        manual_entry=True,
        recorded_by=luz.id,
    )
    store.complete(sid, {"ruleset": "nom"}, completed_by=ana.id)
    return sid, ana.id, luz.id


def _of(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_each_observation_names_the_nurse_who_took_or_typed_it(store: Store) -> None:
    sid, _, luz = _screened(store)
    rows = store.screening_rows(sid)
    assert rows is not None
    bundle = build_bundle(ScreeningExport.from_rows(rows), GATEWAY)
    practitioners = {e["fullUrl"]: e["resource"] for e in _of(bundle, "Practitioner")}
    assert len(practitioners) == 2
    by_name = {p["name"][0]["text"]: (url, p) for url, p in practitioners.items()}
    ana_url, ana = by_name["Ana Sánchez"]
    (licence,) = ana["identifier"]
    assert licence["system"] == CEDULA_SYSTEM
    assert licence["value"] == "12345678"
    assert licence["type"]["coding"][0]["code"] == "LN"
    luz_url, luz_res = by_name["Luz Pérez"]
    assert luz_res["identifier"][0]["system"] == CART_USER_ID_SYSTEM
    assert luz_res["identifier"][0]["value"].endswith(f"-u{luz}")
    performers = {
        o["resource"]["code"]["coding"][0]["code"]: o["resource"]["performer"]
        for o in _of(bundle, "Observation")
        if "performer" in o["resource"]
    }
    assert performers["29463-7"] == [{"reference": ana_url}]  # weight: Ana started the run
    assert performers["8280-0"] == [{"reference": luz_url}]  # waist: Luz typed it
    # the Practitioners come before what references them (steps deliver them first)
    order = [e["fullUrl"] for e in bundle["entry"]]
    assert max(order.index(u) for u in practitioners) < min(
        order.index(o["fullUrl"]) for o in _of(bundle, "Observation")
    )


def test_no_user_no_performer(store: Store) -> None:
    from tests.sic.test_mapping import edge_screening

    bundle = build_bundle(edge_screening(), GATEWAY)
    assert _of(bundle, "Practitioner") == []
    assert all("performer" not in o["resource"] for o in _of(bundle, "Observation"))


def test_practitioners_pass_r4_core(medplum_server: FhirServer, store: Store) -> None:
    rows = store.screening_rows(_screened(store)[0])
    assert rows is not None
    bundle = build_bundle(ScreeningExport.from_rows(rows), GATEWAY)
    assert problems(medplum_server.base_url, bundle) == []


async def test_resent_screening_keeps_one_practitioner_per_nurse(
    fhir_server: FhirServer, store: Store
) -> None:
    _screened(store)
    async with make_worker(store, fhir_server.base_url) as worker:
        assert (await worker.sync_pass()).sent == 1
        with store.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE outbox SET status = 'pending', sent_at = NULL, lease_until = NULL")
            )
        assert (await worker.sync_pass()).sent == 1
    assert fhir_server.total("Practitioner", identifier=f"{CEDULA_SYSTEM}|12345678") == 1

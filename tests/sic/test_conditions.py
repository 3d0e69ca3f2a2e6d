"""Known diagnoses travel as Condition resources (issue 12, HL7 PHD IG gateway duties):
coded in SNOMED CT and ICD-10, valid R4, the same Condition on every resend and cart."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from cart.measurement import Measurement
from cart.sic.codes import CONDITION_ID_SYSTEM, ICD10, SNOMED
from cart.sic.fhir import build_bundle, condition_identifier, patient_key
from cart.sic.model import ScreeningExport
from cart.store import Store
from cart.store.models import Patient, Screening
from tests.service.support import curp
from tests.sic.profiles import problems
from tests.sic.support import GATEWAY, FhirServer, make_worker
from tests.sic.test_mapping import T0, edge_screening

CURP = curp("MOLR640215MJCRPS0")


def _diagnosed(store: Store) -> int:
    patient = store.find_patient_by_curp(CURP) or store.add_patient(
        Patient(
            curp=CURP,
            given_name="Rosa",
            family_name="Morales López",
            birth_date=date(1964, 2, 15),
            sex="female",
        )
    )
    screening = store.add_screening(
        Screening(patient_id=patient.id, known_diagnoses=["hypertension", "diabetes"])
    )
    sid = screening.id
    assert sid is not None
    store.record_reading(
        sid,
        [
            Measurement.create("systolic_pressure", 138, "mm[Hg]"),
            Measurement.create("diastolic_pressure", 84, "mm[Hg]"),
        ],
        device_id="baumanometro",
        protocol="ble.blood_pressure",
    )
    store.complete(sid, {"ruleset": "nom"})
    return sid


def _conditions(bundle: dict[str, object]) -> list[dict[str, object]]:
    return [
        e["resource"]
        for e in bundle["entry"]  # type: ignore[attr-defined]
        if e["resource"]["resourceType"] == "Condition"
    ]


def test_each_known_diagnosis_is_one_coded_condition_the_risk_assessment_rests_on() -> None:
    base = edge_screening()
    export = ScreeningExport(
        base.screening_id,
        T0,
        base.patient,
        base.measurements,
        None,
        "nom",
        known_diagnoses=("diabetes", "hypertension"),
    )
    bundle = build_bundle(export, GATEWAY)
    conditions = _conditions(bundle)
    assert [c["code"]["coding"][0]["code"] for c in conditions] == ["73211009", "38341003"]  # type: ignore[index]
    assert [c["code"]["coding"][1] for c in conditions] == [  # type: ignore[index]
        {"system": ICD10, "code": "E14", "display": "Unspecified diabetes mellitus"},
        {"system": ICD10, "code": "I10", "display": "Essential (primary) hypertension"},
    ]
    assert all(c["code"]["coding"][0]["system"] == SNOMED for c in conditions)  # type: ignore[index]
    assert base.patient is not None
    expected = f"{patient_key(base.patient.curp)}-diabetes"
    assert condition_identifier(base.patient.curp, "diabetes") == expected
    assert conditions[0]["identifier"] == [{"system": CONDITION_ID_SYSTEM, "value": expected}]
    entries = {e["fullUrl"]: e for e in bundle["entry"]}
    condition_urls = [u for u, e in entries.items() if e["resource"]["resourceType"] == "Condition"]
    for url in condition_urls:  # conditional create on the business identifier
        condition_if = entries[url]["request"]["ifNoneExist"]
        assert condition_if.startswith(f"identifier={CONDITION_ID_SYSTEM}|")
    (risk,) = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "RiskAssessment"
    ]
    basis = [b["reference"] for b in risk["basis"]]
    assert set(condition_urls) <= set(basis)
    # a business identifier is never a fullUrl (servers may rewrite those)
    assert not {c["identifier"][0]["value"] for c in conditions} & set(entries)  # type: ignore[index]
    # no diagnosis, no Condition
    assert _conditions(build_bundle(base, GATEWAY)) == []


def test_conditions_pass_r4_core_in_a_real_validator(medplum_server: FhirServer, store: Store):
    rows = store.screening_rows(_diagnosed(store))
    assert rows is not None
    bundle = build_bundle(ScreeningExport.from_rows(rows), GATEWAY)
    assert len(_conditions(bundle)) == 2
    assert problems(medplum_server.base_url, bundle) == []


async def test_a_resend_and_a_second_screening_keep_one_condition_per_diagnosis(
    fhir_server: FhirServer, store: Store
):
    first = _diagnosed(store)
    async with make_worker(store, fhir_server.base_url) as worker:
        sent = await worker.sync_pass()
        assert sent.sent >= 1
        with store.engine.begin() as conn:  # the very same completion, resent
            conn.execute(
                sa.text("UPDATE outbox SET status = 'pending', sent_at = NULL, lease_until = NULL")
            )
        await worker.sync_pass()
        _diagnosed(store)  # the same person screened again later
        await worker.sync_pass()
    assert first is not None
    for diagnosis in ("diabetes", "hypertension"):
        identifier = condition_identifier(CURP, diagnosis)
        found = fhir_server.total("Condition", identifier=f"{CONDITION_ID_SYSTEM}|{identifier}")
        assert found == 1, diagnosis

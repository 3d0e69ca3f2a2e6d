"""The FHIR mapping: every Bundle validates with fhir.resources (R4B) and with fhirpathpy."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhirpathpy import evaluate as _evaluate
from fhirpathpy.models import models

from cart.classify import classify
from cart.classify.model import ClassifyOptions
from cart.sic import FhirTransactionAdapter, MappingError, build_bundle
from cart.sic.codes import LOINC, MDC, OBS_ID_SYSTEM, UCUM
from cart.sic.model import ExportMeasurement, ExportPatient, GatewayIdentity, ScreeningExport
from cart.sic.sample import CLASSIFICATION, sample_screening
from cart.store import Store
from tests.sic.support import GATEWAY, next_index


def evaluate(resource: dict[str, Any], path: str) -> Any:
    """FHIRPath with the R4 model (so choice types like ``value`` resolve)."""
    return _evaluate(resource, path, {}, models["r4"])


CDMX = timezone(timedelta(hours=-6))
T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def _m(id_: int, kind: str, value: float | None, unit: str, **kw: Any) -> ExportMeasurement:
    kw.setdefault("reading_id", f"00000000-0000-4000-8000-{id_:012d}")
    kw.setdefault("received_at", T0 + timedelta(seconds=id_))
    kw.setdefault("loinc", None)
    kw.setdefault("special", None)
    kw.setdefault("flags", ())
    return ExportMeasurement(id=id_, kind=kind, value=value, unit=unit, **kw)


def edge_screening() -> ScreeningExport:
    """Specials, flags, test data, a BP without mean, an unknown-sample glucose, HbA1c."""
    cuff = {"manufacturer": "Omron", "model": "HEM-7155T", "serial_number": None}
    bp = "11111111-1111-4111-8111-111111111111"
    return ScreeningExport(
        screening_id=77,
        completed_at=T0 + timedelta(minutes=30),
        patient=ExportPatient("SABC560626MDFLRN01", "Carla", "Sánchez", date(1956, 6, 26), "x"),
        measurements=(
            _m(1, "body_weight", 81.25, "kg", flags=("unstable",), device_id="bascula",
               protocol="and.weighing", original_value=179.12, original_unit="[lb_av]"),
            _m(2, "body_height", None, "cm", special="nres", device_id="estadimetro",
               protocol="modbus.rtu"),
            _m(3, "bmi", 27.9, "kg/m2"),
            _m(4, "systolic_pressure", 151, "mm[Hg]", reading_id=bp, device_id="bp",
               device=cuff, flags=("body_movement", "cuff_fit_loose"),
               measured_at=datetime(2026, 11, 23, 9, 1, tzinfo=CDMX),
               device_time=datetime(2026, 11, 23, 9, 1)),
            _m(5, "diastolic_pressure", 95, "mm[Hg]", reading_id=bp, device_id="bp",
               device=cuff, flags=("body_movement", "cuff_fit_loose"),
               measured_at=datetime(2026, 11, 23, 9, 1, tzinfo=CDMX),
               device_time=datetime(2026, 11, 23, 9, 1)),
            _m(6, "pulse_rate", None, "/min", reading_id=bp, device_id="bp", device=cuff,
               special="nan", measured_at=datetime(2026, 11, 23, 9, 1, tzinfo=CDMX),
               device_time=datetime(2026, 11, 23, 9, 1)),
            _m(7, "cuff_pressure", 180, "mm[Hg]", device_id="bp"),
            _m(8, "glucose", None, "mg/dL", loinc="2339-0", special="+inf",
               flags=("above_range",), device_id="glucometro",
               device={"manufacturer": "LifeScan", "model": "Ultra 2", "serial_number": "X1"},
               measured_at=datetime(2026, 11, 23, 8, 55, tzinfo=CDMX),
               device_time=datetime(2026, 11, 23, 8, 55), context={"meal": "casual"}),
            _m(9, "glucose", 98, "mg/dL", loinc="41653-7", flags=("control_solution",),
               device_id="glucometro",
               device={"manufacturer": "LifeScan", "model": "Ultra 2", "serial_number": "X1"},
               measured_at=datetime(2026, 11, 23, 8, 50, tzinfo=CDMX),
               device_time=datetime(2026, 11, 23, 8, 50)),
            _m(10, "hba1c", 6.1, "%", manual_entry=True, flags=("manual_entry",)),
            _m(11, "body_fat", 31.5, "%", device_id="bascula", protocol="tanita.line"),
        ),
        classification={
            **CLASSIFICATION,
            "overall": {**CLASSIFICATION["overall"], "hypertension": "probable_disease",
                        "diabetes": "needs_evaluation", "urgent_attention": True},
        },
        ruleset="nom",
    )  # fmt: skip


@pytest.fixture
def bundles(store: Store) -> list[dict[str, Any]]:
    """The sample screening (as the store holds it) and the edge cases."""
    sid = sample_screening(store, next_index())
    rows = store.screening_rows(sid)
    assert rows is not None
    return [
        build_bundle(ScreeningExport.from_rows(rows), GATEWAY),
        build_bundle(edge_screening(), GATEWAY),
    ]


def _resources(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def test_every_bundle_validates_with_r4b_models(bundles):
    for bundle in bundles:
        parsed = Bundle.model_validate(bundle)
        assert parsed.type == "transaction"
        for entry in bundle["entry"]:
            resource = entry["resource"]
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_fhirpath_every_observation_has_loinc_and_ucum(bundles):
    for bundle in bundles:
        observations = evaluate(bundle, "Bundle.entry.resource.ofType(Observation)")
        assert observations
        no_loinc = evaluate(
            bundle,
            f"Bundle.entry.resource.ofType(Observation).where(code.coding.where(system = '{LOINC}')"
            ".code.empty())",
        )
        assert no_loinc == []
        quantities = evaluate(
            bundle,
            "Bundle.entry.resource.ofType(Observation).select(value.ofType(Quantity) | "
            "component.value.ofType(Quantity))",
        )
        assert quantities
        assert all(q["system"] == UCUM and q["code"] for q in quantities)
        # every Observation carries a UCUM quantity, or says why it has none
        neither = evaluate(
            bundle,
            "Bundle.entry.resource.ofType(Observation).where(value.empty() and "
            "dataAbsentReason.empty() and component.where(value.exists() or "
            "dataAbsentReason.exists()).empty())",
        )
        assert neither == []
        assert evaluate(bundle, "Bundle.entry.resource.ofType(Observation).subject.reference")


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [x for k, v in node.items() if k != "reference" for x in _strings(v)]
    if isinstance(node, list):
        return [x for v in node for x in _strings(v)]
    return [node] if isinstance(node, str) else []


def test_every_entry_is_a_conditional_create_and_references_resolve(bundles):
    for bundle in bundles:
        full_urls = {e["fullUrl"] for e in bundle["entry"]}
        assert len(full_urls) == len(bundle["entry"])
        for entry in bundle["entry"]:
            request = entry["request"]
            resource = entry["resource"]
            assert request["method"] == "POST"
            assert request["url"] == resource["resourceType"]
            (identifier,) = resource["identifier"]
            search = "_tag" if resource["resourceType"] == "RiskAssessment" else "identifier"
            assert request["ifNoneExist"] == (
                f"{search}={identifier['system']}|{identifier['value']}"
            )
            # a server may rewrite any string equal to a fullUrl (R4 transaction rules):
            # only references may carry one, never an identifier or a tag
            assert not full_urls & set(_strings(resource))
            assert not identifier["value"].startswith("urn:uuid:")
        references = evaluate(bundle, "Bundle.entry.resource.descendants().reference")
        assert references
        assert set(references) <= full_urls


def test_patient_identified_by_curp(bundles):
    (patient,) = _resources(bundles[1], "Patient")
    assert patient["identifier"][0] == {
        "use": "official",
        "type": {"text": "CURP"},
        "system": "urn:oid:2.16.840.1.113883.4.629",
        "value": "SABC560626MDFLRN01",
    }
    assert patient["gender"] == "other"
    entry = bundles[1]["entry"][0]
    assert entry["request"]["ifNoneExist"] == (
        "identifier=urn:oid:2.16.840.1.113883.4.629|SABC560626MDFLRN01"
    )


def test_blood_pressure_is_a_panel_with_components_and_pulse_is_separate(bundles):
    sample = bundles[0]
    panels = evaluate(
        sample,
        "Bundle.entry.resource.ofType(Observation).where(code.coding.code contains '85354-9')",
    )
    assert len(panels) == 2  # two readings
    for panel in panels:
        assert [c["code"]["coding"][0]["code"] for c in panel["component"]] == [
            "8480-6",
            "8462-4",
            "8478-0",
        ]
        assert {"system": MDC, "code": "150020", "display": "MDC_PRESS_BLD_NONINV"} in panel[
            "code"
        ]["coding"]
        assert "valueQuantity" not in panel
    pulses = evaluate(
        sample,
        "Bundle.entry.resource.ofType(Observation).where(code.coding.code contains '8867-4')",
    )
    assert [p["valueQuantity"]["code"] for p in pulses] == ["/min", "/min"]
    # the second reading flagged an irregular pulse: it is an interpretation on both
    assert evaluate(pulses[1], "interpretation.coding.code") == ["questionable", "irregular_pulse"]
    edge_panel = evaluate(
        bundles[1],
        "Bundle.entry.resource.ofType(Observation).where(code.coding.code contains '85354-9')",
    )
    assert len(edge_panel[0]["component"]) == 2  # this cuff sent no mean pressure


def test_specials_flags_manual_entries_and_test_data(bundles):
    edge = bundles[1]

    def obs(loinc: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = evaluate(
            edge,
            f"Bundle.entry.resource.ofType(Observation).where(code.coding.code contains '{loinc}')",
        )
        return found

    (height,) = obs("8302-2")
    assert "valueQuantity" not in height
    assert height["dataAbsentReason"]["coding"][0]["code"] == "error"
    (pulse,) = obs("8867-4")
    assert pulse["dataAbsentReason"]["coding"][0]["code"] == "not-a-number"
    (weight,) = obs("29463-7")
    assert evaluate(weight, "interpretation.coding.code") == ["questionable", "unstable"]
    assert "179.12 [lb_av]" in weight["note"][0]["text"]
    (glucose_high,) = obs("2339-0")
    assert glucose_high["dataAbsentReason"]["coding"][0]["code"] == "positive-infinity"
    assert evaluate(glucose_high, "interpretation.coding.code") == ["in-alarm", "above_range"]
    assert glucose_high["category"][0]["coding"][0]["code"] == "laboratory"
    assert {"system": MDC, "code": "160020", "display": "MDC_CONC_GLU_GEN"} in glucose_high["code"][
        "coding"
    ]
    (control,) = obs("41653-7")
    assert control["meta"]["security"][0]["code"] == "HTEST"
    (hba1c,) = obs("4548-4")
    assert hba1c["method"]["coding"][0]["code"] == "manual-entry"
    assert "device" not in hba1c
    assert "interpretation" not in hba1c
    (bmi,) = obs("39156-5")
    assert len(bmi["derivedFrom"]) == 2  # computed by the cart from weight and height
    assert not obs("8478-0")  # cuff pressure is progress only: never sent
    panel = obs("85354-9")[0]
    assert evaluate(panel, "interpretation.coding.code") == [
        "questionable",
        "body_movement",
        "questionable",
        "cuff_fit_loose",
    ]


def test_devices_gateway_and_measuring(bundles):
    devices = _resources(bundles[0], "Device")
    gateway = devices[0]
    assert gateway["type"]["coding"][0]["code"] == "531981"
    specializations = sorted(
        d["specialization"][0]["systemType"]["coding"][0]["code"]
        for d in devices[1:]
        if "specialization" in d
    )
    assert specializations == ["528391", "528399", "528401"]  # BPM, scale, glucose
    gateway_ref = bundles[0]["entry"][1]["fullUrl"]
    gateways = evaluate(bundles[0], "Bundle.entry.resource.ofType(Observation).extension.value")
    assert {g["reference"] for g in gateways} == {gateway_ref}


def test_risk_assessment_basis_points_at_the_observations(bundles):
    for bundle in bundles:
        (risk,) = _resources(bundle, "RiskAssessment")
        observation_urls = [
            e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
        ]
        assert [b["reference"] for b in risk["basis"]] == observation_urls
        assert risk["meta"]["tag"][0]["code"] == risk["identifier"][0]["value"]
        assert bundle["entry"][-1]["request"]["ifNoneExist"].startswith("_tag=")
    (risk,) = _resources(bundles[1], "RiskAssessment")
    outcomes = evaluate(risk, "prediction.outcome.coding.code")
    assert outcomes == ["obesity", "hypertension", "diabetes"]
    risks = evaluate(risk, "prediction.qualitativeRisk.text")
    assert risks == ["at_risk", "probable_disease", "needs_evaluation"]
    assert evaluate(risk, "prediction.qualitativeRisk.coding.where(system = "
                    "'http://terminology.hl7.org/CodeSystem/risk-probability').code") == [
        "moderate", "high"]  # fmt: skip
    assert any("urgent" in n["text"] for n in risk["note"])


def _identifiers(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["identifier"][0]["value"] for e in bundle["entry"]]


def test_identifiers_are_stable_and_full_urls_fresh_on_every_send():
    adapter = FhirTransactionAdapter(GATEWAY)
    first = json.loads(adapter.render(edge_screening()).content)
    second = json.loads(adapter.render(edge_screening()).content)
    assert first["type"] == "transaction"
    assert _identifiers(first) == _identifiers(second)
    assert len(set(_identifiers(first))) == len(first["entry"])
    urls = [e["fullUrl"] for e in first["entry"]]
    again = [e["fullUrl"] for e in second["entry"]]
    assert not set(urls) & set(again)
    # apart from the fullUrls (and the references to them) the two sends are the same
    mapping = dict(zip(urls, again, strict=True))
    text = json.dumps(first)
    for old, new in mapping.items():
        text = text.replace(old, new)
    assert json.loads(text) == second


def test_observation_identifier_follows_the_phd_scheme():
    """Device identity, cart, patient key, device timestamp, type code: dash-joined."""
    bundle = build_bundle(edge_screening(), GATEWAY)
    (glucose,) = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["code"] == "41653-7"
    ]
    (identifier,) = glucose["identifier"]
    assert identifier["system"] == OBS_ID_SYSTEM
    value = identifier["value"]
    assert value.startswith("LifeScan.Ultra_2.X1-cart.test_gateway_0001-")
    assert value.endswith("-20261123T085000-41653-7")
    assert "SABC560626MDFLRN01" not in value  # the CURP stays out of search URLs
    other = GatewayIdentity(system_id="another-cart")
    (risk_here,) = _resources(bundle, "RiskAssessment")
    (risk_there,) = _resources(build_bundle(edge_screening(), other), "RiskAssessment")
    assert risk_here["identifier"] != risk_there["identifier"]  # two carts never collide


def test_effective_times_carry_the_cart_zone_offset():
    bundle = build_bundle(edge_screening(), GATEWAY, zone=ZoneInfo("America/Mexico_City"))
    times = evaluate(bundle, "Bundle.entry.resource.ofType(Observation).effective")
    assert times
    assert all(str(t).endswith("-06:00") for t in times)
    (glucose,) = [t for t in times if str(t).startswith("2026-11-23T08:50")]
    assert glucose == "2026-11-23T08:50:00-06:00"
    # the same instant in Tijuana's zone (PST in November): -08:00, 06:50 there
    west = build_bundle(edge_screening(), GATEWAY, zone=ZoneInfo("America/Tijuana"))
    assert "2026-11-23T06:50:00-08:00" in evaluate(
        west, "Bundle.entry.resource.ofType(Observation).effective"
    )


def test_a_hand_entered_bp_is_one_panel_with_both_components():
    rows = (
        _m(1, "systolic_pressure", 132, "mm[Hg]", manual_entry=True, flags=("manual_entry",)),
        _m(2, "diastolic_pressure", 86, "mm[Hg]", manual_entry=True, flags=("manual_entry",)),
        _m(3, "systolic_pressure", 130, "mm[Hg]", manual_entry=True, flags=("manual_entry",)),
    )
    export = ScreeningExport(5, T0, edge_screening().patient, rows, None, "nom")
    bundle = build_bundle(export, GATEWAY)
    observations = _resources(bundle, "Observation")
    panels = [o for o in observations if o["code"]["coding"][0]["code"] == "85354-9"]
    assert len(panels) == 1
    assert [c["code"]["coding"][0]["code"] for c in panels[0]["component"]] == [
        "8480-6",
        "8462-4",
    ]
    # the third value has no diastolic partner: a systolic Observation of its own
    assert [o["code"]["coding"][0]["code"] for o in observations] == ["85354-9", "8480-6"]


def test_a_memory_replay_maps_to_the_same_observation():
    """PHD identity: same device, patient, device timestamp, code and value -> same id."""
    one = build_bundle(edge_screening(), GATEWAY)
    replay = ScreeningExport(
        screening_id=78,
        completed_at=T0 + timedelta(days=1),
        patient=edge_screening().patient,
        measurements=(edge_screening().measurements[8],),
        classification=None,
        ruleset="nom",
    )
    two = build_bundle(replay, GATEWAY)
    (glucose,) = _resources(two, "Observation")
    assert glucose["identifier"][0]["value"] in _identifiers(one)


def test_a_screening_without_patient_cannot_be_mapped():
    export = ScreeningExport(1, T0, None, (), None, "nom")
    with pytest.raises(MappingError):
        build_bundle(export, GATEWAY)


def test_the_bp_average_is_marked_and_derived_from_the_readings():
    """NOM-030: the service stores the mean of the cuff readings as one more reading."""
    cuff = {"manufacturer": "A&D", "model": "UA-651BLE", "serial_number": "5001"}
    rows = []
    for n, reading in enumerate(("a", "b")):
        at = datetime(2026, 11, 23, 9, 2 * n, tzinfo=CDMX)
        rid = f"{reading * 8}-0000-4000-8000-000000000000"
        rows += [
            _m(10 * n + 1, "systolic_pressure", 130 - 4 * n, "mm[Hg]", reading_id=rid,
               device_id="bp", device=cuff, measured_at=at),
            _m(10 * n + 2, "diastolic_pressure", 85, "mm[Hg]", reading_id=rid, device_id="bp",
               device=cuff, measured_at=at),
            _m(10 * n + 3, "pulse_rate", 70, "/min", reading_id=rid, device_id="bp", device=cuff,
               measured_at=at),
        ]  # fmt: skip
    avg = "cccccccc-0000-4000-8000-000000000000"
    context = {"method": "average", "readings": "2"}
    rows += [
        _m(31, "systolic_pressure", 128, "mm[Hg]", reading_id=avg, device_id="bp", device=cuff,
           flags=("average",), context=context),
        _m(32, "diastolic_pressure", 85, "mm[Hg]", reading_id=avg, device_id="bp", device=cuff,
           flags=("average",), context=context),
        _m(33, "pulse_rate", 70, "/min", reading_id=avg, device_id="bp", device=cuff,
           flags=("average",), context=context),
    ]  # fmt: skip
    export = ScreeningExport(9, T0, edge_screening().patient, tuple(rows), None, "nom")
    bundle = build_bundle(export, GATEWAY)
    Bundle.model_validate(bundle)
    panels = evaluate(
        bundle,
        "Bundle.entry.resource.ofType(Observation).where(code.coding.code contains '85354-9')",
    )
    assert len(panels) == 3
    average = panels[2]
    assert average["method"]["coding"][0]["code"] == "average"
    assert "interpretation" not in average
    singles = [e["fullUrl"] for e in bundle["entry"] if e["resource"] in panels[:2]]
    assert [d["reference"] for d in average["derivedFrom"]] == singles
    pulses = evaluate(
        bundle,
        "Bundle.entry.resource.ofType(Observation).where(code.coding.code contains '8867-4')",
    )
    assert len(pulses[2]["derivedFrom"]) == 2


def test_phd_category_device_status_and_gateway_model(bundles):
    edge = bundles[1]
    observations = _resources(edge, "Observation")
    for obs in observations:
        phd = [c for cat in obs["category"] for c in cat["coding"] if c["code"] == "phd"]
        # the PHD slice marks what a device measured, not what was typed or computed
        assert bool(phd) == ("device" in obs), obs["code"]["text"]
        for interpretation in obs.get("interpretation", []):
            systems = [c["system"] for c in interpretation["coding"]]
            assert systems[0] == "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status"
    gateway = _resources(edge, "Device")[0]
    assert gateway["manufacturer"] == "mido-cart"
    assert gateway["modelNumber"]


def test_bmi_is_derived_from_weight_and_height_when_no_device_reports_one():
    rows = (
        _m(1, "body_weight", 80.0, "kg", device_id="bascula", protocol="and.weighing"),
        _m(2, "body_height", 170.0, "cm", device_id="estadimetro", protocol="modbus.rtu"),
    )
    export = ScreeningExport(6, T0, edge_screening().patient, rows, None, "nom")
    bundle = build_bundle(export, GATEWAY)
    observations = _resources(bundle, "Observation")
    assert [o["code"]["coding"][0]["code"] for o in observations] == [
        "29463-7",
        "8302-2",
        "39156-5",
    ]
    bmi = observations[2]
    assert bmi["valueQuantity"]["value"] == 27.7  # 80 / 1.70 ** 2
    assert bmi["method"]["coding"][0]["code"] == "calculated"
    assert "device" not in bmi
    urls = [e["fullUrl"] for e in bundle["entry"] if e["resource"] in observations[:2]]
    assert [d["reference"] for d in bmi["derivedFrom"]] == urls
    again = build_bundle(export, GATEWAY)
    assert _identifiers(again) == _identifiers(bundle)  # stable like any other
    # the edge screening has a BMI row: no second one is added
    edge = _resources(build_bundle(edge_screening(), GATEWAY), "Observation")
    assert [o["code"]["coding"][0]["code"] for o in edge].count("39156-5") == 1


def test_urgent_results_are_coded_critical():
    rows = (
        _m(1, "systolic_pressure", 186, "mm[Hg]", manual_entry=True, flags=("manual_entry",)),
        _m(2, "diastolic_pressure", 104, "mm[Hg]", manual_entry=True, flags=("manual_entry",)),
        _m(3, "glucose", 62, "mg/dL", loinc="41653-7", manual_entry=True),
        _m(4, "glucose", 310, "mg/dL", loinc="41653-7", manual_entry=True),
        _m(5, "glucose", 120, "mg/dL", loinc="41653-7", manual_entry=True),
    )
    export = ScreeningExport(8, T0, edge_screening().patient, rows, None, "nom")
    observations = _resources(build_bundle(export, GATEWAY), "Observation")
    codes = [
        evaluate(o, "interpretation.coding.where(system = 'http://terminology.hl7.org/"
                 "CodeSystem/v3-ObservationInterpretation').code")
        for o in observations
    ]  # fmt: skip
    assert codes == [["HH"], ["LL"], ["HH"], []]  # panel 186/104, 62, 310, 120 mg/dL


def test_the_glucose_meal_context_is_coded(bundles):
    glucose = [
        o
        for o in _resources(bundles[0], "Observation")
        if o["code"]["coding"][0]["code"] == "41653-7"
    ]
    (meal,) = glucose[0]["component"]
    assert meal["valueCodeableConcept"]["text"] == "fasting"
    assert meal["valueCodeableConcept"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0916",
        "code": "F",
        "display": "Patient was fasting prior to the procedure.",
    }


def test_a_mapped_device_clock_gets_a_coincident_timestamp_observation():
    """PHD IG: the device's clock beside the cart's, and the readings derived from it."""
    meter = {"manufacturer": "LifeScan", "model": "Ultra 2", "serial_number": "X1"}
    rows = (
        _m(1, "glucose", 98, "mg/dL", loinc="41653-7", device_id="glucometro", device=meter,
           measured_at=datetime(2026, 11, 23, 8, 50, tzinfo=CDMX),
           device_time=datetime(2026, 11, 23, 8, 52), clock_offset_s=120.0),
    )  # fmt: skip
    export = ScreeningExport(9, T0, edge_screening().patient, rows, None, "nom")
    bundle = build_bundle(export, GATEWAY, zone=ZoneInfo("America/Mexico_City"))
    coincident, glucose = _resources(bundle, "Observation")
    assert coincident["code"]["coding"][0]["code"] == "67975"
    (device,) = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Device"][1:]
    assert coincident["subject"]["reference"] == device["fullUrl"]
    # received at 15:00:01 UTC = 09:00:01 in CDMX; the meter's clock two minutes ahead
    assert coincident["effectiveDateTime"] == "2026-11-23T09:00:01-06:00"
    assert coincident["valueDateTime"] == "2026-11-23T09:02:01-06:00"
    url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is coincident)
    assert glucose["derivedFrom"] == [{"reference": url}]
    (risk,) = _resources(bundle, "RiskAssessment")
    assert url not in [b["reference"] for b in risk["basis"]]


def test_urgent_glucose_follows_the_threshold_the_classification_used():
    """A deployment that set CART_URGENT_GLUCOSE_MG_DL=300 classified 280 as not urgent;
    the stored classification says so:
    the FHIR coding agrees with what the nurse saw, not with the default 250."""
    rows = (_m(1, "glucose", 280, "mg/dL", loinc="41653-7", manual_entry=True),)
    patient = edge_screening().patient

    def critical(classification: dict[str, object] | None) -> list[object]:
        export = ScreeningExport(8, T0, patient, rows, classification, "nom")
        (obs,) = _resources(build_bundle(export, GATEWAY), "Observation")
        return evaluate(
            obs,
            "interpretation.coding.where(system = 'http://terminology.hl7.org/"
            "CodeSystem/v3-ObservationInterpretation').code",
        )

    def classified(threshold: float) -> dict[str, object]:
        """What the classifier stores, run with the deployment's threshold."""
        options = ClassifyOptions(urgent_glucose_high=threshold)
        data = {"age": 50, "sex": "female", "glucose_mg_dl": 280, "glucose_context": "casual"}
        return classify(data, "nom", options=options).to_json()

    assert critical(None) == ["HH"]  # no classification: the default threshold, 250 mg/dL
    assert critical(classified(300)) == []
    assert critical(classified(250)) == ["HH"]
    assert critical({"ruleset": {"options": {"urgent_glucose_high": "bogus"}}}) == ["HH"]

"""Every Bundle the SIC tests build passes R4 core and the vital-signs profiles (bp,
bodyweight, bodyheight, heartrate, bmi, vitalsigns) in a real validator: Medplum core's,
served by the Medplum test server."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest

from cart.sic.fhir import build_bundle
from cart.sic.model import ScreeningExport
from cart.store import Store
from tests.sic.profiles import problems
from tests.sic.support import GATEWAY, FhirServer, screenings
from tests.sic.test_mapping import T0, _m, edge_screening


def _manual_bp() -> ScreeningExport:
    rows = (
        _m(1, "systolic_pressure", 132, "mm[Hg]", manual_entry=True, flags=("manual_entry",)),
        _m(2, "diastolic_pressure", 86, "mm[Hg]", manual_entry=True, flags=("manual_entry",)),
        _m(3, "pulse_rate", 71, "/min", manual_entry=True, flags=("manual_entry",)),
    )
    return ScreeningExport(5, T0, edge_screening().patient, rows, None, "nom")


def _with_mapped_clock() -> ScreeningExport:
    meter = {"manufacturer": "LifeScan", "model": "Ultra 2", "serial_number": "X1"}
    rows = (
        _m(1, "glucose", 98, "mg/dL", loinc="41653-7", device_id="glucometro", device=meter,
           measured_at=T0, device_time=datetime(2026, 11, 23, 9, 2), clock_offset_s=120.0,
           context={"meal": "fasting"}),
    )  # fmt: skip
    return ScreeningExport(9, T0, edge_screening().patient, rows, None, "nom")


def test_every_bundle_passes_r4_core_and_vital_signs(medplum_server: FhirServer, store: Store):
    derived_bmi = ScreeningExport(
        6,
        T0,
        edge_screening().patient,
        (
            _m(1, "body_weight", 80.0, "kg", device_id="bascula", protocol="and.weighing"),
            _m(2, "body_height", 170.0, "cm", device_id="estadimetro", protocol="modbus.rtu"),
        ),
        None,
        "nom",
    )
    bundles = [
        build_bundle(edge_screening(), GATEWAY),
        build_bundle(_manual_bp(), GATEWAY),
        build_bundle(derived_bmi, GATEWAY),
        build_bundle(_with_mapped_clock(), GATEWAY),
    ]
    for sid in screenings(store, 2):
        rows = store.screening_rows(sid)
        assert rows is not None
        bundles.append(build_bundle(ScreeningExport.from_rows(rows), GATEWAY))
    for bundle in bundles:
        assert problems(medplum_server.base_url, bundle) == []


def _panel(bundle: dict[str, Any]) -> dict[str, Any]:
    (entry,) = [
        e
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["code"] == "85354-9"
    ]
    return entry


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda r: r["component"].pop(1), "DiastolicBP"),
        (lambda r: r.pop("effectiveDateTime"), "effective"),
        (lambda r: r.pop("category"), "Observation.category"),
        (lambda r: r.pop("subject"), "subject"),
    ],
    ids=["no-diastolic", "no-effective-time", "no-vital-signs-category", "no-subject"],
)
def test_the_validator_catches_what_the_profiles_forbid(
    medplum_server: FhirServer, damage: Any, expected: str
):
    """The check is real: a broken panel fails it.

    Not checked by this validator (Medplum core leaves terminology to its server):
    required value-set bindings (``status: "bogus"`` passes) and fixed values nested in
    a component slice (a ``mmHg`` UCUM code passes)."""
    bundle = copy.deepcopy(build_bundle(_manual_bp(), GATEWAY))
    damage(_panel(bundle)["resource"])
    found = problems(medplum_server.base_url, bundle)
    assert found
    assert any(expected in p for p in found), found

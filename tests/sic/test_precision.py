"""The device's own precision, from the wire to the Bundle text (HL7 PHD IG, "IEEE 11073
FLOATs and SFLOATs": SFLOAT 0xF014 is written 2.0, 0xE0C8 2.00; FHIR R4 decimals carry
their precision): a 0.1 kg scale's 70.0 stays 70.0, a 0.05 kg scale's 72.50 stays 72.50,
a glucometer's 98 mg/dL stays 98, and a server takes the Bundle as written."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from cart.measurement import Measurement
from cart.protocols import and_weighing, ble_blood_pressure, ble_glucose, indicator_st_gs
from cart.protocols.ble_common import DateTime
from cart.protocols.ieee11073 import SFLOAT_NAN, MedFloat, sfloat
from cart.protocols.modbus_maps import height_rod
from cart.sic.adapter import FhirTransactionAdapter
from cart.sic.fhirjson import FhirDecimal, dumps, quantity_value
from cart.sic.model import ScreeningExport
from cart.sic.sample import sample_curp, sample_screening
from cart.store import Store, create_db_engine, migrate
from cart.store.models import Patient, Screening
from tests.sic.profiles import problems
from tests.sic.support import GATEWAY, FhirServer, make_worker, next_index


def _decoded() -> list[tuple[str, list[Measurement]]]:
    """Real frames, as the simulators' encoders write them, through the decoders."""
    bp = ble_blood_pressure.BloodPressureMeasurement(
        sfloat(121), sfloat(79), SFLOAT_NAN, False, None, sfloat(72)
    )
    glucose = ble_glucose.GlucoseMeasurement(
        sequence_number=3,
        base_time=DateTime(2026, 11, 23, 9, 0, 0),
        concentration=MedFloat(98, -5),  # 98 mg/dL as the spec sends it: 98e-5 kg/L
        type=1,
        sample_location=1,
    )
    return [
        ("bascula", list(indicator_st_gs.decode(b"ST,GS,+  70.0kg\r\n").measurements)),
        ("bascula2", list(and_weighing.decode(b"ST,+00072.50  kg\r\n").measurements)),
        ("estadimetro", height_rod(with_status=False).decode([1702])),  # 1702 mm
        ("baumanometro", list(ble_blood_pressure.decode_blood_pressure(
            ble_blood_pressure.encode_blood_pressure(bp)).measurements)),
        ("glucometro", list(ble_glucose.decode_glucose_measurement(
            ble_glucose.encode_glucose_measurement(glucose)).measurements)),
    ]  # fmt: skip


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'cart.db'}")
    migrate(engine)
    yield Store(engine)
    engine.dispose()


def _completed(store: Store, index: int) -> int:
    curp, born, sex = sample_curp(index)
    patient = store.add_patient(Patient(curp=curp, given_name="Ana", family_name="Precisión",
                                        birth_date=born, sex=sex))  # fmt: skip
    sid = store.add_screening(Screening(patient_id=patient.id)).id
    assert sid is not None
    for device_id, measurements in _decoded():
        store.record_reading(sid, measurements, device_id=device_id, protocol=device_id)
    store.complete(sid, {"ruleset": {"id": "nom", "version": "test"}, "bmi": 24.2})
    return sid


def _export(store: Store, sid: int) -> ScreeningExport:
    rows = store.screening_rows(sid)
    assert rows is not None
    return ScreeningExport.from_rows(rows)


def _values_by_code(content: bytes) -> dict[str, list[str]]:
    """Each Observation's value (and component values) exactly as the JSON text has it."""
    bundle = json.loads(content, parse_float=lambda text: ("text", text))
    out: dict[str, list[str]] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] != "Observation":
            continue
        for part in [resource, *resource.get("component", [])]:
            if "valueQuantity" in part:
                value = part["valueQuantity"]["value"]
                text = value[1] if isinstance(value, tuple) else json.dumps(value)
                out.setdefault(part["code"]["coding"][0]["code"], []).append(text)
    return out


def test_the_bundle_text_writes_the_digits_each_device_sent(sqlite_store: Store):
    sid = _completed(sqlite_store, 9101)
    request = FhirTransactionAdapter(GATEWAY).render(_export(sqlite_store, sid))
    assert _values_by_code(request.content) == {
        "29463-7": ["70.0", "72.50"],  # 0.1 kg and 0.05 kg scales
        "8302-2": ["170.2"],  # a mm rod: 1 mm = 0.1 cm
        "8480-6": ["121"],  # SFLOAT exponent 0: whole mmHg
        "8462-4": ["79"],
        "8867-4": ["72"],
        "41653-7": ["98"],  # 98e-5 kg/L: whole mg/dL, never 98.0
        "39156-5": ["24.2"],  # derived from the first weight and the height: one decimal
    }
    text = request.content.decode()
    for literal in ('"value":70.0,', '"value":72.50,', '"value":98,'):
        assert literal in text


def test_readings_from_before_precision_was_kept_map_as_before(sqlite_store: Store):
    export = _export(sqlite_store, _completed(sqlite_store, next_index()))
    old = replace(
        export, measurements=tuple(replace(m, decimals=None) for m in export.measurements)
    )
    values = _values_by_code(FhirTransactionAdapter(GATEWAY).render(old).content)
    assert values["29463-7"] == ["70", "72.5"]  # today's float printing: whole numbers as ints
    assert values["41653-7"] == ["98"]


def test_fhir_decimal_is_a_float_everywhere_but_in_the_sent_text():
    assert quantity_value(72.5, 2) == 72.5
    assert type(quantity_value(98.0, 0)) is int
    assert quantity_value(70.0, None) == 70
    assert type(quantity_value(70.0, None)) is int
    value = quantity_value(0.1, 3)
    assert isinstance(value, FhirDecimal)
    assert value.text == "0.100"
    resource = {"a": [value, 1.5, "x"], "b": {"c": FhirDecimal(2.0, "2.00")}}
    assert dumps(resource) == b'{"a":[0.100,1.5,"x"],"b":{"c":2.00}}'
    assert json.dumps(resource) == '{"a": [0.1, 1.5, "x"], "b": {"c": 2.0}}'  # plain json too
    assert copy.deepcopy(resource)["b"]["c"].text == "2.00"
    assert json.loads(dumps(resource), parse_float=Decimal)["b"]["c"] == Decimal("2.00")


async def test_both_servers_take_the_bundle_as_written(
    fhir_server: FhirServer, sqlite_store: Store
):
    """The Bundle with 70.0 / 72.50 / 98 passes R4 core and vital signs and is delivered."""
    index = next_index()
    sid = _completed(sqlite_store, index)
    if fhir_server.name == "medplum":  # the profile validator runs there
        bundle = FhirTransactionAdapter(GATEWAY).bundle(_export(sqlite_store, sid))
        assert problems(fhir_server.base_url, bundle) == []
    async with make_worker(sqlite_store, fhir_server.base_url, delivery="auto") as worker:
        report = await worker.sync_pass()
    assert (report.sent, report.rejected) == (1, 0)
    curp = sample_curp(index)[0]
    (patient,) = fhir_server.patient_ids(curp)
    found = fhir_server.get("Observation", subject=f"Patient/{patient}", code="29463-7")
    weights = sorted(e["resource"]["valueQuantity"]["value"] for e in found["entry"])
    assert weights == [70.0, 72.5]  # numerically what the cart sent


def test_sample_screenings_carry_the_precision_of_their_devices(sqlite_store: Store):
    sid = sample_screening(sqlite_store, next_index())
    content = FhirTransactionAdapter(GATEWAY).render(_export(sqlite_store, sid)).content
    values = _values_by_code(content)
    weight = values["29463-7"][0]
    assert weight.endswith(".50")  # 70.50, 71.50...: the 0.05 kg scale's two digits
    assert values["8280-0"] == ["92.0"]  # the waist typed as 92.0
    assert values["41653-7"] == ["110"]  # 6.1 mmol/L: whole mg/dL

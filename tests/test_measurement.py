"""The Measurement model: canonical units, conversions, specials, JSON (DESIGN section 2)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cart.errors import ValidationError
from cart.measurement import (
    KIND_INFO,
    DeviceIdentity,
    Measurement,
    MeasurementKind,
    convert,
    decimals_of,
)


def test_design_json_shape():
    m = Measurement.create(
        "body_weight",
        155.43,
        "[lb_av]",
        measured_at=datetime(2024, 5, 10, 9, 22),
        flags=["unstable"],
        sequence=12,
        user_id=1,
    )
    assert m.to_json() == {
        "kind": "body_weight",
        "value": 70.502,
        "unit": "kg",
        "loinc": "29463-7",
        "measured_at": "2024-05-10T09:22:00",
        "flags": ["unstable"],
        "special": None,
        "original": {"value": 155.43, "unit": "[lb_av]"},
        "sequence": 12,
        "user_id": 1,
        "context": {},
        "device": None,
        "decimals": None,  # not given: unknown precision
    }


@pytest.mark.parametrize(
    ("kind", "value", "unit", "expected"),
    [
        ("body_height", 65.0, "[in_i]", 165.1),
        ("systolic_pressure", 16.0, "kPa", 120.0),
        ("glucose", 0.00104, "kg/L", 104.0),
        ("glucose", 5.5, "mmol/L", 99.1),
        ("glucose", 0.0055, "mol/L", 99.1),
        ("body_weight", 70500, "g", 70.5),
        ("pulse_rate", 72, "[lb_av]", None),
    ],
)
def test_conversions_to_canonical(kind, value, unit, expected):
    if expected is None:
        with pytest.raises(ValidationError):
            Measurement.create(kind, value, unit)
        return
    m = Measurement.create(kind, value, unit)
    assert m.value == pytest.approx(expected, abs=0.05)
    assert m.unit == KIND_INFO[MeasurementKind(kind)].unit
    assert m.original is not None
    assert m.original.value == value


KIND_OF_UNIT = {
    **dict.fromkeys(("kg", "[lb_av]", "lb", "g"), "body_weight"),
    **dict.fromkeys(("[in_i]", "mm"), "body_height"),
    "kPa": "systolic_pressure",
}


@pytest.mark.parametrize(
    ("value", "unit", "decimals", "expected"),
    [
        (70.0, "kg", 1, (70.0, 1)),  # no conversion: the device's digits as they are
        (72.5, "kg", 2, (72.5, 2)),
        (155.4, "[lb_av]", 1, (70.49, 2)),  # 0.1 lb = 0.045 kg: hundredths
        (155.43, "lb", 2, (70.502, 3)),  # 0.01 lb: thousandths, the kg cap
        (70500, "g", 0, (70.5, 3)),  # 1 g = 0.001 kg
        (0.00098, "kg/L", 5, (98.0, 0)),  # SFLOAT 98e-5 kg/L: whole mg/dL
        (5.4, "mmol/L", 1, (97.0, 0)),  # 0.1 mmol/L = 1.8 mg/dL: whole mg/dL
        (16.0, "kPa", 1, (120.0, 1)),  # 0.1 kPa = 0.75 mmHg: tenths
        (11.0, "kPa", 0, (83.0, 0)),  # 1 kPa = 7.5 mmHg: whole mmHg (82.5 would be invented)
        (68.0, "[in_i]", 1, (172.7, 1)),  # 0.1 in = 0.254 cm: tenths
        (1702, "mm", 0, (170.2, 1)),
    ],
)
def test_a_conversion_derives_the_precision(value, unit, decimals, expected):
    kind = KIND_OF_UNIT.get(unit, "glucose")
    m = Measurement.create(kind, value, unit, decimals=decimals)
    assert (m.value, m.decimals) == expected
    assert Measurement.from_json(m.to_json()) == m


def test_decimals_are_checked_and_unknown_stays_unknown():
    assert Measurement.create("body_weight", 70.25, "kg").decimals is None
    assert Measurement.create("body_weight", 70.25, "lb").decimals is None  # as before: 3 dp
    assert Measurement.create("systolic_pressure", None, special="nan", decimals=1).decimals is None
    for bad in (-1, 21, 1.5, True):
        with pytest.raises(ValidationError):
            Measurement.create("body_weight", 70.0, "kg", decimals=bad)
    with pytest.raises(ValidationError) as info:
        Measurement.create("body_weight", 70.25, "kg", decimals=1)  # "70.25" has 2 digits
    assert info.value.field == "decimals"
    with pytest.raises(ValidationError):
        Measurement(MeasurementKind.BODY_WEIGHT, 70.25, "kg", "29463-7", decimals=1)
    assert [decimals_of(t) for t in ("+0070.50", "98", "5.", ".25", "12.5kg")] == [2, 0, 0, 2, 1]


def test_special_has_no_value():
    m = Measurement.create("systolic_pressure", None, special="nres")
    assert m.value is None
    assert m.special == "nres"
    with pytest.raises(ValidationError):
        Measurement.create("systolic_pressure", None)
    with pytest.raises(ValidationError):
        Measurement.create("systolic_pressure", float("nan"))


def test_unknown_unit_is_a_validation_error():
    with pytest.raises(ValidationError) as info:
        Measurement.create("body_weight", 1.0, "furlong")
    assert info.value.field == "unit"


def test_unit_aliases_are_not_conversions():
    m = Measurement.create("pulse_rate", 72, "bpm")
    assert (m.value, m.unit, m.original) == (72.0, "/min", None)


def test_value_as_other_unit():
    m = Measurement.create("glucose", 90.08)
    assert m.value_as("mmol/L") == pytest.approx(5.0)
    assert convert(1.0, "kg", "kg") == 1.0


@given(
    kind=st.sampled_from(list(MeasurementKind)),
    value=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    flags=st.lists(st.sampled_from(["unstable", "irregular_pulse", "low_battery"]), max_size=3),
    seq=st.none() | st.integers(0, 65535),
)
def test_json_round_trip(kind, value, flags, seq):
    m = Measurement.create(
        kind, value, flags=flags, sequence=seq, device=DeviceIdentity("d1", "A&D", "UA-651", "X1")
    )
    assert Measurement.from_json(m.to_json()) == m


def test_from_json_rejects_garbage():
    with pytest.raises(ValidationError):
        Measurement.from_json({"kind": "nope"})

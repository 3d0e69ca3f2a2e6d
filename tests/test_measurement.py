"""The Measurement model: canonical units, conversions, specials, JSON (DESIGN section 2)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cart.errors import ValidationError
from cart.measurement import KIND_INFO, DeviceIdentity, Measurement, MeasurementKind, convert


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

"""Measurement.create's fast construction (issue 8): the very object the dataclass builds."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cart.errors import ValidationError
from cart.measurement import (
    DeviceIdentity,
    Measurement,
    MeasurementKind,
    Original,
    Special,
    slot_setters,
)

FIELDS = tuple(f.name for f in dataclasses.fields(Measurement))


def rebuilt(m: Measurement) -> Measurement:
    """The same fields through the dataclass' own (frozen) __init__ and __post_init__."""
    return Measurement(**{name: getattr(m, name) for name in FIELDS})


@given(
    kind=st.sampled_from(list(MeasurementKind)),
    value=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    unit=st.sampled_from([None, "kg", "[lb_av]", "g", "cm", "in", "kPa", "mmol/L", "bpm", "%"]),
    flags=st.lists(st.sampled_from(["unstable", "irregular_pulse", "low_battery"]), max_size=4),
    as_tuple=st.booleans(),
    seq=st.none() | st.integers(0, 65535),
)
def test_create_equals_the_dataclass_constructor(kind, value, unit, flags, as_tuple, seq):
    try:
        m = Measurement.create(
            kind,
            value,
            unit,
            flags=tuple(flags) if as_tuple else flags,
            sequence=seq,
            measured_at=datetime(2024, 5, 10, 9, 22),
            context={"meal": "fasting"},
            device=DeviceIdentity("d1"),
        )
    except ValidationError:
        return  # a unit that does not convert to this kind: the same error as before
    assert type(m) is Measurement
    assert m == rebuilt(m)
    assert m.flags == tuple(sorted(set(flags)))
    assert [getattr(m, name) for name in FIELDS] == [getattr(rebuilt(m), name) for name in FIELDS]


def test_created_measurement_is_an_ordinary_frozen_measurement():
    m = Measurement.create("body_weight", 155.43, "[lb_av]", flags=("b", "a", "b"))
    assert m.original == Original(155.43, "[lb_av]")
    assert type(m.original) is Original
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.value = 1.0  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(m)) == m
    assert copy.deepcopy(m) == m
    assert dataclasses.replace(m, value=70.0).value == 70.0
    assert m.flags == ("a", "b")
    special = Measurement.create("systolic_pressure", None, special="nan")
    assert special == rebuilt(special)
    assert special.special is Special.NAN


def test_create_still_runs_the_post_init_checks():
    with pytest.raises(ValidationError):
        Measurement.create("pulse_rate", float("inf"))
    with pytest.raises(ValidationError):
        Measurement.create("pulse_rate", 72, special="nan")
    with pytest.raises(ValidationError):
        Measurement.create("pulse_rate", None)
    with pytest.raises(ValueError):
        Measurement.create("pulse_rate", None, special="bogus")


def test_a_subclass_takes_the_plain_constructor():
    @dataclasses.dataclass(frozen=True, slots=True)
    class Tagged(Measurement):
        tag: str = "x"

    m = Tagged.create("bmi", 24.9)
    assert type(m) is Tagged
    assert m.tag == "x"


def test_slot_setters():
    set_value, set_unit = slot_setters(Original)
    o = object.__new__(Original)
    set_value(o, 1.5)
    set_unit(o, "kg")
    assert o == Original(1.5, "kg")
    assert len(slot_setters(Measurement)) == len(FIELDS)
    (set_unit_only,) = slot_setters(Original, "unit")
    assert set_unit_only is not None
    with pytest.raises(TypeError):
        slot_setters(int)
    with pytest.raises(TypeError):
        slot_setters(Original, "nope")

"""The classifier input built from the patient and the latest readings (pure)."""

from __future__ import annotations

from datetime import date

from cart.classify import classify
from cart.measurement import Measurement
from cart.screening import average_readings
from cart.screening_input import age_at, build_input, latest_values


def m(kind: str, value: float | None, unit: str | None = None, **kw: object) -> Measurement:
    return Measurement.create(kind, value, unit, **kw)  # type: ignore[arg-type]


def test_age_in_completed_years():
    assert age_at(date(1975, 4, 12), date(2025, 4, 11)) == 49
    assert age_at(date(1975, 4, 12), date(2025, 4, 12)) == 50
    assert age_at(date(2000, 2, 29), date(2021, 2, 28)) == 20
    assert age_at(date(2000, 2, 29), date(2021, 3, 1)) == 21


def test_latest_number_of_each_kind_wins():
    values = latest_values(
        [
            m("body_weight", 70.0),
            m("body_weight", 71.5),
            m("glucose", None, special="+inf"),
            m("glucose", 104),
            m("glucose", None, special="nres"),  # a special never replaces a number
        ]
    )
    assert values == {"body_weight": 71.5, "glucose": 104.0}


def test_input_has_every_design_key_and_none_for_the_unmeasured():
    data = build_input(
        sex="female",
        birth_date=date(1975, 4, 12),
        screening_date=date(2025, 6, 1),
        glucose_context="fasting",
        known_diagnoses=["hypertension", "hypertension", "diabetes"],
        measurements=[m("body_weight", 72.4), m("waist_circumference", 37.2, "[in_i]")],
    )
    assert data == {
        "sex": "female",
        "age": 50,
        "weight_kg": 72.4,
        "height_cm": None,
        "waist_cm": 94.49,
        "systolic": None,
        "diastolic": None,
        "glucose_mg_dl": None,
        "hba1c": None,
        "glucose_context": "fasting",
        "known_diagnoses": ["diabetes", "hypertension"],
    }
    assert classify(data).to_json()["overall"]["obesity"] is None  # no height: no BMI


def test_blood_pressure_average_is_what_the_classifier_sees():
    r1 = [m("systolic_pressure", 128), m("diastolic_pressure", 82), m("pulse_rate", 72)]
    r2 = [m("systolic_pressure", 133), m("diastolic_pressure", 85), m("pulse_rate", 75)]
    avg = average_readings([r1, r2])
    assert [(x.kind.value, x.value) for x in avg] == [
        ("systolic_pressure", 130.5),
        ("diastolic_pressure", 83.5),
        ("pulse_rate", 73.5),
    ]
    assert all("average" in x.flags and x.context["readings"] == "2" for x in avg)
    data = build_input(
        sex="male",
        birth_date=None,
        screening_date=date(2025, 1, 1),
        glucose_context=None,
        known_diagnoses=[],
        measurements=[*r1, *r2, *avg],
    )
    assert (data["systolic"], data["diastolic"], data["age"]) == (130.5, 83.5, None)


def test_average_rounds_half_up_and_skips_specials():
    avg = average_readings(
        [
            [m("systolic_pressure", 120), m("diastolic_pressure", None, special="nan")],
            [m("systolic_pressure", 121), m("diastolic_pressure", 80)],
            [m("systolic_pressure", 121, flags=["irregular_pulse"])],
        ]
    )
    assert [(x.kind.value, x.value, x.context["readings"]) for x in avg] == [
        ("systolic_pressure", 120.7, "3"),
        ("diastolic_pressure", 80.0, "1"),
    ]
    assert avg[0].flags == ("average", "irregular_pulse")
    assert average_readings([[m("glucose", 100)]]) == []


def test_a_manual_entry_after_the_device_wins():
    data = build_input(
        sex="male",
        birth_date=date(1980, 1, 1),
        screening_date=date(2025, 1, 1),
        glucose_context="casual",
        known_diagnoses=(),
        measurements=[m("body_height", 170), m("body_height", 1.72, "m")],
    )
    assert data["height_cm"] == 172.0

"""Invalid input is a ValidationError naming the field; missing input is not an error."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from cart.classify import ClassificationInput, ClassifyOptions, classify, input_from_json
from cart.errors import ValidationError


@pytest.mark.parametrize(
    ("inp", "field"),
    [
        ({"weight_kg": -70}, "weight_kg"),
        ({"weight_kg": 0}, "weight_kg"),
        ({"weight_kg": 1000}, "weight_kg"),
        ({"height_cm": -160}, "height_cm"),
        ({"height_cm": 0}, "height_cm"),
        ({"height_cm": 1.6}, "height_cm"),  # metres, not centimetres
        ({"height_cm": 400}, "height_cm"),
        ({"waist_cm": -1}, "waist_cm"),
        ({"waist_cm": 500}, "waist_cm"),
        ({"systolic": -120, "diastolic": 80}, "systolic"),
        ({"systolic": 0}, "systolic"),
        ({"systolic": 400}, "systolic"),
        ({"diastolic": -5}, "diastolic"),
        ({"diastolic": 250}, "diastolic"),
        ({"systolic": 80, "diastolic": 80}, "diastolic"),
        ({"systolic": 80, "diastolic": 120}, "diastolic"),
        ({"glucose_mg_dl": -90}, "glucose_mg_dl"),
        ({"glucose_mg_dl": 0}, "glucose_mg_dl"),
        ({"glucose_mg_dl": 5.5}, "glucose_mg_dl"),  # mmol/L, not mg/dL
        ({"glucose_mg_dl": 2000}, "glucose_mg_dl"),
        ({"hba1c": -6}, "hba1c"),
        ({"hba1c": 65}, "hba1c"),  # mmol/mol, not %
        ({"total_cholesterol": -1}, "total_cholesterol"),
        ({"ldl": 5000}, "ldl"),
        ({"total_cholesterol": 150, "ldl": 160}, "ldl"),
        ({"age": 19}, "age"),
        ({"age": 19.9}, "age"),
        ({"age": 0}, "age"),
        ({"age": -30}, "age"),
        ({"age": 150}, "age"),
        ({"sex": "other"}, "sex"),
        ({"sex": "F"}, "sex"),
        ({"sex": "Female"}, "sex"),
        ({"sex": 1}, "sex"),
        ({"glucose_context": "postprandial"}, "glucose_context"),
        ({"known_diagnoses": ["cancer"]}, "known_diagnoses"),
        ({"known_diagnoses": "diabetes"}, "known_diagnoses"),
        ({"known_diagnoses": {"diabetes": True}}, "known_diagnoses"),
        ({"weight_kg": "70"}, "weight_kg"),
        ({"weight_kg": True}, "weight_kg"),
        ({"age": [30]}, "age"),
        ({"weight_kg": math.nan}, "weight_kg"),
        ({"weight_kg": math.inf}, "weight_kg"),
        ({"glucose": 100}, "glucose"),  # unknown key
        ({"Sex": "female"}, "Sex"),
        ({"bmi": 30}, "bmi"),  # BMI is computed, never taken
        ({"findrisc": "yes"}, "findrisc"),
        ({"findrisc": {"smoker": True}}, "findrisc.smoker"),
        ({"findrisc": {"high_glucose_history": "yes"}}, "findrisc.high_glucose_history"),
        ({"findrisc": {"high_glucose_history": 1}}, "findrisc.high_glucose_history"),
        ({"findrisc": {"family_history_diabetes": "parent"}}, "findrisc.family_history_diabetes"),
    ],
)
def test_invalid_input_names_the_field(inp, field):
    with pytest.raises(ValidationError) as caught:
        classify(inp)
    assert caught.value.field == field
    assert caught.value.reason
    assert field in str(caught.value)


def test_unknown_keys_reported_deterministically():
    with pytest.raises(ValidationError) as a:
        input_from_json({"zeta": 1, "alpha": 2, "sex": "male"})
    with pytest.raises(ValidationError) as b:
        input_from_json({"alpha": 2, "zeta": 1, "sex": "male"})
    assert a.value.field == b.value.field == "alpha"


@pytest.mark.parametrize("data", [[], "x", 3, None])
def test_input_must_be_an_object(data):
    with pytest.raises(ValidationError) as caught:
        input_from_json(data)
    assert caught.value.field == "input"


def test_keyword_construction_validates_too():
    with pytest.raises(ValidationError) as caught:
        ClassificationInput(age=12)
    assert caught.value.field == "age"
    with pytest.raises(ValidationError) as caught:
        ClassificationInput(sex="x")  # type: ignore[arg-type]
    assert caught.value.field == "sex"


def test_boundaries_of_accepted_ranges():
    assert ClassificationInput(age=20).age == 20
    assert ClassificationInput(age=120).age == 120
    assert ClassificationInput(glucose_mg_dl=10, weight_kg=300, height_cm=230).weight_kg == 300
    assert ClassificationInput(hba1c=Decimal("6.5")).hba1c == 6.5
    assert ClassificationInput(total_cholesterol=150, ldl=150).ldl == 150


def test_unknown_ruleset():
    with pytest.raises(ValidationError) as caught:
        classify({}, "who")
    assert caught.value.field == "ruleset"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"urgent_glucose_high": 100}, "urgent_glucose_high"),
        ({"urgent_glucose_high": 900}, "urgent_glucose_high"),
        ({"urgent_glucose_high": "250"}, "urgent_glucose_high"),
        ({"waist_profile": "asia"}, "waist_profile"),
    ],
)
def test_invalid_options(kwargs, field):
    with pytest.raises(ValidationError) as caught:
        ClassifyOptions(**kwargs)
    assert caught.value.field == field


def test_missing_measurements_are_not_errors():
    for key in ("sex", "age", "weight_kg", "height_cm", "waist_cm", "systolic", "glucose_mg_dl"):
        classify({key: None})
    classify({"glucose_context": "fasting"})  # a context without a glucose is harmless

"""Output shape (DESIGN section 6), missing data, alerts, advice, references, FINDRISC."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cart.classify import (
    REFERENCES,
    Classification,
    ClassificationInput,
    FindriscAnswers,
    classify,
    input_from_json,
)
from cart.classify.tables import FINDRISC_RISK

DESIGN_KEYS = [
    "ruleset",
    "bmi",
    "weight_status",
    "obesity_grade",
    "waist_risk",
    "bp_category",
    "glucose_category",
    "overall",
    "alerts",
    "recommendations",
    "references",
]
EXTRA_KEYS = ["waist_to_height_ratio", "waist_to_height_risk", "findrisc"]

FULL = {
    "sex": "male",
    "age": 58,
    "weight_kg": 92.4,
    "height_cm": 171,
    "waist_cm": 104,
    "systolic": 146,
    "diastolic": 92,
    "glucose_mg_dl": 118,
    "glucose_context": "fasting",
    "known_diagnoses": [],
    "hba1c": 6.1,
    "total_cholesterol": 210,
    "ldl": 130,
    "findrisc": {
        "physical_activity_30min_daily": False,
        "vegetables_fruit_daily": False,
        "antihypertensive_medication": True,
        "high_glucose_history": True,
        "family_history_diabetes": "first_degree",
    },
}


def codes(items: list[dict[str, object]]) -> list[object]:
    return [i["code"] for i in items]


def test_design_shape_and_vocabulary():
    out = classify(FULL).to_json()
    assert list(out) == DESIGN_KEYS + EXTRA_KEYS
    assert out["ruleset"]["id"] == "nom"
    assert isinstance(out["ruleset"]["version"], str)
    assert list(out["overall"]) == [
        "obesity",
        "hypertension",
        "diabetes",
        "dyslipidemia",
        "urgent_attention",
    ]
    assert out["bmi"] == 31.6  # 92.4 / 1.71**2 = 31.599...
    assert out["weight_status"] == "obesity"
    assert out["obesity_grade"] == 1
    assert out["waist_risk"] == "high"
    assert out["bp_category"] == "hypertension_grade_1"
    assert out["glucose_category"] == "prediabetes"
    assert out["overall"] == {
        "obesity": "probable_disease",
        "hypertension": "probable_disease",
        "diabetes": "at_risk",
        "dyslipidemia": None,
        "urgent_attention": False,
    }


def test_alert_recommendation_and_reference_shapes():
    out = classify(FULL).to_json()
    for alert in out["alerts"]:
        assert set(alert) == {"code", "severity", "fields", "text"}
        assert alert["severity"] in {"urgent", "warning", "info"}
        assert alert["text"]["es"]
        assert alert["text"]["en"]
    assert out["recommendations"]
    ids = {r.id for r in REFERENCES}
    for rec in out["recommendations"]:
        assert set(rec) == {"code", "domain", "months", "text", "references"}
        assert rec["domain"] in {"obesity", "hypertension", "diabetes", "dyslipidemia"}
        assert rec["text"]["es"]
        assert rec["text"]["en"]
        assert set(rec["references"]) <= ids
    listed = [r["id"] for r in out["references"]]
    assert len(listed) == len(set(listed))
    assert {r for rec in out["recommendations"] for r in rec["references"]} <= set(listed)
    # catalogue order, so the output is deterministic
    order = [r.id for r in REFERENCES]
    assert listed == sorted(listed, key=order.index)


def test_references_follow_the_rules_that_fired():
    nom = classify({"sex": "female", "weight_kg": 76.8, "height_cm": 160}).to_json()
    ids = {r["id"] for r in nom["references"]}
    assert "nom_008_ssa3_2017" in ids
    assert "acc_aha_2017" not in ids
    aha = classify({"systolic": 150, "diastolic": 95}, "aha_ada").to_json()
    ids = {r["id"] for r in aha["references"]}
    assert "acc_aha_2017" in ids
    assert "nom_008_ssa3_2017" not in ids


def test_empty_input_gives_nulls_never_guesses():
    out = classify({}).to_json()
    for key in ("bmi", "weight_status", "obesity_grade", "waist_risk", "bp_category"):
        assert out[key] is None
    assert out["glucose_category"] is None
    assert out["overall"] == {
        "obesity": None,
        "hypertension": None,
        "diabetes": None,
        "dyslipidemia": None,
        "urgent_attention": False,
    }
    assert out["recommendations"] == []
    assert codes(out["alerts"]) == ["incomplete_screening"]
    assert out["alerts"][0]["fields"] == [
        "sex",
        "age",
        "weight_kg",
        "height_cm",
        "waist_cm",
        "systolic",
        "diastolic",
        "glucose_mg_dl",
    ]
    assert out["findrisc"]["score"] is None


def test_missing_sex_decides_only_when_both_sexes_agree():
    # 155 cm: short for a man, not for a woman
    ambiguous = classify(
        {"weight_kg": float(Decimal("24.0") * Decimal("1.55") ** 2), "height_cm": 155}
    )
    assert ambiguous.bmi == Decimal("24.0")
    assert ambiguous.weight_status is None
    assert ambiguous.overall.obesity is None
    agree = classify({"weight_kg": float(Decimal("22.0") * Decimal("1.55") ** 2), "height_cm": 155})
    assert agree.weight_status == "normal"
    # below 150 both sexes are short, at 160 or more neither is
    assert classify({"weight_kg": 50.0, "height_cm": 145}).weight_status == "overweight"  # 23.8
    assert classify({"weight_kg": 70.0, "height_cm": 170}).weight_status == "normal"
    # waist: < 80 normal and >= 90 high for both sexes, in between unknown
    assert classify({"waist_cm": 79}).waist_risk == "normal"
    assert classify({"waist_cm": 85}).waist_risk is None
    assert classify({"waist_cm": 90}).waist_risk == "high"


def test_missing_waist_with_normal_bmi_leaves_obesity_domain_null():
    out = classify({"sex": "female", "weight_kg": 60, "height_cm": 165})
    assert out.weight_status == "normal"
    assert out.overall.obesity is None  # a high waist would make it at_risk
    out = classify({"sex": "female", "weight_kg": 70, "height_cm": 160})  # BMI 27.3
    assert out.overall.obesity == "at_risk"  # overweight whatever the waist
    out = classify({"sex": "female", "weight_kg": 80, "height_cm": 160})
    assert out.overall.obesity == "probable_disease"


def test_missing_glucose_context():
    out = classify({"glucose_mg_dl": 85}).to_json()
    assert out["glucose_category"] == "normal"
    assert "glucose_context_missing" in codes(out["alerts"])
    assert classify({"glucose_mg_dl": 110}).glucose_category is None
    assert classify({"glucose_mg_dl": 110}).overall.diabetes is None
    assert classify({"glucose_mg_dl": 130}).glucose_category is None
    assert classify({"glucose_mg_dl": 210}).glucose_category == "probable_diabetes"
    assert classify({"glucose_mg_dl": 50}).glucose_category == "hypoglycemia_level_2"


def test_missing_half_of_the_blood_pressure():
    only_high = classify({"systolic": 185}, "nom")
    assert only_high.bp_category == "hypertension_grade_3"
    assert only_high.overall.urgent_attention is True
    only_sbp = classify({"systolic": 150})
    assert only_sbp.bp_category is None
    assert only_sbp.overall.hypertension == "probable_disease"
    assert classify({"systolic": 115}).overall.hypertension is None
    dbp_only = classify({"diastolic": 125}, "aha_ada")
    assert dbp_only.bp_category == "hypertensive_crisis"
    assert dbp_only.overall.urgent_attention is True
    known = classify({"systolic": 150, "known_diagnoses": ["hypertension"]})
    assert known.overall.hypertension == "known_uncontrolled"
    known = classify({"systolic": 120, "known_diagnoses": ["hypertension"]})
    assert known.overall.hypertension is None


def test_isolated_systolic_flag_is_an_info_alert_under_nom():
    out = classify({"systolic": 150, "diastolic": 85}).to_json()
    alert = next(a for a in out["alerts"] if a["code"] == "isolated_systolic_hypertension")
    assert alert["severity"] == "info"
    assert out["bp_category"] == "hypertension_grade_1"
    aha = classify({"systolic": 150, "diastolic": 85}, "aha_ada").to_json()
    assert "isolated_systolic_hypertension" not in codes(aha["alerts"])
    assert "isolated_systolic_hypertension" not in codes(
        classify({"systolic": 150, "diastolic": 90}).to_json()["alerts"]
    )


def test_urgent_alerts_come_first_and_name_the_trigger():
    out = classify(
        {"systolic": 190, "diastolic": 100, "glucose_mg_dl": 45, "glucose_context": "casual"}
    ).to_json()
    assert out["overall"]["urgent_attention"] is True
    severities = [a["severity"] for a in out["alerts"]]
    assert severities == sorted(severities, key=["urgent", "warning", "info"].index)
    assert {"hypoglycemia_level_2", "severe_hypertension"} <= set(codes(out["alerts"]))
    assert {"treat_hypoglycemia", "refer_severe_hypertension", "evaluate_hypoglycemia"} <= set(
        codes(out["recommendations"])
    )
    # urgent BP: no routine "confirm" advice on top of the same-day referral
    assert "confirm_hypertension" not in codes(out["recommendations"])


@pytest.mark.parametrize(
    ("inp", "ruleset", "expected"),
    [
        ({"glucose_mg_dl": 150, "glucose_context": "casual"}, "nom", "confirm_fasting_glucose"),
        ({"glucose_mg_dl": 110, "glucose_context": "fasting"}, "nom", "prediabetes_follow_up"),
        ({"glucose_mg_dl": 130, "glucose_context": "fasting"}, "nom", "confirm_diabetes"),
        ({"glucose_mg_dl": 90, "glucose_context": "fasting"}, "nom", "rescreen_glucose"),
        ({"hba1c": 6.0}, "aha_ada", "prediabetes_follow_up"),
        ({"systolic": 135, "diastolic": 85}, "nom", "bp_lifestyle"),
        ({"systolic": 145, "diastolic": 85}, "nom", "confirm_hypertension"),
        ({"systolic": 115, "diastolic": 75}, "nom", "rescreen_bp"),
        ({"systolic": 125, "diastolic": 75}, "aha_ada", "bp_lifestyle"),
        ({"systolic": 135, "diastolic": 75}, "aha_ada", "confirm_hypertension_stage_1"),
        ({"systolic": 145, "diastolic": 75}, "aha_ada", "confirm_hypertension"),
        ({"sex": "male", "weight_kg": 100, "height_cm": 170}, "nom", "refer_obesity"),
        ({"sex": "male", "weight_kg": 80, "height_cm": 170}, "nom", "weight_lifestyle"),
        ({"known_diagnoses": ["diabetes"], "hba1c": 6.5}, "nom", "continue_diabetes_care"),
        ({"known_diagnoses": ["diabetes"], "hba1c": 8.5}, "nom", "review_diabetes_treatment"),
        (
            {"known_diagnoses": ["hypertension"], "systolic": 135, "diastolic": 85},
            "aha_ada",
            "review_hypertension_treatment",
        ),
        (
            {"known_diagnoses": ["dyslipidemia"], "total_cholesterol": 180, "ldl": 90},
            "nom",
            "continue_dyslipidemia_care",
        ),
    ],
)
def test_recommendations(inp, ruleset, expected):
    out = classify(inp, ruleset).to_json()
    assert expected in codes(out["recommendations"])


def test_rescreen_intervals_are_machine_readable():
    out = classify({"glucose_mg_dl": 90, "glucose_context": "fasting"}).to_json()
    rec = next(r for r in out["recommendations"] if r["code"] == "rescreen_glucose")
    assert rec["months"] == 36
    assert "3 años" in rec["text"]["es"]
    assert "3 years" in rec["text"]["en"]


def test_probable_results_carry_the_confirmation_alert():
    out = classify({"glucose_mg_dl": 210, "glucose_context": "casual"}).to_json()
    assert "screening_needs_confirmation" in codes(out["alerts"])
    out = classify({"glucose_mg_dl": 90, "glucose_context": "casual"}).to_json()
    assert "screening_needs_confirmation" not in codes(out["alerts"])


# --------------------------------------------------------------------------- FINDRISC


def findrisc(**inp: object) -> dict[str, object]:
    result = classify(inp).to_json()["findrisc"]
    assert isinstance(result, dict)
    return result


def test_findrisc_full_score():
    out = classify(FULL).to_json()["findrisc"]
    # age 58 -> 3, BMI 31.6 -> 3, male waist 104 -> 4, inactive 2, no veg 1, drugs 2,
    # high glucose 5, first-degree family 5
    assert out["points"] == {
        "age": 3,
        "bmi": 3,
        "waist": 4,
        "physical_activity": 2,
        "vegetables_fruit": 1,
        "antihypertensive_medication": 2,
        "high_glucose_history": 5,
        "family_history_diabetes": 5,
    }
    assert out["score"] == 25
    assert (out["risk"], out["estimated_risk_percent"]) == ("very_high", 50)


LOW_ANSWERS = {
    "physical_activity_30min_daily": True,
    "vegetables_fruit_daily": True,
    "antihypertensive_medication": False,
    "high_glucose_history": False,
    "family_history_diabetes": "none",
}


@pytest.mark.parametrize(
    ("age", "points"),
    [(20, 0), (44, 0), (44.9, 0), (45, 2), (54, 2), (55, 3), (64, 3), (65, 4), (90, 4)],
)
def test_findrisc_age(age, points):
    assert findrisc(age=age)["points"]["age"] == points


@pytest.mark.parametrize(
    ("weight", "points"),
    [(99.6, 0), (100, 1), (120, 1), (120.4, 3)],  # at 200 cm: BMI 24.9, 25.0, 30.0, 30.1
)
def test_findrisc_bmi(weight, points):
    assert findrisc(weight_kg=weight, height_cm=200)["points"]["bmi"] == points


@pytest.mark.parametrize(
    ("sex", "waist", "points"),
    [
        ("male", 93.9, 0),
        ("male", 94, 3),
        ("male", 102, 3),
        ("male", 102.1, 4),
        ("female", 79.9, 0),
        ("female", 80, 3),
        ("female", 88, 3),
        ("female", 88.1, 4),
    ],
)
def test_findrisc_waist(sex, waist, points):
    assert findrisc(sex=sex, waist_cm=waist)["points"]["waist"] == points


@pytest.mark.parametrize(
    ("answer", "item", "points"),
    [
        ({"physical_activity_30min_daily": False}, "physical_activity", 2),
        ({"vegetables_fruit_daily": False}, "vegetables_fruit", 1),
        ({"antihypertensive_medication": True}, "antihypertensive_medication", 2),
        ({"high_glucose_history": True}, "high_glucose_history", 5),
        ({"family_history_diabetes": "second_degree"}, "family_history_diabetes", 3),
        ({"family_history_diabetes": "first_degree"}, "family_history_diabetes", 5),
    ],
)
def test_findrisc_answers(answer, item, points):
    base = {"sex": "female", "age": 30, "weight_kg": 55, "height_cm": 165, "waist_cm": 70}
    low = findrisc(**base, findrisc=LOW_ANSWERS)
    assert low["score"] == 0
    assert low["risk"] == "low"
    out = findrisc(**base, findrisc={**LOW_ANSWERS, **answer})
    assert out["points"][item] == points
    assert out["score"] == points


@pytest.mark.parametrize(
    ("score", "risk", "percent"),
    [
        (0, "low", 1),
        (6, "low", 1),
        (7, "slightly_elevated", 4),
        (11, "slightly_elevated", 4),
        (12, "moderate", 17),
        (14, "moderate", 17),
        (15, "high", 33),
        (20, "high", 33),
        (21, "very_high", 50),
        (26, "very_high", 50),
    ],
)
def test_findrisc_risk_bands(score, risk, percent):
    assert FINDRISC_RISK.find(Decimal(score)).label == (risk, percent)


def test_findrisc_incomplete_shows_points_but_no_score():
    out = findrisc(age=50, findrisc={"high_glucose_history": True})
    assert out["points"]["age"] == 2
    assert out["points"]["high_glucose_history"] == 5
    assert out["points"]["bmi"] is None
    assert (out["score"], out["risk"], out["estimated_risk_percent"]) == (None, None, None)


# --------------------------------------------------------------------------- the input type


def test_input_round_trips_through_json():
    inp = input_from_json(FULL)
    assert isinstance(inp, ClassificationInput)
    assert isinstance(inp.findrisc, FindriscAnswers)
    assert input_from_json(inp.to_json()) == inp
    assert classify(inp) == classify(FULL)


def test_dataclasses_are_frozen():
    result = classify(FULL)
    assert isinstance(result, Classification)
    with pytest.raises(AttributeError):
        result.bmi = Decimal(1)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        input_from_json(FULL).age = 30  # type: ignore[misc]


def test_keyword_construction_accepts_strings_for_enums():
    inp = ClassificationInput(sex="female", glucose_context="fasting", known_diagnoses=["obesity"])  # type: ignore[arg-type]
    assert inp.sex == "female"
    assert inp.known_diagnoses == frozenset({"obesity"})


def test_null_values_are_missing():
    assert classify({"sex": None, "weight_kg": None, "known_diagnoses": None}) == classify({})

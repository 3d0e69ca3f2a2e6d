"""Every threshold from both sides, in both rule sets (issue 5, classification-rules.md).

Expected values are written out by hand from the specification, never computed from
the tables under test.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from cart.classify import ClassifyOptions, WaistProfile, bmi_value, classify


def weight_for(bmi: str, height_cm: str) -> float:
    """A weight (kg) whose exact BMI at ``height_cm`` is ``bmi`` (so rounding is moot)."""
    h = Decimal(height_cm) / 100
    return float(Decimal(bmi) * h * h)


def run(ruleset: str = "nom", **inp: object) -> dict[str, object]:
    return classify(inp, ruleset).to_json()


# --------------------------------------------------------------------------- BMI


def test_float_trap_bmi_30():
    # 76.8 / 1.6**2 == 29.999999999999993 in binary floating point
    assert 76.8 / 1.6**2 < 30
    out = run(sex="female", weight_kg=76.8, height_cm=160)
    assert out["bmi"] == 30.0
    assert out["weight_status"] == "obesity"
    assert out["obesity_grade"] == 1
    assert out["overall"]["obesity"] == "probable_disease"


def test_float_trap_bmi_25():
    # 64 / 1.6**2 == 24.999999999999996
    out = run(sex="male", weight_kg=64, height_cm=160)  # male 160 cm: not short
    assert out["bmi"] == 25.0
    assert out["weight_status"] == "overweight"


@pytest.mark.parametrize(
    ("weight", "height", "expected"),
    [
        (76.8, 160, "30.0"),
        (64, 160, "25.0"),
        (70, 175, "22.9"),  # 22.857...
        (72.25, 170, "25.0"),
        (50, 165, "18.4"),  # 18.365...
        (70.0, 171.5, "23.8"),  # 23.800... exactly representable? no matter: exact math
        (81.225, 190, "22.5"),  # 22.5 exactly: half-up on the second decimal is moot
        (82.8, 182, "25.0"),  # 24.9969... rounds half-up to 25.0
    ],
)
def test_bmi_rounded_half_up_to_one_decimal(weight, height, expected):
    assert bmi_value(weight, height) == Decimal(expected)


def test_bmi_half_up_not_half_even():
    # 22.45 exactly: half-up gives 22.5 (banker's rounding would give 22.4)
    assert bmi_value(weight_for("22.45", "200"), 200) == Decimal("22.5")
    assert bmi_value(weight_for("22.35", "200"), 200) == Decimal("22.4")


@pytest.mark.parametrize("ruleset", ["nom", "aha_ada"])
@pytest.mark.parametrize(
    ("bmi", "status", "grade"),
    [
        ("18.4", "underweight", None),
        ("18.5", "normal", None),
        ("22.9", "normal", None),
        ("23.0", "normal", None),
        ("24.9", "normal", None),
        ("25.0", "overweight", None),
        ("29.9", "overweight", None),
        ("30.0", "obesity", 1),
        ("34.9", "obesity", 1),
        ("35.0", "obesity", 2),
        ("39.9", "obesity", 2),
        ("40.0", "obesity", 3),
    ],
)
def test_bmi_bands_standard_height(ruleset, bmi, status, grade):
    out = run(ruleset, sex="female", weight_kg=weight_for(bmi, "200"), height_cm=200)
    assert out["bmi"] == float(bmi)
    assert (out["weight_status"], out["obesity_grade"]) == (status, grade)


@pytest.mark.parametrize(
    ("bmi", "nom", "aha"),
    [
        ("18.4", "underweight", "underweight"),
        ("18.5", "normal", "normal"),
        ("22.9", "normal", "normal"),
        ("23.0", "overweight", "normal"),
        ("24.9", "overweight", "normal"),
        ("25.0", "obesity", "overweight"),
        ("29.9", "obesity", "overweight"),
        ("30.0", "obesity", "obesity"),
    ],
)
@pytest.mark.parametrize(("sex", "height"), [("female", "145"), ("male", "155")])
def test_bmi_bands_short_stature(bmi, nom, aha, sex, height):
    w = weight_for(bmi, height)
    assert run("nom", sex=sex, weight_kg=w, height_cm=float(height))["weight_status"] == nom
    assert run("aha_ada", sex=sex, weight_kg=w, height_cm=float(height))["weight_status"] == aha


def test_short_stature_obesity_has_no_grade():
    out = run(sex="female", weight_kg=weight_for("27.0", "145"), height_cm=145)
    assert (out["weight_status"], out["obesity_grade"]) == ("obesity", None)
    assert out["overall"]["obesity"] == "probable_disease"
    assert "short_stature" in [a["code"] for a in out["alerts"]]


@pytest.mark.parametrize(
    ("sex", "height", "nom"),
    [
        ("female", 149.9, "overweight"),
        ("female", 150.0, "normal"),  # exactly 150.0 is not short (G5)
        ("female", 150, "normal"),
        ("male", 159.9, "overweight"),
        ("male", 160.0, "normal"),  # exactly 160.0 is not short
        ("male", 160, "normal"),
    ],
)
def test_short_stature_is_strict(sex, height, nom):
    weight = weight_for("24.0", str(height))
    out = run("nom", sex=sex, weight_kg=weight, height_cm=height)
    assert out["bmi"] == 24.0
    assert out["weight_status"] == nom
    assert run("aha_ada", sex=sex, weight_kg=weight, height_cm=height)["weight_status"] == "normal"


def test_short_stature_at_150_and_160_obesity_side():
    # BMI 27.0: obesity if short, overweight otherwise
    for sex, short, tall in (("female", 149.9, 150), ("male", 159.9, 160)):
        assert (
            run(sex=sex, weight_kg=weight_for("27.0", str(short)), height_cm=short)["weight_status"]
            == "obesity"
        )
        assert (
            run(sex=sex, weight_kg=weight_for("27.0", str(tall)), height_cm=tall)["weight_status"]
            == "overweight"
        )


def test_woman_between_150_and_160_is_not_short():
    out = run(sex="female", weight_kg=weight_for("24.0", "155"), height_cm=155)
    assert out["weight_status"] == "normal"
    out = run(sex="male", weight_kg=weight_for("24.0", "155"), height_cm=155)
    assert out["weight_status"] == "overweight"


# --------------------------------------------------------------------------- waist


@pytest.mark.parametrize("ruleset", ["nom", "aha_ada"])
@pytest.mark.parametrize(
    ("sex", "waist", "risk"),
    [
        ("female", 79.9, "normal"),
        ("female", 80, "high"),
        ("female", 80.0, "high"),
        ("male", 80, "normal"),
        ("male", 89.9, "normal"),
        ("male", 90, "high"),
    ],
)
def test_waist_idf_latam(ruleset, sex, waist, risk):
    assert run(ruleset, sex=sex, waist_cm=waist)["waist_risk"] == risk


@pytest.mark.parametrize(
    ("sex", "waist", "risk"),
    [
        ("female", 87.9, "normal"),
        ("female", 88, "high"),
        ("male", 101.9, "normal"),
        ("male", 102, "high"),
    ],
)
def test_waist_atp3_profile(sex, waist, risk):
    options = ClassifyOptions(waist_profile=WaistProfile.ATP3)
    assert classify({"sex": sex, "waist_cm": waist}, options=options).waist_risk == risk


def test_high_waist_alone_is_at_risk():
    out = run(sex="female", weight_kg=weight_for("22.0", "165"), height_cm=165, waist_cm=80)
    assert out["weight_status"] == "normal"
    assert out["overall"]["obesity"] == "at_risk"
    out = run(sex="female", weight_kg=weight_for("22.0", "165"), height_cm=165, waist_cm=79.9)
    assert out["overall"]["obesity"] == "healthy"


def test_underweight_is_healthy_in_the_obesity_domain():
    out = run(sex="female", weight_kg=weight_for("18.4", "165"), height_cm=165, waist_cm=60)
    assert out["weight_status"] == "underweight"
    assert out["overall"]["obesity"] == "healthy"
    assert "evaluate_underweight" in [r["code"] for r in out["recommendations"]]


@pytest.mark.parametrize(
    ("waist", "height", "ratio", "risk"),
    [
        (79, 160, 0.49, "normal"),  # 0.49375
        (79.1, 160, 0.49, "normal"),  # 0.494375
        (79.2, 160, 0.50, "high"),  # 0.495 rounds half-up
        (80, 160, 0.50, "high"),
        (99, 180, 0.55, "high"),
    ],
)
def test_waist_to_height_ratio(waist, height, ratio, risk):
    out = run(sex="male", waist_cm=waist, height_cm=height)
    assert (out["waist_to_height_ratio"], out["waist_to_height_risk"]) == (ratio, risk)


# --------------------------------------------------------------------------- blood pressure

NOM_BP = [
    (119, 79, "optimal", "healthy", False),
    (120, 79, "normal", "healthy", False),
    (119, 80, "normal", "healthy", False),
    (129, 80, "normal", "healthy", False),
    (129, 84, "normal", "healthy", False),
    (130, 80, "high_normal", "at_risk", False),
    (129, 85, "high_normal", "at_risk", False),
    (139, 89, "high_normal", "at_risk", False),
    (140, 89, "hypertension_grade_1", "probable_disease", False),
    (139, 90, "hypertension_grade_1", "probable_disease", False),
    (140, 90, "hypertension_grade_1", "probable_disease", False),
    (150, 85, "hypertension_grade_1", "probable_disease", False),  # isolated systolic
    (159, 99, "hypertension_grade_1", "probable_disease", False),
    (160, 99, "hypertension_grade_2", "probable_disease", False),
    (159, 100, "hypertension_grade_2", "probable_disease", False),
    (179, 109, "hypertension_grade_2", "probable_disease", False),
    (180, 109, "hypertension_grade_3", "probable_disease", True),
    (179, 110, "hypertension_grade_3", "probable_disease", True),
    (180, 110, "hypertension_grade_3", "probable_disease", True),
    (180, 120, "hypertension_grade_3", "probable_disease", True),
    (181, 121, "hypertension_grade_3", "probable_disease", True),
    (110, 100, "hypertension_grade_2", "probable_disease", False),  # highest wins
]

AHA_BP = [
    (119, 79, "normal", "healthy", False),
    (120, 79, "elevated", "at_risk", False),
    (129, 79, "elevated", "at_risk", False),
    (119, 80, "hypertension_stage_1", "probable_disease", False),
    (129, 80, "hypertension_stage_1", "probable_disease", False),
    (130, 79, "hypertension_stage_1", "probable_disease", False),
    (130, 80, "hypertension_stage_1", "probable_disease", False),
    (139, 89, "hypertension_stage_1", "probable_disease", False),
    (140, 89, "hypertension_stage_2", "probable_disease", False),
    (139, 90, "hypertension_stage_2", "probable_disease", False),
    (140, 90, "hypertension_stage_2", "probable_disease", False),
    (180, 110, "hypertension_stage_2", "probable_disease", False),
    (180, 120, "hypertension_stage_2", "probable_disease", False),  # strict: not a crisis
    (181, 120, "hypertensive_crisis", "probable_disease", True),
    (180, 121, "hypertensive_crisis", "probable_disease", True),
    (181, 121, "hypertensive_crisis", "probable_disease", True),
    (110, 100, "hypertension_stage_2", "probable_disease", False),  # highest wins
]


@pytest.mark.parametrize(("sbp", "dbp", "category", "domain", "urgent"), NOM_BP)
def test_bp_nom(sbp, dbp, category, domain, urgent):
    out = run("nom", systolic=sbp, diastolic=dbp)
    assert out["bp_category"] == category
    assert out["overall"]["hypertension"] == domain
    assert out["overall"]["urgent_attention"] is urgent


@pytest.mark.parametrize(("sbp", "dbp", "category", "domain", "urgent"), AHA_BP)
def test_bp_aha_ada(sbp, dbp, category, domain, urgent):
    out = run("aha_ada", systolic=sbp, diastolic=dbp)
    assert out["bp_category"] == category
    assert out["overall"]["hypertension"] == domain
    assert out["overall"]["urgent_attention"] is urgent


def test_180_over_120_urgent_under_nom_only():
    nom = run("nom", systolic=180, diastolic=120)
    aha = run("aha_ada", systolic=180, diastolic=120)
    assert nom["overall"]["urgent_attention"] is True
    assert aha["overall"]["urgent_attention"] is False
    assert "severe_hypertension" in [a["code"] for a in nom["alerts"]]
    assert not [a for a in aha["alerts"] if a["severity"] == "urgent"]


def test_non_integer_pressure_falls_where_it_is():
    assert run("aha_ada", systolic=180.5, diastolic=100)["bp_category"] == "hypertensive_crisis"
    assert run("nom", systolic=139.5, diastolic=80)["bp_category"] == "high_normal"


@pytest.mark.parametrize(
    ("ruleset", "sbp", "dbp", "status"),
    [
        ("nom", 139, 89, "known_controlled"),
        ("nom", 140, 89, "known_uncontrolled"),
        ("nom", 139, 90, "known_uncontrolled"),
        ("nom", 135, 85, "known_controlled"),
        ("aha_ada", 129, 79, "known_controlled"),
        ("aha_ada", 130, 79, "known_uncontrolled"),
        ("aha_ada", 129, 80, "known_uncontrolled"),
        ("aha_ada", 135, 85, "known_uncontrolled"),
    ],
)
def test_known_hypertension_control(ruleset, sbp, dbp, status):
    out = run(ruleset, systolic=sbp, diastolic=dbp, known_diagnoses=["hypertension"])
    assert out["overall"]["hypertension"] == status


# --------------------------------------------------------------------------- glucose

GLUCOSE = [
    # (value, context, category, domain, urgent)
    (53, "fasting", "hypoglycemia_level_2", "needs_evaluation", True),
    (54, "fasting", "hypoglycemia_level_1", "needs_evaluation", True),
    (69, "fasting", "hypoglycemia_level_1", "needs_evaluation", True),
    (70, "fasting", "normal", "healthy", False),
    (99, "fasting", "normal", "healthy", False),
    (100, "fasting", "prediabetes", "at_risk", False),
    (125, "fasting", "prediabetes", "at_risk", False),
    (126, "fasting", "probable_diabetes", "probable_disease", False),
    (53, "casual", "hypoglycemia_level_2", "needs_evaluation", True),
    (54, "casual", "hypoglycemia_level_1", "needs_evaluation", True),
    (69, "casual", "hypoglycemia_level_1", "needs_evaluation", True),
    (70, "casual", "normal", "healthy", False),
    (126, "casual", "normal", "healthy", False),
    (139, "casual", "normal", "healthy", False),
    (140, "casual", "prediabetes", "at_risk", False),
    (199, "casual", "prediabetes", "at_risk", False),
    (200, "casual", "probable_diabetes", "probable_disease", False),
    (249, "casual", "probable_diabetes", "probable_disease", False),
    (250, "casual", "probable_diabetes", "probable_disease", True),
    (249, "fasting", "probable_diabetes", "probable_disease", False),
    (250, "fasting", "probable_diabetes", "probable_disease", True),
]


@pytest.mark.parametrize("ruleset", ["nom", "aha_ada"])
@pytest.mark.parametrize(("glucose", "context", "category", "domain", "urgent"), GLUCOSE)
def test_glucose(ruleset, glucose, context, category, domain, urgent):
    out = run(ruleset, glucose_mg_dl=glucose, glucose_context=context)
    assert out["glucose_category"] == category
    assert out["overall"]["diabetes"] == domain
    assert out["overall"]["urgent_attention"] is urgent


def test_non_integer_glucose():
    assert run(glucose_mg_dl=99.5, glucose_context="fasting")["glucose_category"] == "normal"
    assert run(glucose_mg_dl=125.9, glucose_context="fasting")["glucose_category"] == "prediabetes"
    assert run(glucose_mg_dl=69.9, glucose_context="fasting")["glucose_category"] == (
        "hypoglycemia_level_1"
    )


@pytest.mark.parametrize(("threshold", "below", "at"), [(250, 249, 250), (300, 299, 300)])
def test_urgent_glucose_threshold_is_configurable(threshold, below, at):
    options = ClassifyOptions(urgent_glucose_high=threshold)
    low = classify({"glucose_mg_dl": below, "glucose_context": "casual"}, options=options)
    high = classify({"glucose_mg_dl": at, "glucose_context": "casual"}, options=options)
    assert low.overall.urgent_attention is False
    assert high.overall.urgent_attention is True
    alert = next(a for a in high.alerts if a.code == "severe_hyperglycemia")
    assert str(threshold) in alert.text.es
    assert high.to_json()["ruleset"]["options"]["urgent_glucose_high"] == threshold


@pytest.mark.parametrize(
    ("a1c", "category"),
    [(5.6, "normal"), (5.7, "prediabetes"), (6.4, "prediabetes"), (6.5, "probable_diabetes")],
)
def test_hba1c_screening_aha_ada(a1c, category):
    aha = run("aha_ada", hba1c=a1c)
    assert aha["glucose_category"] == category
    # nom does not screen with HbA1c
    assert run("nom", hba1c=a1c)["glucose_category"] is None


@pytest.mark.parametrize(
    ("glucose", "context", "a1c", "category"),
    [
        (90, "fasting", 5.8, "prediabetes"),  # HbA1c higher
        (110, "fasting", 5.5, "prediabetes"),  # glucose higher
        (130, "fasting", 5.8, "probable_diabetes"),
        (90, "fasting", 6.5, "probable_diabetes"),
        (150, "casual", 5.0, "prediabetes"),
        (60, "fasting", 6.8, "hypoglycemia_level_1"),  # hypoglycemia is never overridden
    ],
)
def test_hba1c_and_glucose_higher_wins_aha_ada(glucose, context, a1c, category):
    out = run("aha_ada", glucose_mg_dl=glucose, glucose_context=context, hba1c=a1c)
    assert out["glucose_category"] == category
    nom = run("nom", glucose_mg_dl=glucose, glucose_context=context, hba1c=a1c)
    assert (
        nom["glucose_category"]
        == run("nom", glucose_mg_dl=glucose, glucose_context=context)["glucose_category"]
    )


@pytest.mark.parametrize("ruleset", ["nom", "aha_ada"])
@pytest.mark.parametrize(
    ("inp", "status"),
    [
        ({"hba1c": 6.9, "glucose_mg_dl": 200, "glucose_context": "casual"}, "known_controlled"),
        ({"hba1c": 7.0, "glucose_mg_dl": 100, "glucose_context": "fasting"}, "known_uncontrolled"),
        ({"hba1c": 6.0, "glucose_mg_dl": 65, "glucose_context": "fasting"}, "known_uncontrolled"),
        ({"glucose_mg_dl": 70, "glucose_context": "fasting"}, "known_controlled"),
        ({"glucose_mg_dl": 130, "glucose_context": "fasting"}, "known_controlled"),
        ({"glucose_mg_dl": 131, "glucose_context": "fasting"}, "known_uncontrolled"),
        ({"glucose_mg_dl": 69, "glucose_context": "fasting"}, "known_uncontrolled"),
        ({"glucose_mg_dl": 179, "glucose_context": "casual"}, "known_controlled"),
        ({"glucose_mg_dl": 180, "glucose_context": "casual"}, "known_uncontrolled"),
        ({"glucose_mg_dl": 120}, "known_controlled"),  # both goals agree
        ({"glucose_mg_dl": 150}, None),  # fasting says no, casual says yes
        ({"glucose_mg_dl": 190}, "known_uncontrolled"),
        ({}, None),
    ],
)
def test_known_diabetes_control(ruleset, inp, status):
    out = run(ruleset, known_diagnoses=["diabetes"], **inp)
    assert out["overall"]["diabetes"] == status


def test_known_diabetes_glucose_category_is_descriptive():
    out = run(
        "aha_ada",
        known_diagnoses=["diabetes"],
        glucose_mg_dl=90,
        glucose_context="fasting",
        hba1c=8.0,
    )
    assert out["glucose_category"] == "normal"  # HbA1c ignored for the category
    assert out["overall"]["diabetes"] == "known_uncontrolled"
    assert out["findrisc"] is None


def test_known_diabetes_hypoglycemia_is_urgent():
    out = run(known_diagnoses=["diabetes"], glucose_mg_dl=60, glucose_context="casual")
    assert out["glucose_category"] == "hypoglycemia_level_1"
    assert out["overall"]["diabetes"] == "known_uncontrolled"
    assert out["overall"]["urgent_attention"] is True


# --------------------------------------------------------------------------- other known diagnoses


@pytest.mark.parametrize(
    ("bmi", "status"), [("29.9", "known_controlled"), ("30.0", "known_uncontrolled")]
)
def test_known_obesity_control(bmi, status):
    out = run(
        sex="male", weight_kg=weight_for(bmi, "180"), height_cm=180, known_diagnoses=["obesity"]
    )
    assert out["overall"]["obesity"] == status


def test_known_obesity_short_stature_uses_bmi_30():
    # spec 3.3 open point: the brief's BMI < 30 is kept even for short stature
    out = run(
        sex="female",
        weight_kg=weight_for("27.0", "145"),
        height_cm=145,
        known_diagnoses=["obesity"],
    )
    assert out["weight_status"] == "obesity"
    assert out["overall"]["obesity"] == "known_controlled"


@pytest.mark.parametrize(
    ("total", "ldl", "status"),
    [
        (199, 99, "known_controlled"),
        (200, 99, "known_uncontrolled"),
        (199, 100, "known_uncontrolled"),
        (None, 99, None),
        (None, 100, "known_uncontrolled"),
        (None, None, None),
    ],
)
def test_known_dyslipidemia_control(total, ldl, status):
    inp = {"known_diagnoses": ["dyslipidemia"], "total_cholesterol": total, "ldl": ldl}
    assert run(**inp)["overall"]["dyslipidemia"] == status


def test_lipids_without_known_dyslipidemia_are_not_classified():
    assert run(total_cholesterol=300, ldl=200)["overall"]["dyslipidemia"] is None

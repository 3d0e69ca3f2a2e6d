"""Hypothesis properties: monotone categories, determinism, key-order independence, no guesses."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cart.classify import bmi_value, classify

RULESETS = st.sampled_from(["nom", "aha_ada"])

# Orders written out from the specification, not taken from the code under test.
WEIGHT_ORDER = ["underweight", "normal", "overweight", "obesity"]
WAIST_ORDER = ["normal", "high"]
BP_ORDER = {
    "nom": [
        "optimal",
        "normal",
        "high_normal",
        "hypertension_grade_1",
        "hypertension_grade_2",
        "hypertension_grade_3",
    ],
    "aha_ada": [
        "normal",
        "elevated",
        "hypertension_stage_1",
        "hypertension_stage_2",
        "hypertensive_crisis",
    ],
}
GLUCOSE_ORDER = [
    "hypoglycemia_level_2",
    "hypoglycemia_level_1",
    "normal",
    "prediabetes",
    "probable_diabetes",
]
DOMAIN_ORDER = ["healthy", "at_risk", "probable_disease"]


def tenths(low: int, high: int) -> st.SearchStrategy[float]:
    """Values with one decimal, as devices report them."""
    return st.integers(low * 10, high * 10).map(lambda n: n / 10)


def rank(order: list[str], value: object) -> int:
    assert isinstance(value, str), value
    return order.index(value)


@given(
    RULESETS, st.sampled_from(["female", "male"]), tenths(120, 210), tenths(20, 200), tenths(0, 50)
)
def test_more_weight_never_lowers_weight_status(ruleset, sex, height, weight, extra):
    assume(weight + extra <= 300)
    low = classify({"sex": sex, "height_cm": height, "weight_kg": weight}, ruleset)
    high = classify({"sex": sex, "height_cm": height, "weight_kg": weight + extra}, ruleset)
    assert rank(WEIGHT_ORDER, high.weight_status) >= rank(WEIGHT_ORDER, low.weight_status)
    assert (high.obesity_grade or 0) >= (low.obesity_grade or 0)
    assert high.bmi is not None
    assert low.bmi is not None
    assert high.bmi >= low.bmi


@given(RULESETS, st.sampled_from(["female", "male"]), tenths(30, 200), tenths(0, 40))
def test_more_waist_never_lowers_waist_risk(ruleset, sex, waist, extra):
    low = classify({"sex": sex, "waist_cm": waist}, ruleset)
    high = classify({"sex": sex, "waist_cm": waist + extra}, ruleset)
    assert rank(WAIST_ORDER, high.waist_risk) >= rank(WAIST_ORDER, low.waist_risk)


@given(RULESETS, st.integers(50, 300), st.integers(20, 200), st.integers(0, 60), st.integers(0, 60))
def test_higher_pressure_never_lowers_bp_category(ruleset, sbp, dbp, d_sbp, d_dbp):
    assume(dbp < sbp and sbp + d_sbp <= 300 and dbp + d_dbp <= 200 and dbp + d_dbp < sbp + d_sbp)
    low = classify({"systolic": sbp, "diastolic": dbp}, ruleset)
    high = classify({"systolic": sbp + d_sbp, "diastolic": dbp + d_dbp}, ruleset)
    order = BP_ORDER[ruleset]
    assert rank(order, high.bp_category) >= rank(order, low.bp_category)
    assert rank(DOMAIN_ORDER, high.overall.hypertension) >= rank(
        DOMAIN_ORDER, low.overall.hypertension
    )
    assert high.overall.urgent_attention >= low.overall.urgent_attention


@given(
    RULESETS,
    st.sampled_from(["fasting", "casual"]),
    st.integers(10, 800),
    st.integers(0, 200),
    st.one_of(st.none(), tenths(3, 20)),
)
def test_higher_glucose_never_lowers_glucose_category(ruleset, context, glucose, extra, a1c):
    assume(glucose + extra <= 800)
    base = {"glucose_context": context, "hba1c": a1c}
    low = classify({**base, "glucose_mg_dl": glucose}, ruleset)
    high = classify({**base, "glucose_mg_dl": glucose + extra}, ruleset)
    assert rank(GLUCOSE_ORDER, high.glucose_category) >= rank(GLUCOSE_ORDER, low.glucose_category)


@given(st.sampled_from(["fasting", "casual"]), st.integers(70, 800), tenths(3, 20), tenths(0, 5))
def test_higher_hba1c_never_lowers_glucose_category(context, glucose, a1c, extra):
    assume(a1c + extra <= 20)
    base = {"glucose_context": context, "glucose_mg_dl": glucose}
    low = classify({**base, "hba1c": a1c}, "aha_ada")
    high = classify({**base, "hba1c": round(a1c + extra, 1)}, "aha_ada")
    assert rank(GLUCOSE_ORDER, high.glucose_category) >= rank(GLUCOSE_ORDER, low.glucose_category)


@given(st.integers(200, 3000), st.integers(400, 2300))
def test_bmi_matches_exact_integer_arithmetic(weight_tenths, height_tenths):
    # BMI = (w/10) / (h/1000)**2 = w * 10**5 / h**2; half-up to one decimal, integers only
    numerator = weight_tenths * 10**5 * 10
    denominator = height_tenths**2
    expected = (2 * numerator + denominator) // (2 * denominator)
    assert bmi_value(weight_tenths / 10, height_tenths / 10) == Decimal(expected) / 10


# --------------------------------------------------------------------------- whole inputs

FINDRISC = st.fixed_dictionaries(
    {},
    optional={
        "physical_activity_30min_daily": st.booleans(),
        "vegetables_fruit_daily": st.booleans(),
        "antihypertensive_medication": st.booleans(),
        "high_glucose_history": st.booleans(),
        "family_history_diabetes": st.sampled_from(["none", "second_degree", "first_degree"]),
    },
)


@st.composite
def screenings(draw: st.DrawFn) -> dict[str, Any]:
    data = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "sex": st.sampled_from(["female", "male"]),
                "age": st.integers(20, 100),
                "weight_kg": tenths(30, 200),
                "height_cm": tenths(130, 200),
                "waist_cm": tenths(55, 150),
                "systolic": st.integers(80, 240),
                "diastolic": st.integers(40, 79),
                "glucose_mg_dl": st.integers(30, 600),
                "glucose_context": st.sampled_from(["fasting", "casual"]),
                "known_diagnoses": st.lists(
                    st.sampled_from(["diabetes", "hypertension", "obesity", "dyslipidemia"]),
                    unique=True,
                ),
                "hba1c": tenths(4, 14),
                "total_cholesterol": st.integers(150, 350),
                "ldl": st.integers(50, 149),
                "findrisc": FINDRISC,
            },
        )
    )
    if "diastolic" in data and draw(st.booleans()):
        data["diastolic"] += 40  # reach the higher diastolic bands too
    if data.get("diastolic", 0) >= data.get("systolic", 1000):
        del data["diastolic"]
    return data


@settings(max_examples=200)
@given(RULESETS, screenings(), st.randoms(use_true_random=False))
def test_deterministic_and_independent_of_key_order(ruleset, data, rnd: random.Random):
    first = classify(data, ruleset).to_json()
    keys = list(data)
    rnd.shuffle(keys)
    shuffled = {k: data[k] for k in keys}
    if "findrisc" in shuffled:
        inner = list(shuffled["findrisc"].items())
        rnd.shuffle(inner)
        shuffled["findrisc"] = dict(inner)
    if "known_diagnoses" in shuffled:
        shuffled["known_diagnoses"] = rnd.sample(
            data["known_diagnoses"], len(data["known_diagnoses"])
        )
    second = classify(shuffled, ruleset).to_json()
    assert json.dumps(first, sort_keys=False) == json.dumps(second, sort_keys=False)
    assert classify(data, ruleset) == classify(data, ruleset)


LABELS = ("weight_status", "waist_risk", "bp_category", "glucose_category", "obesity_grade")
DOMAINS = ("obesity", "hypertension", "diabetes", "dyslipidemia")


@settings(max_examples=300)
@given(RULESETS, screenings(), st.data())
def test_missing_data_never_guesses(ruleset, data, draw):
    """Dropping a field may turn an output into null, never into a different value."""
    assume(data)
    dropped = draw.draw(st.sampled_from(sorted(data)))
    partial = {k: v for k, v in data.items() if k != dropped}
    full_out = classify(data, ruleset).to_json()
    part_out = classify(partial, ruleset).to_json()
    # Documented exception: glucose and HbA1c are tests of their own; the category
    # combines the ones that were done (aha_ada screening, known-diabetes control), so
    # dropping one of the two may change it.
    hba1c_alone = dropped in ("glucose_mg_dl", "hba1c") and {"glucose_mg_dl", "hba1c"} <= set(data)
    skip = {"known_diagnoses"} | ({"glucose_category", "diabetes"} if hba1c_alone else set())
    for key in LABELS:
        if part_out[key] is not None and dropped not in skip and key not in skip:
            assert part_out[key] == full_out[key], (key, dropped)
    if dropped not in ("known_diagnoses", "hba1c", "total_cholesterol", "ldl"):
        for key in DOMAINS:
            if part_out["overall"][key] is not None and key not in skip:
                assert part_out["overall"][key] == full_out["overall"][key], (key, dropped)
    if part_out["overall"]["urgent_attention"] and dropped != "known_diagnoses":
        assert full_out["overall"]["urgent_attention"]


@settings(max_examples=200)
@given(RULESETS, screenings())
def test_urgent_attention_matches_its_triggers(ruleset, data):
    out = classify(data, ruleset).to_json()
    glucose = data.get("glucose_mg_dl")
    sbp, dbp = data.get("systolic"), data.get("diastolic")
    if ruleset == "nom":
        bp_urgent = (sbp is not None and sbp >= 180) or (dbp is not None and dbp >= 110)
    else:
        bp_urgent = (sbp is not None and sbp > 180) or (dbp is not None and dbp > 120)
    glucose_urgent = glucose is not None and (glucose < 70 or glucose >= 250)
    assert out["overall"]["urgent_attention"] is (bp_urgent or glucose_urgent)
    urgent_alerts = [a for a in out["alerts"] if a["severity"] == "urgent"]
    assert bool(urgent_alerts) is out["overall"]["urgent_attention"]

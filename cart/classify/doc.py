"""Render ``docs/classification.md`` from the rule tables (pure: returns a string).

``scripts/gen_classification_doc.py`` writes the file; a test fails when the committed
file differs from :func:`render_markdown`, so the document never drifts from the code.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable
from typing import Any

from cart.classify.engine import classify
from cart.classify.labels import (
    Diagnosis,
    Domain,
    FamilyHistory,
    FindriscRisk,
    GlucoseCategory,
    GlucoseContext,
    RuleSetId,
    Severity,
    Sex,
    WaistProfile,
    WaistRisk,
    WeightStatus,
)
from cart.classify.model import NUMERIC_FIELDS, FindriscAnswers
from cart.classify.references import REFERENCES
from cart.classify.rules import BandTable, Criterion, Threshold
from cart.classify.tables import (
    DIABETES_CONTROL_CASUAL,
    DIABETES_CONTROL_FASTING,
    DIABETES_CONTROL_HBA1C,
    FINDRISC_AGE,
    FINDRISC_ANSWERS,
    FINDRISC_BMI,
    FINDRISC_RISK,
    FINDRISC_WAIST,
    GLUCOSE_DOMAIN,
    ISOLATED_SYSTOLIC,
    LIPID_CONTROL,
    NOM_SHORT_STATURE,
    OBESITY_CONTROL,
    OBESITY_GRADE,
    RULESETS,
    URGENT_GLUCOSE_HIGH,
    URGENT_GLUCOSE_LOW,
    WAIST_TABLES,
    WHTR,
    RuleSet,
)
from cart.classify.texts import ALERTS, RECOMMENDATIONS

__all__ = ["EXAMPLE_INPUT", "render_markdown"]

#: The worked example shown in the document (run through the real classifier).
EXAMPLE_INPUT: dict[str, Any] = {
    "sex": "female",
    "age": 52,
    "weight_kg": 76.8,
    "height_cm": 160,
    "waist_cm": 92,
    "systolic": 142,
    "diastolic": 86,
    "glucose_mg_dl": 151,
    "glucose_context": "casual",
    "known_diagnoses": [],
    "findrisc": {
        "physical_activity_30min_daily": False,
        "vegetables_fruit_daily": True,
        "antihypertensive_medication": False,
        "high_glucose_history": False,
        "family_history_diabetes": "second_degree",
    },
}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _row(*cells: object) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    head = list(header)
    lines = [_row(*head), "|" + "---|" * len(head)]
    lines.extend(_row(*r) for r in rows)
    return lines


def _label(value: object) -> str:
    if value is None:
        return "`null`"
    if isinstance(value, tuple):
        return ", ".join(_label(v) for v in value)
    if hasattr(value, "value"):
        return f"`{value.value}`"
    return f"`{value}`"


def _refs(refs: Iterable[str]) -> str:
    return ", ".join(f"[{r}](#{r.replace('_', '-')})" for r in dict.fromkeys(refs))


def _band_table(table: BandTable[Any]) -> list[str]:
    unit = f" ({table.unit})" if table.unit else ""
    lines = [f"#### {table.title}", "", f"Table id `{table.id}`.", ""]
    lines += _table(
        ("label", f"{table.quantity}{unit}", "source", "refs"),
        ((_label(b.label), b.describe(), b.citation, _refs(b.refs)) for b in table.bands),
    )
    if table.note:
        lines += ["", table.note]
    return [*lines, ""]


def _threshold_rows(items: Iterable[Threshold]) -> list[tuple[str, str, str]]:
    return [(t.describe(), t.citation, _refs(t.refs)) for t in items]


def _criterion(criterion: Criterion) -> list[str]:
    lines = [f"#### {criterion.title}", "", f"Rule id `{criterion.id}`: all must hold.", ""]
    lines += _table(("condition", "source", "refs"), _threshold_rows(criterion.all_of))
    return [*lines, ""]


def _mapping(rows: Iterable[tuple[Hashable, Domain]], what: str) -> list[str]:
    return _table((what, "`overall` label"), ((_label(a), _label(b)) for a, b in rows))


def _vocabulary(nom: RuleSet, aha: RuleSet) -> list[str]:
    rows: list[tuple[str, Iterable[object]]] = [
        ("`weight_status`", WeightStatus),
        ("`waist_risk`, `waist_to_height_risk`", WaistRisk),
        ("`bp_category` (`nom`)", nom.bp_labels),
        ("`bp_category` (`aha_ada`)", aha.bp_labels),
        ("`glucose_category`", GlucoseCategory),
        ("`overall.*` (not `urgent_attention`)", Domain),
        ("`findrisc.risk`", FindriscRisk),
        ("alert `severity`", Severity),
    ]
    out = _table(
        ("field", "values"),
        ((name, ", ".join(_label(v) for v in values)) for name, values in rows),
    )
    out.append(_row("`obesity_grade`", "`null`, `1`, `2`, `3`"))
    out.append(_row("`overall.urgent_attention`", "`true`, `false`"))
    return out


def _input_section() -> list[str]:
    enums = [
        ("sex", "string", ", ".join(_label(s) for s in Sex), "needed for waist, short stature"),
        ("glucose_context", "string", ", ".join(_label(c) for c in GlucoseContext), ""),
        (
            "known_diagnoses",
            "list of strings",
            ", ".join(_label(d) for d in Diagnosis),
            "switches a domain to control status",
        ),
        ("findrisc", "object", "see below", "optional questionnaire answers"),
    ]
    rows: list[tuple[str, str, str, str]] = [
        (f"`{f.name}`", f"number, {f.unit}", f"{f.low} to {f.high}", f.why) for f in NUMERIC_FIELDS
    ]
    rows += [(f"`{n}`", t, v, why) for n, t, v, why in enums]
    lines = _table(("field", "type", "accepted", "why / notes"), rows)
    lines += [
        "",
        "`findrisc` object (every key optional; `null` is unanswered):",
        "",
    ]
    answer_rows = []
    for name in FindriscAnswers.__dataclass_fields__:
        kind = (
            ", ".join(_label(f) for f in FamilyHistory)
            if name == "family_history_diabetes"
            else "`true`, `false`"
        )
        answer_rows.append((f"`{name}`", kind))
    lines += _table(("key", "values"), answer_rows)
    return lines


_USAGE = """\
## Using it

* Python: `cart.classify.classify(input, ruleset="nom", *, options=None) -> Classification`.
  `input` is a `ClassificationInput` (frozen dataclass, validated on construction) or a
  JSON mapping (`cart.classify.input_from_json(mapping)` builds one and rejects unknown
  keys). `Classification.to_json()` gives the shape below. Options
  (`ClassifyOptions(urgent_glucose_high=250, waist_profile="idf_latam")`) are deployment
  knobs, not rule sets.
* CLI: `cart classify [--ruleset nom|aha_ada] [--urgent-glucose-high MG_DL]
  [--waist-profile idf_latam|atp3] [--indent N]` reads the input JSON on stdin and prints
  the result JSON. Invalid input prints
  `{"error": {"type": "ValidationError", "field": ..., "message": ...}}` and exits 1
  (`field` is `input` when stdin is not a JSON object).
* HTTP: `POST /api/v1/classify?ruleset=nom|aha_ada` with the same input JSON as the body
  (the rule set is a **query parameter**, so the body is exactly the classifier input;
  default `nom`). The response is the same JSON. Invalid input is HTTP 422 with
  `{"detail": [{"loc": ["body", "<field>"], "msg": "...", "type": "..."}]}` naming the
  field (pydantic checks types and unknown keys, the classifier checks ranges).
* Errors are `cart.errors.ValidationError(field, reason)`: unknown keys, wrong types,
  negative or absurd values, unknown `sex`/`glucose_context`/diagnosis, age under 20,
  diastolic not below systolic, LDL above total cholesterol. A missing (or `null`)
  measurement is never an error: the outputs that need it are `null`.
"""

_CONVENTIONS: tuple[tuple[str, str], ...] = (
    (
        "G1",
        "Adults only: `age` under 20 is rejected (NOM-015 and NOM-030 detection from age 20 "
        "(§?); MIDO BMJ Open 2021 participants ≥ 20).",
    ),
    (
        "G2",
        "BMI = kg / m², computed exactly (fractions, never binary floats) and **rounded "
        "half-up to one decimal before it is classified**. 76.8 kg at 160 cm is 30.0 "
        "(floating point says 29.999999999999993). The reported `bmi` is the classified value.",
    ),
    (
        "G3",
        "Blood pressure: systolic and diastolic are classified separately and the **higher "
        "category wins**.",
    ),
    (
        "G4",
        'Bands are closed below and open above ("≥ x" opens a band, "< y" closes it) '
        "unless a row says otherwise. Values are compared as exact decimals, so non-integer "
        "inputs fall where they are (99.5 fasting is normal, 180.5 systolic is a crisis under "
        "`aha_ada`).",
    ),
    (
        "G5",
        "Short stature is strict: women < 150.0 cm, men < 160.0 cm; exactly 150.0 / 160.0 is "
        "not short. `nom` only.",
    ),
    (
        "G6",
        "A single-visit screen never diagnoses: positives are `probable_*` and the "
        "recommendations ask for confirmation.",
    ),
    (
        "G7",
        "Several BP readings are averaged before classification (by the caller); the input "
        "is one pair.",
    ),
    (
        "G8",
        "**No guesses.** A missing input widens the set of possible labels to every "
        "alternative; a label is reported only when every alternative agrees, else `null`. "
        "Examples: sex missing with a height of 155 cm and BMI 24.0 gives `weight_status` "
        "`null` (overweight if a woman, normal if a man), but BMI 22.0 gives `normal` either "
        "way; a missing `glucose_context` with 85 mg/dL is `normal` (both contexts agree) but "
        "110 mg/dL is `null`; a systolic of 185 with no diastolic is `hypertension_grade_3` "
        "under `nom` (nothing can be higher) but 150 alone is `null` (while "
        "`overall.hypertension` is still `probable_disease`, which every completion agrees on). "
        "One exception: glucose and HbA1c are screening tests of their own (ADA 2025 Table "
        "2.1); `glucose_category` and `overall.diabetes` combine the tests that were done, and "
        "a test that was not done is not treated as unknown (a glucose alone is classified "
        "under `aha_ada` although an HbA1c could have been higher; an HbA1c alone although a "
        "glucose could have shown hypoglycemia).",
    ),
)

_DIFFERENCES: tuple[tuple[str, str, str], ...] = (
    (
        "Short-stature BMI",
        "women < 150 / men < 160 cm: overweight 23.0-24.9, obesity ≥ 25.0",
        "none (WHO for all)",
    ),
    ("BP 120-129 / < 80", "`normal` → healthy", "`elevated` → at_risk"),
    ("BP 120-129 / 80-84", "`normal` → healthy", "`hypertension_stage_1` → probable_disease"),
    ("BP 130-139 / < 90", "`high_normal` → at_risk", "`hypertension_stage_1` → probable_disease"),
    ("BP ≥ 140 / ≥ 90", "grades 1-3", "`hypertension_stage_2` (crisis above 180/120)"),
    (
        "Urgent BP",
        "grade 3: ≥ 180 or ≥ 110 (180/120 is urgent)",
        "crisis: > 180 or > 120 (180/120 is not)",
    ),
    ("Hypertension control goal", "< 140/90", "< 130/80"),
    ("HbA1c for screening", "not used", "5.7 / 6.5 %, higher of glucose and HbA1c wins"),
    ("Glucose bands", "identical numbers", "identical (casual bands: service convention)"),
)

_DOMAINS_OBESITY: tuple[tuple[str, str, str], ...] = (
    ("`obesity` known and rounded BMI < 30.0", "`known_controlled`", "MIDO indicator (brief)"),
    ("`obesity` known and BMI ≥ 30.0", "`known_uncontrolled`", "MIDO indicator (brief)"),
    ("`weight_status` = `obesity`", "`probable_disease`", "NOM-008-SSA3-2017"),
    (
        "`weight_status` = `overweight` **or** `waist_risk` = `high`",
        "`at_risk`",
        "NOM-008; waist rows above",
    ),
    (
        "otherwise, including `underweight`",
        "`healthy` (underweight is reported in `weight_status` with its own recommendation)",
        "spec 3.3",
    ),
)

_DOMAINS_DIABETES = """\
### `overall.diabetes` (first match wins)

"""

_DIABETES_ROWS: tuple[tuple[str, str], ...] = (
    ("`diabetes` known and glucose < 70 mg/dL", "`known_uncontrolled` (and urgent)"),
    ("`diabetes` known and HbA1c given", "`known_controlled` iff HbA1c < 7.0 %"),
    ("`diabetes` known, no HbA1c, fasting", "`known_controlled` iff 70 ≤ glucose ≤ 130"),
    (
        "`diabetes` known, no HbA1c, casual",
        "`known_controlled` iff glucose < 180 (service convention)",
    ),
    ("`diabetes` known, no HbA1c, context missing", "the label both goals agree on, else `null`"),
    ("not known, `glucose_category` hypoglycemia", "`needs_evaluation` (and urgent)"),
    ("not known, otherwise", "mapped from `glucose_category` as below"),
)

_DIABETES_NOTE = """\
When diabetes is known, `glucose_category` is descriptive: the raw glucose band, HbA1c
ignored. Under `aha_ada`, with no known diabetes and an HbA1c, the category is the higher
of the glucose and HbA1c categories, except that a glucose below 70 is always reported as
hypoglycemia; with an HbA1c and no glucose, the HbA1c category alone.
"""

_DECISIONS = """\
## Decisions and deviations (read before clinical sign-off)

1. **Section numbers marked (§?)** were not checked against the DOF texts (spec section
   1); the numeric cut-offs are the standard ones. Check before quoting them to patients.
2. **NOM-008 overweight "< 29.9"** leaves a gap between 29.9 and 30.0; with BMI rounded to
   one decimal the band is read as 25.0 ≤ BMI < 30.0, as WHO (spec 3.1).
3. **Known obesity control** uses BMI < 30 for every height, as the MIDO brief says, even
   though NOM-008 calls a short person with BMI ≥ 25 obese (open point in spec 3.3).
4. **Missing data (G8)**: labels are reported only when every possible completion agrees.
   `overall.urgent_attention` stays a boolean: it is `true` when any measured value is
   urgent (a systolic of 185 alone is enough) and `false` means "nothing urgent among what
   was measured"; the `incomplete_screening` alert lists what is missing.
5. **Age** may be missing (DESIGN: any field may be); it only feeds FINDRISC. When given
   it must be 20-120.
6. **Validation ranges** are DESIGN section 2's plausibility ranges where it gives them
   (weight 2-300 kg, height 40-230 cm, systolic 50-300 mmHg, glucose 10-800 mg/dL) so
   that any reading a screening accepts can be classified; the others are physiological
   limits. Diastolic must be below systolic and LDL cannot exceed total cholesterol.
7. **Hypoglycemia vs HbA1c** (`aha_ada`): "keep the higher one" (spec 5.1 row 9) is
   applied to normal/prediabetes/probable_diabetes only; a glucose below 70 is reported as
   hypoglycemia whatever the HbA1c, because it is the urgent finding.
8. **Casual glucose under `aha_ada`** keeps the NOM-015 detection bands (140/200) as a
   service convention: ADA has no casual screening bands (spec 5.1 row 7).
9. **Hypertension with one reading missing**: `bp_category` follows G8; the isolated
   systolic hypertension flag (`nom`, an info alert, not a label) needs both values.
10. **Waist-to-height ratio** is rounded half-up to two decimals and then compared with
    0.50, the same convention as BMI (0.495 reports and classifies as 0.50, `high`).
11. **Waist profile `atp3`** uses ≥ 88 / ≥ 102 cm (AHA/NHLBI 2005 wording; ATP III wrote
    "> 88 / > 102"). It is a deployment option, never part of `aha_ada` (spec 3.2).
12. **FINDRISC** boundaries: BMI 25.0-30.0 inclusive scores 1 (30.0 → 1, 30.1 → 3); waist
    94-102 cm (men) / 80-88 cm (women) inclusive scores 3; age < 45 / 45-54 / 55-64 / ≥ 65
    (fractional ages fall in the band they are in). It uses the original Finnish waist
    cut-offs, not IDF's. The score and risk are `null` unless every item is known (the
    per-item points are always shown). FINDRISC is `null` when diabetes is known (it
    screens for undiagnosed diabetes). The "35-44 → 1" variant is not used.
13. **Dyslipidemia**: lipids are not measured by the cart; `overall.dyslipidemia` (an extra
    key) reports control status only when `dyslipidemia` is a known diagnosis (total
    cholesterol < 200 **and** LDL < 100). Without that diagnosis lipids are not classified,
    because the NOM-037 table could not be verified (spec 7).
14. **Output extras** beyond DESIGN section 6, all additive: `obesity_grade`,
    `waist_to_height_ratio`, `waist_to_height_risk`, `findrisc`, `overall.dyslipidemia` and
    `ruleset.options` (the deployment knobs in force, for traceability).
15. **Re-screening intervals** (`months`): ADA's 3 years for a normal glucose and yearly
    testing in prediabetes, and the ACC/AHA 2017 Table 23 intervals are published. The
    `nom` blood-pressure intervals (1 year for normal and high-normal) come from unverified
    notes on NOM-030 (spec 9) and are marked "not verified" below.
16. **Not implemented**: the JNC7 "prehypertension" profile (spec 11: configurable, no
    tests) and the WHO/Globorisk cardiovascular risk charts (portfolio, not in the issue).
17. **Rule-set choice on the API** is the `ruleset` query parameter (not a body field).
"""


def _recommendations() -> list[str]:
    rows = []
    for rule in RECOMMENDATIONS:
        rulesets = ", ".join(f"`{r.value}`" for r in sorted(rule.rulesets))
        months = "-" if rule.months is None else str(rule.months)
        if rule.months is not None and not rule.interval_verified:
            months += " (not verified)"
        rows.append(
            (f"`{rule.code}`", rule.domain, rule.when, rulesets, months, rule.es, _refs(rule.refs))
        )
    return _table(("code", "domain", "when", "rule sets", "months", "text (es)", "refs"), rows)


def _alerts() -> list[str]:
    rows = [(f"`{a.code}`", _label(a.severity), a.when, a.es) for a in ALERTS]
    return _table(("code", "severity", "when", "text (es)"), rows)


def _ruleset_section(rs: RuleSet) -> list[str]:
    lines = [f"### `{rs.id.value}` {rs.version}: {rs.title}", "", rs.description, ""]
    return lines


def _example() -> list[str]:
    result = classify(EXAMPLE_INPUT)
    body = json.dumps(result.to_json(), ensure_ascii=False, indent=2)
    return [
        "Worked example, generated by running the classifier (`nom`) on:",
        "",
        "```json",
        json.dumps(EXAMPLE_INPUT, ensure_ascii=False),
        "```",
        "",
        "```json",
        body,
        "```",
    ]


def render_markdown() -> str:
    """The whole of ``docs/classification.md``."""
    nom, aha = RULESETS[RuleSetId.NOM], RULESETS[RuleSetId.AHA_ADA]
    out: list[str] = [
        "# Risk classification (`cart/classify/`)",
        "",
        "<!-- Generated from cart/classify/tables.py by scripts/gen_classification_doc.py;",
        "     do not edit by hand (tests/classify fails when this file is stale). -->",
        "",
        "Turns one screening into the MIDO categories a nurse acts on. Pure and "
        "table-driven: every threshold below is a row in `cart/classify/tables.py` with "
        "its citation, and this page is generated from those rows. Specification: "
        "`classification-rules.md`; contract: DESIGN section 6.",
        "",
        _USAGE,
        "## Input",
        "",
        "Every field may be missing or `null`. Unknown keys are rejected.",
        "",
        *_input_section(),
        "",
        "## Output",
        "",
        "Keys in order: `ruleset` (`id`, `version`, `options`), `bmi`, `weight_status`, "
        "`obesity_grade`, `waist_risk`, `bp_category`, `glucose_category`, `overall` "
        "(`obesity`, `hypertension`, `diabetes`, `dyslipidemia`, `urgent_attention`), "
        "`alerts`, `recommendations`, `references`, then the extras "
        "`waist_to_height_ratio`, `waist_to_height_risk`, `findrisc`. "
        "An alert is `{code, severity, fields, text: {es, en}}`; a recommendation is "
        "`{code, domain, months, text: {es, en}, references: [id]}`; a reference is "
        "`{id, citation, url}` and lists only the sources of the rows that produced this "
        "result.",
        "",
        *_vocabulary(nom, aha),
        "",
        *_example(),
        "",
        "## General conventions (both rule sets)",
        "",
        *_table(("#", "rule"), _CONVENTIONS),
        "",
        "## Rule sets",
        "",
        *_ruleset_section(nom),
        *_ruleset_section(aha),
        "## Where `nom` and `aha_ada` differ",
        "",
        *_table(("topic", "`nom` (default)", "`aha_ada`"), _DIFFERENCES),
        "",
        "## 1. Anthropometry",
        "",
        "### Body-mass index and weight status",
        "",
        *_band_table(nom.bmi),
        *_band_table(_short_table(nom)),
        "#### Short stature (`nom`)",
        "",
        *_table(
            ("sex", "short stature if height (cm)", "source", "refs"),
            (
                (
                    _label(sex),
                    f"< {limit}",
                    NOM_SHORT_STATURE.citation,
                    _refs(NOM_SHORT_STATURE.refs),
                )
                for sex, limit in NOM_SHORT_STATURE.below_cm
            ),
        ),
        "",
        "When `sex` is missing and the height is between 150.0 and 159.9 cm, the weight status "
        "is reported only if both tables give the same label (G8).",
        "",
        *_band_table(aha.bmi),
        *_band_table(OBESITY_GRADE),
        "### Waist circumference (`waist_risk`, both rule sets)",
        "",
        f"Profile `{WaistProfile.IDF_LATAM.value}` is the default; `{WaistProfile.ATP3.value}` "
        "is a deployment option (`--waist-profile`, `ClassifyOptions.waist_profile`).",
        "",
        *(
            line
            for profile in WaistProfile
            for sex in Sex
            for line in _band_table(WAIST_TABLES[profile][sex])
        ),
        *_band_table(WHTR),
        "## 2. Blood pressure (`bp_category`; highest category wins)",
        "",
        *_band_table(nom.bp_systolic),
        *_band_table(nom.bp_diastolic),
        *_criterion(ISOLATED_SYSTOLIC),
        *_band_table(aha.bp_systolic),
        *_band_table(aha.bp_diastolic),
        "## 3. Glucose (`glucose_category`)",
        "",
        "Checked in table order; the hypoglycemia rows are the same in every table. When "
        "`glucose_context` is missing, the category is reported only if the fasting and casual "
        "tables agree (G8).",
        "",
        *_band_table(nom.glucose_fasting),
        *_band_table(nom.glucose_casual),
        *_band_table(aha.glucose_fasting),
        *_band_table(aha.glucose_casual),
        *_band_table(_hba1c_table(aha)),
        "## 4. MIDO domains (`overall`)",
        "",
        "### `overall.obesity` (first match wins)",
        "",
        *_table(("condition", "label", "source"), _DOMAINS_OBESITY),
        "",
        *_criterion(OBESITY_CONTROL),
        "### `overall.hypertension`",
        "",
        f"Without known hypertension, mapped from `bp_category` ({nom.bp_domain_citation}; "
        f"{aha.bp_domain_citation}):",
        "",
        *_mapping(nom.bp_domain, "`nom` category"),
        "",
        *_mapping(aha.bp_domain, "`aha_ada` category"),
        "",
        "With known hypertension: `known_controlled` iff the goal holds, else "
        "`known_uncontrolled` (`null` if a needed value is missing and the other one does "
        "not already fail).",
        "",
        *_criterion(nom.hypertension_control),
        *_criterion(aha.hypertension_control),
        _DOMAINS_DIABETES,
        *_table(("condition", "label"), _DIABETES_ROWS),
        "",
        _DIABETES_NOTE,
        *_mapping(GLUCOSE_DOMAIN, "`glucose_category` (no known diabetes)"),
        "",
        *_criterion(DIABETES_CONTROL_HBA1C),
        *_criterion(DIABETES_CONTROL_FASTING),
        *_criterion(DIABETES_CONTROL_CASUAL),
        "### `overall.dyslipidemia` (known dyslipidemia only, else `null`)",
        "",
        *_criterion(LIPID_CONTROL),
        "## 5. Urgent attention (`overall.urgent_attention`)",
        "",
        "A service policy: a same-day medical evaluation or referral from the cart. Any "
        "trigger makes it `true`.",
        "",
        *_table(
            ("trigger", "rule sets", "source", "refs"),
            [
                (
                    URGENT_GLUCOSE_LOW.describe(),
                    "both",
                    URGENT_GLUCOSE_LOW.citation,
                    _refs(URGENT_GLUCOSE_LOW.refs),
                ),
                (
                    URGENT_GLUCOSE_HIGH.describe() + " (default; configurable)",
                    "both",
                    URGENT_GLUCOSE_HIGH.citation,
                    _refs(URGENT_GLUCOSE_HIGH.refs),
                ),
                *(
                    (
                        "systolic or diastolic in "
                        + ", ".join(_label(c) for c in sorted(rs.bp_urgent)),
                        f"`{rs.id.value}`",
                        rs.bp_urgent_citation,
                        _refs(rs.bp_urgent_refs),
                    )
                    for rs in (nom, aha)
                ),
            ],
        ),
        "",
        "## 6. FINDRISC (portfolio extra, both rule sets)",
        "",
        "Finnish Diabetes Risk Score, 0-26 points. Age, BMI and waist come from the "
        "screening; the other items from the optional `findrisc` answers.",
        "",
        *_band_table(FINDRISC_AGE),
        *_band_table(FINDRISC_BMI),
        *_band_table(FINDRISC_WAIST[Sex.MALE]),
        *_band_table(FINDRISC_WAIST[Sex.FEMALE]),
        "#### FINDRISC points: questionnaire answers",
        "",
        *_table(
            ("item", "input", "answer", "points", "question", "refs"),
            (
                (
                    a.item,
                    f"`findrisc.{a.field}`",
                    _label(a.answer).lower(),
                    a.points,
                    a.wording,
                    _refs(("lindstrom_2003",)),
                )
                for a in FINDRISC_ANSWERS
            ),
        ),
        "",
        *_band_table(FINDRISC_RISK),
        "## 7. Alerts and recommendations",
        "",
        "Alerts are ordered urgent, warning, info. Every text exists in Spanish (`es`, shown "
        "here) and English (`en`).",
        "",
        *_alerts(),
        "",
        *_recommendations(),
        "",
        _DECISIONS,
        "## References",
        "",
        *(
            f'- <a id="{r.id.replace("_", "-")}"></a>`{r.id}`: {r.citation}'
            + (f" <{r.url}>" if r.url else "")
            for r in REFERENCES
        ),
        "",
    ]
    return "\n".join(out)


def _short_table(rs: RuleSet) -> BandTable[WeightStatus]:
    assert rs.bmi_short_stature is not None
    return rs.bmi_short_stature


def _hba1c_table(rs: RuleSet) -> BandTable[GlucoseCategory]:
    assert rs.hba1c_screening is not None
    return rs.hba1c_screening

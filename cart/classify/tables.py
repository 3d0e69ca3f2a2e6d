"""Every threshold the classifier uses, as cited tables, and the two rule sets.

This module is the single source of truth: the engine reads it, and
``docs/classification.md`` is generated from it (``scripts/gen_classification_doc.py``).
The specification is ``classification-rules.md``; its row numbers are quoted in the
citations where useful. Bands are closed below and open above (rule G4) unless a row
says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cart.classify.labels import (
    BpCategory,
    Domain,
    FamilyHistory,
    FindriscRisk,
    GlucoseCategory,
    RuleSetId,
    Sex,
    WaistProfile,
    WaistRisk,
    WeightStatus,
)
from cart.classify.rules import BandTable, Criterion, Threshold, band
from cart.errors import ValidationError

__all__ = [
    "BMI_NOM_SHORT",
    "BMI_NOM_STANDARD",
    "BMI_WHO",
    "BP_AHA_DIASTOLIC",
    "BP_AHA_SYSTOLIC",
    "BP_NOM_DIASTOLIC",
    "BP_NOM_SYSTOLIC",
    "DEFAULT_URGENT_GLUCOSE_HIGH",
    "DIABETES_CONTROL_CASUAL",
    "DIABETES_CONTROL_FASTING",
    "DIABETES_CONTROL_HBA1C",
    "FINDRISC_AGE",
    "FINDRISC_ANSWERS",
    "FINDRISC_BMI",
    "FINDRISC_RISK",
    "FINDRISC_WAIST",
    "GLUCOSE_DOMAIN",
    "HBA1C_ADA",
    "ISOLATED_SYSTOLIC",
    "LIPID_CONTROL",
    "NOM_SHORT_STATURE",
    "OBESITY_CONTROL",
    "OBESITY_GRADE",
    "RULESETS",
    "URGENT_GLUCOSE_HIGH",
    "URGENT_GLUCOSE_LOW",
    "WAIST_TABLES",
    "WHTR",
    "AnswerPoints",
    "RuleSet",
    "ShortStatureRule",
    "get_ruleset",
]

# --------------------------------------------------------------------------- anthropometry

_WHO_UNDER = "WHO TRS 894 Table 2.1 (NOM-008 does not define underweight in adults; WHO is used)"

BMI_NOM_STANDARD: BandTable[WeightStatus] = BandTable(
    id="bmi.nom.standard",
    title="BMI, `nom`, standard height",
    quantity="BMI rounded half-up to 0.1",
    unit="kg/m²",
    bands=(
        band(WeightStatus.UNDERWEIGHT, None, "18.5", _WHO_UNDER, "who_trs_894"),
        band(
            WeightStatus.NORMAL,
            "18.5",
            "25.0",
            "WHO TRS 894 Table 2.1; NOM-008-SSA3-2017 §3 definitions (§?)",
            "who_trs_894",
            "nom_008_ssa3_2017",
        ),
        band(
            WeightStatus.OVERWEIGHT,
            "25.0",
            "30.0",
            "NOM-008-SSA3-2017 §3 definitions (§?): sobrepeso IMC ≥ 25 y < 29.9; the literal "
            "'< 29.9' leaves a gap, so < 30.0 as WHO TRS 894",
            "nom_008_ssa3_2017",
            "who_trs_894",
        ),
        band(
            WeightStatus.OBESITY,
            "30.0",
            None,
            "NOM-008-SSA3-2017 §3 definitions (§?): obesidad IMC ≥ 30; WHO TRS 894 Table 2.1",
            "nom_008_ssa3_2017",
            "who_trs_894",
        ),
    ),
)

BMI_NOM_SHORT: BandTable[WeightStatus] = BandTable(
    id="bmi.nom.short_stature",
    title="BMI, `nom`, short stature (women < 150 cm, men < 160 cm)",
    quantity="BMI rounded half-up to 0.1",
    unit="kg/m²",
    bands=(
        band(WeightStatus.UNDERWEIGHT, None, "18.5", _WHO_UNDER, "who_trs_894"),
        band(
            WeightStatus.NORMAL,
            "18.5",
            "23.0",
            "WHO TRS 894 Table 2.1 (lower bound); NOM-008-SSA3-2017 §3 (§?) (upper bound)",
            "who_trs_894",
            "nom_008_ssa3_2017",
        ),
        band(
            WeightStatus.OVERWEIGHT,
            "23.0",
            "25.0",
            "NOM-008-SSA3-2017 §3 definitions (§?): 'sobrepeso … en personas adultas de "
            "estatura baja, igual o mayor a 23 kg/m² y menor a 25 kg/m²'",
            "nom_008_ssa3_2017",
        ),
        band(
            WeightStatus.OBESITY,
            "25.0",
            None,
            "NOM-008-SSA3-2017 §3 definitions (§?): obesidad IMC ≥ 25 in adults of short stature",
            "nom_008_ssa3_2017",
        ),
    ),
)

BMI_WHO: BandTable[WeightStatus] = BandTable(
    id="bmi.who",
    title="BMI, `aha_ada` (WHO, all heights)",
    quantity="BMI rounded half-up to 0.1",
    unit="kg/m²",
    bands=(
        band(WeightStatus.UNDERWEIGHT, None, "18.5", "WHO TRS 894 Table 2.1", "who_trs_894"),
        band(WeightStatus.NORMAL, "18.5", "25.0", "WHO TRS 894 Table 2.1", "who_trs_894"),
        band(WeightStatus.OVERWEIGHT, "25.0", "30.0", "WHO TRS 894 Table 2.1", "who_trs_894"),
        band(WeightStatus.OBESITY, "30.0", None, "WHO TRS 894 Table 2.1", "who_trs_894"),
    ),
)

OBESITY_GRADE: BandTable[int | None] = BandTable(
    id="bmi.obesity_grade",
    title="Obesity grade (both rule sets)",
    quantity="BMI rounded half-up to 0.1",
    unit="kg/m²",
    bands=(
        band(
            None,
            None,
            "30.0",
            "No grade below 30.0, including short-stature obesity (NOM-008 defines no grades)",
            "who_trs_894",
            "nom_008_ssa3_2017",
        ),
        band(1, "30.0", "35.0", "WHO TRS 894 Table 2.1, obese class I", "who_trs_894"),
        band(2, "35.0", "40.0", "WHO TRS 894 Table 2.1, obese class II", "who_trs_894"),
        band(3, "40.0", None, "WHO TRS 894 Table 2.1, obese class III", "who_trs_894"),
    ),
)


@dataclass(frozen=True)
class ShortStatureRule:
    """NOM-008 short stature: strictly below the height for the sex (rule G5)."""

    below_cm: tuple[tuple[Sex, Decimal], ...]
    citation: str
    refs: tuple[str, ...]

    def limit(self, sex: Sex) -> Decimal:
        return dict(self.below_cm)[sex]


NOM_SHORT_STATURE = ShortStatureRule(
    below_cm=((Sex.FEMALE, Decimal("150.0")), (Sex.MALE, Decimal("160.0"))),
    citation="NOM-008-SSA3-2017 §3 definitions (§?): estatura baja, mujer < 1.50 m, hombre "
    "< 1.60 m; strict (exactly 150.0 / 160.0 cm is not short), rule G5",
    refs=("nom_008_ssa3_2017",),
)

_WAIST_IDF = (
    "NOM-030-SSA2-2009 obesidad abdominal (§?); NOM-015-SSA2-2010 goals table (§?); "
    "IDF 2006 (Central/South Americans use the South-Asian values); JIS 2009"
)
_WAIST_IDF_REFS = ("nom_030_ssa2_2009", "nom_015_ssa2_2010", "idf_2006", "jis_2009")
_WAIST_ATP3 = "AHA/NHLBI 2005 (NCEP ATP III clinical cut-off), optional profile `atp3`"


def _waist(profile: str, sex: Sex, cut: str, citation: str, *refs: str) -> BandTable[WaistRisk]:
    return BandTable(
        id=f"waist.{profile}.{sex.value}",
        title=f"Waist circumference, profile `{profile}`, {sex.value}",
        quantity="waist_cm",
        unit="cm",
        bands=(
            band(WaistRisk.NORMAL, None, cut, citation, *refs),
            band(WaistRisk.HIGH, cut, None, citation, *refs),
        ),
    )


WAIST_TABLES: dict[WaistProfile, dict[Sex, BandTable[WaistRisk]]] = {
    WaistProfile.IDF_LATAM: {
        Sex.FEMALE: _waist("idf_latam", Sex.FEMALE, "80.0", _WAIST_IDF, *_WAIST_IDF_REFS),
        Sex.MALE: _waist("idf_latam", Sex.MALE, "90.0", _WAIST_IDF, *_WAIST_IDF_REFS),
    },
    WaistProfile.ATP3: {
        Sex.FEMALE: _waist("atp3", Sex.FEMALE, "88.0", _WAIST_ATP3, "aha_nhlbi_2005"),
        Sex.MALE: _waist("atp3", Sex.MALE, "102.0", _WAIST_ATP3, "aha_nhlbi_2005"),
    },
}

_WHTR_CITATION = "Ashwell & Hsieh 2005; Ashwell et al. Obes Rev 2012 (boundary 0.5)"
WHTR: BandTable[WaistRisk] = BandTable(
    id="whtr",
    title="Waist-to-height ratio (both rule sets; portfolio extra, not a MIDO label)",
    quantity="waist_cm / height_cm rounded half-up to 0.01",
    unit="",
    bands=(
        band(WaistRisk.NORMAL, None, "0.50", _WHTR_CITATION, "ashwell_hsieh_2005", "ashwell_2012"),
        band(WaistRisk.HIGH, "0.50", None, _WHTR_CITATION, "ashwell_hsieh_2005", "ashwell_2012"),
    ),
)

OBESITY_CONTROL = Criterion(
    id="control.obesity",
    title="Known obesity is controlled",
    all_of=(
        Threshold(
            "bmi",
            "<",
            Decimal("30.0"),
            "kg/m²",
            "MIDO indicator from the brief (obesity control BMI < 30); applied to every height",
            ("mido_brief",),
        ),
    ),
)

# --------------------------------------------------------------------------- blood pressure

_NOM030 = "NOM-030-SSA2-2009 §6 classification table (§?)"
_NOM030_REFS = ("nom_030_ssa2_2009", "proy_nom_030_ssa2_2017", "esh_2023")


def _nom_bp(quantity: str, cuts: tuple[str, str, str, str, str]) -> BandTable[BpCategory]:
    c1, c2, c3, c4, c5 = cuts
    names = (
        "'Óptima'",
        "'Presión arterial normal'",
        "'Presión arterial fronteriza' (ESH high-normal)",
        "'Hipertensión 1'",
        "'Hipertensión 2'",
        "'Hipertensión 3'",
    )
    labels = (
        BpCategory.OPTIMAL,
        BpCategory.NORMAL,
        BpCategory.HIGH_NORMAL,
        BpCategory.HYPERTENSION_GRADE_1,
        BpCategory.HYPERTENSION_GRADE_2,
        BpCategory.HYPERTENSION_GRADE_3,
    )
    bounds = ((None, c1), (c1, c2), (c2, c3), (c3, c4), (c4, c5), (c5, None))
    return BandTable(
        id=f"bp.nom.{quantity}",
        title=f"Blood pressure, `nom`, {quantity}",
        quantity=quantity,
        unit="mmHg",
        bands=tuple(
            band(label, low, high, f"{_NOM030} {name}; ESH 2023", *_NOM030_REFS)
            for label, (low, high), name in zip(labels, bounds, names, strict=True)
        ),
    )


BP_NOM_SYSTOLIC = _nom_bp("systolic", ("120", "130", "140", "160", "180"))
BP_NOM_DIASTOLIC = _nom_bp("diastolic", ("80", "85", "90", "100", "110"))

_AHA = "2017 ACC/AHA (Whelton et al.) Table 6"
_AHA_CRISIS = "2017 ACC/AHA, hypertensive crises: > 180 and/or > 120, strict (180/120 is stage 2)"

BP_AHA_SYSTOLIC: BandTable[BpCategory] = BandTable(
    id="bp.aha_ada.systolic",
    title="Blood pressure, `aha_ada`, systolic",
    quantity="systolic",
    unit="mmHg",
    bands=(
        band(BpCategory.NORMAL, None, "120", f"{_AHA}: normal < 120 and < 80", "acc_aha_2017"),
        band(
            BpCategory.ELEVATED, "120", "130", f"{_AHA}: elevated 120-129 and < 80", "acc_aha_2017"
        ),
        band(BpCategory.HYPERTENSION_STAGE_1, "130", "140", f"{_AHA}: stage 1", "acc_aha_2017"),
        band(
            BpCategory.HYPERTENSION_STAGE_2,
            "140",
            "180",
            f"{_AHA}: stage 2 ≥ 140",
            "acc_aha_2017",
            high_inclusive=True,
        ),
        band(
            BpCategory.HYPERTENSIVE_CRISIS,
            "180",
            None,
            _AHA_CRISIS,
            "acc_aha_2017",
            low_inclusive=False,
        ),
    ),
)

BP_AHA_DIASTOLIC: BandTable[BpCategory] = BandTable(
    id="bp.aha_ada.diastolic",
    title="Blood pressure, `aha_ada`, diastolic (no 'elevated' band: it needs DBP < 80)",
    quantity="diastolic",
    unit="mmHg",
    bands=(
        band(BpCategory.NORMAL, None, "80", f"{_AHA}: normal < 80", "acc_aha_2017"),
        band(BpCategory.HYPERTENSION_STAGE_1, "80", "90", f"{_AHA}: stage 1", "acc_aha_2017"),
        band(
            BpCategory.HYPERTENSION_STAGE_2,
            "90",
            "120",
            f"{_AHA}: stage 2 ≥ 90",
            "acc_aha_2017",
            high_inclusive=True,
        ),
        band(
            BpCategory.HYPERTENSIVE_CRISIS,
            "120",
            None,
            _AHA_CRISIS,
            "acc_aha_2017",
            low_inclusive=False,
        ),
    ),
)

ISOLATED_SYSTOLIC = Criterion(
    id="flag.isolated_systolic_hypertension",
    title="Isolated systolic hypertension (a flag, graded by SBP; `nom` only)",
    all_of=(
        Threshold("systolic", ">=", Decimal(140), "mmHg", f"{_NOM030}", _NOM030_REFS),
        Threshold("diastolic", "<", Decimal(90), "mmHg", f"{_NOM030}", _NOM030_REFS),
    ),
)


def _bp_goal(ruleset: str, sbp: int, dbp: int, citation: str, *refs: str) -> Criterion:
    return Criterion(
        id=f"control.hypertension.{ruleset}",
        title=f"Known hypertension is controlled (`{ruleset}`)",
        all_of=(
            Threshold("systolic", "<", Decimal(sbp), "mmHg", citation, refs),
            Threshold("diastolic", "<", Decimal(dbp), "mmHg", citation, refs),
        ),
    )


# --------------------------------------------------------------------------- glucose

_ADA_HYPO = "ADA Standards of Care 2025 §6 Table 6.3 (classification of hypoglycemia)"


def _glucose(
    id_: str, title: str, cuts: tuple[str, str], texts: tuple[str, str, str], *refs: tuple[str, ...]
) -> BandTable[GlucoseCategory]:
    pre, dm = cuts
    return BandTable(
        id=id_,
        title=title,
        quantity="glucose_mg_dl",
        unit="mg/dL",
        bands=(
            band(
                GlucoseCategory.HYPOGLYCEMIA_LEVEL_2,
                None,
                "54",
                f"{_ADA_HYPO}: level 2 < 54 mg/dL",
                "ada_2025_s6",
            ),
            band(
                GlucoseCategory.HYPOGLYCEMIA_LEVEL_1,
                "54",
                "70",
                f"{_ADA_HYPO}: level 1 < 70 and ≥ 54 mg/dL (the pre-2018 '≤ 70' is obsolete)",
                "ada_2025_s6",
            ),
            band(GlucoseCategory.NORMAL, "70", pre, texts[0], *refs[0]),
            band(GlucoseCategory.PREDIABETES, pre, dm, texts[1], *refs[1]),
            band(GlucoseCategory.PROBABLE_DIABETES, dm, None, texts[2], *refs[2]),
        ),
    )


GLUCOSE_NOM_FASTING = _glucose(
    "glucose.nom.fasting",
    "Glucose, `nom`, fasting",
    ("100", "126"),
    (
        "NOM-015-SSA2-2010 §9 (§?); ADA 2025 Table 2.2",
        "NOM-015-SSA2-2010 §9.1 (§?): 'glucosa de ayuno ≥ 100 mg/dl y ≤ 125 mg/dl' (GAA)",
        "NOM-015-SSA2-2010 §9.2 (§?): fasting ≥ 126 mg/dL",
    ),
    ("nom_015_ssa2_2010", "ada_2025_s2"),
    ("nom_015_ssa2_2010",),
    ("nom_015_ssa2_2010",),
)
GLUCOSE_NOM_CASUAL = _glucose(
    "glucose.nom.casual",
    "Glucose, `nom`, casual",
    ("140", "200"),
    (
        "NOM-015-SSA2-2010 §8 detection (§?): casual capillary < 140 is a negative screen",
        "NOM-015-SSA2-2010 §8 detection (§?): casual capillary ≥ 140 is a positive screen "
        "needing confirmation (also the §9.1 ITG band 140-199)",
        "NOM-015-SSA2-2010 §9.2 (§?): casual ≥ 200 (diagnostic with classic symptoms; "
        "'probable' on a single screen)",
    ),
    ("nom_015_ssa2_2010",),
    ("nom_015_ssa2_2010",),
    ("nom_015_ssa2_2010",),
)
GLUCOSE_ADA_FASTING = _glucose(
    "glucose.aha_ada.fasting",
    "Glucose, `aha_ada`, fasting",
    ("100", "126"),
    (
        "ADA 2025 Table 2.2 (FPG < 100)",
        "ADA 2025 Table 2.2: impaired fasting glucose 100-125 mg/dL",
        "ADA 2025 Table 2.1: FPG ≥ 126 mg/dL",
    ),
    ("ada_2025_s2",),
    ("ada_2025_s2",),
    ("ada_2025_s2",),
)
GLUCOSE_ADA_CASUAL = _glucose(
    "glucose.aha_ada.casual",
    "Glucose, `aha_ada`, casual",
    ("140", "200"),
    (
        "Service convention (ADA has no casual-glucose screening bands); numbers of NOM-015 §8",
        "Service convention: a positive screen needing FPG or HbA1c (ADA has no casual "
        "prediabetes category); numbers of NOM-015 §8 and the IGT band",
        "ADA 2025 Table 2.1: random plasma glucose ≥ 200 mg/dL (with classic symptoms)",
    ),
    ("service_policy", "nom_015_ssa2_2010"),
    ("service_policy", "nom_015_ssa2_2010"),
    ("ada_2025_s2",),
)

HBA1C_ADA: BandTable[GlucoseCategory] = BandTable(
    id="hba1c.aha_ada",
    title="HbA1c screening, `aha_ada` only, no known diabetes (combined: higher wins)",
    quantity="hba1c",
    unit="%",
    bands=(
        band(GlucoseCategory.NORMAL, None, "5.7", "ADA 2025 Table 2.2: A1C < 5.7 %", "ada_2025_s2"),
        band(
            GlucoseCategory.PREDIABETES,
            "5.7",
            "6.5",
            "ADA 2025 Table 2.2: A1C 5.7-6.4 %",
            "ada_2025_s2",
        ),
        band(
            GlucoseCategory.PROBABLE_DIABETES,
            "6.5",
            None,
            "ADA 2025 Table 2.1: A1C ≥ 6.5 %",
            "ada_2025_s2",
        ),
    ),
)

_GOAL_NOM015 = "NOM-015-SSA2-2010 control-goals table (§?)"
DIABETES_CONTROL_HBA1C = Criterion(
    id="control.diabetes.hba1c",
    title="Known diabetes is controlled (HbA1c given)",
    all_of=(
        Threshold(
            "hba1c",
            "<",
            Decimal("7.0"),
            "%",
            f"{_GOAL_NOM015}: HbA1c < 7 %; MIDO indicator; ADA 2025 §6",
            ("nom_015_ssa2_2010", "mido_brief", "ada_2025_s6"),
        ),
    ),
)
DIABETES_CONTROL_FASTING = Criterion(
    id="control.diabetes.fasting",
    title="Known diabetes is controlled (no HbA1c, fasting glucose)",
    all_of=(
        Threshold(
            "glucose_mg_dl",
            ">=",
            Decimal(70),
            "mg/dL",
            f"{_GOAL_NOM015}: fasting 70-130 mg/dL; ADA 2025 §6 preprandial 80-130",
            ("nom_015_ssa2_2010", "ada_2025_s6"),
        ),
        Threshold(
            "glucose_mg_dl",
            "<=",
            Decimal(130),
            "mg/dL",
            f"{_GOAL_NOM015}: fasting 70-130 mg/dL; ADA 2025 §6 preprandial 80-130",
            ("nom_015_ssa2_2010", "ada_2025_s6"),
        ),
    ),
)
DIABETES_CONTROL_CASUAL = Criterion(
    id="control.diabetes.casual",
    title="Known diabetes is controlled (no HbA1c, casual glucose)",
    all_of=(
        Threshold(
            "glucose_mg_dl",
            "<",
            Decimal(180),
            "mg/dL",
            "Service convention from the ADA 2025 §6 peak postprandial goal < 180 mg/dL",
            ("service_policy", "ada_2025_s6"),
        ),
    ),
)

GLUCOSE_DOMAIN: tuple[tuple[GlucoseCategory, Domain], ...] = (
    (GlucoseCategory.HYPOGLYCEMIA_LEVEL_2, Domain.NEEDS_EVALUATION),
    (GlucoseCategory.HYPOGLYCEMIA_LEVEL_1, Domain.NEEDS_EVALUATION),
    (GlucoseCategory.NORMAL, Domain.HEALTHY),
    (GlucoseCategory.PREDIABETES, Domain.AT_RISK),
    (GlucoseCategory.PROBABLE_DIABETES, Domain.PROBABLE_DISEASE),
)

# --------------------------------------------------------------------------- lipids

LIPID_CONTROL = Criterion(
    id="control.dyslipidemia",
    title="Known dyslipidemia is controlled",
    all_of=(
        Threshold(
            "total_cholesterol",
            "<",
            Decimal(200),
            "mg/dL",
            "MIDO indicator; NOM-015-SSA2-2010 goals table CT < 200 (§?); NOM-037-SSA2-2012 (§?)",
            ("mido_brief", "nom_015_ssa2_2010", "nom_037_ssa2_2012"),
        ),
        Threshold(
            "ldl",
            "<",
            Decimal(100),
            "mg/dL",
            "MIDO indicator; NOM-015-SSA2-2010 goals table LDL < 100 (§?); NOM-037-SSA2-2012 (§?)",
            ("mido_brief", "nom_015_ssa2_2010", "nom_037_ssa2_2012"),
        ),
    ),
)

# --------------------------------------------------------------------------- urgent attention

DEFAULT_URGENT_GLUCOSE_HIGH = Decimal(250)

URGENT_GLUCOSE_LOW = Threshold(
    "glucose_mg_dl",
    "<",
    Decimal(70),
    "mg/dL",
    "ADA 2025 §6: treat with 15-20 g of glucose and recheck",
    ("ada_2025_s6",),
)
URGENT_GLUCOSE_HIGH = Threshold(
    "glucose_mg_dl",
    ">=",
    DEFAULT_URGENT_GLUCOSE_HIGH,
    "mg/dL",
    "Service policy: DKA glucose criterion > 250 mg/dL (Kitabchi et al. 2009); "
    "configurable (`urgent_glucose_high`, e.g. 300)",
    ("kitabchi_2009", "service_policy"),
)

# --------------------------------------------------------------------------- FINDRISC

_FINDRISC = "FINDRISC (Lindström & Tuomilehto 2003)"
FINDRISC_AGE: BandTable[int] = BandTable(
    id="findrisc.age",
    title="FINDRISC points: age",
    quantity="age",
    unit="years",
    bands=(
        band(0, None, "45", f"{_FINDRISC}: < 45 years", "lindstrom_2003"),
        band(2, "45", "55", f"{_FINDRISC}: 45-54 years", "lindstrom_2003"),
        band(3, "55", "65", f"{_FINDRISC}: 55-64 years", "lindstrom_2003"),
        band(4, "65", None, f"{_FINDRISC}: > 64 years", "lindstrom_2003"),
    ),
)
FINDRISC_BMI: BandTable[int] = BandTable(
    id="findrisc.bmi",
    title="FINDRISC points: BMI ('25-30' read as 25.0-30.0 inclusive)",
    quantity="BMI rounded half-up to 0.1",
    unit="kg/m²",
    bands=(
        band(0, None, "25.0", f"{_FINDRISC}: < 25", "lindstrom_2003"),
        band(
            1,
            "25.0",
            "30.0",
            f"{_FINDRISC}: 25-30 (30.0 itself scores 1)",
            "lindstrom_2003",
            high_inclusive=True,
        ),
        band(3, "30.0", None, f"{_FINDRISC}: > 30", "lindstrom_2003", low_inclusive=False),
    ),
)


def _findrisc_waist(sex: Sex, low: str, high: str) -> BandTable[int]:
    return BandTable(
        id=f"findrisc.waist.{sex.value}",
        title=f"FINDRISC points: waist, {sex.value} ('{low}-{high}' inclusive)",
        quantity="waist_cm",
        unit="cm",
        bands=(
            band(0, None, low, f"{_FINDRISC}: < {low} cm", "lindstrom_2003"),
            band(
                3,
                low,
                high,
                f"{_FINDRISC}: {low}-{high} cm",
                "lindstrom_2003",
                high_inclusive=True,
            ),
            band(
                4,
                high,
                None,
                f"{_FINDRISC}: > {high} cm",
                "lindstrom_2003",
                low_inclusive=False,
            ),
        ),
    )


FINDRISC_WAIST: dict[Sex, BandTable[int]] = {
    Sex.FEMALE: _findrisc_waist(Sex.FEMALE, "80", "88"),
    Sex.MALE: _findrisc_waist(Sex.MALE, "94", "102"),
}

FINDRISC_RISK: BandTable[tuple[FindriscRisk, int]] = BandTable(
    id="findrisc.risk",
    title="FINDRISC total (0-26): risk band and estimated 10-year risk of type 2 diabetes (%)",
    quantity="score",
    unit="points",
    bands=(
        band((FindriscRisk.LOW, 1), None, "7", f"{_FINDRISC}: < 7, 1 in 100", "lindstrom_2003"),
        band(
            (FindriscRisk.SLIGHTLY_ELEVATED, 4),
            "7",
            "12",
            f"{_FINDRISC}: 7-11, 1 in 25",
            "lindstrom_2003",
        ),
        band(
            (FindriscRisk.MODERATE, 17), "12", "15", f"{_FINDRISC}: 12-14, 1 in 6", "lindstrom_2003"
        ),
        band((FindriscRisk.HIGH, 33), "15", "21", f"{_FINDRISC}: 15-20, 1 in 3", "lindstrom_2003"),
        band(
            (FindriscRisk.VERY_HIGH, 50), "21", None, f"{_FINDRISC}: > 20, 1 in 2", "lindstrom_2003"
        ),
    ),
)


@dataclass(frozen=True)
class AnswerPoints:
    """FINDRISC points for one answer of one questionnaire item."""

    item: str
    """Item name in the output ``findrisc.points``."""
    field: str
    """Input field in ``findrisc`` (:class:`cart.classify.FindriscAnswers`)."""
    answer: bool | FamilyHistory
    points: int
    wording: str
    """The question as in the published form."""


_Q_ACTIVITY = "Do you usually have daily at least 30 minutes of physical activity?"
_Q_FRUIT = "How often do you eat vegetables, fruit or berries? (every day / not every day)"
_Q_DRUGS = "Have you ever taken medication for high blood pressure on a regular basis?"
_Q_GLUCOSE = "Have you ever been found to have high blood glucose?"
_Q_FAMILY = (
    "Have any of the members of your immediate family or other relatives been diagnosed "
    "with diabetes?"
)

FINDRISC_ANSWERS: tuple[AnswerPoints, ...] = (
    AnswerPoints("physical_activity", "physical_activity_30min_daily", True, 0, _Q_ACTIVITY),
    AnswerPoints("physical_activity", "physical_activity_30min_daily", False, 2, _Q_ACTIVITY),
    AnswerPoints("vegetables_fruit", "vegetables_fruit_daily", True, 0, _Q_FRUIT),
    AnswerPoints("vegetables_fruit", "vegetables_fruit_daily", False, 1, _Q_FRUIT),
    AnswerPoints("antihypertensive_medication", "antihypertensive_medication", False, 0, _Q_DRUGS),
    AnswerPoints("antihypertensive_medication", "antihypertensive_medication", True, 2, _Q_DRUGS),
    AnswerPoints("high_glucose_history", "high_glucose_history", False, 0, _Q_GLUCOSE),
    AnswerPoints("high_glucose_history", "high_glucose_history", True, 5, _Q_GLUCOSE),
    AnswerPoints(
        "family_history_diabetes", "family_history_diabetes", FamilyHistory.NONE, 0, _Q_FAMILY
    ),
    AnswerPoints(
        "family_history_diabetes",
        "family_history_diabetes",
        FamilyHistory.SECOND_DEGREE,
        3,
        _Q_FAMILY,
    ),
    AnswerPoints(
        "family_history_diabetes",
        "family_history_diabetes",
        FamilyHistory.FIRST_DEGREE,
        5,
        _Q_FAMILY,
    ),
)

# --------------------------------------------------------------------------- rule sets


@dataclass(frozen=True)
class RuleSet:
    """Everything that differs between ``nom`` and ``aha_ada`` (section 8 of the spec)."""

    id: RuleSetId
    version: str
    """Bumped whenever a threshold, label or citation of this rule set changes."""
    title: str
    description: str
    bmi: BandTable[WeightStatus]
    bmi_short_stature: BandTable[WeightStatus] | None
    short_stature: ShortStatureRule | None
    bp_labels: tuple[BpCategory, ...]
    """This rule set's BP vocabulary, mildest first (the order of "highest wins")."""
    bp_systolic: BandTable[BpCategory]
    bp_diastolic: BandTable[BpCategory]
    bp_domain: tuple[tuple[BpCategory, Domain], ...]
    bp_domain_citation: str
    bp_domain_refs: tuple[str, ...]
    bp_urgent: frozenset[BpCategory]
    bp_urgent_citation: str
    bp_urgent_refs: tuple[str, ...]
    isolated_systolic_flag: bool
    glucose_fasting: BandTable[GlucoseCategory]
    glucose_casual: BandTable[GlucoseCategory]
    hba1c_screening: BandTable[GlucoseCategory] | None
    hypertension_control: Criterion

    def bp_rank(self, label: BpCategory) -> int:
        return self.bp_labels.index(label)

    def bp_to_domain(self, label: BpCategory) -> Domain:
        return dict(self.bp_domain)[label]


NOM = RuleSet(
    id=RuleSetId.NOM,
    version="1.0.0",
    title="Mexican norms (default)",
    description="NOM-008-SSA3-2017 BMI with the short-stature rule, NOM-030-SSA2-2009 "
    "blood-pressure categories (same numbers in PROY-NOM-030-SSA2-2017 and ESH 2023), "
    "NOM-015-SSA2-2010 glucose (HbA1c is not used for screening).",
    bmi=BMI_NOM_STANDARD,
    bmi_short_stature=BMI_NOM_SHORT,
    short_stature=NOM_SHORT_STATURE,
    bp_labels=(
        BpCategory.OPTIMAL,
        BpCategory.NORMAL,
        BpCategory.HIGH_NORMAL,
        BpCategory.HYPERTENSION_GRADE_1,
        BpCategory.HYPERTENSION_GRADE_2,
        BpCategory.HYPERTENSION_GRADE_3,
    ),
    bp_systolic=BP_NOM_SYSTOLIC,
    bp_diastolic=BP_NOM_DIASTOLIC,
    bp_domain=(
        (BpCategory.OPTIMAL, Domain.HEALTHY),
        (BpCategory.NORMAL, Domain.HEALTHY),
        (BpCategory.HIGH_NORMAL, Domain.AT_RISK),
        (BpCategory.HYPERTENSION_GRADE_1, Domain.PROBABLE_DISEASE),
        (BpCategory.HYPERTENSION_GRADE_2, Domain.PROBABLE_DISEASE),
        (BpCategory.HYPERTENSION_GRADE_3, Domain.PROBABLE_DISEASE),
    ),
    bp_domain_citation="MIDO mapping derived from NOM-030 (spec 4.3); every positive is "
    "'probable' on a single visit (G6)",
    bp_domain_refs=("nom_030_ssa2_2009",),
    bp_urgent=frozenset({BpCategory.HYPERTENSION_GRADE_3}),
    bp_urgent_citation="NOM-030 grade 3 / ESH 2023 'severe hypertension': SBP ≥ 180 or "
    "DBP ≥ 110 (180/120 exactly is urgent)",
    bp_urgent_refs=("nom_030_ssa2_2009", "esh_2023", "service_policy"),
    isolated_systolic_flag=True,
    glucose_fasting=GLUCOSE_NOM_FASTING,
    glucose_casual=GLUCOSE_NOM_CASUAL,
    hba1c_screening=None,
    hypertension_control=_bp_goal(
        "nom",
        140,
        90,
        "NOM-030-SSA2-2009 treatment goal < 140/90 (§?); MIDO indicator",
        "nom_030_ssa2_2009",
        "mido_brief",
    ),
)

AHA_ADA = RuleSet(
    id=RuleSetId.AHA_ADA,
    version="1.0.0",
    title="WHO / ACC-AHA 2017 / ADA 2025 (alternative)",
    description="WHO BMI with no short-stature rule, 2017 ACC/AHA blood-pressure categories "
    "(kept by the 2025 AHA/ACC guideline), ADA Standards of Care 2025 glucose with HbA1c "
    "screening.",
    bmi=BMI_WHO,
    bmi_short_stature=None,
    short_stature=None,
    bp_labels=(
        BpCategory.NORMAL,
        BpCategory.ELEVATED,
        BpCategory.HYPERTENSION_STAGE_1,
        BpCategory.HYPERTENSION_STAGE_2,
        BpCategory.HYPERTENSIVE_CRISIS,
    ),
    bp_systolic=BP_AHA_SYSTOLIC,
    bp_diastolic=BP_AHA_DIASTOLIC,
    bp_domain=(
        (BpCategory.NORMAL, Domain.HEALTHY),
        (BpCategory.ELEVATED, Domain.AT_RISK),
        (BpCategory.HYPERTENSION_STAGE_1, Domain.PROBABLE_DISEASE),
        (BpCategory.HYPERTENSION_STAGE_2, Domain.PROBABLE_DISEASE),
        (BpCategory.HYPERTENSIVE_CRISIS, Domain.PROBABLE_DISEASE),
    ),
    bp_domain_citation="MIDO mapping of the 2017 ACC/AHA categories (spec 4.3)",
    bp_domain_refs=("acc_aha_2017",),
    bp_urgent=frozenset({BpCategory.HYPERTENSIVE_CRISIS}),
    bp_urgent_citation="2017 ACC/AHA hypertensive crisis: SBP > 180 or DBP > 120 "
    "(180/120 exactly is not urgent)",
    bp_urgent_refs=("acc_aha_2017", "service_policy"),
    isolated_systolic_flag=False,
    glucose_fasting=GLUCOSE_ADA_FASTING,
    glucose_casual=GLUCOSE_ADA_CASUAL,
    hba1c_screening=HBA1C_ADA,
    hypertension_control=_bp_goal(
        "aha_ada",
        130,
        80,
        "2017 ACC/AHA treatment goal < 130/80; ADA 2025 §10 goal < 130/80",
        "acc_aha_2017",
        "ada_2025_s10",
    ),
)

RULESETS: dict[RuleSetId, RuleSet] = {NOM.id: NOM, AHA_ADA.id: AHA_ADA}


def get_ruleset(ruleset: str | RuleSetId | RuleSet) -> RuleSet:
    """The rule set for an id (``"nom"``, ``"aha_ada"``); ``ValidationError`` otherwise."""
    if isinstance(ruleset, RuleSet):
        return ruleset
    try:
        return RULESETS[RuleSetId(ruleset)]
    except ValueError:
        choices = ", ".join(RULESETS)
        raise ValidationError(
            "ruleset", f"unknown rule set {ruleset!r}; use one of {choices}"
        ) from None

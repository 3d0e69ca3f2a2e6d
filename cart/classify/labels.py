"""The vocabulary of the classifier: every input choice and output label is a ``StrEnum``.

The string values are the wire vocabulary of DESIGN section 6 and
``classification-rules.md`` section 0 (plain lowercase snake_case), so
``json.dumps`` of a member gives the documented word.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "BpCategory",
    "Diagnosis",
    "Domain",
    "FamilyHistory",
    "FindriscRisk",
    "GlucoseCategory",
    "GlucoseContext",
    "RuleSetId",
    "Severity",
    "Sex",
    "WaistProfile",
    "WaistRisk",
    "WeightStatus",
]


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"


class GlucoseContext(StrEnum):
    FASTING = "fasting"
    """At least 8 hours without caloric intake."""
    CASUAL = "casual"
    """Any time of day, regardless of the last meal."""


class Diagnosis(StrEnum):
    """A diagnosis the person already has (``known_diagnoses``)."""

    DIABETES = "diabetes"
    HYPERTENSION = "hypertension"
    OBESITY = "obesity"
    DYSLIPIDEMIA = "dyslipidemia"


class RuleSetId(StrEnum):
    NOM = "nom"
    """Mexican norms (default): NOM-008-SSA3-2017, NOM-030-SSA2-2009, NOM-015-SSA2-2010."""
    AHA_ADA = "aha_ada"
    """WHO BMI, 2017 ACC/AHA blood pressure, ADA Standards of Care 2025."""


class WaistProfile(StrEnum):
    """Deployment knob for the waist cut-offs (not part of either rule set)."""

    IDF_LATAM = "idf_latam"
    """Women >= 80 cm, men >= 90 cm (NOM-030, IDF 2006 for Central/South Americans). Default."""
    ATP3 = "atp3"
    """Women >= 88 cm, men >= 102 cm (AHA/NHLBI 2005, the US clinical cut-off)."""


class WeightStatus(StrEnum):
    UNDERWEIGHT = "underweight"
    NORMAL = "normal"
    OVERWEIGHT = "overweight"
    OBESITY = "obesity"


class WaistRisk(StrEnum):
    NORMAL = "normal"
    HIGH = "high"


class BpCategory(StrEnum):
    """Both vocabularies; a rule set uses only its own (see ``RuleSet.bp_labels``)."""

    # nom (NOM-030-SSA2-2009 / ESH 2023)
    OPTIMAL = "optimal"
    NORMAL = "normal"
    HIGH_NORMAL = "high_normal"
    HYPERTENSION_GRADE_1 = "hypertension_grade_1"
    HYPERTENSION_GRADE_2 = "hypertension_grade_2"
    HYPERTENSION_GRADE_3 = "hypertension_grade_3"
    # aha_ada (2017 ACC/AHA); "normal" is shared
    ELEVATED = "elevated"
    HYPERTENSION_STAGE_1 = "hypertension_stage_1"
    HYPERTENSION_STAGE_2 = "hypertension_stage_2"
    HYPERTENSIVE_CRISIS = "hypertensive_crisis"


class GlucoseCategory(StrEnum):
    """In increasing order of glucose."""

    HYPOGLYCEMIA_LEVEL_2 = "hypoglycemia_level_2"
    HYPOGLYCEMIA_LEVEL_1 = "hypoglycemia_level_1"
    NORMAL = "normal"
    PREDIABETES = "prediabetes"
    PROBABLE_DIABETES = "probable_diabetes"


class Domain(StrEnum):
    """The MIDO label of one condition (``overall.obesity`` and the others)."""

    HEALTHY = "healthy"
    AT_RISK = "at_risk"
    PROBABLE_DISEASE = "probable_disease"
    KNOWN_CONTROLLED = "known_controlled"
    KNOWN_UNCONTROLLED = "known_uncontrolled"
    NEEDS_EVALUATION = "needs_evaluation"
    """Only for diabetes: hypoglycemia in a person with no known diabetes."""


class FamilyHistory(StrEnum):
    """FINDRISC question 8: relatives with diabetes (type 1 or 2)."""

    NONE = "none"
    SECOND_DEGREE = "second_degree"
    """Grandparent, aunt, uncle or first cousin (but no parent, sibling or child)."""
    FIRST_DEGREE = "first_degree"
    """Parent, brother, sister or own child."""


class FindriscRisk(StrEnum):
    LOW = "low"
    SLIGHTLY_ELEVATED = "slightly_elevated"
    MODERATE = "moderate"
    HIGH = "high"
    VERY_HIGH = "very_high"


class Severity(StrEnum):
    """Severity of an alert, for the kiosk's traffic light."""

    URGENT = "urgent"
    """Same-day medical evaluation (``overall.urgent_attention``)."""
    WARNING = "warning"
    """Something the nurse must fix or know before acting on the result."""
    INFO = "info"

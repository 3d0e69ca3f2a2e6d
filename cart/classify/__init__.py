"""Risk classification of one screening into the MIDO categories a nurse acts on.

Pure and deterministic: no I/O, no clock. The rules are cited tables
(:mod:`cart.classify.tables`); two rule sets exist, ``nom`` (default: NOM-008-SSA3-2017,
NOM-030-SSA2-2009, NOM-015-SSA2-2010) and ``aha_ada`` (WHO BMI, 2017 ACC/AHA, ADA 2025).
Contract: DESIGN section 6; every rule and its source: ``docs/classification.md``.

    >>> from cart.classify import classify
    >>> result = classify({"sex": "female", "weight_kg": 76.8, "height_cm": 160})
    >>> result.bmi, result.weight_status.value
    (Decimal('30.0'), 'obesity')
    >>> result.to_json()["overall"]["obesity"]
    'probable_disease'
"""

from __future__ import annotations

from cart.classify.engine import bmi_value, classify, waist_to_height_value
from cart.classify.labels import (
    BpCategory,
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
from cart.classify.model import (
    INPUT_FIELDS,
    Alert,
    Classification,
    ClassificationInput,
    ClassifyOptions,
    FindriscAnswers,
    FindriscResult,
    Overall,
    Recommendation,
    Text,
)
from cart.classify.references import REFERENCES, Reference
from cart.classify.tables import RULESETS, RuleSet, get_ruleset

__all__ = [
    "INPUT_FIELDS",
    "REFERENCES",
    "RULESETS",
    "Alert",
    "BpCategory",
    "Classification",
    "ClassificationInput",
    "ClassifyOptions",
    "Diagnosis",
    "Domain",
    "FamilyHistory",
    "FindriscAnswers",
    "FindriscResult",
    "FindriscRisk",
    "GlucoseCategory",
    "GlucoseContext",
    "Overall",
    "Recommendation",
    "Reference",
    "RuleSet",
    "RuleSetId",
    "Severity",
    "Sex",
    "Text",
    "WaistProfile",
    "WaistRisk",
    "WeightStatus",
    "bmi_value",
    "classify",
    "get_ruleset",
    "input_from_json",
    "waist_to_height_value",
]


def input_from_json(data: object) -> ClassificationInput:
    """Build a validated :class:`ClassificationInput` from a JSON mapping.

    Unknown keys, wrong types and absurd values raise
    :class:`cart.errors.ValidationError` naming the field; ``null`` is "not measured".
    """
    return ClassificationInput.from_json(data)

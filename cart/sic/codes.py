"""Code systems and the tables the FHIR mapping uses (DESIGN sections 2 and 8).

LOINC and UCUM per measurement kind come from :data:`cart.measurement.KIND_INFO`;
this module adds the IEEE 11073-10101 (MDC) codes the HL7 Personal Health Device IG
puts next to them, the Observation category, and how device flags and special
values are expressed (PHD IG "Measurement Status": questionable and out-of-range
conditions go to ``interpretation`` with the PoCD measurement-status codes,
invalid or absent values to ``dataAbsentReason``, test data to ``meta.security``).

Sources: HL7/phd ``BaseObservationProfile.md`` (measurement status table, gateway
extension, observation identifier), ``PhdDeviceProfile.md`` and ``PhgDeviceProfile.md``
(device types, specializations, identifiers), ``bundleExample.md`` (transaction
with conditional creates); research notes ``peers-and-fhir.md`` section 4.3.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "CURP_SYSTEM",
    "DAR_SYSTEM",
    "DATA_ABSENT",
    "FLAG_STATUS",
    "KIND_CODES",
    "LOINC",
    "MDC",
    "NS",
    "UCUM",
    "UCUM_DISPLAY",
    "KindCodes",
]

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
MDC: Final = "urn:iso:std:iso:11073:10101"
CURP_SYSTEM: Final = "urn:oid:2.16.840.1.113883.4.629"
"""RENAPO's CURP, as used by DGIS-style CDA/FHIR documents (DESIGN section 8)."""
URI_SYSTEM: Final = "urn:ietf:rfc:3986"
"""Identifier system meaning "the value is itself a URI" (our values are ``urn:uuid:``)."""
OBS_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
PHD_CATEGORY: Final = "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories"
DAR_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
POCD_STATUS: Final = "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status"
ACT_REASON: Final = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
RISK_PROBABILITY: Final = "http://terminology.hl7.org/CodeSystem/risk-probability"
DEVICE_ID_TYPES: Final = "http://hl7.org/fhir/uv/phd/CodeSystem/ContinuaDeviceIdentifiers"
GATEWAY_EXTENSION: Final = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"

NS: Final = "https://mido-cart.invalid/fhir"
"""Base of the cart's own code systems. ``.invalid`` on purpose: the namespace is to be
agreed with SSA/CASALUD; changing it changes no identifier (those are ``urn:uuid``)."""
CS_DEVICE_FLAG: Final = f"{NS}/CodeSystem/device-flag"
CS_METHOD: Final = f"{NS}/CodeSystem/observation-method"
CS_CLASSIFIER: Final = f"{NS}/CodeSystem/classifier"
CS_CONDITION: Final = f"{NS}/CodeSystem/mido-condition"
CS_MIDO_LABEL: Final = f"{NS}/CodeSystem/mido-label"
CS_DEVICE_ROLE: Final = f"{NS}/CodeSystem/device-role"
OBS_ID_SYSTEM: Final = f"{NS}/sid/phd-observation"
"""System of the PHD-style Observation identifiers (never a ``urn:uuid``: see fhir.py)."""
DEVICE_ID_SYSTEM: Final = f"{NS}/sid/device"
RISK_ID_SYSTEM: Final = f"{NS}/sid/risk-assessment"
CONDITION_ID_SYSTEM: Final = f"{NS}/sid/condition"
CART_USER_ID_SYSTEM: Final = f"{NS}/sid/cart-user"
"""A cart user without a recorded licence: cart id + user id."""
CEDULA_SYSTEM: Final = f"{NS}/sid/cedula-profesional"
"""Mexico's cédula profesional (DGP, SEP). No HL7-registered system exists for it yet."""
V2_0203: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"

SNOMED: Final = "http://snomed.info/sct"
ICD10: Final = "http://hl7.org/fhir/sid/icd-10"
CONDITION_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/condition-category"
#: known diagnosis -> (SNOMED CT concept, ICD-10 (WHO, the CIE-10 Mexico reports in), Spanish)
DIAGNOSIS_CODES: Final[dict[str, tuple[tuple[str, str], tuple[str, str], str]]] = {
    "diabetes": (
        ("73211009", "Diabetes mellitus"),
        ("E14", "Unspecified diabetes mellitus"),
        "Diabetes mellitus (diagnóstico previo)",
    ),
    "hypertension": (
        ("38341003", "Hypertensive disorder, systemic arterial"),
        ("I10", "Essential (primary) hypertension"),
        "Hipertensión arterial (diagnóstico previo)",
    ),
    "obesity": (
        ("414916001", "Obesity"),
        ("E66.9", "Obesity, unspecified"),
        "Obesidad (diagnóstico previo)",
    ),
    "dyslipidemia": (
        ("370992007", "Dyslipidemia"),
        ("E78.5", "Hyperlipidaemia, unspecified"),
        "Dislipidemia (diagnóstico previo)",
    ),
}

# MDC device types and specializations (partition 8 * 65536 + term)
MDC_PHG: Final = ("531981", "MDC_MOC_VMS_MDS_AHD")
MDC_PHD: Final = ("65573", "MDC_MOC_VMS_MDS_SIMP")
MDC_TIME_ABS: Final = ("67975", "MDC_ATTR_TIME_ABS")
"""The code of a PHD IG coincident-timestamp Observation of an absolute-time clock."""
SPECIALIZATION_BPM: Final = ("528391", "MDC_DEV_SPEC_PROFILE_BPM")
SPECIALIZATION_SCALE: Final = ("528399", "MDC_DEV_SPEC_PROFILE_SCALE")
SPECIALIZATION_GLUCOSE: Final = ("528401", "MDC_DEV_SPEC_PROFILE_GLUCOSE")


@dataclass(frozen=True, slots=True)
class KindCodes:
    display: str
    mdc: tuple[str, str] | None
    """(code, reference id) in urn:iso:std:iso:11073:10101, when the kind has one."""
    category: str
    """observation-category code."""
    specialization: tuple[str, str] | None = None
    """The PHD specialization of a device that measures this kind."""


KIND_CODES: Final[Mapping[str, KindCodes]] = {
    "body_weight": KindCodes(
        "Body weight", ("188736", "MDC_MASS_BODY_ACTUAL"), "vital-signs", SPECIALIZATION_SCALE
    ),
    "body_height": KindCodes("Body height", ("188740", "MDC_LEN_BODY_ACTUAL"), "vital-signs"),
    "bmi": KindCodes(
        "Body mass index (BMI) [Ratio]",
        ("188752", "MDC_RATIO_MASS_BODY_LEN_SQ"),
        "vital-signs",
        SPECIALIZATION_SCALE,
    ),
    "waist_circumference": KindCodes("Waist circumference", None, "vital-signs"),
    "systolic_pressure": KindCodes(
        "Systolic blood pressure",
        ("150021", "MDC_PRESS_BLD_NONINV_SYS"),
        "vital-signs",
        SPECIALIZATION_BPM,
    ),
    "diastolic_pressure": KindCodes(
        "Diastolic blood pressure",
        ("150022", "MDC_PRESS_BLD_NONINV_DIA"),
        "vital-signs",
        SPECIALIZATION_BPM,
    ),
    "mean_arterial_pressure": KindCodes(
        "Mean blood pressure",
        ("150023", "MDC_PRESS_BLD_NONINV_MEAN"),
        "vital-signs",
        SPECIALIZATION_BPM,
    ),
    "pulse_rate": KindCodes(
        "Heart rate", ("149546", "MDC_PULS_RATE_NON_INV"), "vital-signs", SPECIALIZATION_BPM
    ),
    "glucose": KindCodes(
        "Glucose [Mass/volume] in Capillary blood by Glucometer",
        ("160184", "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD"),
        "laboratory",
        SPECIALIZATION_GLUCOSE,
    ),
    "hba1c": KindCodes("Hemoglobin A1c/Hemoglobin.total in Blood", None, "laboratory"),
    "body_fat": KindCodes(
        "Body fat [Mass Fraction]", ("188748", "MDC_BODY_FAT"), "exam", SPECIALIZATION_SCALE
    ),
}

GLUCOSE_UNKNOWN_SAMPLE: Final = KindCodes(
    "Glucose [Mass/volume] in Blood", ("160020", "MDC_CONC_GLU_GEN"), "laboratory"
)
"""For LOINC 2339-0 (sample type unknown) instead of the capillary code."""

BP_PANEL_LOINC: Final = "85354-9"
BP_PANEL_DISPLAY: Final = "Blood pressure panel with all children optional"
BP_PANEL_MDC: Final = ("150020", "MDC_PRESS_BLD_NONINV")
BP_COMPONENT_KINDS: Final = ("systolic_pressure", "diastolic_pressure", "mean_arterial_pressure")
NOT_SENT_KINDS: Final = frozenset({"cuff_pressure"})
"""Progress-only kinds: never a result (DESIGN section 2)."""

UCUM_DISPLAY: Final[Mapping[str, str]] = {
    "mm[Hg]": "mmHg",
    "/min": "beats/minute",
    "kg/m2": "kg/m2",
}

DATA_ABSENT: Final[Mapping[str, tuple[str, str]]] = {
    "nan": ("not-a-number", "Not a Number (NaN)"),
    "nres": ("error", "Error: not at this resolution (NRes)"),
    "+inf": ("positive-infinity", "Positive Infinity (PINF)"),
    "-inf": ("negative-infinity", "Negative Infinity (NINF)"),
    "reserved": ("error", "Error: reserved value"),
}
"""IEEE 11073 specials -> data-absent-reason (the PHD IG's NaN example; NRes/reserved = error)."""

FLAG_STATUS: Final[Mapping[str, str]] = {
    "unstable": "questionable",
    "body_movement": "questionable",
    "cuff_fit_loose": "questionable",
    "improper_position": "questionable",
    "above_range": "in-alarm",
    "below_range": "in-alarm",
    "overload": "in-alarm",
    "pulse_out_of_range": "in-alarm",
}
"""Device flag -> PoCD measurement-status (exceeding the range is ``in-alarm``)."""

OBS_INTERPRETATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
URGENT_SYSTOLIC_MMHG: Final = 180
URGENT_DIASTOLIC_MMHG: Final = 120
"""180/120: the classifier's urgent blood pressure (cart/classify/doc.py, NOM-030 grade 3)."""

CS_MEAL_CONTEXT: Final = f"{NS}/CodeSystem/meal-context"
FASTING_STATUS: Final = "http://terminology.hl7.org/CodeSystem/v2-0916"
MEAL_FASTING_STATUS: Final[Mapping[str, tuple[str, str]]] = {
    "fasting": ("F", "Patient was fasting prior to the procedure."),
    "postprandial": ("NF", "The patient indicated they did not fast prior to the procedure."),
    "casual": ("NF", "The patient indicated they did not fast prior to the procedure."),
}
"""Meal context -> HL7 v2 table 0916 fasting status, where the context says it."""

METHOD_FLAGS: Final = frozenset({"manual_entry", "average", "calculated"})
"""Flags that say how the value was obtained: ``method``, not ``interpretation``."""

TEST_DATA_FLAGS: Final = frozenset({"control_solution", "test_data", "demo_data"})
"""Readings flagged as test data get ``meta.security`` HTEST (PHD IG status bits 4/5)."""

RISK_OF_LABEL: Final[Mapping[str, tuple[str, str]]] = {
    "healthy": ("low", "Low likelihood"),
    "at_risk": ("moderate", "Moderate likelihood"),
    "probable_disease": ("high", "High likelihood"),
    "known_controlled": ("certain", "Certain"),
    "known_uncontrolled": ("certain", "Certain"),
}
"""MIDO label -> risk-probability; ``needs_evaluation`` carries only the MIDO label."""

CONDITION_DISPLAY: Final[Mapping[str, str]] = {
    "obesity": "Obesidad",
    "hypertension": "Hipertensión arterial",
    "diabetes": "Diabetes mellitus",
    "dyslipidemia": "Dislipidemia",
}

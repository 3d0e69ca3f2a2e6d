"""Input, options and output of the classifier (frozen dataclasses).

The input is validated when it is constructed, whichever way (keywords or
:meth:`ClassificationInput.from_json`): every failure is a
:class:`cart.errors.ValidationError` whose ``field`` names the offending input
(``"age"``, ``"findrisc.family_history_diabetes"``). ``None`` means "not measured":
it is never replaced by a guess.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

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
from cart.classify.references import Reference
from cart.errors import ValidationError

__all__ = [
    "INPUT_FIELDS",
    "NUMERIC_FIELDS",
    "Alert",
    "Classification",
    "ClassificationInput",
    "ClassifyOptions",
    "FindriscAnswers",
    "FindriscResult",
    "NumericField",
    "Overall",
    "Recommendation",
    "Text",
]


@dataclass(frozen=True, slots=True)
class NumericField:
    """The accepted range of one numeric input; outside it the value is absurd."""

    name: str
    unit: str
    low: Decimal
    high: Decimal
    why: str

    def check(self, value: object, *, path: str | None = None) -> float | None:
        """``value`` if it is a finite number within range, ``None`` if absent; else raise."""
        name = path or self.name
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ValidationError(name, f"must be a number, not {type(value).__name__}")
        if isinstance(value, Decimal):
            value = float(value)
        if not math.isfinite(value):
            raise ValidationError(name, "must be a finite number")
        if value < 0:
            raise ValidationError(name, f"must not be negative (got {value:g})")
        if not self.low <= Decimal(str(value)) <= self.high:
            raise ValidationError(
                name,
                f"{value:g} {self.unit} is outside the accepted range "
                f"{self.low}-{self.high} {self.unit}".replace("  ", " "),
            )
        return value


NUMERIC_FIELDS: tuple[NumericField, ...] = (
    NumericField(
        "age",
        "years",
        Decimal(20),
        Decimal(120),
        "adults only: detection starts at 20 (rule G1; NOM-015, NOM-030, MIDO ≥ 20)",
    ),
    NumericField("weight_kg", "kg", Decimal(2), Decimal(300), "DESIGN §2 plausibility range"),
    NumericField("height_cm", "cm", Decimal(40), Decimal(230), "DESIGN §2 plausibility range"),
    NumericField("waist_cm", "cm", Decimal(30), Decimal(250), "physiological limits"),
    NumericField("systolic", "mmHg", Decimal(50), Decimal(300), "DESIGN §2 plausibility range"),
    NumericField(
        "diastolic", "mmHg", Decimal(20), Decimal(200), "physiological limits; < systolic"
    ),
    NumericField(
        "glucose_mg_dl", "mg/dL", Decimal(10), Decimal(800), "DESIGN §2 plausibility range"
    ),
    NumericField("hba1c", "%", Decimal(3), Decimal(20), "analytical range of HbA1c assays"),
    NumericField("total_cholesterol", "mg/dL", Decimal(40), Decimal(1000), "physiological limits"),
    NumericField("ldl", "mg/dL", Decimal(10), Decimal(800), "physiological limits; ≤ total"),
)
_NUMERIC: dict[str, NumericField] = {f.name: f for f in NUMERIC_FIELDS}


def _enum(enum: type[Any], value: object, path: str) -> Any:
    if value is None or isinstance(value, enum):
        return value
    choices = "|".join(member.value for member in enum)
    if not isinstance(value, str):
        raise ValidationError(path, f"must be one of {choices}, not {type(value).__name__}")
    try:
        return enum(value)
    except ValueError:
        raise ValidationError(path, f"unknown value {value!r}; use one of {choices}") from None


def _bool(value: object, path: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValidationError(path, f"must be true or false, not {type(value).__name__}")


def _reject_unknown(data: Mapping[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    known = set(allowed)
    unknown = sorted(str(key) for key in data if key not in known)
    if unknown:
        raise ValidationError(
            f"{prefix}{unknown[0]}", f"unknown field; accepted fields: {', '.join(sorted(known))}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FindriscAnswers:
    """The FINDRISC questionnaire items the cart cannot measure (all optional)."""

    physical_activity_30min_daily: bool | None = None
    """At least 30 minutes of physical activity every day (at work or leisure)."""
    vegetables_fruit_daily: bool | None = None
    """Eats vegetables, fruit or berries every day."""
    antihypertensive_medication: bool | None = None
    """Has ever taken medication for high blood pressure regularly."""
    high_glucose_history: bool | None = None
    """Has ever been found to have high blood glucose (check-up, illness, pregnancy)."""
    family_history_diabetes: FamilyHistory | None = None
    """Relatives with diabetes: none, second_degree or first_degree (the closest counts)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            path = f"findrisc.{f.name}"
            value = getattr(self, f.name)
            if f.name == "family_history_diabetes":
                object.__setattr__(self, f.name, _enum(FamilyHistory, value, path))
            else:
                _bool(value, path)

    @classmethod
    def from_json(cls, data: object) -> FindriscAnswers:
        if not isinstance(data, Mapping):
            raise ValidationError("findrisc", "must be an object")
        _reject_unknown(data, (f.name for f in fields(cls)), "findrisc.")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassificationInput:
    """One screening, as DESIGN section 6 names its fields. Every field may be missing."""

    sex: Sex | None = None
    age: float | None = None
    """Years; 20 or more (the classifier is for adults)."""
    weight_kg: float | None = None
    height_cm: float | None = None
    waist_cm: float | None = None
    systolic: float | None = None
    """mmHg; the mean of the readings when the cart takes several (rule G7)."""
    diastolic: float | None = None
    glucose_mg_dl: float | None = None
    """Capillary glucose, mg/dL."""
    glucose_context: GlucoseContext | None = None
    known_diagnoses: frozenset[Diagnosis] = frozenset()
    hba1c: float | None = None
    """Percent (NGSP/DCCT)."""
    total_cholesterol: float | None = None
    ldl: float | None = None
    findrisc: FindriscAnswers | None = None
    """Optional questionnaire answers for the FINDRISC score."""

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "sex", _enum(Sex, self.sex, "sex"))
        setattr_(
            self, "glucose_context", _enum(GlucoseContext, self.glucose_context, "glucose_context")
        )
        for spec in NUMERIC_FIELDS:
            setattr_(self, spec.name, spec.check(getattr(self, spec.name)))
        # Callers may pass any iterable of strings (or None); the type says what it becomes.
        diagnoses: object = self.known_diagnoses
        if diagnoses is None:
            diagnoses = frozenset()
        if isinstance(diagnoses, str | bytes | Mapping) or not isinstance(diagnoses, Iterable):
            raise ValidationError("known_diagnoses", "must be a list of diagnoses")
        setattr_(
            self,
            "known_diagnoses",
            frozenset(_enum(Diagnosis, d, "known_diagnoses") for d in diagnoses),
        )
        answers: object = self.findrisc
        if answers is not None and not isinstance(answers, FindriscAnswers):
            setattr_(self, "findrisc", FindriscAnswers.from_json(answers))
        if (
            self.systolic is not None
            and self.diastolic is not None
            and self.diastolic >= self.systolic
        ):
            raise ValidationError(
                "diastolic",
                f"{self.diastolic:g} mmHg must be lower than the systolic {self.systolic:g} mmHg",
            )
        if (
            self.ldl is not None
            and self.total_cholesterol is not None
            and self.ldl > self.total_cholesterol
        ):
            raise ValidationError(
                "ldl",
                f"{self.ldl:g} mg/dL cannot exceed the total cholesterol "
                f"{self.total_cholesterol:g} mg/dL",
            )

    @classmethod
    def from_json(cls, data: object) -> ClassificationInput:
        """Build from a JSON object; unknown keys and wrong types are validation errors."""
        if not isinstance(data, Mapping):
            raise ValidationError("input", "must be a JSON object")
        _reject_unknown(data, INPUT_FIELDS)
        values = {key: value for key, value in data.items() if value is not None}
        if "known_diagnoses" in values and not isinstance(values["known_diagnoses"], list):
            raise ValidationError("known_diagnoses", "must be a list of diagnoses")
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The JSON input this object came from (``None`` for missing), keys in field order."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "known_diagnoses":
                value = sorted(d.value for d in value)
            elif f.name == "findrisc" and value is not None:
                value = value.to_json()
            out[f.name] = value
        return out


INPUT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ClassificationInput))


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassifyOptions:
    """Deployment knobs kept outside the rule sets (spec section 11, recommendation 2)."""

    urgent_glucose_high: float = 250
    """Glucose (mg/dL) at or above which attention is urgent; 250 by default, 300 is common."""
    waist_profile: WaistProfile = WaistProfile.IDF_LATAM

    def __post_init__(self) -> None:
        value = NumericField("urgent_glucose_high", "mg/dL", Decimal(200), Decimal(600), "").check(
            self.urgent_glucose_high
        )
        if value is None:
            raise ValidationError("urgent_glucose_high", "is required")
        object.__setattr__(self, "urgent_glucose_high", value)
        object.__setattr__(
            self, "waist_profile", _enum(WaistProfile, self.waist_profile, "waist_profile")
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "urgent_glucose_high": self.urgent_glucose_high,
            "waist_profile": self.waist_profile.value,
        }


# --------------------------------------------------------------------------- output


@dataclass(frozen=True, slots=True)
class Text:
    """A message for people, in Spanish (es-MX, for the nurse) and English."""

    es: str
    en: str

    def to_json(self) -> dict[str, str]:
        return {"es": self.es, "en": self.en}


@dataclass(frozen=True, slots=True)
class Alert:
    code: str
    severity: Severity
    fields: tuple[str, ...]
    """Input fields the alert is about."""
    text: Text

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "fields": list(self.fields),
            "text": self.text.to_json(),
        }


@dataclass(frozen=True, slots=True)
class Recommendation:
    code: str
    domain: str
    """``obesity``, ``hypertension``, ``diabetes`` or ``dyslipidemia``."""
    text: Text
    months: int | None
    """Re-screen or reassess within this many months, when the advice has an interval."""
    refs: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "domain": self.domain,
            "months": self.months,
            "text": self.text.to_json(),
            "references": list(self.refs),
        }


@dataclass(frozen=True, slots=True)
class Overall:
    """The MIDO label per condition; ``None`` when the measurements needed are missing."""

    obesity: Domain | None
    hypertension: Domain | None
    diabetes: Domain | None
    dyslipidemia: Domain | None
    """Only for known dyslipidemia (control status); ``None`` otherwise."""
    urgent_attention: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "obesity": _value(self.obesity),
            "hypertension": _value(self.hypertension),
            "diabetes": _value(self.diabetes),
            "dyslipidemia": _value(self.dyslipidemia),
            "urgent_attention": self.urgent_attention,
        }


FINDRISC_ITEMS: tuple[str, ...] = (
    "age",
    "bmi",
    "waist",
    "physical_activity",
    "vegetables_fruit",
    "antihypertensive_medication",
    "high_glucose_history",
    "family_history_diabetes",
)


@dataclass(frozen=True, slots=True)
class FindriscResult:
    points: tuple[tuple[str, int | None], ...]
    """Points per item in questionnaire order; ``None`` when the item is unanswered."""
    score: int | None
    """Total 0-26, only when every item is known."""
    risk: FindriscRisk | None
    estimated_risk_percent: int | None
    """Estimated 10-year risk of type 2 diabetes for the risk band (1, 4, 17, 33, 50)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "risk": _value(self.risk),
            "estimated_risk_percent": self.estimated_risk_percent,
            "points": dict(self.points),
        }


@dataclass(frozen=True, slots=True)
class Classification:
    """The result of :func:`cart.classify.classify`; ``to_json()`` is the DESIGN §6 shape."""

    ruleset: RuleSetId
    ruleset_version: str
    options: ClassifyOptions
    bmi: Decimal | None
    """Rounded half-up to one decimal; the value that was classified."""
    weight_status: WeightStatus | None
    obesity_grade: int | None
    waist_risk: WaistRisk | None
    bp_category: BpCategory | None
    glucose_category: GlucoseCategory | None
    overall: Overall
    alerts: tuple[Alert, ...]
    recommendations: tuple[Recommendation, ...]
    references: tuple[Reference, ...]
    waist_to_height_ratio: Decimal | None
    """Rounded half-up to two decimals; the value that was classified."""
    waist_to_height_risk: WaistRisk | None
    findrisc: FindriscResult | None
    """``None`` when diabetes is known (FINDRISC screens for undiagnosed diabetes)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "ruleset": {
                "id": self.ruleset.value,
                "version": self.ruleset_version,
                "options": self.options.to_json(),
            },
            "bmi": _number(self.bmi),
            "weight_status": _value(self.weight_status),
            "obesity_grade": self.obesity_grade,
            "waist_risk": _value(self.waist_risk),
            "bp_category": _value(self.bp_category),
            "glucose_category": _value(self.glucose_category),
            "overall": self.overall.to_json(),
            "alerts": [a.to_json() for a in self.alerts],
            "recommendations": [r.to_json() for r in self.recommendations],
            "references": [r.to_json() for r in self.references],
            "waist_to_height_ratio": _number(self.waist_to_height_ratio),
            "waist_to_height_risk": _value(self.waist_to_height_risk),
            "findrisc": None if self.findrisc is None else self.findrisc.to_json(),
        }


def _value(member: Any) -> str | None:
    return None if member is None else str(member.value)


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)

"""POST /classify: risk classification of one screening (DESIGN section 6).

The body is the same JSON object ``cart classify`` reads on stdin; the rule set is the
query parameter ``?ruleset=nom|aha_ada`` (default ``nom``), so the body stays exactly the
classifier's input. The response is ``Classification.to_json()``, unchanged. Invalid
input is HTTP 422 with ``{"detail": [{"loc": ["body", <field>...], "msg", "type"}]}``,
whether pydantic (types, unknown keys) or the classifier (ranges, age under 20, ...)
refuses it. Deployment knobs (urgent glucose threshold, waist profile) come from the
``get_classify_options`` dependency, which the app may override from its settings.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from cart.classify import ClassifyOptions, classify
from cart.errors import ValidationError

__all__ = [
    "ClassificationPublic",
    "ClassifyRequest",
    "get_classify_options",
    "router",
]

router = APIRouter(prefix="/classify", tags=["classify"])

Sex = Literal["female", "male"]
GlucoseContext = Literal["fasting", "casual"]
Diagnosis = Literal["diabetes", "hypertension", "obesity", "dyslipidemia"]
FamilyHistory = Literal["none", "second_degree", "first_degree"]
RuleSetName = Literal["nom", "aha_ada"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class FindriscAnswersRequest(_Request):
    """FINDRISC questionnaire answers; any may be omitted (the score is then null)."""

    physical_activity_30min_daily: bool | None = None
    vegetables_fruit_daily: bool | None = None
    antihypertensive_medication: bool | None = None
    high_glucose_history: bool | None = None
    family_history_diabetes: FamilyHistory | None = None


class ClassifyRequest(_Request):
    """One screening; every field may be missing (the outputs that need it are null).

    Types and unknown keys are checked here; ranges (negative or absurd values, age
    under 20, diastolic not below systolic...) by the classifier, with the same 422 shape.
    """

    sex: Sex | None = None
    age: float | None = None
    weight_kg: float | None = None
    height_cm: float | None = None
    waist_cm: float | None = None
    systolic: float | None = None
    diastolic: float | None = None
    glucose_mg_dl: float | None = None
    glucose_context: GlucoseContext | None = None
    known_diagnoses: list[Diagnosis] | None = None
    hba1c: float | None = None
    total_cholesterol: float | None = None
    ldl: float | None = None
    findrisc: FindriscAnswersRequest | None = None


# --------------------------------------------------------------------------- response (docs)


class _Public(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleSetOptionsPublic(_Public):
    urgent_glucose_high: float
    waist_profile: Literal["idf_latam", "atp3"]


class RuleSetPublic(_Public):
    id: RuleSetName
    version: str
    options: RuleSetOptionsPublic


class OverallPublic(_Public):
    obesity: str | None
    hypertension: str | None
    diabetes: str | None
    dyslipidemia: str | None
    urgent_attention: bool


class TextPublic(_Public):
    es: str
    en: str


class AlertPublic(_Public):
    code: str
    severity: Literal["urgent", "warning", "info"]
    fields: list[str]
    text: TextPublic


class RecommendationPublic(_Public):
    code: str
    domain: str
    months: int | None
    text: TextPublic
    references: list[str]


class ReferencePublic(_Public):
    id: str
    citation: str
    url: str | None


class FindriscPublic(_Public):
    score: int | None
    risk: str | None
    estimated_risk_percent: int | None
    points: dict[str, int | None]


class ClassificationPublic(_Public):
    """DESIGN section 6, plus the portfolio extras (waist-to-height ratio, FINDRISC)."""

    ruleset: RuleSetPublic
    bmi: float | None
    weight_status: str | None
    obesity_grade: int | None
    waist_risk: str | None
    bp_category: str | None
    glucose_category: str | None
    overall: OverallPublic
    alerts: list[AlertPublic]
    recommendations: list[RecommendationPublic]
    references: list[ReferencePublic]
    waist_to_height_ratio: float | None
    waist_to_height_risk: str | None
    findrisc: FindriscPublic | None


def get_classify_options() -> ClassifyOptions:
    """Deployment options; override with ``app.dependency_overrides`` to use settings."""
    return ClassifyOptions()


OptionsDep = Annotated[ClassifyOptions, Depends(get_classify_options)]


@router.post(
    "",
    response_model=ClassificationPublic,
    summary="Classify one screening into MIDO risk categories",
)
def classify_screening(
    body: ClassifyRequest,
    options: OptionsDep,
    ruleset: Annotated[
        RuleSetName, Query(description="nom (Mexican norms, default) or aha_ada")
    ] = "nom",
) -> JSONResponse:
    data: dict[str, Any] = body.model_dump(exclude_none=True)
    try:
        result = classify(data, ruleset, options=options)
    except ValidationError as exc:
        raise HTTPException(
            status_code=422,
            detail=[
                {
                    "loc": ["body", *exc.field.split(".")],
                    "msg": exc.reason,
                    "type": exc.type_name,
                }
            ],
        ) from exc
    return JSONResponse(result.to_json())

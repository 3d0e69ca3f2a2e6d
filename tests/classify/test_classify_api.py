"""POST /api/v1/classify: same input and output as the CLI; 422 names the field."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from cart.classify import ClassifyOptions, classify
from service.api.routes.classify import ClassificationPublic, get_classify_options, router

with warnings.catch_warnings():
    # starlette asks for httpx2 when the test client is imported; nothing to fix here
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

URL = "/api/v1/classify"

SCREENING = {
    "sex": "male",
    "age": 61,
    "weight_kg": 88,
    "height_cm": 158,
    "waist_cm": 97,
    "systolic": 128,
    "diastolic": 78,
    "glucose_mg_dl": 143,
    "glucose_context": "casual",
    "known_diagnoses": ["dyslipidemia"],
    "hba1c": 6.6,
    "total_cholesterol": 190,
    "ldl": 95,
    "findrisc": {"physical_activity_30min_daily": True, "family_history_diabetes": "none"},
}


@pytest.fixture
def app() -> FastAPI:
    app = FastAPI()
    app.include_router(router, prefix="/api/v1")
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize("ruleset", ["nom", "aha_ada"])
def test_same_output_as_the_library(client, ruleset):
    response = client.post(URL, params={"ruleset": ruleset}, json=SCREENING)
    assert response.status_code == 200
    body = response.json()
    assert body == classify(SCREENING, ruleset).to_json()
    assert body["ruleset"]["id"] == ruleset
    ClassificationPublic.model_validate(body)  # the documented schema matches exactly


def test_default_ruleset_is_nom_and_rule_sets_differ(client):
    nom = client.post(URL, json=SCREENING).json()
    aha = client.post(URL, params={"ruleset": "aha_ada"}, json=SCREENING).json()
    assert nom["ruleset"]["id"] == "nom"
    assert nom["weight_status"] == "obesity"  # short man (158 cm), BMI 35.3
    assert nom["bp_category"] == "normal"
    assert aha["bp_category"] == "elevated"
    assert (nom["overall"]["hypertension"], aha["overall"]["hypertension"]) == (
        "healthy",
        "at_risk",
    )
    assert nom["glucose_category"] == "prediabetes"
    assert aha["glucose_category"] == "probable_diabetes"  # HbA1c 6.6 under ADA


def test_empty_body_gives_nulls(client):
    body = client.post(URL, json={}).json()
    assert body["bmi"] is None
    assert body["overall"]["urgent_attention"] is False


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"age": 19}, ["body", "age"]),
        ({"weight_kg": -70}, ["body", "weight_kg"]),
        ({"systolic": 90, "diastolic": 95}, ["body", "diastolic"]),
        ({"total_cholesterol": 100, "ldl": 150}, ["body", "ldl"]),
        ({"sex": "other"}, ["body", "sex"]),
        ({"glucose_context": "after_lunch"}, ["body", "glucose_context"]),
        ({"known_diagnoses": ["asthma"]}, ["body", "known_diagnoses", 0]),
        ({"weight_kg": "70"}, ["body", "weight_kg"]),
        ({"weight_kg": True}, ["body", "weight_kg"]),
        ({"bmi": 31}, ["body", "bmi"]),
        ({"findrisc": {"smoker": True}}, ["body", "findrisc", "smoker"]),
        (
            {"findrisc": {"family_history_diabetes": "cousin"}},
            ["body", "findrisc", "family_history_diabetes"],
        ),
    ],
)
def test_invalid_input_is_422_naming_the_field(client, body, loc):
    response = client.post(URL, json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert detail
    assert detail[0]["loc"] == loc
    assert detail[0]["msg"]
    assert detail[0]["type"]


def test_classifier_validation_error_type(client):
    detail = client.post(URL, json={"age": 12}).json()["detail"]
    assert detail == [
        {
            "loc": ["body", "age"],
            "msg": "12 years is outside the accepted range 20-120 years",
            "type": "ValidationError",
        }
    ]


def test_unknown_ruleset_is_422(client):
    response = client.post(URL, params={"ruleset": "who"}, json={})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "ruleset"]


def test_options_come_from_an_overridable_dependency(app, client):
    body = {"glucose_mg_dl": 270, "glucose_context": "casual"}
    assert client.post(URL, json=body).json()["overall"]["urgent_attention"] is True
    app.dependency_overrides[get_classify_options] = lambda: ClassifyOptions(
        urgent_glucose_high=300
    )
    out = client.post(URL, json=body).json()
    assert out["overall"]["urgent_attention"] is False
    assert out["ruleset"]["options"]["urgent_glucose_high"] == 300


def test_openapi_documents_the_route(app):
    schema = app.openapi()
    operation = schema["paths"]["/api/v1/classify"]["post"]
    assert operation["tags"] == ["classify"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["ruleset"]["in"] == "query"
    assert "ClassifyRequest" in schema["components"]["schemas"]
    assert schema["components"]["schemas"]["ClassifyRequest"]["additionalProperties"] is False

"""OpenAPI declares every error body and the bearer token; real error responses match.

Each refusal below is produced by the running app and its JSON body is validated
(jsonschema-rs) against the schema the document declares for that operation and code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs

from tests.helpers import running_app
from tests.service.support import API, PATIENT, curp, enter, new_screening, with_devices


def _declared(document: dict[str, Any], method: str, path: str, code: int) -> dict[str, Any]:
    response = document["paths"][path][method]["responses"][str(code)]
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


def _check(document: dict[str, Any], method: str, path: str, response: httpx.Response) -> None:
    schema = _declared(document, method, path, response.status_code)
    # resolve "#/components/..." against the document's own components
    validator = jsonschema_rs.validator_for({**schema, "components": document["components"]})
    errors = [e.message for e in validator.iter_errors(response.json())]
    assert not errors, (method, path, response.status_code, response.json(), errors)


def test_every_error_response_has_a_schema_and_the_token_is_a_security_scheme():
    from cart.config import Settings
    from service.main import create_app

    document = create_app(Settings(devices_file=Path("none.toml"), _env_file=None)).openapi()
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["security"] == [{}, {"bearerAuth": []}]  # loopback needs no token
    operations = [
        (path, method, op)
        for path, ops in document["paths"].items()
        if path.startswith(API)
        for method, op in ops.items()
    ]
    assert len(operations) >= 13
    for path, method, op in operations:
        assert "401" in op["responses"], (method, path)
        for code, response in op["responses"].items():
            if code[0] in "45":
                assert response["content"]["application/json"]["schema"], (method, path, code)
    measure = document["paths"][f"{API}/screenings/{{screening_id}}/measure"]["post"]
    assert {"404", "409", "422", "503"} <= set(measure["responses"])


async def test_real_refusals_match_their_declared_schemas(tmp_path: Path):
    settings = with_devices(tmp_path, tmp_path / "none.toml")
    async with running_app(settings) as (app, client):
        doc = app.openapi()
        screening = f"{API}/screenings/{{screening_id}}"
        _check(doc, "get", screening, await client.get(f"{API}/screenings/999"))  # 404
        missing = await client.get(f"{API}/patients/999")
        assert missing.status_code == 404
        _check(doc, "get", f"{API}/patients/{{patient_id}}", missing)  # detail: a sentence
        sid = await new_screening(client)
        duplicate = await client.post(f"{API}/patients", json=PATIENT)
        assert duplicate.status_code == 409
        assert duplicate.json()["detail"]["existing_id"] >= 1
        _check(doc, "post", f"{API}/patients", duplicate)
        bad_curp = await client.post(
            f"{API}/patients", json={**PATIENT, "curp": curp("HEPL750412MDFRRC0")[:-1] + "X"}
        )
        assert bad_curp.status_code == 422
        _check(doc, "post", f"{API}/patients", bad_curp)
        implausible = await enter(client, sid, "body_weight", 900, "kg")
        assert implausible.status_code == 422
        _check(doc, "post", f"{screening}/measurements", implausible)
        no_device = await client.post(f"{API}/screenings/{sid}/measure")
        assert no_device.status_code == 503
        _check(doc, "post", f"{screening}/measure", no_device)
        empty = await client.post(f"{API}/screenings/{sid}/complete")
        assert empty.status_code == 409
        assert empty.json()["detail"]["reason"] == "empty"
        _check(doc, "post", f"{screening}/complete", empty)


async def test_a_remote_client_without_the_token_gets_the_declared_401(tmp_path: Path):
    settings = with_devices(tmp_path, tmp_path / "none.toml", api_token="t0ken-for-docs")
    async with running_app(settings, client_host="192.0.2.10") as (app, client):
        refused = await client.get(f"{API}/health")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        _check(app.openapi(), "get", f"{API}/health", refused)
        allowed = await client.get(
            f"{API}/health", headers={"Authorization": "Bearer t0ken-for-docs"}
        )
        assert allowed.status_code == 200

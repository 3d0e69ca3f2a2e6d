"""The OpenAPI document says what errors look like and how remote clients authenticate.

Routes declare which error codes they answer (404, 409, 422, 503) with a description;
this fills in the body's schema where a route gave none, adds the 401 that
:class:`service.security.BearerForRemoteClients` answers to any non-loopback client
without the token, and declares that bearer token as a security scheme. Nothing here
changes a response: it documents the ones :mod:`service.errors` and the routes send.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from service.schemas import ProblemItem

__all__ = ["BEARER", "ErrorBody", "ErrorResponse", "ProblemResponse", "install_openapi"]

BEARER = "bearerAuth"


class ErrorBody(BaseModel):
    """A refusal the nurse can act on: what happened, and what to do, in Spanish."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})

    type: str | None = Field(default=None, description="the error class, e.g. DeviceTimeout")
    message: str = Field(description="technical message (English)")
    nurse_message: str = Field(description="what the kiosk shows (es-MX)")
    reason: str | None = Field(
        default=None, description="machine-readable cause of a conflict, e.g. measuring"
    )


class ErrorResponse(BaseModel):
    """404, 409, 503 (and 400): ``detail`` is an ErrorBody, or a plain sentence for a
    missing patient. Extra fields name what is involved (``existing_id``, ``devices``)."""

    detail: ErrorBody | str


class ProblemResponse(BaseModel):
    """422 from the cart's own checks: each item names the field (``loc``) and the reason,
    with the Spanish text for the nurse."""

    detail: list[ProblemItem]


class Unauthorized(BaseModel):
    """401: a client outside this computer without the bearer token."""

    detail: str


_BODIES: dict[str, type[BaseModel]] = {"422": ProblemResponse}
_UNAUTHORIZED = {
    "description": "A client outside this computer sent no valid bearer token",
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Unauthorized"}}},
}


def install_openapi(app: FastAPI) -> None:
    """Build the document once, with the error schemas and the security scheme."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    openapi_version=app.openapi_version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    models: tuple[type[BaseModel], ...] = (
        ErrorBody,
        ErrorResponse,
        ProblemItem,
        ProblemResponse,
        Unauthorized,
    )
    for model in models:
        _add_schema(schemas, model)
    document["components"]["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "CART_API_TOKEN. Required from any client outside this computer; "
            "clients on it (the kiosk) need none.",
        }
    }
    # anonymous from the cart itself ({}), or with the token from anywhere
    document["security"] = [{}, {BEARER: []}]
    for path, operations in document.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, response in responses.items():
                if code[0] in "45":
                    ref = f"#/components/schemas/{_BODIES.get(code, ErrorResponse).__name__}"
                    body = response.setdefault("content", {}).setdefault("application/json", {})
                    body.setdefault("schema", {"$ref": ref})  # keeps a route's own example
            responses.setdefault("401", _UNAUTHORIZED)
    return document


def _add_schema(schemas: dict[str, Any], model: type[BaseModel]) -> None:
    generated = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in generated.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas.setdefault(model.__name__, generated)

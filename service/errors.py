"""Map the project's errors to HTTP responses with a useful body."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from cart.curp import CurpError
from cart.errors import (
    CartError,
    ConfigError,
    DeviceError,
    DeviceNotFound,
    ImplausibleValue,
    NotAttributed,
    ScreeningConflict,
    ValidationError,
)

__all__ = ["ACCESS_RESPONSES", "DATABASE_BUSY", "error_body", "install_error_handlers", "problem"]

log = logging.getLogger(__name__)

#: what every API operation may answer before its route runs (service/api/middleware.py,
#: service/security.py), declared in the OpenAPI document
ACCESS_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "Signed out (no session cookie or user token), or a client outside "
        "this computer without a valid bearer token"
    },
    403: {
        "description": "The user's role may not do this, or a state-changing request from "
        "another web origin"
    },
}

DATABASE_BUSY: dict[str, str] = {
    "type": "DatabaseBusy",
    "message": "the database is busy or unavailable; try again in a few seconds",
    "nurse_message": "La base de datos está ocupada: espere unos segundos e intente de nuevo",
}

#: Spanish names of the fields a nurse can get wrong
_FIELDS_ES: dict[str, str] = {
    "curp": "la CURP",
    "birth_date": "la fecha de nacimiento",
    "sex": "el sexo",
    "given_name": "el nombre",
    "family_name": "los apellidos",
    "value": "el valor",
    "unit": "la unidad",
    "age": "la edad",
    "diastolic": "la presión diastólica",
    "systolic": "la presión sistólica",
}


_ROLE_NOUNS_ES: dict[str, str] = {
    "scale": "La báscula",
    "stadiometer": "El estadímetro",
    "bp": "El baumanómetro",
    "glucometer": "El glucómetro",
}


def error_body(exc: CartError, *, role: str | None = None) -> dict[str, str]:
    """``type``, technical ``message`` and the Spanish ``nurse_message`` of an error.

    ``role`` words errors that are not device errors but happened on a device (an
    implausible reading, a driver failure) with the device's Spanish name.
    """
    if isinstance(exc, DeviceError):
        nurse = exc.nurse_message
    elif isinstance(exc, NotAttributed | ScreeningConflict):
        body = {"type": exc.type_name, "message": exc.message, "nurse_message": exc.nurse_message}
        return {**body, "reason": exc.reason}
    elif role is not None and isinstance(exc, ImplausibleValue):
        noun = _ROLE_NOUNS_ES.get(role, "El equipo")
        nurse = (
            f"{noun} dio un valor imposible ({exc.value:g} {exc.unit}): repita la medición "
            "o capture el valor a mano"
        )
    elif role is not None and not isinstance(exc, ValidationError | ConfigError):
        noun = _ROLE_NOUNS_ES.get(role, "El equipo")
        nurse = f"{noun} tuvo un problema: presione Reintentar"
    else:
        nurse = _nurse_text(exc)
    return {"type": exc.type_name, "message": exc.message, "nurse_message": nurse}


def _nurse_text(exc: CartError) -> str:
    if isinstance(exc, CurpError):
        return exc.reason_es
    if isinstance(exc, ImplausibleValue):
        return (
            f"El valor {exc.value:g} está fuera del rango posible ({exc.low:g} a {exc.high:g}): "
            "revíselo y vuelva a capturarlo"
        )
    if isinstance(exc, ValidationError):
        if exc.field == "age":
            return "El tamizaje es para personas de 20 años o más: revise la fecha de nacimiento"
        name = _FIELDS_ES.get(exc.field, exc.field)
        return f"Revise {name}: el dato no es válido"
    if isinstance(exc, ConfigError):
        return "Configuración del carrito incorrecta: avise al técnico"
    return "Ocurrió un error: intente de nuevo"


def problem(
    exc: ValidationError, *, where: str = "body", field: str | None = None
) -> dict[str, Any]:
    """One FastAPI-style validation item, plus the Spanish text for the kiosk."""
    code = exc.code if isinstance(exc, CurpError) else exc.type_name
    return {
        "loc": [where, field or exc.field],
        "msg": exc.reason,
        "type": code,
        "nurse_message": _nurse_text(exc),
    }


def install_error_handlers(app: FastAPI) -> None:
    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ValidationError)
        return JSONResponse(status_code=422, content={"detail": [problem(exc)]})

    async def on_not_found(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DeviceNotFound)
        return JSONResponse(status_code=404, content={"detail": error_body(exc)})

    async def on_cart_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CartError)
        status = 503 if isinstance(exc, DeviceError | ConfigError) else 400
        return JSONResponse(status_code=status, content={"detail": error_body(exc)})

    async def on_database(_: Request, exc: Exception) -> JSONResponse:
        # the class only: the statement and its values may name the patient
        log.warning("database unavailable (%s): answered 503", type(exc).__name__)
        return JSONResponse(
            status_code=503, content={"detail": DATABASE_BUSY}, headers={"Retry-After": "5"}
        )

    app.add_exception_handler(OperationalError, on_database)
    app.add_exception_handler(ValidationError, on_validation)
    app.add_exception_handler(DeviceNotFound, on_not_found)
    app.add_exception_handler(CartError, on_cart_error)

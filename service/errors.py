"""Map the project's errors to HTTP responses with a useful body."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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

__all__ = ["error_body", "install_error_handlers", "problem"]

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

    app.add_exception_handler(ValidationError, on_validation)
    app.add_exception_handler(DeviceNotFound, on_not_found)
    app.add_exception_handler(CartError, on_cart_error)

"""Map the project's errors to HTTP responses with a useful body."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cart.errors import CartError, ConfigError, DeviceError, DeviceNotFound, ValidationError

__all__ = ["error_body", "install_error_handlers"]


def error_body(exc: CartError) -> dict[str, str]:
    nurse = exc.nurse_message if isinstance(exc, DeviceError) else _nurse_text(exc)
    return {"type": exc.type_name, "message": exc.message, "nurse_message": nurse}


def _nurse_text(exc: CartError) -> str:
    if isinstance(exc, ValidationError):
        return f"Dato no válido ({exc.field}): revise y corrija"
    if isinstance(exc, ConfigError):
        return "Configuración del carrito incorrecta: avise al técnico"
    return "Ocurrió un error: intente de nuevo"


def install_error_handlers(app: FastAPI) -> None:
    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ValidationError)
        return JSONResponse(
            status_code=422,
            content={
                "detail": [{"loc": ["body", exc.field], "msg": exc.reason, "type": exc.type_name}]
            },
        )

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

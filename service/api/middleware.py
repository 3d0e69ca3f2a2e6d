"""Request guards that run before any route: Host allowlist, Origin check, body limit, JSON.

- **Host allowlist.** A page on ``evil.example`` whose DNS name is re-pointed to
  127.0.0.1 (DNS rebinding) reaches the service with ``Host: evil.example``; only
  127.0.0.1, localhost, [::1] and the configured names are answered (400 otherwise).
- **Origin.** A browser names the page that sent a state-changing request; one from
  another origin (or ``null``, a sandboxed or file page) is refused with 403, so no
  web page can register patients or complete screenings through the nurse's browser.
- **Body size.** Bodies over :data:`MAX_BODY_BYTES` get 413 before anything reads them.
- **Strict JSON.** ``NaN``, ``Infinity`` and numbers that overflow a double (``1e309``)
  are not JSON (RFC 8259) but Python's parser takes them; they get 422 here instead of
  reaching a model, a database column or an error response that cannot encode them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["LOOPBACK_NAMES", "MAX_BODY_BYTES", "RequestGuard", "host_name"]

#: the largest request body accepted (the biggest real one, a patient, is < 1 KiB)
MAX_BODY_BYTES: Final = 64 * 1024
#: host names that always mean "this computer"
LOOPBACK_NAMES: Final = frozenset({"127.0.0.1", "localhost", "::1"})
#: methods a browser may send cross-origin without changing anything
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
#: a bind address that is no name a client would use
_WILDCARDS: Final = frozenset({"0.0.0.0", "::", ""})  # noqa: S104


def host_name(authority: str) -> str | None:
    """The lower-case host of a ``Host`` value (``[::1]:8000`` -> ``::1``), None if malformed."""
    try:
        parts = urlsplit(f"//{authority}")
        host = parts.hostname
        _ = parts.port  # raises on a non-numeric port
    except ValueError:
        return None
    return host or None


class RequestGuard:
    """Pure ASGI middleware (it must see the raw body before FastAPI parses it)."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        extra = {h.strip().lower().strip("[]") for h in allowed_hosts}
        self.allowed = LOOPBACK_NAMES | (extra - _WILDCARDS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        authority = headers.get("host", "")
        if host_name(authority) not in self.allowed:
            await _refuse(
                scope,
                receive,
                send,
                400,
                "HostNotAllowed",
                "this service answers only to its own host names",
                "Dirección no permitida: abra el carrito desde su propia pantalla",
            )
            return
        method = scope.get("method", "GET")
        if method not in SAFE_METHODS and not _same_origin(headers, authority):
            await _refuse(
                scope,
                receive,
                send,
                403,
                "CrossOrigin",
                "state-changing requests from another web origin are refused",
                "Solicitud rechazada: provenía de otra página web",
            )
            return
        if scope["type"] != "http" or method in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        await self._with_body(scope, receive, send, headers)

    async def _with_body(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers
    ) -> None:
        declared = headers.get("content-length")
        if declared is not None and (not declared.isascii() or not declared.isdigit()):
            await _refuse(
                scope,
                receive,
                send,
                400,
                "BadContentLength",
                "Content-Length is not a number",
                "Solicitud no válida",
            )
            return
        if declared is not None and int(declared) > MAX_BODY_BYTES:
            await _too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                await _too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and "json" in headers.get("content-type", "") and not _finite_json(body):
            detail = [
                {
                    "loc": ["body"],
                    "msg": "JSON numbers must be finite: NaN, Infinity and numbers too large "
                    "for a double (such as 1e309) are refused",
                    "type": "json_not_finite",
                    "nurse_message": "Un número no es válido: revise los valores capturados",
                }
            ]
            await JSONResponse({"detail": detail}, status_code=422)(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _same_origin(headers: Headers, authority: str) -> bool:
    """True unless a browser says the request comes from another origin."""
    origin = headers.get("origin")
    if origin is None:
        # no Origin: not a browser's cross-origin request (curl, the CLI, a same-origin
        # form in old browsers); Sec-Fetch-Site still tells on modern ones
        return headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == authority.lower()


def _finite_json(body: bytes) -> bool:
    """False when the body is JSON with a non-finite number (malformed JSON is FastAPI's)."""

    def constant(_: str) -> Any:
        raise _NotFinite

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise _NotFinite
        return value

    try:
        json.loads(body, parse_constant=constant, parse_float=number)
    except _NotFinite:
        return False
    except (ValueError, RecursionError):
        return True  # not JSON at all: FastAPI answers 422 json_invalid itself
    return True


class _NotFinite(Exception):
    pass


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    await _refuse(
        scope,
        receive,
        send,
        413,
        "PayloadTooLarge",
        f"request bodies are limited to {MAX_BODY_BYTES} bytes",
        "Los datos enviados son demasiado grandes",
    )


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, kind: str, message: str, nurse: str
) -> None:
    body = {"detail": {"type": kind, "message": message, "nurse_message": nurse}}
    await JSONResponse(body, status_code=status)(scope, receive, send)

"""Network gate: loopback clients reach the service (the kiosk on the cart); anyone else
needs the bearer token of the settings or a user's token. Patient data additionally
needs a signed-in user or a user's token (:mod:`service.auth`)."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from cart.users import TOKEN_PREFIX

__all__ = ["BearerForRemoteClients", "RedactQueryStrings", "install_log_redaction"]


class BearerForRemoteClients:
    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or _is_loopback(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        ok = scheme.lower() == "bearer" and (
            (
                self.token is not None
                and hmac.compare_digest(presented.encode(), self.token.encode())
            )
            or await _user_token(scope, presented)
        )
        if not ok:
            response: Response = JSONResponse(
                {"detail": "a bearer token is required for clients outside this computer"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _user_token(scope: Scope, presented: str) -> bool:
    """A user's bearer token (``cart users token``) also lets a remote client in."""
    if not presented.startswith(TOKEN_PREFIX):
        return False
    accounts = scope["app"].state.cart.accounts
    return await asyncio.to_thread(accounts.principal_for_token, presented) is not None


def _is_loopback(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    host = client[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_QUERY_VALUE = re.compile(r"([?&][^=&#\s\"]+)=[^&#\s\"]*")


class RedactQueryStrings(logging.Filter):
    """Blank every query-string value in a log record (``?curp=...`` is personal data).

    Installed on ``uvicorn.access`` (the request path with its query is an argument)
    and ``httpx`` (the URL object of every outgoing request, e.g. to SIC).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(a) for a in record.args)
        if isinstance(record.msg, str) and "?" in record.msg:
            record.msg = _QUERY_VALUE.sub(r"\1=[redacted]", record.msg)
        return True


def _redact(arg: object) -> object:
    if isinstance(arg, int | float | bytes) or arg is None:
        return arg
    text = str(arg)
    if "?" not in text or "=" not in text:
        return arg
    return _QUERY_VALUE.sub(r"\1=[redacted]", text)


#: loggers that write request URLs
URL_LOGGERS = ("uvicorn.access", "httpx")


def install_log_redaction(logger_names: tuple[str, ...] = URL_LOGGERS) -> None:
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQueryStrings) for f in logger.filters):
            logger.addFilter(RedactQueryStrings())

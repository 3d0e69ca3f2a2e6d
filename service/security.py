"""Loopback clients are trusted (the kiosk on the cart); anyone else needs the bearer token."""

from __future__ import annotations

import hmac
import ipaddress

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["BearerForRemoteClients"]


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
        ok = (
            self.token is not None
            and scheme.lower() == "bearer"
            and hmac.compare_digest(presented.encode(), self.token.encode())
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

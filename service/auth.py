"""Who is asking: kiosk sessions (cookie) and bearer tokens with a role, and role checks.

The kiosk signs in with a user name and PIN (``POST /api/v1/session``) and gets an
HttpOnly, SameSite=Strict cookie naming an in-memory session that ends after
``CART_SESSION_IDLE_S`` without a request or at a restart. The kiosk locks its own
screen sooner, after ``CART_KIOSK_LOCK_S`` without a touch or a key (its polling keeps
the session alive), and then signs out.
Programs send ``Authorization: Bearer mct_...`` (``cart users token NAME``), which
acts with that user's role. Loopback alone no longer reads patients.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Final

from fastapi import Depends, HTTPException, Request, status

from cart.store.accounts import Accounts, Principal
from cart.users import PATIENT_ROLES, TOKEN_PREFIX, Role
from service.auditing import record

if TYPE_CHECKING:
    from service.state import CartState

__all__ = [
    "KEEP_ENDED_S",
    "PREVIOUS_COOKIE",
    "SESSION_COOKIE",
    "AdminUser",
    "PatientUser",
    "SessionRegistry",
    "SignInThrottle",
    "current_principal",
    "patient_user",
    "require",
    "session_user",
]

SESSION_COOKIE: Final = "cart_session"
#: after a sign-out, names the ended session: the next sign-in knows who was here before
PREVIOUS_COOKIE: Final = "cart_previous"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class _Session:
    principal: Principal
    last_seen: float
    #: why it ended (None: open): "sign_out", "switch", "lock", "idle"
    ended: str | None = None
    #: an idle end not yet written to the audit trail
    unreported: bool = False


#: how long an ended session still says who was signed in (for the next sign-in's switch)
KEEP_ENDED_S: Final = 12 * 3600.0


@dataclass
class SessionRegistry:
    """Kiosk sessions by the SHA-256 of their cookie (the cookie is never kept).

    An ended session (signed out, locked, idle) stays known for :data:`KEEP_ENDED_S` as
    "who was at the kiosk", so the next sign-in can tell a switch of nurse from an unlock.
    """

    idle_s: float
    clock: Callable[[], float] = time.monotonic
    _sessions: dict[str, _Session] = field(default_factory=dict)

    def open(self, principal: Principal) -> str:
        self._forget_old()
        token = secrets.token_urlsafe(32)
        self._sessions[_digest(token)] = _Session(principal, self.clock())
        return token

    def get(self, token: str) -> Principal | None:
        """The session's user, touching it; None when unknown, ended or idle too long."""
        session = self._sessions.get(_digest(token))
        if session is None or session.ended is not None:
            return None
        now = self.clock()
        if now - session.last_seen > self.idle_s:
            session.ended, session.unreported, session.last_seen = "idle", True, now
            return None
        session.last_seen = now
        return session.principal

    def close(self, token: str, reason: str = "sign_out") -> Principal | None:
        """End the session; its user if it was open (to audit the sign-out), else None."""
        if self.get(token) is None:
            return None
        session = self._sessions[_digest(token)]
        session.ended = reason
        return session.principal

    def take_expired(self, token: str) -> Principal | None:
        """The user of a session that ended by inactivity, once (to audit it)."""
        session = self._sessions.get(_digest(token))
        if session is None or not session.unreported:
            return None
        session.unreported = False
        return session.principal

    def previous(self, token: str) -> Principal | None:
        """Who the (open or ended) session named by ``token`` belonged to."""
        session = self._sessions.get(_digest(token))
        return session.principal if session is not None else None

    def _forget_old(self) -> None:
        now = self.clock()
        for key in [
            k
            for k, s in self._sessions.items()
            if now - s.last_seen > (KEEP_ENDED_S if s.ended else self.idle_s + KEEP_ENDED_S)
        ]:
            del self._sessions[key]


@dataclass
class SignInThrottle:
    """After ``attempts`` wrong PINs for a user name, refuse it for ``lock_s`` seconds."""

    attempts: int = 5
    lock_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, list[float]] = field(default_factory=dict)

    def locked_for(self, username: str) -> float:
        """Seconds left on a lock (0: may try)."""
        recent = [t for t in self._failures.get(username, []) if self.clock() - t < self.lock_s]
        self._failures[username] = recent
        if len(recent) < self.attempts:
            return 0.0
        return self.lock_s - (self.clock() - recent[-self.attempts])

    def failed(self, username: str) -> None:
        self._failures.setdefault(username, []).append(self.clock())

    def succeeded(self, username: str) -> None:
        self._failures.pop(username, None)


def sign_in_required() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        {
            "type": "SignInRequired",
            "message": "sign in (POST /api/v1/session) or give a bearer token with a role",
            "nurse_message": "Inicie sesión para continuar",
        },
        headers={"WWW-Authenticate": "Bearer"},
    )


def bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def current_principal(request: Request) -> Principal:
    """The signed-in user (cookie) or the user behind a bearer token; 401 otherwise."""
    state = request.app.state.cart
    accounts: Accounts = state.accounts
    principal: Principal | None = None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        principal = await session_user(state, cookie)
    if principal is None:
        token = bearer(request)
        if token is not None and token.startswith(TOKEN_PREFIX):
            principal = await asyncio.to_thread(accounts.principal_for_token, token)
    elif not await asyncio.to_thread(accounts.is_active, principal.user_id):
        principal = None  # disabled by `cart users disable` since signing in
    if principal is None:
        await record(state.audit, "access_denied", outcome="denied", detail=_where(request, 401))
        raise sign_in_required()
    request.state.principal = principal
    return principal


async def session_user(state: CartState, cookie: str) -> Principal | None:
    """The kiosk session's user; a session found ended by inactivity is audited here."""
    principal = state.sessions.get(cookie)
    if principal is None:
        expired = state.sessions.take_expired(cookie)
        if expired is not None:
            await record(state.audit, "sign_out", expired, detail={"reason": "idle"})
    return principal


def _where(request: Request, status_code: int) -> dict[str, object]:
    """The route template under /api/v1 (``/patients/{patient_id}``): never a query or a value."""
    route = request.scope.get("route")
    path = getattr(route, "path", None) or "unknown"
    return {"method": request.method, "route": path, "status": status_code}


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    allowed = frozenset(roles)

    async def dependency(
        request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        if principal.role not in allowed:
            await record(
                request.app.state.cart.audit,
                "access_denied",
                principal,
                outcome="denied",
                detail=_where(request, 403),
            )
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                {
                    "type": "Forbidden",
                    "message": f"the {principal.role} role may not do this",
                    "nurse_message": "Su usuario no tiene permiso para esto",
                },
            )
        return principal

    return dependency


patient_user = require(*PATIENT_ROLES)
PatientUser = Annotated[Principal, Depends(patient_user)]
"""A user who may see and change patients and screenings."""
AdminUser = Annotated[Principal, Depends(require(Role.ADMINISTRATOR))]
"""An administrator (users, the audit trail)."""

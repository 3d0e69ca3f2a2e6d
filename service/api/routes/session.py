"""Sign in and out at the kiosk: a user name and PIN give an HttpOnly session cookie."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from cart.store.accounts import Principal
from service.api.deps import StateDep
from service.auditing import record
from service.auth import KEEP_ENDED_S, PREVIOUS_COOKIE, SESSION_COOKIE, current_principal
from service.state import CartState

router = APIRouter(prefix="/session", tags=["session"])
log = logging.getLogger(__name__)


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=32)
    pin: str = Field(min_length=1, max_length=12)


class UserPublic(BaseModel):
    id: int
    username: str
    display_name: str
    role: str

    @classmethod
    def of(cls, principal: Principal) -> UserPublic:
        return cls(
            id=principal.user_id,
            username=principal.username,
            display_name=principal.display_name,
            role=principal.role.value,
        )


class SessionPublic(BaseModel):
    user: UserPublic
    idle_timeout_s: float
    """The kiosk is signed out after this long without a request."""
    lock_after_s: float
    """The kiosk locks its screen after this long without a touch or a key."""

    @classmethod
    def of(cls, principal: Principal, state: CartState) -> SessionPublic:
        idle = state.sessions.idle_s
        lock = state.settings.kiosk_lock_s
        # the screen locks no later than the session it shows would end
        return cls(
            user=UserPublic.of(principal),
            idle_timeout_s=idle,
            lock_after_s=idle if lock is None else min(lock, idle),
        )


_WRONG = {
    "type": "SignInFailed",
    "message": "unknown user, disabled user or wrong PIN",
    "nurse_message": "Usuario o PIN incorrectos",
}


@router.post(
    "",
    response_model=SessionPublic,
    responses={
        401: {"description": "Unknown user, disabled user or wrong PIN"},
        429: {"description": "Too many wrong PINs for this user: wait (Retry-After)"},
    },
)
async def sign_in(
    body: SignIn, state: StateDep, request: Request, response: Response
) -> SessionPublic:
    """Check the PIN and open a session (cookie ``cart_session``: HttpOnly, SameSite=Strict)."""
    username = body.username.strip().lower()
    wait = state.throttle.locked_for(username)
    known = await asyncio.to_thread(state.accounts.by_name, username)
    # a user name that is no user may be a PIN typed in the wrong field: not kept
    who = username if known is not None else None
    if wait > 0:
        await record(state.audit, "sign_in", username=who, outcome="locked")
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            {
                "type": "SignInLocked",
                "message": "too many wrong PINs for this user",
                "nurse_message": "Demasiados intentos: espere unos minutos e intente de nuevo",
            },
            headers={"Retry-After": str(int(wait) + 1)},
        )
    principal = await asyncio.to_thread(state.accounts.authenticate, username, body.pin)
    if principal is None:
        state.throttle.failed(username)
        log.info("sign-in refused")  # no user name: it may be a mistyped PIN
        await record(state.audit, "sign_in", username=who, outcome="failed")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, _WRONG)
    state.throttle.succeeded(username)
    previous = await _hand_over(request, state)
    token = state.sessions.open(principal)
    await record(state.audit, "sign_in", principal)
    if previous is not None and previous.user_id != principal.user_id:
        # another nurse takes over the kiosk (and any screening left open on it)
        await record(
            state.audit,
            "switch_user",
            principal,
            object_type="user",
            object_id=previous.user_id,
        )
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict", path="/", secure=False
    )
    response.delete_cookie(PREVIOUS_COOKIE, path="/", httponly=True, samesite="strict")
    return SessionPublic.of(principal, state)


async def _hand_over(request: Request, state: CartState) -> Principal | None:
    """Who was at this kiosk before: a session still open is ended (and audited) here."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        still_open = state.sessions.close(cookie, "switch")
        if still_open is not None:
            await record(state.audit, "sign_out", still_open, detail={"reason": "switch"})
            return still_open
        expired = state.sessions.take_expired(cookie)
        if expired is not None:
            await record(state.audit, "sign_out", expired, detail={"reason": "idle"})
        previous = state.sessions.previous(cookie)
        if previous is not None:
            return previous
    before = request.cookies.get(PREVIOUS_COOKIE)
    return state.sessions.previous(before) if before else None


@router.get("", response_model=SessionPublic, responses={401: {"description": "Signed out"}})
async def whoami(
    principal: Annotated[Principal, Depends(current_principal)], state: StateDep
) -> SessionPublic:
    """The signed-in user and the kiosk's lock time (the kiosk asks this at start)."""
    return SessionPublic.of(principal, state)


SignOutReason = Literal["sign_out", "switch", "lock"]


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(
    request: Request,
    state: StateDep,
    reason: Annotated[SignOutReason, Query(description="why, for the audit trail")] = "sign_out",
) -> Response:
    """Close the session: "Cerrar sesión", "Cambiar de enfermera" (``switch``) or the
    kiosk's inactivity lock (``lock``). An open screening stays open for the next nurse,
    and a measuring run goes on under the nurse who started it."""
    cookie = request.cookies.get(SESSION_COOKIE)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    if cookie:
        principal = state.sessions.close(cookie, reason)
        if principal is not None:
            await record(state.audit, "sign_out", principal, detail={"reason": reason})
            # the ended session's name: the next sign-in tells a switch from an unlock
            response.set_cookie(
                PREVIOUS_COOKIE,
                cookie,
                max_age=int(KEEP_ENDED_S),
                httponly=True,
                samesite="strict",
                path="/",
                secure=False,
            )
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response

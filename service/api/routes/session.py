"""Sign in and out at the kiosk: a user name and PIN give an HttpOnly session cookie."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from cart.store.accounts import Principal
from service.api.deps import StateDep
from service.auditing import record
from service.auth import SESSION_COOKIE, current_principal

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
async def sign_in(body: SignIn, state: StateDep, response: Response) -> SessionPublic:
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
    token = state.sessions.open(principal)
    await record(state.audit, "sign_in", principal)
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict", path="/", secure=False
    )
    return SessionPublic(user=UserPublic.of(principal), idle_timeout_s=state.sessions.idle_s)


@router.get("", response_model=SessionPublic, responses={401: {"description": "Signed out"}})
async def whoami(
    principal: Annotated[Principal, Depends(current_principal)], state: StateDep
) -> SessionPublic:
    """The signed-in user (the kiosk asks this at start and after an idle lock)."""
    return SessionPublic(user=UserPublic.of(principal), idle_timeout_s=state.sessions.idle_s)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(request: Request, state: StateDep) -> Response:
    """Close the session (switch nurse); an open screening stays open for the next one."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        principal = state.sessions.get(cookie)
        state.sessions.close(cookie)
        if principal is not None:
            await record(state.audit, "sign_out", principal)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response

"""Users and their API tokens in the store (the service and `cart users` share it)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cart.errors import ValidationError
from cart.store.models import ApiToken, User
from cart.users import Role, check_username, hash_pin, new_token, token_digest, verify_pin

__all__ = ["Accounts", "Principal", "UserExists"]


@dataclass(frozen=True)
class Principal:
    """Who is asking: a signed-in user or a program holding that user's token."""

    user_id: int
    username: str
    display_name: str
    role: Role


class UserExists(ValidationError):
    def __init__(self, username: str) -> None:
        super().__init__("username", f"user {username!r} already exists")


class Accounts:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def add_user(
        self,
        username: str,
        display_name: str,
        role: Role,
        pin: str | None = None,
        *,
        licence: str | None = None,
        pin_hash: str | None = None,
    ) -> User:
        """Create a user; give the PIN (hashed here) or an argon2 ``pin_hash``."""
        try:
            check_username(username)
        except ValueError as exc:
            raise ValidationError("username", str(exc)) from None
        if pin_hash is None:
            if pin is None:
                raise ValidationError("pin", "a PIN is required")
            try:
                pin_hash = hash_pin(pin)
            except ValueError as exc:
                raise ValidationError("pin", str(exc)) from None
        user = User(
            username=username,
            display_name=display_name.strip() or username,
            role=Role(role).value,
            pin_hash=pin_hash,
            licence=licence or None,
        )
        with self._session() as s:
            s.add(user)
            try:
                s.commit()
            except IntegrityError:
                raise UserExists(username) from None
            s.refresh(user)
            return user

    def users(self) -> list[User]:
        with self._session() as s:
            return list(s.exec(select(User).order_by(col(User.username))))

    def get(self, user_id: int) -> User | None:
        with self._session() as s:
            return s.get(User, user_id)

    def by_name(self, username: str) -> User | None:
        with self._session() as s:
            return s.exec(select(User).where(User.username == username)).first()

    def set_active(self, username: str, active: bool) -> bool:
        """Enable or disable a user (and their tokens); False if there is no such user."""
        with self._session() as s:
            user = s.exec(select(User).where(User.username == username)).first()
            if user is None:
                return False
            user.active = active
            s.add(user)
            s.commit()
            return True

    def authenticate(self, username: str, pin: str) -> Principal | None:
        """The principal if the user exists, is active and the PIN matches."""
        user = self.by_name(username)
        if user is None or not user.active or not verify_pin(user.pin_hash, pin):
            return None
        return _principal(user)

    def issue_token(self, username: str) -> str:
        """A new bearer token for the user; only its digest is kept."""
        user = self.by_name(username)
        if user is None or user.id is None:
            raise ValidationError("username", f"no user {username!r}")
        token, digest = new_token()
        with self._session() as s:
            s.add(ApiToken(user_id=user.id, token_sha256=digest))
            s.commit()
        return token

    def principal_for_token(self, token: str) -> Principal | None:
        digest = token_digest(token)
        with self._session() as s:
            row = s.exec(
                select(User)
                .join(ApiToken, col(ApiToken.user_id) == col(User.id))
                .where(ApiToken.token_sha256 == digest, ApiToken.revoked == False)  # noqa: E712
            ).first()
        if row is None or not row.active:
            return None
        return _principal(row)

    def is_active(self, user_id: int) -> bool:
        user = self.get(user_id)
        return user is not None and user.active


def _principal(user: User) -> Principal:
    assert user.id is not None
    return Principal(user.id, user.username, user.display_name, Role(user.role))

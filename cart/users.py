"""Users and roles: who may do what at the cart, PIN rules and hashing, bearer tokens.

NOM-024-SSA3-2012 asks electronic health-record systems for identified users with
differentiated permissions. The cart has three roles:

========================  ==========================================================
nurse                     patients and screenings
technician                devices (no patient data)
administrator             everything, users and the audit trail
========================  ==========================================================

PINs are hashed with argon2id (argon2-cffi's ``PasswordHasher`` defaults, RFC 9106's
second recommended profile: 64 MiB, 3 passes); a short PIN is only as strong as the
sign-in lockout in front of it, which the service enforces.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from enum import StrEnum
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "PATIENT_ROLES",
    "Role",
    "check_pin",
    "check_username",
    "hash_pin",
    "new_token",
    "token_digest",
    "verify_pin",
]


class Role(StrEnum):
    NURSE = "nurse"
    TECHNICIAN = "technician"
    ADMINISTRATOR = "administrator"


#: roles that may see and change patients and screenings
PATIENT_ROLES: Final = frozenset({Role.NURSE, Role.ADMINISTRATOR})

PIN_PATTERN: Final = re.compile(r"[0-9]{6,12}")
USERNAME_PATTERN: Final = re.compile(r"[a-z][a-z0-9._-]{1,31}")
TOKEN_PREFIX: Final = "mct_"  # noqa: S105 (a marker, not a secret)

_hasher = PasswordHasher()


def check_pin(pin: str) -> str:
    """The PIN if it is 6 to 12 ASCII digits; ValueError (bilingual) otherwise."""
    if not PIN_PATTERN.fullmatch(pin):
        raise ValueError("the PIN must be 6 to 12 digits / el PIN debe tener de 6 a 12 dígitos")
    return pin


def check_username(username: str) -> str:
    if not USERNAME_PATTERN.fullmatch(username):
        raise ValueError(
            "a user name is 2 to 32 lower-case letters, digits, '.', '_' or '-', starting "
            "with a letter / el usuario debe empezar con letra minúscula"
        )
    return username


def hash_pin(pin: str) -> str:
    return _hasher.hash(check_pin(pin))


def verify_pin(pin_hash: str, pin: str) -> bool:
    try:
        return _hasher.verify(pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> tuple[str, str]:
    """A new bearer token and the SHA-256 digest that is stored instead of it."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()

"""CURP (Clave Única de Registro de Población): format, check digit and consistency.

Pure code: no I/O. Layout of the 18 characters (Instructivo Normativo para la
Asignación de la CURP, DOF 18-10-2021)::

    G  O  M  E  8  5  0  3  1  5  M  D  F  R  R  N  0  9
    └─ name letters ┘ └─ YYMMDD ──┘ │  └st┘ └cons.┘ │  └ check digit
                                    sex (H, M, X)   homonymy differentiator:
                                                    0-9 born up to 1999, A-Z from 2000

Check digit (RENAPO): map each of the first 17 characters through
``0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ`` (its index), multiply by 18, 17, ... 2,
sum; the digit is ``(10 - sum % 10) % 10``. Equivalently the weighted sum of all 18
characters (the check digit weighted 1) is a multiple of 10.

Errors are :class:`CurpError` (a :class:`cart.errors.ValidationError`) naming the
field (``curp``, ``birth_date`` or ``sex``), an English ``reason``, a machine
``code`` and a Spanish ``reason_es`` for the kiosk. Messages never include the CURP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Final

from cart.errors import ValidationError

__all__ = ["STATES", "CurpError", "CurpInfo", "check_digit", "normalise", "validate_curp"]

ALPHABET: Final = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"

#: entity codes of birth (catálogo de entidades federativas) plus NE, born abroad
STATES: Final[frozenset[str]] = frozenset(
    [
        "AS",
        "BC",
        "BS",
        "CC",
        "CL",
        "CM",
        "CS",
        "CH",
        "DF",
        "DG",
        "GT",
        "GR",
        "HG",
        "JC",
        "MC",
        "MN",
        "MS",
        "NT",
        "NL",
        "OC",
        "PL",
        "QT",
        "QR",
        "SP",
        "SL",
        "SR",
        "TC",
        "TS",
        "TL",
        "VZ",
        "YN",
        "ZS",
        "NE",
    ]
)

_FORMAT = re.compile(
    r"^[A-Z][AEIOUX][A-Z]{2}"  # name letters (the 2nd is the first internal vowel, or X)
    r"\d{6}"  # YYMMDD
    r"[HMX]"  # sex: H hombre, M mujer, X no binario
    r"[A-Z]{2}"  # state of birth
    r"[B-DF-HJ-NP-TV-Z]{3}"  # first internal consonants
    r"[0-9A-Z]"  # homonymy differentiator
    r"\d$"  # check digit
)

_SEX: Final[dict[str, str | None]] = {"H": "male", "M": "female", "X": None}


class CurpError(ValidationError):
    """An unacceptable CURP; ``code`` is stable, ``reason_es`` is for the nurse."""

    def __init__(self, field: str, code: str, reason: str, reason_es: str) -> None:
        super().__init__(field, reason)
        self.code = code
        self.reason_es = reason_es


@dataclass(frozen=True, slots=True)
class CurpInfo:
    curp: str
    """Normalised: upper case, no spaces."""
    birth_date: date
    sex: str | None
    """``male``, ``female``, or None for ``X`` (no binario)."""
    state: str


def normalise(curp: str) -> str:
    """Upper case without surrounding or inner whitespace."""
    return "".join(curp.split()).upper()


def check_digit(first17: str) -> str:
    """The RENAPO check digit of the first 17 characters of a CURP."""
    if len(first17) != 17:
        raise ValueError("a CURP check digit is computed over 17 characters")
    total = 0
    for position, char in enumerate(first17):
        index = ALPHABET.find(char)
        if index < 0:
            raise ValueError(f"character {char!r} is not allowed in a CURP")
        total += index * (18 - position)
    return str((10 - total % 10) % 10)


def validate_curp(
    curp: str,
    *,
    birth_date: date | None = None,
    sex: str | None = None,
    today: date | None = None,
) -> CurpInfo:
    """Check format, check digit and, when given, consistency with birth date and sex.

    ``today`` (the caller's clock; this module reads none) refuses a CURP whose birth
    date lies in the future, e.g. a letter differentiator on a 1990s date.
    """
    value = normalise(curp)
    if len(value) != 18:
        raise CurpError(
            "curp",
            "length",
            f"must have 18 characters, not {len(value)}",
            f"La CURP debe tener 18 caracteres y tiene {len(value)}: revísela",
        )
    if not _FORMAT.match(value):
        raise CurpError(
            "curp",
            "format",
            "does not follow the CURP layout (4 letters, 6 digits, H/M/X, state, "
            "3 consonants, differentiator, digit)",
            "La CURP no tiene el formato correcto: revise cada letra y número",
        )
    state = value[11:13]
    if state not in STATES:
        raise CurpError(
            "curp",
            "state",
            "characters 12-13 are not a Mexican state code (or NE)",
            "La CURP tiene una clave de estado inexistente: revise las letras 12 y 13",
        )
    expected = check_digit(value[:17])
    if value[17] != expected:
        raise CurpError(
            "curp",
            "check_digit",
            "the check digit does not match (a character was probably mistyped)",
            "La CURP no es válida: el último dígito no coincide. Revise cada carácter",
        )
    born = _birth_date(value)
    if today is not None and born > today:
        raise CurpError(
            "curp",
            "date",
            "the birth date in the CURP is in the future",
            "La fecha dentro de la CURP es posterior a hoy: revise los números 5 a 10 y el "
            "carácter 17",
        )
    curp_sex = _SEX[value[10]]
    if birth_date is not None and birth_date != born:
        raise CurpError(
            "birth_date",
            "curp_mismatch",
            "does not match the birth date encoded in the CURP",
            "La fecha de nacimiento no coincide con la CURP: revise ambas",
        )
    if sex is not None and curp_sex is not None and sex != curp_sex:
        raise CurpError(
            "sex",
            "curp_mismatch",
            "does not match the sex encoded in the CURP",
            "El sexo no coincide con la CURP: revise ambos",
        )
    return CurpInfo(curp=value, birth_date=born, sex=curp_sex, state=state)


def _birth_date(value: str) -> date:
    yy, mm, dd = int(value[4:6]), int(value[6:8]), int(value[8:10])
    # the differentiator is a digit for births up to 1999 and a letter from 2000
    century = 1900 if value[16].isdigit() else 2000
    try:
        return date(century + yy, mm, dd)
    except ValueError:
        raise CurpError(
            "curp",
            "date",
            "characters 5-10 are not a valid date (YYMMDD)",
            "La fecha dentro de la CURP no existe: revise los números 5 a 10",
        ) from None

"""FHIR JSON that writes each decimal with the digits the device reported.

A FHIR decimal is "a rational number with implicit precision" (FHIR R4 datatypes,
decimal): 70.0 and 70 are different values to a receiver, and the HL7 PHD IG ("IEEE
11073 FLOATs and SFLOATs") encodes SFLOAT 0xF014 as ``2.0`` and 0xE0C8 as ``2.00`` in
``valueQuantity.value``. Python floats cannot say this (``json.dumps(70.0)`` is ``70.0``,
``json.dumps(72.50)`` is ``72.5``), so the mapping puts a :class:`FhirDecimal` there: a
float (every reader, comparison and ``json.dumps`` elsewhere keeps working, printing it
as a float) that also carries its exact text, which :func:`dumps` writes literally.

:func:`dumps` is the one JSON path for what the cart sends to SIC (the whole Bundle and
every step of a stepped delivery go through ``FhirTransactionAdapter.request_for``).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from typing import Any

__all__ = ["FhirDecimal", "dumps", "quantity_value"]


class FhirDecimal(float):
    """A float with the exact decimal text FHIR JSON must carry (``72.50``)."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, value: float, text: str) -> FhirDecimal:
        number = super().__new__(cls, value)
        number.text = text
        return number

    def __getnewargs__(self) -> tuple[float, str]:  # type: ignore[override]
        return (float(self), self.text)

    def __repr__(self) -> str:
        return self.text


def quantity_value(value: float, decimals: int | None) -> float | int:
    """What ``valueQuantity.value`` holds: exactly ``decimals`` digits after the point
    (an int for 0: ``98`` never ``98.0``); None (unknown precision, e.g. rows stored before
    the cart kept it) gives today's float, whole numbers as ints."""
    if decimals is None:
        return int(value) if float(value).is_integer() else value
    if decimals == 0:
        return round(value)
    # a float read from a d-decimal text formats back to that text (correctly rounded)
    return FhirDecimal(value, f"{value:.{decimals}f}")


def dumps(resource: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON of ``resource``, each :class:`FhirDecimal` written as its text."""
    texts: list[str] = []
    nonce = secrets.token_hex(8)  # no string in the resource can guess it

    def swap(node: Any) -> Any:
        if type(node) is FhirDecimal:
            texts.append(node.text)
            return f"{nonce}{len(texts) - 1}"
        if isinstance(node, Mapping):
            return {key: swap(value) for key, value in node.items()}
        if isinstance(node, list | tuple):
            return [swap(value) for value in node]
        return node

    text = json.dumps(swap(resource), ensure_ascii=False, separators=(",", ":"))
    if texts:
        text = re.sub(f'"{nonce}(\\d+)"', lambda m: texts[int(m[1])], text)
    return text.encode()

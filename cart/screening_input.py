"""The classifier's input for one screening: the patient plus the latest readings.

Pure code (no store, no clock): the service hands in the patient's sex and birth
date, the screening's date and options, and the screening's measurements in arrival
order. The result is the JSON input of DESIGN section 6 (``sex``, ``age``,
``weight_kg``, ``height_cm``, ``waist_cm``, ``systolic``, ``diastolic``,
``glucose_mg_dl``, ``glucose_context``, ``known_diagnoses``); a value that was not
measured is ``None``, never a guess.

"Latest" is the last measurement of a kind with a number: a repeated weighing
replaces the first one, a manual entry made after a device reading wins, and the
blood-pressure average (stored after the readings it averages, see
:mod:`cart.screening`) is what the classifier sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, Final

from cart.measurement import Measurement, MeasurementKind

__all__ = ["INPUT_KINDS", "age_at", "build_input", "latest_values"]

K = MeasurementKind

#: measurement kind -> classifier input key
INPUT_KINDS: Final[Mapping[MeasurementKind, str]] = {
    K.BODY_WEIGHT: "weight_kg",
    K.BODY_HEIGHT: "height_cm",
    K.WAIST_CIRCUMFERENCE: "waist_cm",
    K.SYSTOLIC_PRESSURE: "systolic",
    K.DIASTOLIC_PRESSURE: "diastolic",
    K.GLUCOSE: "glucose_mg_dl",
    K.HBA1C: "hba1c",
}


def age_at(birth_date: date, on: date) -> int:
    """Completed years on ``on`` (a birthday on 29 February counts on 1 March)."""
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def latest_values(measurements: Iterable[Measurement]) -> dict[MeasurementKind, float]:
    """The last numeric value of each kind, in the order given (arrival order)."""
    latest: dict[MeasurementKind, float] = {}
    for m in measurements:
        if m.value is not None:
            latest[m.kind] = m.value
    return latest


def build_input(
    *,
    sex: str | None,
    birth_date: date | None,
    screening_date: date,
    glucose_context: str | None,
    known_diagnoses: Iterable[str],
    measurements: Iterable[Measurement],
) -> dict[str, Any]:
    """The classifier input (DESIGN section 6) for one screening."""
    latest = latest_values(measurements)
    data: dict[str, Any] = {
        "sex": sex,
        "age": age_at(birth_date, screening_date) if birth_date is not None else None,
    }
    for kind, key in INPUT_KINDS.items():
        data[key] = latest.get(kind)
    data["glucose_context"] = glucose_context
    data["known_diagnoses"] = sorted(set(known_diagnoses))
    return data

"""Physiological plausibility ranges, checked when a reading enters a screening.

Decoders report what the device sent; this is where a 3 kg adult or a glucose of
2,000 mg/dL is refused (DESIGN section 2). Refused readings stay in the raw log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from cart.errors import ImplausibleValue
from cart.measurement import KIND_INFO, Measurement, MeasurementKind

__all__ = ["PLAUSIBLE", "check_plausible"]

K = MeasurementKind
#: (low, high) inclusive, in the canonical unit
PLAUSIBLE: Final[Mapping[MeasurementKind, tuple[float, float]]] = {
    K.BODY_WEIGHT: (2.0, 300.0),
    K.BODY_HEIGHT: (40.0, 230.0),
    K.BMI: (8.0, 100.0),
    K.WAIST_CIRCUMFERENCE: (30.0, 250.0),
    K.SYSTOLIC_PRESSURE: (50.0, 300.0),
    K.DIASTOLIC_PRESSURE: (20.0, 200.0),
    K.MEAN_ARTERIAL_PRESSURE: (30.0, 250.0),
    K.PULSE_RATE: (20.0, 250.0),
    K.GLUCOSE: (10.0, 800.0),
    K.HBA1C: (3.0, 20.0),
    K.BODY_FAT: (2.0, 75.0),
}


def check_plausible(measurements: Iterable[Measurement]) -> None:
    """Raise ImplausibleValue for the first measurement outside its range.

    Specials (device over/under range) pass: they carry no number to judge, and the
    classifier treats them as missing.
    """
    for m in measurements:
        if m.value is None or m.kind not in PLAUSIBLE:
            continue
        low, high = PLAUSIBLE[m.kind]
        if not low <= m.value <= high:
            raise ImplausibleValue(m.kind.value, m.value, low, high, KIND_INFO[m.kind].unit)

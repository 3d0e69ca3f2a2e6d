"""A screening's classification: the patient and the latest readings through cart.classify.

The service only composes: :func:`cart.screening_input.build_input` makes the DESIGN
section 6 input, :func:`cart.classify.classify` applies the rules.
"""

from __future__ import annotations

from typing import Any

from cart.classify import ClassifyOptions, classify
from cart.config import Settings
from cart.screening import bp_summary
from cart.screening_input import build_input
from cart.store import to_measurement
from cart.store.models import MeasurementRecord, Patient, Screening

__all__ = ["classify_screening"]


def classify_screening(
    screening: Screening,
    patient: Patient | None,
    records: list[MeasurementRecord],
    settings: Settings,
) -> dict[str, Any]:
    """The classification JSON; raises cart.errors.ValidationError naming the input field."""
    data = build_input(
        sex=patient.sex if patient is not None else None,
        birth_date=patient.birth_date if patient is not None else None,
        # the cart's local calendar day: a birthday counts from local midnight
        screening_date=screening.created_at.astimezone().date(),
        glucose_context=screening.glucose_context,
        known_diagnoses=screening.known_diagnoses,
        measurements=[to_measurement(r) for r in records],
    )
    options = ClassifyOptions(urgent_glucose_high=settings.urgent_glucose_mg_dl)
    result: dict[str, Any] = classify(data, screening.ruleset, options=options).to_json()
    warning = bp_summary(records, settings.bp_readings).warning()
    result["data_quality"] = [warning] if warning is not None else []
    return result

"""API schemas (pydantic). Requests reject unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cart.store.models import MeasurementRecord, Screening
from cart.store.repo import to_measurement

__all__ = [
    "DevicePublic",
    "ErrorPublic",
    "HealthPublic",
    "MeasureRequest",
    "MeasureResult",
    "MeasurementPublic",
    "ScreeningCreate",
    "ScreeningPublic",
]

Diagnosis = Literal["diabetes", "hypertension", "obesity", "dyslipidemia"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    database: str
    devices: dict[str, str]


class DevicePublic(BaseModel):
    id: str
    role: str
    driver: str
    transport: str
    location: str
    state: Literal["ready", "busy", "offline", "error"]
    last_seen: datetime | None
    message: str | None


class ErrorPublic(BaseModel):
    type: str
    message: str
    """Technical, English."""
    nurse_message: str
    """Spanish: what happened and what to do."""


class MeasurementPublic(BaseModel):
    id: int
    reading_id: str
    device_id: str | None
    kind: str
    value: float | None
    unit: str
    loinc: str | None
    measured_at: datetime | None
    received_at: datetime
    flags: list[str]
    special: str | None
    original: dict[str, Any] | None
    sequence: int | None
    user_id: int | None
    context: dict[str, str]
    manual_entry: bool

    @classmethod
    def from_row(cls, row: MeasurementRecord) -> MeasurementPublic:
        m = to_measurement(row).to_json()
        assert row.id is not None
        return cls(
            id=row.id,
            reading_id=row.reading_id,
            device_id=row.device_id,
            kind=m["kind"],
            value=m["value"],
            unit=m["unit"],
            loinc=m["loinc"],
            measured_at=row.measured_at,
            received_at=row.received_at,
            flags=m["flags"],
            special=m["special"],
            original=m["original"],
            sequence=m["sequence"],
            user_id=m["user_id"],
            context=m["context"],
            manual_entry=row.manual_entry,
        )


class ScreeningCreate(Strict):
    patient_id: int | None = Field(default=None, ge=1)
    glucose_context: Literal["fasting", "casual"] = "casual"
    known_diagnoses: list[Diagnosis] = Field(default_factory=list, max_length=4)


class ScreeningPublic(BaseModel):
    id: int
    patient_id: int | None
    status: str
    glucose_context: str | None
    known_diagnoses: list[str]
    ruleset: str
    created_at: datetime
    completed_at: datetime | None
    measurements: list[MeasurementPublic]
    classification: dict[str, Any] | None

    @classmethod
    def build(
        cls,
        row: Screening,
        measurements: list[MeasurementRecord],
        classification: dict[str, Any] | None,
    ) -> ScreeningPublic:
        assert row.id is not None
        return cls(
            id=row.id,
            patient_id=row.patient_id,
            status=row.status,
            glucose_context=row.glucose_context,
            known_diagnoses=list(row.known_diagnoses),
            ruleset=row.ruleset,
            created_at=row.created_at,
            completed_at=row.completed_at,
            measurements=[MeasurementPublic.from_row(m) for m in measurements],
            classification=classification,
        )


class MeasureRequest(Strict):
    devices: list[str] | None = Field(default=None, min_length=1, max_length=8)


class DeviceResult(BaseModel):
    device_id: str
    status: Literal["done", "error"]
    measurements: list[dict[str, Any]]
    error: ErrorPublic | None


class MeasureResult(BaseModel):
    screening_id: int
    results: list[DeviceResult]

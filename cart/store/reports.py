"""Read-only queries of a clinic's day: the worklist, a patient's visits, the indicators.

Days are the cart's local calendar days (``zone``): a screening at 23:30 in Mexico City
belongs to that day, not to the next UTC one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from cart.store.models import (
    MeasurementRecord,
    OutboxEntry,
    Patient,
    Screening,
    ScreeningStatus,
)
from cart.store.repo import Store

__all__ = [
    "COMPLETE_KINDS",
    "Indicators",
    "ScreeningRow",
    "day_bounds",
    "indicators",
    "patient_screenings",
    "screenings_between",
]

#: the values a patient's history charts
TRENDED: Final = (
    "body_weight",
    "body_height",
    "waist_circumference",
    "systolic_pressure",
    "diastolic_pressure",
    "glucose",
)
#: a complete screening (the CASALUD completeness measure): all four measures plus waist,
#: which are exactly the values the history charts
COMPLETE_KINDS: Final = frozenset(TRENDED)
RISK_DOMAINS: Final = frozenset({"at_risk", "probable_disease"})
CONDITIONS: Final = ("obesity", "hypertension", "diabetes")


@dataclass(slots=True)
class ScreeningRow:
    screening: Screening
    patient: Patient | None
    values: dict[str, float]
    """The latest value per kind (BMI added when weight and height are known)."""
    decimals: dict[str, int]
    """The digits after the point each of ``values`` was reported with, where known (not
    for rows stored before precision was kept, nor for the computed BMI)."""
    sic: str | None
    """The latest outbox entry's status: pending, sent, rejected (None: not queued)."""

    @property
    def measured(self) -> set[str]:
        return set(self.values)


def day_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants from local midnight of ``first`` to local midnight after ``last``."""
    start = datetime.combine(first, time(0), zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, end


def _values(records: Iterable[MeasurementRecord]) -> tuple[dict[str, float], dict[str, int]]:
    """The latest value per kind and, where known, its decimals."""
    values: dict[str, float] = {}
    decimals: dict[str, int] = {}
    for r in records:  # in id order: the latest wins
        if r.value is not None:
            values[r.kind] = r.value
            if r.decimals is None:
                decimals.pop(r.kind, None)
            else:
                decimals[r.kind] = r.decimals
    weight, height = values.get("body_weight"), values.get("body_height")
    if weight and height:
        values["bmi"] = round(weight / (height / 100) ** 2, 1)
    return values, decimals


def _rows(store: Store, screenings: Sequence[Screening]) -> list[ScreeningRow]:
    ids = [s.id for s in screenings if s.id is not None]
    if not ids:
        return []
    with store.session() as s:
        patient_ids = {x.patient_id for x in screenings if x.patient_id is not None}
        patients = {
            p.id: p for p in s.exec(select(Patient).where(col(Patient.id).in_(patient_ids)))
        }
        records: dict[int, list[MeasurementRecord]] = {}
        for r in s.exec(
            select(MeasurementRecord)
            .where(col(MeasurementRecord.screening_id).in_(ids))
            .order_by(col(MeasurementRecord.id))
        ):
            records.setdefault(r.screening_id, []).append(r)
        sic: dict[int, str] = {}
        for e in s.exec(
            select(OutboxEntry)
            .where(col(OutboxEntry.screening_id).in_(ids))
            .order_by(col(OutboxEntry.id))
        ):
            sic[e.screening_id] = e.status
    out = []
    for x in screenings:
        values, decimals = _values(records.get(x.id, []) if x.id is not None else [])
        out.append(
            ScreeningRow(
                screening=x,
                patient=patients.get(x.patient_id) if x.patient_id is not None else None,
                values=values,
                decimals=decimals,
                sic=sic.get(x.id) if x.id is not None else None,
            )
        )
    return out


def screenings_between(store: Store, start: datetime, end: datetime) -> list[ScreeningRow]:
    """Screenings created in ``[start, end)``, oldest first, with patient, values and SIC."""
    with store.session() as s:
        rows = list(
            s.exec(
                select(Screening)
                .where(col(Screening.created_at) >= start, col(Screening.created_at) < end)
                .order_by(col(Screening.created_at), col(Screening.id))
            )
        )
    return _rows(store, rows)


def patient_screenings(store: Store, patient_id: int, limit: int = 100) -> list[ScreeningRow]:
    """A patient's screenings, newest first."""
    with store.session() as s:
        rows = list(
            s.exec(
                select(Screening)
                .where(Screening.patient_id == patient_id)
                .order_by(col(Screening.created_at).desc(), col(Screening.id).desc())
                .limit(limit)
            )
        )
    return _rows(store, rows)


def overall(row: ScreeningRow) -> dict[str, Any]:
    """The stored classification's ``overall`` (completed screenings only)."""
    c = row.screening.classification
    result = c.get("overall") if isinstance(c, dict) else None
    return result if isinstance(result, dict) else {}


@dataclass(slots=True)
class Indicators:
    first: date
    last: date
    screenings: int = 0
    completed: int = 0
    complete: int = 0
    """Completed with every measure of :data:`COMPLETE_KINDS`."""
    at_risk: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CONDITIONS, 0))
    urgent: int = 0
    per_day: dict[date, int] = field(default_factory=dict)
    sic: dict[str, int] = field(default_factory=dict)

    def pct(self, n: int) -> float | None:
        return round(100 * n / self.completed, 1) if self.completed else None

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "screenings": self.screenings,
            "completed": self.completed,
            "complete": self.complete,
            "complete_pct": self.pct(self.complete),
            "at_risk": dict(self.at_risk),
            "at_risk_pct": {c: self.pct(n) for c, n in self.at_risk.items()},
            "urgent": self.urgent,
            "per_day": [
                {"date": d.isoformat(), "screenings": n} for d, n in sorted(self.per_day.items())
            ],
            "sic": {k: self.sic.get(k, 0) for k in ("pending", "sent", "rejected")},
        }


def indicators(store: Store, first: date, last: date, zone: ZoneInfo) -> Indicators:
    """Screenings per day, completeness, % at risk or probable per condition, urgent
    cases and the SIC backlog of the screenings created from ``first`` to ``last``.

    Percentages are over the completed screenings (the ones with a stored result).
    """
    start, end = day_bounds(first, last, zone)
    out = Indicators(first, last)
    day = first
    while day <= last:
        out.per_day[day] = 0
        day += timedelta(days=1)
    for row in screenings_between(store, start, end):
        out.screenings += 1
        local = row.screening.created_at.astimezone(zone).date()
        out.per_day[local] = out.per_day.get(local, 0) + 1
        if row.sic is not None:
            out.sic[row.sic] = out.sic.get(row.sic, 0) + 1
        if row.screening.status != ScreeningStatus.COMPLETED:
            continue
        out.completed += 1
        if row.measured >= COMPLETE_KINDS:
            out.complete += 1
        result = overall(row)
        for condition in CONDITIONS:
            if result.get(condition) in RISK_DOMAINS:
                out.at_risk[condition] += 1
        if result.get("urgent_attention"):
            out.urgent += 1
    return out

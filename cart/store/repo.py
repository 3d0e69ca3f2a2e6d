"""The store's operations. Each public method is one transaction.

The service calls these from worker threads (``asyncio.to_thread``); each call opens its
own session, so nothing is shared between threads but the engine's pool.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cart.measurement import DeviceIdentity, Measurement, MeasurementKind, Original, Special
from cart.store.models import (
    MeasurementRecord,
    Patient,
    RawFrameLog,
    Screening,
    ScreeningStatus,
    utcnow,
)

__all__ = ["RawEntry", "Store", "StoredReading", "to_measurement"]


@dataclass(frozen=True, slots=True)
class RawEntry:
    protocol: str
    data: bytes


@dataclass(frozen=True, slots=True)
class StoredReading:
    reading_id: str
    records: list[MeasurementRecord]


def to_measurement(row: MeasurementRecord) -> Measurement:
    """The stored row as the shared Measurement shape."""
    return Measurement(
        kind=MeasurementKind(row.kind),
        value=row.value,
        unit=row.unit,
        loinc=row.loinc,
        measured_at=row.measured_at,
        flags=tuple(row.flags),
        special=Special(row.special) if row.special else None,
        original=(
            Original(row.original_value, row.original_unit)
            if row.original_value is not None and row.original_unit
            else None
        ),
        sequence=row.sequence,
        user_id=row.user_id,
        context=dict(row.context),
        device=DeviceIdentity(**row.device) if row.device else None,
    )


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # ------------------------------------------------------------------ patients

    def add_patient(self, patient: Patient) -> Patient:
        with self.session() as s:
            s.add(patient)
            s.commit()
            s.refresh(patient)
            return patient

    def get_patient(self, patient_id: int) -> Patient | None:
        with self.session() as s:
            return s.get(Patient, patient_id)

    def find_patient_by_curp(self, curp: str) -> Patient | None:
        with self.session() as s:
            return s.exec(select(Patient).where(Patient.curp == curp)).first()

    def search_patients(self, text: str, limit: int = 20) -> list[Patient]:
        pattern = f"%{text.strip().lower()}%"
        full = func.lower(Patient.given_name + " " + Patient.family_name)
        with self.session() as s:
            rows = s.exec(
                select(Patient)
                .where(full.like(pattern))
                .order_by(col(Patient.family_name))
                .limit(limit)
            )
            return list(rows)

    # ------------------------------------------------------------------ screenings

    def add_screening(self, screening: Screening) -> Screening:
        with self.session() as s:
            s.add(screening)
            s.commit()
            s.refresh(screening)
            return screening

    def get_screening(self, screening_id: int) -> Screening | None:
        with self.session() as s:
            return s.get(Screening, screening_id)

    def set_status(self, screening_id: int, status: str) -> None:
        with self.session() as s:
            row = s.get(Screening, screening_id)
            if row is not None:
                row.status = status
                s.add(row)
                s.commit()

    def screenings_of_patient(self, patient_id: int, limit: int = 50) -> list[Screening]:
        with self.session() as s:
            rows = s.exec(
                select(Screening)
                .where(Screening.patient_id == patient_id)
                .order_by(col(Screening.created_at).desc())
                .limit(limit)
            )
            return list(rows)

    # ------------------------------------------------------------------ measurements

    def record_reading(
        self,
        screening_id: int,
        measurements: Sequence[Measurement],
        *,
        device_id: str | None,
        protocol: str | None,
        raw: Iterable[RawEntry] = (),
        manual_entry: bool = False,
    ) -> StoredReading:
        """Store one device reading (all its measurements and raw frames) atomically."""
        reading_id = str(uuid.uuid4())
        raw_list = list(raw)
        blob = b"".join(r.data for r in raw_list) or None
        now = utcnow()
        records = [
            _record(m, screening_id, reading_id, device_id, protocol, blob, now, manual_entry)
            for m in measurements
        ]
        with self.session() as s:
            for entry in raw_list:
                s.add(
                    RawFrameLog(
                        screening_id=screening_id,
                        reading_id=reading_id,
                        device_id=device_id,
                        protocol=entry.protocol,
                        data=entry.data,
                        received_at=now,
                    )
                )
            for rec in records:
                s.add(rec)
            s.commit()
            for rec in records:
                s.refresh(rec)
        return StoredReading(reading_id, records)

    def log_refused(
        self,
        screening_id: int | None,
        *,
        device_id: str | None,
        raw: Iterable[RawEntry],
        note: str,
    ) -> None:
        """Keep the raw frames of a refused reading (implausible value) for audit."""
        with self.session() as s:
            for entry in raw:
                s.add(
                    RawFrameLog(
                        screening_id=screening_id,
                        device_id=device_id,
                        protocol=entry.protocol,
                        data=entry.data,
                        accepted=False,
                        note=note[:500],
                    )
                )
            s.commit()

    def measurements_of(self, screening_id: int) -> list[MeasurementRecord]:
        with self.session() as s:
            rows = s.exec(
                select(MeasurementRecord)
                .where(MeasurementRecord.screening_id == screening_id)
                .order_by(col(MeasurementRecord.id))
            )
            return list(rows)

    def raw_frames_of(self, screening_id: int) -> list[RawFrameLog]:
        with self.session() as s:
            rows = s.exec(
                select(RawFrameLog)
                .where(RawFrameLog.screening_id == screening_id)
                .order_by(col(RawFrameLog.id))
            )
            return list(rows)

    def complete(self, screening_id: int, classification: dict[str, Any]) -> Screening | None:
        with self.session() as s:
            row = s.get(Screening, screening_id)
            if row is None:
                return None
            row.status = ScreeningStatus.COMPLETED
            row.classification = classification
            row.completed_at = utcnow()
            s.add(row)
            s.commit()
            s.refresh(row)
            return row


def _record(
    m: Measurement,
    screening_id: int,
    reading_id: str,
    device_id: str | None,
    protocol: str | None,
    blob: bytes | None,
    now: datetime,
    manual_entry: bool,
) -> MeasurementRecord:
    flags = set(m.flags) | ({"manual_entry"} if manual_entry else set())
    return MeasurementRecord(
        screening_id=screening_id,
        reading_id=reading_id,
        device_id=device_id,
        protocol=protocol,
        kind=m.kind.value,
        value=m.value,
        unit=m.unit,
        loinc=m.loinc,
        special=m.special.value if m.special else None,
        flags=sorted(flags),
        original_value=m.original.value if m.original else None,
        original_unit=m.original.unit if m.original else None,
        measured_at=m.measured_at,
        received_at=now,
        sequence=m.sequence,
        user_id=m.user_id,
        context=dict(m.context),
        device=m.device.to_json() if m.device else None,
        manual_entry=manual_entry,
        raw=blob,
    )

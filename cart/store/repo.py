"""The store's operations. Each public method is one transaction.

The service calls these from worker threads (``asyncio.to_thread``); each call opens its
own session, so nothing is shared between threads but the engine's pool.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import func, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cart.measurement import DeviceIdentity, Measurement, MeasurementKind, Original, Special
from cart.store.models import (
    MeasurementRecord,
    OutboxEntry,
    OutboxStatus,
    Patient,
    RawFrameLog,
    Screening,
    ScreeningStatus,
    utcnow,
)

__all__ = [
    "SIC_DESTINATION",
    "RawEntry",
    "ScreeningRows",
    "Store",
    "StoredReading",
    "to_measurement",
]

SIC_DESTINATION: Final = "sic"
"""The outbox destination that completing a screening enqueues for."""


@dataclass(frozen=True, slots=True)
class RawEntry:
    protocol: str
    data: bytes


@dataclass(frozen=True, slots=True)
class StoredReading:
    reading_id: str
    records: list[MeasurementRecord]


@dataclass(frozen=True, slots=True)
class ScreeningRows:
    """A screening with its patient and measurements, read in one transaction."""

    screening: Screening
    patient: Patient | None
    measurements: list[MeasurementRecord]


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
        """Mark the screening completed and enqueue it for SIC, in one transaction.

        Completing again (a corrected classification) puts an already sent or rejected
        entry back to pending: the resend deduplicates on the server.
        """
        with self.session() as s:
            row = s.get(Screening, screening_id)
            if row is None:
                return None
            now = utcnow()
            row.status = ScreeningStatus.COMPLETED
            row.classification = classification
            row.completed_at = now
            s.add(row)
            entry = s.exec(
                select(OutboxEntry).where(
                    OutboxEntry.screening_id == screening_id,
                    OutboxEntry.destination == SIC_DESTINATION,
                )
            ).first()
            if entry is None:
                entry = OutboxEntry(
                    screening_id=screening_id,
                    destination=SIC_DESTINATION,
                    created_at=now,
                    next_attempt_at=now,
                )
            else:
                entry.status = OutboxStatus.PENDING
                entry.attempts = 0
                entry.next_attempt_at = now
                entry.lease_until = None
            s.add(entry)
            s.commit()
            s.refresh(row)
            return row

    def screening_rows(self, screening_id: int) -> ScreeningRows | None:
        with self.session() as s:
            screening = s.get(Screening, screening_id)
            if screening is None:
                return None
            patient = s.get(Patient, screening.patient_id) if screening.patient_id else None
            rows = s.exec(
                select(MeasurementRecord)
                .where(MeasurementRecord.screening_id == screening_id)
                .order_by(col(MeasurementRecord.id))
            )
            return ScreeningRows(screening, patient, list(rows))

    # ------------------------------------------------------------------ outbox

    def outbox_due(
        self,
        now: datetime,
        *,
        after_id: int = 0,
        limit: int = 50,
        destination: str = SIC_DESTINATION,
    ) -> list[OutboxEntry]:
        """One page of pending entries due at ``now``, oldest first (keyset on ``id``)."""
        with self.session() as s:
            rows = s.exec(
                select(OutboxEntry)
                .where(
                    OutboxEntry.destination == destination,
                    OutboxEntry.status == OutboxStatus.PENDING,
                    col(OutboxEntry.id) > after_id,
                    col(OutboxEntry.next_attempt_at) <= now,
                    or_(
                        col(OutboxEntry.lease_until).is_(None),
                        col(OutboxEntry.lease_until) <= now,
                    ),
                )
                .order_by(col(OutboxEntry.id))
                .limit(limit)
            )
            return list(rows)

    def outbox_claim(self, entry_id: int, now: datetime, lease_until: datetime) -> bool:
        """Take the entry for one send attempt; False if another worker holds it or it is done."""
        stmt = (
            update(OutboxEntry)
            .where(
                col(OutboxEntry.id) == entry_id,
                col(OutboxEntry.status) == OutboxStatus.PENDING,
                or_(
                    col(OutboxEntry.lease_until).is_(None),
                    col(OutboxEntry.lease_until) <= now,
                ),
            )
            .values(lease_until=lease_until, last_attempt_at=now)
        )
        with self.session() as s:
            claimed = s.exec(stmt).rowcount == 1
            s.commit()
            return bool(claimed)

    def outbox_sent(
        self, entry_id: int, *, status_code: int | None, summary: dict[str, Any] | None
    ) -> None:
        self._outbox_update(
            entry_id,
            status=OutboxStatus.SENT,
            sent_at=utcnow(),
            lease_until=None,
            last_status_code=status_code,
            outcome=summary,
            attempts=OutboxEntry.attempts + 1,
        )

    def outbox_retry(
        self,
        entry_id: int,
        *,
        error: str,
        status_code: int | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        """A failed attempt that will be retried (at ``next_attempt_at`` when given)."""
        values: dict[str, Any] = {
            "lease_until": None,
            "last_status_code": status_code,
            "last_error": error[:500],
            "attempts": OutboxEntry.attempts + 1,
        }
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        self._outbox_update(entry_id, **values)

    def outbox_reject(
        self,
        entry_id: int,
        *,
        error: str,
        status_code: int | None,
        outcome: dict[str, Any] | None,
    ) -> None:
        """Park the entry: the destination refused it, resending the same data cannot help."""
        self._outbox_update(
            entry_id,
            status=OutboxStatus.REJECTED,
            lease_until=None,
            last_status_code=status_code,
            last_error=error[:500],
            outcome=outcome,
            attempts=OutboxEntry.attempts + 1,
        )

    def outbox_requeue_rejected(self, destination: str = SIC_DESTINATION) -> int:
        """Put every rejected entry back to pending (after the data or the server was fixed)."""
        stmt = (
            update(OutboxEntry)
            .where(
                col(OutboxEntry.destination) == destination,
                col(OutboxEntry.status) == OutboxStatus.REJECTED,
            )
            .values(status=OutboxStatus.PENDING, next_attempt_at=utcnow(), attempts=0)
        )
        with self.session() as s:
            count = s.exec(stmt).rowcount
            s.commit()
            return int(count)

    def outbox_next_due(self, destination: str = SIC_DESTINATION) -> datetime | None:
        """When the earliest pending entry becomes due (its lease included), None if none."""
        pending = (
            col(OutboxEntry.destination) == destination,
            col(OutboxEntry.status) == OutboxStatus.PENDING,
        )
        with self.session() as s:
            free = s.exec(
                select(func.min(OutboxEntry.next_attempt_at)).where(
                    *pending, col(OutboxEntry.lease_until).is_(None)
                )
            ).one()
            leased = s.exec(
                select(
                    func.min(func.max(OutboxEntry.next_attempt_at, OutboxEntry.lease_until))
                ).where(*pending, col(OutboxEntry.lease_until).is_not(None))
            ).one()
        candidates = [_aware(v) for v in (free, leased) if v is not None]
        return min(candidates) if candidates else None

    def outbox_entry(
        self, screening_id: int, destination: str = SIC_DESTINATION
    ) -> OutboxEntry | None:
        with self.session() as s:
            return s.exec(
                select(OutboxEntry).where(
                    OutboxEntry.screening_id == screening_id,
                    OutboxEntry.destination == destination,
                )
            ).first()

    def sync_status(
        self, destination: str = SIC_DESTINATION, *, rejections: int = 20
    ) -> dict[str, Any]:
        """What the kiosk and `GET /api/v1/sync` show: counts, the last error, the rejections.

        ``last_error`` is the latest error of an entry still pending (the current reason
        nothing moves), else of the latest rejected entry, else None.
        """
        with self.session() as s:
            counts = dict(
                s.exec(
                    select(OutboxEntry.status, func.count())
                    .where(OutboxEntry.destination == destination)
                    .group_by(OutboxEntry.status)
                ).all()
            )
            last_error = None
            for status in (OutboxStatus.PENDING, OutboxStatus.REJECTED):
                row = s.exec(
                    select(OutboxEntry)
                    .where(
                        OutboxEntry.destination == destination,
                        OutboxEntry.status == status,
                        col(OutboxEntry.last_error).is_not(None),
                    )
                    .order_by(col(OutboxEntry.last_attempt_at).desc(), col(OutboxEntry.id).desc())
                    .limit(1)
                ).first()
                if row is not None:
                    last_error = {
                        "screening_id": row.screening_id,
                        "status": row.status,
                        "status_code": row.last_status_code,
                        "message": row.last_error,
                        "at": _iso(row.last_attempt_at),
                    }
                    break
            oldest = s.exec(
                select(func.min(OutboxEntry.created_at)).where(
                    OutboxEntry.destination == destination,
                    OutboxEntry.status == OutboxStatus.PENDING,
                )
            ).one()
            last_sent = s.exec(
                select(func.max(OutboxEntry.sent_at)).where(
                    OutboxEntry.destination == destination,
                    OutboxEntry.status == OutboxStatus.SENT,
                )
            ).one()
            rejected_rows = s.exec(
                select(OutboxEntry)
                .where(
                    OutboxEntry.destination == destination,
                    OutboxEntry.status == OutboxStatus.REJECTED,
                )
                .order_by(col(OutboxEntry.id).desc())
                .limit(rejections)
            ).all()
        return {
            "destination": destination,
            "pending": int(counts.get(OutboxStatus.PENDING, 0)),
            "sent": int(counts.get(OutboxStatus.SENT, 0)),
            "rejected": int(counts.get(OutboxStatus.REJECTED, 0)),
            "last_error": last_error,
            "oldest_pending_at": _iso(oldest),
            "last_sent_at": _iso(last_sent),
            "rejections": [
                {
                    "screening_id": r.screening_id,
                    "status_code": r.last_status_code,
                    "message": r.last_error,
                    "outcome": r.outcome,
                    "at": _iso(r.last_attempt_at),
                }
                for r in rejected_rows
            ],
        }

    def _outbox_update(self, entry_id: int, **values: Any) -> None:
        values.setdefault("last_attempt_at", utcnow())
        with self.session() as s:
            s.exec(update(OutboxEntry).where(col(OutboxEntry.id) == entry_id).values(**values))
            s.commit()


def _aware(value: object) -> datetime:
    """An aggregate over a UTCDateTime column: SQLite may hand back naive UTC or its text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _iso(value: object) -> str | None:
    return None if value is None else _aware(value).isoformat()


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

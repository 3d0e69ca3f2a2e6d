"""The store's operations. Each public method is one transaction.

The service calls these from worker threads (``asyncio.to_thread``); each call opens its
own session, so nothing is shared between threads but the engine's pool.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import case, func, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cart.attribution import ALREADY_SEEN_ES
from cart.errors import NotAttributed, ScreeningConflict
from cart.measurement import DeviceIdentity, Measurement, MeasurementKind, Original, Special
from cart.store.models import (
    MeasurementRecord,
    MeasureRun,
    OutboxEntry,
    OutboxStatus,
    Patient,
    RawFrameLog,
    RunStatus,
    Screening,
    ScreeningStatus,
    SeenRecord,
    User,
    utcnow,
)

__all__ = [
    "SIC_DESTINATION",
    "MemoryEntry",
    "RawEntry",
    "ScreeningRows",
    "Store",
    "StoredReading",
    "escape_like",
    "to_measurement",
]

SIC_DESTINATION: Final = "sic"
"""The outbox destination that completing a screening enqueues for."""


COMPLETED_ES: Final = (
    "El tamizaje ya se guardó: la lectura que llegó después no se agregó. Si falta un "
    "valor, abra un tamizaje nuevo."
)
RUN_CLOSED_ES: Final = (
    "La medición se canceló (se cambió de paciente o se detuvo): la lectura que llegó "
    "después no se asignó a nadie. Si es de este paciente, mida de nuevo."
)
MEASURING_ES: Final = "Hay una medición en curso: espere a que termine o cancélela"
NO_SCREENING_ES: Final = "El tamizaje no existe"


@dataclass(frozen=True, slots=True)
class MemoryEntry:
    """One device memory record downloaded by a reading, to be remembered as seen."""

    device_key: str
    record_key: str
    device_time: datetime | None = None
    attributed: bool = False
    """True for the record(s) the reading is made of; False for the others downloaded."""
    outcome: str = "not_attributed"
    """For records not attributed: why (``stale``, ``other_user``, ``superseded``...)."""


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
    users: dict[int, User] = field(default_factory=dict)
    """The cart users the screening and its readings name (who opened, recorded, completed)."""


def escape_like(text: str) -> str:
    """``text`` matched literally by ``LIKE ... ESCAPE '\\'`` (``%`` and ``_`` are no wildcards)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def to_measurement(row: MeasurementRecord) -> Measurement:
    """The stored row as the shared Measurement shape."""
    return Measurement(
        kind=MeasurementKind(row.kind),
        value=row.value,
        unit=row.unit,
        loinc=row.loinc,
        measured_at=row.device_time,
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
        decimals=row.decimals,
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
        pattern = f"%{escape_like(text.strip().lower())}%"
        full = func.lower(Patient.given_name + " " + Patient.family_name)
        with self.session() as s:
            rows = s.exec(
                select(Patient)
                .where(full.like(pattern, escape="\\"))
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
        run_id: str | None = None,
        measured_at: datetime | None = None,
        clock_offset_s: float | None = None,
        memory: Sequence[MemoryEntry] = (),
        recorded_by: int | None = None,
    ) -> StoredReading:
        """Store one reading (its measurements, raw frames and record memory) atomically.

        The screening must still be open and, with ``run_id``, that run must still own
        it: the guard is the transaction's first write, so a concurrent completion or
        cancel either happens before (and the reading is refused) or waits for this one.
        ``memory`` marks device records as seen in the same transaction; an attributed
        record (``attributed=True``) that was already seen refuses the whole reading.
        A refused reading raises :class:`NotAttributed` after keeping its raw frames
        (``accepted=False``) and marking its records seen.

        ``measured_at`` is the instant the reading was taken (default: now, the receive
        time); the device's own timestamp stays in each measurement's ``device_time``.
        ``recorded_by`` is the user who took it; with a ``run_id`` it defaults to the
        user who started the run.
        """
        reading_id = str(uuid.uuid4())
        raw_list = list(raw)
        blob = b"".join(r.data for r in raw_list) or None
        now = utcnow()
        records = [
            _record(
                m,
                screening_id,
                reading_id,
                device_id,
                protocol,
                blob,
                now,
                manual_entry,
                measured_at or now,
                clock_offset_s,
                run_id,
            )
            for m in measurements
        ]
        refused: NotAttributed | None = None
        with self.session() as s:
            refused = self._guard_open(s, screening_id, run_id)
            if refused is None:
                refused = self._remember(s, memory, screening_id, reading_id, now)
            if refused is None:
                self._add_raw(s, raw_list, screening_id, reading_id, device_id, now, run_id)
                if recorded_by is None and run_id is not None:
                    run = s.get(MeasureRun, run_id)
                    recorded_by = run.started_by if run is not None else None
                for rec in records:
                    rec.recorded_by = recorded_by
                    s.add(rec)
                s.commit()
                for rec in records:
                    s.refresh(rec)
                return StoredReading(reading_id, records)
            s.rollback()
        self._keep_refused(screening_id, raw_list, device_id, memory, refused, run_id)
        raise refused

    @staticmethod
    def _guard_open(s: Session, screening_id: int, run_id: str | None) -> NotAttributed | None:
        """Take the screening's row (the write lock) if it may receive a reading now."""
        stmt = update(Screening).where(
            col(Screening.id) == screening_id,
            col(Screening.status) != ScreeningStatus.COMPLETED,
        )
        if run_id is not None:
            stmt = stmt.where(col(Screening.active_run_id) == run_id)
        touched = s.exec(stmt.values(active_run_id=Screening.active_run_id)).rowcount
        if touched == 1:
            return None
        row = s.get(Screening, screening_id)
        if row is None:
            return NotAttributed(
                "no_screening", f"screening {screening_id} does not exist", NO_SCREENING_ES
            )
        if row.status == ScreeningStatus.COMPLETED:
            return NotAttributed(
                "completed",
                f"screening {screening_id} was completed before the reading arrived",
                COMPLETED_ES,
            )
        return NotAttributed(
            "run_closed",
            f"run {run_id} no longer owns screening {screening_id} (cancelled or ended)",
            RUN_CLOSED_ES,
        )

    @staticmethod
    def _remember(
        s: Session,
        memory: Sequence[MemoryEntry],
        screening_id: int,
        reading_id: str,
        now: datetime,
    ) -> NotAttributed | None:
        """Mark the records seen; refuse if an attributed one was seen before."""
        if not memory:
            return None
        known = _seen_keys(s, memory)
        for entry in memory:
            if entry.attributed and (entry.device_key, entry.record_key) in known:
                return NotAttributed(
                    "already_seen",
                    f"record {entry.record_key} of {entry.device_key} was downloaded before",
                    ALREADY_SEEN_ES,
                )
        _add_seen(
            s,
            memory,
            known,
            now,
            lambda e: ("attributed", screening_id, reading_id) if e.attributed else None,
        )
        return None

    def _keep_refused(
        self,
        screening_id: int,
        raw: list[RawEntry],
        device_id: str | None,
        memory: Sequence[MemoryEntry],
        refused: NotAttributed,
        run_id: str | None,
    ) -> None:
        """A refused reading: its raw frames (not accepted) and its records, now seen."""
        now = utcnow()
        with self.session() as s:
            exists = s.get(Screening, screening_id) is not None
            for entry in raw:
                s.add(
                    RawFrameLog(
                        screening_id=screening_id if exists else None,
                        device_id=device_id,
                        protocol=entry.protocol,
                        data=entry.data,
                        received_at=now,
                        accepted=False,
                        note=f"not attributed ({refused.reason}): {refused.message}"[:500],
                        run_id=run_id,
                    )
                )
            outcome = refused.reason
            _add_seen(
                s,
                memory,
                _seen_keys(s, memory),
                now,
                lambda e: (outcome, None, None) if e.attributed else None,
            )
            s.commit()

    @staticmethod
    def _add_raw(
        s: Session,
        raw: list[RawEntry],
        screening_id: int,
        reading_id: str,
        device_id: str | None,
        now: datetime,
        run_id: str | None,
    ) -> None:
        for entry in raw:
            s.add(
                RawFrameLog(
                    screening_id=screening_id,
                    reading_id=reading_id,
                    device_id=device_id,
                    protocol=entry.protocol,
                    data=entry.data,
                    received_at=now,
                    run_id=run_id,
                )
            )

    def seen(self, device_key: str, record_keys: Iterable[str]) -> set[str]:
        """Which of these records of the device were downloaded before."""
        keys = list(record_keys)
        if not keys:
            return set()
        with self.session() as s:
            rows = s.exec(
                select(SeenRecord.record_key).where(
                    SeenRecord.device_key == device_key, col(SeenRecord.record_key).in_(keys)
                )
            )
            return set(rows)

    def remember_refused(self, memory: Sequence[MemoryEntry]) -> None:
        """Mark device records seen that were refused before any reading was stored."""
        if not memory:
            return
        now = utcnow()
        with self.session() as s:
            _add_seen(s, memory, _seen_keys(s, memory), now, lambda _: None)
            s.commit()

    # ------------------------------------------------------------------ measuring runs

    def attribution_floor(self, screening_id: int) -> datetime | None:
        """The instant before which no device record can be this screening's own.

        The cart has one nurse: a record taken while another patient was being attended
        belongs to that patient's time, never to this screening. So the floor is the
        latest trace of work on any other screening (created, measured, a reading or a
        hand entry, completed), and, while another screening opened earlier is still
        open, this screening's own opening (the grace before it then does not apply:
        the record could be the open patient's). None: no other screening at all.
        """
        with self.session() as s:
            me = s.get(Screening, screening_id)
            if me is None:
                return None
            others = col(Screening.id) != screening_id
            marks: list[datetime | None] = [
                s.exec(select(func.max(Screening.created_at)).where(others)).one(),
                s.exec(select(func.max(Screening.completed_at)).where(others)).one(),
                s.exec(
                    select(func.max(MeasureRun.started_at)).where(
                        col(MeasureRun.screening_id) != screening_id
                    )
                ).one(),
                s.exec(
                    select(func.max(MeasureRun.ended_at)).where(
                        col(MeasureRun.screening_id) != screening_id
                    )
                ).one(),
                s.exec(
                    select(func.max(MeasurementRecord.received_at)).where(
                        col(MeasurementRecord.screening_id) != screening_id
                    )
                ).one(),
            ]
            open_before = s.exec(
                select(func.count())
                .select_from(Screening)
                .where(
                    others,
                    col(Screening.status) != ScreeningStatus.COMPLETED,
                    col(Screening.created_at) <= me.created_at,
                )
            ).one()
            if open_before:
                marks.append(me.created_at)
        found = [_aware(m) for m in marks if m is not None]
        return max(found) if found else None

    def start_run(
        self, screening_id: int, devices: Sequence[str], started_by: int | None = None
    ) -> str:
        """Give the screening's devices to a new run; ScreeningConflict if it cannot have one."""
        run_id = str(uuid.uuid4())
        with self.session() as s:
            taken = s.exec(
                update(Screening)
                .where(
                    col(Screening.id) == screening_id,
                    col(Screening.status) != ScreeningStatus.COMPLETED,
                    col(Screening.active_run_id).is_(None),
                )
                .values(active_run_id=run_id)
            ).rowcount
            if taken != 1:
                s.rollback()
                row = s.get(Screening, screening_id)
                if row is not None and row.status == ScreeningStatus.COMPLETED:
                    raise ScreeningConflict(
                        "completed", f"screening {screening_id} is completed", COMPLETED_ES
                    )
                raise ScreeningConflict(
                    "measuring", f"screening {screening_id} is already measuring", MEASURING_ES
                )
            s.add(
                MeasureRun(
                    id=run_id,
                    screening_id=screening_id,
                    devices=list(devices),
                    started_by=started_by,
                )
            )
            s.commit()
        return run_id

    def end_run(self, run_id: str, status: str = RunStatus.FINISHED) -> bool:
        """Close the run (finished, cancelled); False if it had already been closed."""
        with self.session() as s:
            run = s.get(MeasureRun, run_id)
            if run is None or run.status != RunStatus.ACTIVE:
                return False
            s.exec(
                update(Screening)
                .where(col(Screening.active_run_id) == run_id)
                .values(active_run_id=None)
            )
            run.status = status
            run.ended_at = utcnow()
            s.add(run)
            s.commit()
            return True

    def cancel_run(self, screening_id: int) -> str | None:
        """Cancel the screening's active run in the store; its id, or None if there was none."""
        row = self.get_screening(screening_id)
        if row is None or row.active_run_id is None:
            return None
        run_id = row.active_run_id
        return run_id if self.end_run(run_id, RunStatus.CANCELLED) else None

    def abandon_runs(self) -> int:
        """At start-up: runs left active by a stopped service are closed as abandoned."""
        now = utcnow()
        with self.session() as s:
            count = s.exec(
                update(MeasureRun)
                .where(col(MeasureRun.status) == RunStatus.ACTIVE)
                .values(status=RunStatus.ABANDONED, ended_at=now)
            ).rowcount
            s.exec(
                update(Screening)
                .where(col(Screening.active_run_id).is_not(None))
                .values(active_run_id=None)
            )
            s.commit()
            return int(count)

    def get_run(self, run_id: str) -> MeasureRun | None:
        with self.session() as s:
            return s.get(MeasureRun, run_id)

    def runs_of(self, screening_id: int) -> list[MeasureRun]:
        with self.session() as s:
            return list(
                s.exec(
                    select(MeasureRun)
                    .where(MeasureRun.screening_id == screening_id)
                    .order_by(col(MeasureRun.started_at))
                )
            )

    def log_refused(
        self,
        screening_id: int | None,
        *,
        device_id: str | None,
        raw: Iterable[RawEntry],
        note: str,
        run_id: str | None = None,
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
                        run_id=run_id,
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

    def complete(
        self,
        screening_id: int,
        classification: dict[str, Any] | Callable[[ScreeningRows], dict[str, Any]],
        *,
        cancel_run: bool = False,
        completed_by: int | None = None,
    ) -> Screening | None:
        """Mark the screening completed and enqueue it for SIC, in one transaction.

        The transaction's first write takes the screening's row, so no reading can be
        stored between reading the measurements and completing: ``classification`` may be
        a function of the rows read inside the transaction (what the service does). With
        an active run: ScreeningConflict("measuring"), or with ``cancel_run`` the run is
        cancelled in the same transaction. None if the screening does not exist.

        Completing again (a corrected classification) puts an already sent or rejected
        entry back to pending: the resend deduplicates on the server.
        """
        with self.session() as s:
            now = utcnow()
            guard = update(Screening).where(col(Screening.id) == screening_id)
            if not cancel_run:
                guard = guard.where(col(Screening.active_run_id).is_(None))
            if s.exec(guard.values(completed_at=now)).rowcount != 1:
                s.rollback()
                if s.get(Screening, screening_id) is None:
                    return None
                raise ScreeningConflict(
                    "measuring", f"screening {screening_id} is measuring", MEASURING_ES
                )
            row = s.get(Screening, screening_id)
            assert row is not None
            if row.active_run_id is not None:  # cancel_run: the run ends with the completion
                run = s.get(MeasureRun, row.active_run_id)
                if run is not None and run.status == RunStatus.ACTIVE:
                    run.status = RunStatus.CANCELLED
                    run.ended_at = now
                    s.add(run)
                row.active_run_id = None
            if callable(classification):
                patient = s.get(Patient, row.patient_id) if row.patient_id else None
                rows = list(
                    s.exec(
                        select(MeasurementRecord)
                        .where(MeasurementRecord.screening_id == screening_id)
                        .order_by(col(MeasurementRecord.id))
                    )
                )
                classification = classification(ScreeningRows(row, patient, rows))
            row.status = ScreeningStatus.COMPLETED
            row.classification = classification
            row.completed_at = now
            row.completed_by = completed_by
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
            rows = list(
                s.exec(
                    select(MeasurementRecord)
                    .where(MeasurementRecord.screening_id == screening_id)
                    .order_by(col(MeasurementRecord.id))
                )
            )
            ids = {screening.opened_by, screening.completed_by, *(r.recorded_by for r in rows)}
            named = {i for i in ids if i is not None}
            users = (
                {u.id: u for u in s.exec(select(User).where(col(User.id).in_(named))) if u.id}
                if named
                else {}
            )
            return ScreeningRows(screening, patient, rows, users)

    def screenings_rows(self, screening_ids: Sequence[int]) -> dict[int, ScreeningRows]:
        """:meth:`screening_rows` of several screenings in one transaction and four queries
        (the catch-up's batches; one at a time it is three queries a screening)."""
        wanted = list(dict.fromkeys(screening_ids))
        if not wanted:
            return {}
        with self.session() as s:
            found = list(s.exec(select(Screening).where(col(Screening.id).in_(wanted))))
            pids = {r.patient_id for r in found if r.patient_id is not None}
            patients = (
                {p.id: p for p in s.exec(select(Patient).where(col(Patient.id).in_(pids)))}
                if pids
                else {}
            )
            readings: dict[int, list[MeasurementRecord]] = {}
            for m in s.exec(
                select(MeasurementRecord)
                .where(col(MeasurementRecord.screening_id).in_(wanted))
                .order_by(col(MeasurementRecord.id))
            ):
                readings.setdefault(m.screening_id, []).append(m)
            named: set[int] = set()
            for r in found:
                named |= {r.opened_by, r.completed_by} - {None}  # type: ignore[arg-type]
            named |= {m.recorded_by for ms in readings.values() for m in ms} - {None}  # type: ignore[arg-type]
            users = (
                {u.id: u for u in s.exec(select(User).where(col(User.id).in_(named))) if u.id}
                if named
                else {}
            )
        out: dict[int, ScreeningRows] = {}
        for r in found:
            assert r.id is not None
            rows = readings.get(r.id, [])
            ids = {r.opened_by, r.completed_by, *(m.recorded_by for m in rows)}
            mine = {i: users[i] for i in ids if i is not None and i in users}
            patient = patients.get(r.patient_id) if r.patient_id is not None else None
            out[r.id] = ScreeningRows(r, patient, rows, mine)
        return out

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
        with self.session() as s:
            claimed = s.exec(_claim(entry_id, now, lease_until)).rowcount == 1
            s.commit()
            return bool(claimed)

    def outbox_claim_many(
        self, entry_ids: Sequence[int], now: datetime, lease_until: datetime
    ) -> dict[int, bool]:
        """:meth:`outbox_claim` for several entries in one transaction.

        The ids taken, each with whether this is its first claim ever: no attempt was
        ever recorded, so no request of this database carried it. Decided by the same
        row update that takes the lease, so two workers cannot both see a first claim.
        """
        taken: dict[int, bool] = {}
        with self.session() as s:
            for entry_id in entry_ids:
                if s.exec(_claim(entry_id, now, lease_until, first=True)).rowcount == 1:
                    taken[entry_id] = True
                elif s.exec(_claim(entry_id, now, lease_until)).rowcount == 1:
                    taken[entry_id] = False
            s.commit()
        return taken

    def outbox_sent_many(
        self, sent: Sequence[tuple[int, int | None, dict[str, Any] | None]]
    ) -> None:
        """:meth:`outbox_sent` for (entry id, status code, summary) of one accepted batch,
        in one transaction: all of them or, if the database fails, none."""
        now = utcnow()
        with self.session() as s:
            for entry_id, status_code, summary in sent:
                s.exec(
                    update(OutboxEntry)
                    .where(col(OutboxEntry.id) == entry_id)
                    .values(
                        status=OutboxStatus.SENT,
                        sent_at=now,
                        lease_until=None,
                        last_status_code=status_code,
                        outcome=summary,
                        attempts=OutboxEntry.attempts + 1,
                        last_attempt_at=now,
                    )
                )
            s.commit()

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
            # the later of the two, per row: a CASE, because the two-argument max() is
            # SQLite's alone (PostgreSQL spells it greatest())
            later = case(
                (
                    col(OutboxEntry.lease_until) > col(OutboxEntry.next_attempt_at),
                    col(OutboxEntry.lease_until),
                ),
                else_=col(OutboxEntry.next_attempt_at),
            )
            leased = s.exec(
                select(func.min(later)).where(*pending, col(OutboxEntry.lease_until).is_not(None))
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


def _add_seen(
    s: Session,
    memory: Sequence[MemoryEntry],
    known: set[tuple[str, str]],
    now: datetime,
    attributed_as: Callable[[MemoryEntry], tuple[str, int | None, str | None] | None],
) -> None:
    """Add the records not yet ``known`` to the memory table.

    ``attributed_as`` gives (outcome, screening id, reading id) for a record the reading
    is made of; None keeps the entry's own outcome (superseded, stale...).
    """
    for entry in memory:
        pair = (entry.device_key, entry.record_key)
        if pair in known:
            continue
        known.add(pair)
        outcome, screening_id, reading_id = attributed_as(entry) or (entry.outcome, None, None)
        s.add(
            SeenRecord(
                device_key=entry.device_key,
                record_key=entry.record_key,
                screening_id=screening_id,
                reading_id=reading_id,
                outcome=outcome,
                device_time=entry.device_time,
                seen_at=now,
            )
        )


def _seen_keys(s: Session, memory: Sequence[MemoryEntry]) -> set[tuple[str, str]]:
    """Which (device, record) pairs of ``memory`` are already in the table."""
    known: set[tuple[str, str]] = set()
    by_device: dict[str, list[str]] = {}
    for m in memory:
        by_device.setdefault(m.device_key, []).append(m.record_key)
    for device, keys in by_device.items():
        rows = s.exec(
            select(SeenRecord.record_key).where(
                SeenRecord.device_key == device, col(SeenRecord.record_key).in_(keys)
            )
        )
        known.update((device, k) for k in rows)
    return known


def _record(
    m: Measurement,
    screening_id: int,
    reading_id: str,
    device_id: str | None,
    protocol: str | None,
    blob: bytes | None,
    now: datetime,
    manual_entry: bool,
    measured_at: datetime,
    clock_offset_s: float | None,
    run_id: str | None,
) -> MeasurementRecord:
    flags = set(m.flags) | ({"manual_entry"} if manual_entry else set())
    return MeasurementRecord(
        screening_id=screening_id,
        reading_id=reading_id,
        device_id=device_id,
        protocol=protocol,
        kind=m.kind.value,
        value=m.value,
        decimals=m.decimals,
        unit=m.unit,
        loinc=m.loinc,
        special=m.special.value if m.special else None,
        flags=sorted(flags),
        original_value=m.original.value if m.original else None,
        original_unit=m.original.unit if m.original else None,
        measured_at=measured_at,
        device_time=m.measured_at,
        clock_offset_s=clock_offset_s,
        received_at=now,
        sequence=m.sequence,
        user_id=m.user_id,
        context=dict(m.context),
        device=m.device.to_json() if m.device else None,
        manual_entry=manual_entry,
        raw=blob,
        run_id=run_id,
    )


def _claim(entry_id: int, now: datetime, lease_until: datetime, *, first: bool = False) -> Any:
    """Lease a pending outbox entry that no live lease holds (one send attempt);
    ``first``: only if no attempt was ever recorded (``last_attempt_at`` is never reset)."""
    conditions = [
        col(OutboxEntry.id) == entry_id,
        col(OutboxEntry.status) == OutboxStatus.PENDING,
        or_(col(OutboxEntry.lease_until).is_(None), col(OutboxEntry.lease_until) <= now),
    ]
    if first:
        conditions.append(col(OutboxEntry.last_attempt_at).is_(None))
    return (
        update(OutboxEntry).where(*conditions).values(lease_until=lease_until, last_attempt_at=now)
    )

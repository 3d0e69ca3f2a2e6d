"""SQLModel tables: patients, screenings, measurements and the raw frame log.

Every reading is committed when it arrives, with the raw bytes it was decoded from.
Timestamps are stored as naive UTC (portable across SQLite and PostgreSQL) and come
back timezone-aware through :class:`UTCDateTime`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import JSON, Column, Field, SQLModel

__all__ = [
    "ApiToken",
    "AuditEvent",
    "MeasureRun",
    "MeasurementRecord",
    "OutboxEntry",
    "OutboxStatus",
    "Patient",
    "RawFrameLog",
    "RunStatus",
    "Screening",
    "ScreeningStatus",
    "SeenRecord",
    "UTCDateTime",
    "User",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, stored as naive UTC, aware UTC out."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs a timezone-aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class ScreeningStatus:
    OPEN = "open"
    MEASURING = "measuring"
    COMPLETED = "completed"


class RunStatus:
    ACTIVE = "active"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"
    """Still active when the service stopped (crash, power cut): closed at the next start."""


class Patient(SQLModel, table=True):
    __tablename__ = "patient"

    id: int | None = Field(default=None, primary_key=True)
    curp: str = Field(max_length=18, unique=True, index=True)
    given_name: str = Field(max_length=120)
    family_name: str = Field(max_length=120)
    birth_date: date
    sex: str = Field(max_length=6)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Screening(SQLModel, table=True):
    __tablename__ = "screening"
    __table_args__ = (sa.Index("ix_screening_patient_created", "patient_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int | None = Field(default=None, foreign_key="patient.id")
    status: str = Field(default=ScreeningStatus.OPEN, max_length=16)
    glucose_context: str | None = Field(default=None, max_length=16)
    known_diagnoses: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    ruleset: str = Field(default="nom", max_length=16)
    classification: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    """Also the start of the measuring window: stored device records older are not its own."""
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    active_run_id: str | None = Field(default=None, max_length=36)
    opened_by: int | None = Field(default=None, foreign_key="cart_user.id")
    """The user who opened the screening (None: before users existed)."""
    completed_by: int | None = Field(default=None, foreign_key="cart_user.id")
    """The measuring run that may store readings now; None: no run may."""


class MeasurementRecord(SQLModel, table=True):
    """One stored measurement. Measurements of one device reading share ``reading_id``."""

    __tablename__ = "measurement"
    __table_args__ = (sa.Index("ix_measurement_screening_kind", "screening_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    screening_id: int = Field(foreign_key="screening.id")
    reading_id: str = Field(max_length=36, index=True)
    device_id: str | None = Field(default=None, max_length=64)
    protocol: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=32)
    value: float | None = None
    decimals: int | None = Field(default=None, sa_type=sa.SmallInteger)
    """Digits after the decimal point the device (or the nurse) reported; None for rows
    stored before 0006 (precision unknown: the float is printed as it is)."""
    unit: str = Field(max_length=16)
    loinc: str | None = Field(default=None, max_length=16)
    special: str | None = Field(default=None, max_length=16)
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    original_value: float | None = None
    original_unit: str | None = Field(default=None, max_length=16)
    measured_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When it was measured: the device time read in the cart's zone and corrected by the
    device clock's offset, or the cart's receive time for a live reading without one."""
    device_time: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=False))
    """The device's own clock, naive, as the device reported it (devices know no zone)."""
    clock_offset_s: float | None = None
    """Device clock minus cart clock, measured at connect (None: not readable)."""
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    run_id: str | None = Field(default=None, max_length=36)
    sequence: int | None = None
    user_id: int | None = None
    context: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    device: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    manual_entry: bool = False
    raw: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    recorded_by: int | None = Field(default=None, foreign_key="cart_user.id")
    """The signed-in user who measured or typed it (``user_id`` is the device's user)."""


class RawFrameLog(SQLModel, table=True):
    """Every frame a driver handed over, accepted or refused (e.g. implausible values)."""

    __tablename__ = "raw_frame"

    id: int | None = Field(default=None, primary_key=True)
    screening_id: int | None = Field(default=None, foreign_key="screening.id", index=True)
    reading_id: str | None = Field(default=None, max_length=36)
    device_id: str | None = Field(default=None, max_length=64)
    protocol: str = Field(max_length=64)
    data: bytes = Field(sa_type=sa.LargeBinary)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    accepted: bool = True
    note: str | None = Field(default=None, max_length=500)
    run_id: str | None = Field(default=None, max_length=36)


class MeasureRun(SQLModel, table=True):
    """One press of "Medir": which screening owns the devices' readings, and until when."""

    __tablename__ = "measure_run"

    id: str = Field(primary_key=True, max_length=36)
    screening_id: int = Field(foreign_key="screening.id", index=True)
    status: str = Field(default=RunStatus.ACTIVE, max_length=16)
    devices: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_by: int | None = Field(default=None, foreign_key="cart_user.id")


class SeenRecord(SQLModel, table=True):
    """A device memory record already downloaded: never attributed (again) to anyone.

    Keyed by the device's identity (serial number, or address + model) and the record's
    own key (sequence number, or device time + values), so the memory survives restarts,
    re-pairing and a device moved to another configuration.
    """

    __tablename__ = "seen_record"
    __table_args__ = (sa.UniqueConstraint("device_key", "record_key", name="uq_seen_record"),)

    id: int | None = Field(default=None, primary_key=True)
    device_key: str = Field(max_length=200)
    record_key: str = Field(max_length=200)
    screening_id: int | None = Field(default=None, foreign_key="screening.id")
    """The screening it was attributed to; None when it was not attributed."""
    reading_id: str | None = Field(default=None, max_length=36)
    outcome: str = Field(max_length=32)
    """``attributed`` or the refusal reason (``stale``, ``other_user``, ``run_closed``...)."""
    device_time: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=False))
    seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OutboxStatus:
    PENDING = "pending"
    SENT = "sent"
    REJECTED = "rejected"


class OutboxEntry(SQLModel, table=True):
    """One completed screening waiting to go (or gone) to a destination such as SIC.

    Written in the same transaction that completes the screening. The worker sends the
    oldest due entries first; ``lease_until`` keeps two workers (the service and a
    `cart sync` run by hand) off the same entry, and expires if a worker dies mid-send.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        sa.UniqueConstraint("screening_id", "destination", name="uq_outbox_screening_destination"),
        sa.Index("ix_outbox_status_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    screening_id: int = Field(foreign_key="screening.id")
    destination: str = Field(default="sic", max_length=32)
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    outcome: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    """The server's OperationOutcome for a rejection, or a summary of the accepted response."""


class User(SQLModel, table=True):
    """A person who signs in at the cart (NOM-024: identified users, differentiated roles)."""

    __tablename__ = "cart_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=32, unique=True, index=True)
    display_name: str = Field(max_length=120)
    role: str = Field(max_length=16)
    """nurse, technician or administrator (:class:`cart.users.Role`)."""
    pin_hash: str = Field(max_length=200)
    """argon2id hash of the PIN; the PIN itself is never stored."""
    licence: str | None = Field(default=None, max_length=20)
    """Cédula profesional, when given (the FHIR Practitioner's identifier)."""
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """A bearer token for a program acting as a user (it has that user's role)."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="cart_user.id", index=True)
    token_sha256: str = Field(max_length=64, unique=True, index=True)
    """SHA-256 of the token (a random 256-bit secret: no salt or slow hash needed)."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked: bool = False


class AuditEvent(SQLModel, table=True):
    """One row of the bitácora: who did what to which object, when (never a PHI value).

    Append-only (database triggers refuse UPDATE and DELETE) and hash-chained: ``hash``
    is the SHA-256 of the row's fields and ``prev_hash``, the previous row's ``hash``
    (:mod:`cart.store.audit`). ``prev_hash`` is unique, so the chain cannot fork.
    """

    __tablename__ = "audit_event"

    id: int = Field(primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    user_id: int | None = None
    username: str | None = Field(default=None, max_length=32)
    action: str = Field(max_length=32, index=True)
    object_type: str | None = Field(default=None, max_length=32)
    object_id: str | None = Field(default=None, max_length=64)
    outcome: str = Field(default="ok", max_length=16)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64, unique=True)
    hash: str = Field(max_length=64)

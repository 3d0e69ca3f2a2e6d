"""API schemas (pydantic). Requests reject unknown fields."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from cart.measurement import decimals_of
from cart.store.models import MeasurementRecord, Patient, Screening
from cart.store.repo import to_measurement

__all__ = [
    "DB_INT_MAX",
    "DevicePublic",
    "ErrorPublic",
    "HealthPublic",
    "ManualEntry",
    "MeasureAccepted",
    "MeasureRequest",
    "MeasurementPublic",
    "PatientCreate",
    "PatientPublic",
    "ScreeningCreate",
    "ScreeningPublic",
    "SyncStatus",
]

Diagnosis = Literal["diabetes", "hypertension", "obesity", "dyslipidemia"]

#: the largest id accepted in paths and bodies (a 32-bit INTEGER on every database)
DB_INT_MAX = 2_147_483_647
DbId = Annotated[int, Field(ge=1, le=DB_INT_MAX)]

#: Unicode categories a name never needs: controls, formats (bidi overrides such as
#: U+202E, zero-width U+200B-U+200D, U+FEFF), surrogates, private use, unassigned, and
#: line/paragraph separators. They hide or reorder text on the kiosk and in SIC.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _visible_name(value: str) -> str:
    value = unicodedata.normalize("NFC", value)  # one spelling of "é" for search and SIC
    for char in value:
        if unicodedata.category(char) in _HIDDEN_CATEGORIES:
            raise ValueError(
                f"contains an invisible or control character (U+{ord(char):04X}); "
                "el nombre contiene un carácter invisible o de control: escríbalo de nuevo"
            )
    return value


Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=120, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
    AfterValidator(_visible_name),
]

#: kinds a nurse may type in (waist always; any device's kinds as a fallback)
ManualKind = Literal[
    "body_weight",
    "body_height",
    "waist_circumference",
    "systolic_pressure",
    "diastolic_pressure",
    "pulse_rate",
    "glucose",
    "hba1c",
    "body_fat",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SicWorkerHealth(BaseModel):
    """The SIC outbox worker: running, or failing with its last error (never PHI)."""

    state: Literal["starting", "idle", "sending", "paused", "failing", "stopped"]
    failures: int = Field(description="consecutive failed passes (0 once one succeeds)")
    last_error: str | None = Field(description="the last failed pass's error, kept as history")
    last_error_at: datetime | None
    last_pass_at: datetime | None


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    database: str
    devices: dict[str, str]
    sic_worker: SicWorkerHealth | None = Field(
        default=None, description="null when CART_SIC_BASE_URL is not set (no worker)"
    )


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
    decimals: int | None = None
    """Digits after the decimal point the device (or the nurse) reported: show ``value``
    with exactly these (70.0 kg -> 1, 98 mg/dL -> 0); None when not known (older rows)."""
    unit: str
    loinc: str | None
    measured_at: datetime | None
    """When it was measured (aware): the device time read in the cart's zone and corrected
    by the device clock's offset, or the cart's receive time for a live reading."""
    device_time: datetime | None = None
    """The device's own clock as it reported it (naive; devices know no time zone)."""
    clock_offset_s: float | None = None
    """Device clock minus cart clock at connect, seconds (None: not readable)."""
    received_at: datetime
    flags: list[str]
    special: str | None
    original: dict[str, Any] | None
    sequence: int | None
    user_id: int | None
    context: dict[str, str]
    manual_entry: bool
    recorded_by: int | None = None
    """The signed-in user who measured or typed it (``user_id`` is the device's user)."""

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
            decimals=m["decimals"],
            unit=m["unit"],
            loinc=m["loinc"],
            measured_at=row.measured_at,
            device_time=row.device_time,
            clock_offset_s=row.clock_offset_s,
            received_at=row.received_at,
            flags=m["flags"],
            special=m["special"],
            original=m["original"],
            sequence=m["sequence"],
            user_id=m["user_id"],
            context=m["context"],
            manual_entry=row.manual_entry,
            recorded_by=row.recorded_by,
        )


class PatientCreate(Strict):
    curp: str = Field(min_length=1, max_length=40, examples=["BOXW310820HNERXN09"])
    """Upper or lower case; spaces are ignored. Checked: format, check digit, birth date, sex."""
    given_name: Name
    family_name: Name
    """Both surnames, as on the CURP."""
    birth_date: date
    sex: Literal["female", "male"]


class PatientPublic(BaseModel):
    id: int
    curp: str
    given_name: str
    family_name: str
    birth_date: date
    sex: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Patient) -> PatientPublic:
        assert row.id is not None
        return cls(
            id=row.id,
            curp=row.curp,
            given_name=row.given_name,
            family_name=row.family_name,
            birth_date=row.birth_date,
            sex=row.sex,
            created_at=row.created_at,
        )


class ScreeningCreate(Strict):
    patient_id: DbId
    glucose_context: Literal["fasting", "casual"] = "casual"
    known_diagnoses: list[Diagnosis] = Field(default_factory=list, max_length=4)


class ProblemItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    nurse_message: str | None = None


class BpStatus(BaseModel):
    """Blood-pressure readings against the protocol (NOM-030 Appendix F)."""

    required: int
    valid: int
    complete: bool


class ScreeningPublic(BaseModel):
    id: int
    patient_id: int | None
    patient: PatientPublic | None
    status: Literal["open", "measuring", "completed"]
    glucose_context: str | None
    known_diagnoses: list[str]
    ruleset: str
    created_at: datetime
    completed_at: datetime | None
    opened_by: int | None = None
    """The user who opened the screening."""
    completed_by: int | None = None
    measurements: list[MeasurementPublic]
    classification: dict[str, Any] | None
    """DESIGN section 6; stored at completion, computed from the latest readings before."""
    classification_error: ProblemItem | None = None
    """Why no classification could be computed (e.g. the patient is under 20)."""
    bp: BpStatus | None = None
    """Blood-pressure readings against the protocol; None when none was taken."""

    @classmethod
    def build(
        cls,
        row: Screening,
        *,
        patient: Patient | None,
        measurements: list[MeasurementRecord],
        status: str,
        classification: dict[str, Any] | None,
        classification_error: ProblemItem | None = None,
        bp: BpStatus | None = None,
    ) -> ScreeningPublic:
        assert row.id is not None
        return cls(
            id=row.id,
            patient_id=row.patient_id,
            patient=PatientPublic.from_row(patient) if patient is not None else None,
            status=status,  # type: ignore[arg-type]
            glucose_context=row.glucose_context,
            known_diagnoses=list(row.known_diagnoses),
            ruleset=row.ruleset,
            created_at=row.created_at,
            completed_at=row.completed_at,
            opened_by=row.opened_by,
            completed_by=row.completed_by,
            measurements=[MeasurementPublic.from_row(m) for m in measurements],
            classification=classification,
            classification_error=classification_error,
            bp=bp,
        )


DeviceId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class MeasureRequest(Strict):
    devices: list[DeviceId] | None = Field(default=None, min_length=1, max_length=8)
    """Device ids to read; all configured devices when omitted."""


class MeasureAccepted(BaseModel):
    screening_id: int
    devices: list[str]
    events: str
    """Where the progress is streamed (Server-Sent Events)."""
    run_id: str | None = None
    """The run that owns the screening's devices until it ends or is cancelled."""


class MeasureCancelled(BaseModel):
    screening_id: int
    cancelled: bool
    """False when no run was measuring."""
    run_id: str | None = None


class ManualEntry(Strict):
    kind: ManualKind
    value: float = Field(allow_inf_nan=False)
    unit: str = Field(min_length=1, max_length=16, examples=["cm", "kg", "mm[Hg]", "mg/dL"])
    decimals: int | None = Field(default=None, ge=0, le=6, examples=[1])
    """Digits after the decimal point as typed ("92.0" -> 1): a JSON number cannot say it.
    Omitted: the fewest digits that write ``value`` (92.0 -> 0, 92.5 -> 1)."""

    def typed_decimals(self) -> int:
        """``decimals``, or the fewest digits that write ``value``."""
        if self.decimals is not None:
            return self.decimals
        return 0 if self.value.is_integer() else decimals_of(repr(self.value))


class SyncStatus(BaseModel):
    pending: int
    sent: int
    rejected: int
    last_error: dict[str, Any] | None
    """The current reason nothing moves (``message``, ``status_code``, ``screening_id``,
    ``at``), or the latest rejection; None when all is well."""
    oldest_pending_at: str | None = None
    last_sent_at: str | None = None
    rejections: list[dict[str, Any]] = Field(default_factory=list)
    available: bool
    """False while this build has no SIC outbox (then every count is 0)."""

"""What the outbox hands to an adapter: one completed screening, as plain frozen data.

The worker loads these from the store (``Store.screening_export``) one at a time; an
adapter renders them into its wire format. Nothing here knows FHIR or HTTP.
"""

from __future__ import annotations

import hashlib
import platform
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import cart
from cart.errors import CartError

if TYPE_CHECKING:
    from cart.store.models import MeasurementRecord
    from cart.store.repo import ScreeningRows

__all__ = [
    "ExportMeasurement",
    "ExportPatient",
    "GatewayIdentity",
    "MappingError",
    "ScreeningExport",
]


class MappingError(CartError):
    """A completed screening that cannot be rendered for SIC (e.g. it has no patient).

    The worker parks such an entry as rejected, like a 4xx from the server: resending
    the same data would fail the same way.
    """


@dataclass(frozen=True, slots=True)
class ExportPatient:
    curp: str
    given_name: str
    family_name: str
    birth_date: date
    sex: str
    """As stored: ``female``, ``male`` or anything else (mapped to FHIR ``other``/``unknown``)."""


@dataclass(frozen=True, slots=True)
class ExportMeasurement:
    """One stored measurement row (``cart.store.models.MeasurementRecord``), detached."""

    id: int
    reading_id: str
    """Shared by the measurements of one device reading (a BP reading: sys, dia, mean, pulse)."""
    kind: str
    value: float | None
    unit: str
    loinc: str | None
    special: str | None
    flags: tuple[str, ...]
    received_at: datetime
    """Aware UTC: when the cart received the reading."""
    decimals: int | None = None
    """Digits after the decimal point the device reported (None: unknown, older rows)."""
    measured_at: datetime | None = None
    """When it was measured: aware, corrected by the device clock's offset."""
    device_time: datetime | None = None
    """The device's own clock as it reported it (naive): the PHD timestamp of the identity."""
    clock_offset_s: float | None = None
    """Device clock minus cart clock, seconds (None: not readable)."""
    device_id: str | None = None
    """The cart's configured id of the device (``devices.toml``), None for manual entries."""
    protocol: str | None = None
    device: Mapping[str, Any] | None = None
    """What the device says about itself: manufacturer, model, serial_number."""
    manual_entry: bool = False
    sequence: int | None = None
    """The device's own record number, when it keeps one (part of the PHD-style identity)."""
    context: Mapping[str, str] = field(default_factory=dict)
    original_value: float | None = None
    original_unit: str | None = None
    recorded_by: int | None = None
    """The cart user who took (started the run) or typed the reading."""


@dataclass(frozen=True, slots=True)
class ExportPractitioner:
    """A cart user named by the screening: the nurse who measured or completed it."""

    user_id: int
    display_name: str
    licence: str | None = None
    """Cédula profesional, when the administrator recorded it."""


@dataclass(frozen=True, slots=True)
class ScreeningExport:
    screening_id: int
    completed_at: datetime
    patient: ExportPatient | None
    measurements: tuple[ExportMeasurement, ...]
    classification: Mapping[str, Any] | None
    ruleset: str
    glucose_context: str | None = None
    known_diagnoses: tuple[str, ...] = ()
    """Diagnoses the person already had (sent as Condition resources)."""
    practitioners: tuple[ExportPractitioner, ...] = ()
    """Every cart user the readings or the completion name."""
    completed_by: int | None = None

    @classmethod
    def from_rows(cls, rows: ScreeningRows) -> ScreeningExport:
        """Detach what the store read (``Store.screening_rows``)."""
        s, p = rows.screening, rows.patient
        if s.id is None or s.completed_at is None:
            raise MappingError(f"screening {s.id} is not completed")
        patient = (
            ExportPatient(
                curp=p.curp,
                given_name=p.given_name,
                family_name=p.family_name,
                birth_date=p.birth_date,
                sex=p.sex,
            )
            if p is not None
            else None
        )
        return cls(
            screening_id=s.id,
            completed_at=s.completed_at,
            patient=patient,
            measurements=tuple(_measurement(r) for r in rows.measurements),
            classification=dict(s.classification) if s.classification else None,
            ruleset=s.ruleset,
            glucose_context=s.glucose_context,
            known_diagnoses=tuple(sorted(s.known_diagnoses or ())),
            practitioners=tuple(
                ExportPractitioner(uid, u.display_name, u.licence)
                for uid, u in sorted(rows.users.items())
            ),
            completed_by=s.completed_by,
        )


def _measurement(r: MeasurementRecord) -> ExportMeasurement:
    assert r.id is not None
    return ExportMeasurement(
        id=r.id,
        reading_id=r.reading_id,
        kind=r.kind,
        value=r.value,
        decimals=r.decimals,
        unit=r.unit,
        loinc=r.loinc,
        special=r.special,
        flags=tuple(r.flags),
        received_at=r.received_at,
        measured_at=r.measured_at,
        device_time=r.device_time,
        clock_offset_s=r.clock_offset_s,
        device_id=r.device_id,
        protocol=r.protocol,
        device=dict(r.device) if r.device else None,
        manual_entry=r.manual_entry,
        sequence=r.sequence,
        context=dict(r.context),
        original_value=r.original_value,
        original_unit=r.original_unit,
        recorded_by=r.recorded_by,
    )


_GATEWAY_NS: Final = uuid.UUID("3f0c4f3e-6a55-5b8e-9a53-6b3c1f6a2d10")


@dataclass(frozen=True, slots=True)
class GatewayIdentity:
    """The cart PC as the gateway (PHG) that uploads the screenings.

    ``system_id`` must be stable for the life of the cart: it is part of every
    deterministic identifier, so changing it would make resends look new.
    """

    system_id: str
    name: str = "mido-cart"
    software_version: str = cart.__version__

    @classmethod
    def of_this_machine(cls) -> GatewayIdentity:
        """A UUID derived from ``/etc/machine-id`` (or the host name when there is none)."""
        seed = ""
        for candidate in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
            try:
                seed = Path(candidate).read_text(encoding="ascii").strip()
            except OSError:
                continue
            if seed:
                break
        if not seed:
            seed = "host:" + platform.node()
        # hash first so the machine id itself never leaves the cart
        digest = hashlib.sha256(seed.encode()).hexdigest()
        return cls(system_id=str(uuid.uuid5(_GATEWAY_NS, digest)))

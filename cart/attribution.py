"""Which device records belong to a screening: right patient, right time.

A reading goes into a screening only if the device took it during that screening, for
the configured device user, and it was never downloaded before. The rules, in the
order they are applied to one *record* (the measurements a device reports together:
one stored glucose result, one cuff reading with its pulse):

1. **User.** A device that reports a user id (BLE scales and cuffs) and a configured
   user id that differs: refused (``other_user``).
2. **Time.** A record with a device timestamp is placed on the cart's timeline: the
   device clock is naive, read in the cart's zone and corrected by the clock offset
   measured at connect (device minus cart). It must fall inside the measuring window:
   not before the screening opened (less a small grace) -> ``stale``; not after now
   (plus the grace) -> ``future``, a clock that cannot be trusted; before the last work
   on another screening (the cart has one nurse: the record was taken while another
   patient was attended), or too close after it to tell (``CLOCK_MARGIN_S``) ->
   ``other_screening``. When the device
   clock could not be read the timestamp is taken as it is: a wrong clock then refuses
   the record, it never lets one through.
3. **Memory.** The store keeps every (device identity, record key) downloaded; a record
   seen once is never attributed again (checked in the store's transaction).

Records without a device timestamp or sequence number (a scale streaming its live
weight, a Modbus register) have no memory to replay: the run that read them proves
when they were taken.

Everything here is pure: times and offsets in, keys and refusals out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from cart.drivers.base import OTHER_USER_ES, ClockCheck, Refusal
from cart.measurement import DeviceIdentity, Measurement

__all__ = [
    "CLOCK_MARGIN_S",
    "CLOCK_SKEW_FLAG",
    "DeviceRecord",
    "Window",
    "clock_offset_s",
    "device_key",
    "group_records",
    "measured_instant",
    "refusal_already_seen",
]

CLOCK_SKEW_FLAG: Final = "clock_skew"
CLOCK_MARGIN_S: Final = 2.0
"""How much earlier than its corrected time a record may really have been taken. The
device clock is read to the whole second (its fraction lost) and its value arrives a
moment after the device read it, so the true offset is larger than the one measured by
up to 1 s plus that latency (at most 1 s on serial and BLE); a timestamp truncated to
the second or the minute only ever makes a record look earlier. So a record whose
corrected time lies within this margin after the last work on another screening may
have been taken while that patient was attended: in doubt, refused."""
STALE_ES: Final = (
    "La medición guardada en el equipo es del {when}, anterior a este tamizaje: no se "
    "asignó al paciente. Pida al paciente que se mida ahora y presione Reintentar."
)
FUTURE_ES: Final = (
    "La fecha y hora del equipo no coinciden con las del carrito ({when}): la medición no "
    "se asignó al paciente. Ajuste la fecha y hora del equipo, mida de nuevo y presione "
    "Reintentar."
)
OTHER_SCREENING_ES: Final = (
    "La medición guardada en el equipo es del {when}, cuando se atendía a otro paciente: "
    "no se asignó a este paciente. Pida al paciente que se mida ahora y presione Reintentar."
)
ALREADY_SEEN_ES: Final = (
    "Esa medición ya se había descargado antes (en otro tamizaje): no se asignó a este "
    "paciente. Pida al paciente que se mida ahora y presione Reintentar."
)


def clock_offset_s(clock: ClockCheck | None, zone: ZoneInfo) -> float | None:
    """Device clock minus cart clock in seconds (the device clock read in ``zone``)."""
    if clock is None:
        return None
    device = clock.device_time.replace(tzinfo=zone)
    return (device - clock.cart_time).total_seconds()


def measured_instant(device_time: datetime, offset_s: float | None, zone: ZoneInfo) -> datetime:
    """The aware instant a device timestamp stands for, corrected by the clock offset."""
    return device_time.replace(tzinfo=zone) - timedelta(seconds=offset_s or 0.0)


def device_key(identity: DeviceIdentity | None, fallback: str) -> str:
    """A stable name for the physical device: serial number, else address, else config id.

    Model and manufacturer are part of it so two makes that number their units alike
    never share a memory.
    """
    if identity is not None:
        make = f"{identity.manufacturer or '?'}/{identity.model or '?'}"
        if identity.serial_number:
            return f"sn:{make}:{identity.serial_number}"[:200]
        address = getattr(identity, "address", None)
        if address:
            return f"addr:{make}:{address}"[:200]
    return f"cfg:{fallback}"[:200]


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """One record: the measurements a device reported together."""

    measurements: tuple[Measurement, ...]

    @property
    def device_time(self) -> datetime | None:
        return self.measurements[0].measured_at

    @property
    def sequence(self) -> int | None:
        return self.measurements[0].sequence

    @property
    def user_id(self) -> int | None:
        return self.measurements[0].user_id

    @property
    def from_memory(self) -> bool:
        """Could the device replay it? (It carries its own time or sequence number.)"""
        return self.device_time is not None or self.sequence is not None

    @property
    def key(self) -> str:
        """The record's identity within its device: sequence and time, else time and values."""
        parts: list[str] = []
        if self.sequence is not None:
            parts.append(f"seq:{self.sequence}")
        if self.user_id is not None:
            parts.append(f"u:{self.user_id}")
        if self.device_time is not None:
            parts.append(f"t:{self.device_time.isoformat()}")
        if self.sequence is None:
            values = sorted(
                f"{m.kind.value}={m.value if m.value is not None else m.special}"
                for m in self.measurements
            )
            parts.extend(values)
        return "|".join(parts)[:200]


def group_records(measurements: Iterable[Measurement]) -> list[DeviceRecord]:
    """Split a driver's measurements into records, oldest first (order of arrival kept)."""
    groups: dict[tuple[object, ...], list[Measurement]] = {}
    for m in measurements:
        groups.setdefault((m.measured_at, m.sequence, m.user_id), []).append(m)
    return [DeviceRecord(tuple(ms)) for ms in groups.values()]


@dataclass(frozen=True, slots=True)
class Window:
    """The screening's measuring window and the cart's attribution settings."""

    start: datetime
    """Aware: when the screening opened (nothing the device took before is its own)."""
    zone: ZoneInfo
    grace_s: float = 120.0
    skew_threshold_s: float = 300.0
    user_id: int | None = None
    """The device user slot configured for this cart (None: any user)."""
    floor: datetime | None = None
    """Aware: the last trace of work on another screening (see Store.attribution_floor):
    a record taken before it happened while another patient was attended."""

    def check(
        self, record: Sequence[Measurement], clock: ClockCheck | None, now: datetime
    ) -> Refusal | None:
        """Refuse a record of another user or taken outside the window; None if it may count."""
        if not record:
            return None
        first = record[0]
        if self.user_id is not None and first.user_id is not None and first.user_id != self.user_id:
            return Refusal(
                "other_user",
                f"record of device user {first.user_id}, the cart uses user {self.user_id}",
                OTHER_USER_ES.format(theirs=first.user_id, ours=self.user_id),
            )
        if first.measured_at is None:
            return None
        offset = clock_offset_s(clock, self.zone)
        at = measured_instant(first.measured_at, offset, self.zone)
        grace = timedelta(seconds=self.grace_s)
        when = at.astimezone(self.zone).strftime("%d/%m/%Y %H:%M")
        if at < self.start - grace:
            return Refusal(
                "stale",
                f"record taken at {at.isoformat()}, before the screening opened at "
                f"{self.start.isoformat()}",
                STALE_ES.format(when=when),
            )
        # the doubt goes against attribution (CLOCK_MARGIN_S): a record just after the
        # floor may have been taken just before it
        if self.floor is not None and at < self.floor + timedelta(seconds=CLOCK_MARGIN_S):
            return Refusal(
                "other_screening",
                f"record taken at {at.isoformat()}, not clearly after the last work on "
                f"another screening at {self.floor.isoformat()} "
                f"(clock margin {CLOCK_MARGIN_S:g} s)",
                OTHER_SCREENING_ES.format(when=when),
            )
        if at > now + grace:
            return Refusal(
                "future",
                f"record time {at.isoformat()} is after the cart's clock {now.isoformat()} "
                "(device clock not trusted)",
                FUTURE_ES.format(when=when),
            )
        return None

    def skewed(self, offset_s: float | None) -> bool:
        return offset_s is not None and abs(offset_s) > self.skew_threshold_s


def refusal_already_seen(record: DeviceRecord) -> Refusal:
    return Refusal(
        "already_seen",
        f"record {record.key} was downloaded before",
        ALREADY_SEEN_ES,
    )

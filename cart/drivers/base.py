"""The driver contract: one async ``measure()`` per device, with progress events.

A driver owns its transport (serial port, Modbus client, BLE client), deadlines and
bounded retries. It turns bytes into measurements with the sans-IO decoders in
:mod:`cart.protocols` and reports what it is doing through a progress callback so
the kiosk can show "conectando", "esperando al paciente", cuff pressure, etc.

Errors are :class:`cart.errors.DeviceError` subclasses chained (``raise ... from``)
to the transport exception; a ``ProtocolError`` from a bad frame is either retried
by the driver (streams resynchronise) or wrapped in ``DeviceReportedError``.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Final

from cart import wallclock
from cart.devices import Role
from cart.errors import DeviceError
from cart.measurement import Measurement

__all__ = [
    "ClockCheck",
    "DeviceInfo",
    "Driver",
    "Progress",
    "ProgressCallback",
    "ProgressStage",
    "RawFrame",
    "ReadingRefused",
    "RecordCheck",
    "Refusal",
    "Role",
    "clock_check",
    "no_progress",
    "screen_record",
]


class ProgressStage(StrEnum):
    CONNECTING = "connecting"
    WAITING = "waiting"
    """Connected; waiting for the patient (step on the scale, start the cuff, apply blood)."""
    PROGRESS = "progress"
    """A partial value: cuff pressure, an unstable weight, records downloaded so far."""
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Progress:
    stage: ProgressStage
    device_id: str
    message: str = ""
    """Short English description for logs; the kiosk words its own Spanish text."""
    measurement: Measurement | None = None
    """The partial value for PROGRESS (e.g. a cuff_pressure measurement)."""
    detail: Mapping[str, Any] = field(default_factory=dict)


ProgressCallback = Callable[[Progress], Awaitable[None] | None]


async def no_progress(_: Progress) -> None:
    """A progress callback that ignores everything."""


@dataclass(frozen=True, slots=True)
class RawFrame:
    """The exact bytes behind a measurement, kept in the store's raw log."""

    protocol: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ClockCheck:
    """The device clock as read at connect, against the cart clock at that moment."""

    device_time: datetime
    """Naive: what the device clock read."""
    cart_time: datetime
    """Timezone-aware: the cart clock when that value arrived."""
    set_to: datetime | None = None
    """Naive: what the driver then wrote to the device clock (None: not set)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why one device record may not be attributed to the screening now."""

    reason: str
    """Machine word: ``stale``, ``future``, ``other_user``, ``already_seen``..."""
    message: str
    """English, for logs and the API."""
    nurse_message: str
    """Spanish (es-MX): what the nurse should do."""


RecordCheck = Callable[[Sequence[Measurement], ClockCheck | None], Refusal | None]
"""Given one record's measurements and the clock check, a refusal or None (acceptable)."""

#: what the nurse reads when a scale or cuff offers another device user's reading (drivers
#: refuse those themselves; cart.attribution uses the same words)
OTHER_USER_ES: Final = (
    "La medición es del usuario {theirs} del equipo, no del usuario {ours} configurado en "
    "el carrito: no se asignó al paciente. Seleccione el usuario {ours} en el equipo, mida "
    "de nuevo y presione Reintentar."
)


def clock_check(device_time: datetime, set_to: datetime | None = None) -> ClockCheck:
    """A device clock reading stamped with the cart's clock at this moment."""
    return ClockCheck(device_time.replace(tzinfo=None), wallclock.now_aware(), set_to)


def screen_record(
    record: Sequence[Measurement],
    user_id: int | None,
    check: RecordCheck | None,
    clock: ClockCheck | None,
) -> Refusal | None:
    """Why a driver must not return ``record`` as the reading (None: it may).

    The configured device user is enforced here too, so a driver never returns another
    user's record even when no ``check`` is given (``cart devices test``).
    """
    theirs = record[0].user_id if record else None
    if user_id is not None and theirs is not None and theirs != user_id:
        return Refusal(
            "other_user",
            f"record of device user {theirs}, the cart uses user {user_id}",
            OTHER_USER_ES.format(theirs=theirs, ours=user_id),
        )
    return check(record, clock) if check is not None else None


class ReadingRefused(DeviceError):
    """Every record the device sent was refused by the record check (``refusal`` says why).

    Raised when a device that replays its memory (a cuff, a scale) sent only records that
    may not be this patient's and no fresh one came before the deadline. The frames are in
    the driver's ``last_raw`` for the raw log.
    """

    advice_es = "{device} envió una medición que no es de este tamizaje: mida de nuevo"

    def __init__(
        self,
        refusal: Refusal,
        *,
        device_id: str | None = None,
        role: str | None = None,
    ) -> None:
        super().__init__(
            f"reading refused ({refusal.reason}): {refusal.message}",
            device_id=device_id,
            role=role,
            advice_es=refusal.nurse_message,
        )
        self.refusal = refusal


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    device_id: str
    role: Role
    driver: str
    """Protocol family, e.g. ``and.weighing`` or ``ble.blood_pressure``."""
    transport: str
    """``serial``, ``modbus`` or ``ble``."""
    address: str
    """Port, pyserial URL or BLE address/name as configured."""
    user_id: int | None = None
    """The device user slot whose readings are this cart's (BLE scales and cuffs)."""
    set_clock: bool = False
    """Write the cart's time to the device clock at connect, where the protocol can."""


class Driver(abc.ABC):
    """Reads one configured device. Instances are long-lived and reused across screenings."""

    #: the device keeps a memory of readings that a download or reconnect can replay
    keeps_records: ClassVar[bool] = False

    def __init__(self, info: DeviceInfo) -> None:
        self.info = info
        #: raw frames behind the measurements of the last successful ``measure()``
        self.last_raw: list[RawFrame] = []
        #: the device clock read by the last ``measure()`` (None: not readable)
        self.last_clock: ClockCheck | None = None

    @property
    def device_id(self) -> str:
        return self.info.device_id

    @abc.abstractmethod
    async def measure(
        self, progress: ProgressCallback = no_progress, check: RecordCheck | None = None
    ) -> list[Measurement]:
        """Take one complete reading (all measurements of this device) or raise DeviceError.

        Nothing partial is returned: either every measurement of the reading, or an error.
        """

    async def probe(self) -> str:
        """A one-line description of what answers on the transport (``cart devices test``)."""
        return f"{self.info.driver} on {self.info.address}"

    async def close(self) -> None:  # noqa: B027 - optional hook, not every driver holds a link
        """Release the transport. Drivers that hold a connection override this."""


async def emit(progress: ProgressCallback, event: Progress) -> None:
    """Call a sync or async progress callback."""
    result = progress(event)
    if result is not None:
        await result

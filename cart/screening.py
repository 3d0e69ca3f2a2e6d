"""One screening's measuring run: every selected device read concurrently.

Each reading is checked for plausibility and committed the moment it arrives, so a
device that fails later (or a service crash) loses nothing already measured. A
device error never cancels the other devices.

Blood pressure follows NOM-030-SSA2-2009: the cuff is read ``bp_readings`` times in
a row and the screening's value is the mean. Every single reading is stored (its own
``reading_id``, with its raw frames); the mean is stored after them as one more
reading flagged ``average`` with ``context = {"method": "average", "readings": "N"}``,
so "the latest blood pressure" of a screening is the average.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

from cart.devices import Role
from cart.drivers.base import Driver, Progress, ProgressCallback, emit
from cart.errors import CartError, DeviceError, ImplausibleValue
from cart.measurement import Measurement, MeasurementKind
from cart.plausibility import check_plausible
from cart.store import RawEntry, Store, StoredReading, to_measurement

__all__ = [
    "AVERAGED_KINDS",
    "DeviceOutcome",
    "ReadingEvent",
    "average_readings",
    "measure_devices",
]

log = logging.getLogger(__name__)

K = MeasurementKind
#: blood-pressure kinds averaged over the readings (others are not carried over)
AVERAGED_KINDS: tuple[MeasurementKind, ...] = (
    K.SYSTOLIC_PRESSURE,
    K.DIASTOLIC_PRESSURE,
    K.MEAN_ARTERIAL_PRESSURE,
    K.PULSE_RATE,
)


@dataclass(frozen=True, slots=True)
class DeviceOutcome:
    device_id: str
    stored: StoredReading | None = None
    """The reading that counts: the only one, or the blood-pressure average."""
    error: CartError | None = None
    readings: tuple[StoredReading, ...] = ()
    """Every single reading stored for this device in this run (several for BP)."""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class ReadingEvent:
    """What the orchestrator reports besides driver progress: a stored reading or an error.

    For a device read several times (blood pressure), each single reading is reported
    with ``final=False`` and ``reading``/``readings`` set (1 of 2, 2 of 2), then the
    average with ``final=True``. A device read once reports one ``final`` event.
    """

    device_id: str
    measurements: list[Measurement] = field(default_factory=list)
    error: CartError | None = None
    stored: StoredReading | None = None
    reading: int = 1
    readings: int = 1
    final: bool = True


ReadingCallback = Callable[[ReadingEvent], Awaitable[None] | None]


async def _noop(_: ReadingEvent) -> None:
    return None


def _mean(values: Sequence[float], decimals: int = 1) -> float:
    total = sum((Decimal(repr(v)) for v in values), Decimal(0))
    mean = total / Decimal(len(values))
    return float(mean.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP))


def average_readings(readings: Sequence[Sequence[Measurement]]) -> list[Measurement]:
    """The mean of each blood-pressure kind over several readings (NOM-030).

    A kind is averaged over the readings that carry a number for it; a kind with no
    number in any reading is left out. The result is flagged ``average`` plus the
    union of the readings' flags (an irregular pulse in any reading is kept).
    """
    out: list[Measurement] = []
    for kind in AVERAGED_KINDS:
        found = [m for reading in readings for m in reading if m.kind is kind]
        numbers = [m.value for m in found if m.value is not None]
        if not numbers:
            continue
        flags = {f for m in found for f in m.flags} | {"average"}
        device = next((m.device for m in found if m.device is not None), None)
        out.append(
            Measurement.create(
                kind,
                _mean(numbers),
                flags=flags,
                context={"method": "average", "readings": str(len(numbers))},
                device=device,
            )
        )
    return out


async def measure_devices(
    store: Store,
    screening_id: int,
    drivers: Sequence[Driver],
    *,
    progress: ProgressCallback | None = None,
    on_result: ReadingCallback = _noop,
    bp_readings: int = 1,
) -> list[DeviceOutcome]:
    """Read every driver concurrently, storing each reading on arrival.

    A blood-pressure device (role ``bp``) is read ``bp_readings`` times and its
    average stored as well (see the module docstring).
    """

    async def read_once(driver: Driver, reading: int, readings: int) -> StoredReading | CartError:
        async def relay(event: Progress) -> None:
            if progress is None:
                return
            if readings > 1:
                event = replace(
                    event, detail={**event.detail, "reading": reading, "readings": readings}
                )
            await emit(progress, event)

        try:
            measurements = await driver.measure(relay)
        except DeviceError as exc:
            log.warning("device %s failed: %s", driver.device_id, exc.message)
            return exc
        raw = [RawEntry(r.protocol, r.data) for r in driver.last_raw]
        try:
            check_plausible(measurements)
        except ImplausibleValue as exc:
            log.warning("device %s: implausible reading refused: %s", driver.device_id, exc)
            await asyncio.to_thread(
                store.log_refused,
                screening_id,
                device_id=driver.device_id,
                raw=raw,
                note=exc.message,
            )
            return exc
        stored = await asyncio.to_thread(
            store.record_reading,
            screening_id,
            measurements,
            device_id=driver.device_id,
            protocol=driver.info.driver,
            raw=raw,
        )
        await _call(
            on_result,
            ReadingEvent(
                driver.device_id,
                measurements=measurements,
                stored=stored,
                reading=reading,
                readings=readings,
                final=readings == 1,
            ),
        )
        return stored

    async def one(driver: Driver) -> DeviceOutcome:
        count = bp_readings if driver.info.role is Role.BP and bp_readings > 1 else 1
        stored_readings: list[StoredReading] = []
        for n in range(1, count + 1):
            try:
                result = await read_once(driver, n, count)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a driver bug must not take the other devices down
                log.exception("device %s: unexpected driver failure", driver.device_id)
                result = CartError(f"unexpected {type(exc).__name__} in the driver")
            if isinstance(result, CartError):
                await _call(
                    on_result,
                    ReadingEvent(driver.device_id, error=result, reading=n, readings=count),
                )
                return DeviceOutcome(
                    driver.device_id, error=result, readings=tuple(stored_readings)
                )
            stored_readings.append(result)
        if count == 1:
            return DeviceOutcome(
                driver.device_id, stored=stored_readings[0], readings=tuple(stored_readings)
            )
        averaged = average_readings(
            [[to_measurement(r) for r in s.records] for s in stored_readings]
        )
        if averaged:
            final = await asyncio.to_thread(
                store.record_reading,
                screening_id,
                averaged,
                device_id=driver.device_id,
                protocol=driver.info.driver,
            )
        else:  # only specials (over/under range): nothing to average, the last one counts
            final = stored_readings[-1]
            averaged = [to_measurement(r) for r in final.records]
        await _call(
            on_result,
            ReadingEvent(
                driver.device_id,
                measurements=averaged,
                stored=final,
                reading=count,
                readings=count,
                final=True,
            ),
        )
        return DeviceOutcome(driver.device_id, stored=final, readings=tuple(stored_readings))

    return list(await asyncio.gather(*(one(d) for d in drivers)))


async def _call(callback: ReadingCallback, event: ReadingEvent) -> None:
    result = callback(event)
    if result is not None:
        await result

"""One screening's measuring run: every selected device read concurrently.

Each reading is checked for plausibility and committed the moment it arrives, so a
device that fails later (or a service crash) loses nothing already measured. A
device error never cancels the other devices.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from cart.drivers.base import Driver, Progress, ProgressCallback, emit
from cart.errors import CartError, DeviceError, ImplausibleValue
from cart.measurement import Measurement
from cart.plausibility import check_plausible
from cart.store import RawEntry, Store, StoredReading

__all__ = ["DeviceOutcome", "ReadingEvent", "measure_devices"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceOutcome:
    device_id: str
    stored: StoredReading | None = None
    error: CartError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class ReadingEvent:
    """What the orchestrator reports besides driver progress: a stored reading or an error."""

    device_id: str
    measurements: list[Measurement] = field(default_factory=list)
    error: CartError | None = None


ReadingCallback = Callable[[ReadingEvent], Awaitable[None] | None]


async def _noop(_: ReadingEvent) -> None:
    return None


async def measure_devices(
    store: Store,
    screening_id: int,
    drivers: Sequence[Driver],
    *,
    progress: ProgressCallback | None = None,
    on_result: ReadingCallback = _noop,
) -> list[DeviceOutcome]:
    """Read every driver concurrently, storing each reading on arrival."""

    async def one(driver: Driver) -> DeviceOutcome:
        async def relay(event: Progress) -> None:
            if progress is not None:
                await emit(progress, event)

        try:
            measurements = await driver.measure(relay)
        except DeviceError as exc:
            log.warning("device %s failed: %s", driver.device_id, exc.message)
            await _call(on_result, ReadingEvent(driver.device_id, error=exc))
            return DeviceOutcome(driver.device_id, error=exc)
        raw = [RawEntry(r.protocol, r.data) for r in driver.last_raw]
        try:
            check_plausible(measurements)
        except ImplausibleValue as exc:
            await asyncio.to_thread(
                store.log_refused,
                screening_id,
                device_id=driver.device_id,
                raw=raw,
                note=exc.message,
            )
            await _call(on_result, ReadingEvent(driver.device_id, error=exc))
            return DeviceOutcome(driver.device_id, error=exc)
        stored = await asyncio.to_thread(
            store.record_reading,
            screening_id,
            measurements,
            device_id=driver.device_id,
            protocol=driver.info.driver,
            raw=raw,
        )
        await _call(on_result, ReadingEvent(driver.device_id, measurements=measurements))
        return DeviceOutcome(driver.device_id, stored=stored)

    return list(await asyncio.gather(*(one(d) for d in drivers)))


async def _call(callback: ReadingCallback, event: ReadingEvent) -> None:
    result = callback(event)
    if result is not None:
        await result

"""One screening's measuring run: every selected device read concurrently.

Each reading is checked for plausibility and committed the moment it arrives, so a
device that fails later (or a service crash) loses nothing already measured. A
device error never cancels the other devices.

Attribution (see :mod:`cart.attribution`): a device with a memory of readings may hand
over records the patient did not take now. Each record is checked against the
screening's window, the configured device user and the store's record memory; only the
newest acceptable record becomes the reading, and every downloaded record is
remembered as seen in the same transaction. The store itself refuses a reading once
the run was cancelled or the screening completed (raw log only).

Blood pressure follows NOM-030-SSA2-2009, Appendix F (technique): the value recorded is
the mean of at least two readings taken at least two minutes apart, and readings that
differ widely call for more. :class:`BpProtocol` holds those settings: the cuff is read
``readings`` times ``interval_s`` apart; when two readings differ by more than
``max_difference_mmhg`` (systolic or diastolic) ``extra_readings`` more are taken. Every
single reading is stored (its own ``reading_id``, with its raw frames); the mean of all
valid readings is stored after them as one more reading flagged ``average`` with
``context = {"method": "average", "readings": "N", "required": "M"}`` (plus the flag
``bp_incomplete`` when fewer than required were valid), so "the latest blood pressure"
of a screening is the average.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from itertools import combinations
from zoneinfo import ZoneInfo

from cart.attribution import (
    CLOCK_SKEW_FLAG,
    DeviceRecord,
    Window,
    clock_offset_s,
    device_key,
    group_records,
    measured_instant,
    refusal_already_seen,
)
from cart.devices import Role
from cart.drivers.base import (
    ClockCheck,
    Driver,
    Progress,
    ProgressCallback,
    ProgressStage,
    Refusal,
    emit,
)
from cart.errors import CartError, DeviceError, ImplausibleValue, NotAttributed
from cart.measurement import Measurement, MeasurementKind
from cart.plausibility import check_plausible
from cart.store import MemoryEntry, RawEntry, Store, StoredReading, to_measurement
from cart.store.models import MeasurementRecord

__all__ = [
    "AVERAGED_KINDS",
    "BP_INCOMPLETE_FLAG",
    "BpProtocol",
    "BpSummary",
    "DeviceOutcome",
    "ReadingEvent",
    "average_readings",
    "bp_summary",
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
BP_INCOMPLETE_FLAG = "bp_incomplete"


@dataclass(frozen=True, slots=True)
class BpProtocol:
    """How many blood-pressure readings, how far apart, and when to take more (NOM-030)."""

    readings: int = 1
    interval_s: float = 0.0
    max_difference_mmhg: float = 5.0
    extra_readings: int = 0

    def needs_more(self, readings: Sequence[Sequence[Measurement]]) -> bool:
        """Do two of these readings differ by more than allowed (systolic or diastolic)?"""
        for kind in (K.SYSTOLIC_PRESSURE, K.DIASTOLIC_PRESSURE):
            values = [
                m.value for r in readings for m in r if m.kind is kind and m.value is not None
            ]
            if any(abs(a - b) > self.max_difference_mmhg for a, b in combinations(values, 2)):
                return True
        return False


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


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _mean(values: Sequence[float], decimals: int = 1) -> float:
    total = sum((Decimal(repr(v)) for v in values), Decimal(0))
    mean = total / Decimal(len(values))
    return float(mean.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP))


def average_readings(
    readings: Sequence[Sequence[Measurement]], *, required: int | None = None
) -> list[Measurement]:
    """The mean of each blood-pressure kind over several readings (NOM-030).

    A kind is averaged over the readings that carry a number for it; a kind with no
    number in any reading is left out. The result is flagged ``average`` plus the
    union of the readings' flags (an irregular pulse in any reading is kept), and
    ``bp_incomplete`` when fewer readings than ``required`` carry a systolic value.
    """
    valid = sum(
        1 for r in readings if any(m.kind is K.SYSTOLIC_PRESSURE and m.value is not None for m in r)
    )
    incomplete = required is not None and valid < required
    out: list[Measurement] = []
    for kind in AVERAGED_KINDS:
        found = [m for reading in readings for m in reading if m.kind is kind]
        numbers = [m.value for m in found if m.value is not None]
        if not numbers:
            continue
        flags = {f for m in found for f in m.flags} | {"average"}
        if incomplete:
            flags.add(BP_INCOMPLETE_FLAG)
        device = next((m.device for m in found if m.device is not None), None)
        context = {"method": "average", "readings": str(len(numbers))}
        if required is not None:
            context["required"] = str(required)
        out.append(
            # the mean is rounded half up to 0.1 (_mean): one decimal is its precision
            Measurement.create(
                kind, _mean(numbers), flags=flags, context=context, device=device, decimals=1
            )
        )
    return out


@dataclass(slots=True)
class _Choice:
    """What one driver result comes to: the record to store and what to remember."""

    record: DeviceRecord | None
    memory: list[MemoryEntry]
    refusal: Refusal | None


def _choose(
    driver: Driver,
    measurements: Sequence[Measurement],
    check: Callable[[Sequence[Measurement], ClockCheck | None], Refusal | None] | None,
) -> _Choice:
    """The newest acceptable record of a driver's result, and every record to remember."""
    records = group_records(measurements)
    checked = [(r, check(r.measurements, driver.last_clock) if check else None) for r in records]
    acceptable = [r for r, refusal in checked if refusal is None]
    chosen = max(acceptable, key=lambda r: r.device_time or datetime.min) if acceptable else None
    memory = [
        MemoryEntry(
            device_key(r.measurements[0].device, driver.device_id),
            r.key,
            r.device_time,
            attributed=r is chosen,
            outcome=refusal.reason if refusal is not None else "superseded",
        )
        for r, refusal in checked
        if r.from_memory
    ]
    refusals = [refusal for _, refusal in checked if refusal is not None]
    return _Choice(chosen, memory, refusals[-1] if refusals else None)


async def measure_devices(
    store: Store,
    screening_id: int,
    drivers: Sequence[Driver],
    *,
    progress: ProgressCallback | None = None,
    on_result: ReadingCallback = _noop,
    bp_readings: int = 1,
    bp: BpProtocol | None = None,
    window: Window | None = None,
    run_id: str | None = None,
    now: Callable[[], datetime] = _utcnow,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> list[DeviceOutcome]:
    """Read every driver concurrently, storing each reading on arrival.

    A blood-pressure device (role ``bp``) follows ``bp`` (or ``bp_readings`` readings
    back to back when no protocol is given); see the module docstring. With ``window``
    device records are attributed as :mod:`cart.attribution` says; with ``run_id`` the
    store refuses readings once that run no longer owns the screening.
    """
    protocol = bp or BpProtocol(readings=bp_readings)
    zone = window.zone if window is not None else ZoneInfo("UTC")

    def record_check(
        driver: Driver,
    ) -> Callable[[Sequence[Measurement], ClockCheck | None], Refusal | None] | None:
        if window is None:
            return None
        user_window = replace(window, user_id=getattr(driver.info, "user_id", None))

        def check(record: Sequence[Measurement], clock: ClockCheck | None) -> Refusal | None:
            refusal = user_window.check(record, clock, now())
            if refusal is not None or not record:
                return refusal
            one = DeviceRecord(tuple(record))
            if one.from_memory:
                key = device_key(record[0].device, driver.device_id)
                if store.seen(key, [one.key]):
                    return refusal_already_seen(one)
            return None

        return check

    async def read_once(driver: Driver, reading: int, readings: int) -> StoredReading | CartError:
        async def relay(event: Progress) -> None:
            if progress is None:
                return
            if readings > 1:
                event = replace(
                    event, detail={**event.detail, "reading": reading, "readings": readings}
                )
            await emit(progress, event)

        check = record_check(driver)
        try:
            measurements = await driver.measure(relay, check)
        except DeviceError as exc:
            log.warning("device %s failed: %s", driver.device_id, exc.message)
            if driver.last_raw:  # e.g. records refused by the check: kept for audit
                await asyncio.to_thread(
                    store.log_refused,
                    screening_id,
                    device_id=driver.device_id,
                    raw=[RawEntry(r.protocol, r.data) for r in driver.last_raw],
                    note=f"{exc.type_name}: {exc.message}",
                    run_id=run_id,
                )
            return exc
        raw = [RawEntry(r.protocol, r.data) for r in driver.last_raw]
        choice = _choose(driver, measurements, check)
        if choice.record is None:
            refusal = choice.refusal
            assert refusal is not None or not measurements
            error = (
                NotAttributed(refusal.reason, refusal.message, refusal.nurse_message)
                if refusal is not None
                else NotAttributed(
                    "no_reading",
                    "the device returned no reading",
                    "El equipo no envió ninguna medición: mida de nuevo y presione Reintentar",
                )
            )
            log.warning("device %s: reading not attributed: %s", driver.device_id, error)
            await asyncio.to_thread(store.remember_refused, choice.memory)
            await asyncio.to_thread(
                store.log_refused,
                screening_id,
                device_id=driver.device_id,
                raw=raw,
                note=f"not attributed ({error.reason}): {error.message}",
                run_id=run_id,
            )
            return error
        chosen = list(choice.record.measurements)
        offset = clock_offset_s(driver.last_clock, zone)
        device_time = choice.record.device_time
        taken = measured_instant(device_time, offset, zone) if device_time is not None else None
        if window is not None and window.skewed(offset) and offset is not None:
            chosen = [
                replace(
                    m.with_flags(CLOCK_SKEW_FLAG),
                    context={**m.context, "clock_offset_s": f"{offset:.0f}"},
                )
                for m in chosen
            ]
        try:
            check_plausible(chosen)
        except ImplausibleValue as exc:
            log.warning("device %s: implausible reading refused: %s", driver.device_id, exc)
            await asyncio.to_thread(store.remember_refused, choice.memory)
            await asyncio.to_thread(
                store.log_refused,
                screening_id,
                device_id=driver.device_id,
                raw=raw,
                note=exc.message,
                run_id=run_id,
            )
            return exc
        try:
            stored = await asyncio.to_thread(
                store.record_reading,
                screening_id,
                chosen,
                device_id=driver.device_id,
                protocol=driver.info.driver,
                raw=raw,
                run_id=run_id,
                measured_at=taken,
                clock_offset_s=offset,
                memory=choice.memory,
            )
        except NotAttributed as exc:
            log.warning("device %s: reading not attributed: %s", driver.device_id, exc)
            return exc
        await _call(
            on_result,
            ReadingEvent(
                driver.device_id,
                measurements=chosen,
                stored=stored,
                reading=reading,
                readings=readings,
                final=readings == 1,
            ),
        )
        return stored

    async def wait_between(driver: Driver, reading: int, readings: int) -> None:
        if protocol.interval_s <= 0:
            return
        if progress is not None:
            await emit(
                progress,
                Progress(
                    ProgressStage.WAITING,
                    driver.device_id,
                    f"next blood-pressure reading in {protocol.interval_s:g} s",
                    detail={
                        "next_reading_in_s": protocol.interval_s,
                        "reading": reading,
                        "readings": readings,
                    },
                ),
            )
        await sleep(protocol.interval_s)

    async def one(driver: Driver) -> DeviceOutcome:
        is_bp = driver.info.role is Role.BP
        required = protocol.readings if is_bp else 1
        target = required
        extra_checked = False
        stored_readings: list[StoredReading] = []
        error: CartError | None = None
        n = 0
        while n < target:
            if n > 0:
                await wait_between(driver, n + 1, target)
            try:
                result = await read_once(driver, n + 1, target)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a driver bug must not take the other devices down
                log.exception("device %s: unexpected driver failure", driver.device_id)
                result = CartError(f"unexpected {type(exc).__name__} in the driver")
            if isinstance(result, CartError):
                await _call(
                    on_result,
                    ReadingEvent(driver.device_id, error=result, reading=n + 1, readings=target),
                )
                error = result
                break
            stored_readings.append(result)
            n += 1
            if (
                n == required
                and not extra_checked
                and required >= 2
                and protocol.extra_readings > 0
                and protocol.needs_more(
                    [[to_measurement(r) for r in s.records] for s in stored_readings]
                )
            ):
                extra_checked = True
                target = required + protocol.extra_readings
        if required == 1 or not stored_readings:
            return DeviceOutcome(
                driver.device_id,
                stored=stored_readings[0] if stored_readings else None,
                error=error,
                readings=tuple(stored_readings),
            )
        averaged = average_readings(
            [[to_measurement(r) for r in s.records] for s in stored_readings], required=target
        )
        final: StoredReading | None
        if averaged:
            try:
                final = await asyncio.to_thread(
                    store.record_reading,
                    screening_id,
                    averaged,
                    device_id=driver.device_id,
                    protocol=driver.info.driver,
                    run_id=run_id,
                    measured_at=max(
                        (
                            r.measured_at
                            for s in stored_readings
                            for r in s.records
                            if r.measured_at
                        ),
                        default=None,
                    ),
                )
            except NotAttributed as exc:
                return DeviceOutcome(
                    driver.device_id, error=error or exc, readings=tuple(stored_readings)
                )
        else:  # only specials (over/under range): nothing to average, the last one counts
            final = stored_readings[-1]
            averaged = [to_measurement(r) for r in final.records]
        if error is None:
            await _call(
                on_result,
                ReadingEvent(
                    driver.device_id,
                    measurements=averaged,
                    stored=final,
                    reading=n,
                    readings=n,
                    final=True,
                ),
            )
        return DeviceOutcome(
            driver.device_id, stored=final, error=error, readings=tuple(stored_readings)
        )

    return list(await asyncio.gather(*(one(d) for d in drivers)))


@dataclass(frozen=True, slots=True)
class BpSummary:
    """How the screening's blood pressure stands against the protocol."""

    required: int
    valid: int

    @property
    def complete(self) -> bool:
        return self.valid >= self.required

    def warning(self) -> dict[str, str] | None:
        """The data-quality note the classification carries when readings are missing."""
        if self.complete or self.valid == 0:
            return None
        return {
            "code": BP_INCOMPLETE_FLAG,
            "message": f"blood pressure from {self.valid} of the {self.required} readings "
            "the protocol requires (NOM-030 Appendix F)",
            "message_es": f"Presión arterial con {self.valid} de {self.required} lecturas "
            "requeridas (NOM-030): tome las lecturas que faltan",
        }


def bp_summary(records: Sequence[MeasurementRecord], required: int) -> BpSummary:
    """Valid readings behind the screening's blood pressure, and how many are required.

    The latest average says it itself (its context); without one (a run stopped between
    readings, values typed by hand) the single readings after the last average count.
    """
    systolic = [r for r in records if r.kind == K.SYSTOLIC_PRESSURE.value and r.value is not None]
    if not systolic:
        return BpSummary(required, 0)
    last = systolic[-1]
    if "average" in last.flags:
        return BpSummary(
            int(last.context.get("required", required)), int(last.context.get("readings", 1))
        )
    since = [r for r in systolic if "average" not in r.flags]
    averages = [i for i, r in enumerate(systolic) if "average" in r.flags]
    if averages:
        since = list(systolic[averages[-1] + 1 :])
    return BpSummary(required, len({r.reading_id for r in since}))


async def _call(callback: ReadingCallback, event: ReadingEvent) -> None:
    result = callback(event)
    if result is not None:
        await result

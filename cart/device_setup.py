"""The technician's device setup: a test reading, and saving ``devices.toml``.

**Test readings are nobody's.** A test reading goes through the device's own driver,
with the clock left alone (``set_clock`` off whatever the settings say), and is stored
nowhere as a reading: no screening, no run, no measurement row. It does leave one trace:
every device-memory record it downloaded (a meter's stored results, a cuff's or BLE
scale's replayed record) is written to the store's record memory as seen, with outcome
``technician_test``. Without that, the technician's own test value (taken a minute
before a nurse opens the next screening, inside the freshness grace) could later be
downloaded again and attributed to that patient. The cost: a patient's unsent record
that the technician happens to download is also refused later, and the nurse is told
to measure again, which is the cart's rule whenever a record's owner is in doubt.
Readings without a memory (a streaming scale) leave nothing to remember.

**Saving** validates the entries the same way the service will load them (the
``[[device]]`` rules, then building each driver), writes the file atomically (temp file,
fsync, rename, folder fsync) with mode 0600, and keeps the previous file beside it as
``devices.toml.bak``.
"""

from __future__ import annotations

import asyncio
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from cart.attribution import device_key, group_records
from cart.devices import DeviceConfig, dump_devices, parse_devices
from cart.drivers.base import no_progress
from cart.drivers.factory import build_driver
from cart.errors import ConfigError
from cart.measurement import Measurement
from cart.private import write_private
from cart.store import MemoryEntry, Store

__all__ = [
    "TEST_OUTCOME",
    "SavedDevices",
    "TestReading",
    "active_runs",
    "backup_path",
    "save_devices",
    "take_test_reading",
    "validate_devices",
]

#: the record-memory outcome of records a technician's test reading downloaded
TEST_OUTCOME: Final = "technician_test"


@dataclass(frozen=True, slots=True)
class TestReading:
    measurements: list[Measurement]
    """The newest record's measurements (what the device just measured)."""
    device_time: datetime | None
    """That record's own time on the device clock (None: the device sends none)."""
    clock_offset_s: float | None
    """Device clock minus cart clock at connect (None: not readable)."""
    records: int
    """Records the device sent (a meter sends its whole memory)."""
    remembered: int
    """Of those, records now in the record memory as the technician's."""


async def take_test_reading(
    cfg: DeviceConfig,
    store: Store,
    *,
    clock_skew_s: float = 300.0,
    **driver_extra: Any,
) -> TestReading:
    """One reading from ``cfg``'s device; DeviceError/ConfigError as the driver raises them."""
    cfg = replace(cfg, options={**cfg.options, "set_clock": False})  # never the clock
    driver = build_driver(cfg, set_clocks=False, clock_skew_s=clock_skew_s, **driver_extra)
    try:
        measurements = await driver.measure(no_progress)
    finally:
        await driver.close()
    records = group_records(measurements)
    memory = [
        MemoryEntry(
            device_key(r.measurements[0].device, cfg.id),
            r.key,
            r.device_time,
            outcome=TEST_OUTCOME,
        )
        for r in records
        if r.from_memory
    ]
    if memory:
        await asyncio.to_thread(store.remember_refused, memory)
    newest = max(records, key=lambda r: r.device_time or datetime.min) if records else None
    offset: float | None = None
    if driver.last_clock is not None:
        clock = driver.last_clock
        aware = clock.device_time.replace(tzinfo=clock.cart_time.tzinfo)
        offset = (aware - clock.cart_time).total_seconds()
    return TestReading(
        list(newest.measurements) if newest else [],
        newest.device_time if newest else None,
        offset,
        len(records),
        len(memory),
    )


def active_runs(store: Store) -> int:
    """Measuring runs the store holds as active (a reload must wait for them)."""
    from sqlmodel import col, func, select

    from cart.store.models import MeasureRun, RunStatus

    with store.session() as s:
        count = s.exec(
            select(func.count())
            .select_from(MeasureRun)
            .where(col(MeasureRun.status) == RunStatus.ACTIVE)
        ).one()
    return int(count)


def validate_devices(
    entries: Sequence[Mapping[str, Any]], **driver_extra: Any
) -> list[DeviceConfig]:
    """The entries as the service would load them; ConfigError names the first problem."""
    configs = parse_devices({"device": [dict(e) for e in entries]}, source="devices.toml")
    for cfg in configs:
        build_driver(cfg, **driver_extra)  # driver options (baud rate, register map...)
    # what will be written must read back as the same list
    try:
        same = parse_devices(tomllib.loads(dump_devices(configs))) == configs
    except tomllib.TOMLDecodeError:  # e.g. a line break inside a name
        same = False
    if not same:
        raise ConfigError("devices.toml: the entries do not survive writing as TOML")
    return configs


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


@dataclass(frozen=True, slots=True)
class SavedDevices:
    path: Path
    backup: Path | None
    """The previous file, kept (None: there was none)."""


def save_devices(path: Path, configs: Sequence[DeviceConfig]) -> SavedDevices:
    """Write ``configs`` to ``path`` atomically (0600), keeping the old file as ``.bak``."""
    text = dump_devices(list(configs))
    backup: Path | None = None
    if path.exists():
        backup = backup_path(path)
        write_private(backup, path.read_bytes())
    write_private(path, text)  # temp file, fsync, rename
    _fsync_dir(path.parent)  # the rename itself survives a power cut
    return SavedDevices(path, backup)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""A Bluetooth blood pressure monitor: Blood Pressure Service (0x1810) on bumble's radio.

Behaves like an Omron or A&D UA-651BLE cuff: once a central has enabled indications on
Blood Pressure Measurement (the nurse presses start), it pumps the cuff up to
``peak_mmhg`` and lets it down, notifying Intermediate Cuff Pressure (0x2A36) every
``cuff_update_s``; then it indicates the Blood Pressure Measurement (0x2A35), waits for
the confirmation and drops the link, as real cuffs do. Values come from
:mod:`cart.protocols.ble_blood_pressure`'s encoders, in mmHg or kPa.

Memory: ``stored`` readings (with their user ids and ages) are indicated first, oldest
first, as soon as the cart subscribes, then the cuff measures (not with
``new_reading=False``). A confirmed record leaves the memory unless ``replay_memory``.

Faults: ``DISCONNECT_MID_TRANSFER`` drops the link half-way through inflation (after the
first stored record when there are some); ``MALFORMED_VALUE`` indicates a truncated
measurement.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Final

from bumble.core import UUID
from bumble.device import Connection
from bumble.gatt import Characteristic, Service
from bumble.link import LocalLink

from cart.protocols.ble_blood_pressure import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    IntermediateCuffPressure,
    encode_blood_pressure,
    encode_blood_pressure_feature,
    encode_intermediate_cuff_pressure,
)
from cart.protocols.ble_common import DateTime
from cart.protocols.ieee11073 import MedFloat, sfloat
from simulators.ble._memory import MemoryPeripheral
from simulators.ble.config import BleFault, BloodPressureConfig, StoredBloodPressure

__all__ = ["BLOOD_PRESSURE_SERVICE", "BloodPressureSimulator"]

BLOOD_PRESSURE_SERVICE: Final = 0x1810
BLOOD_PRESSURE_MEASUREMENT: Final = 0x2A35
INTERMEDIATE_CUFF_PRESSURE: Final = 0x2A36
BLOOD_PRESSURE_FEATURE: Final = 0x2A49
_MMHG_PER_KPA: Final = Decimal("7.50062")


class BloodPressureSimulator(MemoryPeripheral[StoredBloodPressure]):
    """``async with BloodPressureSimulator(link, BloodPressureConfig.fast()) as cuff: ...``"""

    def __init__(self, link: LocalLink, config: BloodPressureConfig | None = None) -> None:
        self.config = config or BloodPressureConfig()
        cfg = self.config
        super().__init__(
            link,
            cfg,
            cfg.stored,
            replay_memory=cfg.replay_memory,
            service_uuids=(BLOOD_PRESSURE_SERVICE,),
        )
        #: cuff pressures notified (mmHg), for tests
        self.cuff_pressures: list[float] = []

    def build_services(self) -> list[Service]:
        self._measurement = self.indicated(
            Characteristic.Properties.INDICATE, BLOOD_PRESSURE_MEASUREMENT
        )
        self._measurement.on(Characteristic.EVENT_SUBSCRIPTION, self._on_subscription)
        self._cuff = self.indicated(Characteristic.Properties.NOTIFY, INTERMEDIATE_CUFF_PRESSURE)
        feature = (
            BloodPressureFeature.BODY_MOVEMENT_DETECTION
            | BloodPressureFeature.CUFF_FIT_DETECTION
            | BloodPressureFeature.IRREGULAR_PULSE_DETECTION
        )
        return [
            Service(
                UUID.from_16_bits(BLOOD_PRESSURE_SERVICE),
                [
                    self._measurement,
                    self._cuff,
                    self.readable(BLOOD_PRESSURE_FEATURE, encode_blood_pressure_feature(feature)),
                ],
            ),
            self.current_time_service(writable=self.config.time_writable),
            self.device_information_service("BLS-SIM"),
        ]

    # ------------------------------------------------------------------ values

    def _pressure(self, mmhg: float) -> MedFloat:
        """A pressure in the configured unit (kPa to 0.1, as cuffs send it)."""
        exact = Decimal(repr(mmhg))
        if self.config.unit == "kPa":
            return sfloat((exact / _MMHG_PER_KPA).quantize(Decimal("0.1")))
        return sfloat(exact.quantize(Decimal("0.1")).normalize())

    def cuff_value(self, mmhg: float) -> bytes:
        return encode_intermediate_cuff_pressure(
            IntermediateCuffPressure(self._pressure(mmhg), kpa=self.config.unit == "kPa")
        )

    def measurement_value(
        self, stored: StoredBloodPressure | None = None, when: datetime | None = None
    ) -> bytes:
        """The reading this cuff reports now, or the one of a ``stored`` record."""
        cfg = self.config
        if stored is None:
            systolic, diastolic, pulse = cfg.systolic, cfg.diastolic, cfg.pulse
            mean, user_id = cfg.map_mmhg, cfg.user_id
        else:
            systolic, diastolic, pulse = stored.systolic, stored.diastolic, stored.pulse
            mean = round(diastolic + (systolic - diastolic) / 3, 1)
            user_id = stored.user_id
        stamp = self.time_stamp() if when is None else DateTime.from_datetime(when)
        return encode_blood_pressure(
            BloodPressureMeasurement(
                systolic=self._pressure(systolic),
                diastolic=self._pressure(diastolic),
                mean_arterial_pressure=self._pressure(mean),
                kpa=cfg.unit == "kPa",
                time_stamp=stamp if cfg.with_time_stamp else None,
                pulse_rate=None if pulse is None else sfloat(Decimal(repr(pulse)).normalize()),
                user_id=user_id,
                measurement_status=cfg.status,
            )
        )

    # ------------------------------------------------------------------ behaviour

    async def _measure(self, connection: Connection, number: int) -> None:
        cfg = self.config
        fault = cfg.fault if cfg.fault_applies(number) else BleFault.NONE
        had_memory = bool(self.memory)
        if not await self._send_memory(connection, fault):
            return
        if not cfg.new_reading:
            if had_memory:
                await asyncio.sleep(cfg.disconnect_after_s)
                await self.disconnect(connection)
            return  # nobody presses start: the cuff stays idle until the host gives up
        await asyncio.sleep(cfg.start_delay_s)
        inflate_steps = max(1, round(cfg.inflate_s / cfg.cuff_update_s))
        for step in range(1, inflate_steps + 1):
            await self._cuff_update(connection, cfg.peak_mmhg * step / inflate_steps)
            if fault is BleFault.DISCONNECT_MID_TRANSFER and step * 2 >= inflate_steps:
                await self.disconnect(connection)
                return
        floor = max(cfg.diastolic - 10.0, 0.0)
        deflate_steps = max(1, round(cfg.deflate_s / cfg.cuff_update_s))
        for step in range(1, deflate_steps + 1):
            await self._cuff_update(
                connection, cfg.peak_mmhg - (cfg.peak_mmhg - floor) * step / deflate_steps
            )
        value = self.measurement_value()
        if fault is BleFault.MALFORMED_VALUE:
            value = value[:5]  # flags, systolic and half of diastolic
        self.sent.append(value)
        if await self.indicate(connection, self._measurement, value):
            await asyncio.sleep(cfg.disconnect_after_s)
            await self.disconnect(connection)

    async def _cuff_update(self, connection: Connection, mmhg: float) -> None:
        mmhg = round(mmhg, 1)
        self.cuff_pressures.append(mmhg)
        await self.notify(connection, self._cuff, self.cuff_value(mmhg))
        await asyncio.sleep(self.config.cuff_update_s)

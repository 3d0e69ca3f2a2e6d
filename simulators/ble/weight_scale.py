"""A Bluetooth weight scale: Weight Scale Service (0x181D) on bumble's virtual radio.

Like an A&D UC-352BLE or an Omron scale: it advertises the Weight Scale service, and
once a central has enabled indications on Weight Measurement (the patient steps on) it
settles for ``settle_s``, indicates one final weight (with time stamp, user id, BMI and
height as configured) and switches its radio off shortly after. Values are produced by
:func:`cart.protocols.ble_weight.encode_weight_measurement`.

Memory: ``stored`` weights (with their user ids and ages) are indicated first, oldest
first, as soon as the cart subscribes, then the new weight (none with
``new_reading=False``). A confirmed record leaves the memory unless ``replay_memory``.

Faults: ``DISCONNECT_MID_TRANSFER`` drops the link before the result (after the first
stored record when there are some); ``MALFORMED_VALUE`` indicates a truncated Weight
Measurement.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Final

from bumble.core import UUID
from bumble.device import Connection
from bumble.gatt import Characteristic, Service
from bumble.link import LocalLink

from cart.protocols.ble_common import DateTime
from cart.protocols.ble_weight import (
    WeightMeasurement,
    WeightScaleFeature,
    encode_weight_measurement,
    encode_weight_scale_feature,
)
from simulators.ble._memory import MemoryPeripheral
from simulators.ble.config import BleFault, StoredWeight, WeightScaleConfig

__all__ = ["WEIGHT_SCALE_SERVICE", "WeightScaleSimulator"]

WEIGHT_SCALE_SERVICE: Final = 0x181D
WEIGHT_MEASUREMENT: Final = 0x2A9D
WEIGHT_SCALE_FEATURE: Final = 0x2A9E
_KG_PER_LB: Final = 0.45359237
_CM_PER_IN: Final = 2.54


class WeightScaleSimulator(MemoryPeripheral[StoredWeight]):
    """``async with WeightScaleSimulator(link, WeightScaleConfig.fast()) as scale: ...``"""

    def __init__(self, link: LocalLink, config: WeightScaleConfig | None = None) -> None:
        self.config = config or WeightScaleConfig()
        cfg = self.config
        super().__init__(
            link,
            cfg,
            cfg.stored,
            replay_memory=cfg.replay_memory,
            service_uuids=(WEIGHT_SCALE_SERVICE,),
        )

    def build_services(self) -> list[Service]:
        cfg = self.config
        self._measurement = self.indicated(Characteristic.Properties.INDICATE, WEIGHT_MEASUREMENT)
        self._measurement.on(Characteristic.EVENT_SUBSCRIPTION, self._on_subscription)
        feature = WeightScaleFeature(
            time_stamp_supported=cfg.with_time_stamp,
            multiple_users_supported=cfg.user_id is not None,
            bmi_supported=cfg.height_cm is not None,
            weight_measurement_resolution=cfg.weight_resolution,
            height_measurement_resolution=3 if cfg.height_cm is not None else 0,
        )
        return [
            Service(
                UUID.from_16_bits(WEIGHT_SCALE_SERVICE),
                [
                    self.readable(WEIGHT_SCALE_FEATURE, encode_weight_scale_feature(feature)),
                    self._measurement,
                ],
            ),
            self.current_time_service(writable=cfg.time_writable),
            self.device_information_service("WSS-SIM"),
        ]

    def measurement_value(
        self, stored: StoredWeight | None = None, when: datetime | None = None
    ) -> bytes:
        """The Weight Measurement this scale reports now (device clock for the stamp), or
        the one of a ``stored`` record taken at ``when``."""
        cfg = self.config
        kg = cfg.weight_kg if stored is None else stored.weight_kg
        weight = kg / _KG_PER_LB if cfg.imperial else kg
        height: float | None = None
        if cfg.height_cm is not None:
            height = cfg.height_cm / _CM_PER_IN if cfg.imperial else cfg.height_cm / 100
        stamp = self.time_stamp() if when is None else DateTime.from_datetime(when)
        bmi = cfg.bmi
        if stored is not None and cfg.height_cm is not None:
            bmi = round(stored.weight_kg / (cfg.height_cm / 100) ** 2, 1)
        return encode_weight_measurement(
            WeightMeasurement(
                weight=round(weight, 2),
                imperial=cfg.imperial,
                time_stamp=stamp if cfg.with_time_stamp else None,
                user_id=cfg.user_id if stored is None else stored.user_id,
                bmi=bmi,
                height=None if height is None else round(height, 3 if not cfg.imperial else 1),
            )
        )

    async def _measure(self, connection: Connection, number: int) -> None:
        cfg = self.config
        fault = cfg.fault if cfg.fault_applies(number) else BleFault.NONE
        had_memory = bool(self.memory)
        if not await self._send_memory(connection, fault):
            return
        if not cfg.new_reading:
            if had_memory and cfg.disconnect_after_s is not None:
                await asyncio.sleep(cfg.disconnect_after_s)
                await self.disconnect(connection)
            return  # nobody steps on: the scale stays idle until the host gives up
        await asyncio.sleep(cfg.settle_s)
        if fault is BleFault.DISCONNECT_MID_TRANSFER:
            await self.disconnect(connection)
            return
        value = self.measurement_value()
        if fault is BleFault.MALFORMED_VALUE:
            value = value[:2]  # flags and half of the weight
        self.sent.append(value)
        confirmed = await self.indicate(connection, self._measurement, value)
        if confirmed and cfg.disconnect_after_s is not None:
            await asyncio.sleep(cfg.disconnect_after_s)
            await self.disconnect(connection)

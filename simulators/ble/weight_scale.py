"""A Bluetooth weight scale: Weight Scale Service (0x181D) on bumble's virtual radio.

Like an A&D UC-352BLE or an Omron scale: it advertises the Weight Scale service, and
once a central has enabled indications on Weight Measurement (the patient steps on) it
settles for ``settle_s``, indicates one final weight (with time stamp, user id, BMI and
height as configured) and switches its radio off shortly after. Values are produced by
:func:`cart.protocols.ble_weight.encode_weight_measurement`.

Faults: ``DISCONNECT_MID_TRANSFER`` drops the link before the result;
``MALFORMED_VALUE`` indicates a truncated Weight Measurement.
"""

from __future__ import annotations

import asyncio
from typing import Final

from bumble.core import UUID
from bumble.device import Connection
from bumble.gatt import Characteristic, Service
from bumble.link import LocalLink

from cart.protocols.ble_weight import (
    WeightMeasurement,
    WeightScaleFeature,
    encode_weight_measurement,
    encode_weight_scale_feature,
)
from simulators.ble._peripheral import BlePeripheral
from simulators.ble.config import BleFault, WeightScaleConfig

__all__ = ["WEIGHT_SCALE_SERVICE", "WeightScaleSimulator"]

WEIGHT_SCALE_SERVICE: Final = 0x181D
WEIGHT_MEASUREMENT: Final = 0x2A9D
WEIGHT_SCALE_FEATURE: Final = 0x2A9E
_KG_PER_LB: Final = 0.45359237
_CM_PER_IN: Final = 2.54


class WeightScaleSimulator(BlePeripheral):
    """``async with WeightScaleSimulator(link, WeightScaleConfig.fast()) as scale: ...``"""

    def __init__(self, link: LocalLink, config: WeightScaleConfig | None = None) -> None:
        self.config = config or WeightScaleConfig()
        cfg = self.config
        super().__init__(link, cfg, service_uuids=(WEIGHT_SCALE_SERVICE,))
        self._measuring: set[Connection] = set()
        #: every Weight Measurement value indicated (what a driver should have decoded)
        self.sent: list[bytes] = []

    def build_services(self) -> list[Service]:
        cfg = self.config
        self._measurement = self.indicated(Characteristic.Properties.INDICATE, WEIGHT_MEASUREMENT)
        self._measurement.on(Characteristic.EVENT_SUBSCRIPTION, self._on_subscription)
        feature = WeightScaleFeature(
            time_stamp_supported=cfg.with_time_stamp,
            multiple_users_supported=cfg.user_id is not None,
            bmi_supported=cfg.height_cm is not None,
            weight_measurement_resolution=7,  # 0.005 kg / 0.01 lb
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

    def measurement_value(self) -> bytes:
        """The Weight Measurement this scale reports now (device clock for the stamp)."""
        cfg = self.config
        weight = cfg.weight_kg / _KG_PER_LB if cfg.imperial else cfg.weight_kg
        height: float | None = None
        if cfg.height_cm is not None:
            height = cfg.height_cm / _CM_PER_IN if cfg.imperial else cfg.height_cm / 100
        return encode_weight_measurement(
            WeightMeasurement(
                weight=round(weight, 2),
                imperial=cfg.imperial,
                time_stamp=self.time_stamp() if cfg.with_time_stamp else None,
                user_id=cfg.user_id,
                bmi=cfg.bmi,
                height=None if height is None else round(height, 3 if not cfg.imperial else 1),
            )
        )

    def _on_subscription(self, connection: Connection, _notify: bool, indicate: bool) -> None:
        if indicate and connection not in self._measuring:
            self._measuring.add(connection)
            self.spawn(self._measure(connection, self.connections_seen), connection=connection)

    def on_disconnected(self, connection: Connection) -> None:
        self._measuring.discard(connection)

    async def _measure(self, connection: Connection, number: int) -> None:
        cfg = self.config
        fault = cfg.fault if cfg.fault_applies(number) else BleFault.NONE
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

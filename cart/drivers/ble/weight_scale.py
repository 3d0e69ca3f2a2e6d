"""Bluetooth weight scales: the Weight Scale Service (0x181D) through bleak.

Supported: any scale implementing the Bluetooth SIG Weight Scale Service (A&D UC-352BLE,
Omron HN-300T2, Beurer BF/GS series in standard mode...). Discovery by address, advertised
name or the Weight Scale service UUID.

The driver enables indications on Weight Measurement (0x2A9D) first, then reads the scale's
clock (and sets it only when allowed), and waits for the final weight: a WSS scale indicates
only once the reading is stable. "Measurement unsuccessful" (0xFFFF, e.g. the patient
stepped off) is reported as progress and the driver keeps waiting. The reading's weight, and
height and BMI when the scale sends them, are returned; the scale dropping the link after
indicating is normal. Stored measurements a scale replays on connect, or another user's, are
checked and skipped like a cuff's (see :mod:`cart.drivers.ble._base`).
"""

from __future__ import annotations

import logging
from typing import Final

from bleak.exc import BleakError

from cart.drivers.base import (
    Progress,
    ProgressCallback,
    ProgressStage,
    RawFrame,
    RecordCheck,
    Refusal,
    emit,
)
from cart.drivers.ble._base import BleDriver, BleLink
from cart.errors import ProtocolError
from cart.measurement import Measurement, MeasurementKind
from cart.protocols.ble_weight import (
    WeightScaleFeature,
    decode_weight_measurement,
    parse_weight_scale_feature,
    with_feature_resolution,
)

__all__ = ["BleWeightScaleDriver"]

WEIGHT_SCALE_SERVICE: Final = 0x181D
WEIGHT_MEASUREMENT: Final = 0x2A9D
WEIGHT_SCALE_FEATURE: Final = 0x2A9E
PROTOCOL: Final = "ble.weight_measurement"

_log = logging.getLogger(__name__)


class BleWeightScaleDriver(BleDriver):
    """``BleWeightScaleDriver(info, backend=..., settings=...).measure(progress)``."""

    SERVICE_UUID16 = WEIGHT_SCALE_SERVICE
    #: WSS scales store measurements taken while no central was connected and send them later
    keeps_records = True
    STAMPS_AFTER_CONNECT = True

    async def _exchange(
        self,
        link: BleLink,
        progress: ProgressCallback,
        raw: list[RawFrame],
        check: RecordCheck | None,
    ) -> list[Measurement]:
        measurement = link.require(WEIGHT_MEASUREMENT, "Weight Measurement")
        await link.subscribe(measurement, WEIGHT_MEASUREMENT)
        await self._sync_time(link)
        feature = await self._read_feature(link)
        await emit(
            progress, Progress(ProgressStage.WAITING, self.device_id, "waiting for the patient")
        )
        refusal: Refusal | None = None
        while True:
            event = await self._next_record(link, "weight measurement", refusal)
            if event.uuid16 != WEIGHT_MEASUREMENT:
                continue
            decoded = decode_weight_measurement(event.data)
            weight = next(
                (m for m in decoded.measurements if m.kind is MeasurementKind.BODY_WEIGHT), None
            )
            if weight is None or weight.value is None:
                await emit(
                    progress,
                    Progress(
                        ProgressStage.PROGRESS,
                        self.device_id,
                        "measurement unsuccessful, waiting for the patient again",
                        weight,
                    ),
                )
                continue
            raw.append(RawFrame(PROTOCOL, event.data))
            refusal = self._screen(decoded.measurements, check)
            if refusal is None:
                if feature is None:
                    return list(decoded.measurements)
                # the scale's display resolution is the weight's precision (0.1 kg: 70.0)
                return list(with_feature_resolution(decoded.measurements, feature))

    async def _read_feature(self, link: BleLink) -> WeightScaleFeature | None:
        """The Weight Scale Feature (0x2A9E, mandatory in WSS), best effort: without it
        the weight keeps the 0.005 kg field's precision."""
        assert link.client is not None
        characteristic = link.characteristic(WEIGHT_SCALE_FEATURE)
        if characteristic is None or "read" not in characteristic.properties:
            return None
        try:
            return parse_weight_scale_feature(
                bytes(await link.client.read_gatt_char(characteristic))
            )
        except (BleakError, TimeoutError, OSError, ProtocolError) as exc:
            _log.info("%s: weight scale feature not read: %r", self.device_id, exc)
            return None

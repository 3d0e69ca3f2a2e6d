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

from typing import Final

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
from cart.measurement import Measurement, MeasurementKind
from cart.protocols.ble_weight import decode_weight_measurement

__all__ = ["BleWeightScaleDriver"]

WEIGHT_SCALE_SERVICE: Final = 0x181D
WEIGHT_MEASUREMENT: Final = 0x2A9D
PROTOCOL: Final = "ble.weight_measurement"


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
                return list(decoded.measurements)

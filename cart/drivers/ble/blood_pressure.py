"""Bluetooth blood pressure monitors: the Blood Pressure Service (0x1810) through bleak.

Supported: cuffs implementing the Bluetooth SIG Blood Pressure Service (Omron BP7000-series
and HEM-9200T, A&D UA-651BLE, Beurer BM 54/57, ...). Discovery by address, advertised name
or the Blood Pressure service UUID.

Order matters with cuffs, which indicate the result and drop the link within a second: the
driver enables notifications on Intermediate Cuff Pressure (0x2A36) and indications on Blood
Pressure Measurement (0x2A35) before anything else, then reads the cuff's clock (and sets it
only when allowed). Every cuff pressure notification is reported at once as a PROGRESS event
with a ``cuff_pressure`` measurement (the kiosk shows it); the indicated measurement is the
result: systolic, diastolic, mean arterial pressure and pulse, with the cuff's status bits
as flags. The cuff disconnecting after the indication is expected; disconnecting before it
is ``ConnectionLost`` and nothing is returned.

Cuffs with a memory (Omron, A&D) indicate their stored, unsent measurements when a central
connects, possibly of another user: each one goes through the record check and the
configured ``user_id``; refused ones are skipped and the driver waits for a fresh one (see
:mod:`cart.drivers.ble._base`).
"""

from __future__ import annotations

import logging
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
from cart.errors import ProtocolError
from cart.measurement import Measurement
from cart.protocols.ble_blood_pressure import (
    decode_blood_pressure,
    decode_intermediate_cuff_pressure,
)

__all__ = ["BleBloodPressureDriver"]

_log = logging.getLogger(__name__)

BLOOD_PRESSURE_SERVICE: Final = 0x1810
BLOOD_PRESSURE_MEASUREMENT: Final = 0x2A35
INTERMEDIATE_CUFF_PRESSURE: Final = 0x2A36
PROTOCOL: Final = "ble.blood_pressure"


class BleBloodPressureDriver(BleDriver):
    """``BleBloodPressureDriver(info, backend=..., settings=...).measure(progress)``."""

    SERVICE_UUID16 = BLOOD_PRESSURE_SERVICE
    #: cuffs keep unsent (or all) measurements and indicate them again on connect
    keeps_records = True
    STAMPS_AFTER_CONNECT = True

    async def _exchange(
        self,
        link: BleLink,
        progress: ProgressCallback,
        raw: list[RawFrame],
        check: RecordCheck | None,
    ) -> list[Measurement]:
        result = link.require(BLOOD_PRESSURE_MEASUREMENT, "Blood Pressure Measurement")
        cuff = link.characteristic(INTERMEDIATE_CUFF_PRESSURE)
        if cuff is not None:
            await link.subscribe(cuff, INTERMEDIATE_CUFF_PRESSURE)
        await link.subscribe(result, BLOOD_PRESSURE_MEASUREMENT)
        await self._sync_time(link)
        await emit(
            progress, Progress(ProgressStage.WAITING, self.device_id, "waiting for the cuff")
        )
        refusal: Refusal | None = None
        while True:
            event = await self._next_record(link, "blood pressure measurement", refusal)
            if event.uuid16 == INTERMEDIATE_CUFF_PRESSURE:
                try:
                    pressure = decode_intermediate_cuff_pressure(event.data).measurements[0]
                except ProtocolError as exc:  # progress only: never fatal
                    _log.info("%s: bad cuff pressure %s: %s", self.device_id, event.data.hex(), exc)
                    continue
                await emit(
                    progress,
                    Progress(
                        ProgressStage.PROGRESS,
                        self.device_id,
                        "cuff pressure",
                        pressure,
                        detail={"cuff_pressure_mmhg": pressure.value},
                    ),
                )
            elif event.uuid16 == BLOOD_PRESSURE_MEASUREMENT:
                decoded = decode_blood_pressure(event.data)
                raw.append(RawFrame(PROTOCOL, event.data))
                refusal = self._screen(decoded.measurements, check)
                if refusal is None:
                    return list(decoded.measurements)

"""Bluetooth glucometers: the Glucose Service (0x1808) and its Record Access Control Point.

Supported: meters implementing the Bluetooth SIG Glucose Service (Roche Accu-Chek
Guide/Instant, Ascensia Contour Next One/Plus, i-SENS CareSens N Premier, ...).
Discovery by address, advertised name or the Glucose service UUID.

A meter only sends stored records when asked. The driver enables notifications on Glucose
Measurement (0x2A18) and Measurement Context (0x2A34) and indications on the RACP
(0x2A52), reads the meter's clock (Current Time or Date Time; set only when the device's
``set_clock`` allows and Current Time is writable), then asks for all stored records
(``01 01``) and collects them until the RACP answers "success" or "no records found".

- Every record: the driver returns all of the meter's patient records, oldest first, each
  with its sequence number; which one belongs to the screening, and which were seen
  before, is the caller's record memory's decision (the same after a restart as in a
  running cart). Duplicates within a download collapse.
- Resume: if the link drops mid-download the reading fails with ``ConnectionLost``
  (nothing returned) but the complete records received are kept; the next reading asks
  only for what came after them (``01 03 01 <last+1>``) and returns the whole batch,
  exactly what a full download would have returned (a download optimisation only).
- Silence: no RACP answer (or a stalled download) within ``response_timeout_s`` sends
  Abort (``03 00``) and fails with ``DeviceTimeout``.
- A malformed record aborts the download (``DeviceReportedError``): a batch with a hole
  in it is never returned.
- Control-solution readings (type 10 or location 4) are not patient values: not returned.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field, replace
from typing import Final

from bleak.exc import BleakError, BleakGATTProtocolError, BleakGATTProtocolErrorCode

from cart.drivers.base import (
    DeviceInfo,
    Progress,
    ProgressCallback,
    ProgressStage,
    RawFrame,
    RecordCheck,
    emit,
)
from cart.drivers.ble._base import BleBackend, BleDriver, BleLink, BleSettings, is_pairing_error
from cart.errors import ConnectionLost, DeviceError, DeviceReportedError, ProtocolError
from cart.measurement import Measurement, MeasurementKind
from cart.protocols.ble_glucose import (
    apply_context,
    decode_glucose_context,
    decode_glucose_measurement,
    parse_glucose_context,
)
from cart.protocols.ble_racp import (
    OpCode,
    RacpNumberOfRecords,
    RacpRequest,
    RacpResponse,
    ResponseCode,
    encode_racp,
    parse_racp,
)

__all__ = ["BleGlucometerDriver", "GlucoseRecordSet"]

_log = logging.getLogger(__name__)

GLUCOSE_SERVICE: Final = 0x1808
GLUCOSE_MEASUREMENT: Final = 0x2A18
GLUCOSE_CONTEXT: Final = 0x2A34
RACP: Final = 0x2A52
MEASUREMENT_PROTOCOL: Final = "ble.glucose_measurement"
CONTEXT_PROTOCOL: Final = "ble.glucose_context"
RACP_PROTOCOL: Final = "ble.racp"
CONTROL_SOLUTION_FLAG: Final = "control_solution"

NO_NEW_RECORDS_ES: Final = (
    "El glucómetro no tiene mediciones nuevas: haga la medición y presione Reintentar"
)


@dataclass(slots=True)
class _Record:
    """One stored record: its measurement(s), plus its context once that arrived."""

    sequence_number: int
    measurements: tuple[Measurement, ...]
    frames: list[RawFrame]
    needs_context: bool
    has_context: bool = False

    @property
    def complete(self) -> bool:
        return self.has_context or not self.needs_context

    @property
    def control_solution(self) -> bool:
        return any(CONTROL_SOLUTION_FLAG in m.flags for m in self.measurements)


@dataclass(slots=True)
class GlucoseRecordSet:
    """Records of one download, by sequence number (duplicates collapse)."""

    records: dict[int, _Record] = field(default_factory=dict)

    def complete(self) -> dict[int, _Record]:
        return {seq: r for seq, r in self.records.items() if r.complete}


class BleGlucometerDriver(BleDriver):
    """``BleGlucometerDriver(info, backend=...).measure(progress)``.

    ``require_new``: when the meter holds no patient record, raise ``DeviceReportedError``
    ("measure and retry") instead of returning an empty list.
    """

    SERVICE_UUID16 = GLUCOSE_SERVICE
    #: the meter keeps every result; a RACP download sends them all again
    keeps_records = True

    def __init__(
        self,
        info: DeviceInfo,
        *,
        address: str | None = None,
        name: str | None = None,
        backend: BleBackend | None = None,
        settings: BleSettings | None = None,
        require_new: bool = True,
    ) -> None:
        super().__init__(info, address=address, name=name, backend=backend, settings=settings)
        self.require_new = require_new
        #: complete records of an interrupted download, kept to resume after them
        self._pending: dict[int, _Record] = {}

    def _request(self) -> RacpRequest:
        last = max(self._pending, default=None)
        if last is None or last + 1 > 0xFFFF:
            self._pending.clear()
            return RacpRequest.report_all()
        return RacpRequest.report_from(last + 1)

    async def _exchange(
        self,
        link: BleLink,
        progress: ProgressCallback,
        raw: list[RawFrame],
        check: RecordCheck | None,
    ) -> list[Measurement]:
        measurement = link.require(GLUCOSE_MEASUREMENT, "Glucose Measurement")
        racp = link.require(RACP, "Record Access Control Point")
        context = link.characteristic(GLUCOSE_CONTEXT)
        await link.subscribe(measurement, GLUCOSE_MEASUREMENT)
        if context is not None:
            await link.subscribe(context, GLUCOSE_CONTEXT)
        await link.subscribe(racp, RACP)
        await self._sync_time(link)

        request = self._request()
        await emit(
            progress,
            Progress(
                ProgressStage.WAITING,
                self.device_id,
                "downloading stored records",
                detail={"request": encode_racp(request).hex()},
            ),
        )
        assert link.client is not None
        try:
            await link.client.write_gatt_char(racp, encode_racp(request), response=True)
        except BleakGATTProtocolError as exc:
            if is_pairing_error(exc):
                raise
            raise self._racp_refused(exc) from exc

        batch = GlucoseRecordSet()
        try:
            response = await self._collect(link, progress, batch)
        except ConnectionLost:
            self._keep_for_resume(batch)
            raise
        except (DeviceError, ProtocolError):
            await self._abort(link)
            raise
        if response.response_code not in (ResponseCode.SUCCESS, ResponseCode.NO_RECORDS_FOUND):
            raise self.make_error(
                DeviceReportedError,
                f"the meter refused the record request: {_response_name(response.response_code)}",
            )
        return self._finish(batch, raw)

    async def _collect(
        self, link: BleLink, progress: ProgressCallback, batch: GlucoseRecordSet
    ) -> RacpResponse:
        deadline = self._deadline(self.settings.response_timeout_s)
        while True:
            event = await link.next(deadline, "answer from the Record Access Control Point")
            if event.uuid16 == GLUCOSE_MEASUREMENT:
                decoded = decode_glucose_measurement(event.data)
                record = _Record(
                    int(decoded.record["sequence_number"]),
                    decoded.measurements,
                    [RawFrame(MEASUREMENT_PROTOCOL, event.data)],
                    needs_context=bool(decoded.record["context_information_follows"]),
                )
                batch.records.setdefault(record.sequence_number, record)
                deadline = self._deadline(self.settings.response_timeout_s)
                await emit(
                    progress,
                    Progress(
                        ProgressStage.PROGRESS,
                        self.device_id,
                        "stored record received",
                        detail={
                            "records": len(batch.records),
                            "sequence_number": record.sequence_number,
                        },
                    ),
                )
            elif event.uuid16 == GLUCOSE_CONTEXT:
                value = parse_glucose_context(event.data)
                extra = decode_glucose_context(event.data).measurements
                target = batch.records.get(value.sequence_number)
                if target is None or target.has_context:
                    _log.info("%s: stray context #%d", self.device_id, value.sequence_number)
                    continue
                target.measurements = apply_context(target.measurements, value) + extra
                target.frames.append(RawFrame(CONTEXT_PROTOCOL, event.data))
                target.has_context = True
                deadline = self._deadline(self.settings.response_timeout_s)
            elif event.uuid16 == RACP:
                message = parse_racp(event.data)
                if isinstance(message, RacpNumberOfRecords):
                    continue
                if (
                    isinstance(message, RacpResponse)
                    and message.request_op_code == OpCode.REPORT_STORED_RECORDS
                ):
                    return message

    def _finish(self, batch: GlucoseRecordSet, raw: list[RawFrame]) -> list[Measurement]:
        merged = dict(self._pending)
        for sequence, record in batch.records.items():
            merged.setdefault(sequence, record)
        incomplete = [s for s, r in merged.items() if not r.complete]
        if incomplete:
            raise self.make_error(
                DeviceReportedError,
                f"records {incomplete} announced a context that never came",
            )
        self._pending.clear()
        patient = sorted(
            (r for r in merged.values() if not r.control_solution),
            key=lambda r: r.sequence_number,
        )
        if not patient and self.require_new:
            raise self.make_error(
                DeviceReportedError,
                "no patient readings on the meter",
                advice_es=NO_NEW_RECORDS_ES,
            )
        measurements: list[Measurement] = []
        for record in patient:
            raw.extend(record.frames)
            measurements.extend(
                m if m.sequence is not None else replace(m, sequence=record.sequence_number)
                for m in record.measurements
                if m.kind in (MeasurementKind.GLUCOSE, MeasurementKind.HBA1C)
            )
        return measurements

    def _keep_for_resume(self, batch: GlucoseRecordSet) -> None:
        for sequence, record in batch.complete().items():
            self._pending.setdefault(sequence, record)

    async def _abort(self, link: BleLink) -> None:
        """Best effort: tell the meter to stop the running procedure."""
        racp = link.characteristic(RACP)
        if racp is None or link.client is None or not link.client.is_connected:
            return
        with contextlib.suppress(BleakError, TimeoutError, OSError):
            await link.client.write_gatt_char(racp, encode_racp(RacpRequest.abort()), response=True)

    def _racp_refused(self, exc: BleakGATTProtocolError) -> DeviceError:
        if exc.code == BleakGATTProtocolErrorCode.PROCEDURE_ALREADY_IN_PROGRESS:
            detail = "another record transfer is in progress"
        elif exc.code == BleakGATTProtocolErrorCode.CCCD_IMPROPERLY_CONFIGURED:
            detail = "indications on the RACP are not enabled"
        else:
            detail = f"ATT error 0x{int(exc.code):02X}"
        return self.make_error(DeviceReportedError, f"the meter refused the RACP request: {detail}")


def _response_name(code: int) -> str:
    try:
        return ResponseCode(code).name.lower()
    except ValueError:
        return f"reserved response code {code}"

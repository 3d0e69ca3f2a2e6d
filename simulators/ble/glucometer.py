"""A Bluetooth glucometer: Glucose Service (0x1808) with a Record Access Control Point.

Behaves like an Accu-Chek Guide or a Contour Next One: it keeps numbered records
(sequence numbers from ``first_sequence_number``) and sends them only when asked through
the RACP (0x2A52): each record as a Glucose Measurement notification (0x2A18), followed
by its Glucose Measurement Context (0x2A34) when it has one, then the RACP response
indication. Supported requests: report stored records (all, first, last, <=, >=, within
range of; sequence-number filter), report number of stored records, abort. Delete is
refused (op code not supported: records belong to the patient) and user-facing-time
filters answer "operand not supported". The RACP follows the spec's error rules: writing
without indications enabled on it is ATT error 0xFD, a second request while one runs is
0xFE, a malformed request gets its RACP response code.

Values come from :mod:`cart.protocols.ble_glucose` and :mod:`cart.protocols.ble_racp`.

Faults: ``DISCONNECT_MID_TRANSFER`` drops the link after ``disconnect_after_records``
records of a download; ``MALFORMED_VALUE`` truncates the last record of a download;
``NO_RACP_RESPONSE`` accepts RACP writes and never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Final

from bumble.att import ATT_Error, ErrorCode
from bumble.core import UUID
from bumble.device import Connection
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.link import LocalLink

from cart.errors import ProtocolError
from cart.protocols.ble_common import DateTime
from cart.protocols.ble_glucose import (
    MEALS,
    GlucoseFeature,
    GlucoseMeasurement,
    GlucoseMeasurementContext,
    encode_glucose_context,
    encode_glucose_feature,
    encode_glucose_measurement,
)
from cart.protocols.ble_racp import (
    FilterType,
    OpCode,
    Operator,
    RacpMessage,
    RacpNumberOfRecords,
    RacpRequest,
    RacpResponse,
    ResponseCode,
    encode_racp,
    parse_racp,
)
from cart.protocols.ieee11073 import sfloat
from simulators.ble._peripheral import BlePeripheral
from simulators.ble.config import BleFault, GlucometerConfig, GlucoseRecord

__all__ = ["GLUCOSE_SERVICE", "GlucometerSimulator", "StoredRecord"]

GLUCOSE_SERVICE: Final = 0x1808
GLUCOSE_MEASUREMENT: Final = 0x2A18
GLUCOSE_CONTEXT: Final = 0x2A34
GLUCOSE_FEATURE: Final = 0x2A51
RACP: Final = 0x2A52
_CAPILLARY_WHOLE_BLOOD: Final = 1
_FINGER: Final = 1
_CONTROL_SOLUTION_TYPE: Final = 10
_CONTROL_SOLUTION_LOCATION: Final = 4
_MEAL_CODES: Final = {name: code for code, name in MEALS.items()}
_MG_DL_PER_MMOL_L: Final = Decimal("18.016")


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One record as the meter stores it: its wire values, ready to notify."""

    sequence_number: int
    measurement: bytes
    context: bytes | None
    spec: GlucoseRecord


class GlucometerSimulator(BlePeripheral):
    """``async with GlucometerSimulator(link, GlucometerConfig.fast()) as meter: ...``"""

    def __init__(self, link: LocalLink, config: GlucometerConfig | None = None) -> None:
        self.config = config or GlucometerConfig()
        cfg = self.config
        super().__init__(link, cfg, service_uuids=(GLUCOSE_SERVICE,))
        self.records: list[StoredRecord] = []
        self._procedures: dict[Connection, asyncio.Task[None]] = {}
        self._connection_numbers: dict[Connection, int] = {}
        #: the latest RACP requests received (parsed), for tests; bounded for long demos
        self.requests: deque[RacpMessage] = deque(maxlen=256)
        #: sequence numbers notified, in order, across downloads
        self.sent_sequence_numbers: deque[int] = deque(maxlen=4096)
        #: the same, as a set, to tell whether the newest record was downloaded
        self._sent_recently: set[int] = set()

    # ------------------------------------------------------------------ records

    def _build_records(self) -> list[StoredRecord]:
        cfg = self.config
        now = self.clock.now()
        out = []
        for index, spec in enumerate(cfg.records):
            sequence = cfg.first_sequence_number + index
            out.append(self._record(sequence, spec, DateTime.from_datetime(now - spec.age)))
        return out

    def _record(self, sequence: int, spec: GlucoseRecord, when: DateTime) -> StoredRecord:
        exact = Decimal(repr(spec.mg_dl))
        if self.config.unit == "mol/L":
            concentration = sfloat((exact / _MG_DL_PER_MMOL_L).quantize(Decimal("0.1")).scaleb(-3))
        else:
            concentration = sfloat(exact.quantize(Decimal(1)).scaleb(-5))
        control = spec.control_solution
        measurement = encode_glucose_measurement(
            GlucoseMeasurement(
                sequence_number=sequence,
                base_time=when,
                time_offset=0,
                concentration=concentration,
                mol_per_l=self.config.unit == "mol/L",
                type=_CONTROL_SOLUTION_TYPE if control else _CAPILLARY_WHOLE_BLOOD,
                sample_location=_CONTROL_SOLUTION_LOCATION if control else _FINGER,
                sensor_status_annunciation=0,
                context_information_follows=spec.meal is not None,
            )
        )
        context = None
        if spec.meal is not None:
            context = encode_glucose_context(
                GlucoseMeasurementContext(sequence, meal=_MEAL_CODES[spec.meal])
            )
        return StoredRecord(sequence, measurement, context, spec)

    def add_record(self, spec: GlucoseRecord) -> StoredRecord:
        """The patient takes a new reading now (sequence number = last + 1)."""
        sequence = (
            self.records[-1].sequence_number + 1
            if self.records
            else self.config.first_sequence_number
        )
        record = self._record(sequence, spec, DateTime.from_datetime(self.clock.now() - spec.age))
        self.records.append(record)
        return record

    # ------------------------------------------------------------------ GATT

    def build_services(self) -> list[Service]:
        self.records = self._build_records()
        self._measurement = self.indicated(Characteristic.Properties.NOTIFY, GLUCOSE_MEASUREMENT)
        self._context = self.indicated(Characteristic.Properties.NOTIFY, GLUCOSE_CONTEXT)
        self._racp: Characteristic[bytes] = Characteristic(
            UUID.from_16_bits(RACP),
            Characteristic.Properties.WRITE | Characteristic.Properties.INDICATE,
            self.permissions(write=True),
            CharacteristicValue(write=self._on_racp_write),
        )
        self._racp.descriptors = [self.cccd(self._racp)]
        feature = (
            GlucoseFeature.LOW_BATTERY_DETECTION
            | GlucoseFeature.SENSOR_STRIP_INSERTION_ERROR_DETECTION
            | GlucoseFeature.SENSOR_RESULT_HIGH_LOW_DETECTION
            | GlucoseFeature.TIME_FAULT
        )
        return [
            Service(
                UUID.from_16_bits(GLUCOSE_SERVICE),
                [
                    self._measurement,
                    self._context,
                    self.readable(GLUCOSE_FEATURE, encode_glucose_feature(feature)),
                    self._racp,
                ],
            ),
            self.current_time_service(writable=self.config.time_writable),
            self.device_information_service("GLS-SIM"),
        ]

    def on_connected(self, connection: Connection) -> None:
        self._connection_numbers[connection] = self.connections_seen
        scripted = self.config.reading_on_connect
        newest_sent = bool(self.records) and (
            self.records[-1].sequence_number in self._sent_recently
        )
        first = self.config.reading_on_first_connect and self.connections_seen == 1
        if scripted is not None and (newest_sent or not self.records or first):
            self.add_record(replace(scripted, age=timedelta(0)))

    def on_disconnected(self, connection: Connection) -> None:
        self._connection_numbers.pop(connection, None)
        task = self._procedures.pop(connection, None)
        if task is not None:
            task.cancel()

    def _fault(self, connection: Connection) -> BleFault:
        number = self._connection_numbers.get(connection, self.connections_seen)
        return self.config.fault if self.config.fault_applies(number) else BleFault.NONE

    def _racp_indications_enabled(self, connection: Connection) -> bool:
        assert self.device is not None
        cccd = self.device.gatt_server.subscribers.get(connection, {}).get(self._racp.handle)
        return cccd is not None and len(cccd) == 2 and bool(cccd[0] & 0x02)

    def _on_racp_write(self, connection: Connection, value: bytes) -> None:
        if not self._racp_indications_enabled(connection):
            raise ATT_Error(ErrorCode.CCCD_IMPROPERLY_CONFIGURED)
        running = self._procedures.get(connection)
        busy = running is not None and not running.done()
        if not busy and _reserved_operator(value):
            # GLS 1.0.1 / GLP 1.0.1: an operator the server does not know (a value reserved
            # for future use) is "Operator Not Supported" (0x04); "Invalid Operator" (0x03)
            # is a known operator that does not fit the op code (e.g. null for report)
            self._respond(connection, RacpResponse(value[0], ResponseCode.OPERATOR_NOT_SUPPORTED))
            return
        try:
            message = parse_racp(value)
        except ProtocolError as exc:
            if busy:
                raise ATT_Error(ErrorCode.PROCEDURE_ALREADY_IN_PROGRESS) from exc
            code = getattr(exc, "response_code", ResponseCode.INVALID_OPERAND)
            op_code = getattr(exc, "request_op_code", value[0] if value else 0)
            self._respond(connection, RacpResponse(op_code, code))
            return
        self.requests.append(message)
        if not isinstance(message, RacpRequest):  # a response written by the client
            self._respond(connection, RacpResponse(value[0], ResponseCode.OP_CODE_NOT_SUPPORTED))
            return
        if message.op_code == OpCode.ABORT_OPERATION:
            if running is not None:
                running.cancel()
            self._respond(connection, RacpResponse(OpCode.ABORT_OPERATION, ResponseCode.SUCCESS))
            return
        if busy:
            raise ATT_Error(ErrorCode.PROCEDURE_ALREADY_IN_PROGRESS)
        if self._fault(connection) is BleFault.NO_RACP_RESPONSE:
            return  # accepted, and never answered
        self._procedures[connection] = self.spawn(
            self._procedure(connection, message), connection=connection
        )

    def _respond(self, connection: Connection, message: RacpMessage) -> None:
        self.spawn(self._indicate_racp(connection, message), connection=connection)

    async def _indicate_racp(self, connection: Connection, message: RacpMessage) -> None:
        await self.indicate(connection, self._racp, encode_racp(message))

    # ------------------------------------------------------------------ procedures

    def select(self, request: RacpRequest) -> list[StoredRecord] | ResponseCode:
        """The records a request covers, or the response code that refuses it."""
        records = self.records
        operator = request.operator
        if operator == Operator.ALL_RECORDS:
            return list(records)
        if operator == Operator.FIRST_RECORD:
            return records[:1]
        if operator == Operator.LAST_RECORD:
            return records[-1:]
        if request.filter_type != FilterType.SEQUENCE_NUMBER:
            return ResponseCode.OPERAND_NOT_SUPPORTED
        low, high = request.minimum, request.maximum
        return [
            r
            for r in records
            if (not isinstance(low, int) or r.sequence_number >= low)
            and (not isinstance(high, int) or r.sequence_number <= high)
        ]

    async def _procedure(self, connection: Connection, request: RacpRequest) -> None:
        try:
            if request.op_code == OpCode.DELETE_STORED_RECORDS:
                await self._indicate_racp_final(
                    connection, RacpResponse(request.op_code, ResponseCode.OP_CODE_NOT_SUPPORTED)
                )
                return
            selected = self.select(request)
            if isinstance(selected, ResponseCode):
                await self._indicate_racp_final(connection, RacpResponse(request.op_code, selected))
                return
            if request.op_code == OpCode.REPORT_NUMBER_OF_STORED_RECORDS:
                await self._indicate_racp_final(connection, RacpNumberOfRecords(len(selected)))
                return
            if not selected:
                await self._indicate_racp_final(
                    connection, RacpResponse(request.op_code, ResponseCode.NO_RECORDS_FOUND)
                )
                return
            await self._send_records(connection, selected)
            await self._indicate_racp_final(
                connection, RacpResponse(request.op_code, ResponseCode.SUCCESS)
            )
        finally:
            self._finish(connection)

    async def _indicate_racp_final(self, connection: Connection, message: RacpMessage) -> None:
        """The response that ends a procedure: the procedure is over before it leaves.

        A client may write its next request the moment the response indication arrives,
        before this task has resumed; answering that with "procedure already in
        progress" (0xFE) would be wrong, since from the client's side nothing is running.
        """
        self._finish(connection)
        await self.indicate(connection, self._racp, encode_racp(message))

    def _finish(self, connection: Connection) -> None:
        with contextlib.suppress(KeyError):
            if self._procedures[connection] is asyncio.current_task():
                del self._procedures[connection]

    async def _send_records(self, connection: Connection, records: list[StoredRecord]) -> None:
        fault = self._fault(connection)
        for index, record in enumerate(records):
            if (
                fault is BleFault.DISCONNECT_MID_TRANSFER
                and index >= self.config.disconnect_after_records
            ):
                await self.disconnect(connection)
                await asyncio.Event().wait()  # cancelled by the disconnection
            measurement = record.measurement
            if fault is BleFault.MALFORMED_VALUE and index == len(records) - 1:
                measurement = measurement[: len(measurement) - 4]
            await self.notify(connection, self._measurement, measurement)
            if record.context is not None:
                await self.notify(connection, self._context, record.context)
            self.sent_sequence_numbers.append(record.sequence_number)
            self._sent_recently.add(record.sequence_number)
            await asyncio.sleep(self.config.record_interval_s)


_REQUEST_OP_CODES: Final = frozenset(
    {
        OpCode.REPORT_STORED_RECORDS,
        OpCode.DELETE_STORED_RECORDS,
        OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
    }
)
_KNOWN_OPERATORS: Final = frozenset(int(o) for o in Operator)


def _reserved_operator(value: bytes) -> bool:
    """A record request whose operator byte is a value the spec reserves (7-255)."""
    return len(value) >= 2 and value[0] in _REQUEST_OP_CODES and value[1] not in _KNOWN_OPERATORS

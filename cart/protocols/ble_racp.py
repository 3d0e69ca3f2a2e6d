"""Record Access Control Point (0x2A52): stored-record requests and their responses.

A glucometer (and other record-keeping health devices) keeps numbered records; the
client writes a request to the RACP and the server answers with an indication on the
same characteristic. One decoder reads both directions: op codes 1-4 are requests
(client -> server), 5 and 6 are responses (server -> client).

Wire layout: ``op code (uint8) | operator (uint8) | operand (0..n bytes)``::

    op code   1 report stored records     2 delete stored records    3 abort operation
              4 report number of stored records
              5 number of stored records response    6 response code
    operator  0 null   1 all records   2 less than or equal to   3 greater than or equal to
              4 within range of (inclusive)   5 first record   6 last record
    operand   operators 2-4: filter type (1 sequence number: uint16; 2 user facing time:
              Date Time, 7 bytes) then one value (2, 3) or minimum and maximum (4)
              op code 5: number of records uint16
              op code 6: request op code uint8, response code uint8
    response  1 success   2 op code not supported   3 invalid operator
    codes     4 operator not supported   5 invalid operand   6 no records found
              7 abort unsuccessful   8 procedure not completed   9 operand not supported

Examples: ``0101`` report all; ``0103010500`` records with sequence number >= 5;
``0104010a001400`` 10..20; ``0106`` last; ``0401`` count all; ``0300`` abort;
``05000a00`` 10 records; ``06000101`` report stored records: success.

Requests that break the rules raise errors carrying the response code a server answers
with (``response_code`` attribute): :class:`RacpOpCodeNotSupported` (2),
:class:`RacpInvalidOperator` (3), :class:`RacpInvalidOperand` (5),
:class:`RacpIncompleteOperand` (5), :class:`RacpOperandNotSupported` (9); all are
ProtocolError subclasses. A response code the spec reserves decodes with name
``"reserved"`` (the request still failed); a count of the wrong width is a FrameError.

Sources: Bluetooth SIG GATT Specification Supplement (record_access_control_point);
Glucose Service 1.0.1 section 3.4 (RACP procedures, filter types); oesmith/gatt-xml;
Nordic Semiconductor Android-BLE-Common-Library ``RecordAccessControlPointData.java``
and ``RecordAccessControlPointDataCallbackTest.java`` (vectors in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Final

from cart.errors import FrameError, IncompleteFrame, UnsupportedMessage
from cart.protocols.base import Decoded, PayloadKind, ProtocolSpec
from cart.protocols.ble_common import DateTime, Reader, check_uint

__all__ = [
    "PROTOCOLS",
    "DateTime",
    "FilterType",
    "OpCode",
    "Operand",
    "Operator",
    "RacpIncompleteOperand",
    "RacpInvalidOperand",
    "RacpInvalidOperator",
    "RacpMessage",
    "RacpNumberOfRecords",
    "RacpOpCodeNotSupported",
    "RacpOperandNotSupported",
    "RacpRequest",
    "RacpResponse",
    "ResponseCode",
    "decode_racp",
    "encode_racp",
    "encode_racp_request",
    "parse_racp",
    "racp_record",
]

RACP_ID: Final = "ble.racp"


class OpCode(IntEnum):
    REPORT_STORED_RECORDS = 1
    DELETE_STORED_RECORDS = 2
    ABORT_OPERATION = 3
    REPORT_NUMBER_OF_STORED_RECORDS = 4
    NUMBER_OF_STORED_RECORDS_RESPONSE = 5
    RESPONSE_CODE = 6


class Operator(IntEnum):
    NULL = 0
    ALL_RECORDS = 1
    LESS_THAN_OR_EQUAL_TO = 2
    GREATER_THAN_OR_EQUAL_TO = 3
    WITHIN_RANGE_OF = 4
    FIRST_RECORD = 5
    LAST_RECORD = 6


class FilterType(IntEnum):
    SEQUENCE_NUMBER = 1
    USER_FACING_TIME = 2


class ResponseCode(IntEnum):
    SUCCESS = 1
    OP_CODE_NOT_SUPPORTED = 2
    INVALID_OPERATOR = 3
    OPERATOR_NOT_SUPPORTED = 4
    INVALID_OPERAND = 5
    NO_RECORDS_FOUND = 6
    ABORT_UNSUCCESSFUL = 7
    PROCEDURE_NOT_COMPLETED = 8
    OPERAND_NOT_SUPPORTED = 9


_REQUEST_OP_CODES: Final = frozenset(
    {
        OpCode.REPORT_STORED_RECORDS,
        OpCode.DELETE_STORED_RECORDS,
        OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
    }
)
_OP_CODES: Final = frozenset(int(code) for code in OpCode)
_FILTER_TYPES: Final = frozenset(int(code) for code in FilterType)
_NO_OPERAND: Final = frozenset({Operator.ALL_RECORDS, Operator.FIRST_RECORD, Operator.LAST_RECORD})
_FILTERED: Final = frozenset(
    {Operator.LESS_THAN_OR_EQUAL_TO, Operator.GREATER_THAN_OR_EQUAL_TO, Operator.WITHIN_RANGE_OF}
)


# --------------------------------------------------------------------------- errors


class _RacpRequestError:
    """Mixin: the RACP response code a server sends back for this malformed request."""

    response_code: ClassVar[ResponseCode]
    request_op_code: int


class RacpOpCodeNotSupported(UnsupportedMessage, _RacpRequestError):
    """Reserved op code (response code 2, op code not supported)."""

    response_code = ResponseCode.OP_CODE_NOT_SUPPORTED


class RacpInvalidOperator(FrameError, _RacpRequestError):
    """Operator not valid for the op code (response code 3, invalid operator)."""

    response_code = ResponseCode.INVALID_OPERATOR


class RacpInvalidOperand(FrameError, _RacpRequestError):
    """Operand where none belongs, trailing bytes, minimum > maximum (response code 5)."""

    response_code = ResponseCode.INVALID_OPERAND


class RacpIncompleteOperand(IncompleteFrame, _RacpRequestError):
    """The request ends inside its operand (response code 5, invalid operand)."""

    response_code = ResponseCode.INVALID_OPERAND


class RacpOperandNotSupported(UnsupportedMessage, _RacpRequestError):
    """Reserved filter type (response code 9, operand not supported)."""

    response_code = ResponseCode.OPERAND_NOT_SUPPORTED


_RequestError = (
    RacpOpCodeNotSupported
    | RacpInvalidOperator
    | RacpInvalidOperand
    | RacpIncompleteOperand
    | RacpOperandNotSupported
)


def _fail(cls: type[_RequestError], message: str, payload: bytes, op_code: int) -> _RequestError:
    error = cls(message, protocol=RACP_ID, raw=payload)
    error.request_op_code = op_code
    return error


# --------------------------------------------------------------------------- messages

Operand = int | DateTime


@dataclass(frozen=True, slots=True)
class RacpRequest:
    """A request (op codes 1-4) as a client writes it.

    ``operand`` holds the filter values: one for operators 2 (the maximum) and 3 (the
    minimum), two (minimum, maximum) for operator 4, none otherwise. Values are sequence
    numbers (``filter_type=1``) or :class:`DateTime` user facing times (``filter_type=2``).
    """

    op_code: int
    operator: int = Operator.NULL
    filter_type: int | None = None
    operand: tuple[Operand, ...] = ()

    @property
    def minimum(self) -> Operand | None:
        if self.operator == Operator.GREATER_THAN_OR_EQUAL_TO:
            return self.operand[0]
        if self.operator == Operator.WITHIN_RANGE_OF:
            return self.operand[0]
        return None

    @property
    def maximum(self) -> Operand | None:
        if self.operator == Operator.LESS_THAN_OR_EQUAL_TO:
            return self.operand[0]
        if self.operator == Operator.WITHIN_RANGE_OF:
            return self.operand[1]
        return None

    # Convenience constructors for the common requests.
    @classmethod
    def report_all(cls) -> RacpRequest:
        return cls(OpCode.REPORT_STORED_RECORDS, Operator.ALL_RECORDS)

    @classmethod
    def report_first(cls) -> RacpRequest:
        return cls(OpCode.REPORT_STORED_RECORDS, Operator.FIRST_RECORD)

    @classmethod
    def report_last(cls) -> RacpRequest:
        return cls(OpCode.REPORT_STORED_RECORDS, Operator.LAST_RECORD)

    @classmethod
    def report_from(cls, sequence_number: int) -> RacpRequest:
        """Records with sequence number >= ``sequence_number`` (new records only)."""
        return cls(
            OpCode.REPORT_STORED_RECORDS,
            Operator.GREATER_THAN_OR_EQUAL_TO,
            FilterType.SEQUENCE_NUMBER,
            (sequence_number,),
        )

    @classmethod
    def report_range(cls, minimum: int, maximum: int) -> RacpRequest:
        return cls(
            OpCode.REPORT_STORED_RECORDS,
            Operator.WITHIN_RANGE_OF,
            FilterType.SEQUENCE_NUMBER,
            (minimum, maximum),
        )

    @classmethod
    def count_all(cls) -> RacpRequest:
        return cls(OpCode.REPORT_NUMBER_OF_STORED_RECORDS, Operator.ALL_RECORDS)

    @classmethod
    def count_from(cls, sequence_number: int) -> RacpRequest:
        return cls(
            OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
            Operator.GREATER_THAN_OR_EQUAL_TO,
            FilterType.SEQUENCE_NUMBER,
            (sequence_number,),
        )

    @classmethod
    def abort(cls) -> RacpRequest:
        return cls(OpCode.ABORT_OPERATION, Operator.NULL)


@dataclass(frozen=True, slots=True)
class RacpNumberOfRecords:
    """Op code 5 (server -> client): the answer to "report number of stored records"."""

    number_of_records: int


@dataclass(frozen=True, slots=True)
class RacpResponse:
    """Op code 6 (server -> client): how the request ``request_op_code`` ended."""

    request_op_code: int
    response_code: int

    @property
    def success(self) -> bool:
        return self.response_code == ResponseCode.SUCCESS


RacpMessage = RacpRequest | RacpNumberOfRecords | RacpResponse


# --------------------------------------------------------------------------- parsing


def _operand_value(reader: Reader, filter_type: int, payload: bytes, op_code: int) -> Operand:
    try:
        if filter_type == FilterType.SEQUENCE_NUMBER:
            return reader.u16("sequence number operand")
        return reader.date_time("user facing time operand")
    except IncompleteFrame as exc:
        raise _fail(RacpIncompleteOperand, exc.message, payload, op_code) from None
    except FrameError as exc:
        raise _fail(RacpInvalidOperand, exc.message, payload, op_code) from None


def _parse_request(reader: Reader, payload: bytes, op_code: int, operator: int) -> RacpRequest:
    if op_code == OpCode.ABORT_OPERATION:
        if operator != Operator.NULL:
            raise _fail(
                RacpInvalidOperator,
                f"abort needs the null operator, got {operator}",
                payload,
                op_code,
            )
        if len(payload) > 2:
            raise _fail(RacpInvalidOperand, "abort takes no operand", payload, op_code)
        return RacpRequest(op_code, operator)
    if operator in _NO_OPERAND:
        if len(payload) > 2:
            raise _fail(
                RacpInvalidOperand,
                f"operator {Operator(operator).name.lower()} takes no operand, "
                f"got {len(payload) - 2} byte(s)",
                payload,
                op_code,
            )
        return RacpRequest(op_code, operator)
    if operator not in _FILTERED:
        raise _fail(
            RacpInvalidOperator,
            f"operator {operator} is not valid for op code {op_code}",
            payload,
            op_code,
        )
    if len(payload) < 3:
        raise _fail(RacpIncompleteOperand, "the operand has no filter type", payload, op_code)
    filter_type = reader.u8("Filter Type")
    if filter_type not in _FILTER_TYPES:
        raise _fail(
            RacpOperandNotSupported, f"filter type {filter_type} is reserved", payload, op_code
        )
    count = 2 if operator == Operator.WITHIN_RANGE_OF else 1
    values = tuple(_operand_value(reader, filter_type, payload, op_code) for _ in range(count))
    if reader.pos != len(payload):
        raise _fail(
            RacpInvalidOperand,
            f"{len(payload) - reader.pos} byte(s) after the operand",
            payload,
            op_code,
        )
    if count == 2 and _sort_key(values[0]) > _sort_key(values[1]):
        raise _fail(RacpInvalidOperand, "range minimum is above its maximum", payload, op_code)
    return RacpRequest(op_code, operator, filter_type, values)


def _sort_key(value: Operand) -> tuple[int, ...]:
    if isinstance(value, DateTime):
        return (
            value.year,
            value.month,
            value.day,
            value.hours,
            value.minutes,
            value.seconds,
        )
    return (value,)


def parse_racp(payload: bytes) -> RacpMessage:
    """Either direction: RacpRequest (op codes 1-4), RacpNumberOfRecords (5), RacpResponse (6)."""
    reader = Reader(payload, RACP_ID)
    op_code = reader.u8("Op Code")
    if op_code not in _OP_CODES:
        raise _fail(RacpOpCodeNotSupported, f"op code {op_code} is reserved", payload, op_code)
    if len(payload) < 2:
        raise _fail(RacpIncompleteOperand, "the value ends before its operator", payload, op_code)
    operator = reader.u8("Operator")
    if op_code in _REQUEST_OP_CODES or op_code == OpCode.ABORT_OPERATION:
        return _parse_request(reader, payload, op_code, operator)
    if operator != Operator.NULL:
        raise reader.error(f"a response (op code {op_code}) has the null operator, got {operator}")
    if op_code == OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE:
        count = reader.u16("Number of Records")
        reader.end()
        return RacpNumberOfRecords(count)
    request_op_code = reader.u8("Request Op Code")
    response_code = reader.u8("Response Code Value")
    reader.end()
    return RacpResponse(request_op_code, response_code)


# --------------------------------------------------------------------------- encoding


def _encode_operand(filter_type: int, value: Operand) -> bytes:
    if filter_type == FilterType.SEQUENCE_NUMBER:
        if not isinstance(value, int):
            raise TypeError("a sequence number filter takes int operands")
        return check_uint("sequence number", value, 16).to_bytes(2, "little")
    if filter_type == FilterType.USER_FACING_TIME:
        if not isinstance(value, DateTime):
            raise TypeError("a user facing time filter takes DateTime operands")
        return value.to_bytes()
    raise ValueError(f"filter type {filter_type} is reserved")


def encode_racp(message: RacpMessage) -> bytes:
    """Bytes of a request (what a client writes) or response (what a server indicates).

    Only valid messages encode (ValueError/TypeError otherwise), so what this returns
    always decodes back to an equal message."""
    if isinstance(message, RacpNumberOfRecords):
        count = check_uint("number_of_records", message.number_of_records, 16)
        return bytes((OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, Operator.NULL)) + count.to_bytes(
            2, "little"
        )
    if isinstance(message, RacpResponse):
        return bytes(
            (
                OpCode.RESPONSE_CODE,
                Operator.NULL,
                check_uint("request_op_code", message.request_op_code, 8),
                check_uint("response_code", message.response_code, 8),
            )
        )
    op_code, operator = message.op_code, message.operator
    if op_code == OpCode.ABORT_OPERATION:
        if operator != Operator.NULL or message.filter_type is not None or message.operand:
            raise ValueError("abort is op code 3 with the null operator and no operand")
        return bytes((op_code, operator))
    if op_code not in _REQUEST_OP_CODES:
        raise ValueError(f"op code {op_code} is not a request")
    if operator in _NO_OPERAND:
        if message.filter_type is not None or message.operand:
            raise ValueError(f"operator {operator} takes no operand")
        return bytes((op_code, operator))
    if operator not in _FILTERED:
        raise ValueError(f"operator {operator} is not valid for op code {op_code}")
    if message.filter_type is None:
        raise ValueError(f"operator {operator} needs a filter type")
    expected = 2 if operator == Operator.WITHIN_RANGE_OF else 1
    if len(message.operand) != expected:
        raise ValueError(f"operator {operator} takes {expected} operand value(s)")
    if expected == 2 and _sort_key(message.operand[0]) > _sort_key(message.operand[1]):
        raise ValueError("range minimum is above its maximum")
    body = b"".join(_encode_operand(message.filter_type, v) for v in message.operand)
    return bytes((op_code, operator, message.filter_type)) + body


def encode_racp_request(
    op_code: int,
    operator: int = Operator.NULL,
    *,
    filter_type: int | None = None,
    operand: tuple[Operand, ...] = (),
) -> bytes:
    """Keyword form of ``encode_racp(RacpRequest(...))``."""
    return encode_racp(RacpRequest(op_code, operator, filter_type, operand))


# --------------------------------------------------------------------------- decode


def _name(enum: type[IntEnum], code: int | None) -> str | None:
    if code is None:
        return None
    try:
        return enum(code).name.lower()
    except ValueError:
        return "reserved"


def _operand_json(value: Operand | None) -> Any:
    return value.to_json() if isinstance(value, DateTime) else value


def racp_record(message: RacpMessage) -> dict[str, Any]:
    """The JSON record of a parsed message (the ``record`` of :func:`decode_racp`)."""
    if isinstance(message, RacpRequest):
        return {
            "direction": "request",
            "op_code": int(message.op_code),
            "op_code_name": _name(OpCode, message.op_code),
            "operator": int(message.operator),
            "operator_name": _name(Operator, message.operator),
            "filter_type": message.filter_type,
            "filter_type_name": _name(FilterType, message.filter_type),
            "minimum": _operand_json(message.minimum),
            "maximum": _operand_json(message.maximum),
        }
    record: dict[str, Any] = {"direction": "response", "operator": 0, "operator_name": "null"}
    if isinstance(message, RacpNumberOfRecords):
        record.update(
            op_code=int(OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE),
            op_code_name="number_of_stored_records_response",
            number_of_records=message.number_of_records,
        )
    else:
        record.update(
            op_code=int(OpCode.RESPONSE_CODE),
            op_code_name="response_code",
            request_op_code=message.request_op_code,
            request_op_code_name=_name(OpCode, message.request_op_code),
            response_code=message.response_code,
            response_code_name=_name(ResponseCode, message.response_code),
            success=message.success,
        )
    return record


def decode_racp(payload: bytes) -> Decoded:
    """``ble.racp``: a request or a response; no measurements."""
    return Decoded(RACP_ID, racp_record(parse_racp(payload)), raw=payload)


PROTOCOLS: Final = (
    ProtocolSpec(
        RACP_ID,
        "Record Access Control Point (requests and responses)",
        PayloadKind.HEX,
        decode_racp,
        uuid=0x2A52,
        examples=(
            bytes.fromhex("0101"),  # report all stored records
            bytes.fromhex("0103010500"),  # report records with sequence number >= 5
            bytes.fromhex("0401"),  # report number of all stored records
            bytes.fromhex("0300"),  # abort
            bytes.fromhex("05000201"),  # 258 records (Nordic onNumberOfRecordsReceived_uint16)
            bytes.fromhex("06000101"),  # success (Nordic onRecordAccessOperationCompleted)
            bytes.fromhex("06000106"),  # no records found
        ),
    ),
)

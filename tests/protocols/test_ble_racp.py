"""Record Access Control Point (0x2A52): every op code, operator, filter and response code."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart.errors import FrameError, IncompleteFrame, UnsupportedMessage
from cart.protocols.ble_racp import (
    PROTOCOLS,
    DateTime,
    FilterType,
    OpCode,
    Operator,
    RacpIncompleteOperand,
    RacpInvalidOperand,
    RacpInvalidOperator,
    RacpMessage,
    RacpNumberOfRecords,
    RacpOpCodeNotSupported,
    RacpOperandNotSupported,
    RacpRequest,
    RacpResponse,
    ResponseCode,
    decode_racp,
    encode_racp,
    encode_racp_request,
    parse_racp,
)
from tests.protocols import checks

T1 = DateTime(2024, 10, 27, 8, 0, 0)
T2 = DateTime(2024, 10, 27, 20, 30, 15)
T1_HEX = "e8070a1b080000"
T2_HEX = "e8070a1b141e0f"


def request(
    op_code: int,
    operator: int,
    filter_type: int | None = None,
    minimum: Any = None,
    maximum: Any = None,
) -> dict[str, Any]:
    names = {None: None, 1: "sequence_number", 2: "user_facing_time"}
    return {
        "direction": "request",
        "op_code": op_code,
        "op_code_name": OpCode(op_code).name.lower(),
        "operator": operator,
        "operator_name": Operator(operator).name.lower(),
        "filter_type": filter_type,
        "filter_type_name": names[filter_type],
        "minimum": minimum,
        "maximum": maximum,
    }


REQUESTS = [
    # (hex, message, record); bytes derived from spec (GSS record_access_control_point,
    # GLS 1.0.1 §3.4) and matching Nordic Android-BLE-Common-Library
    # RecordAccessControlPointData.java builders where one exists (named per case)
    ("0101", RacpRequest.report_all(), request(1, 1)),  # reportAllStoredRecords
    ("0105", RacpRequest.report_first(), request(1, 5)),  # reportFirstStoredRecord
    ("0106", RacpRequest.report_last(), request(1, 6)),  # reportLastStoredRecord
    (
        "0102010a00",  # reportStoredRecordsLessThenOrEqualTo(10)
        RacpRequest(1, 2, 1, (10,)),
        request(1, 2, 1, maximum=10),
    ),
    (
        "0103010500",  # reportStoredRecordsGreaterThenOrEqualTo(5); protocols-ble.md §1.3
        RacpRequest.report_from(5),
        request(1, 3, 1, minimum=5),
    ),
    (
        "0104010a001400",  # reportStoredRecordsFromRange(10, 20); protocols-ble.md §1.3
        RacpRequest.report_range(10, 20),
        request(1, 4, 1, minimum=10, maximum=20),
    ),
    (
        "010302" + T1_HEX,  # user facing time filter (GLS filter type 0x02, Date Time)
        RacpRequest(1, 3, 2, (T1,)),
        request(1, 3, 2, minimum=T1.to_json()),
    ),
    (
        "010402" + T1_HEX + T2_HEX,
        RacpRequest(1, 4, 2, (T1, T2)),
        request(1, 4, 2, minimum=T1.to_json(), maximum=T2.to_json()),
    ),
    ("0201", RacpRequest(2, 1), request(2, 1)),  # deleteAllStoredRecords
    ("0205", RacpRequest(2, 5), request(2, 5)),  # deleteFirstStoredRecord
    ("0206", RacpRequest(2, 6), request(2, 6)),  # deleteLastStoredRecord
    ("0202010300", RacpRequest(2, 2, 1, (3,)), request(2, 2, 1, maximum=3)),
    ("0300", RacpRequest.abort(), request(3, 0)),  # abortOperation
    ("0401", RacpRequest.count_all(), request(4, 1)),  # reportNumberOfAllStoredRecords
    ("0403010500", RacpRequest.count_from(5), request(4, 3, 1, minimum=5)),
    ("0404010100ffff", RacpRequest(4, 4, 1, (1, 0xFFFF)), request(4, 4, 1, 1, 0xFFFF)),
    ("0405", RacpRequest(4, 5), request(4, 5)),
    ("0406", RacpRequest(4, 6), request(4, 6)),
]


@pytest.mark.parametrize(("hex_", "message", "record"), REQUESTS)
def test_requests(hex_: str, message: RacpRequest, record: dict[str, Any]) -> None:
    payload = bytes.fromhex(hex_)
    assert encode_racp(message) == payload
    assert parse_racp(payload) == message
    decoded = decode_racp(payload)
    assert decoded.protocol == "ble.racp"
    assert decoded.record == record
    assert decoded.measurements == ()


def test_keyword_encoder() -> None:
    assert encode_racp_request(
        OpCode.REPORT_STORED_RECORDS,
        Operator.GREATER_THAN_OR_EQUAL_TO,
        filter_type=FilterType.SEQUENCE_NUMBER,
        operand=(5,),
    ) == bytes.fromhex("0103010500")
    assert encode_racp_request(3) == bytes.fromhex("0300")


def response(request_op_code: int, code: int, name: str, request_name: str) -> dict[str, Any]:
    return {
        "direction": "response",
        "operator": 0,
        "operator_name": "null",
        "op_code": 6,
        "op_code_name": "response_code",
        "request_op_code": request_op_code,
        "request_op_code_name": request_name,
        "response_code": code,
        "response_code_name": name,
        "success": code == 1,
    }


RESPONSES = [
    # Nordic Android-BLE-Common-Library RecordAccessControlPointDataCallbackTest
    ([6, 0, 1, 1], "success", "report_stored_records"),  # onRecordAccessOperationCompleted
    ([6, 0, 12, 2], "op_code_not_supported", "reserved"),  # _opCodeNotSupported
    ([6, 0, 1, 3], "invalid_operator", "report_stored_records"),  # _invalidOperator
    ([6, 0, 2, 4], "operator_not_supported", "delete_stored_records"),  # _operatorNotSupported
    ([6, 0, 1, 5], "invalid_operand", "report_stored_records"),  # _invalidOperand
    ([6, 0, 1, 6], "no_records_found", "report_stored_records"),  # ...WithNoRecords
    ([6, 0, 3, 7], "abort_unsuccessful", "abort_operation"),  # _abortUnsuccessful
    ([6, 0, 2, 8], "procedure_not_completed", "delete_stored_records"),  # _procedureNot..
    ([6, 0, 2, 9], "operand_not_supported", "delete_stored_records"),  # _operandNotSupported
    ([6, 0, 1, 10], "reserved", "report_stored_records"),  # _unknownErrorCode
]


@pytest.mark.parametrize(("payload", "name", "request_name"), RESPONSES)
def test_response_codes(payload: list[int], name: str, request_name: str) -> None:
    decoded = decode_racp(bytes(payload))
    assert decoded.record == response(payload[2], payload[3], name, request_name)
    message = parse_racp(bytes(payload))
    assert message == RacpResponse(payload[2], payload[3])
    assert encode_racp(message) == bytes(payload)


def test_every_response_code_has_a_name() -> None:
    for code in ResponseCode:
        record = decode_racp(encode_racp(RacpResponse(OpCode.REPORT_STORED_RECORDS, code))).record
        assert record["response_code_name"] == code.name.lower()


def test_number_of_records() -> None:
    # Nordic RecordAccessControlPointDataCallbackTest.onNumberOfRecordsReceived_uint16:
    # {5, 0, 2, 1} = 258 records
    decoded = decode_racp(bytes([5, 0, 2, 1]))
    assert decoded.record == {
        "direction": "response",
        "operator": 0,
        "operator_name": "null",
        "op_code": 5,
        "op_code_name": "number_of_stored_records_response",
        "number_of_records": 258,
    }
    assert encode_racp(RacpNumberOfRecords(258)) == bytes([5, 0, 2, 1])


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        # Nordic's callback also accepts a uint8 ({5, 0, 1}) or uint32 ({5, 0, 4, 3, 2, 1})
        # count; the spec field is uint16, so those are length errors here.
        ([5, 0, 1], IncompleteFrame),
        ([5, 0, 4, 3, 2, 1], FrameError),
        ([5, 0, 3, 2, 1], FrameError),  # Nordic onNumberOfRecordsReceived_unsupportedLength
        ([6, 1, 1], FrameError),  # Nordic onInvalidDataReceived_invalidOperator
        ([6, 0, 1], IncompleteFrame),
        ([6, 0, 1, 1, 0], FrameError),
        ([5, 0], IncompleteFrame),
        ([], IncompleteFrame),
    ],
)
def test_malformed_responses(payload: list[int], error: type[Exception]) -> None:
    checks.assert_raises_exactly(decode_racp, bytes(payload), error)


def test_nordic_invalid_indications_are_valid_requests() -> None:
    # Nordic's RecordAccessControlPointDataCallbackTest parses server indications only, so
    # {1, 1} (_tooShort) and {1, 3, 1, 2, 0} (_wrongOpCode) are invalid *responses* there;
    # this decoder reads both directions and they are well-formed requests.
    assert parse_racp(bytes([1, 1])) == RacpRequest.report_all()
    assert parse_racp(bytes([1, 3, 1, 2, 0])) == RacpRequest.report_from(2)


@pytest.mark.parametrize(
    ("hex_", "error", "response_code", "base"),
    [
        ("0001", RacpOpCodeNotSupported, 2, UnsupportedMessage),
        ("0701", RacpOpCodeNotSupported, 2, UnsupportedMessage),
        ("ff", RacpOpCodeNotSupported, 2, UnsupportedMessage),
        ("0100", RacpInvalidOperator, 3, FrameError),  # report needs an operator
        ("0107", RacpInvalidOperator, 3, FrameError),  # operator 7 is reserved
        ("04ff", RacpInvalidOperator, 3, FrameError),
        ("0301", RacpInvalidOperator, 3, FrameError),  # abort takes the null operator
        ("030000", RacpInvalidOperand, 5, FrameError),
        ("010100", RacpInvalidOperand, 5, FrameError),  # all records takes no operand
        ("010301050000", RacpInvalidOperand, 5, FrameError),  # a byte after the operand
        ("01040114000a00", RacpInvalidOperand, 5, FrameError),  # minimum above maximum
        ("010302e8070d1b080000", RacpInvalidOperand, 5, FrameError),  # month 13
        ("01", RacpIncompleteOperand, 5, IncompleteFrame),
        ("0103", RacpIncompleteOperand, 5, IncompleteFrame),  # no filter type
        ("01030105", RacpIncompleteOperand, 5, IncompleteFrame),
        ("0104010a00", RacpIncompleteOperand, 5, IncompleteFrame),  # range needs two values
        ("010302e8070a", RacpIncompleteOperand, 5, IncompleteFrame),
        ("0103030500", RacpOperandNotSupported, 9, UnsupportedMessage),  # filter type 3
        ("0103000500", RacpOperandNotSupported, 9, UnsupportedMessage),  # filter type 0
    ],
)
def test_malformed_requests_carry_the_response_code(
    hex_: str, error: type[Exception], response_code: int, base: type[Exception]
) -> None:
    payload = bytes.fromhex(hex_)
    with pytest.raises(error) as info:
        decode_racp(payload)
    exc = info.value
    assert isinstance(exc, base)
    assert exc.response_code == response_code  # type: ignore[attr-defined]
    assert exc.request_op_code == payload[0]  # type: ignore[attr-defined]
    # what a server would indicate back
    reply = encode_racp(RacpResponse(payload[0], response_code))
    assert decode_racp(reply).record["success"] is False


def test_empty_value_is_incomplete() -> None:
    with pytest.raises(IncompleteFrame):
        decode_racp(b"")


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (RacpRequest(1, 0), ValueError),
        (RacpRequest(1, 3), ValueError),  # no filter type
        (RacpRequest(1, 3, 1, (1, 2)), ValueError),
        (RacpRequest(1, 4, 1, (20, 10)), ValueError),
        (RacpRequest(1, 1, 1, (1,)), ValueError),
        (RacpRequest(1, 3, 1, (T1,)), TypeError),
        (RacpRequest(1, 3, 2, (5,)), TypeError),
        (RacpRequest(1, 3, 3, (5,)), ValueError),
        (RacpRequest(1, 3, 1, (70000,)), ValueError),
        (RacpRequest(3, 1), ValueError),
        (RacpRequest(5, 0), ValueError),
        (RacpRequest(9, 1), ValueError),
        (RacpNumberOfRecords(70000), ValueError),
        (RacpResponse(1, 256), ValueError),
    ],
)
def test_encoder_refuses_invalid_messages(message: RacpMessage, error: type[Exception]) -> None:
    with pytest.raises(error):
        encode_racp(message)


# --------------------------------------------------------------------------- properties


@st.composite
def date_times(draw: st.DrawFn) -> DateTime:
    when = draw(st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31)))
    return DateTime.from_datetime(when)


def _key(value: int | DateTime) -> tuple[int, ...]:
    if isinstance(value, DateTime):
        return (value.year, value.month, value.day, value.hours, value.minutes, value.seconds)
    return (value,)


@st.composite
def requests(draw: st.DrawFn) -> RacpRequest:
    op_code = draw(st.sampled_from([1, 2, 3, 4]))
    if op_code == 3:
        return RacpRequest.abort()
    operator = draw(st.integers(1, 6))
    if operator in (1, 5, 6):
        return RacpRequest(op_code, operator)
    filter_type = draw(st.sampled_from([1, 2]))
    values = st.integers(0, 0xFFFF) if filter_type == 1 else date_times()
    count = 2 if operator == 4 else 1
    operand = draw(st.lists(values, min_size=count, max_size=count))
    operand.sort(key=_key)
    return RacpRequest(op_code, operator, filter_type, tuple(operand))


messages = st.one_of(
    requests(),
    st.builds(RacpNumberOfRecords, st.integers(0, 0xFFFF)),
    st.builds(RacpResponse, st.integers(0, 255), st.integers(0, 255)),
)


@settings(max_examples=300)
@given(messages)
def test_round_trip(message: RacpMessage) -> None:
    decode_racp(checks.assert_round_trip(encode_racp, parse_racp, message))


@settings(max_examples=500)
@given(st.binary(max_size=20))
def test_random_bytes_raise_only_protocol_errors(payload: bytes) -> None:
    checks.assert_only_protocol_errors(decode_racp, payload)


@settings(max_examples=300)
@given(st.integers(0, 7), st.integers(0, 7), st.integers(0, 3), st.binary(max_size=16))
def test_near_valid_bytes_raise_only_protocol_errors(
    op_code: int, operator: int, filter_type: int, tail: bytes
) -> None:
    checks.assert_only_protocol_errors(decode_racp, bytes([op_code, operator, filter_type]) + tail)


@pytest.mark.parametrize("spec", PROTOCOLS, ids=lambda spec: spec.id)
def test_examples_and_truncation(spec: Any) -> None:
    assert spec.uuid == 0x2A52
    checks.assert_examples_and_truncation(spec)


@pytest.mark.parametrize(
    ("hex_", "fields"),
    [
        ("0103010500", {"direction": "request", "operator_name": "greater_than_or_equal_to"}),
        ("0300", {"direction": "request", "op_code_name": "abort_operation"}),
        ("05000a00", {"direction": "response", "number_of_records": 10}),
        ("06000106", {"response_code_name": "no_records_found", "success": False}),
    ],
)
def test_cart_decode(capsys: pytest.CaptureFixture[str], hex_: str, fields: dict[str, Any]) -> None:
    out = checks.cli_decode(capsys, "ble.racp", hex_)
    assert out["protocol"] == "ble.racp"
    assert out["measurements"] == []
    assert {k: out["record"][k] for k in fields} == fields


def test_cart_decode_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert checks.cli_error(capsys, "ble.racp", "0701") == "RacpOpCodeNotSupported"
    assert checks.cli_error(capsys, "ble.racp", "0103") == "RacpIncompleteOperand"

"""datascope.accutorr: Accutorr PC-interface responses, mainly the ``P:`` patient-data line.

Vectors:
- Datascope Accutorr 3 service manual p.1-53 "Command responses" (rev. 08/24/90): the
  manual's own example ``P:--,85,120, 45, 80,000,010,000, 5`` (verbatim; SpO2 not in
  use, MAP 45 below DIA 80 as printed) and the field lists of ``P:`` and ``L:``.
- Same manual p.1-52 "PC interface for the ACCUTORR": 8N1, no packets or checksums,
  power-up banner ``ACCUTORR PC Interface is ready`` then the ``>`` prompt, one command
  character (``P``, ``L``, ^C). Other lines below are DERIVED from these layouts.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart.errors import BufferOverflow, FrameError, UnsupportedMessage
from cart.measurement import Measurement, MeasurementKind
from cart.protocols import NEED_DATA, get_protocol
from cart.protocols.datascope_accutorr import (
    COMMAND_PATIENT_DATA,
    COMMAND_PROMPT,
    LIMIT_FIELDS,
    AccutorrStream,
    decode,
    encode_alarm_limits,
    encode_patient_data,
)
from tests.protocols import checks

MANUAL = b"P:--,85,120, 45, 80,000,010,000, 5\r\n"
DERIVED = b"P: 97, 72,118, 88, 73,000,000,000,  2\r\n"


def test_manual_example():
    decoded = decode(MANUAL)
    assert decoded.protocol == "datascope.accutorr"
    assert decoded.record == {
        "command": "P",
        "spo2": None,
        "pulse_rate": 85,
        "systolic": 120,
        "mean_arterial_pressure": 45,
        "diastolic": 80,
        "status_byte_0": "000",
        "status_byte_1": "010",
        "status_byte_2": "000",
        "minutes_since_nibp": 5,
    }
    # MAP < DIA in the manual's own example: decoding does not judge physiology
    assert decoded.measurements == (
        Measurement.create(MeasurementKind.SYSTOLIC_PRESSURE, 120, decimals=0),
        Measurement.create(MeasurementKind.DIASTOLIC_PRESSURE, 80, decimals=0),
        Measurement.create(MeasurementKind.MEAN_ARTERIAL_PRESSURE, 45, decimals=0),
        Measurement.create(MeasurementKind.PULSE_RATE, 85, decimals=0),
    )


def test_fields_not_in_use_give_no_measurement():
    decoded = decode(b"P:--,--,--,--,--,000,000,000,--\r\n")
    assert decoded.measurements == ()
    assert decoded.record["minutes_since_nibp"] is None


def test_alarm_limits_are_a_record():
    line = b"L:100, 85,120, 50,180, 90,120, 60,100, 50\r\n"
    decoded = decode(line)
    assert decoded.record["command"] == "L"
    assert decoded.record["systolic_high"] == 180
    assert decoded.record["diastolic_low"] == 50
    assert decoded.measurements == ()


def test_banner_and_prompt():
    assert decode(b"ACCUTORR PC Interface is ready\r\n").record["message"] == (
        "ACCUTORR PC Interface is ready"
    )
    assert decode(b">").record == {"command": None, "message": ">"}
    assert (COMMAND_PATIENT_DATA, COMMAND_PROMPT) == (b"P", b"\x03")


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"X:1,2,3", UnsupportedMessage),
        (b"C:1", UnsupportedMessage),
        (b"P:--,85,120, 45, 80,000,010,000", FrameError),  # 8 fields
        (b"P:--,85,120, 45, 80,000,010,000, 5, 7", FrameError),  # 10 fields
        (b"P:--,85,12O, 45, 80,000,010,000, 5", FrameError),  # letter O for zero
        (b"P:--,85,1200, 45, 80,000,010,000, 5", FrameError),  # 4 digits
        (b"P--,85,120", FrameError),
        (b"", FrameError),
        (b"P:\xff", FrameError),
        (b"P:" + b"1," * 50, FrameError),
    ],
)
def test_bad_frames_map_to_exact_errors(frame, error):
    checks.assert_raises_exactly(decode, frame, error, protocol="datascope.accutorr")


# --------------------------------------------------------------------------- stream


@pytest.mark.parametrize("frame", [MANUAL, DERIVED])
@pytest.mark.parametrize("split", checks.SPLITS)
def test_stream_split_delivery(frame, split):
    checks.assert_delivered_whole(AccutorrStream(), frame, split, decode)


def test_stream_session_with_banner_prompts_and_noise():
    session = (
        b"\x00\xffACCUTORR PC Interface is ready\r\n>"
        + MANUAL
        + b">"
        + b"\x13"
        + DERIVED
        + b">P:--,8"
    )
    stream = AccutorrStream()
    out = checks.feed_all(stream, [session])
    assert [f.record["command"] for f in out] == [None, "P", "P"]
    assert out[1].record["systolic"] == 120
    assert out[2].record["systolic"] == 118
    assert stream.next_frame() is NEED_DATA
    assert stream.buffered == len(b">P:--,8")


def test_stream_resyncs_after_a_bad_line():
    stream = AccutorrStream()
    stream.feed(b"P:--,85,1#0\r\n" + MANUAL)
    results = list(stream.frames())
    assert isinstance(results[0], FrameError)
    assert results[1].record["pulse_rate"] == 85


def test_stream_buffer_is_bounded():
    stream = AccutorrStream(max_buffer=64)
    checks.assert_feed_raises(stream, b"9" * 65, BufferOverflow)
    stream.feed(b"\r\n" + MANUAL)
    assert list(stream.frames())[-1].record["systolic"] == 120


@settings(max_examples=200)
@given(checks.chunk_lists(30, 8))
def test_stream_random_chunks_only_raise_protocol_error(chunks):
    checks.feed_all(AccutorrStream(max_buffer=64), chunks, skip_errors=True)


# --------------------------------------------------------------------------- properties


@settings(max_examples=300)
@given(st.binary(max_size=60))
def test_random_bytes_only_raise_protocol_error(data):
    checks.assert_only_protocol_errors(decode, data)


@settings(max_examples=300)
@given(st.text(alphabet="PL:-, 0123456789", max_size=45))
def test_random_accutorr_like_text_only_raises_protocol_error(text):
    checks.assert_only_protocol_errors(decode, text.encode())


optional = st.one_of(st.none(), st.integers(0, 999))


@settings(max_examples=300)
@given(
    systolic=optional,
    diastolic=optional,
    mean=optional,
    pulse=optional,
    spo2=optional,
    minutes=optional,
    status=st.tuples(*[st.integers(0, 999).map(lambda n: f"{n:03d}")] * 3),
)
def test_encode_decode_round_trip(systolic, diastolic, mean, pulse, spo2, minutes, status):
    line = encode_patient_data(
        systolic=systolic,
        diastolic=diastolic,
        mean_arterial_pressure=mean,
        pulse_rate=pulse,
        spo2=spo2,
        status=status,
        minutes_since_nibp=minutes,
    )
    record = decode(line).record
    assert (record["systolic"], record["diastolic"]) == (systolic, diastolic)
    assert (record["mean_arterial_pressure"], record["pulse_rate"]) == (mean, pulse)
    assert (record["spo2"], record["minutes_since_nibp"]) == (spo2, minutes)
    assert (record["status_byte_0"], record["status_byte_1"], record["status_byte_2"]) == status


def test_encode_alarm_limits_round_trip():
    limits = {name: 100 + i for i, name in enumerate(LIMIT_FIELDS)}
    record = decode(encode_alarm_limits(limits)).record
    assert {k: record[k] for k in LIMIT_FIELDS} == limits
    with pytest.raises(ValueError):
        encode_alarm_limits({"colour": 1})
    with pytest.raises(ValueError):
        encode_patient_data(systolic=1000, diastolic=80, mean_arterial_pressure=90, pulse_rate=70)


# --------------------------------------------------------------------------- CLI


def test_cli_decode(capsys):
    out = checks.cli_decode(
        capsys, "datascope.accutorr", "P:--,85,120, 45, 80,000,010,000, 5\\r\\n"
    )
    assert out["protocol"] == "datascope.accutorr"
    assert out["record"]["spo2"] is None
    assert [m["kind"] for m in out["measurements"]] == [
        "systolic_pressure",
        "diastolic_pressure",
        "mean_arterial_pressure",
        "pulse_rate",
    ]


def test_registry_and_examples_decode():
    spec = get_protocol("datascope.accutorr")
    assert spec.payload == "text"
    checks.decode_examples(spec)

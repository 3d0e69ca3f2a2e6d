"""and.weighing: A&D standard format.

Vectors:
- A&D GC series instruction manual, §16.2 "A&D Standard Format" (examples
  ``ST,+0001.234 kg``, ``QT,+00001234 PC``, ``ST,OK,+0001.234 kg``, ``QT,OK,+00001234 PC``).
- A&D GX-A/GF-A series communication manual §7-2, as quoted in
  ../shared/protocols-serial.md (``ST,+00123.45  g``).
- A&D AD-4212D manual p.27 (overload data ``OL,+9999999E+19``).
- Issue 2's acceptance frame ``ST,+00070.50  kg``.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart.errors import BufferOverflow, FrameError, UnsupportedMessage
from cart.measurement import Measurement
from cart.protocols import NEED_DATA, get_protocol
from cart.protocols.and_weighing import WeighingStream, decode, encode
from tests.protocols import checks

W = "body_weight"

REAL_FRAMES = [
    # (frame, header, value, unit, measurements as (kind, kg value, flags))
    (b"ST,+00070.50  kg\r\n", "ST", 70.5, "kg", [(W, 70.5, [])]),  # issue 2
    (b"ST,+0001.234 kg\r\n", "ST", 1.234, "kg", [(W, 1.234, [])]),  # GC manual §16.2
    (b"ST,+00123.45  g\r\n", "ST", 123.45, "g", [(W, 0.123, [])]),  # GX-A manual §7-2
    (b"QT,+00001234 PC\r\n", "QT", 1234.0, "PC", []),  # GC manual, count data
    (b"US,+00070.48  kg\r\n", "US", 70.48, "kg", [(W, 70.48, ["unstable"])]),
    (b"ST,-0000.120 kg\r\n", "ST", -0.12, "kg", [(W, -0.12, [])]),
]


@pytest.mark.parametrize(("frame", "header", "value", "unit", "expected"), REAL_FRAMES)
def test_real_frames_decode(frame, header, value, unit, expected):
    decoded = decode(frame)
    assert decoded.protocol == "and.weighing"
    assert decoded.record["header"] == header
    assert decoded.record["value"] == value
    assert decoded.record["unit"] == unit
    got = [(m.kind.value, m.value, list(m.flags)) for m in decoded.measurements]
    assert got == expected


def test_issue_frame_whole_measurement():
    (m,) = decode(b"ST,+00070.50  kg\r\n").measurements
    assert m == Measurement.create("body_weight", 70.5, "kg", decimals=2)
    assert m.to_json()["loinc"] == "29463-7"
    assert m.to_json()["decimals"] == 2  # "70.50": the scale's 0.01 kg resolution is kept


def test_comparison_header():
    # GC manual §16.2: "Weight data with comparison"
    decoded = decode(b"ST,OK,+0001.234 kg\r\n")
    assert decoded.record["comparison"] == "OK"
    assert decoded.measurements[0].value == 1.234


def test_overload_is_special_never_a_number():
    (m,) = decode(b"OL,+9999999E+19  g\r\n").measurements
    assert m.value is None
    assert m.special == "+inf"
    assert "overload" in m.flags
    (neg,) = decode(b"OL,-9999999E+19 kg\r\n").measurements
    assert neg.special == "-inf"


def test_pounds_are_converted_and_original_kept():
    (m,) = decode(b"ST,+00155.43 lb\r\n").measurements
    assert m.value == pytest.approx(70.502, abs=0.001)
    assert m.original is not None
    assert (m.original.value, m.original.unit) == (155.43, "[lb_av]")


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"XX,+00070.50  kg", UnsupportedMessage),
        (b"ST,+00070.50  oz", UnsupportedMessage),
        (b"ST,+000#0.50  kg", FrameError),
        (b"ST,+00070.50", FrameError),  # weight without unit
        (b"ST +00070.50 kg", FrameError),
        (b"ST,+0.0.1 kg", FrameError),
        (b"ST,+1E+19 kg", FrameError),
        (b"", FrameError),
        (b"ST," + b"0" * 40 + b" kg", FrameError),
    ],
)
def test_bad_frames_map_to_exact_errors(frame, error):
    checks.assert_raises_exactly(decode, frame, error, protocol="and.weighing")


@pytest.mark.parametrize("frame", [f[0] for f in REAL_FRAMES])
@pytest.mark.parametrize("split", checks.SPLITS)
def test_stream_split_delivery(frame, split):
    checks.assert_delivered_whole(WeighingStream(), frame, split, decode)


def test_stream_partial_needs_data_and_keeps_trailing_bytes():
    stream = WeighingStream()
    stream.feed(b"ST,+00070.5")
    assert stream.next_frame() is NEED_DATA
    stream.feed(b"0  kg\r\nUS,+0007")
    assert stream.next_frame().record["value"] == 70.5
    assert stream.next_frame() is NEED_DATA
    assert stream.buffered == len(b"US,+0007")


def test_stream_resyncs_after_leading_garbage_and_bad_frames():
    stream = WeighingStream()
    stream.feed(b"\x00\xff\x13junk")
    stream.feed(b"ST,+00070.50  kg\r\n")
    stream.feed(b"ST,+00#70.50  kg\r\n")  # a broken frame
    stream.feed(b"ST,+00071.00  kg\r\n")
    results = list(stream.frames())
    assert results[0].record["value"] == 70.5
    assert isinstance(results[1], FrameError)
    assert results[2].record["value"] == 71.0


def test_stream_buffer_is_bounded():
    stream = WeighingStream(max_buffer=64)
    checks.assert_feed_raises(stream, b"A" * 65, BufferOverflow)
    # the garbage was dropped: the next frame decodes
    stream.feed(b"\r\nST,+00070.50  kg\r\n")
    frames = list(stream.frames())
    assert frames[-1].record["value"] == 70.5


def test_registry_and_examples_decode():
    spec = get_protocol("and.weighing")
    assert spec.payload == "text"
    checks.decode_examples(spec)


@settings(max_examples=300)
@given(st.binary(max_size=40))
def test_random_bytes_only_raise_protocol_error(data):
    checks.assert_only_protocol_errors(decode, data)


@settings(max_examples=200)
@given(checks.chunk_lists(30, 8))
def test_stream_random_chunks_only_raise_protocol_error(chunks):
    checks.feed_all(WeighingStream(max_buffer=64), chunks, skip_errors=True)


@settings(max_examples=300)
@given(
    value=st.decimals(min_value=-9999, max_value=99999, places=2, allow_nan=False),
    unit=st.sampled_from(["kg", "g", "lb"]),
    header=st.sampled_from(["ST", "US"]),
    comparison=st.sampled_from([None, "LO", "OK", "HI", "--"]),
)
def test_encode_decode_round_trip(value, unit, header, comparison):
    frame = encode(float(value), unit, header=header, decimals=2, comparison=comparison)
    decoded = decode(frame)
    assert decoded.record["header"] == header
    assert decoded.record["value"] == float(value)
    assert decoded.record["unit"] == unit
    assert decoded.record["comparison"] == comparison
    assert len(frame.rstrip(b"\r\n")) == 15 + (3 if comparison else 0)

"""indicator.st_gs: weighing-indicator "ST,GS" lines, tokenised leniently across vendors.

Vectors:
- Selleton SL-7515 manual p.12, "Manual send mode print out example": ``ST, GS+ 5.12KG``
  (verbatim).
- Selleton SL-7516 manual p.16 communication format, as quoted in
  ../shared/protocols-serial.md: ``ST,GS,+  4.876kg``.
- Tiger TI-02-P manual §7.1 "Auto weight format string": bytes 1-2 status, 3 comma, 4-5
  GS/NT, 6 sign (space or -), 7-13 weight, 14 comma, 15-16 unit (values DERIVED).
- Dini Argeo 3590EKR/EXP technical manual §5.4 "Standard" string
  ``[CC]HH,KK,PPPPPPPP,UM`` with HH = UL/OL/ST/US, 8-digit weight incl. sign and point,
  units Kg/g/t/lb, CC only on RS-485 (values DERIVED).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart.errors import BufferOverflow, FrameError, UnsupportedMessage
from cart.measurement import Measurement, MeasurementKind
from cart.protocols import NEED_DATA, get_protocol
from cart.protocols.indicator_st_gs import IndicatorStream, decode, encode
from tests.protocols import checks

W, HT = "body_weight", "body_height"

REAL_FRAMES = [
    # (frame, status, mode, value, measurements as (kind, canonical value, flags))
    (b"ST, GS+ 5.12KG\r\n", "stable", "gross", 5.12, [(W, 5.12, ())]),  # Selleton SL-7515
    (b"ST,GS,+  4.876kg\r\n", "stable", "gross", 4.876, [(W, 4.876, ())]),  # Selleton SL-7516
    (b"US,GS, 0070.45,kg\r\n", "unstable", "gross", 70.45, [(W, 70.45, ("unstable",))]),  # Tiger
    (b"ST,NT,-  00.35,kg\r\n", "stable", "net", -0.35, [(W, -0.35, ())]),  # Tiger, negative
    (b"ST,GS,   70.50,Kg\r\n", "stable", "gross", 70.5, [(W, 70.5, ())]),  # Dini
    (b"01US,NT,  -12.5,kg\r\n", "unstable", "net", -12.5, [(W, -12.5, ("unstable",))]),  # Dini 485
    (b"ST,GS,  155.43,lb\r\n", "stable", "gross", 155.43, [(W, 70.502, ())]),  # Dini, pounds
    (b"ST,GS,+  170.5cm\r\n", "stable", "gross", 170.5, [(HT, 170.5, ())]),  # rod on indicator
]


@pytest.mark.parametrize(("frame", "status", "mode", "value", "expected"), REAL_FRAMES)
def test_real_frames_decode(frame, status, mode, value, expected):
    decoded = decode(frame)
    assert decoded.protocol == "indicator.st_gs"
    assert (decoded.record["status"], decoded.record["mode"]) == (status, mode)
    assert decoded.record["value"] == value
    got = [(m.kind.value, m.value, m.flags) for m in decoded.measurements]
    assert got == expected


def test_selleton_print_example_whole_measurement():
    (m,) = decode(b"ST, GS+ 5.12KG\r\n").measurements
    assert m == Measurement.create(MeasurementKind.BODY_WEIGHT, 5.12, "kg", decimals=2)


def test_dini_address_prefix():
    record = decode(b"01US,NT,  -12.5,kg\r\n").record
    assert record["address"] == 1
    assert record["stable"] is False


@pytest.mark.parametrize(
    ("frame", "special", "flag"),
    [
        (b"OL,GS,+ ------kg\r\n", "+inf", "overload"),
        (b"OL,GS, 9999.99,kg\r\n", "+inf", "overload"),  # stale digits are not a reading
        (b"UL,GS,--------,Kg\r\n", "-inf", "underload"),  # Dini underload
        (b"OL,NT,OL,kg\r\n", "+inf", "overload"),
        (b"OL,GS\r\n", "+inf", "overload"),
    ],
)
def test_overload_and_underload_are_specials_never_numbers(frame, special, flag):
    decoded = decode(frame)
    (m,) = decoded.measurements
    assert m.value is None
    assert m.special == special
    assert m.flags == (flag,)
    assert decoded.record["value"] == special


def test_overload_of_a_height_rod_keeps_the_kind():
    (m,) = decode(b"OL,GS,------,cm\r\n").measurements
    assert m.kind is MeasurementKind.BODY_HEIGHT


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"XX,GS,+  70.50kg", UnsupportedMessage),  # unknown status
        (b"ST,TR,+  70.50kg", UnsupportedMessage),  # unknown mode
        (b"ST,GS,+  70.50oz", UnsupportedMessage),  # not a mass or length
        (b"ST,GS,+  70.50t", UnsupportedMessage),
        (b"ST,GS,+  70.50", FrameError),  # no unit
        (b"ST,GS,kg", FrameError),  # no number
        (b"ST,GS,+7#0.50kg", FrameError),
        (b"ST,GS,+70.5.0kg", FrameError),
        (b"ST GS 70.50kg", FrameError),
        (b"\xffST,GS,+  70.50kg", FrameError),
        (b"", FrameError),
        (b"ST,GS," + b"0" * 60 + b"kg", FrameError),
    ],
)
def test_bad_frames_map_to_exact_errors(frame, error):
    checks.assert_raises_exactly(decode, frame, error, protocol="indicator.st_gs")


# --------------------------------------------------------------------------- stream


@pytest.mark.parametrize("frame", [f[0] for f in REAL_FRAMES])
@pytest.mark.parametrize("split", checks.SPLITS)
def test_stream_split_delivery(frame, split):
    checks.assert_delivered_whole(IndicatorStream(), frame, split, decode)


def test_stream_leading_and_trailing_garbage():
    stream = IndicatorStream()
    stream.feed(b"\x00\xff\x13noise" + b"ST,GS,+  4.876kg\r\n" + b"US,GS,+  4.9")
    assert stream.next_frame().record["value"] == 4.876
    assert stream.next_frame() is NEED_DATA
    assert stream.buffered == len(b"US,GS,+  4.9")


def test_stream_resyncs_after_bad_frames():
    stream = IndicatorStream()
    stream.feed(b"ST,GS,+  7#.50kg\r\n" + b"garbage\r\n" + b"ST,GS,+  70.50kg\r\n")
    results = list(stream.frames())
    assert isinstance(results[0], FrameError)
    assert isinstance(results[1], FrameError)
    assert results[2].record["value"] == 70.5


def test_stream_buffer_is_bounded():
    stream = IndicatorStream(max_buffer=64)
    checks.assert_feed_raises(stream, b"9" * 65, BufferOverflow)
    stream.feed(b"\r\nST,GS,+  70.50kg\r\n")
    assert list(stream.frames())[-1].record["value"] == 70.5


@settings(max_examples=200)
@given(checks.chunk_lists(30, 8))
def test_stream_random_chunks_only_raise_protocol_error(chunks):
    checks.feed_all(IndicatorStream(max_buffer=64), chunks, skip_errors=True)


# --------------------------------------------------------------------------- properties


@settings(max_examples=300)
@given(st.binary(max_size=50))
def test_random_bytes_only_raise_protocol_error(data):
    checks.assert_only_protocol_errors(decode, data)


@settings(max_examples=300)
@given(st.text(alphabet="STUGNLO,+- .0123456789kglbcmK", max_size=30))
def test_random_indicator_like_text_only_raises_protocol_error(text):
    checks.assert_only_protocol_errors(decode, text.encode())


@settings(max_examples=300)
@given(
    value=st.decimals(min_value=-999, max_value=9999, places=2, allow_nan=False),
    unit=st.sampled_from(["kg", "lb", "g", "cm"]),
    status=st.sampled_from(["ST", "US"]),
    mode=st.sampled_from(["GS", "NT"]),
    style=st.sampled_from(["selleton", "tiger", "dini"]),
    address=st.one_of(st.none(), st.integers(0, 99)),
)
def test_encode_decode_round_trip(value, unit, status, mode, style, address):
    frame = encode(float(value), unit, status=status, mode=mode, style=style, address=address)
    record = decode(frame).record
    assert record["value"] == float(value)
    assert record["unit"] == unit
    assert record["status"] == {"ST": "stable", "US": "unstable"}[status]
    assert record["mode"] == {"GS": "gross", "NT": "net"}[mode]
    assert record["address"] == address


@pytest.mark.parametrize("style", ["selleton", "tiger", "dini"])
@pytest.mark.parametrize("status", ["OL", "UL"])
def test_encode_overload_round_trip(style, status):
    (m,) = decode(encode(None, status=status, style=style)).measurements
    assert m.special == ("+inf" if status == "OL" else "-inf")


def test_encode_vendor_layouts():
    assert encode(70.5, style="selleton") == b"ST,GS,+  70.50kg\r\n"
    assert encode(70.5, style="tiger") == b"ST,GS,   70.50,kg\r\n"
    assert encode(-1.25, style="tiger") == b"ST,GS,-   1.25,kg\r\n"
    assert encode(70.5, style="dini", address=1) == b"01ST,GS,   70.50,kg\r\n"
    with pytest.raises(ValueError):
        encode(1.0, "oz")
    with pytest.raises(ValueError):
        encode(1.0, status="QT")


# --------------------------------------------------------------------------- CLI


def test_cli_decode(capsys):
    out = checks.cli_decode(capsys, "indicator.st_gs", "ST,GS,+  70.50kg\\r\\n")
    assert out["protocol"] == "indicator.st_gs"
    assert out["measurements"][0]["value"] == 70.5
    assert out["measurements"][0]["unit"] == "kg"


def test_cli_decode_overload(capsys):
    (m,) = checks.cli_decode(capsys, "indicator.st_gs", "OL,GS,+ ------kg")["measurements"]
    assert (m["value"], m["special"], m["flags"]) == (None, "+inf", ["overload"])


def test_registry_and_examples_decode():
    spec = get_protocol("indicator.st_gs")
    assert spec.payload == "text"
    checks.decode_examples(spec)

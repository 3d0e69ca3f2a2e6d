"""tanita.line: Tanita header/value lines with checksum, and the junk byte after each frame.

Vectors:
- Tanita SC-240 manual p.24, "Output sample" (Standard, Male, 30 years, 170 cm): the line
  ending ``CS,FD``, verbatim except that the manual's typesetting space after each comma
  is removed (only then does the sum come to 0xFD, as ../shared/protocols-serial.md notes).
- Tanita WB-3000 manual p.10 and WB-8000RW manual p.5: item order ``{0,16,~0,1,~1,1,
  ~2,1,MO,"WB-3000",Hm,..,Wk,..,MI,..,CS,xx`` and "an irrelevant signal approximately
  0.1 second after data output" (the values and CS of the WB-3000 lines are DERIVED).
- Tanita BD-815U manual p.12: grams mode ``{0,16,~0,1,MO,"BD-815",Wg,...`` without CS
  (value DERIVED).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart.errors import BufferOverflow, ChecksumError, FrameError, UnsupportedMessage
from cart.measurement import Measurement, MeasurementKind
from cart.protocols import NEED_DATA, get_protocol
from cart.protocols.tanita_line import TanitaStream, checksum, decode, encode
from tests.protocols import checks

SC240 = (
    b'{0,16,~0,1,~1,1,~2,1,MO,"SC-240",SN,"00000002",Bt,0,GE,1,AG,30,Hm,170,Pt,0.0,'
    b"Wk,82.7,FW,18.6,fW,15.4,MW,67.3,mW,64.0,sW,19,bW,3.3,wW,48.0,ww,58.0,MI,28.6,"
    b"Sw,63.6,OV,30.0,IF,6,rb,8255,rB,1973,rJ,12,rA,28,ZF,369.4,CS,FD\r\n"
)
SC240_AS_TYPESET = SC240.replace(b",", b", ")
WB3000 = b'{0,16,~0,1,~1,1,~2,1,MO,"WB-3000",Hm,170.5,Wk,72.4,MI,24.9,CS,7B\r\n'
WB3000_LB = b'{0,16,~0,1,~1,1,~2,1,MO,"WB-3000",Hf,5\'07.1",Wp,159.6,MI,24.9,CS,FA\r\n'
BD815 = b'{0,16,~0,1,MO,"BD-815",Wg,3520\r\n'


def test_sc240_manual_sample():
    decoded = decode(SC240)
    assert decoded.protocol == "tanita.line"
    record = decoded.record
    assert record["model"] == "SC-240"
    assert record["serial_number"] == "00000002"
    assert (record["gender"], record["age"], record["body_type"]) == ("1", "30", "0")
    assert record["checksum"] == 0xFD
    assert record["items"]["ZF"] == "369.4"
    assert "{0" not in record["items"]
    assert decoded.measurements == (
        Measurement.create(MeasurementKind.BODY_WEIGHT, 82.7, "kg", decimals=1),
        Measurement.create(MeasurementKind.BODY_HEIGHT, 170.0, "cm", decimals=0),  # "Hm,170"
        Measurement.create(MeasurementKind.BMI, 28.6, "kg/m2", decimals=1),
        Measurement.create(MeasurementKind.BODY_FAT, 18.6, "%", decimals=1),
    )


def test_checksum_rule_is_the_byte_sum_through_the_comma_before_cs():
    covered = SC240[: SC240.index(b"CS,")]
    assert covered.endswith(b"369.4,")
    assert checksum(covered) == 0xFD


def test_manual_typesetting_spaces_break_the_sum():
    # the manual prints ", " between items; those spaces would be on the wire and summed
    with pytest.raises(ChecksumError) as info:
        decode(SC240_AS_TYPESET)
    assert info.value.wire == 0xFD
    assert info.value.calculated == checksum(SC240_AS_TYPESET[: SC240_AS_TYPESET.index(b"CS")])


def test_wb3000_weight_height_bmi_line():
    decoded = decode(WB3000)
    assert [(m.kind.value, m.value) for m in decoded.measurements] == [
        ("body_weight", 72.4),
        ("body_height", 170.5),
        ("bmi", 24.9),
    ]
    assert decoded.record["height_unit"] == "cm"


def test_lb_mode_converts_pounds_and_feet_inches():
    weight, height, bmi = decode(WB3000_LB).measurements
    # 159.6 lb at 0.1 lb (0.045 kg): 72.39 kg; 67.1 in at 0.1 in (0.254 cm): 170.4 cm
    assert (weight.value, weight.decimals) == (72.39, 2)
    assert weight.original is not None
    assert weight.original.unit == "[lb_av]"
    assert (height.value, height.decimals) == (170.4, 1)
    assert height.original is not None
    assert height.original.value == pytest.approx(67.1)
    assert bmi.value == 24.9
    assert decode(WB3000_LB).record["height"] == "5'07.1\""


def test_model_without_checksum():
    decoded = decode(BD815)
    assert decoded.record["checksum"] is None
    (m,) = decoded.measurements
    assert (m.value, m.decimals) == (3.52, 3)  # 3520 g: whole grams are 3 decimals of kg
    assert m.original is not None
    assert m.original.unit == "g"


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (WB3000.replace(b"CS,7B", b"CS,7C"), ChecksumError),
        (WB3000.replace(b"72.4", b"72.5"), ChecksumError),
        (WB3000.replace(b"CS,7B", b"CS,ZZ"), FrameError),
        (WB3000.replace(b"Wk,72.4", b"Wk,7x.4"), ChecksumError),  # the sum catches it first
        (b'{0,16,~0,1,MO,"BD-815",Wg,35x0\r\n', FrameError),
        (b'{0,16,~0,1,MO,"BD-815",Wg\r\n', FrameError),  # unpaired
        (b'{0,16,~0,1,MO,"BD-815",Wg,1,Wk,2\r\n', FrameError),
        (b'{0,16,~0,1,MO,"BD-815",Wg,1,Wg,2\r\n', FrameError),
        (b'{0,16,~0,1,MO,"X",Hf,170,Wk,2\r\n', FrameError),  # Hf is not feet-inches
        (b"{0,16,CS,00,Wk,1\r\n", FrameError),  # CS not last
        (b'{0,16,~0,1,MO,"WB-3000"\r\n', UnsupportedMessage),  # no reading in the line
        (b"ST,+00070.50  kg\r\n", FrameError),
        (b"{1,16,Wk,2\r\n", FrameError),
        (b"{0,16,\xff\xfe,2\r\n", FrameError),
        (b"", FrameError),
        (b"{0," + b"1" * 600, FrameError),
    ],
)
def test_bad_frames_map_to_exact_errors(frame, error):
    checks.assert_raises_exactly(decode, frame, error, protocol="tanita.line")


# --------------------------------------------------------------------------- stream


@pytest.mark.parametrize("frame", [SC240, WB3000, WB3000_LB, BD815])
@pytest.mark.parametrize("split", checks.SPLITS)
def test_stream_split_delivery(frame, split):
    checks.assert_delivered_whole(TanitaStream(), frame, split, decode)


@pytest.mark.parametrize("junk", [b"\x00", b"\xff", b"\xfe\x00", b"\r\n", b"{", b"\x0d"])
@pytest.mark.parametrize("split", ["whole", "bytewise"])
def test_junk_byte_after_each_frame_is_never_a_frame(junk, split):
    # WB-3000 / WB-8000RW: "irrelevant signal approximately 0.1 second after data output"
    stream = TanitaStream()
    data = WB3000 + junk + WB3000.replace(b"72.4", b"72.4") + junk
    frames = checks.feed_all(stream, checks.split_delivery(data, split))
    assert [f.record["weight"] for f in frames] == [72.4, 72.4]
    assert stream.next_frame() is NEED_DATA


def test_junk_alone_yields_nothing_and_is_dropped():
    stream = TanitaStream()
    stream.feed(b"\x00\xff\x80garbage\r\n\x00")
    assert stream.next_frame() is NEED_DATA
    assert stream.buffered == 0
    assert stream.discarded == len(b"\x00\xff\x80garbage\r\n\x00")


def test_encoder_appends_junk_like_the_device():
    frame = encode(weight=72.4, height=170.5, bmi=24.9, junk=b"\x00")
    assert frame == WB3000 + b"\x00"
    assert checks.feed_all(TanitaStream(), [frame])[0].record["bmi"] == 24.9


def test_stream_leading_garbage_and_partial_frame():
    stream = TanitaStream()
    stream.feed(b"\x13\x00noise{0,16,~0,1")
    assert stream.next_frame() is NEED_DATA
    assert stream.buffered == len(b"{0,16,~0,1")
    stream.feed(WB3000[len(b"{0,16,~0,1") :] + b"{0,16")
    assert stream.next_frame().record["height"] == 170.5
    assert stream.next_frame() is NEED_DATA
    assert stream.buffered == len(b"{0,16")


def test_stream_frame_cut_short_resyncs_at_the_next_start():
    stream = TanitaStream()
    checks.assert_feed_raises(stream, WB3000[:30] + WB3000, FrameError)
    assert stream.next_frame().record["weight"] == 72.4


def test_stream_bad_checksum_raises_once_then_continues():
    stream = TanitaStream()
    checks.assert_feed_raises(
        stream, WB3000.replace(b"CS,7B", b"CS,00") + b"\x00" + WB3000, ChecksumError
    )
    assert stream.next_frame().record["weight"] == 72.4


def test_stream_buffer_is_bounded():
    stream = TanitaStream(max_buffer=64)
    checks.assert_feed_raises(stream, b"{0," + b"9" * 70, BufferOverflow)
    stream.feed(WB3000)
    assert stream.next_frame().record["weight"] == 72.4


@settings(max_examples=200)
@given(checks.chunk_lists(40, 10))
def test_stream_random_chunks_only_raise_protocol_error(chunks):
    checks.feed_all(TanitaStream(max_buffer=64), chunks, skip_errors=True)


@settings(max_examples=200)
@given(
    noise=st.binary(max_size=20).filter(lambda b: b"{0," not in b and not b.endswith(b"{")),
    junk=st.binary(max_size=3).filter(lambda b: b"{" not in b),
)
def test_stream_finds_frames_between_any_noise(noise, junk):
    stream = TanitaStream()
    out = checks.feed_all(stream, [noise, WB3000, junk, WB3000, junk])
    assert [f.record["weight"] for f in out] == [72.4, 72.4]


# --------------------------------------------------------------------------- properties


@settings(max_examples=300)
@given(st.binary(max_size=80))
def test_random_bytes_only_raise_protocol_error(data):
    checks.assert_only_protocol_errors(decode, data)


@settings(max_examples=300)
@given(st.binary(max_size=60))
def test_random_tanita_like_lines_only_raise_protocol_error(tail):
    checks.assert_only_protocol_errors(decode, b"{0,16," + tail)


@settings(max_examples=200)
@given(
    weight=st.integers(20, 3000).map(lambda t: t / 10),
    height=st.integers(900, 2200).map(lambda t: t / 10),
    bmi=st.integers(100, 600).map(lambda t: t / 10),
    fat=st.one_of(st.none(), st.integers(30, 600).map(lambda t: t / 10)),
    with_checksum=st.booleans(),
)
def test_encode_decode_round_trip(weight, height, bmi, fat, with_checksum):
    frame = encode(weight=weight, height=height, bmi=bmi, body_fat=fat, with_checksum=with_checksum)
    record = decode(frame).record
    assert (record["weight"], record["height"], record["bmi"], record["body_fat"]) == (
        weight,
        height,
        bmi,
        fat,
    )


@settings(max_examples=100)
@given(weight=st.integers(20, 3000).map(lambda t: t / 10), height=st.integers(900, 2200))
def test_encode_decode_round_trip_lb_mode(weight, height):
    kg, cm = decode(encode(weight=weight, height=height / 10, unit="lb")).measurements
    assert kg.value == pytest.approx(weight, abs=0.05)
    assert cm.value == pytest.approx(height / 10, abs=0.15)


# --------------------------------------------------------------------------- CLI


def test_cli_decode(capsys):
    payload = '{0,16,~0,1,~1,1,~2,1,MO,"WB-3000",Hm,170.5,Wk,72.4,MI,24.9,CS,7B\\r\\n'
    out = checks.cli_decode(capsys, "tanita.line", payload)
    assert out["protocol"] == "tanita.line"
    assert [m["kind"] for m in out["measurements"]] == ["body_weight", "body_height", "bmi"]
    assert out["measurements"][1]["loinc"] == "8302-2"


def test_cli_decode_bad_checksum(capsys):
    payload = '{0,16,~0,1,~1,1,~2,1,MO,"WB-3000",Hm,170.5,Wk,72.4,MI,24.9,CS,00'
    assert checks.cli_error(capsys, "tanita.line", payload) == "ChecksumError"


def test_registry_and_examples_decode():
    spec = get_protocol("tanita.line")
    assert spec.payload == "text"
    checks.decode_examples(spec)

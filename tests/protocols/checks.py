"""Checks every protocol test module makes the same way; the vectors stay in the modules.

- stream delivery: :func:`split_delivery` cuts a frame whole / in half / byte by byte
  (:data:`SPLITS`), :func:`feed_all` feeds the pieces and pulls every frame,
  :func:`assert_delivered_whole` checks one frame comes out exactly as ``decode`` gives it,
  :func:`assert_feed_raises` that what was fed makes the next frame an error;
- robustness: :func:`assert_only_protocol_errors` (random bytes never raise anything but a
  :class:`ProtocolError`), ``feed_all(..., skip_errors=True)`` for streams, and the
  strategies :func:`chunk_lists`, :data:`sfloats`, :func:`date_times`;
- exact errors: :func:`assert_raises_exactly`;
- round trips and whole records: :func:`assert_round_trip`, :func:`measurements_json`,
  :func:`measurement_json`, :func:`sfloat_json`;
- examples: :func:`decode_examples`, :func:`assert_examples_and_truncation`;
- the CLI: :func:`cli_decode` / :func:`cli_error` run ``cart decode`` in-process and read
  its JSON; :func:`escaped` spells a binary frame as a text payload.
"""

from __future__ import annotations

import codecs
import contextlib
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Protocol, TypeVar

import pytest
from hypothesis import strategies as st

from cart.cli import main
from cart.errors import FrameError, IncompleteFrame, ProtocolError
from cart.protocols import ieee11073 as med
from cart.protocols.base import Decoded, NeedData, ProtocolSpec
from cart.protocols.ble_common import DateTime

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

Decoder = Callable[[bytes], object]

#: Noise around frames in the stream tests (NUL, 0xFE/0xFF, XOFF, a high byte, DEL).
GARBAGE_HEAD: Final = b"\x00\xfe\x13\x80"
GARBAGE_TAIL: Final = b"\xff\x00\x7f"


class Stream(Protocol[T_co]):
    """A stream decoder: bytes in, one frame (or NEED_DATA) out per ``next_frame`` call."""

    def feed(self, data: bytes) -> None: ...

    def next_frame(self) -> T_co | NeedData: ...


class DecodingStream(Stream[Decoded], Protocol):
    """A stream decoder that yields Decoded frames and tells how many bytes it holds."""

    @property
    def buffered(self) -> int: ...


# --------------------------------------------------------------------------- delivery

#: How a frame reaches the decoder: in one read, in two halves, or one byte per read.
SPLITS: Final = ("whole", "half", "bytewise")


def split_delivery(data: bytes, how: str) -> list[bytes]:
    """``data`` cut into the reads of one delivery style (see :data:`SPLITS`)."""
    if how == "whole":
        return [data]
    if how == "half":
        middle = len(data) // 2
        return [data[:middle], data[middle:]]
    if how == "bytewise":
        return [data[i : i + 1] for i in range(len(data))]
    raise ValueError(f"unknown split {how!r}")


def pull_all(
    pull: Callable[[], T | NeedData], *, skip_errors: bool = False, limit: int | None = None
) -> list[T]:
    """Call ``pull`` (``next_frame``, ``next_event``) until NEED_DATA; what it returned.

    ``skip_errors``: a ProtocolError is one bad frame, keep pulling (otherwise it
    propagates). ``limit``: stop after that many calls even without NEED_DATA.
    """
    tolerated: tuple[type[ProtocolError], ...] = (ProtocolError,) if skip_errors else ()
    out: list[T] = []
    calls = 0
    while limit is None or calls < limit:
        calls += 1
        try:
            item = pull()
        except tolerated:
            continue
        if isinstance(item, NeedData):
            break
        out.append(item)
    return out


def feed_all(
    stream: Stream[T],
    chunks: Iterable[bytes],
    *,
    skip_errors: bool = False,
    limit: int | None = None,
) -> list[T]:
    """Feed ``chunks`` one at a time, pulling every complete frame after each (:func:`pull_all`)."""
    out: list[T] = []
    for chunk in chunks:
        stream.feed(chunk)
        out += pull_all(stream.next_frame, skip_errors=skip_errors, limit=limit)
    return out


def assert_feed_raises(stream: Stream[object], data: bytes, error: type[Exception]) -> None:
    """After feeding ``data``, the next frame is ``error`` (a bad frame, a full buffer)."""
    stream.feed(data)
    with pytest.raises(error):
        stream.next_frame()


def assert_delivered_whole(
    stream: DecodingStream, frame: bytes, how: str, decode: Callable[[bytes], Decoded]
) -> None:
    """Fed ``frame`` split ``how``, the stream yields just ``decode(frame)``, keeps nothing."""
    frames = feed_all(stream, split_delivery(frame, how))
    assert [f.record for f in frames] == [decode(frame).record]
    assert stream.buffered == 0


# --------------------------------------------------------------------------- errors


def assert_only_protocol_errors(decoders: Decoder | Iterable[Decoder], *payloads: bytes) -> None:
    """Each decoder on each payload returns or raises a ProtocolError, never anything else."""
    chosen = [decoders] if callable(decoders) else list(decoders)
    for payload in payloads:
        for decode in chosen:
            with contextlib.suppress(ProtocolError):
                decode(payload)


def assert_raises_exactly(
    decode: Decoder, frame: bytes, error: type[Exception], *, protocol: str | None = None
) -> None:
    """``decode(frame)`` raises ``error`` itself (not a subclass), naming ``protocol`` if given."""
    with pytest.raises(error) as info:
        decode(frame)
    assert type(info.value) is error
    if protocol is not None:
        assert info.value.protocol == protocol  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- strategies


def chunk_lists(max_chunk: int, max_chunks: int) -> st.SearchStrategy[list[bytes]]:
    """Random reads: up to ``max_chunks`` random byte strings of up to ``max_chunk`` bytes."""
    return st.lists(st.binary(max_size=max_chunk), max_size=max_chunks)


#: The latest complete Date Time :func:`date_times` draws by default.
LATEST: Final = datetime(9999, 12, 31)

#: Every SFLOAT: the five specials by name, and any other mantissa/exponent pair.
sfloats: Final = st.one_of(
    st.sampled_from(
        [
            med.SFLOAT_NAN,
            med.SFLOAT_NRES,
            med.SFLOAT_POS_INF,
            med.SFLOAT_NEG_INF,
            med.SFLOAT_RESERVED,
        ]
    ),
    st.builds(med.MedFloat, st.integers(-2048, 2047), st.integers(-8, 7)).filter(
        lambda m: not (m.exponent == 0 and m.mantissa in (2046, 2047, -2048, -2047, -2046))
    ),
)


@st.composite
def date_times(draw: st.DrawFn, latest: datetime = LATEST) -> DateTime:
    """A GATT Date Time: a complete one up to ``latest``, or year 0 with a partial date."""
    if draw(st.booleans()):
        when = draw(st.datetimes(min_value=datetime(1582, 1, 1), max_value=latest))
        return DateTime.from_datetime(when)
    return DateTime(0, draw(st.integers(0, 12)), draw(st.integers(0, 31)))


# --------------------------------------------------------------------------- records


def assert_round_trip(encode: Callable[[T], bytes], parse: Callable[[bytes], T], value: T) -> bytes:
    """``parse(encode(value)) == value``; the encoded bytes, for further checks."""
    payload = encode(value)
    assert parse(payload) == value
    return payload


def measurements_json(decoded: Decoded) -> list[dict[str, Any]]:
    """The decoded measurements as JSON, to compare whole."""
    return [m.to_json() for m in decoded.measurements]


def measurement_json(
    kind: str, value: float | None, *, unit: str, loinc: str | None, **fields: Any
) -> dict[str, Any]:
    """A Measurement as JSON: ``fields`` over the defaults of everything not given."""
    out: dict[str, Any] = {
        "kind": kind,
        "value": value,
        "unit": unit,
        "loinc": loinc,
        "measured_at": None,
        "flags": [],
        "special": None,
        "original": None,
        "sequence": None,
        "user_id": None,
        "context": {},
        "device": None,
        "decimals": None,
    }
    out.update(fields)
    return out


def places(value: float) -> int:
    """Decimals of a test vector's value as the device sent it, for vectors whose whole
    numbers were sent with exponent 0 (60.0 -> 0, 18.9 -> 1, 0.00095 -> 5)."""
    if float(value).is_integer():
        return 0
    return -Decimal(repr(value)).as_tuple().exponent  # type: ignore[operator]


def sfloat_json(value: float | str, mantissa: int, exponent: int = 0) -> dict[str, Any]:
    """An SFLOAT/FLOAT field as a record holds it."""
    return {"value": value, "mantissa": mantissa, "exponent": exponent}


# --------------------------------------------------------------------------- examples, CLI


def decode_examples(spec: ProtocolSpec) -> list[Decoded]:
    """Every example the spec lists, decoded with the spec's decoder."""
    return [spec.decode(example) for example in spec.examples]


def assert_examples_and_truncation(spec: ProtocolSpec) -> None:
    """Each example decodes, each shorter prefix is IncompleteFrame, a byte more FrameError."""
    for example in spec.examples:
        spec.decode(example)
        for cut in range(len(example)):
            with pytest.raises(IncompleteFrame):
                spec.decode(example[:cut])
        with pytest.raises(FrameError):
            spec.decode(example + b"\x00")


def escaped(frame: bytes) -> str:
    """``frame`` as a text payload for ``cart decode``: backslash escapes for the raw bytes."""
    return codecs.escape_encode(frame)[0].decode("ascii")


def cli_decode(
    capsys: pytest.CaptureFixture[str], protocol_id: str, payload: str, *, hex: bool = False
) -> dict[str, Any]:
    """``cart decode [--hex] protocol_id payload`` in-process: exit code 0, the JSON printed."""
    return _run_decode(capsys, protocol_id, payload, hex=hex, exit_code=0)


def cli_error(
    capsys: pytest.CaptureFixture[str], protocol_id: str, payload: str, *, hex: bool = False
) -> str:
    """``cart decode`` on a bad payload: exit code 1, the error type the JSON names."""
    out = _run_decode(capsys, protocol_id, payload, hex=hex, exit_code=1)
    error_type: str = out["error"]["type"]
    return error_type


def _run_decode(
    capsys: pytest.CaptureFixture[str], protocol_id: str, payload: str, *, hex: bool, exit_code: int
) -> dict[str, Any]:
    args = ["decode", "--hex", protocol_id, payload] if hex else ["decode", protocol_id, payload]
    assert main(args) == exit_code
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out

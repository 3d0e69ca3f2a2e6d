"""Modbus register maps: numbering, word/byte order, scaling, status bits, inverse encoding.

Vectors:
- CAS CI-600D manual p.82 "List of usable registers": gross weight 40008 (H) / 40009 (L),
  net 40010 / 40011, 32-bit, high word first (register numbers verbatim; the weight
  values are DERIVED).
- Eagle EI-2000 manual p.42 / EI-4000 p.30 register list: float32 gross weight ch.1 at
  0x1000 (lb) / 0x2000 (kg), net at 0x1008 / 0x2008, +2 per channel.
- CAI 700/750 manual p.180 (a float32 instrument with the low word first): registers
  ``33 33`` ``41 8F`` read as 17.9 and ``52 2C`` ``44 9A`` as 1234.56789 (verbatim).
- Modicon PI-MBUS-300 read example: register 40108 is PDU address 0x006B.
- Tuna ID551PN manual p.22 (via ../shared/protocols-serial.md): a status word with
  motion / over-capacity / under-zero / data-OK bits (model for :class:`StatusBits`).
- Every conversion is cross-checked against pymodbus 3.16's
  ``ModbusClientMixin.convert_from_registers`` / ``convert_to_registers``.
"""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart.errors import ConfigError, FrameError
from cart.measurement import Measurement, MeasurementKind
from cart.protocols import modbus_rtu
from cart.protocols.modbus_maps import (
    PROFILES,
    RegisterMap,
    StatusBits,
    address_to_register_number,
    build_map,
    cas_ci600d,
    eagle_ei,
    float32_to_registers,
    height_rod,
    int_to_registers,
    register_number_to_address,
    registers_to_float32,
    registers_to_int,
)

W = MeasurementKind.BODY_WEIGHT


@pytest.mark.parametrize(
    ("number", "address"),
    [
        (40001, 0),
        (40008, 7),  # CAS CI-600D gross weight H
        (40010, 9),  # CAS CI-600D net weight H
        (40108, 0x6B),  # Modicon PI-MBUS-300 example
        (49999, 9998),
        (400001, 0),
        (465536, 65535),
        (30001, 0),
        (10001, 0),
        (1, 0),
    ],
)
def test_register_number_to_address(number, address):
    assert register_number_to_address(number) == address


@pytest.mark.parametrize("number", [0, 40000, 20001, 50000, 99999, 400000, 465537, 500001, -1])
def test_register_number_rejects_non_register_numbers(number):
    with pytest.raises(ConfigError):
        register_number_to_address(number)


def test_address_to_register_number():
    assert address_to_register_number(7) == 40008
    assert address_to_register_number(0, table=3) == 30001
    assert address_to_register_number(20000) == 420001
    assert register_number_to_address(address_to_register_number(20000)) == 20000
    with pytest.raises(ConfigError):
        address_to_register_number(70000)


# --------------------------------------------------------------------------- conversions


def test_cai_manual_float_vectors_low_word_first():
    # CAI 750 manual p.180: "41 8F 33 33 hex, or 17.9" arrives as registers 3333, 418F
    assert registers_to_float32([0x3333, 0x418F], word_order="little") == pytest.approx(17.9)
    assert registers_to_float32([0x522C, 0x449A], word_order="little") == pytest.approx(
        1234.56789, rel=1e-7
    )
    assert float32_to_registers(17.9, word_order="little") == [0x3333, 0x418F]


def test_byte_swapped_orders():
    # 0x418F3333 in the four layouts ABCD, CDAB, BADC, DCBA
    assert registers_to_float32([0x418F, 0x3333]) == pytest.approx(17.9)
    assert registers_to_float32([0x3333, 0x418F], word_order="little") == pytest.approx(17.9)
    assert registers_to_float32([0x8F41, 0x3333], byte_order="little") == pytest.approx(17.9)
    assert registers_to_float32(
        [0x3333, 0x8F41], word_order="little", byte_order="little"
    ) == pytest.approx(17.9)
    assert registers_to_int([0x0000, 0x1B8A]) == 7050
    assert registers_to_int([0x1B8A, 0x0000], word_order="little") == 7050
    assert registers_to_int([0xFFFF, 0xFFFE]) == -2
    assert registers_to_int([0xFFFF, 0xFFFE], signed=False) == 0xFFFFFFFE
    assert int_to_registers(-2) == [0xFFFF, 0xFFFE]
    assert int_to_registers(-2, width=1) == [0xFFFE]


@pytest.mark.parametrize(
    "call",
    [
        lambda: registers_to_int([1, 2, 3]),
        lambda: registers_to_int([0x10000]),
        lambda: registers_to_float32([1]),
    ],
)
def test_bad_register_blocks_are_frame_errors(call):
    with pytest.raises(FrameError):
        call()


def test_values_that_do_not_fit_are_refused():
    with pytest.raises(ValueError):
        int_to_registers(1 << 40)
    with pytest.raises(ValueError):
        int_to_registers(70000, width=1, signed=False)
    with pytest.raises(ValueError):
        float32_to_registers(1e300)


@settings(max_examples=200)
@given(
    value=st.integers(-(2**31), 2**31 - 1),
    word_order=st.sampled_from(["big", "little"]),
)
def test_int32_matches_pymodbus(value, word_order):
    from pymodbus.client.mixin import ModbusClientMixin as M

    regs = int_to_registers(value, word_order=word_order)
    assert regs == M.convert_to_registers(value, M.DATATYPE.INT32, word_order=word_order)
    assert registers_to_int(regs, word_order=word_order) == value
    assert M.convert_from_registers(regs, M.DATATYPE.INT32, word_order=word_order) == value


@settings(max_examples=200)
@given(
    value=st.floats(width=32, allow_nan=False),
    word_order=st.sampled_from(["big", "little"]),
)
def test_float32_matches_pymodbus(value, word_order):
    from pymodbus.client.mixin import ModbusClientMixin as M

    regs = float32_to_registers(value, word_order=word_order)
    assert regs == M.convert_to_registers(value, M.DATATYPE.FLOAT32, word_order=word_order)
    assert registers_to_float32(regs, word_order=word_order) == value


# --------------------------------------------------------------------------- profiles


def test_cas_ci600d_map():
    gross = cas_ci600d()
    assert (gross.address, gross.count, gross.register_number) == (7, 2, 40008)
    assert cas_ci600d(reading="net").address == 9
    # DERIVED: 70.50 kg with 2 decimals = raw 7050 = 0x00001B8A, high word first
    # the register scale is the precision: 7050 at 2 decimals is 70.50, 705 at 1 is 70.5
    assert gross.decode([0x0000, 0x1B8A]) == [Measurement.create(W, 70.5, "kg", decimals=2)]
    assert cas_ci600d(decimals=1).decode([0x0000, 0x02C1]) == [
        Measurement.create(W, 70.5, decimals=1)
    ]
    assert cas_ci600d(word_order="little").decode([0x1B8A, 0x0000])[0].value == 70.5
    # negative gross weight (platform unloaded below zero): signed
    assert gross.decode([0xFFFF, 0xFFF6])[0].value == -0.1
    assert gross.encode(Measurement.create(W, 70.5)) == [0x0000, 0x1B8A]
    lb = cas_ci600d(unit="lb").decode([0x0000, 0x3CB7])[0]  # 155.43 lb
    assert lb.value == pytest.approx(70.502, abs=0.001)
    assert lb.original is not None
    assert lb.original.unit == "[lb_av]"


def test_eagle_ei_map():
    assert eagle_ei().address == 0x2000
    assert eagle_ei(unit="lb").address == 0x1000
    assert eagle_ei(reading="net").address == 0x2008
    assert eagle_ei(channel=2).address == 0x2002
    assert eagle_ei(channel=4, reading="net", unit="lb").address == 0x100E
    kg = eagle_ei()
    assert kg.count == 2
    (m,) = kg.decode(float32_to_registers(70.45))
    assert m.value == 70.45  # float32 noise dropped (70.4499969...)
    # CAI low-word-first vector read through an Eagle profile set to that word order
    assert eagle_ei(word_order="little").decode([0x3333, 0x418F])[0].value == 17.9
    (lb,) = eagle_ei(unit="lb").decode(float32_to_registers(155.43))
    assert lb.value == pytest.approx(70.502, abs=0.001)


@pytest.mark.parametrize(
    ("value", "special", "flags"),
    [(math.nan, "nan", ()), (math.inf, "+inf", ("overload",)), (-math.inf, "-inf", ("underload",))],
)
def test_float_specials_are_never_numbers(value, special, flags):
    (m,) = eagle_ei().decode(float32_to_registers(value))
    assert m.value is None
    assert m.special == special
    assert m.flags == flags


def test_height_rod_map():
    rod = height_rod()
    assert (rod.address, rod.count, rod.register_number) == (0, 2, 40001)
    (m,) = rod.decode([1705, 0x0000])  # DERIVED: 1705 mm, status clear
    assert (m.kind, m.value, m.unit) == (MeasurementKind.BODY_HEIGHT, 170.5, "cm")
    assert m.original is not None
    assert (m.original.value, m.original.unit) == (1705.0, "mm")
    assert rod.decode([1698, 0x0001])[0].flags == ("unstable",)
    assert rod.decode([0, 0x0002]) == []  # no target under the rod
    (over,) = rod.decode([0, 0x0004])
    assert (over.value, over.special, over.flags) == (None, "+inf", ("overload",))
    assert height_rod(register=40101).address == 100
    assert height_rod(unit="cm", decimals=1).decode([1705, 0])[0].value == 170.5
    assert height_rod(with_status=False).count == 1


def test_height_rod_encode_is_the_inverse():
    rod = height_rod()
    assert rod.encode(Measurement.create(MeasurementKind.BODY_HEIGHT, 170.5)) == [1705, 0]
    assert rod.encode(170.0 * 10, flags=["unstable"]) == [1700, 0x0001]
    assert rod.encode(None) == [0, 0x0002]
    over = Measurement.create(MeasurementKind.BODY_HEIGHT, None, special="+inf")
    assert rod.encode(over) == [0, 0x0004]
    assert rod.decode(rod.encode(over)) == [
        Measurement.create(MeasurementKind.BODY_HEIGHT, None, special="+inf", flags=["overload"])
    ]


def test_tuna_style_status_word_with_data_ok_bit():
    # Tuna ID551PN: bit 15 data OK, bit 12 motion, bit 10 over capacity, bit 9 under zero
    tuna = RegisterMap(
        name="tuna",
        kind=W,
        address=register_number_to_address(40001),
        datatype="float32",
        status=StatusBits(
            offset=4, valid=1 << 15, unstable=1 << 12, overload=1 << 10, underload=1 << 9
        ),
    )
    assert tuna.count == 5
    ok = [*float32_to_registers(70.5), 0, 0, 1 << 15]
    assert tuna.decode(ok) == [Measurement.create(W, 70.5)]
    assert tuna.decode([*float32_to_registers(70.5), 0, 0, 0]) == []
    moving = [*float32_to_registers(70.5), 0, 0, 1 << 15 | 1 << 12]
    assert tuna.decode(moving)[0].flags == ("unstable",)
    under = [*float32_to_registers(-1.0), 0, 0, 1 << 15 | 1 << 9]
    assert tuna.decode(under)[0].special == "-inf"
    assert tuna.encode(70.5, flags=["unstable"]) == moving


def test_integer_map_cannot_invent_a_status_it_does_not_have():
    with pytest.raises(ValueError):
        cas_ci600d().encode(Measurement.create(W, None, special="+inf"))
    with pytest.raises(ValueError):
        cas_ci600d().encode(None)
    with pytest.raises(ValueError):
        cas_ci600d().encode(Measurement.create(MeasurementKind.BODY_HEIGHT, 170.0))
    with pytest.raises(ValueError):
        cas_ci600d(decimals=2).encode(1e9)  # 1e11 does not fit 32 bits


def test_wrong_block_size_is_a_frame_error():
    with pytest.raises(FrameError):
        cas_ci600d().decode([7050])
    with pytest.raises(FrameError):
        height_rod().decode([1705])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"datatype": "int64"},
        {"address": 70000},
        {"word_order": "middle"},
        {"decimals": 9},
        {"datatype": "float32", "decimals": 1},
        {"function": 6},
        {"unit": "mmHg"},
        {"value_offset": 0, "status": StatusBits(offset=1)},
        {"address": 0xFFFF},
    ],
)
def test_bad_maps_are_config_errors(kwargs):
    base = {"name": "x", "kind": W, "address": 0}
    with pytest.raises(ConfigError):
        RegisterMap(**{**base, **kwargs})


def test_build_map_from_config():
    assert build_map("cas_ci600d", decimals=1) == cas_ci600d(decimals=1)
    assert set(PROFILES) == {"cas_ci600d", "eagle_ei", "height_rod"}
    with pytest.raises(ConfigError):
        build_map("seca_264")
    with pytest.raises(ConfigError):
        build_map("eagle_ei", colour="red")
    with pytest.raises(ConfigError):
        build_map("eagle_ei", channel=5)
    with pytest.raises(ConfigError):
        build_map("cas_ci600d", reading="tare")


def test_record_for_the_raw_log():
    record = cas_ci600d().record([0x0000, 0x1B8A])
    assert record == {
        "map": "cas_ci600d",
        "address": 7,
        "register_number": 40008,
        "registers": [0, 0x1B8A],
        "raw": 7050,
        "status": None,
        "reading": "gross",
    }
    assert eagle_ei().record(float32_to_registers(math.inf))["raw"] == "inf"


# --------------------------------------------------------------------------- round trips


@settings(max_examples=200)
@given(
    centi=st.integers(-99999, 9_999_999),
    decimals=st.integers(0, 3),
    word_order=st.sampled_from(["big", "little"]),
    reading=st.sampled_from(["gross", "net"]),
)
def test_cas_round_trip(centi, decimals, word_order, reading):
    m = cas_ci600d(decimals=decimals, word_order=word_order, reading=reading)
    value = centi / 10**decimals
    (decoded,) = m.decode(m.encode(value))
    assert decoded.value == pytest.approx(value, abs=1e-9)


@settings(max_examples=200)
@given(
    tenths=st.integers(0, 5000),
    word_order=st.sampled_from(["big", "little"]),
    byte_order=st.sampled_from(["big", "little"]),
    unit=st.sampled_from(["kg", "lb"]),
)
def test_eagle_round_trip(tenths, word_order, byte_order, unit):
    m = eagle_ei(word_order=word_order, byte_order=byte_order, unit=unit)
    weight = Measurement.create(W, tenths / 10)
    (decoded,) = m.decode(m.encode(weight))
    assert decoded.value == pytest.approx(weight.value, abs=0.001)


@settings(max_examples=100)
@given(mm=st.integers(0, 65535), flags=st.sampled_from([(), ("unstable",)]))
def test_height_rod_round_trip(mm, flags):
    rod = height_rod()
    (decoded,) = rod.decode(rod.encode(float(mm), flags=flags))
    assert decoded.value == pytest.approx(mm / 10)
    assert decoded.flags == flags


@settings(max_examples=100)
@given(st.lists(st.integers(0, 0xFFFF), min_size=0, max_size=6))
def test_random_blocks_only_raise_frame_error(registers):
    for m in (cas_ci600d(), eagle_ei(), height_rod()):
        with contextlib.suppress(FrameError):
            m.decode(registers)


def test_through_the_wire_with_modbus_rtu():
    """Simulator side encodes a block, the driver side reads it from an RTU response."""
    rod = height_rod()
    request = modbus_rtu.encode_read_request(7, rod.address, rod.count, function=rod.function)
    assert modbus_rtu.parse_adu(request).address == 0  # register 40001
    served = rod.encode(Measurement.create(MeasurementKind.BODY_HEIGHT, 162.3))
    response = modbus_rtu.encode_read_registers_response(7, served)
    adu = modbus_rtu.parse_adu(response)
    assert adu.registers is not None
    assert rod.decode(adu.registers)[0].value == 162.3

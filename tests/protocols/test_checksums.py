"""Checksum helpers shared by the serial formats (cart/protocols/_checksums.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cart.protocols._checksums import astm_checksum, crc16_modbus, crc_ccitt, sum8, sum16


def _crc_ccitt_bitwise(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def _crc_modbus_bitwise(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def test_crc_ccitt_check_value() -> None:
    # CRC RevEng catalogue, CRC-16/IBM-3740 (a.k.a. CCITT-FALSE): check = 0x29B1.
    assert crc_ccitt(b"123456789") == 0x29B1


def test_crc_ccitt_lifescan_vectors() -> None:
    # glucometers-tech/glucometerutils glucometerutils/support/tests/test_lifescan.py
    assert crc_ccitt(b"\x02\x06\x06\x03") == 0x41CD
    assert crc_ccitt(bytearray(b"\x02\x06\x08\x03")) == 0x62C2


def test_crc16_modbus_check_value() -> None:
    # CRC RevEng catalogue, CRC-16/MODBUS: check = 0x4B37.
    assert crc16_modbus(b"123456789") == 0x4B37


def test_crc16_modbus_frames() -> None:
    # shared/protocols-serial.md §2, pymodbus 3.16 trial run (verbatim capture):
    # request 01 03 00 00 00 03 05 cb, response 01 03 06 00 00 1c 43 00 01 16 f1.
    request = bytes.fromhex("010300000003")
    assert crc16_modbus(request).to_bytes(2, "little") == bytes.fromhex("05cb")
    response = bytes.fromhex("01030600001c430001")
    assert crc16_modbus(response).to_bytes(2, "little") == bytes.fromhex("16f1")


def test_sum16_onetouch_vectors() -> None:
    # glucometers-tech/glucometerutils glucometerutils/drivers/tests/test_otultra2.py
    assert sum16(b"T") == 0x0054
    assert sum16(b'T "SAT","08/03/13","22:12:00   "') == 0x0608
    assert sum16(b"\xff" * 300) == (0xFF * 300) & 0xFFFF


def test_sum8_taidoc_vector() -> None:
    # glucometers-tech/glucometerutils glucometerutils/drivers/tests/test_td42xx.py:
    # _make_packet(0x22, 0) == 51 22 00 00 00 00 a3 16
    assert sum8(bytes.fromhex("512200000000a3")) == 0x16


def test_astm_checksum_contour_header() -> None:
    # glucometers-tech/glucometerutils glucometerutils/drivers/tests/test_contourusb.py:
    # the header frame ends "...201909221304\r\x17D7\r\n"; the sum runs from FN through ETB.
    text = (
        b"1H|\\^&||7w3LBL|Bayer7390^01.24\\01.04\\09.02.20^7390-2336773^7403-|A=1^C=63^G=1^"
        b"I=0200^R=0^S=1^U=0^V=10600^X=070070070070180130150250^Y=360126090050099050300089^"
        b"Z=1|1714||||||1|201909221304\r\x17"
    )
    assert astm_checksum(text) == 0xD7


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_crcs_match_bitwise_reference(data: bytes) -> None:
    assert crc_ccitt(data) == _crc_ccitt_bitwise(data)
    assert crc16_modbus(data) == _crc_modbus_bitwise(data)


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_crc_residue(data: bytes) -> None:
    # Appending the CRC in the format's byte order leaves a zero remainder.
    assert crc16_modbus(data + crc16_modbus(data).to_bytes(2, "little")) == 0
    assert crc_ccitt(data + crc_ccitt(data).to_bytes(2, "big")) == 0

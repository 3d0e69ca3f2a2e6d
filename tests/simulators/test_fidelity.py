"""Simulator fidelity: behaviour a client the project did not write relies on.

Each test drives a simulator through its real transport (a pty opened with pyserial, or
bumble's virtual radio through bleak) and checks the bytes a real device would send.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import serial
from bleak import BleakClient, BleakScanner
from bleak.uuids import normalize_uuid_16

from cart.drivers.bumble_bleak import BumbleAdapter
from cart.protocols import onetouch_ultraeasy as ue
from cart.protocols.ble_racp import RacpRequest, encode_racp
from simulators.ble.config import GlucometerConfig as BleGlucometerConfig
from simulators.ble.world import start_virtual_ble_world
from simulators.serial_glucometer import (
    ContourSimulator,
    GlucometerConfig,
    UltraEasySimulator,
)

RACP = normalize_uuid_16(0x2A52)
ENQ, ACK, STX = b"\x05", b"\x06", b"\x02"


async def read_until(port: serial.Serial, predicate: Any, limit: int = 4096) -> bytes:
    """Bytes from the pty until ``predicate(buffer)`` holds (pyserial in a thread)."""
    buffer = b""
    while not predicate(buffer) and len(buffer) < limit:
        chunk = await asyncio.to_thread(port.read, 1)
        if not chunk:
            break
        buffer += chunk
    return buffer


async def test_contour_header_carries_a_real_meters_configuration_fields(no_leaked_tasks):
    async with ContourSimulator(GlucometerConfig.fast()) as meter:
        with serial.Serial(meter.port, 9600, timeout=5) as port:
            assert await read_until(port, lambda b: ENQ in b) == ENQ
            port.write(ACK)
            frame = await read_until(port, lambda b: b.endswith(b"\r\n"))
    assert frame.startswith(STX + b"1H|")
    header = frame.decode("ascii")
    # the meter-configuration field of a Contour USB (glucometerutils test_contourusb.py)
    config = header.split("|")[5]
    keys = [item.split("=")[0] for item in config.split("^")]
    assert keys == ["A", "C", "G", "I", "R", "S", "U", "V", "X", "Y", "Z"]
    assert "X=070070070070180130150250" in config
    assert "Y=360126090050099050300089" in config


def test_ultraeasy_fast_mode_waits_half_a_second_before_resending():
    assert GlucometerConfig.fast().retransmit_s >= 0.5
    assert GlucometerConfig().retransmit_s >= 0.5


async def test_ultraeasy_slow_client_gets_no_duplicate_response(no_leaked_tasks):
    """A client that takes 0.3 s to ACK (Python on a busy cart) sees each response once."""
    host = ue.UltraEasyLink()
    async with UltraEasySimulator(GlucometerConfig.fast()) as meter:
        with serial.Serial(meter.port, 9600, timeout=3) as port:
            port.write(host.disconnect())
            host.feed(await read_until(port, lambda b: len(b) >= 6))
            assert isinstance(host.next_event(), ue.DisconnectAcknowledged)

            port.write(host.send(ue.request_version()))
            host.feed(await read_until(port, lambda b: len(b) >= 6))  # the meter's ACK
            assert isinstance(host.next_event(), ue.AckReceived)
            response = await read_until(port, lambda b: len(b) > 2 and len(b) >= b[1])
            host.feed(response)
            event = host.next_event()
            assert isinstance(event, ue.MessageReceived)
            await asyncio.sleep(0.3)  # the slow client, still inside the meter's margin
            port.write(event.reply)

            port.write(host.send(ue.request_serial_number()))
            following = await read_until(port, lambda b: len(b) >= 6)
            host.feed(following)
            # the next thing on the wire is the ACK of the new request, not a resend
            assert isinstance(host.next_event(), ue.AckReceived)
    assert meter.replies == 2  # version, serial number: nothing retransmitted


# --------------------------------------------------------------------------- RACP


async def _racp_client(fn: Any) -> None:
    world = await start_virtual_ble_world(fast=True, glucometer=BleGlucometerConfig.fast())
    adapter = await BumbleAdapter.open_on_link(world.link)
    try:
        assert world.glucometer is not None
        device = await BleakScanner.find_device_by_address(
            world.glucometer.address, timeout=5, backend=adapter.scanner_backend
        )
        assert device is not None
        async with BleakClient(device, timeout=5, backend=adapter.client_backend) as client:
            await fn(client)
    finally:
        await adapter.close()
        await world.stop()


@pytest.mark.parametrize("operator", [0x07, 0x42, 0xFF])
async def test_racp_reserved_operator_is_operator_not_supported(operator: int):
    answers: asyncio.Queue[bytes] = asyncio.Queue()

    async def run(client: BleakClient) -> None:
        await client.start_notify(RACP, lambda _c, data: answers.put_nowait(bytes(data)))
        await client.write_gatt_char(RACP, bytes([0x01, operator]), response=True)
        assert await asyncio.wait_for(answers.get(), 5) == bytes([0x06, 0x00, 0x01, 0x04])
        # a known operator that does not fit the op code stays "invalid operator" (0x03)
        await client.write_gatt_char(RACP, bytes([0x01, 0x00]), response=True)
        assert await asyncio.wait_for(answers.get(), 5) == bytes([0x06, 0x00, 0x01, 0x03])

    await _racp_client(run)


async def test_racp_request_written_the_moment_a_response_arrives_is_served():
    """No 0xFE "procedure already in progress" for a request sent right after a response."""
    answers: asyncio.Queue[bytes] = asyncio.Queue()
    written: list[asyncio.Task[None]] = []

    async def run(client: BleakClient) -> None:
        def on_racp(_c: Any, data: bytearray) -> None:
            answers.put_nowait(bytes(data))
            if len(written) < 3:  # write the next request from inside the indication
                written.append(
                    asyncio.ensure_future(
                        client.write_gatt_char(
                            RACP, encode_racp(RacpRequest.count_all()), response=True
                        )
                    )
                )

        await client.start_notify(RACP, on_racp)
        await client.write_gatt_char(RACP, encode_racp(RacpRequest.count_all()), response=True)
        got = [await asyncio.wait_for(answers.get(), 5) for _ in range(4)]
        await asyncio.gather(*written)  # an ATT error 0xFE would raise here
        assert got == [bytes.fromhex("05000300")] * 4

    await _racp_client(run)

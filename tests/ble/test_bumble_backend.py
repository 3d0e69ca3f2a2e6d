"""bleak's public API over the bumble backend, against the simulators' GATT servers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError, BleakGATTProtocolError, BleakGATTProtocolErrorCode
from bleak.uuids import normalize_uuid_16

from cart.drivers.bumble_bleak import (
    BleakClientBumble,
    BleakScannerBumble,
    BumbleAdapter,
    BumblePairingError,
    BumbleTransportError,
    set_default_adapter,
)
from cart.protocols.ble_racp import RacpRequest, encode_racp
from cart.protocols.ble_time import parse_current_time
from simulators.ble.config import (
    BloodPressureConfig,
    GlucometerConfig,
    WeightScaleConfig,
)

WEIGHT_SCALE = normalize_uuid_16(0x181D)
GLUCOSE = normalize_uuid_16(0x1808)


async def test_scan_reports_names_services_and_filters_by_service(ble: Any) -> None:
    env = await ble()
    scanner_backend = env.adapter.scanner_backend

    found = await BleakScanner.discover(timeout=0.3, return_adv=True, backend=scanner_backend)
    by_name = {adv.local_name: (device, adv) for device, adv in found.values()}
    assert set(by_name) == {p.name for p in env.world.peripherals}
    device, adv = by_name[env.world.scale.name]
    assert device.address == env.world.scale.address
    assert adv.service_uuids == [WEIGHT_SCALE]
    assert adv.rssi < 0

    only_glucose = await BleakScanner.discover(
        timeout=0.3, service_uuids=[GLUCOSE], backend=scanner_backend
    )
    assert [d.address for d in only_glucose] == [env.world.glucometer.address]

    by_address = await BleakScanner.find_device_by_address(
        env.world.bp.address.lower(), timeout=2, backend=scanner_backend
    )
    assert by_address is not None
    assert by_address.name == env.world.bp.name


async def test_connect_discover_read_write_notify_and_peer_disconnect(ble: Any) -> None:
    env = await ble(scale=WeightScaleConfig.fast(clock_skew_s=120.0))
    scale = env.world.scale
    device = await BleakScanner.find_device_by_name(
        scale.name, timeout=2, backend=env.adapter.scanner_backend
    )
    assert device is not None
    dropped = asyncio.Event()

    client = BleakClient(
        device, lambda _c: dropped.set(), timeout=5, backend=env.adapter.client_backend
    )
    await client.connect()
    try:
        assert client.is_connected
        assert client.backend_id == "BleakClientBumble"
        assert client.mtu_size > 23
        services = {s.uuid for s in client.services}
        assert {WEIGHT_SCALE, normalize_uuid_16(0x1805), normalize_uuid_16(0x180A)} <= services
        measurement = client.services.get_characteristic(normalize_uuid_16(0x2A9D))
        assert measurement is not None
        assert measurement.properties == ["indicate"]
        assert [d.uuid for d in measurement.descriptors] == [normalize_uuid_16(0x2902)]

        maker = await client.read_gatt_char(normalize_uuid_16(0x2A29))
        assert maker == bytearray(b"MIDO Simulators")

        time_before = parse_current_time(bytes(await client.read_gatt_char("2a2b")))
        assert time_before.date_time.to_datetime() is not None
        await client.write_gatt_char("2a2b", b"\xe8\x07\x05\x0a\x09\x0f\x00\x05\x00\x01")
        assert scale.clock.now().year == 2024
        assert await client.read_gatt_char("2a2b", use_cached=True) is not None

        values: asyncio.Queue[bytes] = asyncio.Queue()
        await client.start_notify(measurement, lambda _c, data: values.put_nowait(bytes(data)))
        indicated = await asyncio.wait_for(values.get(), 5)
        assert indicated == scale.sent[-1]

        await asyncio.wait_for(dropped.wait(), 5)  # the scale switches its radio off
        assert not client.is_connected
        with pytest.raises(BleakError):
            await client.read_gatt_char(normalize_uuid_16(0x2A29))
    finally:
        await client.disconnect()


async def test_local_disconnect_does_not_call_the_disconnected_callback(ble: Any) -> None:
    env = await ble(bp=BloodPressureConfig.fast())
    calls: list[object] = []
    device = await BleakScanner.find_device_by_name(
        env.world.bp.name, timeout=2, backend=env.adapter.scanner_backend
    )
    async with BleakClient(
        device, calls.append, timeout=5, backend=env.adapter.client_backend
    ) as client:
        assert client.is_connected
    assert not client.is_connected
    await asyncio.sleep(0.05)
    assert calls == []


async def test_att_errors_surface_as_bleak_gatt_protocol_errors(ble: Any) -> None:
    env = await ble(glucometer=GlucometerConfig.fast())
    device = await BleakScanner.find_device_by_address(
        env.world.glucometer.address, timeout=2, backend=env.adapter.scanner_backend
    )
    async with BleakClient(device, timeout=5, backend=env.adapter.client_backend) as client:
        racp = normalize_uuid_16(0x2A52)
        with pytest.raises(BleakGATTProtocolError) as caught:  # indications not enabled yet
            await client.write_gatt_char(racp, encode_racp(RacpRequest.report_all()))
        assert caught.value.code is BleakGATTProtocolErrorCode.CCCD_IMPROPERLY_CONFIGURED

        answers: asyncio.Queue[bytes] = asyncio.Queue()
        await client.start_notify(racp, lambda _c, data: answers.put_nowait(bytes(data)))
        await client.write_gatt_char(racp, encode_racp(RacpRequest.count_all()))
        assert await asyncio.wait_for(answers.get(), 5) == bytes.fromhex("05000300")
        await client.stop_notify(racp)


async def test_encryption_required_and_pairing(ble: Any) -> None:
    env = await ble(scale=WeightScaleConfig.fast(pairing_required=True))
    device = await BleakScanner.find_device_by_address(
        env.world.scale.address, timeout=2, backend=env.adapter.scanner_backend
    )
    async with BleakClient(device, timeout=5, backend=env.adapter.client_backend) as client:
        with pytest.raises(BleakGATTProtocolError) as caught:
            await client.start_notify("2a9d", lambda _c, _d: None)
        assert caught.value.code is BleakGATTProtocolErrorCode.INSUFFICIENT_ENCRYPTION
        await client.pair()
        await client.start_notify("2a9d", lambda _c, _d: None)  # now encrypted
        await client.unpair()
    assert not client.is_connected


async def test_refused_pairing_is_a_bumble_pairing_error(ble: Any) -> None:
    env = await ble(bp=BloodPressureConfig.fast(pairing_required=True, accept_pairing=False))
    device = await BleakScanner.find_device_by_address(
        env.world.bp.address, timeout=2, backend=env.adapter.scanner_backend
    )
    client = BleakClient(device, timeout=5, pair=True, backend=env.adapter.client_backend)
    with pytest.raises(BumblePairingError) as caught:
        await client.connect()
    assert caught.value.reason
    assert not client.is_connected


async def test_connecting_to_an_absent_address_times_out(ble: Any) -> None:
    env = await ble(scale=WeightScaleConfig.fast())
    client = BleakClient("C0:FF:EE:00:00:99", timeout=0.2, backend=env.adapter.client_backend)
    with pytest.raises(TimeoutError):
        await client.connect()
    # the controller is usable again afterwards (the cancelled attempt really ended)
    async with BleakClient(
        env.world.scale.address, timeout=5, backend=env.adapter.client_backend
    ) as client:
        assert client.is_connected


async def test_unbound_backends_need_an_adapter(ble: Any) -> None:
    env = await ble(scale=WeightScaleConfig.fast())
    with pytest.raises(BleakError, match="no bumble adapter"):
        BleakClient("C0:00:00:00:00:01", backend=BleakClientBumble)

    set_default_adapter(env.adapter)
    try:
        device = await BleakScanner.find_device_by_name(
            env.world.scale.name, timeout=2, backend=BleakScannerBumble
        )
        assert device is not None
        async with BleakClient(device, timeout=5, backend=BleakClientBumble) as client:
            assert client.is_connected
        explicit = BleakClient(device, backend=BleakClientBumble, bumble_adapter=env.adapter)
        assert explicit.address == env.world.scale.address
    finally:
        set_default_adapter(None)


async def test_closed_adapter_and_bad_transport_spec(ble: Any) -> None:
    env = await ble(scale=WeightScaleConfig.fast())
    await env.adapter.close()
    assert env.adapter.closed
    with pytest.raises(BumbleTransportError):
        await BleakScanner.discover(timeout=0.1, backend=env.adapter.scanner_backend)
    with pytest.raises(BumbleTransportError, match="cannot open HCI transport"):
        await BumbleAdapter.open("no-such-transport:0")

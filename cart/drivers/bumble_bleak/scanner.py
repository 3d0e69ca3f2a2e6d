"""bleak scanner backend over a :class:`~cart.drivers.bumble_bleak.adapter.BumbleAdapter`."""

from __future__ import annotations

from typing import Any, ClassVar, Final, Literal

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bumble.core import UUID, AdvertisingData
from bumble.device import Advertisement

from cart.drivers.bumble_bleak._common import address_to_bleak, resolve_adapter, uuid_to_bleak
from cart.drivers.bumble_bleak.adapter import BumbleAdapter

__all__ = ["BleakScannerBumble", "advertisement_data"]

#: advertising data types carrying service UUID lists, with the size of one UUID
_UUID_LISTS: Final = (
    (AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, 2),
    (AdvertisingData.Type.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, 2),
    (AdvertisingData.Type.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS, 4),
    (AdvertisingData.Type.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS, 4),
    (AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, 16),
    (AdvertisingData.Type.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, 16),
)
#: advertising data types carrying service data, with the size of the UUID in front
_SERVICE_DATA: Final = (
    (AdvertisingData.Type.SERVICE_DATA_16_BIT_UUID, 2),
    (AdvertisingData.Type.SERVICE_DATA_32_BIT_UUID, 4),
    (AdvertisingData.Type.SERVICE_DATA_128_BIT_UUID, 16),
)


def advertisement_data(advertisement: Advertisement) -> AdvertisementData:
    """Translate a bumble advertisement (with its scan response merged) to bleak's shape."""
    data = advertisement.data
    local_name: str | None = None
    for name_type in (
        AdvertisingData.Type.COMPLETE_LOCAL_NAME,
        AdvertisingData.Type.SHORTENED_LOCAL_NAME,
    ):
        names = data.get_all(name_type, raw=True)
        if names:
            local_name = names[0].decode("utf-8", errors="replace")
            break
    service_uuids: list[str] = []
    for list_type, size in _UUID_LISTS:
        for raw in data.get_all(list_type, raw=True):
            for offset in range(0, len(raw) - size + 1, size):
                text = uuid_to_bleak(UUID.from_bytes(raw[offset : offset + size]))
                if text not in service_uuids:
                    service_uuids.append(text)
    service_data: dict[str, bytes] = {}
    for data_type, size in _SERVICE_DATA:
        for raw in data.get_all(data_type, raw=True):
            if len(raw) >= size:
                service_data[uuid_to_bleak(UUID.from_bytes(raw[:size]))] = raw[size:]
    manufacturer_data: dict[int, bytes] = {}
    for raw in data.get_all(AdvertisingData.Type.MANUFACTURER_SPECIFIC_DATA, raw=True):
        if len(raw) >= 2:
            manufacturer_data[int.from_bytes(raw[:2], "little")] = raw[2:]
    tx_levels = data.get_all(AdvertisingData.Type.TX_POWER_LEVEL, raw=True)
    tx_power: int | None = (
        int.from_bytes(tx_levels[0][:1], "little", signed=True) if tx_levels else None
    )
    if tx_power is None and advertisement.tx_power != Advertisement.TX_POWER_NOT_AVAILABLE:
        tx_power = advertisement.tx_power
    return AdvertisementData(
        local_name=local_name,
        manufacturer_data=manufacturer_data,
        service_data=service_data,
        service_uuids=service_uuids,
        tx_power=tx_power,
        rssi=int(advertisement.rssi),
        platform_data=(advertisement,),
    )


class BleakScannerBumble(BaseBleakScanner):
    """``BleakScanner(backend=adapter.scanner_backend)``: scans through a bumble host.

    Service-UUID filtering is done here (bleak's ``is_allowed_uuid``), as the OS backends
    do when other programs scan at the same time. Passive scanning is supported.
    """

    bumble_adapter: ClassVar[BumbleAdapter | None] = None

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._adapter = resolve_adapter(type(self), kwargs)
        self._active = scanning_mode != "passive"
        self._running = False

    async def start(self) -> None:
        self.seen_devices = {}
        await self._adapter.add_scan_listener(self._on_advertisement, active=self._active)
        self._running = True

    async def stop(self) -> None:
        if self._running:
            self._running = False
            await self._adapter.remove_scan_listener(self._on_advertisement)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        adv = advertisement_data(advertisement)
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        address = address_to_bleak(advertisement.address)
        device = self.create_or_update_device(
            str(advertisement.address), address, adv.local_name, advertisement.address, adv
        )
        self.call_detection_callbacks(device, adv)

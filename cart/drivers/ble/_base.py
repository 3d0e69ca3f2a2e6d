"""What every Bluetooth LE health-device driver shares.

Everything goes through bleak's public API (:class:`bleak.BleakScanner`,
:class:`bleak.BleakClient`); ``backend=`` (a :class:`BleBackend`) picks the operating
system's stack (``None``, production) or another bleak backend such as the bumble one
(:mod:`cart.drivers.bumble_bleak`: simulators in tests, or a USB dongle).

One reading is: scan (by address, name or the profile's service UUID), connect with
bounded retries and exponential backoff with jitter, subscribe to every characteristic the
reading needs *before* anything can trigger it, read the device clock (Current Time 0x2A2B,
else Date Time 0x2A08) into :attr:`Driver.last_clock` and, only when the device's
``set_clock`` allows it and Current Time is writable, write the cart's time to it; then
the profile's own exchange (:meth:`BleDriver._exchange`). Notifications and the
disconnect are delivered through one queue, in the order they happened, so an indication
that arrives just before a cuff drops the link is never lost.

Scales and cuffs with a memory replay stored measurements when a central connects. Each
indicated record goes through the caller's record check (and the configured user id):
a refused one is kept in ``last_raw`` and skipped, and the driver waits, reconnecting if
the device drops the link, for a fresh one until the measurement deadline; then it raises
:class:`ReadingRefused` with the last refusal.

Errors become :mod:`cart.errors` device errors with a Spanish message for the nurse:
refused security (insufficient authentication/encryption, failed pairing) is
``PairingRequired`` and is never retried; nothing partial is ever returned.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import random
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import ClassVar, Final

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakDBusError, BleakError, BleakGATTProtocolError, BleakGATTProtocolErrorCode
from bleak.uuids import normalize_uuid_16

from cart import wallclock
from cart.drivers.base import (
    DeviceInfo,
    Driver,
    Progress,
    ProgressCallback,
    ProgressStage,
    RawFrame,
    ReadingRefused,
    RecordCheck,
    Refusal,
    clock_check,
    emit,
    no_progress,
    screen_record,
)
from cart.drivers.bumble_bleak.errors import BumbleConnectionLostError, BumblePairingError
from cart.errors import (
    ConnectionFailed,
    ConnectionLost,
    DeviceError,
    DeviceNotFound,
    DeviceReportedError,
    DeviceTimeout,
    PairingRequired,
    ProtocolError,
)
from cart.measurement import DeviceIdentity, Measurement
from cart.protocols import ble_time
from cart.protocols.ble_common import DateTime

__all__ = [
    "BACKOFF_BASE_S",
    "BACKOFF_CAP_S",
    "BACKOFF_JITTER",
    "MAX_CONNECT_ATTEMPTS",
    "BleBackend",
    "BleDeviceIdentity",
    "BleDriver",
    "BleLink",
    "BleSettings",
    "backoff_delay",
    "is_pairing_error",
]

_log = logging.getLogger(__name__)

#: Connection attempts per reading before ConnectionFailed (bleak-retry-connector uses 4).
MAX_CONNECT_ATTEMPTS: Final = 3
#: First retry delay; doubles on each further retry.
BACKOFF_BASE_S: Final = 0.5
#: No retry waits longer than this.
BACKOFF_CAP_S: Final = 4.0
#: +/- fraction of random jitter, so several carts do not retry in lock step.
BACKOFF_JITTER: Final = 0.25

CURRENT_TIME: Final = normalize_uuid_16(ble_time.CURRENT_TIME_UUID)
DATE_TIME: Final = normalize_uuid_16(ble_time.DATE_TIME_UUID)
#: Adjust Reason written with the time: "external reference time update" (bit 1).
ADJUST_REASON_EXTERNAL_REFERENCE: Final = 0x02

#: Device Information characteristics read into the identity the record memory is keyed by
DEVICE_INFORMATION: Final = {0x2A29: "manufacturer", 0x2A24: "model", 0x2A25: "serial_number"}

_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_PAIRING_GATT_CODES: Final = frozenset(
    {
        BleakGATTProtocolErrorCode.INSUFFICIENT_AUTHENTICATION,
        BleakGATTProtocolErrorCode.INSUFFICIENT_AUTHORIZATION,
        BleakGATTProtocolErrorCode.INSUFFICIENT_ENCRYPTION,
        BleakGATTProtocolErrorCode.INSUFFICIENT_ENCRYPTION_KEY_SIZE,
    }
)
_PAIRING_DBUS_ERRORS: Final = frozenset(
    {
        "org.bluez.Error.AuthenticationFailed",
        "org.bluez.Error.AuthenticationRejected",
        "org.bluez.Error.AuthenticationCanceled",
        "org.bluez.Error.AuthenticationTimeout",
    }
)


def backoff_delay(
    attempt: int,
    *,
    base: float = BACKOFF_BASE_S,
    cap: float = BACKOFF_CAP_S,
    jitter: float = BACKOFF_JITTER,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry).

    ``base * 2**(attempt - 1)``, capped at ``cap``, then spread by +/- ``jitter`` (a
    fraction) and capped again: 0.5, 1, 2, 4, 4... seconds with the defaults.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if base < 0 or cap < 0 or not 0 <= jitter < 1:
        raise ValueError("base and cap must be >= 0 and jitter in [0, 1)")
    delay = min(cap, base * 2.0 ** min(attempt - 1, 62))
    if jitter:
        delay *= 1.0 + (rng or random).uniform(-jitter, jitter)
    return min(cap, delay)


def is_pairing_error(exc: BaseException | None) -> bool:
    """Did the device refuse us for lack of pairing/bonding (on any bleak backend)?"""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, BumblePairingError):
            return True
        if isinstance(exc, BleakGATTProtocolError) and exc.code in _PAIRING_GATT_CODES:
            return True
        if isinstance(exc, BleakDBusError) and (
            exc.dbus_error in _PAIRING_DBUS_ERRORS
            or "insufficient" in (exc.dbus_error_details or "").lower()
        ):
            return True
        exc = exc.__cause__
        seen += 1
    return False


@dataclass(frozen=True, slots=True)
class BleBackend:
    """The bleak backend classes to use; ``None`` means the operating system's stack.

    For the bumble backend: ``BleBackend(adapter.scanner_backend, adapter.client_backend)``
    or :meth:`from_bumble`.
    """

    scanner: type[BaseBleakScanner] | None = None
    client: type[BaseBleakClient] | None = None

    @classmethod
    def from_bumble(cls, adapter: object) -> BleBackend:
        """Backends bound to a :class:`cart.drivers.bumble_bleak.BumbleAdapter`."""
        from cart.drivers.bumble_bleak import BumbleAdapter

        if not isinstance(adapter, BumbleAdapter):
            raise TypeError("from_bumble() takes a BumbleAdapter")
        return cls(adapter.scanner_backend, adapter.client_backend)


@dataclass(frozen=True, slots=True)
class BleSettings:
    """Deadlines and retry policy of one BLE device."""

    scan_timeout_s: float = 15.0
    """How long to look for the device's advertisements."""
    connect_timeout_s: float = 20.0
    """One connection attempt, including service discovery (and pairing)."""
    measurement_timeout_s: float = 120.0
    """From "waiting for the patient" to the result (a cuff takes ~30-60 s)."""
    response_timeout_s: float = 30.0
    """A control-point answer (RACP) or the end of a record download."""
    connect_attempts: int = MAX_CONNECT_ATTEMPTS
    backoff_base_s: float = BACKOFF_BASE_S
    backoff_cap_s: float = BACKOFF_CAP_S
    pair: bool = False
    """Pair (or encrypt with the stored bond) right after connecting, for devices that
    only talk to bonded centrals. Without it such a device gives PairingRequired."""
    sync_time: bool = True
    """False: never write the device's Current Time, even when its ``set_clock`` allows
    it (a device known to misbehave on that write). The clock is read either way."""

    def __post_init__(self) -> None:
        for name in ("scan_timeout_s", "connect_timeout_s", "measurement_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.response_timeout_s <= 0:
            raise ValueError("response_timeout_s must be > 0")
        if self.connect_attempts < 1:
            raise ValueError("connect_attempts must be >= 1")
        if self.backoff_base_s < 0 or self.backoff_cap_s < 0:
            raise ValueError("backoff times must be >= 0")

    @classmethod
    def fast(cls, **kwargs: float | int | bool) -> BleSettings:
        """Short deadlines for simulators (tests, ``cart serve --simulate``)."""
        base: dict[str, float | int | bool] = {
            "scan_timeout_s": 5.0,
            "connect_timeout_s": 5.0,
            "measurement_timeout_s": 10.0,
            "response_timeout_s": 2.0,
            "backoff_base_s": 0.05,
            "backoff_cap_s": 0.2,
        }
        base.update(kwargs)
        return cls(**base)  # type: ignore[arg-type]


class _Lost:
    """Queue marker: the link dropped (queued after every value that arrived before)."""


_LOST: Final = _Lost()


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification or indication: the characteristic's 16-bit UUID and its value."""

    uuid16: int
    data: bytes
    received_at: datetime = field(default_factory=datetime.now)


class BleLink:
    """A connected client plus the ordered queue of its notifications and disconnect."""

    def __init__(self, driver: BleDriver) -> None:
        self._driver = driver
        self.events: asyncio.Queue[Notification | _Lost] = asyncio.Queue()
        self.lost = False
        self.client: BleakClient | None = None

    def on_disconnect(self, _client: BleakClient) -> None:
        if not self.lost:
            self.lost = True
            self.events.put_nowait(_LOST)

    def characteristic(self, uuid16: int) -> BleakGATTCharacteristic | None:
        assert self.client is not None
        return self.client.services.get_characteristic(normalize_uuid_16(uuid16))

    def require(self, uuid16: int, what: str) -> BleakGATTCharacteristic:
        found = self.characteristic(uuid16)
        if found is None:
            raise self._driver.make_error(
                DeviceReportedError,
                f"the device has no {what} characteristic (0x{uuid16:04X}); "
                f"is it the right kind of device?",
                advice_es=(
                    "El equipo configurado no es del tipo esperado: avise al técnico para "
                    "revisar la configuración"
                ),
            )
        return found

    async def subscribe(self, characteristic: BleakGATTCharacteristic, uuid16: int) -> None:
        """Notifications or indications (bleak picks and acknowledges) into the queue."""
        assert self.client is not None

        def on_value(_sender: BleakGATTCharacteristic, data: bytearray) -> None:
            self.events.put_nowait(Notification(uuid16, bytes(data)))

        await self.client.start_notify(characteristic, on_value)

    async def next(self, deadline: float, waiting_for: str) -> Notification:
        """The next notification, or ConnectionLost / DeviceTimeout at ``deadline``."""
        if self.events.empty():
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                event = await asyncio.wait_for(self.events.get(), remaining)
            except TimeoutError:
                raise self._driver.make_timeout(waiting_for) from None
        else:  # what already arrived is delivered even past the deadline
            event = self.events.get_nowait()
        if isinstance(event, _Lost):
            raise self._driver.make_error(
                ConnectionLost, f"the device disconnected while waiting for {waiting_for}"
            )
        return event

    async def close(self) -> None:
        client = self.client
        if client is not None and client.is_connected:
            with contextlib.suppress(BleakError, TimeoutError, OSError):
                await client.disconnect()


@dataclass(frozen=True, slots=True)
class BleDeviceIdentity(DeviceIdentity):
    """Who measured, plus the BLE address (the record memory's key without a serial)."""

    address: str | None = None


class _RefusedAndLost(Exception):
    """Internal: the device dropped the link after sending only refused records."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


class BleDriver(Driver):
    """Base of the BLE drivers: scanning, connecting, errors, device clock.

    ``address`` or ``name`` choose the device; with neither, ``info.address`` is used (a
    ``AA:BB:CC:DD:EE:FF`` address, otherwise an advertised name) and, when that is empty
    too, the first device advertising the profile's service.
    """

    #: the profile's primary service, e.g. 0x181D; used to scan when no address/name
    SERVICE_UUID16: ClassVar[int]
    #: after a clock set, do the records this driver returns carry the new clock? (a
    #: measurement taken after connect does; a meter's stored records do not)
    STAMPS_AFTER_CONNECT: ClassVar[bool] = False

    def __init__(
        self,
        info: DeviceInfo,
        *,
        address: str | None = None,
        name: str | None = None,
        backend: BleBackend | None = None,
        settings: BleSettings | None = None,
    ) -> None:
        super().__init__(info)
        if address is None and name is None and info.address:
            if _MAC.match(info.address):
                address = info.address
            elif info.address not in ("?", ""):
                name = info.address
        self.address = address
        self.name = name
        self.backend = backend or BleBackend()
        self.settings = settings or BleSettings()
        self._lock = asyncio.Lock()
        #: device clock minus cart clock at the last clock read, in seconds
        self.last_clock_skew_s: float | None = None
        self._reading_deadline = 0.0
        #: the last refusal of this reading on an earlier connection (cuffs reconnect)
        self._carried_refusal: Refusal | None = None
        #: Device Information by address, read once (cuffs drop the link within a second)
        self._identities: dict[str, BleDeviceIdentity] = {}
        self._identity: BleDeviceIdentity | None = None
        self._rng = random.Random()

    # ------------------------------------------------------------------ measure

    async def measure(
        self, progress: ProgressCallback = no_progress, check: RecordCheck | None = None
    ) -> list[Measurement]:
        async with self._lock:
            raw: list[RawFrame] = []
            self.last_raw = raw  # refused records stay here for the raw log, even on error
            self.last_clock = None
            self._reading_deadline = self._deadline(self.settings.measurement_timeout_s)
            self._carried_refusal = None
            self._identity = None
            while True:
                try:
                    link = await self._open(progress)
                except DeviceError as exc:
                    if self._carried_refusal is None:
                        raise
                    raise self.refused(self._carried_refusal) from exc  # say why to the nurse
                try:
                    measurements = await self._exchange(link, progress, raw, check)
                    break
                except _RefusedAndLost as lost:
                    self._carried_refusal = lost.refusal
                    if asyncio.get_running_loop().time() >= self._reading_deadline:
                        raise self.refused(lost.refusal) from None
                    _log.info("%s: refused record, waiting for a fresh one", self.device_id)
                except DeviceError:
                    raise
                except ProtocolError as exc:
                    raise self.make_error(
                        DeviceReportedError, f"the device sent a value that does not decode: {exc}"
                    ) from exc
                except (BleakError, TimeoutError, OSError) as exc:
                    raise self._transport_error(exc, link) from exc
                finally:
                    await link.close()
            identity = self.identity()
            if identity is not None:
                measurements = [m if m.device else m.with_device(identity) for m in measurements]
            await emit(progress, Progress(ProgressStage.DONE, self.device_id, "done"))
            return measurements

    @abc.abstractmethod
    async def _exchange(
        self,
        link: BleLink,
        progress: ProgressCallback,
        raw: list[RawFrame],
        check: RecordCheck | None,
    ) -> list[Measurement]:
        """The profile's exchange on a connected link; appends the frames it used to raw."""

    def refused(self, refusal: Refusal) -> ReadingRefused:
        return ReadingRefused(refusal, device_id=self.device_id, role=self.info.role.value)

    async def _next_record(
        self, link: BleLink, waiting_for: str, refusal: Refusal | None
    ) -> Notification:
        """The next event before the reading deadline; after a refusal, a timeout or a
        dropped link says why nothing was taken (ReadingRefused, or a reconnect)."""
        refusal = refusal or self._carried_refusal
        try:
            return await link.next(self._reading_deadline, waiting_for)
        except DeviceTimeout:
            if refusal is not None:
                raise self.refused(refusal) from None
            raise
        except ConnectionLost:
            if refusal is not None:
                raise _RefusedAndLost(refusal) from None
            raise

    def _screen(
        self, measurements: tuple[Measurement, ...] | list[Measurement], check: RecordCheck | None
    ) -> Refusal | None:
        refusal = screen_record(measurements, self.info.user_id, check, self.last_clock)
        if refusal is not None:
            _log.info(
                "%s: record refused (%s): %s", self.device_id, refusal.reason, refusal.message
            )
        return refusal

    async def probe(self) -> str:
        """Scan only: what answers for this device (``cart devices test``)."""
        device, adv = await self._find()
        services = ", ".join(adv.service_uuids) or "no services advertised"
        return f"{adv.local_name or device.name or '?'} at {device.address} ({services})"

    # ------------------------------------------------------------------ scan + connect

    def _wanted(self, device: BLEDevice, adv: AdvertisementData) -> bool:
        if self.address is not None:
            return device.address.upper() == self.address.upper()
        if self.name is not None:
            return self.name in (adv.local_name, device.name)
        return normalize_uuid_16(self.SERVICE_UUID16) in adv.service_uuids

    async def _find(self) -> tuple[BLEDevice, AdvertisementData]:
        target = self.address or self.name or f"service 0x{self.SERVICE_UUID16:04X}"
        scanner = BleakScanner(backend=self.backend.scanner)
        try:
            async with (
                scanner,
                asyncio.timeout(self.settings.scan_timeout_s),
                contextlib.aclosing(scanner.advertisement_data()) as ads,
            ):
                async for device, adv in ads:
                    if self._wanted(device, adv):
                        return device, adv
        except TimeoutError:
            pass
        except (BleakError, OSError) as exc:
            raise self.make_error(
                ConnectionFailed,
                f"Bluetooth scan failed: {exc}",
                advice_es=(
                    "El Bluetooth del carrito no responde: avise al técnico y presione Reintentar"
                ),
            ) from exc
        raise DeviceNotFound(
            target,
            device_id=self.device_id,
            role=self.info.role.value,
        )

    async def _open(self, progress: ProgressCallback) -> BleLink:
        await emit(progress, Progress(ProgressStage.CONNECTING, self.device_id, "scanning"))
        device, _ = await self._find()
        last: BaseException | None = None
        attempts = self.settings.connect_attempts
        for attempt in range(1, attempts + 1):
            await emit(
                progress,
                Progress(
                    ProgressStage.CONNECTING,
                    self.device_id,
                    "connecting",
                    detail={"attempt": attempt, "attempts": attempts, "address": device.address},
                ),
            )
            link = BleLink(self)
            client = BleakClient(
                device,
                disconnected_callback=link.on_disconnect,
                timeout=self.settings.connect_timeout_s,
                pair=self.settings.pair,
                backend=self.backend.client,
            )
            link.client = client
            try:
                await client.connect()
                return link
            except (BleakError, TimeoutError, OSError) as exc:
                await link.close()
                if is_pairing_error(exc):
                    raise self._pairing(exc) from exc
                last = exc
                _log.info(
                    "%s: connect attempt %d/%d failed: %r", self.device_id, attempt, attempts, exc
                )
            if attempt < attempts:
                await asyncio.sleep(
                    backoff_delay(
                        attempt,
                        base=self.settings.backoff_base_s,
                        cap=self.settings.backoff_cap_s,
                        rng=self._rng,
                    )
                )
        raise self.make_error(
            ConnectionFailed,
            f"could not connect to {device.address} in {attempts} attempts: {last!r}",
        ) from last

    @staticmethod
    def _deadline(seconds: float) -> float:
        """A loop-clock deadline ``seconds`` from now (for :meth:`BleLink.next`)."""
        return asyncio.get_running_loop().time() + seconds

    # ------------------------------------------------------------------ device clock

    async def _read_clock(self, link: BleLink) -> datetime | None:
        """The device clock from Current Time, else Date Time (None: not readable)."""
        assert link.client is not None
        for uuid16, parse in (
            (ble_time.CURRENT_TIME_UUID, _current_time),
            (ble_time.DATE_TIME_UUID, _date_time),
        ):
            characteristic = link.characteristic(uuid16)
            if characteristic is None or "read" not in characteristic.properties:
                continue
            try:
                value = parse(bytes(await link.client.read_gatt_char(characteristic)))
            except (BleakError, TimeoutError, OSError, ProtocolError, ValueError) as exc:
                _log.info("%s: clock 0x%04X not read: %r", self.device_id, uuid16, exc)
                continue
            if value is not None:
                return value
        return None

    def identity(self) -> BleDeviceIdentity | None:
        """Who the device of the current (or last) reading said it is."""
        return self._identity

    async def _read_identity(self, link: BleLink) -> None:
        """Device Information (manufacturer, model, serial number) and the address: who
        measured, so the store's record memory follows the device, not its config entry."""
        assert link.client is not None
        address = link.client.address
        known = self._identities.get(address)
        if known is None:
            fields: dict[str, str] = {}
            for uuid16, name in DEVICE_INFORMATION.items():
                characteristic = link.characteristic(uuid16)
                if characteristic is None or "read" not in characteristic.properties:
                    continue
                try:
                    value = bytes(await link.client.read_gatt_char(characteristic))
                except (BleakError, TimeoutError, OSError) as exc:
                    _log.info("%s: 0x%04X not read: %r", self.device_id, uuid16, exc)
                    return  # best effort; asked again on the next connection
                text = value.decode("utf-8", "replace").strip("\x00 ")
                if text:
                    fields[name] = text[:64]
            known = BleDeviceIdentity(self.device_id, address=address, **fields)
            self._identities[address] = known
        self._identity = known

    async def _sync_time(self, link: BleLink) -> None:
        """Read the device clock into ``last_clock``; set it only where allowed and writable;
        then read who the device is (:meth:`_read_identity`).

        Best effort: a device that refuses the write (Omron answers 0x80) keeps its clock
        and the clock check says what it read.
        """
        try:
            await self._clock(link)
        finally:
            await self._read_identity(link)

    async def _clock(self, link: BleLink) -> None:
        read_at = await self._read_clock(link)
        if read_at is not None:
            self.last_clock = clock_check(read_at)
            self.last_clock_skew_s = (read_at - wallclock.now()).total_seconds()
        characteristic = link.characteristic(ble_time.CURRENT_TIME_UUID)
        if (
            not self.info.set_clock
            or not self.settings.sync_time
            or characteristic is None
            or "write" not in characteristic.properties
        ):
            return
        assert link.client is not None
        now = wallclock.now().replace(microsecond=0)
        value = ble_time.encode_current_time(
            ble_time.CurrentTime(
                DateTime.from_datetime(now), now.isoweekday(), 0, ADJUST_REASON_EXTERNAL_REFERENCE
            )
        )
        try:
            await link.client.write_gatt_char(characteristic, value, response=True)
        except (BleakError, TimeoutError, OSError) as exc:
            # a lost link shows up in the event queue
            _log.info("%s: device clock not set: %r", self.device_id, exc)
            return
        if self.STAMPS_AFTER_CONNECT:
            # what comes next is stamped by the clock just set: check against it
            after = await self._read_clock(link)
            self.last_clock = clock_check(after or now, set_to=now)
        elif self.last_clock is not None:
            self.last_clock = replace(self.last_clock, set_to=now)

    # ------------------------------------------------------------------ errors

    def make_error(
        self, cls: type[DeviceError], message: str, *, advice_es: str | None = None
    ) -> DeviceError:
        return cls(
            message, device_id=self.device_id, role=self.info.role.value, advice_es=advice_es
        )

    def make_timeout(self, waiting_for: str) -> DeviceTimeout:
        return DeviceTimeout(
            f"no {waiting_for} from the device in time",
            device_id=self.device_id,
            role=self.info.role.value,
        )

    def _pairing(self, exc: BaseException) -> PairingRequired:
        return PairingRequired(
            f"the device requires pairing/bonding: {exc!r}",
            device_id=self.device_id,
            role=self.info.role.value,
        )

    def _transport_error(self, exc: BaseException, link: BleLink) -> DeviceError:
        if is_pairing_error(exc):
            return self._pairing(exc)
        if isinstance(exc, BumbleConnectionLostError) or link.lost:
            return self.make_error(ConnectionLost, f"the link dropped: {exc!r}")
        if isinstance(exc, TimeoutError):
            return self.make_timeout("answer to a GATT request")
        return self.make_error(DeviceReportedError, f"GATT operation failed: {exc!r}")


def _current_time(payload: bytes) -> datetime | None:
    return ble_time.parse_current_time(payload).date_time.to_datetime()


def _date_time(payload: bytes) -> datetime | None:
    return ble_time.parse_date_time(payload).to_datetime()

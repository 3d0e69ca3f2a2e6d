"""The one exception tree of mido-cart.

Every error the project raises on purpose is a :class:`CartError`. Callers
dispatch on the class and its attributes, never on message text.

    CartError
    ├── ProtocolError            (abstract: a frame or value could not be decoded)
    │   ├── FrameError           (malformed framing, bad field, wrong length)
    │   │   └── BufferOverflow   (a stream decoder buffered more than its limit)
    │   ├── ChecksumError        (wire vs calculated checksum differ)
    │   ├── UnsupportedMessage   (well-formed, but not a message we decode)
    │   └── IncompleteFrame      (the payload ends before the frame does)
    ├── DeviceError              (abstract: a device could not be read)
    │   ├── DeviceNotFound
    │   ├── DeviceBusy           (the port is held by another process)
    │   ├── DeviceTimeout
    │   ├── ConnectionFailed
    │   ├── ConnectionLost
    │   ├── PairingRequired
    │   └── DeviceReportedError  (the device itself reported a fault, e.g. overload)
    ├── ValidationError          (input that is not acceptable; names the field)
    │   └── ImplausibleValue     (a reading outside the physiological range)
    ├── ConfigError              (devices.toml or settings are wrong)
    ├── NotAttributed            (a reading that may not go into the screening: raw log only)
    └── ScreeningConflict        (completed, owned by a run, or nothing measured)

Device errors carry a Spanish message for the nurse (``nurse_message``) that says
what happened and what to do; ``str(exc)`` stays technical English for logs.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BufferOverflow",
    "CartError",
    "ChecksumError",
    "ConfigError",
    "ConnectionFailed",
    "ConnectionLost",
    "DeviceBusy",
    "DeviceError",
    "DeviceNotFound",
    "DeviceReportedError",
    "DeviceTimeout",
    "FrameError",
    "ImplausibleValue",
    "IncompleteFrame",
    "NotAttributed",
    "PairingRequired",
    "ProtocolError",
    "ScreeningConflict",
    "UnsupportedMessage",
    "ValidationError",
]


class CartError(Exception):
    """Root of every error mido-cart raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def type_name(self) -> str:
        """The class name, as shown in JSON error objects."""
        return type(self).__name__


# --------------------------------------------------------------------------- protocols


class ProtocolError(CartError):
    """Bytes that do not decode. Abstract: raise a subclass.

    ``protocol`` is the wire-format id (``and.weighing``); ``raw`` the offending bytes
    when known, for the raw log.
    """

    def __init__(self, message: str, *, protocol: str | None = None, raw: bytes | None = None):
        if type(self) is ProtocolError:
            raise TypeError("tried to directly instantiate ProtocolError; raise a subclass")
        super().__init__(message)
        self.protocol = protocol
        self.raw = raw


class FrameError(ProtocolError):
    """Malformed framing or an invalid field inside an otherwise delimited frame."""


class BufferOverflow(FrameError):
    """A stream decoder was fed more than ``limit`` bytes without a complete frame."""

    def __init__(self, limit: int, *, protocol: str | None = None, raw: bytes | None = None):
        super().__init__(
            f"no complete frame within {limit} buffered bytes", protocol=protocol, raw=raw
        )
        self.limit = limit


class ChecksumError(ProtocolError):
    """The checksum on the wire differs from the one calculated over the frame."""

    def __init__(
        self,
        wire: int,
        calculated: int,
        *,
        width: int = 2,
        protocol: str | None = None,
        raw: bytes | None = None,
    ) -> None:
        super().__init__(
            f"checksum mismatch: frame says 0x{wire:0{width}X}, "
            f"calculated 0x{calculated:0{width}X}",
            protocol=protocol,
            raw=raw,
        )
        self.wire = wire
        self.calculated = calculated


class UnsupportedMessage(ProtocolError):
    """A well-formed message this decoder does not handle (unknown op code, header...)."""


class IncompleteFrame(ProtocolError):
    """The payload ends before the frame does (e.g. a truncated characteristic value)."""


# --------------------------------------------------------------------------- devices


class DeviceError(CartError):
    """A device could not be read. Abstract: raise a subclass.

    ``device_id`` names the device from devices.toml; ``role`` is scale, stadiometer,
    bp or glucometer and picks the Spanish noun in ``nurse_message``.
    """

    #: Spanish advice template; ``{device}`` becomes "La báscula", "El baumanómetro"...
    advice_es: ClassVar[str] = "{device} tuvo un problema: presione Reintentar"

    def __init__(
        self,
        message: str,
        *,
        device_id: str | None = None,
        role: str | None = None,
        advice_es: str | None = None,
    ) -> None:
        if type(self) is DeviceError:
            raise TypeError("tried to directly instantiate DeviceError; raise a subclass")
        super().__init__(message)
        self.device_id = device_id
        self.role = role
        #: a more specific Spanish message than the class default, when the driver knows one
        self.advice_override = advice_es

    @property
    def nurse_message(self) -> str:
        """What happened and what to do, in plain Spanish, for the kiosk."""
        if self.advice_override is not None:
            return self.advice_override
        return self.advice_es.format(device=_ROLE_NOUNS_ES.get(self.role or "", "El equipo"))


_ROLE_NOUNS_ES: dict[str, str] = {
    "scale": "La báscula",
    "stadiometer": "El estadímetro",
    "bp": "El baumanómetro",
    "glucometer": "El glucómetro",
}


class DeviceNotFound(DeviceError):
    """The configured port, address or name does not exist or does not answer a scan."""

    advice_es = (
        "{device} no se encuentra: revise la alimentación y la conexión, y presione Reintentar"
    )

    def __init__(
        self,
        identifier: str,
        *,
        device_id: str | None = None,
        role: str | None = None,
        advice_es: str | None = None,
    ) -> None:
        super().__init__(
            f"device not found: {identifier}", device_id=device_id, role=role, advice_es=advice_es
        )
        self.identifier = identifier


class DeviceBusy(DeviceError):
    """The port is held by another program (exclusive open failed)."""

    advice_es = "{device} está en uso por otro programa: ciérrelo y presione Reintentar"


class DeviceTimeout(DeviceError):
    """No usable answer within the deadline."""

    advice_es = "{device} no responde: revise el cable y presione Reintentar"

    def __init__(
        self,
        message: str,
        *,
        timeout_s: float | None = None,
        device_id: str | None = None,
        role: str | None = None,
        advice_es: str | None = None,
    ) -> None:
        super().__init__(message, device_id=device_id, role=role, advice_es=advice_es)
        self.timeout_s = timeout_s


class ConnectionFailed(DeviceError):
    """Connecting failed after the bounded retries."""

    advice_es = (
        "No se pudo conectar con {device_lower}: verifique que tenga batería y esté cerca "
        "del carrito, y presione Reintentar"
    )

    @property
    def nurse_message(self) -> str:
        if self.advice_override is not None:
            return self.advice_override
        noun = _ROLE_NOUNS_ES.get(self.role or "", "El equipo")
        return self.advice_es.format(device_lower=noun[0].lower() + noun[1:])


class ConnectionLost(DeviceError):
    """The link dropped in the middle of a reading or download."""

    advice_es = (
        "{device} se desconectó durante la medición: vuelva a conectar el cable o acerque "
        "el equipo al carrito, y presione Reintentar"
    )


class PairingRequired(DeviceError):
    """A BLE device refused access until it is paired/bonded."""

    advice_es = (
        "{device} necesita emparejarse: siga las instrucciones del técnico y presione Reintentar"
    )


class DeviceReportedError(DeviceError):
    """The device answered, but with an error or fault state (overload, cuff error...)."""

    advice_es = "{device} reportó un error: repita la medición"


# --------------------------------------------------------------------------- input


class ValidationError(CartError):
    """Input that cannot be accepted. ``field`` names it, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ImplausibleValue(ValidationError):
    """A reading outside the plausible range for its kind; it is kept in the raw log only."""

    def __init__(self, field: str, value: float, low: float, high: float, unit: str) -> None:
        super().__init__(
            field, f"{value:g} {unit} is outside the plausible range {low:g}-{high:g} {unit}"
        )
        self.value = value
        self.low = low
        self.high = high
        self.unit = unit


class ConfigError(CartError):
    """devices.toml or a setting is wrong; the message names the entry."""


# --------------------------------------------------------------------------- attribution


class NotAttributed(CartError):
    """A reading that arrived but may not go into the screening; kept in the raw log only.

    ``reason``: ``run_closed`` (the run was cancelled or ended, e.g. the nurse changed
    patient), ``completed`` (the screening was completed meanwhile), ``already_seen`` (the
    device record was downloaded before), ``stale``/``future``/``other_user`` (see
    :mod:`cart.attribution`). ``nurse_message`` says what to do, in Spanish.
    """

    def __init__(self, reason: str, message: str, nurse_message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.nurse_message = nurse_message


class ScreeningConflict(CartError):
    """The screening is not in a state that allows the operation.

    ``reason``: ``completed``, ``measuring`` (a run owns it), ``empty`` (nothing measured).
    """

    def __init__(self, reason: str, message: str, nurse_message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.nurse_message = nurse_message

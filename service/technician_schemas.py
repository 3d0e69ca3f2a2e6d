"""Request and response shapes of the technician's device-setup API (/api/v1/technician)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from cart.devices import DeviceConfig, Role
from service.schemas import DevicePublic

__all__ = [
    "BleAdvertiserPublic",
    "DeviceEntry",
    "DevicesFile",
    "DevicesSave",
    "IdentifyRequest",
    "IdentifyResult",
    "MeasurementShown",
    "ReloadResult",
    "ScanRequest",
    "ScanResult",
    "SerialPortPublic",
    "TestReadingResult",
]


class DeviceEntry(BaseModel):
    """One ``[[device]]`` table of devices.toml."""

    id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    role: Role
    driver: str = Field(min_length=1, max_length=40)
    transport: Literal["serial", "modbus", "ble"]
    port: str | None = Field(default=None, max_length=300)
    address: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=64)
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    options: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=32)
    """Everything else in the table: baudrate, parity, device_id, profile, user_id..."""

    def table(self) -> dict[str, Any]:
        values = self.model_dump(exclude={"options"}, exclude_none=True)
        values["role"] = self.role.value
        return {**self.options, **values}

    @classmethod
    def of(cls, cfg: DeviceConfig) -> DeviceEntry:
        return cls(
            id=cfg.id,
            role=cfg.role,
            driver=cfg.driver,
            transport=cfg.transport,  # type: ignore[arg-type]
            port=cfg.port,
            address=cfg.address,
            name=cfg.name,
            timeout_s=cfg.timeout_s,
            options=dict(cfg.options),
        )


class ScanRequest(BaseModel):
    paths: list[str] = Field(default_factory=list, max_length=32)
    """Serial paths or pyserial URLs to list besides what the system shows (pyserial's
    list_ports does not list pseudo-terminals: name them here)."""
    bluetooth: bool = True
    ble_timeout_s: float = Field(default=3.0, ge=0.5, le=15)


class SerialPortPublic(BaseModel):
    path: str
    description: str
    hardware_id: str | None
    source: Literal["system", "by-id", "given"]
    present: bool
    configured_as: str | None
    """The id of the configured device on this port, if any."""


class BleAdvertiserPublic(BaseModel):
    address: str
    name: str | None
    rssi: int | None
    services: list[str]
    driver: str | None
    """Identified from the advertised Bluetooth SIG service (None: no driver for it)."""
    role: Role | None
    configured_as: str | None


class ScanResult(BaseModel):
    serial: list[SerialPortPublic]
    ble: list[BleAdvertiserPublic]
    ble_error: str | None
    """Spanish: why no Bluetooth scan was possible (no adapter...)."""


class IdentifyRequest(BaseModel):
    path: str = Field(min_length=1, max_length=300)
    families: list[Annotated[str, Field(max_length=40)]] | None = Field(
        default=None, min_length=1, max_length=16
    )
    """Only these families' handshakes (e.g. the glucometers); None: every family."""
    modbus_ids: list[Annotated[int, Field(ge=1, le=247)]] = Field(
        default_factory=lambda: [1], min_length=1, max_length=4
    )


class IdentifyResult(BaseModel):
    identified: bool
    driver: str | None = None
    transport: Literal["serial", "modbus", "ble"] | None = None
    role: Role | None = None
    location: str
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    evidence: str
    """English: which handshake answered."""
    message: str
    """Spanish, for the page."""


class MeasurementShown(BaseModel):
    kind: str
    value: float | None
    decimals: int | None = None
    """Digits after the point the device reported (72.40 kg -> 2); None when unknown."""
    unit: str
    special: str | None
    flags: list[str]


class TestReadingResult(BaseModel):
    device_id: str
    driver: str
    measurements: list[MeasurementShown]
    device_time: str | None
    """The record's time on the device's own clock (ISO, no zone)."""
    clock_offset_s: float | None
    records: int
    remembered: int
    """Device-memory records now marked as the technician's (never a patient's)."""


class DevicesFile(BaseModel):
    path: str
    exists: bool
    backup: str | None
    devices: list[DeviceEntry]
    problem: str | None = None
    """Spanish: why the file on disk does not load, if it does not."""


class DevicesSave(BaseModel):
    devices: list[DeviceEntry] = Field(max_length=16)


class ReloadResult(BaseModel):
    devices: list[DevicePublic]

"""The cart's device list, ``devices.toml`` (DESIGN section 4).

```toml
[[device]]
id = "bascula"
role = "scale"                 # scale | stadiometer | bp | glucometer
driver = "and.weighing"        # protocol family
transport = "serial"           # serial | modbus | ble
port = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A1B2C3-if00-port0"
baudrate = 9600
timeout_s = 30
```
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cart.errors import ConfigError

__all__ = ["DeviceConfig", "Role", "dump_devices", "load_devices", "parse_devices"]


class Role(StrEnum):
    """What a device measures in the screening."""

    SCALE = "scale"
    STADIOMETER = "stadiometer"
    BP = "bp"
    GLUCOMETER = "glucometer"


TRANSPORTS = ("serial", "modbus", "ble")


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    id: str
    role: Role
    driver: str
    transport: str
    port: str | None = None
    """Serial/Modbus: device path or pyserial URL."""
    address: str | None = None
    """BLE: address, or None to scan by name/service."""
    name: str | None = None
    """BLE: advertised name to match when scanning."""
    timeout_s: float = 30.0
    options: Mapping[str, Any] = field(default_factory=dict)
    """Everything else in the table (baudrate, parity, device_id, register map...)."""

    @property
    def location(self) -> str:
        return self.port or self.address or self.name or "?"


_KNOWN = {"id", "role", "driver", "transport", "port", "address", "name", "timeout_s"}


def parse_devices(data: Mapping[str, Any], *, source: str = "devices.toml") -> list[DeviceConfig]:
    entries = data.get("device", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: [[device]] must be an array of tables")
    devices: list[DeviceConfig] = []
    seen: set[str] = set()
    for n, entry in enumerate(entries, start=1):
        where = f"{source}: device #{n}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} is not a table")
        for key in ("id", "role", "driver", "transport"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise ConfigError(f"{where}: '{key}' is required and must be a string")
        if entry["id"] in seen:
            raise ConfigError(f"{where}: duplicate id {entry['id']!r}")
        seen.add(entry["id"])
        try:
            role = Role(entry["role"])
        except ValueError:
            roles = ", ".join(r.value for r in Role)
            raise ConfigError(f"{where}: role {entry['role']!r} is not one of {roles}") from None
        if entry["transport"] not in TRANSPORTS:
            raise ConfigError(f"{where}: transport must be one of {', '.join(TRANSPORTS)}")
        if entry["transport"] in ("serial", "modbus") and not entry.get("port"):
            raise ConfigError(f"{where}: a {entry['transport']} device needs 'port'")
        timeout = entry.get("timeout_s", 30.0)
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError(f"{where}: timeout_s must be a positive number")
        devices.append(
            DeviceConfig(
                id=entry["id"],
                role=role,
                driver=entry["driver"],
                transport=entry["transport"],
                port=entry.get("port"),
                address=entry.get("address"),
                name=entry.get("name"),
                timeout_s=float(timeout),
                options={k: v for k, v in entry.items() if k not in _KNOWN},
            )
        )
    return devices


def load_devices(path: Path) -> list[DeviceConfig]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file (run `cart serve --simulate` or write it)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_devices(data, source=str(path))


def dump_devices(devices: list[DeviceConfig]) -> str:
    """TOML text for a device list (used by the simulators to publish their ports)."""
    lines: list[str] = []
    for d in devices:
        lines.append("[[device]]")
        values: dict[str, Any] = {
            "id": d.id,
            "role": d.role.value,
            "driver": d.driver,
            "transport": d.transport,
            "port": d.port,
            "address": d.address,
            "name": d.name,
            "timeout_s": d.timeout_s,
            **dict(d.options),
        }
        for key, value in values.items():
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"cannot write {value!r} to TOML")

"""Spanish words for the technician's device-setup page: what is wrong with an entry.

The English ``message`` of a :class:`cart.errors.ConfigError` stays in the API's
``msg``; the page shows these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from cart.errors import ConfigError

__all__ = ["ROLE_NAMES_ES", "config_problem", "identified_es", "location_problem"]

ROLE_NAMES_ES: Final = {
    "scale": "báscula",
    "stadiometer": "estadímetro",
    "bp": "baumanómetro",
    "glucometer": "glucómetro",
}
_FIELDS_ES: Final = {
    "id": "el identificador",
    "role": "la función",
    "driver": "el tipo de equipo",
    "transport": "la conexión",
}
#: pyserial URL schemes a technician may name instead of a /dev path
URL_SCHEMES: Final = ("loop", "socket", "rfc2217", "hwgrep", "spy", "alt", "cp2110")
_DEVICE_ID: Final = re.compile(r"device '([^']+)'")
_DEVICE_NUMBER: Final = re.compile(r"device #(\d+)")


def location_problem(path: str, resolved: str) -> str | None:
    """Why a serial location may not be opened (None: it may): a device under /dev, or a
    pyserial URL; never an ordinary file or another kind of device's node."""
    if any(ord(c) < 0x20 or c == "\x7f" for c in path):
        return "La ruta del puerto tiene caracteres no válidos"
    if "://" in path:
        scheme = path.split("://", 1)[0].lower()
        if scheme in URL_SCHEMES:
            return None
        return f"«{path}» no es un puerto serie ni una dirección que el carrito conozca"
    if path.startswith("/dev/") and resolved.startswith("/dev/"):
        return None
    return f"«{path}» no es un puerto serie: use una ruta de /dev (por ejemplo /dev/ttyUSB0)"


def config_problem(exc: ConfigError, entries: Sequence[Mapping[str, Any]]) -> str:
    """The first problem of ``entries``, in Spanish, for the page."""
    seen: set[str] = set()
    for n, entry in enumerate(entries, start=1):
        for key, name in _FIELDS_ES.items():
            if not isinstance(entry.get(key), str) or not entry[key]:
                return f"Al equipo n.º {n} le falta {name}"
        ident = entry["id"]
        if ident in seen:
            return f"El identificador «{ident}» está repetido: cada equipo necesita uno distinto"
        seen.add(ident)
        if entry["role"] not in ROLE_NAMES_ES:
            names = ", ".join(ROLE_NAMES_ES.values())
            return f"El equipo «{ident}» tiene una función desconocida: elija {names}"
        if entry["transport"] in ("serial", "modbus") and not entry.get("port"):
            return f"Al equipo «{ident}» le falta el puerto serie"
    text = exc.message
    match = _DEVICE_ID.search(text)
    number = _DEVICE_NUMBER.search(text)
    who = (
        f"el equipo «{match.group(1)}»"
        if match
        else f"el equipo n.º {number.group(1)}"
        if number
        else "un equipo"
    )
    if "no driver" in text or "no BLE driver" in text:
        return f"El carrito no tiene controlador para el tipo de equipo de {who}"
    if "timeout_s" in text:
        return f"El tiempo de espera de {who} debe ser un número mayor que cero"
    return (
        f"Revise las opciones de {who} (velocidad, mapa de registros, usuario del equipo): "
        "alguna no es válida"
    )


#: how each family made itself known (cart.drivers.identify), for the page
_HANDSHAKES_ES: Final = {
    "and.weighing": "envía lecturas continuas en formato A&D",
    "indicator.st_gs": "envía lecturas continuas de indicador (ST,GS)",
    "tanita.line": "envía líneas de estación Tanita",
    "contour.astm": "ofreció transferir sus datos (ENQ, protocolo ASTM)",
    "datascope.accutorr": "respondió con el indicador del monitor (>)",
    "onetouch.ultra2": "respondió a la consulta de versión (DM?)",
    "onetouch.ultraeasy": "aceptó el reinicio del enlace",
    "freestyle.optium": "respondió a la consulta de identidad ($colq)",
    "taidoc.td42xx": "respondió a la consulta de modelo",
    "modbus.rtu": "respondió a la lectura de registros Modbus",
}


def identified_es(driver: str, options: Mapping[str, Any]) -> str:
    """What the page says about an identified device (no value it sent)."""
    how = _HANDSHAKES_ES.get(driver, "respondió a su protocolo")
    if driver == "modbus.rtu":
        how += f" (mapa {options.get('profile')}, dirección {options.get('device_id')})"
    return f"Equipo identificado: {driver}. El equipo {how}."

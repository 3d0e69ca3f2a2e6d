"""Settings (environment variables with the ``CART_`` prefix, or a ``.env`` file).

Nothing is read at import time: call :func:`load_settings`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["MIN_TOKEN_LENGTH", "Settings", "load_settings"]

#: a bearer token shorter than this is refused at start-up (guessable over a clinic LAN)
MIN_TOKEN_LENGTH = 24


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CART_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///var/cart.db"
    """Any SQLAlchemy URL; SQLite files are created with mode 0600."""
    devices_file: Path = Path("var/devices.toml")
    """The cart's devices; `cart serve --simulate` writes one for its simulators."""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    api_token: SecretStr | None = None
    """Bearer token required from any client that is not on the loopback interface
    (at least 24 characters; a blank one is refused, not taken as unset)."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """Host names the service answers to besides 127.0.0.1, localhost and [::1] (and
    ``host``): any other ``Host`` header is refused, which defeats DNS rebinding."""
    session_idle_s: float = Field(default=600.0, ge=10, le=86400)
    """A kiosk session ends after this long without a request (the inactivity lock)."""
    kiosk_lock_s: float | None = Field(default=None, ge=1, le=86400)
    """The kiosk covers patient data and asks for the PIN after this long without a touch
    or a key; None: ``session_idle_s``. Never later than ``session_idle_s``."""
    db_busy_timeout_s: float = Field(default=30.0, gt=0, le=600)
    """How long an SQLite write waits for a lock before the API answers 503."""
    simulate: bool = False
    demo_nurse: bool = False
    """Create the demo nurse (the simulated cart does, with or without this)."""
    fast_simulators: bool = False
    """Simulators with near-zero delays (tests, demos)."""
    ble_transport: str | None = None
    """A bumble HCI transport for a USB Bluetooth dongle (``usb:0``); unset: the OS stack."""
    ble_keystore: Path = Path("var/ble-bonds.json")
    """Where bumble keeps pairing bonds, so a paired device stays paired across restarts."""
    ruleset: Literal["nom", "aha_ada"] = "nom"
    bp_readings: int = Field(default=2, ge=1, le=5)
    """Blood-pressure readings averaged per screening (NOM-030 asks for at least two)."""
    bp_interval_s: float = Field(default=120.0, ge=0, le=900)
    """Minimum time between two blood-pressure readings (NOM-030 Appendix F: two minutes)."""
    bp_max_difference_mmhg: float = Field(default=5.0, ge=0, le=50)
    """Two readings differing by more than this (systolic or diastolic) ask for extra ones."""
    bp_extra_readings: int = Field(default=2, ge=0, le=4)
    """Readings added when the first ones differ widely (NOM-030 Appendix F)."""
    timezone: str = "America/Mexico_City"
    """The cart's IANA time zone: device clocks (which know no zone) are read in it."""
    freshness_grace_s: float = Field(default=120.0, ge=0, le=3600)
    """A stored-memory reading counts if taken at most this long before the screening opened."""
    clock_skew_s: float = Field(default=300.0, gt=0, le=86400)
    """A device clock further than this from the cart's is flagged ``clock_skew``."""
    set_device_clocks: bool = False
    """Write the cart's time to devices that allow it (a device's ``set_clock`` overrides)."""
    urgent_glucose_mg_dl: float = Field(default=250.0, gt=0)
    sic_base_url: str | None = None
    """FHIR R4 base URL of SIC; None disables the push."""
    sic_token: SecretStr | None = None
    sic_verify_tls: bool = True
    sic_delivery: Literal["auto", "transaction", "steps"] = "auto"
    """One transaction per screening; ``auto`` switches to steps when the server refuses
    the size (Medplum: 8 conditional creates), ``steps`` always delivers in steps."""
    sic_step_size: int = Field(default=8, ge=1, le=500)
    """Entries per transaction when delivering in steps."""
    sic_concurrency: int = Field(default=1, ge=1, le=16)
    """Screenings (and steps of one screening) in flight at once."""
    sic_batch_size: int = Field(default=20, ge=1, le=200)
    """Pending screenings per transaction Bundle when a backlog drains (shared Patient,
    Devices, Practitioners once per Bundle); 1 sends each screening on its own."""
    sic_plain_first_send: bool = True
    """A never-sent screening's Observations and RiskAssessment go as plain creates
    after one search shows none of them on the server (cart/sic/first_send.py); false:
    every entry is always a conditional create."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("sic_base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("api_token")
    @classmethod
    def _strong_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value()
        if not token.strip():
            raise ValueError("CART_API_TOKEN is blank: unset it or give a real token")
        if len(token) < MIN_TOKEN_LENGTH or token != token.strip():
            raise ValueError(
                f"CART_API_TOKEN must be at least {MIN_TOKEN_LENGTH} characters without "
                "leading or trailing spaces (python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')"
            )
        return value

    @model_validator(mode="after")
    def _refuse_open_bind_without_token(self) -> Settings:
        if not _is_loopback(self.host) and self.api_token is None:
            raise ValueError(
                f"host {self.host!r} is reachable from the network: set CART_API_TOKEN"
            )
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]

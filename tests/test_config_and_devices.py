"""Settings and devices.toml: clear, typed errors naming the entry."""

from __future__ import annotations

import pytest
from pydantic import ValidationError as SettingsError

from cart.config import Settings
from cart.devices import dump_devices, load_devices, parse_devices
from cart.errors import ConfigError


def test_defaults_bind_loopback_and_sqlite_under_var(monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("CART_"):
            monkeypatch.delenv(key)
    s = Settings(_env_file=None)
    assert s.host == "127.0.0.1"
    assert s.database_url == "sqlite:///var/cart.db"


def test_env_prefix(monkeypatch):
    monkeypatch.setenv("CART_DATABASE_URL", "postgresql+psycopg://cart@localhost/cart")
    monkeypatch.setenv("CART_BP_READINGS", "3")
    s = Settings(_env_file=None)
    assert s.database_url.startswith("postgresql")
    assert s.bp_readings == 3


def test_network_bind_needs_a_token():
    with pytest.raises(SettingsError, match="CART_API_TOKEN"):
        Settings(host="0.0.0.0", _env_file=None)
    assert Settings(
        host="0.0.0.0", api_token="s3cret-long-enough-for-the-check", _env_file=None
    ).api_token


def test_round_trip_through_toml(tmp_path):
    text = """
[[device]]
id = "bascula"
role = "scale"
driver = "and.weighing"
transport = "serial"
port = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A1B2C3-if00-port0"
baudrate = 2400
parity = "E"
bytesize = 7
timeout_s = 20
"""
    path = tmp_path / "devices.toml"
    path.write_text(text)
    (dev,) = load_devices(path)
    assert dev.options == {"baudrate": 2400, "parity": "E", "bytesize": 7}
    assert dev.timeout_s == 20.0
    path.write_text(dump_devices([dev]))
    assert load_devices(path) == [dev]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"role": "scale", "driver": "x", "transport": "serial", "port": "p"}, "'id' is required"),
        ({"id": "a", "role": "oven", "driver": "x", "transport": "serial", "port": "p"}, "role"),
        ({"id": "a", "role": "scale", "driver": "x", "transport": "usb"}, "transport"),
        ({"id": "a", "role": "scale", "driver": "x", "transport": "serial"}, "needs 'port'"),
        (
            {"id": "a", "role": "scale", "driver": "x", "transport": "ble", "timeout_s": -1},
            "timeout_s",
        ),
    ],
)
def test_bad_entries_name_the_problem(entry, message):
    with pytest.raises(ConfigError, match=message):
        parse_devices({"device": [entry]})


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_devices(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[device]\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_devices(bad)


def test_duplicate_ids_refused():
    dev = {"id": "a", "role": "bp", "driver": "x", "transport": "ble"}
    with pytest.raises(ConfigError, match="duplicate"):
        parse_devices({"device": [dev, dev]})

"""Scenario parsing and validation (pure), and `cart simulate`'s answer to a bad one."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from simulators.scenario import (
    DeviceScenario,
    Scenario,
    ScenarioError,
    StoredValue,
    apply_flags,
    parse_age,
    parse_scenario_toml,
    parse_stored,
)

CART = Path(sys.executable).with_name("cart")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1d12h", 129600), ("1.5h", 5400)],
)
def test_ages(text: str, seconds: float) -> None:
    assert parse_age(text) == timedelta(seconds=seconds)


def test_clock_skews_are_signed() -> None:
    assert parse_age("+3d", signed=True) == timedelta(days=3)
    assert parse_age("-90m", signed=True) == timedelta(minutes=-90)


@pytest.mark.parametrize("text", ["", "3", "d", "3x", "1d 2h", "-3d", "5m10"])
def test_bad_ages_say_what_an_age_looks_like(text: str) -> None:
    with pytest.raises(ScenarioError, match="a number and a unit"):
        parse_age(text)


def test_stored_records_with_users_and_meals() -> None:
    assert parse_stored("236@1d,98@2h:fasting,150/95/80@3h:u2") == (
        StoredValue((236.0,), timedelta(days=1)),
        StoredValue((98.0,), timedelta(hours=2), meal="fasting"),
        StoredValue((150.0, 95.0, 80.0), timedelta(hours=3), user_id=2),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("236", "needs an age"),
        ("abc@1d", "is not a number"),
        ("236@1d:u300", "neither a user"),
        ("236@1d:lunch", "neither a user"),
        ("-5@1d", "positive"),
    ],
)
def test_bad_stored_records(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_stored(text)


def test_flags_build_a_scenario_by_device_id_or_role() -> None:
    scenario = apply_flags(
        Scenario(),
        stored=["glucometer=236@1d,98@2h", "bp=150/95@1d:u2"],
        no_new_reading=["glucometro"],
        clock_skew=["glucometro=+3d"],
        read_only_clock=["glucometro"],
        fault=["bascula=corrupt-checksum", "baumanometro=disconnect"],
        user=["baumanometro=3"],
        replay_memory=["bp"],
    )
    meter = scenario.device("glucometro")
    assert [r.values for r in meter.stored] == [(236.0,), (98.0,)]
    assert meter.new_reading is False
    assert meter.clock_skew_s == 3 * 86400
    assert meter.clock_writable is False
    assert scenario.device("bascula").fault == "checksum"
    cuff = scenario.device("baumanometro")
    assert cuff.fault == "disconnect_mid_transfer"
    assert cuff.user_id == 3
    assert cuff.replay_memory is True
    assert cuff.stored[0].user_id == 2
    assert scenario.device("estadimetro") == DeviceScenario()


def test_toml_file_and_flags_merge_flags_winning() -> None:
    scenario = parse_scenario_toml(
        """
        [cart]
        bp = "serial"
        glucometer = "contour.astm"

        [patient]
        glucose_mg_dl = 236

        [devices.glucometro]
        stored = ["98@2h:preprandial"]
        new_reading = false
        fixed_clock = 2020-01-01T08:00:00
        fault = "noise"
        """
    )
    assert scenario.bp == "serial"
    assert scenario.glucometer == "contour.astm"
    assert scenario.patient == {"glucose_mg_dl": 236}
    meter = scenario.device("glucometro")
    assert meter.fixed_clock == datetime(2020, 1, 1, 8, 0)
    assert meter.fault == "noise"
    merged = apply_flags(scenario, fault=["glucometro=none"], bp="ble")
    assert merged.device("glucometro").fault == "none"
    assert merged.device("glucometro").stored == meter.stored
    assert merged.bp == "ble"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"stored": ["bascula=70@1d"]}, "serial scale keeps no stored records"),
        ({"fault": ["glucometro=noise"]}, "cannot happen on Bluetooth"),
        ({"fault": ["bascula=no_racp_response"]}, "is a Bluetooth fault"),
        ({"fault": ["baumanometro=no_racp_response"]}, "is a glucometer fault"),
        ({"fault": ["bascula=melted"]}, "unknown fault 'melted'"),
        ({"stored": ["baumanometro=150@1d"]}, "SYS/DIA"),
        ({"stored": ["glucometro=98@1d:u2"]}, "glucometers keep no user id"),
        ({"user": ["glucometro=2"]}, "only Bluetooth scales and cuffs"),
        ({"replay_memory": ["glucometro"]}, "only Bluetooth scales and cuffs replay"),
        ({"no_new_reading": ["estadimetro"]}, "always measures"),
        ({"clock_skew": ["bascula=+3d"]}, "has no clock"),
        ({"clock_skew": ["glucometro"]}, "expected DEVICE=VALUE"),
        ({"stored": ["oximetro=98@1d"]}, "unknown device 'oximetro'"),
        ({"glucometer": "accu-chek"}, "cart.glucometer must be one of"),
        ({"fixed_clock": ["glucometro=yesterday"]}, "not a date and time"),
    ],
)
def test_invalid_scenarios_name_device_and_value(flags: dict, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        apply_flags(Scenario(), **flags)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[devices.glucometro]\nstored = 5", "devices.glucometro"),
        ("[devices.glucometro]\ncolour = 'red'", "unknown key"),
        ("[devices.glucometro]\nnew_reading = 'no'", "true or false"),
        ("[lab]\nx = 1", "unknown section"),
        ("[patient]\nheight_m = 1.6", "patient.height_m is unknown"),
        ("[cart\n", "not valid TOML"),
    ],
)
def test_invalid_toml(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario_toml(text)


def test_cart_simulate_refuses_a_bad_scenario_with_status_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[devices.baumanometro]\nfault = "noise"\n', encoding="utf-8")
    done = subprocess.run(
        [str(CART), "simulate", "--fast", "--scenario", str(bad)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "bad scenario" in done.stderr
    assert "baumanometro" in done.stderr
    assert "noise" in done.stderr
    assert not (tmp_path / "var" / "devices.toml").exists()


def test_cart_simulate_help_documents_the_scenario_syntax() -> None:
    done = subprocess.run(
        [str(CART), "simulate", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    for word in ("--stored", "VALUE@AGE", "--no-new-reading", "--clock-skew", "--fault"):
        assert word in done.stdout

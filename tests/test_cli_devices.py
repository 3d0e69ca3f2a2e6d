"""`cart devices` and `cart simulate` against real simulators."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cart.devices import DeviceConfig, Role, load_devices
from simulators.faults import Fault
from simulators.serial_scale import ScaleConfig, SerialScaleSimulator
from tests.helpers import write_devices

CART = Path(sys.executable).with_name("cart")


def _scale(port: str) -> DeviceConfig:
    return DeviceConfig(
        "bascula",
        Role.SCALE,
        "and.weighing",
        "serial",
        port=port,
        timeout_s=3.0,
        options={"silence_s": 1.0},
    )


async def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        str(CART),
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=None if env is None else {**os.environ, **env},
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


async def test_devices_list_and_test_a_live_scale(tmp_path):
    async with SerialScaleSimulator(ScaleConfig.fast(weight_kg=58.1)) as sim:
        path = write_devices(tmp_path / "devices.toml", [_scale(sim.port)])
        listed = await _run("devices", "list", "--devices-file", str(path))
        assert listed.stdout.split("\t")[:4] == ["bascula", "scale", "and.weighing", "serial"]
        tested = await _run("devices", "test", "bascula", "--devices-file", str(path))
        assert tested.returncode == 0, tested.stderr
        (m,) = json.loads(tested.stdout)
        assert (m["kind"], m["value"]) == ("body_weight", 58.1)
        assert "waiting" in tested.stderr


async def test_devices_scan_lists_a_named_pty_and_identify_names_its_family():
    async with SerialScaleSimulator(ScaleConfig.fast(format="tanita.line")) as sim:
        scanned = await _run("devices", "scan", "--path", sim.port, "--timeout", "0.2")
        assert scanned.returncode == 0, scanned.stderr
        assert f"\n{sim.port}\t-\t" in scanned.stdout
        found = await _run("devices", "identify", sim.port)
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)["driver"] == "tanita.line"


async def test_devices_test_reports_a_silent_scale(tmp_path):
    async with SerialScaleSimulator(ScaleConfig.fast(fault=Fault.SILENCE)) as sim:
        path = write_devices(tmp_path / "devices.toml", [_scale(sim.port)])
        tested = await _run("devices", "test", "bascula", "--devices-file", str(path))
        assert tested.returncode == 1
        err = json.loads(tested.stdout)["error"]
        assert err["type"] == "DeviceTimeout"
        assert err["nurse_message"].startswith("La báscula no responde")


async def test_devices_test_sets_a_meter_clock_only_when_the_setting_allows(tmp_path):
    from cart import wallclock
    from simulators.serial_glucometer import GlucometerConfig, simulator_for

    config = GlucometerConfig.fast(clock_skew_s=3 * 86400)
    async with simulator_for("onetouch.ultra2", config) as sim:
        meter = DeviceConfig(
            "gluco", Role.GLUCOMETER, "onetouch.ultra2", "serial", port=sim.port, timeout_s=3.0
        )
        path = write_devices(tmp_path / "devices.toml", [meter])
        left = await _run("devices", "test", "gluco", "--devices-file", str(path))
        assert left.returncode == 0, left.stderr
        assert "device clock" in left.stderr
        assert "set to" not in left.stderr
        assert abs((sim.meter_now() - wallclock.now()).total_seconds() - 3 * 86400) < 61
        allowed = await _run(
            "devices",
            "test",
            "gluco",
            "--devices-file",
            str(path),
            env={"CART_SET_DEVICE_CLOCKS": "true"},
        )
        assert allowed.returncode == 0, allowed.stderr
        assert "set to" in allowed.stderr
        assert abs((sim.meter_now() - wallclock.now()).total_seconds()) < 61
        assert len(json.loads(allowed.stdout)) == 4  # every stored record


async def test_devices_unknown_id_and_missing_file(tmp_path):
    missing = await _run("devices", "list", "--devices-file", str(tmp_path / "none.toml"))
    assert missing.returncode == 1
    assert json.loads(missing.stdout)["error"]["type"] == "ConfigError"
    path = write_devices(tmp_path / "devices.toml", [_scale("/dev/null")])
    unknown = await _run("devices", "test", "nope", "--devices-file", str(path))
    assert unknown.returncode == 2
    assert "known: bascula" in unknown.stderr


def test_simulate_writes_a_usable_devices_file(tmp_path):
    target = tmp_path / "devices.toml"
    proc = subprocess.Popen(
        [str(CART), "simulate", "--fast", "--devices-file", str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ},
    )
    try:
        deadline = time.monotonic() + 20
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        devices = load_devices(target)
        assert {d.role for d in devices} >= {Role.SCALE}
        for d in devices:
            if d.transport == "serial":
                assert d.port is not None
                assert Path(d.port).exists()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()

"""Real processes for drills: `cart simulate` with a scenario, and `cart serve` against it.

The simulated devices live in their own process, so a test can stop and restart the
service while the devices (their memory, their clocks) carry on, as real devices do::

    with simulate_process(tmp_path, "--stored", "glucometro=236@2m") as sim:
        with serve_process(tmp_path, sim) as cart:
            httpx.get(f"{cart.base_url}/api/v1/health")
        with serve_process(tmp_path, sim) as cart:   # same database, same devices
            ...

Ports come from the free-port helper; every file lives under the test's ``tmp_path``.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cart.devices import DeviceConfig, load_devices
from tests.helpers import TEST_NURSE, TEST_PIN, ensure_test_nurse, free_port, wait_until_up

__all__ = ["ServedCart", "SimulatorProcess", "serve_process", "simulate_process"]

CART = Path(sys.executable).with_name("cart")
READY = "simulators ready"
#: how long a process may take to come up on a loaded CI machine (not a speed check)
START_TIMEOUT_S = 60.0


@dataclass
class _Output:
    """A process's merged stdout/stderr, read by a thread so the pipe never fills."""

    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.seen.append(line)
            self.lines.put(line)

    def text(self) -> str:
        return "".join(self.seen)


@dataclass
class SimulatorProcess:
    proc: subprocess.Popen[str]
    devices_file: Path
    ble_transport: str | None
    output: _Output

    @property
    def devices(self) -> list[DeviceConfig]:
        return load_devices(self.devices_file)

    def device(self, device_id: str) -> DeviceConfig:
        (found,) = [d for d in self.devices if d.id == device_id]
        return found


@dataclass
class ServedCart:
    proc: subprocess.Popen[str]
    base_url: str
    database_url: str
    output: _Output


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _start(
    args: Sequence[str], cwd: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[str], _Output]:
    proc = subprocess.Popen(
        [str(CART), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = _Output()
    threading.Thread(target=output.pump, args=(proc,), daemon=True).start()
    return proc, output


@contextmanager
def simulate_process(
    tmp_path: Path, *scenario_args: str, fast: bool = True, name: str = "sim"
) -> Iterator[SimulatorProcess]:
    """`cart simulate` with the given scenario options (flags, or ``--scenario FILE``)."""
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    devices_file = folder / "devices.toml"
    args = ["simulate", "--devices-file", str(devices_file), *scenario_args]
    if fast:
        args.append("--fast")
    env = {**os.environ, "CART_LOG_LEVEL": "WARNING"}
    proc, output = _start(args, folder, env)
    transport: str | None = None
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                line = output.lines.get(timeout=0.2)
            except queue.Empty:
                line = ""
            if line.startswith("CART_BLE_TRANSPORT="):
                transport = line.strip().split("=", 1)[1]
            if line.strip() == READY:
                break
            if proc.poll() is not None and output.lines.empty():
                raise RuntimeError(f"cart simulate exited {proc.returncode}: {output.text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"cart simulate did not come up: {output.text()}")
        yield SimulatorProcess(proc, devices_file, transport, output)
    finally:
        _stop(proc)


@contextmanager
def serve_process(
    tmp_path: Path,
    simulator: SimulatorProcess,
    *,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[ServedCart]:
    """`cart serve` on a free port, driving the devices of ``simulator``.

    The database defaults to ``tmp_path/cart.db``, so a second call is the same cart
    after a restart.
    """
    port = free_port()
    database_url = database_url or f"sqlite:///{tmp_path / 'cart.db'}"
    values = {
        **os.environ,
        "CART_LOG_LEVEL": "WARNING",
        "CART_BP_INTERVAL_S": "0",
        "CART_DATABASE_URL": database_url,
        "CART_DEVICES_FILE": str(simulator.devices_file),
        **(env or {}),
    }
    if simulator.ble_transport is not None:
        values["CART_BLE_TRANSPORT"] = simulator.ble_transport
    folder = tmp_path / "serve"
    folder.mkdir(exist_ok=True)
    ensure_test_nurse(database_url)  # patient data needs a signed-in user
    proc, output = _start(["serve", "--port", str(port)], folder, values)
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_up(proc, f"{base}/api/v1/health", START_TIMEOUT_S):
            raise RuntimeError(f"cart serve did not come up: {output.text()}")
        yield ServedCart(proc, base, database_url, output)
    finally:
        _stop(proc)


def signed_in_client(base_url: str) -> httpx.Client:
    """An API client of ``base_url`` signed in as the test nurse (:func:`serve_process`
    made her); a new one after each restart, as sessions end with the service."""
    signed = httpx.post(
        f"{base_url}/api/v1/session",
        json={"username": TEST_NURSE, "pin": TEST_PIN},
        timeout=60,
    )
    assert signed.status_code == 200, signed.text
    return httpx.Client(base_url=base_url, timeout=60, cookies=signed.cookies)

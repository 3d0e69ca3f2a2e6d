"""`cart simulate` as its own process: the devices outlive a restart of `cart serve`.

Real processes, real ptys, a real pymodbus server and the Bluetooth devices reached by
the service over bumble's HCI-over-TCP transport (CART_BLE_TRANSPORT).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import free_port
from tests.service.support import API, PATIENT, Event, curp, parse_sse
from tests.simulators.processes import (
    CART,
    START_TIMEOUT_S,
    ServedCart,
    serve_process,
    simulate_process,
)

#: a second fictional adult (born 1980-09-03, male, Jalisco)
PATIENT_B = {
    "curp": curp("GAMR800903HJCRRL0"),
    "given_name": "Raúl",
    "family_name": "García Mora",
    "birth_date": "1980-09-03",
    "sex": "male",
}


def screening_for(client: httpx.Client, patient: dict[str, Any]) -> int:
    resp = client.post(f"{API}/patients", json=patient)
    if resp.status_code == 409:
        pid = resp.json()["detail"]["existing_id"]
    else:
        assert resp.status_code == 201, resp.text
        pid = resp.json()["id"]
    created = client.post(f"{API}/screenings", json={"patient_id": pid})
    assert created.status_code == 201, created.text
    sid: int = created.json()["id"]
    return sid


def run(client: httpx.Client, sid: int, devices: list[str]) -> tuple[dict[str, Any], list[Event]]:
    """Run "Medir" to its end: the screening as the API then shows it, and the events."""
    accepted = client.post(f"{API}/screenings/{sid}/measure", json={"devices": devices})
    assert accepted.status_code == 202, accepted.text
    events = parse_sse(client.get(f"{API}/screenings/{sid}/events").text)
    assert events[-1].event == "end"
    screening: dict[str, Any] = client.get(f"{API}/screenings/{sid}").json()
    return screening, events


def measure(client: httpx.Client, sid: int, devices: list[str]) -> dict[str, Any]:
    return run(client, sid, devices)[0]


def values(screening: dict[str, Any]) -> dict[str, float | None]:
    return {m["kind"]: m["value"] for m in screening["measurements"]}


def client_for(cart: ServedCart) -> httpx.Client:
    return httpx.Client(base_url=cart.base_url, timeout=60)


def test_devices_outlive_a_service_restart(tmp_path: Path) -> None:
    with simulate_process(tmp_path) as sim:
        assert sim.ble_transport is not None
        assert sim.ble_transport.startswith("tcp-client:")
        ports = {d.id: d.location for d in sim.devices}
        devices = ["bascula", "estadimetro", "baumanometro"]

        with serve_process(tmp_path, sim) as cart, client_for(cart) as client:
            first = measure(client, screening_for(client, PATIENT), devices)
        # the service is gone; the simulators are not
        assert sim.proc.poll() is None

        with serve_process(tmp_path, sim) as cart, client_for(cart) as client:
            sid = screening_for(client, PATIENT_B)
            # device clocks stamp whole seconds: a fast cuff's reading taken in the very
            # second B's screening opened reads as older than that opening (A's is still
            # open) and is refused; a real cuff takes ~30 s, so pace the nurse like one
            time.sleep(1.1)
            second = measure(client, sid, devices)

    for screening in (first, second):
        got = values(screening)
        assert got["body_weight"] == 72.4  # serial scale on its pty
        assert got["body_height"] == 165.0  # Modbus rod
        assert got["systolic_pressure"] == 128.0  # BLE cuff over HCI/TCP
    assert {d.id: d.location for d in sim.devices} == ports  # the same devices throughout


def test_meter_memory_is_not_given_to_the_next_patient_after_a_restart(tmp_path: Path) -> None:
    """Issue 11's first report: A's reading, a restart, and B must not receive it."""
    with simulate_process(
        tmp_path, "--stored", "glucometro=236@20s", "--no-new-reading", "glucometro"
    ) as sim:
        with serve_process(tmp_path, sim) as cart, client_for(cart) as client:
            a = measure(client, screening_for(client, PATIENT), ["glucometro"])
        with serve_process(tmp_path, sim) as cart, client_for(cart) as client:
            b, events = run(client, screening_for(client, PATIENT_B), ["glucometro"])
    assert values(a).get("glucose") == 236.0
    # the new service downloaded the same record from the same (still running) meter...
    downloaded = [e.data["detail"] for e in events if e.event == "progress"]
    assert downloaded == [{"records": 1, "sequence_number": 101}]
    # ...and did not give it to B
    assert "glucose" not in values(b)
    (error,) = [e.data["error"] for e in events if e.event == "error"]
    assert error["type"] == "NotAttributed"


def test_cart_serve_simulate_plays_a_scenario_file(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(
        '[patient]\nweight_kg = 91.3\n\n[devices.glucometro]\nstored = ["236@20s"]\n'
        "new_reading = false\n",
        encoding="utf-8",
    )
    port = free_port()
    env = {**os.environ, "CART_LOG_LEVEL": "WARNING", "CART_BP_INTERVAL_S": "0"}
    args = ["serve", "--simulate", "--fast", "--port", str(port), "--scenario", str(scenario)]
    proc = subprocess.Popen([str(CART), *args], cwd=tmp_path, env=env, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(base):
            assert proc.poll() is None, "cart serve exited"
            assert time.monotonic() < deadline, "cart serve did not come up"
            time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=60) as client:
            screening = measure(client, screening_for(client, PATIENT), ["bascula", "glucometro"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert values(screening) == {"body_weight": 91.3, "glucose": 236.0}
    header = (tmp_path / "var" / "devices.toml").read_text(encoding="utf-8")
    assert "CART_BLE_TRANSPORT=tcp-client:127.0.0.1:" in header


def test_cart_serve_refuses_a_bad_scenario(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(CART), "serve", "--simulate", "--fault", "glucometro=checksum"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "cannot happen on Bluetooth" in done.stderr


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False

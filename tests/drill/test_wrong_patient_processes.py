"""The wrong-patient drill against `cart serve` and `cart simulate` as real processes.

The simulated devices run in their own process (`cart simulate` with a scenario) and
outlive the service: a restart is a new `cart serve` on the same database, a kill is
SIGKILL. Patients A and B take distinguishable values and every stored device reading
is traced, from the SQLite file, to the patient who took it: 0 misattributed is the pass.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from cart.devices import dump_devices, load_devices
from tests.service.support import API, PATIENT
from tests.simulators.processes import SimulatorProcess, serve_process, simulate_process
from tests.simulators.test_processes import PATIENT_B, client_for, run, screening_for, values

CURP_A, CURP_B = PATIENT["curp"], PATIENT_B["curp"]


def stored_by_patient(db: Path, kind: str) -> dict[str, list[float]]:
    """Device readings of ``kind`` per patient CURP, from the database file itself."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT p.curp, m.value FROM measurement m JOIN screening s ON s.id = m.screening_id "
            "JOIN patient p ON p.id = s.patient_id WHERE m.kind = ? AND m.manual_entry = 0 "
            "AND m.context NOT LIKE '%average%' ORDER BY m.id",
            (kind,),
        ).fetchall()
    out: dict[str, list[float]] = {}
    for curp, value in rows:
        out.setdefault(curp, []).append(value)
    return out


def refusal(events: list[Any]) -> dict[str, Any]:
    (error,) = [e.data["error"] for e in events if e.event == "error"]
    assert error["type"] in {"NotAttributed", "ReadingRefused"}, error
    assert "Reintentar" in error["nurse_message"], error
    return dict(error)


def configure(sim: SimulatorProcess, device_id: str, **options: Any) -> None:
    """What a technician writes in devices.toml for one device (e.g. its user id)."""
    devices = [
        replace(d, options={**d.options, **options}) if d.id == device_id else d
        for d in sim.devices
    ]
    header = "".join(
        line + "\n"
        for line in sim.devices_file.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    )
    sim.devices_file.write_text(header + dump_devices(devices), encoding="utf-8")
    assert load_devices(sim.devices_file)


def test_stale_memory_at_the_first_screening_is_never_taken(tmp_path: Path) -> None:
    with (
        simulate_process(
            tmp_path, "--stored", "glucometro=236@1d,98@3h", "--no-new-reading", "glucometro"
        ) as sim,
        serve_process(tmp_path, sim) as cart,
        client_for(cart) as client,
    ):
        b, events = run(client, screening_for(client, PATIENT_B), ["glucometro"])
    assert "glucose" not in values(b)
    assert refusal(events)["reason"] in {"stale", "other_screening"}
    assert stored_by_patient(tmp_path / "cart.db", "glucose") == {}


def test_restart_then_next_patient_then_her_own_reading(tmp_path: Path) -> None:
    with simulate_process(
        tmp_path, "--stored", "glucometro=236@20s", "--no-new-reading", "glucometro"
    ) as sim:
        with serve_process(tmp_path, sim) as cart, client_for(cart) as client:
            run(client, screening_for(client, PATIENT), ["glucometro"])
        with serve_process(tmp_path, sim) as cart, client_for(cart) as client:
            sid = screening_for(client, PATIENT_B)
            b, events = run(client, sid, ["glucometro"])
            assert "glucose" not in values(b)
            assert refusal(events)["reason"] in {"already_seen", "other_screening"}
    assert stored_by_patient(tmp_path / "cart.db", "glucose") == {CURP_A: [236.0]}


def test_cuff_memory_of_another_user_is_not_the_patient_reading(tmp_path: Path) -> None:
    # the cuff holds user 2's reading of 10 s ago and then measures user 1 (128/82)
    with simulate_process(
        tmp_path,
        "--stored",
        "baumanometro=150/95/80@10s:u2",
        "--user",
        "baumanometro=1",
    ) as sim:
        configure(sim, "baumanometro", user_id=1)
        with serve_process(tmp_path, sim) as cart, client_for(cart) as client:
            sid = screening_for(client, PATIENT)
            time.sleep(1.1)  # whole-second device stamps: measure after the screening opened
            a, _ = run(client, sid, ["baumanometro"])
    assert values(a).get("systolic_pressure") == 128.0
    stored = stored_by_patient(tmp_path / "cart.db", "systolic_pressure")
    assert set(stored) == {CURP_A}
    assert stored[CURP_A]
    assert set(stored[CURP_A]) == {128.0}  # every reading user 1's, never the 150


def test_meter_clock_three_days_fast_is_corrected_and_flagged(tmp_path: Path) -> None:
    with (
        simulate_process(tmp_path, "--clock-skew", "glucometro=+3d") as sim,
        serve_process(tmp_path, sim) as cart,
        client_for(cart) as client,
    ):
        sid = screening_for(client, PATIENT)
        time.sleep(1.1)
        a, _ = run(client, sid, ["glucometro"])
    (glucose,) = [m for m in a["measurements"] if m["kind"] == "glucose"]
    assert "clock_skew" in glucose["flags"]
    assert abs(glucose["clock_offset_s"] - 3 * 86400) < 120
    # the corrected instant is today, the device's own time three days ahead
    assert glucose["measured_at"][:10] != (glucose["device_time"] or "")[:10]


def test_meter_clock_three_days_slow_is_set_when_allowed(tmp_path: Path) -> None:
    with simulate_process(
        tmp_path,
        "--stored",
        "glucometro=236@20s",
        "--no-new-reading",
        "glucometro",
        "--clock-skew",
        "glucometro=-3d",
    ) as sim:
        env = {"CART_SET_DEVICE_CLOCKS": "true"}
        with serve_process(tmp_path, sim, env=env) as cart, client_for(cart) as client:
            a, _ = run(client, screening_for(client, PATIENT), ["glucometro"])
            b, events = run(client, screening_for(client, PATIENT_B), ["glucometro"])
    # A's record, stamped by the slow clock, is corrected by the offset read before the
    # set and taken for A; B took no reading: the same record is refused for B
    (glucose,) = [m for m in a["measurements"] if m["kind"] == "glucose"]
    assert glucose["value"] == 236.0
    assert "clock_skew" in glucose["flags"]
    assert "glucose" not in values(b)
    refusal(events)
    assert stored_by_patient(tmp_path / "cart.db", "glucose") == {CURP_A: [236.0]}


def test_kill_between_bp_readings_leaves_an_incomplete_flagged_screening(tmp_path: Path) -> None:
    with simulate_process(tmp_path) as sim:
        env = {"CART_BP_READINGS": "2", "CART_BP_INTERVAL_S": "30"}
        with serve_process(tmp_path, sim, env=env) as cart, client_for(cart) as client:
            sid = screening_for(client, PATIENT)
            time.sleep(1.1)
            started = client.post(
                f"{API}/screenings/{sid}/measure", json={"devices": ["baumanometro"]}
            )
            assert started.status_code == 202
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # the first reading, then the 30 s wait
                got = client.get(f"{API}/screenings/{sid}").json()
                if any(m["kind"] == "systolic_pressure" for m in got["measurements"]):
                    break
                time.sleep(0.1)
            cart.proc.send_signal(signal.SIGKILL)  # power cut between the two readings
            cart.proc.wait(timeout=10)
        with serve_process(tmp_path, sim, env=env) as cart, client_for(cart) as client:
            done = client.post(f"{API}/screenings/{sid}/complete")
            assert done.status_code == 200, done.text
            body = done.json()
    assert body["bp"] == {"required": 2, "valid": 1, "complete": False}
    assert body["classification"]["data_quality"]
    assert stored_by_patient(tmp_path / "cart.db", "systolic_pressure") == {CURP_A: [128.0]}


def test_measure_and_complete_raced_never_store_after_completion(tmp_path: Path) -> None:
    """Medir and Guardar sent at once, 20 times: no reading lands after completion."""
    with (
        simulate_process(tmp_path) as sim,
        serve_process(tmp_path, sim) as cart,
        client_for(cart) as client,
        ThreadPoolExecutor(2) as pool,
    ):
        for _ in range(20):
            sid = screening_for(client, PATIENT)
            client.post(  # something to complete with
                f"{API}/screenings/{sid}/measurements",
                json={"kind": "waist_circumference", "value": 88, "unit": "cm"},
            )
            measure = pool.submit(
                client.post,
                f"{API}/screenings/{sid}/measure",
                json={"devices": ["bascula"]},
            )
            complete = pool.submit(client.post, f"{API}/screenings/{sid}/complete")
            assert measure.result().status_code in (202, 409)
            assert complete.result().status_code in (200, 409)
            if measure.result().status_code == 202:
                client.get(f"{API}/screenings/{sid}/events")  # to the run's end
    with sqlite3.connect(tmp_path / "cart.db") as conn:
        late = conn.execute(
            "SELECT m.screening_id FROM measurement m JOIN screening s ON s.id = m.screening_id "
            "WHERE s.completed_at IS NOT NULL AND m.received_at > s.completed_at"
        ).fetchall()
        completed = conn.execute(
            "SELECT count(*) FROM screening WHERE status = 'completed'"
        ).fetchone()[0]
    assert late == []
    assert completed >= 1

"""Starting and stopping `cart serve` as a nurse or technician does (issue 13): a second
`make run` on a busy port, and Ctrl-C while the cuff is measuring."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.kiosk.kiosk import CART, curp, serve

ORIGINAL = '# the devices of the running cart\n[[device]]\nid = "bascula"\n'


def test_busy_port_fails_before_touching_the_devices_file(tmp_path: Path) -> None:
    devices = tmp_path / "var" / "devices.toml"
    devices.parent.mkdir()
    devices.write_text(ORIGINAL, encoding="utf-8")
    with socket.socket() as holder:  # the first `make run`, still serving
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [str(CART), "serve", "--simulate", "--fast", "--port", str(port)],
            cwd=tmp_path,
            env={**os.environ, "CART_BP_INTERVAL_S": "0"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
    # the simulators never started: the running cart's devices file is untouched
    assert devices.read_text(encoding="utf-8") == ORIGINAL


def test_ctrl_c_while_measuring_stops_without_a_traceback(tmp_path: Path) -> None:
    with serve(tmp_path, "--simulate", CART_BP_INTERVAL_S="30") as (base, proc):
        patient = httpx.post(
            f"{base}/api/v1/patients",
            json={
                "curp": curp("MALR600305MOCRPS0"),
                "given_name": "Rosa",
                "family_name": "Martínez López",
                "birth_date": "1960-03-05",
                "sex": "female",
            },
            timeout=10,
        ).json()
        sid = httpx.post(
            f"{base}/api/v1/screenings", json={"patient_id": patient["id"]}, timeout=10
        ).json()["id"]
        accepted = httpx.post(f"{base}/api/v1/screenings/{sid}/measure", timeout=10)
        assert accepted.status_code == 202
        status = httpx.get(f"{base}/api/v1/screenings/{sid}", timeout=10).json()["status"]
        assert status == "measuring"
        # the kiosk follows the run's events, as a browser does
        with httpx.stream("GET", f"{base}/api/v1/screenings/{sid}/events", timeout=60) as events:
            lines = events.iter_lines()
            while "connecting" not in next(lines):
                pass
            time.sleep(1)  # the drivers are connected and reading
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) in (0, 130)
    log = (tmp_path / "serve.log").read_text(encoding="utf-8", errors="replace")
    assert f"kiosk at {base} (Ctrl-C to stop)" in log
    assert "Traceback" not in log, log[-4000:]
    assert "KeyboardInterrupt" not in log
    assert "CancelledError" not in log

"""`cart serve --simulate` as a real process and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port, sign_in, wait_until_up
from tests.service.support import PATIENT, parse_sse

CART = Path(sys.executable).with_name("cart")


@pytest.fixture
def served(tmp_path):
    port = free_port()
    env = {**os.environ, "CART_LOG_LEVEL": "WARNING", "CART_BP_INTERVAL_S": "0"}
    proc = subprocess.Popen(
        [str(CART), "serve", "--simulate", "--fast", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    if not wait_until_up(proc, f"{base}/api/v1/health", 30):
        proc.kill()
        out = proc.stdout.read().decode() if proc.stdout else ""
        pytest.fail(f"cart serve did not come up: {out}")
    yield base, tmp_path
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout:
        proc.stdout.close()


def test_serve_simulate_serves_page_and_measures(served):
    base, cwd = served
    with httpx.Client(base_url=base, timeout=30) as client:
        page = client.get("/")
        assert page.status_code == 303  # signed out: the sign-in screen
        assert page.headers["location"] == "/signin.html"
        signin = client.get("/signin.html")
        assert signin.status_code == 200
        assert 'lang="es-MX"' in signin.text
        health = client.get("/api/v1/health").json()
        assert health["status"] == "ok"
        assert health["database"] == "ok"
        assert "bascula" in health["devices"]
        assert client.post("/api/v1/patients", json=PATIENT).status_code == 401
        sign_in(client)  # the simulated cart's demo nurse
        kiosk = client.get("/")
        assert kiosk.status_code == 200
        assert 'lang="es-MX"' in kiosk.text
        assert 'id="step-patient"' in kiosk.text
        patient = client.post("/api/v1/patients", json=PATIENT)
        assert patient.status_code == 201
        created = client.post("/api/v1/screenings", json={"patient_id": patient.json()["id"]})
        sid = created.json()["id"]
        accepted = client.post(f"/api/v1/screenings/{sid}/measure", json={"devices": ["bascula"]})
        assert accepted.status_code == 202
        # a real HTTP stream: it ends when the run ends
        with client.stream("GET", accepted.json()["events"]) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = parse_sse(stream.read().decode())
        assert events[-1].event == "end"
        weights = [
            m
            for e in events
            if e.event == "done"
            for m in e.data["measurements"]
            if m["kind"] == "body_weight"
        ]
        assert weights
        assert weights[0]["unit"] == "kg"
    assert (cwd / "var" / "cart.db").stat().st_mode & 0o777 == 0o600
    assert (cwd / "var" / "devices.toml").stat().st_mode & 0o777 == 0o600
    assert "[[device]]" in (cwd / "var" / "devices.toml").read_text()

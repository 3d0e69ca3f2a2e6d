"""Medplum's FHIR router over its in-memory repository (``medplum/server.js``), on a free
loopback port. ``npm ci`` in ``tests/fhir_servers/medplum`` installs it (``.ci/run`` does)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import IO

from tests.helpers import free_port, wait_until_up

HERE = Path(__file__).parent / "medplum"
SERVER = HERE / "server.js"


def missing() -> str | None:
    """Why Medplum cannot start here (None: it can)."""
    if shutil.which("node") is None:
        return "node is not installed (apt-get install nodejs npm)"
    if not (HERE / "node_modules" / "@medplum" / "fhir-router").is_dir():
        return f"run `npm ci` in {HERE}"
    return None


def start_medplum(log: IO[bytes]) -> tuple[subprocess.Popen[bytes], str]:
    """Start server.js; returns the process and its FHIR base URL (``.../fhir``)."""
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("node") or "node", str(SERVER), "--host", "127.0.0.1", "--port", str(port)],
        cwd=HERE,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/fhir"
    if wait_until_up(proc, f"{base}/metadata", 60):
        return proc, base
    stop(proc)
    raise RuntimeError("the Medplum test server did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

"""The service as a process: cold start, idle memory, and GET throughput on 127.0.0.1.

Method.

* **Cold start**: ``cart serve --simulate --fast --host 127.0.0.1 --port P`` (the real
  console script, a free port, a fresh working directory so the SQLite database is
  created and migrated from nothing, ``CART_*`` settings from the environment ignored) is
  started ``--starts`` times; each time the clock runs from ``Popen`` until
  ``GET /api/v1/health`` answers 200 with ``status: ok`` (polled every 10 ms). The
  figure is the median (min and max also given); it includes the interpreter, imports,
  the migration and starting the simulated devices (ptys, Modbus server, bumble BLE).
  Target: <= 2 s. "Cold" is the process: the OS file cache is warm after the first start.
* **Idle RSS**: ``VmRSS`` of that process from ``/proc/PID/status`` after it has been
  idle ``--idle-s`` seconds past its first healthy answer (median over the starts;
  ``VmHWM``, the peak, also given). Target: <= 150 MB.
* **GET throughput**: on the last started service a patient is registered and one
  screening measured with every device (so ``GET /api/v1/screenings/{id}`` returns ten
  or so measurements and a freshly computed classification). Then, per endpoint
  (``/api/v1/health``, ``/api/v1/devices``, ``/api/v1/screenings/{id}``), ``--clients``
  concurrent keep-alive HTTP/1.1 connections (a minimal asyncio client, much lighter
  than a full HTTP library so the load generator leaves the CPU to the server) send
  ``--requests`` GETs in all after a short warm-up, bounded by ``--max-s`` seconds.
  Reported: requests/s, p50/p99 latency, errors, and the server's CPU time per request
  (``/proc/PID/stat``). Client and server share the machine's cores, so requests/s is
  a floor for what the service alone could do.

``python -m bench.service [--starts N] [--requests N] [--clients N] [--quick]`` prints
JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.measure_overhead import PATIENT, free_port, percentile
from service.auth import SESSION_COOKIE
from service.demo import DEMO_CREDENTIALS

BIN = Path(sys.executable).parent
API = "/api/v1"
TARGET_COLD_START_S = 2.0
TARGET_IDLE_RSS_MB = 150.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Served:
    """One ``cart serve --simulate --fast`` process in its own directory."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.bind = ["--host", "127.0.0.1", "--port", str(self.port)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CART_")}
        env.update(
            CART_LOG_LEVEL="WARNING",
            CART_BP_INTERVAL_S="0",
            CART_DATABASE_URL=f"sqlite:///{folder / 'cart.db'}",
            CART_DEVICES_FILE=str(folder / "devices.toml"),
            CART_BLE_KEYSTORE=str(folder / "ble-bonds.json"),
        )
        self.log = (folder / "serve.log").open("wb")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            [*(str(BIN / "cart"), "serve", "--simulate", "--fast"), *self.bind],
            cwd=folder,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, timeout_s: float = 60.0) -> float:
        """Seconds from Popen to the first healthy answer."""
        with httpx.Client(base_url=self.base, timeout=2.0) as client:
            while True:
                try:
                    answer = client.get(f"{API}/health")
                    if answer.status_code == 200 and answer.json().get("status") == "ok":
                        return time.perf_counter() - self.started_at
                except httpx.TransportError:
                    pass
                elapsed = time.perf_counter() - self.started_at
                if self.proc.poll() is not None or elapsed > timeout_s:
                    self.stop()
                    log = (self.folder / "serve.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"cart serve did not become healthy: {log}")
                time.sleep(0.01)

    def status_kb(self, field: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise KeyError(field)

    def cpu_s(self) -> float:
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# --------------------------------------------------------------------------- load


async def _connection(
    port: int, path: str, take: Any, latencies: list[float], errors: list[str], cookie: str
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n"
        f"Cookie: {SESSION_COOKIE}={cookie}\r\n\r\n"
    ).encode()
    try:
        while take():
            began = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = None
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                raise RuntimeError(f"{path}: no Content-Length in {head[:200]!r}")
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            status = int(head[9:12])
            if status != 200:
                errors.append(f"{path}: HTTP {status}")
    finally:
        writer.close()
        await writer.wait_closed()


async def _load(
    port: int, path: str, requests: int, clients: int, max_s: float, cookie: str
) -> dict[str, Any]:
    issued = 0
    deadline = time.perf_counter() + max_s

    def take() -> bool:
        nonlocal issued
        if issued >= requests or time.perf_counter() > deadline:
            return False
        issued += 1
        return True

    latencies: list[float] = []
    errors: list[str] = []
    began = time.perf_counter()
    await asyncio.gather(
        *(_connection(port, path, take, latencies, errors, cookie) for _ in range(clients))
    )
    elapsed = time.perf_counter() - began
    ms = [s * 1000 for s in latencies]
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 3),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "errors": len(errors),
    }


def _measured_screening(base: str) -> tuple[int, str]:
    """A screening measured with every (fast simulated) device, for GET /screenings/{id},
    and the demo nurse's session cookie (patient data needs a signed-in user)."""
    with httpx.Client(base_url=base, timeout=60) as client:
        client.post(f"{API}/session", json=DEMO_CREDENTIALS).raise_for_status()
        patient = client.post(f"{API}/patients", json=PATIENT)
        patient.raise_for_status()
        created = client.post(f"{API}/screenings", json={"patient_id": patient.json()["id"]})
        created.raise_for_status()
        sid: int = created.json()["id"]
        accepted = client.post(f"{API}/screenings/{sid}/measure")
        accepted.raise_for_status()
        with client.stream("GET", accepted.json()["events"]) as stream:
            for _ in stream.iter_lines():
                pass
        shown = client.get(f"{API}/screenings/{sid}").json()
        if not shown["measurements"]:
            raise RuntimeError("the screening measured nothing")
        return sid, str(client.cookies[SESSION_COOKIE])


def _throughput(served: Served, args: argparse.Namespace) -> dict[str, Any]:
    sid, cookie = _measured_screening(served.base)
    paths = {
        "health": (f"{API}/health", f"{API}/health"),
        "devices": (f"{API}/devices", f"{API}/devices"),
        "screening": (f"{API}/screenings/{sid}", f"{API}/screenings/{{id}}"),
    }
    results: dict[str, Any] = {}
    for name, (path, shown) in paths.items():
        warm = min(50, args.requests)
        asyncio.run(_load(served.port, path, warm, args.clients, args.max_s, cookie))
        cpu_before, wall_before = served.cpu_s(), time.process_time()
        figures = asyncio.run(
            _load(served.port, path, args.requests, args.clients, args.max_s, cookie)
        )
        server_cpu = served.cpu_s() - cpu_before
        client_cpu = time.process_time() - wall_before
        results[name] = {
            "path": shown,
            **figures,
            "server_cpu_ms_per_request": round(1000 * server_cpu / figures["requests"], 3),
            "client_cpu_ms_per_request": round(1000 * client_cpu / figures["requests"], 3),
        }
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench.service")
    parser.add_argument("--starts", type=int, default=5, help="cold starts (median reported)")
    parser.add_argument("--idle-s", type=float, default=3.0, help="idle time before RSS")
    parser.add_argument("--requests", type=int, default=2000, help="GETs per endpoint")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections")
    parser.add_argument("--max-s", type=float, default=60.0, help="time bound per endpoint")
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 start, 60 GETs")
    args = parser.parse_args(argv if argv is not None else [])
    if args.quick:
        args.starts, args.idle_s, args.requests, args.clients = 1, 0.5, 60, 4
    starts: list[float] = []
    rss: list[float] = []
    hwm: list[float] = []
    throughput: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        for n in range(args.starts):
            folder = Path(tmp) / f"start-{n}"
            folder.mkdir()
            served = Served(folder)
            try:
                starts.append(served.wait_healthy())
                time.sleep(args.idle_s)
                rss.append(served.status_kb("VmRSS") / 1024)
                hwm.append(served.status_kb("VmHWM") / 1024)
                if n == args.starts - 1:
                    throughput = _throughput(served, args)
            finally:
                served.stop()
    cold = statistics.median(starts)
    idle = statistics.median(rss)
    return {
        "command": "cart serve --simulate --fast --host 127.0.0.1",
        "cold_start_s": {
            "median": round(cold, 3),
            "min": round(min(starts), 3),
            "max": round(max(starts), 3),
            "starts": len(starts),
            "target": TARGET_COLD_START_S,
            "meets_target": cold <= TARGET_COLD_START_S,
        },
        "idle_rss_mb": {
            "median": round(idle, 1),
            "max": round(max(rss), 1),
            "peak_vmhwm_mb": round(max(hwm), 1),
            "idle_s": args.idle_s,
            "target": TARGET_IDLE_RSS_MB,
            "meets_target": idle <= TARGET_IDLE_RSS_MB,
        },
        "get_throughput": {
            "clients": args.clients,
            "requests_per_endpoint": args.requests,
            "endpoints": throughput,
        },
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))

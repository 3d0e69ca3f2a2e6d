"""Catching up a backlog of completed screenings to a local FHIR server (issue 7).

A cart that was offline for days holds thousands of completed screenings. This writes
``--screenings`` of them (default 10,000; the sample screening of ``cart.sic.sample``:
9 Observations, 15 resources per Bundle) into a fresh cart database, starts the FHIR
stand-in (``sekmet serve``, SQLite, loopback), and times ``cart sync --once`` -- the
real command, in its own process -- draining the outbox. Figures:

* ``screenings_per_s`` and ``seconds`` of the catch-up (one transaction Bundle each);
* ``peak_rss_mb`` of the `cart sync` process (``wait4`` rusage): it stays flat whatever
  the backlog because the worker reads the outbox a page at a time;
* ``per_observation``: the same screenings sent the naive way, one request per resource
  (Patient, Devices, each Observation, the RiskAssessment, references filled in from
  the answers) over one keep-alive connection, on a sample of ``--naive`` screenings;
  ``speedup`` is bundle screenings/s over naive screenings/s and ``request_ratio`` the
  requests per screening the naive way (1 with Bundles).

``python -m bench.sic_catchup [--screenings N] [--naive M]`` prints JSON; ``main()``
returns the same dict for ``python -m bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.crash_drill import start_fhir_server
from cart.sic import GatewayIdentity
from cart.sic.fhir import build_bundle
from cart.sic.model import ScreeningExport
from cart.sic.sample import bulk_completed_screenings
from cart.store import Store, create_db_engine, migrate

BIN = Path(sys.executable).parent


def _catch_up(db_url: str, base: str) -> tuple[float, float, float, dict[str, Any]]:
    """Run `cart sync --once`; return (seconds, peak RSS in MB, CPU seconds, its report)."""
    env = {
        **os.environ,
        "CART_DATABASE_URL": db_url,
        "CART_SIC_BASE_URL": base,
        "CART_LOG_LEVEL": "WARNING",
    }
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [str(BIN / "cart"), "sync", "--once"], env=env, stdout=out, stderr=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        report: dict[str, Any] = json.loads(out.read() or b"{}")
    if proc.returncode != 0:
        raise RuntimeError(f"cart sync --once failed: {report}")
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, report


def _send_per_resource(client: httpx.Client, bundle: dict[str, Any]) -> int:
    """POST every entry on its own (conditional create), resolving references; return requests."""
    ids: dict[str, str] = {}
    requests = 0
    for entry in bundle["entry"]:
        resource = json.loads(_resolve(json.dumps(entry["resource"]), ids))
        response = client.post(
            f"/{entry['request']['url']}",
            json=resource,
            headers={
                "Content-Type": "application/fhir+json",
                "If-None-Exist": entry["request"]["ifNoneExist"],
            },
        )
        requests += 1
        response.raise_for_status()
        created = response.json()
        ids[entry["fullUrl"]] = f"{created['resourceType']}/{created['id']}"
    return requests


def _resolve(text: str, ids: dict[str, str]) -> str:
    for urn, ref in ids.items():
        text = text.replace(f'"{urn}"', f'"{ref}"')
    return text


def _per_observation(db_url: str, base: str, start: int, count: int) -> dict[str, Any]:
    engine = create_db_engine(db_url)
    migrate(engine)
    store = Store(engine)
    first = store.sync_status()["pending"] + store.sync_status()["sent"] + 1
    bulk_completed_screenings(store, start, count)
    gateway = GatewayIdentity.of_this_machine()
    bundles = []
    for sid in range(first, first + count):
        rows = store.screening_rows(sid)
        assert rows is not None
        bundles.append(build_bundle(ScreeningExport.from_rows(rows), gateway))
    engine.dispose()
    requests = 0
    observations = sum(
        1 for b in bundles for e in b["entry"] if e["resource"]["resourceType"] == "Observation"
    )
    with httpx.Client(base_url=base, timeout=30) as client:
        began = time.perf_counter()
        for bundle in bundles:
            requests += _send_per_resource(client, bundle)
        elapsed = time.perf_counter() - began
    return {
        "screenings": count,
        "requests": requests,
        "observations": observations,
        "seconds": round(elapsed, 2),
        "screenings_per_s": round(count / elapsed, 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench.sic_catchup")
    parser.add_argument("--screenings", type=int, default=10_000)
    parser.add_argument("--naive", type=int, default=200, help="screenings sent per resource")
    args = parser.parse_args(argv if argv is not None else [])
    with tempfile.TemporaryDirectory(prefix="sic-bench-") as tmp:
        folder = Path(tmp)
        db_url = f"sqlite:///{folder / 'cart.db'}"
        engine = create_db_engine(db_url)
        migrate(engine)
        began = time.perf_counter()
        bulk_completed_screenings(Store(engine), 0, args.screenings)
        setup = time.perf_counter() - began
        engine.dispose()
        server, base = start_fhir_server(folder, strict=False)
        try:
            seconds, rss, cpu, report = _catch_up(db_url, base)
            naive = _per_observation(db_url, base, 10_000_000, args.naive)
        finally:
            server.terminate()
            server.wait(timeout=10)
    sent = int(report["outbox"]["sent"])
    rate = sent / seconds
    return {
        "screenings": args.screenings,
        "sent": sent,
        "rejected": report["outbox"]["rejected"],
        "setup_seconds": round(setup, 1),
        "seconds": round(seconds, 2),
        "screenings_per_s": round(rate, 1),
        "requests_per_screening": 1,
        "resources_per_screening": 15,
        "peak_rss_mb": round(rss, 1),
        "client_cpu_seconds": round(cpu, 2),
        "server": "sekmet-fhir 0.1.1 (SQLite) on 127.0.0.1",
        "per_observation": naive,
        "request_ratio": round(naive["requests"] / naive["screenings"], 1),
        "speedup": round(rate / naive["screenings_per_s"], 2),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))

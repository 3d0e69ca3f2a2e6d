"""The soak (issue 8): screenings in a row through the real service, looking for leaks.

The service runs in this process (``service.main.create_app`` with its lifespan, reached
over ASGI, as in the service tests) with the fast simulated cart (``simulate`` +
``fast_simulators``: an A&D scale on a pty, a Modbus height rod, a Bluetooth cuff and
glucometer on bumble's virtual radio), a temporary SQLite database and, unless
``--no-sic``, a local FHIR server (``sekmet serve``) as SIC, so the outbox worker
delivers every screening while the next one is measured. Each screening is the nurse's
workflow: register a patient, open a screening, ``POST /measure`` (202), the SSE stream
to its end, ``POST /complete``.

After every screening this process is sampled: RSS (``VmRSS``), open file descriptors
(``/proc/self/fd``), threads (Python and native, ``/proc/self/task``) and asyncio tasks.
Growth is measured from the end of the warm-up (pools, caches and the service's kept
run logs fill up first) to the end; after the app's shutdown every task, thread and
descriptor it opened must be gone. Targets for 1,000 screenings: RSS growth <= 10 MB,
no growth in descriptors, threads or tasks.

The simulated glucometer holds three stored readings: the first screening downloads
them, later ones find no new reading (``DeviceReportedError``, counted in
``device_errors``), as a real meter would when nobody took a new sample.

    python -m bench.soak                       # 1,000 screenings
    python -m bench.soak --screenings 30 --warmup 10 --no-sic
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from bench.crash_drill import start_fhir_server, stop
from cart.config import Settings
from cart.sic.sample import sample_curp
from service.demo import DEMO_CREDENTIALS
from service.main import create_app

API: Final = "/api/v1"


@dataclass(frozen=True, slots=True)
class Sample:
    screenings: int
    rss_mb: float
    fds: int
    threads: int
    """Python threads, the worker pools' aside."""
    executor_threads: int
    """Worker-pool threads: the loop's default executor (``asyncio.to_thread``, at most
    ``min(32, CPUs + 4)``) and AnyIO's (Starlette's threadpool, at most 40)."""
    db_connections: int
    """SQLite connections the engine's pool holds (each keeps the db and -wal files open)."""
    native_threads: int
    """Every thread of the process (``/proc/self/task``)."""
    tasks: int


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


POOL_THREADS: Final = ("asyncio_", "AnyIO worker")
#: the largest the two worker pools may grow to
POOL_THREADS_BOUND: Final = min(32, (os.cpu_count() or 1) + 4) + 40


def _executor_thread(thread: threading.Thread) -> bool:
    return thread.name.startswith(POOL_THREADS)


def sample(screenings: int, *, collect: bool = False, pool: Any = None) -> Sample:
    if collect:
        gc.collect()
    threads = threading.enumerate()
    return Sample(
        screenings=screenings,
        rss_mb=round(_rss_mb(), 2),
        fds=len(os.listdir("/proc/self/fd")),
        threads=sum(1 for t in threads if not _executor_thread(t)),
        executor_threads=sum(1 for t in threads if _executor_thread(t)),
        db_connections=0 if pool is None else pool.checkedin() + pool.checkedout(),
        native_threads=len(os.listdir("/proc/self/task")),
        tasks=len(asyncio.all_tasks()),
    )


def open_files() -> Counter[str]:
    """What the open descriptors are (sockets, pipes, ptys, database files...)."""
    kinds: Counter[str] = Counter()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/dev/pts/"):
            target = "/dev/pts/N"
        elif target.startswith("/"):
            target = Path(target).name
        else:
            target = target.split(":")[0]
        kinds[target] += 1
    return kinds


class _Counting(logging.Handler):
    """Counts warnings by logger instead of printing one line per screening."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[f"{record.levelname} {record.name}"] += 1


async def _screening(client: httpx.AsyncClient, index: int, errors: Counter[str]) -> None:
    curp, born, sex = sample_curp(index)
    patient = await client.post(
        f"{API}/patients",
        json={
            "curp": curp,
            "given_name": "Ana María" if sex == "female" else "José Luis",
            "family_name": f"Soak Prueba {index}",
            "birth_date": born.isoformat(),
            "sex": sex,
        },
    )
    if patient.status_code != 201:
        raise RuntimeError(f"patient {index}: {patient.status_code} {patient.text}")
    created = await client.post(f"{API}/screenings", json={"patient_id": patient.json()["id"]})
    if created.status_code != 201:
        raise RuntimeError(f"screening {index}: {created.status_code} {created.text}")
    sid = created.json()["id"]
    accepted = await client.post(f"{API}/screenings/{sid}/measure")
    if accepted.status_code != 202:
        raise RuntimeError(f"measure {sid}: {accepted.status_code} {accepted.text}")
    events = await client.get(f"{API}/screenings/{sid}/events")
    if "event: end" not in events.text:
        raise RuntimeError(f"events of {sid} ended without 'end'")
    for block in events.text.split("\n\n"):
        if "event: error" in block:
            data = json.loads(block.split("data: ", 1)[1])
            errors[f"{data['device_id']}: {data['error']['type']}"] += 1
    done = await client.post(f"{API}/screenings/{sid}/complete")
    if done.status_code != 200:
        raise RuntimeError(f"complete {sid}: {done.status_code} {done.text}")


async def soak(folder: Path, screenings: int, warmup: int, sic_base: str | None) -> dict[str, Any]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        simulate=True,
        fast_simulators=True,
        database_url=f"sqlite:///{folder / 'cart.db'}",
        devices_file=folder / "devices.toml",
        sic_base_url=sic_base,
        log_level="WARNING",
        bp_interval_s=0,  # the norm's two minutes between cuff readings would dominate
    )
    await asyncio.sleep(0)
    before = sample(0, collect=True)
    samples: list[Sample] = []
    files: dict[str, Counter[str]] = {}
    errors: Counter[str] = Counter()
    sync: dict[str, Any] = {}
    began = time.monotonic()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", timeout=60
        ) as client:
            signed = await client.post(f"{API}/session", json=DEMO_CREDENTIALS)
            signed.raise_for_status()
            pool = app.state.cart.store.engine.pool
            pool_size = int(pool.size())
            started = sample(0, collect=True, pool=pool)
            for index in range(screenings):
                await _screening(client, index, errors)
                await asyncio.sleep(0)  # let the finished run's task be reaped
                done = index + 1
                samples.append(sample(done, collect=done in (warmup, screenings), pool=pool))
                if done in (warmup, screenings):
                    files["after_warmup" if done == warmup else "end"] = open_files()
                if done % 100 == 0:
                    last = samples[-1]
                    print(
                        f"soak: {done}/{screenings} rss={last.rss_mb} MB fds={last.fds} "
                        f"threads={last.threads}+{last.executor_threads} tasks={last.tasks}",
                        file=sys.stderr,
                    )
            measured = time.monotonic() - began
            if sic_base is not None:  # let the worker deliver the last ones
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    sync = (await client.get(f"{API}/sync")).json()
                    if sync["pending"] == 0:
                        break
                    await asyncio.sleep(0.2)
            else:
                sync = (await client.get(f"{API}/sync")).json()
    await asyncio.sleep(0)
    after = sample(screenings, collect=True)
    leaked_tasks = [
        t.get_name()
        for t in asyncio.all_tasks()
        if not t.done() and t is not asyncio.current_task()
    ]
    base = samples[warmup - 1]
    end = samples[-1]
    steady = samples[warmup - 1 :]

    def native(s: Sample) -> int:
        return s.native_threads - s.executor_threads

    fd_change = files["end"].copy()
    fd_change.subtract(files["after_warmup"])
    return {
        "screenings": screenings,
        "warmup": warmup,
        "seconds": round(measured, 1),
        "screenings_per_s": round(screenings / measured, 2),
        "sic": sic_base is not None,
        "db_pool_size": pool_size,
        "sync": {k: sync.get(k) for k in ("pending", "sent", "rejected")},
        "device_errors": dict(errors),
        "before_app": asdict(before),
        "app_started": asdict(started),
        "after_warmup": asdict(base),
        "end": asdict(end),
        "after_shutdown": asdict(after),
        "max_after_warmup": {
            "rss_mb": max(s.rss_mb for s in steady),
            "fds": max(s.fds for s in steady),
            "threads": max(s.threads for s in steady),
            "executor_threads": max(s.executor_threads for s in steady),
            "db_connections": max(s.db_connections for s in steady),
            "tasks": max(s.tasks for s in steady),
        },
        "growth_after_warmup": {
            "rss_mb": round(end.rss_mb - base.rss_mb, 2),
            "fds": end.fds - base.fds,
            "threads": end.threads - base.threads,
            "native_threads": native(end) - native(base),
            "tasks": end.tasks - base.tasks,
            "db_connections": end.db_connections - base.db_connections,
            "fd_kinds": {k: v for k, v in fd_change.items() if v},
        },
        "rss_mb_every_10pct": [
            s.rss_mb for s in samples[max(1, screenings // 10) - 1 :: max(1, screenings // 10)]
        ],
        "left_after_shutdown": {
            "fds": after.fds - before.fds,
            "threads": after.threads - before.threads,
            "tasks": after.tasks - before.tasks,
            "task_names": leaked_tasks,
        },
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--screenings", type=int, default=1000)
    parser.add_argument(
        "--warmup", type=int, default=None, help="default: 100 (10 below 200 screenings)"
    )
    parser.add_argument("--no-sic", action="store_true", help="no FHIR server, no SIC worker")
    args = parser.parse_args(argv if argv is not None else [])
    warmup = args.warmup if args.warmup is not None else (100 if args.screenings >= 200 else 10)
    if not 1 <= warmup <= args.screenings:
        parser.error("--warmup must be between 1 and --screenings")
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    counting = _Counting()
    root = logging.getLogger()
    root.addHandler(counting)
    fhir = None
    try:
        sic_base = None
        if not args.no_sic:
            fhir, sic_base = start_fhir_server(folder)
        result = asyncio.run(soak(folder, args.screenings, warmup, sic_base))
    finally:
        root.removeHandler(counting)
        if fhir is not None:
            stop(fhir)
        shutil.rmtree(folder, ignore_errors=True)
    growth = result["growth_after_warmup"]
    left = result["left_after_shutdown"]
    result["log_warnings"] = dict(counting.counts)
    database_files = {"cart.db", "cart.db-wal", "cart.db-shm"}
    result["targets"] = {
        "rss_growth_le_10_mb": growth["rss_mb"] <= 10.0,
        # descriptors grow only while the database pool fills up to its size
        "no_fd_growth": set(growth["fd_kinds"]) <= database_files
        and result["max_after_warmup"]["db_connections"] <= result["db_pool_size"],
        "no_thread_growth": growth["threads"] <= 0 and growth["native_threads"] <= 0,
        "worker_pools_within_bounds": result["max_after_warmup"]["executor_threads"]
        <= POOL_THREADS_BOUND,
        "no_task_growth": growth["tasks"] <= 0,
        "nothing_left_after_shutdown": left["fds"] <= 0
        and left["threads"] <= 0
        and left["tasks"] <= 0,
    }
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2, ensure_ascii=False))

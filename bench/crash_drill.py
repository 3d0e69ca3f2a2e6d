"""The crash drill (issue 8): SIGKILL the service while it measures and while it syncs.

``cart serve --simulate --fast`` runs as a real process on a free 127.0.0.1 port, with a
temporary SQLite database and a local FHIR server (``sekmet serve``, SQLite, loopback)
as SIC (``CART_SIC_BASE_URL``). The drill is the nurse's workflow over HTTP: register a
patient, open a screening, measure (202 + the SSE stream to its end), complete. Then,
``--kills`` times, the service gets SIGKILL at a random moment (the seed is printed and
can be pinned with ``--seed`` or ``CRASH_SEED``):

* ``measuring``: a random delay after ``POST /measure`` answered 202, so the devices are
  being read and readings are being committed;
* ``syncing``: a random delay after ``POST /complete`` answered 200, when the SIC worker
  has just been woken to claim the outbox entry and send its Bundle.

After each kill, before the restart, the database file is checked as the crash left it:
``PRAGMA integrity_check`` is ``ok`` (again once the restarted service has opened it)
and ``foreign_key_check`` is empty; every screening
whose completion was acknowledged (HTTP 200) is still completed with its outbox entry;
no device reading is partial (every reading has all of its device's measurement kinds
and its raw frames). The service is restarted; a screening interrupted mid-measure is
measured again and completed (the nurse presses Reintentar).

At the end the service is stopped, the leases the killed processes held on outbox
entries are released (the drill's stand-in for waiting out their 120 s), and ``cart sync
--once`` delivers what is left. Every completed screening must then be on the FHIR
server exactly once: each resource of its Bundle is counted by its conditional-create
key (Patient and Observations by identifier, the RiskAssessment by tag) and must be 1.

    python -m bench.crash_drill                 # 50 kills
    python -m bench.crash_drill --kills 3 --seed 1234
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from cart.sic import GatewayIdentity, build_bundle
from cart.sic.model import ScreeningExport
from cart.sic.sample import sample_curp
from cart.store import Store, create_db_engine
from service.demo import DEMO_CREDENTIALS

BIN = Path(sys.executable).parent
API: Final = "/api/v1"
#: the measurement kinds of one complete reading of each simulated device
DEVICE_KINDS: Final[dict[str, frozenset[str]]] = {
    "bascula": frozenset({"body_weight"}),
    "estadimetro": frozenset({"body_height"}),
    "baumanometro": frozenset(
        {"systolic_pressure", "diastolic_pressure", "mean_arterial_pressure", "pulse_rate"}
    ),
    "glucometro": frozenset({"glucose"}),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_fhir_server(folder: Path, *, strict: bool = True) -> tuple[subprocess.Popen[bytes], str]:
    """``sekmet serve`` on a free loopback port (``strict``: strict inbound validation).

    Shared by the crash drill, the soak and the SIC catch-up benchmark.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    config = folder / "sekmet.yaml"
    config.write_text(
        f"host: 127.0.0.1\nport: {port}\nbase_url: {base}\ndb_path: {folder / 'fhir.db'}\n"
        f"data_dir: {folder / 'fhir-data'}\nlog_inbound: false\nsimulator:\n  enabled: false\n"
        + ("validation:\n  inbound: strict\n" if strict else ""),
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [str(BIN / "sekmet"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=folder,
        env={**os.environ, "SEKMET_CONFIG": str(config)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/metadata", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise RuntimeError("the FHIR stand-in (sekmet) did not start")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- the service


class Service:
    """One life of ``cart serve --simulate --fast`` on the drill's database."""

    def __init__(self, folder: Path, db_path: Path, sic_base: str) -> None:
        self.folder = folder
        self.env = {
            **os.environ,
            "CART_DATABASE_URL": f"sqlite:///{db_path}",
            "CART_SIC_BASE_URL": sic_base,
            "CART_LOG_LEVEL": "WARNING",
            "CART_BP_INTERVAL_S": "0",
        }
        self.log = folder / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = ""

    def start(self) -> float:
        """Start and wait for a healthy ``/health``; returns the seconds it took."""
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        began = time.monotonic()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "cart"), "serve", "--simulate", "--fast", "--port", str(port)],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        while time.monotonic() - began < 60:
            try:
                health = httpx.get(f"{self.base}{API}/health", timeout=2)
                if health.status_code == 200 and health.json().get("status") == "ok":
                    return time.monotonic() - began
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        tail = self.log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"cart serve did not come up:\n{tail}")

    def kill(self) -> None:
        """SIGKILL: no lifespan shutdown, no lease released, requests cut mid-way."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        """A clean shutdown (SIGINT, as Ctrl-C)."""
        if self.proc is not None:
            stop(self.proc, signal.SIGINT)
            self.proc = None


# --------------------------------------------------------------------------- the nurse


class ServiceDown(Exception):
    """The service went away in the middle of a request."""


@dataclass
class Nurse:
    """Drives the workflow over HTTP and remembers what the service acknowledged."""

    acknowledged: set[int] = field(default_factory=set)
    """Screenings whose ``POST /complete`` answered 200."""
    open: list[int] = field(default_factory=list)
    """Screenings interrupted before completion (to be measured again)."""
    next_index: int = 0
    device_errors: Counter[str] = field(default_factory=Counter)

    def client(self, base: str) -> httpx.Client:
        try:  # each life of the service is a new sign-in (sessions live in memory)
            signed = httpx.post(f"{base}{API}/session", json=DEMO_CREDENTIALS, timeout=60)
        except httpx.TransportError as exc:
            raise ServiceDown(str(exc)) from exc
        signed.raise_for_status()
        return httpx.Client(base_url=base + API, timeout=60, cookies=signed.cookies)

    def _call(self, client: httpx.Client, method: str, url: str, **kw: Any) -> httpx.Response:
        try:
            return client.request(method, url, **kw)
        except httpx.TransportError as exc:
            raise ServiceDown(str(exc)) from exc

    def new_screening(self, client: httpx.Client) -> int:
        curp, born, sex = sample_curp(self.next_index)
        self.next_index += 1
        patient = self._call(
            client,
            "POST",
            "/patients",
            json={
                "curp": curp,
                "given_name": "Ana María" if sex == "female" else "José Luis",
                "family_name": f"Simulacro Prueba {self.next_index}",
                "birth_date": born.isoformat(),
                "sex": sex,
            },
        )
        if patient.status_code != 201:
            raise RuntimeError(f"registering a patient: {patient.status_code} {patient.text}")
        created = self._call(
            client, "POST", "/screenings", json={"patient_id": patient.json()["id"]}
        )
        if created.status_code != 201:
            raise RuntimeError(f"opening a screening: {created.status_code} {created.text}")
        sid: int = created.json()["id"]
        self.open.append(sid)
        return sid

    def start_measuring(self, client: httpx.Client, sid: int) -> None:
        accepted = self._call(client, "POST", f"/screenings/{sid}/measure")
        if accepted.status_code != 202:
            raise RuntimeError(f"measuring {sid}: {accepted.status_code} {accepted.text}")

    def measure(self, client: httpx.Client, sid: int) -> None:
        """Measure every device and follow the SSE stream until the run ends."""
        self.start_measuring(client, sid)
        events = self._call(client, "GET", f"/screenings/{sid}/events")
        text = events.text
        if "event: end" not in text:
            raise ServiceDown("the event stream ended without 'end'")
        for block in text.split("\n\n"):
            if "event: error" in block:
                data = json.loads(block.split("data: ", 1)[1])
                self.device_errors[f"{data['device_id']}: {data['error']['type']}"] += 1

    def complete(self, client: httpx.Client, sid: int) -> None:
        done = self._call(client, "POST", f"/screenings/{sid}/complete")
        if done.status_code != 200:
            raise RuntimeError(f"completing {sid}: {done.status_code} {done.text}")
        self.acknowledged.add(sid)
        self.open.remove(sid)

    def finish_open(self, client: httpx.Client, db: Path) -> int:
        """Screenings interrupted by a kill: completed already, or measured again."""
        resumed = 0
        for sid in list(self.open):
            status = _screening_status(db, sid)
            if status == "completed":  # completed, but the answer was lost with the process
                self.open.remove(sid)
                self.acknowledged.add(sid)
                continue
            self.measure(client, sid)
            self.complete(client, sid)
            resumed += 1
        return resumed


def _screening_status(db: Path, sid: int) -> str | None:
    with closing(sqlite3.connect(db)) as con:
        row = con.execute("SELECT status FROM screening WHERE id = ?", (sid,)).fetchone()
    return None if row is None else str(row[0])


# --------------------------------------------------------------------------- the checks


def check_database(db: Path, acknowledged: set[int]) -> dict[str, Any]:
    """The database as a crash left it: integrity, acknowledged completions, no partial reading."""
    with closing(sqlite3.connect(db)) as con:
        checked = [str(r[0]) for r in con.execute("PRAGMA integrity_check")]
        foreign = con.execute("PRAGMA foreign_key_check").fetchall()
        completed = {
            r[0] for r in con.execute("SELECT id FROM screening WHERE status = 'completed'")
        }
        queued = {r[0] for r in con.execute("SELECT screening_id FROM outbox")}
        readings: dict[str, tuple[str | None, set[str], int]] = {}
        for reading_id, device_id, kind, manual, context in con.execute(
            "SELECT reading_id, device_id, kind, manual_entry, context FROM measurement"
        ):
            if manual:
                continue
            dev, kinds, averaged = readings.get(reading_id, (device_id, set(), 0))
            kinds.add(kind)
            averaged |= int('"average"' in (context or ""))
            readings[reading_id] = (dev, kinds, averaged)
        framed = {r[0] for r in con.execute("SELECT DISTINCT reading_id FROM raw_frame")}
    partial = []
    for reading_id, (device_id, kinds, averaged) in readings.items():
        want = DEVICE_KINDS.get(device_id or "")
        if want is not None and kinds != want:
            partial.append(f"{device_id} reading {reading_id}: {sorted(kinds)}")
        if not averaged and reading_id not in framed:
            partial.append(f"{device_id} reading {reading_id}: no raw frames")
    return {
        "integrity": checked,
        "foreign_key_violations": len(foreign),
        "lost": sorted(acknowledged - completed),
        "completed_without_outbox": sorted(completed - queued),
        "partial_readings": partial,
        "completed": len(completed),
    }


def integrity(db: Path) -> list[str]:
    """``PRAGMA integrity_check`` (a read: fine while the service runs, thanks to WAL)."""
    with closing(sqlite3.connect(db)) as con:
        return [str(r[0]) for r in con.execute("PRAGMA integrity_check")]


def release_dead_leases(db: Path) -> int:
    """Every process that could hold a lease is dead: free their entries now."""
    with closing(sqlite3.connect(db)) as con:
        cursor = con.execute(
            "UPDATE outbox SET lease_until = NULL "
            "WHERE status = 'pending' AND lease_until IS NOT NULL"
        )
        con.commit()
        return cursor.rowcount


def final_sync(folder: Path, db: Path, sic_base: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "CART_DATABASE_URL": f"sqlite:///{db}",
        "CART_SIC_BASE_URL": sic_base,
        "CART_LOG_LEVEL": "WARNING",
    }
    out = subprocess.run(
        [str(BIN / "cart"), "sync", "--once", "--backoff", "0.05", "--timeout", "30"],
        cwd=folder,
        env=env,
        capture_output=True,
        check=False,
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"cart sync --once failed ({out.returncode}): {out.stderr[-2000:]!r}")
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def check_fhir(db: Path, sic_base: str, screenings: set[int]) -> dict[str, Any]:
    """Each resource of each completed screening's Bundle is on the server exactly once."""
    engine = create_db_engine(f"sqlite:///{db}")
    store = Store(engine)
    gateway = GatewayIdentity.of_this_machine()
    missing: list[str] = []
    duplicated: list[str] = []
    resources: Counter[str] = Counter()
    try:
        with httpx.Client(base_url=sic_base, timeout=30) as fhir:
            for sid in sorted(screenings):
                rows = store.screening_rows(sid)
                if rows is None:
                    missing.append(f"screening {sid} not in the cart database")
                    continue
                bundle = build_bundle(ScreeningExport.from_rows(rows), gateway)
                for entry in bundle["entry"]:
                    kind = entry["resource"]["resourceType"]
                    key = entry["request"]["ifNoneExist"]
                    found = fhir.get(f"/{kind}?{key}&_summary=count")
                    found.raise_for_status()
                    total = int(found.json()["total"])
                    resources[kind] += 1
                    if total == 0:
                        missing.append(f"screening {sid}: {kind} {key}")
                    elif total > 1:
                        duplicated.append(f"screening {sid}: {kind} {key} x{total}")
    finally:
        engine.dispose()
    return {
        "screenings": len(screenings),
        "resources_checked": dict(resources),
        "missing": missing,
        "duplicated": duplicated,
    }


# --------------------------------------------------------------------------- the drill


def drill(
    folder: Path, kills: int, rng: random.Random, log: list[dict[str, Any]]
) -> dict[str, Any]:
    db = folder / "cart.db"
    fhir, sic_base = start_fhir_server(folder)
    service = Service(folder, db, sic_base)
    nurse = Nurse()
    checks: list[dict[str, Any]] = []
    after_restart: list[list[str]] = []
    starts: list[float] = []
    resumed = 0
    phases: Counter[str] = Counter()
    sync_in_flight = 0
    try:
        for kill in range(1, kills + 1):
            starts.append(service.start())
            if kill > 1:  # and once the restarted service has opened (and migrated) it
                after_restart.append(integrity(db))
            with nurse.client(service.base) as client:
                resumed += nurse.finish_open(client, db)
                for _ in range(rng.randint(0, 2)):
                    sid = nurse.new_screening(client)
                    nurse.measure(client, sid)
                    nurse.complete(client, sid)
                phase = rng.choice(("measuring", "syncing"))
                delay = rng.uniform(0.0, 0.8) if phase == "measuring" else rng.uniform(0.0, 0.06)
                sid = nurse.new_screening(client)
                if phase == "measuring":
                    nurse.start_measuring(client, sid)
                else:
                    nurse.measure(client, sid)
                    nurse.complete(client, sid)
                time.sleep(delay)
                service.kill()
            phases[phase] += 1
            state = check_database(db, nurse.acknowledged)
            stored = _stored_devices(db, sid)
            entry = _outbox_state(db, sid)
            if phase == "syncing" and entry == "leased":
                sync_in_flight += 1
            checks.append(state)
            log.append(
                {
                    "kill": kill,
                    "phase": phase,
                    "started_in_s": round(starts[-1], 2),
                    "delay_s": round(delay, 3),
                    "screening": sid,
                    "devices_stored": stored,
                    "outbox": entry,
                    "integrity": state["integrity"],
                    "lost": state["lost"],
                }
            )
            print(
                f"crash drill: kill {kill}/{kills} {phase} +{delay:.3f}s screening {sid} "
                f"stored={stored} outbox={entry} integrity={','.join(state['integrity'])}",
                file=sys.stderr,
            )
        # the last life: finish what the kills interrupted, then a clean stop
        starts.append(service.start())
        after_restart.append(integrity(db))
        with nurse.client(service.base) as client:
            resumed += nurse.finish_open(client, db)
        service.stop()
        final_state = check_database(db, nurse.acknowledged)
        checks.append(final_state)
        released = release_dead_leases(db)
        report = final_sync(folder, db, sic_base)
        fhir_state = check_fhir(db, sic_base, nurse.acknowledged)
    finally:
        service.kill()
        stop(fhir)
    bad_integrity = [c["integrity"] for c in checks if c["integrity"] != ["ok"]]
    bad_integrity += [result for result in after_restart if result != ["ok"]]
    lost = sorted({sid for c in checks for sid in c["lost"]})
    partial = [p for c in checks for p in c["partial_readings"]]
    orphans = sorted({s for c in checks for s in c["completed_without_outbox"]})
    outbox = report["outbox"]
    ok = (
        not bad_integrity
        and not lost
        and not partial
        and not orphans
        and not any(c["foreign_key_violations"] for c in checks)
        and not fhir_state["missing"]
        and not fhir_state["duplicated"]
        and outbox["pending"] == 0
        and outbox["rejected"] == 0
        and outbox["sent"] == len(nurse.acknowledged) == final_state["completed"]
    )
    return {
        "ok": ok,
        "kills": kills,
        "kills_by_phase": dict(phases),
        "kills_with_a_bundle_in_flight": sync_in_flight,
        "kills_mid_measurement": sum(
            1 for e in log if e["phase"] == "measuring" and 0 < len(e["devices_stored"]) < 4
        ),
        "screenings_completed": len(nurse.acknowledged),
        "interrupted_screenings_resumed": resumed,
        "integrity_checks": len(checks) + len(after_restart),
        "integrity_failures": bad_integrity,
        "lost_screenings": lost,
        "partial_readings": partial,
        "completed_without_outbox": orphans,
        "device_errors": dict(nurse.device_errors),
        "leases_released_before_final_sync": released,
        "final_sync": {
            "pass": report["pass"],
            "outbox": {k: outbox[k] for k in ("pending", "sent", "rejected")},
        },
        "fhir": fhir_state,
        "restart_s": {
            "median": round(sorted(starts)[len(starts) // 2], 2),
            "max": round(max(starts), 2),
        },
    }


def _stored_devices(db: Path, sid: int) -> list[str]:
    with closing(sqlite3.connect(db)) as con:
        rows = con.execute(
            "SELECT DISTINCT device_id FROM measurement WHERE screening_id = ? ORDER BY 1", (sid,)
        ).fetchall()
    return [str(r[0]) for r in rows]


def _outbox_state(db: Path, sid: int) -> str:
    """``none``, ``pending``, ``leased`` (claimed by the killed worker) or ``sent``."""
    with closing(sqlite3.connect(db)) as con:
        row = con.execute(
            "SELECT status, lease_until FROM outbox WHERE screening_id = ?", (sid,)
        ).fetchone()
    if row is None:
        return "none"
    status, lease = row
    return "leased" if status == "pending" and lease is not None else str(status)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench.crash_drill", description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None, help="default: CRASH_SEED or random")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, db)")
    args = parser.parse_args(argv if argv is not None else [])
    seed = args.seed
    if seed is None:
        seed = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"crash drill: seed {seed} (pin it with --seed {seed})", file=sys.stderr)
    folder = Path(tempfile.mkdtemp(prefix="crash-drill-"))
    log: list[dict[str, Any]] = []
    began = time.monotonic()
    try:
        result = drill(folder, args.kills, random.Random(seed), log)
    except BaseException:
        print(f"crash drill: failed with seed {seed}; work folder kept: {folder}", file=sys.stderr)
        raise
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "seed": seed,
        **result,
        "seconds": round(time.monotonic() - began, 1),
        "work_folder": str(folder) if args.keep else None,
        "timeline": log,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2, ensure_ascii=False))

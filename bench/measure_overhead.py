"""Software overhead of a measurement: from the API call to the stored, classified result.

Method. The real service (:func:`service.main.create_app`, the settings of
``cart serve --simulate``) runs under uvicorn on a free port of 127.0.0.1 in this
process, with the simulated cart of :mod:`simulators.world` configured for *zero
delay*: the simulators' ``fast()`` configs with every delay they allow set to 0:

* scale (serial pty, ``and.weighing``): ``ScaleConfig.fast(interval_s=0,
  unstable_frames=0)``, a stream of stable lines as fast as the pty takes them;
* height rod (Modbus RTU behind the pty bridge): ``ModbusDeviceConfig.fast(settle_s=0,
  unstable_reads=0)`` and the driver's ``poll_interval_s = 0``: the first read settles;
* cuff (BLE, bumble virtual link): ``BloodPressureConfig.fast`` with start, inflate,
  deflate and disconnect delays 0 and ``cuff_update_s = 0.001`` (its minimum above 0);
* glucometer (BLE): ``GlucometerConfig.fast`` (``record_interval_s = 0``), one new
  stored record per screening (the patient's fingerstick, added before each run).

What cannot be zeroed stays and is part of the figures: BLE advertising every 20 ms
(the LE minimum) before a connection, and the scale simulator's 5 ms retry while its
pty is full (the driver flushes stale lines on open and waits for the next one).

A run (all untimed set-up first: a new screening by ``POST /screenings``, a pause of
``NEXT_PATIENT_S`` so the patient's readings are unambiguously stamped after the screening
opened, the patient's steps on the simulators) is timed with ``time.perf_counter`` from just before
``POST /screenings/{id}/measure`` (202) through the ``end`` event of
``GET /screenings/{id}/events`` (SSE over the same keep-alive connection) to the return
of ``GET /screenings/{id}``, which must show the stored measurements and a
classification. The HTTP client (httpx) runs on the service's event loop, so its own
work is in the figures (a kiosk shares the cart's CPU too). Targets: each device alone
(scale, stadiometer, cuff, glucometer) and the whole four-device screening,
interleaved round-robin after a warm-up so that load drift on a shared machine hits
every target alike. Reported per target: p50 and p99
(linear interpolation), mean, min, max, the p50 to the ``end`` event alone, and whether
p99 meets the issue-8 target (<= 50 ms for serial and Modbus devices; BLE devices and
the whole screening have no target and report ``meets_target: null``). The cuff is read
``--bp-readings`` times (default 1: one reading; the service's NOM-030 default is 2).

``python -m bench.measure_overhead [--runs N] [--quick]`` prints JSON. The harness
(:func:`running_cart`, :class:`Timings`) is shared with :mod:`bench.concurrency`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import uvicorn

import simulators.world
from cart.attribution import CLOCK_MARGIN_S
from cart.config import Settings
from cart.curp import check_digit
from cart.devices import DeviceConfig, Role
from cart.protocols import and_weighing
from service.demo import DEMO_CREDENTIALS
from service.main import create_app
from simulators.ble.config import BloodPressureConfig, GlucometerConfig, GlucoseRecord
from simulators.ble.world import start_virtual_ble_world
from simulators.modbus_device import ModbusDeviceConfig, ModbusDeviceSimulator
from simulators.serial_scale import ScaleConfig, SerialScaleSimulator
from simulators.world import PatientScript, SimulatedCart

API = "/api/v1"
TARGET_P99_MS = 50.0
#: role -> the device id of the simulated cart (as in simulators.world)
DEVICE_IDS = {
    "scale": "bascula",
    "stadiometer": "estadimetro",
    "bp": "baumanometro",
    "glucometer": "glucometro",
}
TRANSPORTS = {"scale": "serial", "stadiometer": "modbus", "bp": "ble", "glucometer": "ble"}
#: the issue-8 target applies to serial and Modbus devices only
TARGETED = {"serial", "modbus"}
#: a fictional adult (born 1975-04-12, female, Ciudad de México)
_CURP17 = "HEPL750412MDFRRC0"
PATIENT = {
    "curp": _CURP17 + check_digit(_CURP17),
    "given_name": "Lucía",
    "family_name": "Hernández Prieto",
    "birth_date": date(1975, 4, 12).isoformat(),
    "sex": "female",
}
BLE_MIN_ADVERTISING_MS = 20.0


# --------------------------------------------------------------------------- timings


@dataclass(frozen=True)
class Timings:
    """How long each simulated device takes, in seconds."""

    name: str
    fast: bool
    """The service's ``fast_simulators`` (short driver deadlines)."""
    scale_interval_s: float
    """Between two lines of the scale's stream."""
    scale_settle_s: float
    """From the patient stepping on to the first stable line (0: always stable)."""
    rod_settle_s: float
    rod_unstable_reads: int
    rod_poll_s: float
    """The Modbus driver's ``poll_interval_s``."""
    rod_session_gap_s: float
    cuff: dict[str, float] = field(default_factory=dict)
    """BloodPressureConfig timing fields."""
    glucometer_record_s: float = 0.0
    advertising_ms: float = BLE_MIN_ADVERTISING_MS

    @classmethod
    def zero(cls) -> Timings:
        return cls(
            name="zero-delay",
            fast=True,
            scale_interval_s=0.0,
            scale_settle_s=0.0,
            rod_settle_s=0.0,
            rod_unstable_reads=0,
            rod_poll_s=0.0,
            rod_session_gap_s=1.0,
            cuff={
                "start_delay_s": 0.0,
                "inflate_s": 0.0,
                "deflate_s": 0.0,
                "cuff_update_s": 0.001,
                "disconnect_after_s": 0.0,
            },
            glucometer_record_s=0.0,
            advertising_ms=BLE_MIN_ADVERTISING_MS,
        )

    @classmethod
    def realistic(cls, factor: float = 1.0) -> Timings:
        """Scale ~3 s, height rod ~2 s, cuff ~30 s, glucometer ~5 s, all times ``factor``.

        * scale: a line every 0.1 s (A&D stream mode); unstable lines for 3 s after the
          patient steps on, then stable;
        * height rod: settles 2 s after the first read of a new patient (2 "measuring"
          reads at least); the driver polls every 0.2 s;
        * cuff: the simulator's defaults (0.5 s to start, 8 s inflating, 20 s deflating,
          cuff pressure every 0.5 s, disconnect 0.2 s after the result);
        * glucometer: the download of the new record takes 5 s (``record_interval_s``);
        * BLE advertising every 100 ms (never below the LE minimum of 20 ms).
        """
        f = factor
        return cls(
            name=f"realistic x{f:g}",
            fast=False,
            scale_interval_s=0.1 * f,
            scale_settle_s=3.0 * f,
            rod_settle_s=2.0 * f,
            rod_unstable_reads=2,
            rod_poll_s=0.2 * f,
            rod_session_gap_s=2.0 * f,
            cuff={
                "start_delay_s": 0.5 * f,
                "inflate_s": 8.0 * f,
                "deflate_s": 20.0 * f,
                "cuff_update_s": min(5.0, 0.5 * f),
                "disconnect_after_s": 0.2 * f,
            },
            glucometer_record_s=5.0 * f,
            advertising_ms=max(BLE_MIN_ADVERTISING_MS, 100.0 * f),
        )

    def nominal_s(self) -> dict[str, float]:
        """What each device takes by its simulator's timing alone."""
        c = self.cuff
        return {
            "scale": self.scale_settle_s,
            "stadiometer": self.rod_settle_s,
            "bp": c["start_delay_s"] + c["inflate_s"] + c["deflate_s"],
            "glucometer": self.glucometer_record_s,
        }


# --------------------------------------------------------------------------- simulators


class SteppingScale(SerialScaleSimulator):
    """The serial scale with a patient on it: empty platform (0.00 kg) until
    :meth:`step_on`, then unstable lines for ``settle_s``, then stable ones.

    ``settle_s == 0``: the patient is always on and every line is stable.
    """

    def __init__(self, config: ScaleConfig, settle_s: float) -> None:
        super().__init__(config)
        self.settle_s = settle_s
        self._on_at: float | None = None if settle_s > 0 else -math.inf

    def step_on(self) -> None:
        if self.settle_s > 0:
            self._on_at = time.monotonic()

    def step_off(self) -> None:
        if self.settle_s > 0:
            self._on_at = None

    def frames(self) -> list[bytes]:  # one line per call: the state is read as it is sent
        cfg = self.config
        if self._on_at is None:
            return [and_weighing.encode(0.0, "kg", header="ST", decimals=cfg.decimals)]
        elapsed = time.monotonic() - self._on_at
        if elapsed < self.settle_s:
            partial = cfg.weight_kg * (0.6 + 0.4 * elapsed / self.settle_s)
            return [and_weighing.encode(partial, "kg", header="US", decimals=cfg.decimals)]
        return [and_weighing.encode(cfg.weight_kg, "kg", header="ST", decimals=cfg.decimals)]


@dataclass
class BenchCart(SimulatedCart):
    """:class:`simulators.world.SimulatedCart` with the bench's timings and a patient
    who acts (steps on the scale, stands under the rod, pricks a finger) per run."""

    timings: Timings = field(default_factory=Timings.zero)
    scale_sim: SteppingScale | None = None
    rod_sim: ModbusDeviceSimulator | None = None

    async def start(self) -> BenchCart:
        t, p = self.timings, self.patient
        self.scale_sim = SteppingScale(
            ScaleConfig.fast(
                weight_kg=p.weight_kg, interval_s=t.scale_interval_s, unstable_frames=0
            ),
            t.scale_settle_s,
        )
        await self.scale_sim.start()
        self._stops.append(self.scale_sim.stop)
        self.devices.append(
            DeviceConfig(
                id=DEVICE_IDS["scale"],
                role=Role.SCALE,
                driver="and.weighing",
                transport="serial",
                port=self.scale_sim.port,
                timeout_s=10.0 if t.fast else 30.0,
                options={"baudrate": 9600},
            )
        )
        self.rod_sim = ModbusDeviceSimulator(
            ModbusDeviceConfig.fast(
                profile="height_rod",
                value=p.height_cm,
                settle_s=t.rod_settle_s,
                unstable_reads=t.rod_unstable_reads,
                session_gap_s=t.rod_session_gap_s,
            )
        )
        await self.rod_sim.start()
        self._stops.append(self.rod_sim.stop)
        self.devices.append(
            self.rod_sim.device_config(
                DEVICE_IDS["stadiometer"],
                Role.STADIOMETER,
                timeout_s=10.0 if t.fast else 30.0,
                poll_interval_s=t.rod_poll_s,
            )
        )
        cuff = BloodPressureConfig.fast(
            systolic=float(p.systolic),
            diastolic=float(p.diastolic),
            pulse=float(p.pulse),
            advertising_interval_ms=t.advertising_ms,
            **t.cuff,
        )
        meter = GlucometerConfig.fast(
            records=(),
            record_interval_s=t.glucometer_record_s,
            advertising_interval_ms=t.advertising_ms,
        )
        self.ble = await start_virtual_ble_world(
            fast=t.fast, devices=["bp", "glucometer"], bp=cuff, glucometer=meter
        )
        self._stops.append(self.ble.stop)
        ids = {Role.BP: DEVICE_IDS["bp"], Role.GLUCOMETER: DEVICE_IDS["glucometer"]}
        for cfg in self.ble.device_configs():
            self.devices.append(
                DeviceConfig(
                    id=ids[cfg.role],
                    role=cfg.role,
                    driver=cfg.driver,
                    transport=cfg.transport,
                    address=cfg.address,
                    name=cfg.name,
                    timeout_s=cfg.timeout_s,
                    options=dict(cfg.options),
                )
            )
        return self

    def patient_arrives(self, device_ids: Sequence[str]) -> None:
        """What the patient does as the nurse presses Medir (untimed)."""
        if DEVICE_IDS["scale"] in device_ids and self.scale_sim is not None:
            self.scale_sim.step_on()
        if DEVICE_IDS["stadiometer"] in device_ids and self.rod_sim is not None:
            self.rod_sim.set_value(self.patient.height_cm)  # a new reading starts
        if DEVICE_IDS["glucometer"] in device_ids and self.ble and self.ble.glucometer:
            # the fingerstick happens now: a stored record older than the last work on
            # another screening is refused (it could be the previous patient's)
            self.ble.glucometer.add_record(GlucoseRecord(self.patient.glucose_mg_dl, timedelta(0)))

    def patient_leaves(self) -> None:
        if self.scale_sim is not None:
            self.scale_sim.step_off()


# --------------------------------------------------------------------------- harness

#: untimed pause between two screenings (a real one is minutes; see Harness.measure):
#: a record stamped (to the whole second) within the clock margin after the last work on
#: another screening is refused in doubt, so the fingerstick comes after both
NEXT_PATIENT_S = CLOCK_MARGIN_S + 1.1
#: the devices whose readings carry their own time stamp (judged against the window)
STAMPED = {DEVICE_IDS["bp"], DEVICE_IDS["glucometer"]}


@dataclass(frozen=True)
class Run:
    total_s: float
    """POST measure to the GET that shows the classified result."""
    end_s: float
    """POST measure to the SSE ``end`` event."""
    ok: bool
    detail: str = ""


@dataclass
class Harness:
    client: httpx.AsyncClient
    cart: BenchCart
    patient_id: int

    async def measure(self, device_ids: Sequence[str] | None) -> Run:
        """One timed run of ``device_ids`` (None: every device) on a new screening."""
        created = await self.client.post(f"{API}/screenings", json={"patient_id": self.patient_id})
        created.raise_for_status()
        # untimed: the patient measures a moment after the screening opened. Device clocks
        # stamp whole seconds (a clock set over BLE can lag by up to one more), and a record
        # stamped before the screening opened, while another one is open, is rightly refused
        sid = created.json()["id"]
        wanted = list(device_ids) if device_ids else list(DEVICE_IDS.values())
        if STAMPED & set(wanted):  # live scale and rod readings carry no device time
            await asyncio.sleep(NEXT_PATIENT_S)
        self.cart.patient_arrives(wanted)
        try:
            return await self._timed(sid, device_ids, wanted)
        finally:
            self.cart.patient_leaves()

    async def _timed(self, sid: int, device_ids: Sequence[str] | None, wanted: list[str]) -> Run:
        body = {"devices": list(device_ids)} if device_ids else None
        start = time.perf_counter()
        accepted = await self.client.post(f"{API}/screenings/{sid}/measure", json=body)
        if accepted.status_code != 202:
            return Run(0.0, 0.0, False, f"measure answered {accepted.status_code}")
        end: dict[str, Any] | None = None
        end_at = 0.0
        async with self.client.stream("GET", accepted.json()["events"]) as stream:
            event = ""
            async for line in stream.aiter_lines():  # read to the close: keeps the connection
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "end" and end is None:
                    end_at = time.perf_counter()
                    end = json.loads(line[5:])
        shown = await self.client.get(f"{API}/screenings/{sid}")
        done_at = time.perf_counter()
        if end is None or end.get("failed") or end.get("status") != "finished":
            return Run(0.0, 0.0, False, f"run ended {end}")
        screening = shown.json()
        stored = {m["device_id"] for m in screening.get("measurements", [])}
        if not set(wanted) <= stored or screening.get("classification") is None:
            return Run(0.0, 0.0, False, "the result was not stored and classified")
        return Run(done_at - start, end_at - start, True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def running_cart(
    timings: Timings, *, bp_readings: int = 1, patient: PatientScript | None = None
) -> AsyncIterator[Harness]:
    """The service on 127.0.0.1 with a :class:`BenchCart`, and a client with a patient."""
    patient = patient or PatientScript()
    carts: list[BenchCart] = []

    def make_cart(*, fast: bool = False) -> BenchCart:
        cart = BenchCart(fast=fast, patient=patient, timings=timings)
        carts.append(cart)
        return cart

    with tempfile.TemporaryDirectory(prefix="bench-cart-") as tmp:
        folder = Path(tmp)
        values: dict[str, Any] = {
            "_env_file": None,  # nothing from a .env file of the working directory
            "simulate": True,
            "fast_simulators": timings.fast,
            "database_url": f"sqlite:///{folder / 'cart.db'}",
            "devices_file": folder / "devices.toml",
            "ble_keystore": folder / "ble-bonds.json",
            "bp_readings": bp_readings,
            "bp_interval_s": 0,  # the overhead, not the norm's wait, is measured
            "sic_base_url": None,
            "log_level": "WARNING",
        }
        settings = Settings(**values)
        port = free_port()
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        server = uvicorn.Server(config)
        # the service's lifespan builds `simulators.world.SimulatedCart(fast=...)`
        with mock.patch.object(simulators.world, "SimulatedCart", make_cart):
            task = asyncio.create_task(server.serve(), name="bench-uvicorn")
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("the service did not start")
                await asyncio.sleep(0.01)
        try:
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", timeout=300
            ) as client:
                signed = await client.post(f"{API}/session", json=DEMO_CREDENTIALS)
                signed.raise_for_status()
                answer = await client.post(f"{API}/patients", json=PATIENT)
                answer.raise_for_status()
                yield Harness(client, carts[0], answer.json()["id"])
        finally:
            server.should_exit = True
            await task


# --------------------------------------------------------------------------- figures


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    k = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(seconds: Sequence[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {
        "runs": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(sum(ms) / len(ms), 2),
        "min_ms": round(min(ms), 2),
        "max_ms": round(max(ms), 2),
    }


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    targets: dict[str, list[str] | None] = {
        role: [device] for role, device in DEVICE_IDS.items() if role in args.only
    }
    if "screening" in args.only:
        targets["screening"] = None
    runs: dict[str, list[Run]] = {name: [] for name in targets}
    failures: list[str] = []
    async with running_cart(Timings.zero(), bp_readings=args.bp_readings) as cart:
        for i in range(args.warmup + args.runs):
            for name, devices in targets.items():
                run = await cart.measure(devices)
                if not run.ok:
                    failures.append(f"{name}: {run.detail}")
                elif i >= args.warmup:
                    runs[name].append(run)
    results: dict[str, Any] = {}
    for name, done in runs.items():
        transport = TRANSPORTS.get(name, "all")
        target = TARGET_P99_MS if transport in TARGETED else None
        if not done:
            results[name] = {"runs": 0, "transport": transport, "meets_target": False}
            continue
        figures = summary_ms([r.total_s for r in done])
        results[name] = {
            "device_id": DEVICE_IDS.get(name),
            "transport": transport,
            **figures,
            "end_event_p50_ms": round(percentile([r.end_s * 1000 for r in done], 50), 2),
            "target_p99_ms": target,
            "meets_target": None if target is None else figures["p99_ms"] <= target,
        }
    return {
        "simulators": "zero-delay (fast configs, delays 0 where allowed)",
        "measured": "POST measure -> SSE end -> GET screening with classification",
        "runs": args.runs,
        "warmup": args.warmup,
        "bp_readings": args.bp_readings,
        "target_p99_ms": TARGET_P99_MS,
        "targets": results,
        "failures": len(failures),
        "failure_examples": failures[:5],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench.measure_overhead")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per target")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per target first")
    parser.add_argument("--bp-readings", type=int, default=1, help="cuff readings per run")
    parser.add_argument(
        "--only",
        nargs="*",
        default=[*DEVICE_IDS, "screening"],
        choices=[*DEVICE_IDS, "screening"],
        help="targets to time (default: every device alone and the whole screening)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 runs, no warm-up")
    args = parser.parse_args(argv if argv is not None else [])
    if args.quick:
        args.runs, args.warmup = 3, 0
    return asyncio.run(_bench(args))


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))

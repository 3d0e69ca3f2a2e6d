"""Concurrency: a whole screening takes about as long as its slowest device.

Method. The same harness as :mod:`bench.measure_overhead` (the real service under
uvicorn on 127.0.0.1, the simulated cart, timed from ``POST /screenings/{id}/measure``
to the ``GET`` that shows the stored, classified result), with *realistic* simulator
timings (:meth:`bench.measure_overhead.Timings.realistic`):

* scale ~3 s: unstable lines for 3 s after the patient steps on (a line every 0.1 s);
* height rod ~2 s: settles 2 s after the first read of the new patient (polled every
  0.2 s by the driver);
* cuff ~30 s: 0.5 s to start, 8 s inflating, 20 s deflating (BLE);
* glucometer ~5 s: the download of the new record takes 5 s (BLE).

Each device is measured alone, then all four in one screening (the nurse's **Medir**);
with ``--repeats N`` the figures are medians. Reported: each device alone, the whole
screening, the slowest device, ``ratio`` = screening / slowest (target <= 1.05), the
``sequential_sum_s`` of the devices alone (what reading them one after another would
take) and its ratio to the slowest. The cuff is read ``--bp-readings`` times (default 1,
one ~30 s reading; the service's NOM-030 default of 2 would double the cuff).

``--scale-timings 0.1`` runs every simulator delay (and the driver's poll interval)
ten times faster, same ratios, for a quick run; the BLE advertising interval never goes
below the LE minimum of 20 ms. Default: the real timings (about 75 s in all).

``python -m bench.concurrency [--scale-timings F] [--repeats N] [--quick]`` prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from typing import Any

from bench.measure_overhead import DEVICE_IDS, Timings, running_cart

TARGET_RATIO = 1.05


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    timings = Timings.realistic(args.scale_timings)
    targets: dict[str, list[str] | None] = {role: [d] for role, d in DEVICE_IDS.items()}
    targets["screening"] = None
    seconds: dict[str, list[float]] = {name: [] for name in targets}
    failures: list[str] = []
    pause = max(0.1, 0.5 * args.scale_timings)  # BLE devices advertise again after a result
    async with running_cart(timings, bp_readings=args.bp_readings) as cart:
        for _ in range(args.repeats):
            for name, devices in targets.items():
                await asyncio.sleep(pause)
                run = await cart.measure(devices)
                if run.ok:
                    seconds[name].append(run.total_s)
                else:
                    failures.append(f"{name}: {run.detail}")
    missing = [name for name, values in seconds.items() if not values]
    if missing:
        raise RuntimeError(f"no successful run of {missing}: {failures[:5]}")
    median = {name: statistics.median(values) for name, values in seconds.items()}
    alone = {role: median[role] for role in DEVICE_IDS}
    slowest = max(alone, key=alone.__getitem__)
    whole = median["screening"]
    total = sum(alone.values())
    ratio = whole / alone[slowest]
    return {
        "scale_timings": args.scale_timings,
        "repeats": args.repeats,
        "bp_readings": args.bp_readings,
        "measured": "POST measure -> SSE end -> GET screening with classification",
        "nominal_s": {k: round(v, 3) for k, v in timings.nominal_s().items()},
        "alone_s": {k: round(v, 3) for k, v in alone.items()},
        "screening_s": round(whole, 3),
        "slowest_device": slowest,
        "slowest_s": round(alone[slowest], 3),
        "ratio": round(ratio, 4),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO,
        "sequential_sum_s": round(total, 3),
        "sequential_ratio": round(total / alone[slowest], 3),
        "failures": len(failures),
        "failure_examples": failures[:5],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench.concurrency")
    parser.add_argument(
        "--scale-timings",
        type=float,
        default=1.0,
        help="multiply every simulator delay (0.1: ten times faster, same ratios)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="rounds; figures are medians")
    parser.add_argument("--bp-readings", type=int, default=1, help="cuff readings per run")
    parser.add_argument("--quick", action="store_true", help="smoke test: --scale-timings 0.03")
    args = parser.parse_args(argv if argv is not None else [])
    if args.quick:
        args.scale_timings, args.repeats = 0.03, 1
    if not 0 < args.scale_timings <= 10:
        parser.error("--scale-timings must be in (0, 10]")
    return asyncio.run(_bench(args))


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))

"""Frames per second per wire format, on one core, over each format's cited examples.

Each registered protocol's ``examples`` are decoded round-robin for a fixed number of
frames; the figure is frames/s of ``decode()`` (the same function `cart decode` and the
drivers use). Target (issue 8): >= 100,000 frames/s for every format.

``--repeat N`` runs each format N times and reports the best run (``best_of``): on a
shared machine other processes only ever make a run slower, so the best of several runs
is the least noisy estimate of what the decoder itself costs. ``--clock cpu`` times with
the thread's CPU clock instead of the wall clock: time the decoder spends descheduled
(another process on the core) is then not counted, which keeps the figure meaningful on
a busy machine; on an idle one both clocks agree.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cart.protocols import all_protocols

TARGET_FPS = 100_000


def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.thread_time}


def measure(
    decode: Any,
    examples: tuple[bytes, ...],
    frames: int,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    batch = list(examples) * (frames // len(examples) + 1)
    batch = batch[:frames]
    start = clock()
    for frame in batch:
        decode(frame)
    elapsed = clock() - start
    return frames / elapsed if elapsed > 0 else float("inf")


def best_of(
    decode: Any,
    examples: tuple[bytes, ...],
    frames: int,
    repeat: int,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """The highest frames/s of ``repeat`` runs (after one short warm-up run)."""
    measure(decode, examples, 1_000, clock)  # warm-up
    return max(measure(decode, examples, frames, clock) for _ in range(repeat))


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench.decode_throughput")
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per format; the best is reported"
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall: elapsed time; cpu: this thread's CPU time (for a busy machine)",
    )
    parser.add_argument("--only", nargs="*", help="protocol ids")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2,000 frames, one run per format"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.repeat = 2_000, 1
    if args.frames < 1:
        parser.error("--frames must be at least 1")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    per_format: dict[str, Any] = {}
    for pid, spec in all_protocols().items():
        if args.only and pid not in args.only:
            continue
        if not spec.examples:
            per_format[pid] = {"frames_per_s": None, "note": "no examples registered"}
            continue
        fps = best_of(spec.decode, spec.examples, args.frames, args.repeat, CLOCKS[args.clock])
        per_format[pid] = {
            "frames_per_s": round(fps),
            "meets_target": fps >= TARGET_FPS,
            "examples": len(spec.examples),
        }
    return {
        "target_frames_per_s": TARGET_FPS,
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "frames": args.frames,
        "best_of": args.repeat,
        "clock": args.clock,
        "formats": per_format,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))

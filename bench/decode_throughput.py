"""Frames per second per wire format, on one core, over each format's cited examples.

Each registered protocol's ``examples`` are decoded round-robin for a fixed number of
frames; the figure is frames/s of ``decode()`` (the same function `cart decode` and the
drivers use). Target (issue 8): >= 100,000 frames/s for every format.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from cart.protocols import all_protocols

TARGET_FPS = 100_000


def measure(decode: Any, examples: tuple[bytes, ...], frames: int) -> float:
    batch = list(examples) * (frames // len(examples) + 1)
    batch = batch[:frames]
    start = time.perf_counter()
    for frame in batch:
        decode(frame)
    elapsed = time.perf_counter() - start
    return frames / elapsed


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench.decode_throughput")
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--only", nargs="*", help="protocol ids")
    args = parser.parse_args(argv)
    per_format: dict[str, Any] = {}
    for pid, spec in all_protocols().items():
        if args.only and pid not in args.only:
            continue
        if not spec.examples:
            per_format[pid] = {"frames_per_s": None, "note": "no examples registered"}
            continue
        measure(spec.decode, spec.examples, 1_000)  # warm-up
        fps = measure(spec.decode, spec.examples, args.frames)
        per_format[pid] = {
            "frames_per_s": round(fps),
            "meets_target": fps >= TARGET_FPS,
            "examples": len(spec.examples),
        }
    return {"target_frames_per_s": TARGET_FPS, "formats": per_format}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))

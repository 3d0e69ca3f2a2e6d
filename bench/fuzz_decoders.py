"""Fuzz every registered decoder with random and mutated inputs; a reproducible seed.

Each decoder gets ``--inputs`` byte strings: half random, half mutations of its cited
examples (bit flips, byte replacements, truncation, insertion, duplication, splicing two
examples). Any exception other than a ``ProtocolError`` subclass is a failure, and so is
an input that takes longer than ``--hang-ms`` to decode. The seed is printed and can be
pinned with ``FUZZ_SEED`` or ``--seed``.

    python -m bench.fuzz_decoders --inputs 1000000          # the full drill (issue 8)
    FUZZ_SEED=1234 python -m bench.fuzz_decoders --only tanita.line
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from cart.errors import ProtocolError
from cart.protocols import all_protocols


def mutate(rng: random.Random, examples: tuple[bytes, ...]) -> bytes:
    data = bytearray(rng.choice(examples))
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        if op == 0 and data:  # flip a bit
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1 and data:  # replace a byte
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op == 2 and data:  # truncate
            del data[rng.randrange(len(data)) :]
        elif op == 3:  # insert random bytes
            i = rng.randrange(len(data) + 1)
            data[i:i] = rng.randbytes(rng.randint(1, 8))
        elif op == 4 and data:  # duplicate a slice
            i = rng.randrange(len(data))
            data[i:i] = data[i : i + rng.randint(1, 8)]
        elif op == 5:  # splice another example
            other = rng.choice(examples)
            cut = rng.randrange(len(other) + 1)
            data = data[: rng.randrange(len(data) + 1)] + bytearray(other[cut:])
        elif op == 6 and data:  # interesting values
            data[rng.randrange(len(data))] = rng.choice((0x00, 0xFF, 0x7F, 0x80, 0x0D, 0x0A))
    return bytes(data)


def inputs(rng: random.Random, examples: tuple[bytes, ...], n: int) -> Iterator[bytes]:
    for i in range(n):
        if examples and i % 2:
            yield mutate(rng, examples)
        else:
            yield rng.randbytes(rng.randint(0, 64))


def fuzz_one(
    decode: Callable[[bytes], Any], examples: tuple[bytes, ...], n: int, seed: int, hang_ms: float
) -> dict[str, Any]:
    rng = random.Random(seed)
    decoded = rejected = 0
    slowest = 0.0
    failures: list[dict[str, str]] = []
    for data in inputs(rng, examples, n):
        start = time.perf_counter()
        try:
            decode(data)
            decoded += 1
        except ProtocolError:
            rejected += 1
        except Exception as exc:  # the point: anything else is a bug
            if len(failures) < 5:
                failures.append(
                    {
                        "input": data.hex(),
                        "error": f"{type(exc).__name__}: {exc}",
                        "where": traceback.format_exc(limit=-2),
                    }
                )
        elapsed = time.perf_counter() - start
        slowest = max(slowest, elapsed)
        if elapsed * 1000 > hang_ms and len(failures) < 5:
            failures.append({"input": data.hex(), "error": f"slow: {elapsed * 1000:.1f} ms"})
    return {
        "inputs": n,
        "decoded": decoded,
        "rejected_with_protocol_error": rejected,
        "slowest_ms": round(slowest * 1000, 3),
        "failures": failures,
    }


def run(n: int, seed: int, only: list[str] | None = None, hang_ms: float = 250.0) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for index, (pid, spec) in enumerate(all_protocols().items()):
        if only and pid not in only:
            continue
        results[pid] = fuzz_one(spec.decode, spec.examples, n, seed + index, hang_ms)
    failed = sorted(pid for pid, r in results.items() if r["failures"])
    return {"seed": seed, "inputs_per_decoder": n, "failed": failed, "decoders": results}


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench.fuzz_decoders")
    parser.add_argument("--inputs", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--hang-ms", type=float, default=250.0)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int(os.environ.get("FUZZ_SEED", "0") or 0)
    if seed == 0:
        seed = random.SystemRandom().randrange(1, 2**31)
    print(f"fuzz seed: {seed} (pin with FUZZ_SEED={seed})", file=sys.stderr)
    return run(args.inputs, seed, args.only, args.hang_ms)


if __name__ == "__main__":
    report = main(sys.argv[1:])
    print(json.dumps(report, indent=2))
    sys.exit(1 if report["failed"] else 0)

"""`python -m bench [NAME ...]`: run every benchmark (or the named ones), print one JSON."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import sys
from typing import Any

import bench

CPU_FIRST = ("decode_throughput", "fuzz_decoders")


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def available() -> list[str]:
    """Every benchmark module, single-core CPU figures first (before drills leave
    subprocesses winding down)."""
    return sorted(
        (m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_")),
        key=lambda name: (name not in CPU_FIRST, name),
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    names = available()
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run every benchmark (or the named ones) and print one JSON object "
        "with the machine and each benchmark's figures. `make bench` saves it and "
        "regenerates the README's tables. Each also runs alone: "
        "`python -m bench.NAME --help`.",
        epilog="benchmarks: " + ", ".join(names),
    )
    parser.add_argument("--output", metavar="FILE", help="also write the JSON to FILE")
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in names]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    output = args.output
    names = args.names or available()
    results: dict[str, Any] = {"machine": machine()}
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"bench: running {name}", file=sys.stderr)
        results[name] = module.main([])
    text = json.dumps(results, indent=2)
    print(text)
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

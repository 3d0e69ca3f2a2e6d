"""`python -m bench [NAME ...]`: run every benchmark (or the named ones), print one JSON."""

from __future__ import annotations

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


def main(argv: list[str]) -> int:
    output = None
    if argv[:1] == ["--output"]:
        output, argv = argv[1], argv[2:]
    names = argv or sorted(
        (m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_")),
        # single-core CPU figures first, before drills leave subprocesses winding down
        key=lambda name: (name not in CPU_FIRST, name),
    )
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

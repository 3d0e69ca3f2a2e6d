"""The issue-8 benchmarks run in their quick mode and print JSON of the documented shape.

Timing belongs in bench/: nothing here asserts a figure against a target, only that
every figure is there and is a positive number. Each benchmark runs as the lead runs
it alone (``python -m bench.NAME --quick``), in its own process.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_bench(name: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--quick", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def positive(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def assert_positive(data: dict[str, Any], *keys: str) -> None:
    for key in keys:
        assert positive(data[key]), f"{key} = {data[key]!r}"


@pytest.mark.timeout(120)
def test_measure_overhead_quick() -> None:
    data = run_bench("measure_overhead")
    assert set(data["targets"]) == {"scale", "stadiometer", "bp", "glucometer", "screening"}
    for name, figures in data["targets"].items():
        assert figures["runs"] == data["runs"] == 3, name
        assert_positive(figures, "p50_ms", "p99_ms", "mean_ms", "min_ms", "max_ms")
        assert_positive(figures, "end_event_p50_ms")
        assert figures["meets_target"] in (True, False, None)
    assert data["targets"]["scale"]["target_p99_ms"] == data["target_p99_ms"]
    assert data["targets"]["bp"]["target_p99_ms"] is None


@pytest.mark.timeout(120)
def test_concurrency_quick() -> None:
    data = run_bench("concurrency")
    roles = {"scale", "stadiometer", "bp", "glucometer"}
    assert set(data["alone_s"]) == set(data["nominal_s"]) == roles
    assert_positive(data["alone_s"], *roles)
    assert_positive(data, "screening_s", "slowest_s", "ratio", "sequential_sum_s")
    assert_positive(data, "sequential_ratio", "scale_timings")
    assert data["slowest_device"] in roles
    assert isinstance(data["meets_target"], bool)


@pytest.mark.timeout(120)
def test_service_quick() -> None:
    data = run_bench("service")
    assert_positive(data["cold_start_s"], "median", "min", "max")
    assert_positive(data["idle_rss_mb"], "median", "max", "peak_vmhwm_mb")
    endpoints = data["get_throughput"]["endpoints"]
    assert set(endpoints) == {"health", "devices", "screening"}
    for name, figures in endpoints.items():
        assert_positive(figures, "requests", "requests_per_s", "p50_ms", "p99_ms")
        assert figures["errors"] == 0, name
        assert figures["path"].startswith("/api/v1/")


@pytest.mark.timeout(120)
def test_store_quick(tmp_path: Path) -> None:
    data = run_bench("store", "--cache-dir", str(tmp_path))
    assert_positive(data["rows"], "patient", "screening", "measurement")
    assert data["rows"]["measurement"] == 20_000
    assert data["generation"]["cached"] is False
    for name in ("screening", "history"):
        figures = data["operations"][name]
        assert_positive(figures, "samples", "p50_ms", "p99_ms", "mean_ms", "max_ms")
        assert_positive(figures, "rows_per_op")
    assert data["query_plans"]
    assert all(plan["plan"] for plan in data["query_plans"])
    assert isinstance(data["indexes_ok"], bool)
    # a rerun uses the cached database
    again = run_bench("store", "--cache-dir", str(tmp_path))
    assert again["generation"]["cached"] is True


@pytest.mark.timeout(120)
def test_sqlite_sync_quick(tmp_path: Path) -> None:
    data = run_bench("sqlite_sync", "--dir", str(tmp_path))
    assert data["writes"] == 100
    assert data["pragma_synchronous"] == {"full": 2, "normal": 1}
    for mode in ("full", "normal"):
        assert data[mode]["runs"] == 100
        assert_positive(data[mode], "p50_ms", "p99_ms", "mean_ms", "max_ms")
    assert isinstance(data["full_minus_normal_p50_ms"], float)
    assert_positive(data, "full_over_normal_p50")

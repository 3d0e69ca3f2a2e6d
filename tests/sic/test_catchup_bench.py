"""bench.sic_catchup in miniature: both servers, the baseline, the way before batching
and batches, everything sent."""

from __future__ import annotations

import os

import pytest

from bench import sic_catchup
from tests.fhir_servers import medplum_server


def test_the_catch_up_benchmark_reports_both_servers():
    why = medplum_server.missing()
    if why and not os.environ.get("CI"):  # in CI it must run (.ci/run installs it)
        pytest.skip(why)
    out = sic_catchup.main(
        ["--screenings", "6", "--naive", "2", "--concurrency", "2", "--batch", "3"]
    )
    for server in ("sekmet", "medplum"):
        fig = out[server]
        assert [(r["batch"], r["concurrency"]) for r in fig["runs"]] == [(3, 2)]
        before = fig["one_per_screening"]
        assert (before["batch"], before["concurrency"]) == (1, 1)
        assert all((r["sent"], r["rejected"]) == (6, 0) for r in [before, *fig["runs"]])
        assert fig["per_resource"]["requests"] == 2 * 15
        assert fig["per_resource_first_send"]["requests"] == 2 * 15
        for run in [before, *fig["runs"]]:
            assert run["server_cpu_seconds"] > 0  # the server did the work, and it shows
            assert run["server_bound_speedup"] > 0
            assert run["speedup_vs_per_resource_first_send"] > 0
        assert all(r["speedup_vs_per_resource"] > 0 for r in [before, *fig["runs"]])
        assert fig["best"]["batch"] == 3

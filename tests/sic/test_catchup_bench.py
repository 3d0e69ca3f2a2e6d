"""bench.sic_catchup in miniature: both servers, two concurrency levels, everything sent."""

from __future__ import annotations

import os

import pytest

from bench import sic_catchup
from tests.fhir_servers import medplum_server


def test_the_catch_up_benchmark_reports_both_servers():
    why = medplum_server.missing()
    if why and not os.environ.get("CI"):  # in CI it must run (.ci/run installs it)
        pytest.skip(why)
    out = sic_catchup.main(["--screenings", "6", "--naive", "2", "--concurrency", "1,3"])
    for server in ("sekmet", "medplum"):
        runs = out[server]["runs"]
        assert [r["concurrency"] for r in runs] == [1, 3]
        assert all((r["sent"], r["rejected"]) == (6, 0) for r in runs)
        assert out[server]["per_resource"]["requests"] == 2 * 15
        assert all(r["speedup_vs_per_resource"] > 0 for r in runs)

"""The soak of issue 8 (``bench/soak.py``): screenings in a row through the real service.

CI runs 20 screenings (after a warm-up of 6) and checks that nothing grows but the
bounded pools: no asyncio task, no thread, no descriptor other than the database pool's
connections; and that the app's shutdown leaves nothing behind. ``--run-slow`` runs
1,000 and also holds RSS growth after the warm-up to 10 MB. No timing is asserted.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench import soak

DATABASE_FILES = {"cart.db", "cart.db-wal", "cart.db-shm"}


def _assert_no_leaks(result: dict[str, Any], screenings: int) -> None:
    print(json.dumps(result, ensure_ascii=False))
    assert result["screenings"] == screenings
    assert result["sync"] == {"pending": 0, "sent": screenings, "rejected": 0}
    growth = result["growth_after_warmup"]
    assert growth["tasks"] == 0
    assert growth["threads"] <= 0
    assert growth["native_threads"] <= 0
    # the one allowance: the database pool opening connections up to its size
    assert set(growth["fd_kinds"]) <= DATABASE_FILES, growth["fd_kinds"]
    assert result["max_after_warmup"]["db_connections"] <= result["db_pool_size"]
    assert result["max_after_warmup"]["executor_threads"] <= soak.POOL_THREADS_BOUND
    # the app's shutdown closes everything it opened
    left = result["left_after_shutdown"]
    assert left == {"fds": 0, "threads": 0, "tasks": 0, "task_names": []}, left


def test_twenty_screenings_leak_no_task_thread_or_descriptor() -> None:
    result = soak.main(["--screenings", "20", "--warmup", "6"])
    _assert_no_leaks(result, 20)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_a_thousand_screenings_within_ten_megabytes() -> None:
    result = soak.main(["--screenings", "1000"])
    _assert_no_leaks(result, 1000)
    assert result["growth_after_warmup"]["rss_mb"] <= 10.0
    assert all(result["targets"].values()), result["targets"]

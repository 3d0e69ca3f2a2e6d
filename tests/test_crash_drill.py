"""The crash drill of issue 8 (``bench/crash_drill.py``): SIGKILL the service while it
measures and while it syncs, restart it, and lose nothing.

CI runs 3 kills (a real `cart serve --simulate --fast` process, a real FHIR server);
``--run-slow`` runs the drill's full 50. The seed is random unless ``CRASH_SEED`` pins
it, and is printed (pytest shows it with a failure).
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

import pytest

from bench import crash_drill


def _seed() -> int:
    return int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(2**32))


def _drill(kills: int) -> dict[str, Any]:
    seed = _seed()
    print(f"crash drill seed: CRASH_SEED={seed}")
    result = crash_drill.main(["--kills", str(kills), "--seed", str(seed)])
    assert result["seed"] == seed
    print(json.dumps({k: v for k, v in result.items() if k != "timeline"}, ensure_ascii=False))
    return result


def _assert_nothing_lost_nothing_twice(result: dict[str, Any], kills: int) -> None:
    assert result["kills"] == kills
    assert len(result["timeline"]) == kills
    assert all(kill["integrity"] == ["ok"] for kill in result["timeline"])
    # after each kill, after each restart, and at the end
    assert result["integrity_checks"] == 2 * kills + 1
    assert result["integrity_failures"] == []
    assert result["lost_screenings"] == []
    assert result["partial_readings"] == []
    assert result["completed_without_outbox"] == []
    # every completed screening reached the FHIR server, each resource exactly once
    completed = result["screenings_completed"]
    assert completed >= kills // 2
    assert result["final_sync"]["outbox"] == {"pending": 0, "sent": completed, "rejected": 0}
    fhir = result["fhir"]
    assert fhir["screenings"] == completed
    assert fhir["missing"] == []
    assert fhir["duplicated"] == []
    assert fhir["resources_checked"]["RiskAssessment"] == completed
    assert fhir["resources_checked"]["Patient"] == completed
    assert result["ok"] is True


@pytest.mark.timeout(90)
def test_three_sigkills_lose_nothing_and_deliver_every_screening_once() -> None:
    result = _drill(3)
    _assert_nothing_lost_nothing_twice(result, 3)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_fifty_sigkills_while_measuring_and_syncing() -> None:
    result = _drill(50)
    _assert_nothing_lost_nothing_twice(result, 50)
    # 50 seeded draws cover both moments, and the kills really cut work in half
    assert set(result["kills_by_phase"]) == {"measuring", "syncing"}
    assert result["kills_mid_measurement"] >= 1

"""The wrong-patient drill, one round of each scenario (``bench.wrong_patient`` runs more).

Every scenario drives the real service against simulators that outlive its restarts;
it passes with 0 misattributed readings and every refusal explained to the nurse.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.wrong_patient import PATIENT_A, PATIENT_B, SCENARIOS, Cart, drill, run_scenario


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_scenario_attributes_nothing_to_the_wrong_patient(name: str, tmp_path: Path) -> None:
    outcome = await run_scenario(name, tmp_path)
    assert outcome.failure is None, outcome.failure
    assert outcome.misattributed == []


def test_the_drill_counts_a_reading_stored_under_the_other_patient() -> None:
    """What the drill judges by: a value B never took, stored under B, is counted."""
    cart = Cart(Path("."), None, None, Path("."))  # type: ignore[arg-type]
    cart.taken_by[236.0] = "A"
    rows = [(2, PATIENT_B["curp"], 236.0, "glucose"), (1, PATIENT_A["curp"], 236.0, "glucose")]
    cart.rows = lambda: rows  # type: ignore[method-assign]
    assert cart.misattributed() == [(2, PATIENT_B["curp"], 236.0, "glucose")]


async def test_the_bench_reports_a_round_as_json_figures() -> None:
    result = await drill(1, ["stale_first"])
    assert result["runs"] == 1
    assert result["misattributed"] == 0
    assert result["targets"] == {"misattributed": 0, "ok": True}
    assert result["scenarios"]["stale_first_reading"]["failures"] == 0

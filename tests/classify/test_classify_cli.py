"""`cart classify [--ruleset nom|aha_ada]`: input JSON on stdin, result JSON on stdout."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cart.classify import RULESETS, WaistProfile, classify
from cart.cli import main
from cart.commands import classify as command

CART = Path(sys.executable).with_name("cart")

SCREENING = {
    "sex": "female",
    "age": 47,
    "weight_kg": 76.8,
    "height_cm": 160,
    "waist_cm": 88,
    "systolic": 180,
    "diastolic": 120,
    "glucose_mg_dl": 126,
    "glucose_context": "fasting",
}


def run_cli(monkeypatch, capsys, stdin: str, *args: str) -> tuple[int, dict[str, object]]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["classify", *args])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_default_ruleset_is_nom(monkeypatch, capsys):
    code, out = run_cli(monkeypatch, capsys, json.dumps(SCREENING))
    assert code == 0
    assert out == classify(SCREENING, "nom").to_json()
    assert out["ruleset"]["id"] == "nom"
    assert out["bmi"] == 30.0
    assert out["bp_category"] == "hypertension_grade_3"
    assert out["overall"]["urgent_attention"] is True


def test_aha_ada_ruleset(monkeypatch, capsys):
    code, out = run_cli(monkeypatch, capsys, json.dumps(SCREENING), "--ruleset", "aha_ada")
    assert code == 0
    assert out == classify(SCREENING, "aha_ada").to_json()
    assert out["bp_category"] == "hypertension_stage_2"
    assert out["overall"]["urgent_attention"] is False


def test_options(monkeypatch, capsys):
    inp = json.dumps(
        {"glucose_mg_dl": 260, "glucose_context": "casual", "sex": "female", "waist_cm": 85}
    )
    _, default = run_cli(monkeypatch, capsys, inp)
    assert default["overall"]["urgent_attention"] is True
    assert default["waist_risk"] == "high"
    _, relaxed = run_cli(
        monkeypatch, capsys, inp, "--urgent-glucose-high", "300", "--waist-profile", "atp3"
    )
    assert relaxed["overall"]["urgent_attention"] is False
    assert relaxed["waist_risk"] == "normal"
    assert relaxed["ruleset"]["options"] == {"urgent_glucose_high": 300, "waist_profile": "atp3"}


@pytest.mark.parametrize(
    ("stdin", "field"),
    [
        ('{"age": 17}', "age"),
        ('{"sex": "unknown"}', "sex"),
        ('{"weight_kg": -3}', "weight_kg"),
        ('{"systolic": 120, "diastolic": 130}', "diastolic"),
        ('{"temperature": 37}', "temperature"),
        ('{"findrisc": {"smoker": true}}', "findrisc.smoker"),
        ("[1, 2]", "input"),
        ("not json", "input"),
        ("", "input"),
        ('{"age": NaN}', "input"),
    ],
)
def test_invalid_input_is_a_json_error_and_exit_1(monkeypatch, capsys, stdin, field):
    code, out = run_cli(monkeypatch, capsys, stdin)
    assert code == 1
    assert list(out) == ["error"]
    assert out["error"]["type"] == "ValidationError"
    assert out["error"]["field"] == field
    assert out["error"]["message"]


def test_invalid_option_value(monkeypatch, capsys):
    code, out = run_cli(monkeypatch, capsys, "{}", "--urgent-glucose-high", "90")
    assert code == 1
    assert out["error"]["field"] == "urgent_glucose_high"


def test_unknown_ruleset_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("{}"))
    with pytest.raises(SystemExit) as caught:
        main(["classify", "--ruleset", "who"])
    assert caught.value.code == 2


def test_cli_choices_match_the_library():
    assert set(command.RULESETS) == {str(r) for r in RULESETS}
    assert set(command.WAIST_PROFILES) == {str(p) for p in WaistProfile}


def test_command_module_imports_nothing_heavy():
    code = "import sys, cart.commands.classify; print('cart.classify' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_installed_script_end_to_end():
    proc = subprocess.run(
        [str(CART), "classify", "--ruleset", "aha_ada"],
        input=json.dumps(SCREENING),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == classify(SCREENING, "aha_ada").to_json()
    bad = subprocess.run(
        [str(CART), "classify"], input='{"age": 5}', capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["error"]["field"] == "age"

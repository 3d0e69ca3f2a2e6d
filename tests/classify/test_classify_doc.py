"""docs/classification.md is generated from the tables and must be current; every rule cites."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from cart.classify import REFERENCES, RULESETS
from cart.classify.doc import render_markdown
from cart.classify.texts import ALERTS, RECOMMENDATIONS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "classification.md"
SCRIPT = ROOT / "scripts" / "gen_classification_doc.py"
REF_IDS = {r.id for r in REFERENCES}


def test_doc_is_current():
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/classification.md is stale: run .venv/bin/python scripts/gen_classification_doc.py"
    )


def test_generator_check_mode_agrees():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_every_table_of_both_rule_sets_is_in_the_doc_with_sources():
    doc = DOC.read_text(encoding="utf-8")
    for rs in RULESETS.values():
        tables = [rs.bmi, rs.bp_systolic, rs.bp_diastolic, rs.glucose_fasting, rs.glucose_casual]
        tables += [t for t in (rs.bmi_short_stature, rs.hba1c_screening) if t is not None]
        for table in tables:
            assert f"Table id `{table.id}`" in doc
            for band in table.bands:
                assert band.citation in doc
                assert band.refs
                assert set(band.refs) <= REF_IDS
        for threshold in rs.hypertension_control.all_of:
            assert set(threshold.refs) <= REF_IDS
        assert set(rs.bp_domain_refs) | set(rs.bp_urgent_refs) <= REF_IDS
    for ref in REFERENCES:
        assert f"`{ref.id}`: {ref.citation}" in doc


def test_every_rule_cites_a_known_reference():
    import cart.classify.tables as tables

    for name in dir(tables):
        value = getattr(tables, name)
        bands = getattr(value, "bands", None)
        if bands is not None:
            for band in bands:
                assert band.refs, (name, band)
                assert set(band.refs) <= REF_IDS, (name, band)
        for threshold in getattr(value, "all_of", ()):
            assert threshold.refs, (name, threshold)
            assert set(threshold.refs) <= REF_IDS, (name, threshold)
    for rec in RECOMMENDATIONS:
        assert rec.refs, rec.code
        assert set(rec.refs) <= REF_IDS, rec.code
        assert rec.es
        assert rec.en


def test_alert_templates_have_spanish_and_english_with_the_same_placeholders():
    for alert in ALERTS:
        es = set(re.findall(r"{(\w+)}", alert.es))
        en = set(re.findall(r"{(\w+)}", alert.en))
        assert es - {"fields_es"} == en - {"fields_en"}, alert.code


def test_classify_package_is_pure():
    banned = {"serial", "bleak", "pymodbus", "asyncio", "socket", "time", "sqlmodel", "os", "io"}
    banned |= {"pathlib", "subprocess", "threading", "random", "datetime", "logging"}
    for path in sorted((ROOT / "cart" / "classify").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            assert not {n.split(".")[0] for n in names} & banned, (path.name, names)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in {"open", "print", "input"}, path.name

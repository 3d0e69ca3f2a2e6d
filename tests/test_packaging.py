"""Packaging and CLI conventions: `python -m cart`, `python -m bench --help`, the
distribution's metadata (SPDX license, classifiers, URLs)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.licenses import canonicalize_license_expression
from trove_classifiers import classifiers as known_classifiers

import cart

ROOT = Path(__file__).resolve().parent.parent


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_python_m_cart_is_the_cart_command():
    version = _python("-m", "cart", "--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"mido-cart {cart.__version__}")
    payload = b"ST,+00070.50  kg\r\n".hex()
    decoded = _python("-m", "cart", "decode", "and.weighing", "--hex", payload)
    assert decoded.returncode == 0, decoded.stderr
    assert json.loads(decoded.stdout)["measurements"][0]["value"] == 70.5
    usage = _python("-m", "cart")
    assert usage.returncode == 2
    assert "usage: cart" in usage.stderr


def test_python_m_bench_help_prints_help_and_runs_nothing():
    done = _python("-m", "bench", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m bench")
    for name in ("decode_throughput", "sic_catchup", "soak"):
        assert name in done.stdout
    assert "bench: running" not in done.stderr
    unknown = _python("-m", "bench", "no_such_bench")
    assert unknown.returncode == 2
    assert "unknown benchmark(s): no_such_bench" in unknown.stderr


@pytest.fixture(scope="module")
def dist_metadata() -> metadata.PackageMetadata:
    return metadata.metadata("mido-cart")


def test_license_is_an_spdx_expression(dist_metadata: metadata.PackageMetadata):
    expression = dist_metadata["License-Expression"]
    assert expression == canonicalize_license_expression(expression) == "MIT"
    assert not [c for c in dist_metadata.get_all("Classifier") or [] if c.startswith("License")]


def test_classifiers_are_known_and_urls_declared(dist_metadata: metadata.PackageMetadata):
    classifiers = dist_metadata.get_all("Classifier") or []
    assert "Intended Audience :: Healthcare Industry" in classifiers
    assert "Typing :: Typed" in classifiers
    assert set(classifiers) <= known_classifiers, set(classifiers) - known_classifiers
    urls = dict(u.split(", ", 1) for u in dist_metadata.get_all("Project-URL") or [])
    assert set(urls) >= {"Homepage", "Documentation", "Source", "Issues"}
    assert all(u.startswith("https://") for u in urls.values())


def test_the_mit_license_text_ships_with_the_distribution(dist_metadata: metadata.PackageMetadata):
    assert "LICENSE" in (dist_metadata.get_all("License-File") or [])
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 The mido-cart developers" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text

"""Reliability drill (issue 8): every decoder fuzzed; only ProtocolError may escape.

The CI variant runs a few thousand inputs per decoder with a printed seed (pin it with
FUZZ_SEED); `pytest --run-slow` runs the full 1,000,000-input drill.
"""

from __future__ import annotations

import os
import random

import pytest

from bench.fuzz_decoders import run


def _seed() -> int:
    pinned = os.environ.get("FUZZ_SEED")
    return int(pinned) if pinned else random.SystemRandom().randrange(1, 2**31)


def test_every_decoder_survives_fuzzing(capsys):
    seed = _seed()
    with capsys.disabled():
        print(f"\nfuzz seed: {seed} (pin with FUZZ_SEED={seed})")
    report = run(3_000, seed)
    assert report["decoders"], "no decoder registered"
    assert report["failed"] == [], {p: report["decoders"][p]["failures"] for p in report["failed"]}


@pytest.mark.slow
def test_every_decoder_survives_a_million_inputs():
    report = run(1_000_000, _seed())
    assert report["failed"] == [], {p: report["decoders"][p]["failures"] for p in report["failed"]}

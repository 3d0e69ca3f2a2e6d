"""`cart decode` exactly as DESIGN section 3 says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cart.cli import main
from cart.protocols import all_protocols

CART = Path(sys.executable).with_name("cart")


def test_issue_acceptance_command_prints_body_weight():
    out = subprocess.run(
        [str(CART), "decode", "and.weighing", r"ST,+00070.50  kg\r\n"],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(out.stdout)
    assert doc["protocol"] == "and.weighing"
    (m,) = doc["measurements"]
    assert (m["kind"], m["value"], m["unit"], m["loinc"]) == ("body_weight", 70.5, "kg", "29463-7")
    assert m["decimals"] == 2  # "70.50": the JSON number cannot say it, the field does


@pytest.mark.parametrize(
    ("protocol", "payload", "value", "decimals"),
    [
        ("indicator.st_gs", r"ST,GS,+  70.0kg\r\n", 70.0, 1),  # a 0.1 kg scale
        ("ble.blood_pressure", "0478005000ff074800", 120.0, 0),  # SFLOAT 120e0 mmHg
        ("ble.glucose_measurement", "020100ea070b1709000062b011", 98.0, 0),  # 98e-5 kg/L
    ],
)
def test_decode_json_says_the_devices_decimals(capsys, protocol, payload, value, decimals):
    assert main(["decode", protocol, payload]) == 0
    first = json.loads(capsys.readouterr().out)["measurements"][0]
    assert (first["value"], first["decimals"]) == (value, decimals)


def test_list_names_every_registered_id(capsys):
    assert main(["decode", "--list"]) == 0
    listed = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(all_protocols())
    assert "and.weighing" in listed


def test_error_is_json_and_exit_1(capsys):
    assert main(["decode", "and.weighing", r"ST,+00#70.50  kg\r\n"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"]["type"] == "FrameError"
    assert "A&D" in doc["error"]["message"]


def test_unknown_protocol_is_a_typed_error(capsys):
    assert main(["decode", "no.such", "00"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["type"] == "UnsupportedMessage"


@pytest.mark.parametrize("where", [0, 1, 2], ids=["before-id", "after-id", "last"])
def test_hex_flag_forces_hex_wherever_it_is(capsys, where):
    payload = b"ST,+00070.50  kg\r\n".hex()
    args = ["and.weighing", payload]
    args.insert(where, "--hex")
    assert main(["decode", *args]) == 0
    assert json.loads(capsys.readouterr().out)["measurements"][0]["value"] == 70.5


def test_bad_hex_is_reported(capsys):
    assert main(["decode", "--hex", "and.weighing", "zz"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["type"] == "InvalidPayload"


def test_every_registered_example_decodes_through_the_cli(capsys):
    for spec in all_protocols().values():
        for example in spec.examples:
            assert main(["decode", "--hex", spec.id, example.hex()]) == 0, (spec.id, example)
            doc = json.loads(capsys.readouterr().out)
            assert doc["protocol"] == spec.id

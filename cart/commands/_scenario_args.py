"""The scenario options shared by `cart simulate` and `cart serve --simulate`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulators.scenario import Scenario

__all__ = ["EPILOG", "add_scenario_arguments", "has_scenario", "scenario_from_args"]

EPILOG = """\
scenario (a TOML file with --scenario, and/or flags; flags win):
  devices: bascula (scale), estadimetro (stadiometer), baumanometro (bp),
           glucometro (glucometer); a role name works too
  --stored glucometro=236@1d,98@2h:fasting    records VALUE@AGE[:uUSER][:MEAL], ages
                                              90s 5m 2h 1d12h; BP values SYS/DIA[/PULSE]
  --stored baumanometro=150/95/80@1d:u2       a cuff memory record of user 2
  --no-new-reading glucometro                 the device only has its memory
  --clock-skew glucometro=+3d                 device clock minus cart clock (-90m...)
  --fixed-clock glucometro=2020-01-01T08:00   the clock is stuck (dead battery)
  --read-only-clock glucometro                the device refuses clock writes
  --fault bascula=noise                       none noise checksum broken_frame truncated
                                              silence overload unplug
                                              disconnect_mid_transfer malformed_value
                                              no_racp_response (Bluetooth: silence,
                                              disconnect_mid_transfer/unplug,
                                              truncated/malformed_value, no_racp_response)
  --user baumanometro=2                       user id of the new reading (BLE)
  --replay-memory baumanometro                the cuff resends its whole memory on every
                                              connection (default: each record once)
  --scale serial|ble  --bp ble|serial  --glucometer ble|none|onetouch.ultra2|
      onetouch.ultraeasy|taidoc.td42xx|freestyle.optium|contour.astm
A bad scenario exits with status 2 and names the device, field and value.
"""


def add_scenario_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    group = parser.add_argument_group("scenario (see below)")
    group.add_argument("--scenario", type=Path, metavar="FILE", help="a scenario TOML file")
    group.add_argument(
        "--stored", metavar="DEVICE=RECORDS", help="stored records", action="append", default=[]
    )
    group.add_argument(
        "--no-new-reading", metavar="DEVICE", help="memory only", action="append", default=[]
    )
    group.add_argument(
        "--clock-skew", metavar="DEVICE=SKEW", help="e.g. +3d", action="append", default=[]
    )
    group.add_argument(
        "--fixed-clock", metavar="DEVICE=WHEN", help="a stuck clock", action="append", default=[]
    )
    group.add_argument(
        "--read-only-clock", metavar="DEVICE", help="no clock writes", action="append", default=[]
    )
    group.add_argument(
        "--fault", metavar="DEVICE=FAULT", help="a device fault", action="append", default=[]
    )
    group.add_argument(
        "--user", metavar="DEVICE=ID", help="BLE user id", action="append", default=[]
    )
    group.add_argument(
        "--replay-memory", metavar="DEVICE", help="resend memory", action="append", default=[]
    )
    group.add_argument("--scale", choices=("serial", "ble"), help="the scale's kind")
    group.add_argument("--bp", choices=("ble", "serial"), help="the cuff's kind")
    group.add_argument("--glucometer", metavar="KIND", help="ble, none or a serial family")


def has_scenario(args: argparse.Namespace) -> bool:
    """Was any scenario option given?"""
    lists = ("stored", "no_new_reading", "clock_skew", "fixed_clock", "read_only_clock")
    return (
        args.scenario is not None
        or any(getattr(args, name) for name in (*lists, "fault", "user", "replay_memory"))
        or any(getattr(args, name) is not None for name in ("scale", "bp", "glucometer"))
    )


def scenario_from_args(args: argparse.Namespace) -> Scenario:
    """The scenario the options describe; ScenarioError (a ValueError) when it is bad."""
    from simulators.scenario import Scenario, ScenarioError, apply_flags, parse_scenario_toml

    scenario = Scenario()
    if args.scenario is not None:
        try:
            text = args.scenario.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"cannot read scenario {args.scenario}: {exc.strerror}") from None
        try:
            scenario = parse_scenario_toml(text)
        except ScenarioError as exc:
            raise ScenarioError(f"{args.scenario}: {exc}") from None
    return apply_flags(
        scenario,
        stored=args.stored,
        no_new_reading=args.no_new_reading,
        clock_skew=args.clock_skew,
        fixed_clock=args.fixed_clock,
        read_only_clock=args.read_only_clock,
        fault=args.fault,
        user=args.user,
        replay_memory=args.replay_memory,
        scale=args.scale,
        bp=args.bp,
        glucometer=args.glucometer,
    )

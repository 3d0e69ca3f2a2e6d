"""`cart simulate`: start one simulator per device and write the matching devices.toml."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "simulate"
HELP = "run simulated devices (real ptys, Modbus and BLE) and write devices.toml for them"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--devices-file",
        type=Path,
        default=Path("var/devices.toml"),
        help="where to write the device list (default var/devices.toml)",
    )
    parser.add_argument("--fast", action="store_true", help="no realistic delays")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib

    from simulators.world import SimulatedCart

    async def serve() -> None:
        async with SimulatedCart(fast=args.fast) as cart:
            cart.write_devices_file(args.devices_file)
            print(f"simulators running; devices written to {args.devices_file}")
            for d in cart.devices:
                print(f"  {d.id}\t{d.role.value}\t{d.driver}\t{d.location}")
            print("press Ctrl-C to stop")
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0

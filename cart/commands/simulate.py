"""`cart simulate`: start one simulator per device and write the matching devices.toml.

The simulators run in this process until Ctrl-C or SIGTERM: serial devices on ptys, the
Modbus height rod, and the Bluetooth devices on a virtual radio that a cart service in
another process reaches as an HCI controller over TCP (``CART_BLE_TRANSPORT``, printed
and written into the devices file's header). A service can thus restart while the
devices, their memory and their clocks carry on, as real ones do.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cart.commands._scenario_args import add_scenario_arguments, scenario_from_args

NAME = "simulate"
HELP = "run simulated devices (real ptys, Modbus and BLE) and write devices.toml for them"

#: the line a script (or tests/simulators/processes.py) waits for
READY = "simulators ready"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--devices-file",
        type=Path,
        default=Path("var/devices.toml"),
        help="where to write the device list (default var/devices.toml)",
    )
    parser.add_argument("--fast", action="store_true", help="no realistic delays")
    parser.add_argument(
        "--ble-port",
        type=int,
        default=0,
        help="TCP port on 127.0.0.1 for the Bluetooth radio (default: a free port)",
    )
    add_scenario_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import signal

    from simulators.scenario import ScenarioError
    from simulators.world import SimulatedCart

    try:
        scenario = scenario_from_args(args)
    except ScenarioError as exc:
        print(f"cart simulate: bad scenario: {exc}", file=sys.stderr)
        return 2

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        cart = SimulatedCart(
            fast=args.fast, scenario=scenario, hci_tcp=True, hci_port=args.ble_port
        )
        async with cart:
            cart.write_devices_file(args.devices_file)
            print(f"simulators running; devices written to {args.devices_file}")
            for d in cart.devices:
                print(f"  {d.id}\t{d.role.value}\t{d.driver}\t{d.location}")
            if cart.ble_transport is not None:
                print(f"CART_BLE_TRANSPORT={cart.ble_transport}")
            print(READY, flush=True)
            await stop.wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0

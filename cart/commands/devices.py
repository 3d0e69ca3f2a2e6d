"""`cart devices list|scan|identify PATH|test ID`: the clinic technician's view of the devices.

``scan`` and ``identify`` share :mod:`cart.drivers.identify` with the service's
technician page: pseudo-terminals and pyserial URLs are listed only when named
(``--path``), and identifying sends each family's harmless handshake only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

NAME = "devices"
HELP = "list, scan for, or test the cart's devices"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["list", "scan", "identify", "test"])
    parser.add_argument(
        "device_id", nargs="?", help="device id from devices.toml (test), or a port (identify)"
    )
    parser.add_argument(
        "--path",
        action="append",
        default=[],
        help="scan: also list this serial path or pyserial URL (ptys are not listed otherwise)",
    )
    parser.add_argument("--devices-file", type=Path, help="default: CART_DEVICES_FILE")
    parser.add_argument("--timeout", type=float, default=5.0, help="BLE scan seconds")


def run(args: argparse.Namespace) -> int:
    from cart.config import load_settings
    from cart.devices import load_devices
    from cart.errors import CartError

    try:
        if args.action == "scan":
            return _scan(args.timeout, args.path)
        if args.action == "identify":
            return _identify(args.device_id)
        path = args.devices_file or load_settings().devices_file
        devices = load_devices(path)
        if args.action == "list":
            for d in devices:
                print(f"{d.id}\t{d.role.value}\t{d.driver}\t{d.transport}\t{d.location}")
            return 0
        if not args.device_id:
            print("cart devices test: name a device id", file=sys.stderr)
            return 2
        matching = [d for d in devices if d.id == args.device_id]
        if not matching:
            known = ", ".join(d.id for d in devices)
            print(
                f"cart devices test: no device {args.device_id!r} (known: {known})", file=sys.stderr
            )
            return 2
        settings = load_settings()
        return _test(matching[0], settings.set_device_clocks, settings.clock_skew_s)
    except CartError as exc:
        print(json.dumps({"error": {"type": exc.type_name, "message": exc.message}}))
        return 1


def _test(cfg: object, set_clocks: bool, clock_skew_s: float) -> int:
    import asyncio

    from cart.devices import DeviceConfig
    from cart.drivers.base import Progress
    from cart.drivers.factory import build_driver
    from cart.errors import DeviceError

    assert isinstance(cfg, DeviceConfig)

    def show(event: Progress) -> None:
        print(f"{event.device_id}: {event.stage.value} {event.message}", file=sys.stderr)

    async def measure() -> int:
        driver = build_driver(cfg, set_clocks=set_clocks, clock_skew_s=clock_skew_s)
        try:
            measurements = await driver.measure(show)
        except DeviceError as exc:
            print(
                json.dumps(
                    {
                        "error": {
                            "type": exc.type_name,
                            "message": exc.message,
                            "nurse_message": exc.nurse_message,
                        }
                    },
                    ensure_ascii=False,
                )
            )
            return 1
        finally:
            await driver.close()
        print(json.dumps([m.to_json() for m in measurements], ensure_ascii=False))
        if driver.last_clock is not None:
            clock = driver.last_clock
            offset = clock.device_time.replace(tzinfo=clock.cart_time.tzinfo) - clock.cart_time
            print(
                f"{cfg.id}: device clock {clock.device_time.isoformat(sep=' ')}, "
                f"{offset.total_seconds():+.0f} s from the cart"
                + (f", set to {clock.set_to.isoformat(sep=' ')}" if clock.set_to else ""),
                file=sys.stderr,
            )
        return 0

    return asyncio.run(measure())


def _scan(timeout: float, paths: list[str]) -> int:
    import asyncio

    from cart.drivers.identify import scan_ble, serial_candidates

    print("# serial ports")
    for port in serial_candidates(paths):
        missing = "" if port.present else " (missing)"
        print(f"{port.path}\t{port.hardware_id or '-'}\t{port.description}{missing}")
    print("# bluetooth le")
    try:
        for adv in asyncio.run(scan_ble(None, timeout)):
            services = ",".join(adv.services)
            print(
                f"{adv.address}\t{adv.name or '-'}\t{adv.rssi} dBm\t{adv.driver or '-'}\t{services}"
            )
    except Exception as exc:  # no adapter, no BlueZ: say so, the serial list is still useful
        print(f"(bluetooth unavailable: {exc})")
    return 0


def _identify(path: str | None) -> int:
    import asyncio

    from cart.drivers.identify import identify_serial

    if not path:
        print("cart devices identify: name a serial port or pyserial URL", file=sys.stderr)
        return 2
    found = asyncio.run(identify_serial(path))
    if found is None:
        print(json.dumps({"identified": False, "port": path}))
        return 1
    print(
        json.dumps(
            {
                "identified": True,
                "driver": found.driver,
                "transport": found.transport,
                "role": found.role.value,
                "port": found.location,
                "options": found.options,
                "evidence": found.evidence,
            }
        )
    )
    return 0

"""`cart serve [--simulate] [--host] [--port]`: the local service and kiosk."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cart.config import Settings

NAME = "serve"
HELP = "run the cart's local service and kiosk UI"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--simulate", action="store_true", help="start a simulator for every device (no hardware)"
    )
    parser.add_argument("--fast", action="store_true", help="simulators without realistic delays")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1, CART_HOST)")
    parser.add_argument("--port", type=int, help="port (default 8000, CART_PORT)")
    parser.add_argument("--database-url", help="SQLAlchemy URL (CART_DATABASE_URL)")
    parser.add_argument("--devices-file", help="devices.toml path (CART_DEVICES_FILE)")


def run(args: argparse.Namespace) -> int:
    import logging

    import uvicorn
    from pydantic import ValidationError

    from cart.config import load_settings
    from service.main import create_app

    overrides: dict[str, object] = {}
    if args.simulate:
        overrides["simulate"] = True
    if args.fast:
        overrides["fast_simulators"] = True
    for key in ("host", "port", "database_url", "devices_file"):
        value = getattr(args, key)
        if value is not None:
            overrides[key] = value
    try:
        settings = load_settings(**overrides)
    except ValidationError as exc:
        print(f"cart serve: invalid settings: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    os.umask(0o077)  # whatever the service or a library writes is private to the cart user
    app = create_app(settings)
    uvicorn.run(app, **uvicorn_options(settings))
    return 0


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        # a kiosk holding an events stream open must not keep the service from stopping
        "timeout_graceful_shutdown": 5,
        # pinned: uvicorn otherwise trusts X-Forwarded-For from FORWARDED_ALLOW_IPS in the
        # environment, and "X-Forwarded-For: 127.0.0.1" would pass for the kiosk
        "proxy_headers": False,
        "forwarded_allow_ips": "127.0.0.1",
        "server_header": False,
    }

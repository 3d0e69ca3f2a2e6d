"""`cart serve [--simulate] [--host] [--port]`: the local service and kiosk."""

from __future__ import annotations

import argparse
import socket
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

from cart.commands._scenario_args import add_scenario_arguments, has_scenario, scenario_from_args

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
    # with --simulate: what the simulated devices hold and do (`cart simulate --help`)
    add_scenario_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from cart.config import load_settings

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
    # bind first: a busy port must fail before any simulator starts and rewrites the
    # devices file with ports nobody will serve
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        print(
            f"cart serve: cannot listen on {settings.host}:{settings.port} ({exc.strerror}); "
            "is another cart service running? Stop it or use --port",
            file=sys.stderr,
        )
        return 1
    try:
        return _serve(args, settings, sock)
    finally:
        sock.close()


def _serve(args: argparse.Namespace, settings: Settings, sock: socket.socket) -> int:
    import logging

    import uvicorn

    from service.main import create_app

    background = None
    if has_scenario(args):
        if not settings.simulate:
            print("cart serve: scenario options need --simulate", file=sys.stderr)
            return 2
        from simulators.background import BackgroundCart
        from simulators.scenario import ScenarioError

        try:
            scenario = scenario_from_args(args)
        except ScenarioError as exc:
            print(f"cart serve: bad scenario: {exc}", file=sys.stderr)
            return 2
        # the scenario's devices run beside the service, reached as `cart simulate`'s are
        background = BackgroundCart(scenario, fast=settings.fast_simulators)
        background.start(settings.devices_file)
        settings = settings.model_copy(
            update={"simulate": False, "ble_transport": background.ble_transport}
        )
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        log_level=settings.log_level.lower(),
        # a kiosk holding an events stream open must not keep the service from stopping
        timeout_graceful_shutdown=5,
    )
    # uvicorn does not print the address of a socket it is handed
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    logging.getLogger("cart.serve").info(
        "kiosk at http://%s:%d (Ctrl-C to stop)", shown, settings.port
    )
    try:
        _server_class()(config).run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn re-raises the Ctrl-C it already handled (a clean shutdown): no traceback
        return 130
    finally:
        if background is not None:
            background.stop()
    return 0


def _server_class() -> type[Any]:
    import uvicorn

    class Server(uvicorn.Server):
        """Tells the app it is stopping, so that open event streams end at once."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            app = self.config.app
            if hasattr(app, "state"):
                app.state.stopping = True
            super().handle_exit(sig, frame)

    return Server


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock

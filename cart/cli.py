"""The `cart` command. Each subcommand lives in its own module under :mod:`cart.commands`.

A command module exports ``NAME``, ``HELP``, ``configure(parser)`` and
``run(args) -> int``; it must import nothing heavy at module level so that
``cart decode`` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

import cart
import cart.commands


def _command_modules() -> list[ModuleType]:
    modules = []
    for info in pkgutil.iter_modules(cart.commands.__path__):
        if not info.name.startswith("_"):
            modules.append(importlib.import_module(f"cart.commands.{info.name}"))
    return sorted(modules, key=lambda m: str(m.NAME))


class _FlagsAnywhere(argparse.ArgumentParser):
    """A command's options may come before, between or after its operands
    (``cart decode ID --hex PAYLOAD``): plain argparse stops filling positionals at the
    first option. Parsers with subcommands of their own keep the plain behaviour
    (argparse's intermixed parsing does not support them)."""

    _intermixing = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._intermixing or getattr(self, "_subparsers", None) is not None:
            return super().parse_known_args(args, namespace)
        self._intermixing = True  # the intermixed parse calls back into this method
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cart", description="MIDO mobile cart: devices, protocols, screening service."
    )
    parser.add_argument("--version", action="version", version=f"mido-cart {cart.__version__}")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_FlagsAnywhere
    )
    for module in _command_modules():
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.configure(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args._run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())

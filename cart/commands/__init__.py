"""Subcommands of the `cart` CLI, discovered by :mod:`cart.cli`."""

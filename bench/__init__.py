"""Benchmarks: each module exposes ``main(argv) -> dict`` and prints JSON when run alone."""

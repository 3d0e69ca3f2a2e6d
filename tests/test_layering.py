"""DESIGN section 1's dependency rules, enforced on the import statements."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IO_MODULES = {
    "serial",
    "bleak",
    "pymodbus",
    "asyncio",
    "socket",
    "time",
    "sqlmodel",
    "sqlalchemy",
    "threading",
    "subprocess",
    "urllib",
    "http",
    "httpx",
    "os",
    "io",
    "pathlib",
    "bumble",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", ["cart/protocols", "cart/classify"])
def test_pure_packages_import_no_io(package):
    offenders = {}
    for path in _modules(package):
        bad = {n for n in _imports(path) if n.split(".")[0] in IO_MODULES}
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, f"I/O imports in pure code: {offenders}"


def test_pure_packages_pull_in_no_io_transitively():
    pure = [
        p
        for p in ("cart.protocols", "cart.classify")
        if (ROOT / p.replace(".", "/") / "__init__.py").exists()
    ]
    code = (
        f"import sys, {', '.join(pure)}\n"
        "cart.protocols.all_protocols()\n"
        "heavy = {'serial', 'bleak', 'pymodbus', 'asyncio', 'socket', 'sqlmodel', 'sqlalchemy'}\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_drivers_never_use_store_classify_sic_or_service():
    banned = ("cart.store", "cart.classify", "cart.sic", "service", "cart.screening")
    for path in _modules("cart/drivers"):
        bad = {n for n in _imports(path) if n.startswith(banned)}
        assert not bad, f"{path}: {bad}"


def test_simulators_never_use_drivers():
    for path in _modules("simulators"):
        bad = {n for n in _imports(path) if n.startswith("cart.drivers")}
        assert not bad, f"{path}: {bad}"


def test_service_holds_no_protocol_knowledge():
    for path in _modules("service"):
        bad = {
            n
            for n in _imports(path)
            if n.startswith(("cart.protocols", "serial", "bleak", "pymodbus"))
        }
        assert not bad, f"{path}: {bad}"

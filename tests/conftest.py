"""Shared fixtures and the leak check (no stray threads or tasks after a test)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.postgres import INSTALL_HINT, PostgresServer, find_bindir, postgres_required

# Timing belongs in bench/, not in tests: no per-example deadline, so a loaded 2-core CI
# machine cannot turn a correct property into a flaky failure.
settings.register_profile(
    "cart", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("cart")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run long drills marked slow")
    parser.addoption(
        "--full-matrix",
        action="store_true",
        help="run SIC tests on every FHIR server x database pair (default: pairwise)",
    )


_LEFT_OUT: tuple[str, str] = ("medplum", "postgresql")
"""The one FHIR server x database pair left out by default. Pairwise still runs every
test against both servers (sekmet on both databases) and both databases (sekmet, and
Medplum on SQLite): the store's side does not depend on the server, nor the server's on
the store, and the cross product cost the suite about 100 s of its 10-minute budget."""


def _left_out(item: pytest.Item) -> bool:
    params = getattr(getattr(item, "callspec", None), "params", {})
    return (params.get("fhir_server"), params.get("database_url")) == _LEFT_OUT


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--full-matrix"):
        dropped = [item for item in items if _left_out(item)]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = [item for item in items if not _left_out(item)]
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="long drill: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves non-daemon threads behind (pymodbus' _check_system_health)."""
    before = {t.ident for t in threading.enumerate()}
    yield
    deadline = time.monotonic() + 2.0
    while True:
        leaked = [
            t
            for t in threading.enumerate()
            if t.ident not in before
            and t.is_alive()
            and not t.daemon
            and not t.name.startswith(("asyncio_", "ThreadPoolExecutor", "AnyIO worker"))
        ]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not leaked, f"threads leaked: {[t.name for t in leaked]}"


@pytest.fixture
async def no_leaked_tasks() -> object:
    """Async tests that start simulators use this to prove every task was stopped."""
    before = asyncio.all_tasks()
    yield None
    await asyncio.sleep(0)
    leaked = [
        t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()
    ]
    assert not leaked, f"tasks leaked: {leaked}"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cart.db'}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the whole session, started on first use."""
    bindir = find_bindir()
    if bindir is None:
        if postgres_required():
            pytest.fail(f"CART_REQUIRE_POSTGRES is set but {INSTALL_HINT}")
        pytest.skip(INSTALL_HINT)
    server = PostgresServer.start(bindir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The store's URL, once per database: an SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cart.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)

"""Property-based fuzzing of the OpenAPI schema (schemathesis): no input gives a 5xx.

The schema is the app's own ``/openapi.json``; the requests go to a real ``cart serve``
on 127.0.0.1 with a nurse's bearer token (a patient and a screening exist, so generated
ids of 1 reach the real code paths); what the nurse may not do (403: the audit trail) is
sent again with an administrator's token, so every route is fuzzed past its role check.
Bounded: at most 25 examples per operation (``CART_FUZZ_EXAMPLES`` for a longer hunt).
The long-running ``measure`` and its event stream are left out: the SSE tests cover them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from cart.config import Settings
from cart.store import Store, create_db_engine, migrate
from cart.store.accounts import Accounts
from cart.store.models import Patient, Screening
from cart.users import Role
from service.main import create_app
from tests.helpers import TEST_PIN, free_port, wait_until_up
from tests.service.support import CURP_ADULT

CART = Path(sys.executable).with_name("cart")

_OPENAPI = create_app(Settings(devices_file=Path("none.toml"), _env_file=None)).openapi()
schema = schemathesis.openapi.from_dict(_OPENAPI).exclude(path_regex=r"/(measure|events)$")


def _seed(url: str) -> dict[str, str]:
    """A patient, a screening, a nurse and an administrator; their bearer tokens."""
    engine = create_db_engine(url)
    migrate(engine)
    store = Store(engine)
    accounts = Accounts(engine)
    tokens = {}
    for role in (Role.NURSE, Role.ADMINISTRATOR):
        accounts.add_user(f"fuzz-{role}", "Fuzz", role, TEST_PIN)
        tokens[role.value] = accounts.issue_token(f"fuzz-{role}")
    patient = store.add_patient(
        Patient(
            curp=CURP_ADULT,
            given_name="Lucía",
            family_name="Hernández Prieto",
            birth_date=date(1975, 4, 12),
            sex="female",
        )
    )
    store.add_screening(Screening(patient_id=patient.id, glucose_context="casual"))
    engine.dispose()
    return tokens


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """The base URL of a real `cart serve` and bearer tokens by role for it."""
    cwd = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{cwd / 'cart.db'}"
    tokens = _seed(url)
    port = free_port()
    log = (cwd / "serve.log").open("wb")
    proc = subprocess.Popen(
        [str(CART), "serve", "--port", str(port), "--database-url", url],
        cwd=cwd,
        env={**os.environ, "CART_LOG_LEVEL": "WARNING"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_up(proc, f"{base}/api/v1/health", 30):
            pytest.fail(f"cart serve did not come up: {(cwd / 'serve.log').read_text()}")
        yield base, tokens
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("CART_FUZZ_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_input_causes_a_server_error(
    case: schemathesis.Case, served: tuple[str, dict[str, str]]
) -> None:
    base_url, tokens = served
    response = case.call(
        base_url=base_url, timeout=10, headers={"Authorization": f"Bearer {tokens['nurse']}"}
    )
    if response.status_code == 403:  # a role check: past it with the administrator
        response = case.call(
            base_url=base_url,
            timeout=10,
            headers={"Authorization": f"Bearer {tokens['administrator']}"},
        )
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
    )
    if case.path != "/api/v1/session":  # a wrong PIN is a 401 there, by design
        # signed in: the fuzzing reaches the routes, not only the sign-in check
        assert response.status_code != 401, f"{case.method} {case.formatted_path}: 401"

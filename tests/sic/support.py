"""Shared by the SIC tests: real FHIR servers on 127.0.0.1 (sekmet-fhir 0.1.1 with a
temporary SQLite database, and Medplum's FHIR router in memory), a store, and helpers
that count what a server holds.

``fhir_server`` is parametrized over both servers, so every test that takes it runs
against each."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cart.sic import FhirTransactionAdapter, GatewayIdentity, RetryPolicy, SicWorker
from cart.sic.codes import CURP_SYSTEM, RISK_ID_SYSTEM
from cart.sic.fhir import build_bundle, risk_identifier
from cart.sic.first_send import plain_first_send
from cart.sic.model import ScreeningExport
from cart.sic.sample import sample_screening
from cart.sic.steps import plan_steps
from cart.store import Store, create_db_engine, migrate
from tests.fhir_servers import medplum_server as medplum
from tests.helpers import free_port, wait_until_up

SEKMET = Path(sys.executable).with_name("sekmet")
GATEWAY = GatewayIdentity(system_id="test-gateway-0001")
FAST = RetryPolicy(
    backoff_base=0.05,
    backoff_max=0.2,
    timeout=2.0,
    lease=5.0,
    page_size=50,
    poll_interval=0.2,
    settle=0.3,
)

_indices = itertools.count(int(time.time()) % 5000 * 3)


def next_index() -> int:
    """A sample index (so a CURP) no other test in this session uses."""
    return next(_indices)


@dataclass
class FhirServer:
    base_url: str
    db_path: Path | None
    name: str = "sekmet"
    delivery: str = "transaction"
    """How the cart delivers to it: Medplum refuses our transactions' size, so steps."""

    def get(self, path: str, **params: str) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/{path}", params=params, timeout=10)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def total(self, path: str, **params: str) -> int:
        return int(self.get(path, _summary="count", **params)["total"])

    def post(self, path: str, resource: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            f"{self.base_url}/{path}",
            json=resource,
            headers={"Content-Type": "application/fhir+json"},
            timeout=10,
        )

    def patient_ids(self, curp: str) -> list[str]:
        found = self.get("Patient", identifier=f"{CURP_SYSTEM}|{curp}", _count="100")
        return [e["resource"]["id"] for e in found.get("entry") or []]

    def observations_of(self, curp: str) -> int:
        """Observations of every Patient with this CURP (Medplum's in-memory repository
        has no chained ``subject.identifier`` search, so by the Patients' ids)."""
        return sum(
            self.total("Observation", subject=f"Patient/{pid}") for pid in self.patient_ids(curp)
        )

    def holdings(
        self, store: Store, screening_id: int, gateway: GatewayIdentity = GATEWAY
    ) -> dict[str, int]:
        """How many of this screening's Patient / Observations / RiskAssessment the server has.

        ``gateway`` must be the sender's: it is part of the RiskAssessment's identity.
        """
        rows = store.screening_rows(screening_id)
        assert rows is not None
        assert rows.patient is not None
        curp = rows.patient.curp
        risk = risk_identifier(ScreeningExport.from_rows(rows), gateway)
        return {
            "Patient": self.total("Patient", identifier=f"{CURP_SYSTEM}|{curp}"),
            "Observation": self.observations_of(curp),
            "RiskAssessment": self.total("RiskAssessment", _tag=f"{RISK_ID_SYSTEM}|{risk}"),
        }


def requests_per_screening(
    store: Store, screening_id: int, server: FhirServer, *, first: bool = True
) -> int:
    """Transactions one delivery of this screening takes on ``server`` (``first``: its
    first send, own resources as plain creates; else a resend, all conditional)."""
    if server.delivery == "transaction":
        return 1
    rows = store.screening_rows(screening_id)
    assert rows is not None
    bundle = build_bundle(ScreeningExport.from_rows(rows), GATEWAY)
    if first:
        bundle = plain_first_send(bundle)
    return sum(len(phase) for phase in plan_steps(bundle, 8))


def expected_observations(store: Store, screening_id: int) -> int:
    rows = store.screening_rows(screening_id)
    assert rows is not None
    bundle = build_bundle(ScreeningExport.from_rows(rows), GATEWAY)
    return sum(
        1
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["subject"]["reference"] == bundle["entry"][0]["fullUrl"]
    )  # the patient's: coincident-timestamp Observations are the devices'


@pytest.fixture(scope="session", params=["sekmet", "medplum"])
def fhir_server(request: pytest.FixtureRequest) -> FhirServer:
    """Each FHIR server in turn: a test that takes this runs once against each."""
    server: FhirServer = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture(scope="session")
def medplum_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirServer]:
    """Medplum's FHIR router (in-memory repository) on a free loopback port."""
    why = medplum.missing()
    if why is not None:
        if os.environ.get("CART_REQUIRE_MEDPLUM") or os.environ.get("CI"):
            pytest.fail(f"Medplum test server unavailable in CI: {why}")
        pytest.skip(f"Medplum test server unavailable: {why}")
    folder = tmp_path_factory.mktemp("medplum")
    with (folder / "medplum.log").open("wb") as log:
        proc, base = medplum.start_medplum(log)
        try:
            yield FhirServer(base, None, "medplum", "steps")
        finally:
            medplum.stop(proc)


@pytest.fixture(scope="session")
def sekmet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirServer]:
    """`sekmet serve` on a free loopback port, its SQLite database in a temporary folder."""
    folder = tmp_path_factory.mktemp("sekmet")
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    db_path = folder / "sekmet.db"
    config = folder / "settings.yaml"
    config.write_text(
        "\n".join(
            [
                "host: 127.0.0.1",
                f"port: {port}",
                f"base_url: {base}",
                f"db_path: {db_path}",
                f"data_dir: {folder / 'data'}",
                "log_inbound: false",
                "simulator:",
                "  enabled: false",
                "validation:",
                "  inbound: strict",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    env = {**os.environ, "SEKMET_CONFIG": str(config)}
    log = (folder / "sekmet.log").open("wb")
    proc = subprocess.Popen(
        [str(SEKMET), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    if not wait_until_up(proc, f"{base}/metadata", 60):
        proc.kill()
        proc.wait()
        log.close()
        pytest.fail(f"sekmet did not start: {(folder / 'sekmet.log').read_text()[-2000:]}")
    try:
        yield FhirServer(base, db_path, "sekmet")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store on each database (SQLite file, fresh PostgreSQL database)."""
    engine = create_db_engine(database_url)
    migrate(engine)
    yield Store(engine)
    engine.dispose()


def make_worker(store: Store, base_url: str, **kwargs: Any) -> SicWorker:
    policy = kwargs.pop("policy", FAST)
    return SicWorker(
        store, FhirTransactionAdapter(GATEWAY), base_url=base_url, policy=policy, **kwargs
    )


def screenings(store: Store, count: int) -> list[int]:
    return [sample_screening(store, next_index()) for _ in range(count)]

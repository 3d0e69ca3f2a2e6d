"""The SIGKILL drill: a `cart sync` process killed mid-sync, then restarted.

Every screening must reach the FHIR server exactly once: the entry in flight when the
process died is resent (its lease expires) and the server's conditional creates
return what the dead process had already delivered. Screenings go in batches of 3 per
transaction (``CART_SIC_BATCH_SIZE``): the outbox marks a batch sent whole or not at all.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from cart.sic import GatewayIdentity
from cart.store import Store
from tests.sic.proxy import FaultProxy
from tests.sic.support import FhirServer, expected_observations, screenings

CART = Path(sys.executable).with_name("cart")
KNOBS = [
    "--lease",
    "1",
    "--settle",
    "1",
    "--backoff",
    "0.05",
    "--backoff-max",
    "0.2",
    "--timeout",
    "5",
]


async def test_sigkill_mid_sync_then_restart_delivers_every_screening_once(
    fhir_server: FhirServer, store: Store, database_url: str
):
    sids = screenings(store, 20)
    upstream = fhir_server.base_url.removesuffix("/fhir")
    async with FaultProxy(upstream, delay=0.05) as proxy:
        env = {
            **os.environ,
            "CART_DATABASE_URL": database_url,
            "CART_SIC_BASE_URL": proxy.base_url,
            "CART_LOG_LEVEL": "WARNING",
            "CART_SIC_BATCH_SIZE": "3",
        }
        proc = await asyncio.create_subprocess_exec(
            str(CART), "sync", *KNOBS, env=env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(1000):
                sent = (await asyncio.to_thread(store.sync_status))["sent"]
                if sent >= 3 and proxy.in_flight:
                    break
                await asyncio.sleep(0.01)
            proc.kill()  # SIGKILL: no cleanup, no lease released, a request in flight
        finally:
            await proc.wait()
        assert proc.returncode == -9
        at_kill = store.sync_status()
        assert 3 <= at_kill["sent"] < 20
        assert at_kill["sent"] % 3 == 0  # whole batches: never a sibling of a failed one
        assert at_kill["pending"] == 20 - at_kill["sent"]
        await asyncio.sleep(1.2)  # the dead process's lease on its entry runs out
        restart = await asyncio.create_subprocess_exec(
            str(CART), "sync", "--once", *KNOBS, env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        out, _ = await restart.communicate()
        assert restart.returncode == 0
    report = json.loads(out)
    assert report["outbox"]["sent"] == 20
    assert report["outbox"]["pending"] == 0
    assert report["pass"]["sent"] == 20 - at_kill["sent"]
    for sid in sids:
        held = fhir_server.holdings(store, sid, GatewayIdentity.of_this_machine())
        assert held == {
            "Patient": 1,
            "Observation": expected_observations(store, sid),
            "RiskAssessment": 1,
        }, (sid, held)

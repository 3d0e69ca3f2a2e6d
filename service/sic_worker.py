"""The SIC outbox worker's place in the service lifespan (issue 7).

Started when ``CART_SIC_BASE_URL`` is set, stopped before the database engine is
disposed. ``app.state.sic_worker`` holds it (None when SIC is not configured) so a
route can call ``wake()`` after completing a screening; `GET /api/v1/sync` reads
``Store.sync_status()``.
"""

from __future__ import annotations

import logging

from cart.config import Settings
from cart.sic import SicWorker, worker_from_settings
from cart.store import Store

__all__ = ["start_sic_worker", "stop_sic_worker"]

log = logging.getLogger(__name__)


def start_sic_worker(settings: Settings, store: Store) -> SicWorker | None:
    if not settings.sic_base_url:
        log.info("sic: CART_SIC_BASE_URL not set; completed screenings wait in the outbox")
        return None
    worker = worker_from_settings(settings, store)
    worker.start()
    return worker


async def stop_sic_worker(worker: SicWorker | None) -> None:
    if worker is not None:
        await worker.stop()

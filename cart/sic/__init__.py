"""Push completed screenings to SIC: FHIR R4 mapping, adapter seam and outbox worker.

``Store.complete`` writes an outbox row in the same transaction that completes the
screening; :class:`SicWorker` delivers each one as a FHIR R4 transaction Bundle
(:func:`build_bundle`) through a :class:`SicAdapter`. See ``docs/sic.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cart.sic.adapter import FhirTransactionAdapter, OutboundRequest, SicAdapter
from cart.sic.fhir import build_bundle
from cart.sic.model import GatewayIdentity, MappingError, ScreeningExport
from cart.sic.worker import PassReport, RetryPolicy, SicWorker

if TYPE_CHECKING:
    from cart.config import Settings
    from cart.store import Store

__all__ = [
    "FhirTransactionAdapter",
    "GatewayIdentity",
    "MappingError",
    "OutboundRequest",
    "PassReport",
    "RetryPolicy",
    "ScreeningExport",
    "SicAdapter",
    "SicWorker",
    "build_bundle",
    "worker_from_settings",
]


def worker_from_settings(
    settings: Settings, store: Store, policy: RetryPolicy | None = None
) -> SicWorker:
    """The worker the service and `cart sync` use, built from ``cart.config.Settings``."""
    if not settings.sic_base_url:
        raise ValueError("CART_SIC_BASE_URL is not set")
    token = settings.sic_token.get_secret_value() if settings.sic_token else None
    return SicWorker(
        store,
        FhirTransactionAdapter(GatewayIdentity.of_this_machine(), settings.zone),
        base_url=settings.sic_base_url,
        token=token,
        verify_tls=settings.sic_verify_tls,
        policy=policy,
        delivery=settings.sic_delivery,
        step_size=settings.sic_step_size,
        concurrency=settings.sic_concurrency,
        batch_size=settings.sic_batch_size,
        plain_first_send=settings.sic_plain_first_send,
    )

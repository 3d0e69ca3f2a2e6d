"""The seam between the outbox and a destination's wire format.

The outbox and its worker know entries, retries and HTTP status classes; an adapter
knows one format: it renders a completed screening into a request and reads the
destination's answers. FHIR R4 (:class:`FhirTransactionAdapter`) is the canonical
form; when SIC publishes its own interface, a second adapter implements the same three
methods and the outbox does not change.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, ClassVar

from cart.sic import fhirjson
from cart.sic.fhir import build_bundle
from cart.sic.model import GatewayIdentity, ScreeningExport

__all__ = [
    "FhirTransactionAdapter",
    "OutboundRequest",
    "SicAdapter",
    "UnexpectedResponse",
]


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    method: str
    path: str
    """Relative to the destination's base URL; "" posts to the base itself."""
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class UnexpectedResponse(Exception):
    """A 2xx that is not what the format promises (a captive portal's page, a proxy's
    HTML): the entry is not delivered and is retried later."""


class SicAdapter(ABC):
    name: ClassVar[str]

    @abstractmethod
    def render(self, export: ScreeningExport) -> OutboundRequest:
        """The request that delivers ``export``; raises ``MappingError`` if it cannot be."""

    @abstractmethod
    def accepted(self, status: int, body: bytes) -> dict[str, Any]:
        """Check a 2xx answer and summarise it; raise UnexpectedResponse if it is not one."""

    @abstractmethod
    def rejection(self, status: int, body: bytes) -> tuple[str, dict[str, Any] | None]:
        """A short message and the structured detail (e.g. an OperationOutcome) of a 4xx."""


class FhirTransactionAdapter(SicAdapter):
    """One FHIR R4 transaction Bundle per screening, POSTed to the FHIR base URL."""

    name = "fhir-r4"
    CONTENT_TYPE = "application/fhir+json"

    def __init__(self, gateway: GatewayIdentity, zone: tzinfo | None = None) -> None:
        self.gateway = gateway
        self.zone = zone

    def bundle(self, export: ScreeningExport) -> dict[str, Any]:
        """The transaction Bundle (fresh fullUrls on every call)."""
        return build_bundle(export, self.gateway, zone=self.zone)

    def render(self, export: ScreeningExport) -> OutboundRequest:
        return self.request_for(self.bundle(export))

    def request_for(self, bundle: Mapping[str, Any]) -> OutboundRequest:
        content = fhirjson.dumps(bundle)  # decimals with the device's digits (72.50)
        return OutboundRequest(
            method="POST",
            path="",
            content=content,
            headers={
                "Content-Type": f"{self.CONTENT_TYPE}; charset=utf-8",
                "Accept": self.CONTENT_TYPE,
                "Prefer": "return=minimal",
            },
        )

    def accepted(self, status: int, body: bytes) -> dict[str, Any]:
        try:
            bundle = json.loads(body)
        except ValueError as exc:
            raise UnexpectedResponse(f"{status} with a body that is not JSON") from exc
        if not isinstance(bundle, dict) or bundle.get("type") != "transaction-response":
            raise UnexpectedResponse(f"{status} without a transaction-response Bundle")
        created = existing = 0
        locations: list[str] = []
        for entry in bundle.get("entry") or []:
            response = entry.get("response") or {}
            code = str(response.get("status", "")).split(" ")[0]
            if code == "201":
                created += 1
            elif code == "200":
                existing += 1
            elif not code.startswith("2"):
                raise UnexpectedResponse(f"transaction-response entry with status {code!r}")
            if response.get("location"):
                locations.append(_strip_history(str(response["location"])))
        return {"created": created, "existing": existing, "locations": locations}

    def rejection(self, status: int, body: bytes) -> tuple[str, dict[str, Any] | None]:
        try:
            outcome = json.loads(body)
        except ValueError:
            text = body[:300].decode("utf-8", "replace").strip()
            return f"HTTP {status}: {text or 'no body'}", None
        if isinstance(outcome, dict) and outcome.get("resourceType") == "OperationOutcome":
            issues = outcome.get("issue") or []
            details = "; ".join(
                str(i.get("diagnostics") or i.get("details", {}).get("text") or i.get("code"))
                for i in issues[:3]
            )
            return f"HTTP {status}: {details or 'OperationOutcome without issues'}", outcome
        return f"HTTP {status}", outcome if isinstance(outcome, dict) else None


def _strip_history(location: str) -> str:
    """``Patient/1/_history/1`` (absolute or not) -> ``Patient/1``."""
    parts = location.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return "/".join(parts[-2:])

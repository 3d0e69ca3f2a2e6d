"""Several screenings in one transaction Bundle (catch-up of a backlog, issue 12).

A backlog drains faster when one transaction carries several screenings: one request,
one server commit and one answer for all of them. Screenings share resources (the
gateway Device, the cart's scale, a patient screened twice, the nurse), and FHIR
forbids two entries of one transaction that resolve the same conditional create
(R4 http.html, transaction rules; Medplum refuses "Duplicate resource identity",
sekmet-fhir would create both). So the shared resource stays once, under the first
screening that named it, and the other screenings' references point at that entry.

Every entry stays a conditional create: the merged Bundle is exactly-once for the same
reason each screening's own is, and its answer tells each screening what it created.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Merged", "answers", "merge_bundles", "split_summary"]

Entry = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Merged:
    bundle: dict[str, Any]
    owners: list[int]
    """For each entry of ``bundle``: the index of the screening that first named it."""


def _key(entry: Mapping[str, Any]) -> tuple[str, str] | None:
    request = entry.get("request") or {}
    condition = request.get("ifNoneExist")
    return (str(request.get("url")), str(condition)) if condition else None


def rewrite_references(node: Any, urls: Mapping[str, str]) -> Any:
    """A copy of ``node`` with every ``reference`` found in ``urls`` replaced by its value."""
    if isinstance(node, dict):
        out = {k: rewrite_references(v, urls) for k, v in node.items()}
        ref = out.get("reference")
        if isinstance(ref, str) and ref in urls:
            out["reference"] = urls[ref]
        return out
    if isinstance(node, list):
        return [rewrite_references(v, urls) for v in node]
    return node


def merge_bundles(bundles: Sequence[Mapping[str, Any]]) -> Merged:
    """One transaction of the entries of ``bundles``, each conditional create once.

    The fullUrls are fresh per Bundle (``urn:uuid``), so they never collide; a dropped
    duplicate's fullUrl is rewritten to the kept entry's in every reference.
    """
    kept: dict[tuple[str, str], str] = {}
    entries: list[Entry] = []
    owners: list[int] = []
    for index, bundle in enumerate(bundles):
        same: dict[str, str] = {}
        own: list[Entry] = []
        for entry in bundle.get("entry") or []:
            key = _key(entry)
            if key is not None and key in kept:
                same[entry["fullUrl"]] = kept[key]
                continue
            if key is not None:
                kept[key] = entry["fullUrl"]
            own.append(entry)
        for entry in own:
            resource = rewrite_references(entry["resource"], same) if same else entry["resource"]
            entries.append({**entry, "resource": resource})
            owners.append(index)
    return Merged({"resourceType": "Bundle", "type": "transaction", "entry": entries}, owners)


def answers(bundle: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """fullUrl -> (status code, location) from a transaction-response (same order, R4)."""
    sent = list(bundle.get("entry") or [])
    got = list(body.get("entry") or [])
    out: dict[str, tuple[str, str]] = {}
    for entry, answer in zip(sent, got, strict=False):
        response = answer.get("response") or {}
        code = str(response.get("status", "")).split(" ")[0]
        out[entry["fullUrl"]] = (code, str(response.get("location") or ""))
    return out


def split_summary(
    merged: Merged, count: int, answered: Mapping[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    """Each screening's share of an accepted merged delivery: what it created, what was
    already there (a shared resource counts for the screening that first named it)."""
    out: list[dict[str, Any]] = [
        {"created": 0, "existing": 0, "locations": [], "batch": count} for _ in range(count)
    ]
    for entry, owner in zip(merged.bundle["entry"], merged.owners, strict=True):
        code, location = answered.get(entry["fullUrl"], ("", ""))
        share = out[owner]
        if code == "201":
            share["created"] += 1
        elif code == "200":
            share["existing"] += 1
        if location:
            share["locations"].append(location)
    return out

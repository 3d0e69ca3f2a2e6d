"""A screening's first send: its own resources as plain creates (issue 12, catch-up).

Conditional creates make every resend exactly-once, but each one costs the server a
search (Medplum's in-memory repository scans every stored resource of the type, twice
per transaction entry), and Medplum refuses a transaction of more than 8 entries once
any of them is conditional. Most of a screening is its *own* resources -- its
Observations and its RiskAssessment, identified by this cart, this patient and this
screening's readings -- and those can only be on the server if this cart sent them.

So when the store proves that no request ever carried a screening (its outbox entry
was never claimed before: :meth:`cart.store.Store.outbox_claim_many`), its own
resources go as plain creates. Shared resources (Patient, Devices, Practitioners,
Conditions) stay conditional creates: another screening or another system may have
made them. Two things could still have put a first send's resources on the server: a
cart database restored from a backup older than a delivery, and a device record that
another screening already delivered. One search per resource type for all of a
batch's identifiers (:func:`existence_queries`, ``POST [type]/_search`` with the
values OR-joined) tells; when anything is found, or the search cannot say, the batch
goes as conditional creates. Any later send of the screening -- a retry, a split batch,
a resend -- is conditional too.

Delivered in steps, the Patient goes first, and the server's answer is a proof of its
own: a Patient it has just created (201) is pointed at by nothing on the server yet, so
none of that screening's own resources can be there, and no search is needed
(:func:`fresh_subjects`). A backlog is mostly people screened once, so most of a
catch-up needs no search at all (an in-memory server scans every stored Observation
for one).

Pure functions over Bundle dicts; the worker does the I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import parse_qsl

__all__ = [
    "OWN_TYPES",
    "SEARCH_CHUNK",
    "as_plain",
    "existence_queries",
    "fresh_subjects",
    "is_conditional",
    "is_own",
    "own_entries",
    "plain_first_send",
    "search_total",
]

OWN_TYPES: Final = frozenset({"Observation", "RiskAssessment"})
"""Resource types whose identifiers are scoped to one screening's own readings."""

SEARCH_CHUNK: Final = 100
"""Values OR-joined in one existence search (a form body, so no URL length limit, but
servers bound the number of values they accept)."""


def is_conditional(entry: Mapping[str, Any]) -> bool:
    return bool((entry.get("request") or {}).get("ifNoneExist"))


def is_own(entry: Mapping[str, Any]) -> bool:
    """An entry of one screening's own (see :data:`OWN_TYPES`)."""
    return (entry.get("resource") or {}).get("resourceType") in OWN_TYPES


def own_entries(
    bundle: Mapping[str, Any], owners: Sequence[int] | None, first: Sequence[bool]
) -> set[str]:
    """fullUrls of the conditional own entries of the screenings no request ever carried.

    ``owners``: the screening index of each entry (a merged Bundle), None for one
    screening's Bundle; ``first``: per screening, whether no request ever carried it."""
    entries = list(bundle.get("entry") or [])
    indices = owners if owners is not None else [0] * len(entries)
    return {
        str(entry["fullUrl"])
        for entry, owner in zip(entries, indices, strict=True)
        if first[owner] and is_own(entry) and is_conditional(entry)
    }


def as_plain(bundle: Mapping[str, Any], urls: Collection[str]) -> dict[str, Any]:
    """A copy of ``bundle`` whose entries named in ``urls`` are plain creates
    (identifiers unchanged)."""
    entries = []
    for entry in bundle.get("entry") or []:
        if entry.get("fullUrl") in urls and is_conditional(entry):
            request = {k: v for k, v in entry["request"].items() if k != "ifNoneExist"}
            entry = {**entry, "request": request}
        entries.append(entry)
    return {**bundle, "entry": entries}


def plain_first_send(bundle: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``bundle`` whose own entries are all plain creates."""
    return as_plain(bundle, own_entries(bundle, None, [True]))


def fresh_subjects(
    entries: Iterable[Mapping[str, Any]], answered: Mapping[str, tuple[str, str]]
) -> set[str]:
    """fullUrls of ``entries`` whose subject this delivery has just created.

    ``answered``: fullUrl -> (status code, ``Type/id``) of the entries already taken. A
    Patient the server answered 201 did not exist before this request, so nothing on
    the server points at it: none of these entries can be there yet."""
    out: set[str] = set()
    for entry in entries:
        subject = ((entry.get("resource") or {}).get("subject") or {}).get("reference")
        if isinstance(subject, str) and answered.get(subject, ("", ""))[0] == "201":
            out.add(str(entry["fullUrl"]))
    return out


def existence_queries(bundles: Iterable[Mapping[str, Any]]) -> list[tuple[str, dict[str, str]]]:
    """(resource type, form parameters) of the searches that find any of the bundles'
    own resources already on the server: their ``ifNoneExist`` criteria, OR-joined
    per type and parameter, at most :data:`SEARCH_CHUNK` values a search."""
    values: dict[tuple[str, str], list[str]] = {}
    for bundle in bundles:
        for entry in bundle.get("entry") or []:
            if not (is_own(entry) and is_conditional(entry)):
                continue
            kind = str(entry["resource"]["resourceType"])
            for param, value in parse_qsl(entry["request"]["ifNoneExist"], strict_parsing=True):
                values.setdefault((kind, param), []).append(value)
    out: list[tuple[str, dict[str, str]]] = []
    for (kind, param), found in values.items():
        unique = list(dict.fromkeys(found))
        for i in range(0, len(unique), SEARCH_CHUNK):
            chunk = ",".join(unique[i : i + SEARCH_CHUNK])
            out.append((kind, {param: chunk, "_summary": "count"}))
    return out


def search_total(body: Any) -> int | None:
    """Matches a searchset reports: its ``total``, else how many entries it holds when
    it holds some; None when it cannot say (not a searchset, or neither)."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        return None
    if body.get("type") != "searchset":
        return None
    total = body.get("total")
    if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
        return total
    entries = body.get("entry")
    return len(entries) if isinstance(entries, list) and entries else None

"""Deliver one screening's Bundle in steps when a server will not take it whole.

Some servers cap transactions (Medplum refuses more than 8 entries once any is a
conditional create). Then the Bundle is cut along its references: first what points at
nothing (Patient, Devices), then what points only at those (the Observations, with the
ids the server returned in place of the ``urn:uuid`` references), then the rest
(averages pointing at single readings, the RiskAssessment). Each step is a transaction
of at most ``step_size`` conditional creates, so a resend of any step (after a crash or
a lost answer) finds what is already there: exactly once, step by step. A first send's
own resources, plain creates (:mod:`cart.sic.first_send`), go together in one last step;
which of them may be plain is decided once the Patient's answer is known.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from cart.sic.adapter import UnexpectedResponse
from cart.sic.first_send import as_plain, is_conditional, is_own
from cart.sic.merge import rewrite_references

__all__ = ["PLAIN_STEP", "StepResult", "deliver_in_steps", "plan_steps", "refuses_size"]

Entry = dict[str, Any]
Send = Callable[[Mapping[str, Any]], Awaitable[httpx.Response]]
ChoosePlain = Callable[[Mapping[str, tuple[str, str]], list[Entry]], Awaitable[set[str]]]
"""(what the server answered so far, the own entries left) -> fullUrls to send plainly."""

_SIZE_WORDS = re.compile(r"too (many|large|big)|exceed|maximum (number|size)|entries", re.I)


def refuses_size(status: int, body: bytes) -> bool:
    """The server said the transaction is too big (not that the data is wrong)."""
    if status == 413:
        return True
    if status not in (400, 422):
        return False
    return bool(_SIZE_WORDS.search(body[:4000].decode("utf-8", "replace")))


def _references(node: Any) -> set[str]:
    if isinstance(node, dict):
        out = set().union(*(_references(v) for v in node.values())) if node else set()
        ref = node.get("reference")
        if isinstance(ref, str):
            out.add(ref)
        return out
    if isinstance(node, list):
        return set().union(*(_references(v) for v in node)) if node else set()
    return set()


PLAIN_STEP: Final = 1000
"""Most plain creates in the last step (a first send's own resources, one transaction)."""


def plan_steps(
    bundle: Mapping[str, Any], step_size: int, plain_size: int = PLAIN_STEP
) -> list[list[list[Entry]]]:
    """Phases (each after the ones it references), each cut into chunks of ``step_size``.

    Plain creates (a first send's own resources: :mod:`cart.sic.first_send`) go
    together in one last step: no size cap applies to a transaction without
    conditional creates, and the server resolves their references to each other.
    """
    entries: list[Entry] = list(bundle.get("entry") or [])
    plain = [e for e in entries if not is_conditional(e)]
    if plain and len(plain) <= plain_size:
        plain_urls = {e["fullUrl"] for e in plain}
        conditional = [e for e in entries if is_conditional(e)]
        if not any(_references(e["resource"]) & plain_urls for e in conditional):
            return [*_phases(conditional, step_size), [plain]]
    return _phases(entries, step_size)


def _phases(entries: list[Entry], step_size: int) -> list[list[list[Entry]]]:
    urls = {e["fullUrl"] for e in entries}
    needs = {e["fullUrl"]: _references(e["resource"]) & urls for e in entries}
    done: set[str] = set()
    phases: list[list[list[Entry]]] = []
    left = entries
    while left:
        ready = [e for e in left if needs[e["fullUrl"]] <= done]
        if not ready:  # a cycle: cannot happen with our Bundles, but never loop forever
            raise ValueError("the Bundle's references form a cycle")
        phases.append([ready[i : i + step_size] for i in range(0, len(ready), step_size)])
        done |= {e["fullUrl"] for e in ready}
        left = [e for e in left if e["fullUrl"] not in done]
    return phases


def _codes(body: bytes) -> list[str]:
    """The status code of each entry of an accepted transaction-response, in order."""
    entries = json.loads(body).get("entry") or []
    return [str((e.get("response") or {}).get("status", "")).split(" ")[0] for e in entries]


@dataclass
class StepResult:
    created: int = 0
    existing: int = 0
    locations: list[str] = field(default_factory=list)
    requests: int = 0
    answered: dict[str, tuple[str, str]] = field(default_factory=dict)
    """fullUrl -> (status code, ``Type/id``) of every entry the server took."""
    failed: httpx.Response | None = None
    """The first answer that was not a 2xx: the worker classifies it like a whole Bundle's."""
    error: httpx.TransportError | None = None
    """The first step that got no answer (the worker classifies it like a whole Bundle's)."""
    failed_plain: bool = False
    """The step that failed carried plain creates (a first send's own resources)."""

    def summary(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "existing": self.existing,
            "locations": self.locations,
            "steps": self.requests,
        }


async def deliver_in_steps(
    bundle: Mapping[str, Any],
    send: Send,
    accepted: Callable[[int, bytes], dict[str, Any]],
    *,
    step_size: int = 8,
    concurrency: int = 1,
    first_phase: asyncio.Lock | None = None,
    choose_plain: ChoosePlain | None = None,
) -> StepResult:
    """Post the phases in order; the chunks of one phase may go ``concurrency`` at a time.

    ``accepted`` is the adapter's check of a 2xx answer (it raises on a non-FHIR one).
    ``first_phase``: held while the first phase (Patient, Devices) goes, when several
    screenings are delivered at once. They share resources (the gateway Device, a
    patient screened twice), and FHIR does not require a server to serialize two
    concurrent conditional creates of the same resource: one that does not creates both,
    and every later conditional create of it fails with 412.
    ``choose_plain``: when given, the shared resources (Patient, Devices, ...) go first;
    then it is told what the server answered and which own entries (Observations,
    RiskAssessment) remain, and names those that may go as plain creates.
    """
    result = StepResult()
    ids: dict[str, str] = {}
    gate = asyncio.Semaphore(max(1, concurrency))

    async def post(
        chunk: Sequence[Entry],
    ) -> tuple[Sequence[Entry], httpx.Response | httpx.TransportError]:
        body = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{**e, "resource": rewrite_references(e["resource"], ids)} for e in chunk],
        }
        async with gate:
            try:
                return chunk, await send(body)
            except httpx.TransportError as exc:  # the other chunks of the phase finish
                return chunk, exc

    def fail(chunk: Sequence[Entry]) -> None:
        if result.failed is None and result.error is None:
            result.failed_plain = not all(is_conditional(e) for e in chunk)

    def record(chunk: Sequence[Entry], response: httpx.Response | httpx.TransportError) -> None:
        if isinstance(response, httpx.TransportError):
            fail(chunk)
            result.error = result.error or response
            return
        if not 200 <= response.status_code < 300:
            fail(chunk)
            result.failed = result.failed or response
            return
        summary = accepted(response.status_code, response.content)
        result.created += int(summary["created"])
        result.existing += int(summary["existing"])
        locations = list(summary["locations"])
        result.locations += locations
        if len(locations) != len(chunk):
            raise UnexpectedResponse("a transaction-response without one location per entry")
        codes = _codes(response.content)
        if len(codes) != len(chunk):
            raise UnexpectedResponse("a transaction-response without one answer per entry")
        for entry, location, code in zip(chunk, locations, codes, strict=True):
            ids[entry["fullUrl"]] = location
            result.answered[entry["fullUrl"]] = (code, location)

    async def run(phases: list[list[list[Entry]]], lock: asyncio.Lock | None) -> bool:
        """Post ``phases`` in order; False at the first failure."""
        for number, phase in enumerate(phases):
            if number == 0 and lock is not None:
                async with lock:
                    answers = await asyncio.gather(*(post(chunk) for chunk in phase))
            else:
                answers = await asyncio.gather(*(post(chunk) for chunk in phase))
            result.requests += len(answers)
            for chunk, response in answers:
                record(chunk, response)
            if result.failed is not None or result.error is not None:
                return False
        return True

    entries: list[Entry] = list(bundle.get("entry") or [])
    own = [e for e in entries if is_own(e)]
    shared = [e for e in entries if not is_own(e)]
    own_urls = {e["fullUrl"] for e in own}
    if (
        choose_plain is None
        or not own
        or not shared
        or any(_references(e["resource"]) & own_urls for e in shared)
    ):
        await run(plan_steps(bundle, step_size), first_phase)
        return result
    if await run(_phases(shared, step_size), first_phase):
        plain = await choose_plain(result.answered, own)
        await run(plan_steps({"entry": as_plain({"entry": own}, plain)["entry"]}, step_size), None)
    return result

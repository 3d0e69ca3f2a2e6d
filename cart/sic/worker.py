"""The outbox worker: delivers completed screenings to SIC, oldest first, exactly once.

Delivery is at-least-once on the wire and exactly-once in effect: an entry is marked
sent only after the destination answered 2xx, and every resend is all conditional
creates, so a resend after a crash or a lost response returns the existing resources.
A screening no request ever carried (the store proves it when the claim takes it) sends
its own Observations and RiskAssessment as plain creates, once a search found none of
them on the server (:mod:`cart.sic.first_send`).

One transaction per ``batch_size`` pending screenings (:mod:`cart.sic.merge`: shared
resources once, every entry still a conditional create) where the server takes it;
a batch refused for its size is halved, and ``delivery="auto"`` switches to steps
(:mod:`cart.sic.steps`) when even one screening is refused, ``"steps"`` always uses
them. ``concurrency`` batches go at once. A batch is all-or-nothing in the outbox:
every screening of it is marked sent when the server took the whole, none otherwise;
a 4xx sends each screening again on its own so only the one at fault is parked.

How each answer is handled::

    2xx (a transaction-response)     -> sent
    4xx (400, 409, 412, 422, ...)    -> rejected, parked with its OperationOutcome;
                                        the queue goes on
    5xx, 408, read/write timeout     -> retried: the entry backs off exponentially with
                                        jitter, and the pass pauses
    connection refused/reset, lost   -> destination down: the entry stays first in line,
    response, 401/403/404/405/407,      the pass stops and the worker pauses with
    2xx that is not FHIR (a portal)     exponential backoff with jitter
    429                              -> pause for Retry-After (seconds or HTTP date)

Memory stays bounded whatever the backlog: entries are read a page at a time (keyset
on the id) and one Bundle is built at a time. ``lease_until`` keeps two workers (the
service and a `cart sync` run by hand) off the same entry; a lease left by a killed
worker expires. The bearer token goes in one request header and nowhere else: it is
never logged, never stored, and not in any ``repr``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import time
import traceback
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from cart.sic import first_send
from cart.sic.adapter import (
    FhirTransactionAdapter,
    OutboundRequest,
    SicAdapter,
    UnexpectedResponse,
)
from cart.sic.merge import Merged, answers, merge_bundles, split_summary
from cart.sic.model import MappingError, ScreeningExport
from cart.sic.status import WorkerState, WorkerStatus, describe_error
from cart.sic.steps import StepResult, deliver_in_steps, refuses_size
from cart.store import Store
from cart.store.models import OutboxEntry
from cart.store.repo import SIC_DESTINATION

__all__ = ["PassReport", "RetryPolicy", "SicWorker", "parse_retry_after"]

log = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_MISCONFIGURED = frozenset({401, 403, 404, 405, 407})
"""4xx that say the endpoint or the credentials are wrong, not the data: never park on them."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    backoff_base: float = 2.0
    """Seconds before the first retry; doubles per failure."""
    backoff_max: float = 900.0
    """Longest wait between two tries (15 minutes)."""
    timeout: float = 30.0
    """Per request (connect, write, read)."""
    lease: float = 120.0
    """How long an entry stays claimed by one worker; longer than ``timeout``."""
    settle: float = 600.0
    """How long a screening waits after a first send (plain creates) whose outcome is
    unknown -- no answer, a connection lost after the request went, a gateway's 502/504,
    a worker that died -- before it goes again, all conditional. A plain create still
    in flight could land after a resend's conditional search and duplicate: no server
    works on a request this long. Also the lease while plain first sends are on."""
    page_size: int = 50
    poll_interval: float = 5.0
    """Longest idle sleep; ``wake()`` cuts it short when a screening is completed."""
    max_retry_after: float = 3600.0

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Exponential with "equal jitter": half the step fixed, half random."""
        step = min(self.backoff_max, self.backoff_base * 2.0 ** max(0, failures - 1))
        return float(step / 2 + rng.uniform(0, step / 2))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass
class PassReport:
    """What one pass over the due entries did."""

    sent: int = 0
    rejected: int = 0
    retried: int = 0
    created: int = 0
    """Resources the destination created (201 entries)."""
    existing: int = 0
    """Resources it already had (200 entries: a resend)."""
    pause: float | None = None
    """Set when the pass stopped early: seconds before the destination should be tried."""
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    """How long the pass took (monotonic clock)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "rejected": self.rejected,
            "retried": self.retried,
            "created": self.created,
            "existing": self.existing,
            "pause": self.pause,
            "errors": self.errors[-5:],
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class _Outcome:
    kind: str  # sent | rejected | retry | down
    message: str = ""
    status: int | None = None
    detail: dict[str, Any] | None = None
    delay: float | None = None
    in_doubt: bool = False
    """The request may have reached the server and nobody knows what it did there (no
    answer, a connection lost after sending, a gateway's 502/504), and it carried plain
    creates: hold the entry back ``policy.settle``. Set where the answer is classified;
    cleared by :meth:`SicWorker._unsure` (and in steps) when only conditional creates
    were at stake, since resending those is safe at once."""


class SicWorker:
    """Drains the outbox to one destination. ``start()``/``stop()`` in the service's
    lifespan; ``sync_pass()`` for `cart sync --once`."""

    def __init__(
        self,
        store: Store,
        adapter: SicAdapter,
        *,
        base_url: str,
        token: str | None = None,
        verify_tls: bool = True,
        policy: RetryPolicy | None = None,
        destination: str = SIC_DESTINATION,
        rng: random.Random | None = None,
        delivery: str = "auto",
        step_size: int = 8,
        concurrency: int = 1,
        batch_size: int = 1,
        plain_first_send: bool = True,
    ) -> None:
        self.store = store
        self.adapter = adapter
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.verify_tls = verify_tls
        self.policy = policy or RetryPolicy()
        self.destination = destination
        self._rng = rng or random.Random()
        self._failures = 0
        self._pass_failures = 0
        self._state: WorkerState = "starting"
        self._last_error: str | None = None
        self._last_error_at: datetime | None = None
        self._last_pass_at: datetime | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self.last_pass: PassReport | None = None
        if delivery not in ("auto", "transaction", "steps"):
            raise ValueError(f"unknown delivery {delivery!r}: auto, transaction or steps")
        self.delivery = delivery
        """``auto`` sends one transaction and switches to ``steps`` for good the first
        time the server refuses its size."""
        self.step_size = max(1, step_size)
        self.concurrency = max(1, concurrency)
        """Screenings in flight at once (and chunks of one step)."""
        self.batch_size = max(1, batch_size)
        """Screenings per transaction (:mod:`cart.sic.merge`); halved for good when the
        server refuses a batch's size, back to this when steps take over."""
        self._batch_setting = self.batch_size
        self.plain_first_send = plain_first_send
        """A first send's own resources as plain creates (:mod:`cart.sic.first_send`);
        off for good if the server cannot answer the existence search."""
        self._first_phase = asyncio.Lock()
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the SIC base URL must be an http(s) URL")
        if token and parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            log.warning("sic: the bearer token will travel unencrypted to %s", parts.hostname)
        if not verify_tls:
            log.warning("sic: TLS certificate verification is OFF (CART_SIC_VERIFY_TLS)")

    def __repr__(self) -> str:
        token = "set" if self._token else "none"
        return f"SicWorker(base_url={self.base_url!r}, adapter={self.adapter.name}, token={token})"

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Run in the background until :meth:`stop`."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="sic-outbox-worker")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.aclose()

    def wake(self) -> None:
        """Look at the outbox now (a screening was completed, or rejections requeued)."""
        self._wake.set()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> SicWorker:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def run(self) -> None:
        log.info("sic: delivering to %s (%s)", _without_userinfo(self.base_url), self.adapter.name)
        try:
            while True:
                self._wake.clear()
                self._state = "sending"
                try:
                    report = await self.sync_pass()
                    pause = report.pause
                    # inside the guard: the next-due query is the database's too
                    idle = None if pause is not None else await self._idle_delay()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the database or a bug: never end the worker
                    pause, idle = self._pass_failed(exc), None
                else:
                    self._pass_failures = 0
                    self._last_pass_at = datetime.now(UTC)
                    self._state = "paused" if pause is not None else "idle"
                if pause is not None:
                    # the destination asked for (or needs) quiet: a wake-up does not cut it short
                    await asyncio.sleep(pause)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=idle)
        finally:
            self._state = "stopped"

    def _pass_failed(self, exc: Exception) -> float:
        """Log (type, PHI-free message, code frames: no values), back off; the pause."""
        self._pass_failures += 1
        self._state = "failing"
        self._last_error = describe_error(exc)
        self._last_error_at = datetime.now(UTC)
        pause = self.policy.backoff(self._pass_failures, self._rng)
        log.error(
            "sic: outbox pass failed (%d in a row): %s; retrying in %.1f s\n%s",
            self._pass_failures,
            self._last_error,
            pause,
            "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
        )
        return pause

    def status(self) -> WorkerStatus:
        """What `GET /api/v1/health` reports: the state, the last error of the worker's own."""
        state = self._state
        if self._task is not None and self._task.done():  # ended although never stopped
            state = "stopped"
        return WorkerStatus(
            state=state,
            failures=self._pass_failures,
            last_error=self._last_error,
            last_error_at=self._last_error_at,
            last_pass_at=self._last_pass_at,
        )

    async def _idle_delay(self) -> float:
        due = await asyncio.to_thread(self.store.outbox_next_due, self.destination)
        if due is None:
            return self.policy.poll_interval
        wait = (due - datetime.now(UTC)).total_seconds()
        return min(self.policy.poll_interval, max(0.05, wait))

    # ------------------------------------------------------------------ one pass

    async def sync_pass(self) -> PassReport:
        """Try every entry due now, oldest first, a page at a time.

        Stops early (``report.pause`` set) when the destination is down, overloaded or
        misconfigured: hammering it with the rest of the queue would not help.
        """
        report = PassReport()
        began = time.monotonic()
        after_id = 0
        size = self.batch_size
        # whole batches a page (at least the policy's page size)
        limit = -(-max(self.policy.page_size, self.concurrency * size) // size) * size
        queue: deque[list[OutboxEntry]] = deque()
        running: dict[asyncio.Task[list[_Outcome | None]], list[OutboxEntry]] = {}
        stop: _Outcome | None = None
        exhausted = False
        try:
            while True:
                if not queue and not exhausted and stop is None:  # read ahead a page
                    page = await asyncio.to_thread(
                        self.store.outbox_due,
                        datetime.now(UTC),
                        after_id=after_id,
                        limit=limit,
                        destination=self.destination,
                    )
                    exhausted = not page
                    if page:
                        after_id = page[-1].id or after_id
                        queue.extend(page[i : i + size] for i in range(0, len(page), size))
                # a sliding window: the next batch is claimed, loaded and built while
                # the server works on the one before (``concurrency`` in flight)
                while queue and stop is None and len(running) < self.concurrency:
                    batch = queue.popleft()
                    running[asyncio.create_task(self._deliver_batch(batch))] = batch
                if not running:
                    break
                finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                done: list[tuple[OutboxEntry, _Outcome]] = []
                for task in finished:
                    batch = running.pop(task)
                    for entry, outcome in zip(batch, task.result(), strict=True):
                        if outcome is None:  # another worker holds it
                            continue
                        done.append((entry, outcome))
                        if outcome.kind in ("retry", "down") and stop is None:
                            stop = outcome
                await self._record_all(done, report)
        finally:
            for task in running:  # a failed pass leaves nothing running behind it
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        if stop is not None:
            report.pause = stop.delay
        report.seconds = time.monotonic() - began
        self.last_pass = report
        return report

    async def _deliver_batch(self, entries: list[OutboxEntry]) -> list[_Outcome | None]:
        """Claim, load and send ``entries`` (one transaction when there are several);
        one outcome per entry, None for an entry another worker holds."""
        now = datetime.now(UTC)
        # a worker that dies mid-send leaves its entries held: a plain first send's
        # request may outlive it, so they wait out ``settle`` before anyone resends
        held = self.policy.lease
        if self.plain_first_send:
            held = max(held, self.policy.settle)
        lease = now + timedelta(seconds=held)
        ids = [e.id for e in entries if e.id is not None]
        claimed = await asyncio.to_thread(self.store.outbox_claim_many, ids, now, lease)
        mine = [e for e in entries if e.id in claimed]
        first = {e.id for e in mine if e.id is not None and claimed[e.id]}  # never carried
        rows = await asyncio.to_thread(self.store.screenings_rows, [e.screening_id for e in mine])
        outcomes: dict[int, _Outcome] = {}
        ready: list[tuple[OutboxEntry, ScreeningExport]] = []
        for entry in mine:
            assert entry.id is not None
            try:
                found = rows.get(entry.screening_id)
                if found is None:
                    raise MappingError(f"screening {entry.screening_id} no longer exists")
                export = ScreeningExport.from_rows(found)
                if not isinstance(self.adapter, FhirTransactionAdapter):
                    self.adapter.render(export)  # a mapping error shows now, alone
                ready.append((entry, export))
            except MappingError as exc:
                outcomes[entry.id] = _Outcome("rejected", f"not sent: {exc.message}", None, None)
        if len(ready) > 1 and isinstance(self.adapter, FhirTransactionAdapter):
            sent = await self._send_merged(
                self.adapter, [x for _, x in ready], [e.id in first for e, _ in ready]
            )
            for (entry, _), outcome in zip(ready, sent, strict=True):
                assert entry.id is not None
                outcomes[entry.id] = outcome
        else:
            for entry, export in ready:
                assert entry.id is not None
                outcomes[entry.id] = await self._send_one(export, first=entry.id in first)
        return [outcomes.get(e.id) if e.id is not None else None for e in entries]

    async def _send_one(self, export: ScreeningExport, *, first: bool = False) -> _Outcome:
        """One screening: one transaction, or steps when the server refuses its size.

        ``first``: no request ever carried it (its own resources may go as plain creates)."""
        adapter = self.adapter
        bundle: dict[str, Any] | None = None
        try:
            if isinstance(adapter, FhirTransactionAdapter):
                bundle = adapter.bundle(export)
                owned = self._owned(bundle, None, [first])
                if self.delivery == "steps":
                    return await self._deliver_in_steps(adapter, bundle, owned)
                bundle = await self._first_sends(bundle, owned)
                request = adapter.request_for(bundle)
            else:
                request = adapter.render(export)
        except MappingError as exc:
            return _Outcome("rejected", f"not sent: {exc.message}", None, None)
        try:
            response = await self._send(request)
            if (
                self.delivery != "transaction"  # "steps": another delivery just switched
                and isinstance(adapter, FhirTransactionAdapter)
                and refuses_size(response.status_code, response.content)
            ):
                self._switch_to_steps(len(request.content), response.status_code)
                # a resend: every entry conditional again
                return await self._deliver_in_steps(adapter, adapter.bundle(export))
        except httpx.TransportError as exc:
            return self._unsure(self._network_outcome(exc), bundle)
        return self._unsure(self._classify(response), bundle)

    def _unsure(self, outcome: _Outcome, bundle: Mapping[str, Any] | None) -> _Outcome:
        """``outcome``, no longer in doubt unless ``bundle`` carried plain creates: only
        those may still be at work on the server (see :class:`RetryPolicy`)."""
        if outcome.in_doubt and (
            bundle is None or all(first_send.is_conditional(e) for e in bundle.get("entry") or [])
        ):
            return replace(outcome, in_doubt=False)
        return outcome

    def _owned(
        self, bundle: Mapping[str, Any], owners: list[int] | None, first: list[bool]
    ) -> set[str]:
        """The own entries that may go as plain creates if the server has none of them."""
        if not self.plain_first_send or not any(first):
            return set()
        return first_send.own_entries(bundle, owners, first)

    async def _first_sends(self, bundle: dict[str, Any], owned: set[str]) -> dict[str, Any]:
        """``bundle`` with the ``owned`` entries as plain creates, when one search per type
        shows none of them on the server; else unchanged (one transaction: the search
        must come first)."""
        if not owned:
            return bundle
        found = [e for e in bundle.get("entry") or [] if e.get("fullUrl") in owned]
        if not await self._none_on_server(found):
            return bundle
        return first_send.as_plain(bundle, owned)

    async def _choose_plain(
        self, owned: set[str], answered: Mapping[str, tuple[str, str]], own: list[dict[str, Any]]
    ) -> set[str]:
        """In steps, once the Patients are on the server: the ``owned`` entries whose
        Patient the server has just created, and the others if a search finds none."""
        candidates = [e for e in own if e.get("fullUrl") in owned]
        plain = first_send.fresh_subjects(candidates, answered)
        rest = [e for e in candidates if e["fullUrl"] not in plain]
        if rest and await self._none_on_server(rest):
            plain |= {e["fullUrl"] for e in rest}
        return plain

    async def _none_on_server(self, entries: list[dict[str, Any]]) -> bool:
        """True only if the searches for ``entries`` all answered and found nothing."""
        for kind, params in first_send.existence_queries([{"entry": entries}]):
            try:
                response = await self._http().post(
                    self._url(f"{kind}/_search"),
                    data=params,
                    headers=self._headers({"Accept": FhirTransactionAdapter.CONTENT_TYPE}),
                )
            except httpx.TransportError:
                return False  # the send that follows meets the same network and says so
            if response.status_code in (400, 404, 405, 501):
                self.plain_first_send = False
                log.warning(
                    "sic: the destination does not answer POST %s/_search (HTTP %s): "
                    "every entry is a conditional create from now on",
                    kind,
                    response.status_code,
                )
                return False
            if not 200 <= response.status_code < 300:
                return False
            try:
                total = first_send.search_total(json.loads(response.content))
            except ValueError:
                total = None
            if total != 0:
                if total:
                    log.info("sic: %d of a first send's %s already on the server", total, kind)
                return False
        return True

    def _switch_to_steps(self, size: int, status: int) -> None:
        if self.delivery != "auto":
            return
        log.info(
            "sic: the destination refused a %d-byte transaction (HTTP %s): "
            "delivering in steps of %d from now on",
            size,
            status,
            self.step_size,
        )
        self.delivery = "steps"
        self.batch_size = self._batch_setting  # steps of a batch take fewer requests

    def _network_outcome(self, exc: httpx.TransportError) -> _Outcome:
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            return self._down(f"cannot reach the destination: {type(exc).__name__}")
        if isinstance(exc, httpx.ConnectError):  # refused: the request never left the cart
            return self._down(f"network error: {type(exc).__name__}: {exc}")
        if isinstance(exc, httpx.TimeoutException):
            outcome = self._retry(f"no answer in {self.policy.timeout:g} s ({type(exc).__name__})")
        else:  # reset, or the answer lost after the server got the request
            outcome = self._down(f"network error: {type(exc).__name__}: {exc}")
        return replace(outcome, in_doubt=True)

    async def _send_merged(
        self,
        adapter: FhirTransactionAdapter,
        exports: list[ScreeningExport],
        first: list[bool] | None = None,
    ) -> list[_Outcome]:
        """Several screenings in one transaction (or one delivery in steps).

        All-or-nothing for the outbox: every screening is sent when the server took the
        whole, none when it did not. A 4xx names no screening, so each is then sent on
        its own and only the one at fault is parked; a size refusal halves the batch.
        ``first``: per screening, whether no request ever carried it; every send after
        this one (halves, each alone) is all conditional creates.
        """
        try:
            bundles = [adapter.bundle(x) for x in exports]
        except MappingError:  # one of them: find it alone
            return [await self._send_one(x) for x in exports]
        # merged first: a device record two screenings share goes once, then plain or not
        merged = merge_bundles(bundles)
        owned = self._owned(merged.bundle, merged.owners, first or [False] * len(bundles))
        if self.delivery == "steps":
            return await self._merged_in_steps(adapter, exports, merged, owned)
        bundle = await self._first_sends(merged.bundle, owned)
        try:
            request = adapter.request_for(bundle)
            response = await self._send(request)
            if self.delivery != "transaction" and refuses_size(
                response.status_code, response.content
            ):
                if len(exports) > 1 and self.batch_size > 1:
                    self.batch_size = max(1, min(self.batch_size, len(exports)) // 2)
                    log.info("sic: a batch was refused for its size: %d a batch", self.batch_size)
                    half = len(exports) // 2
                    head = await self._send_merged(adapter, exports[:half])
                    tail = await self._send_merged(adapter, exports[half:])
                    return [*head, *tail]
                self._switch_to_steps(len(request.content), response.status_code)
                again = merge_bundles([adapter.bundle(x) for x in exports])  # conditional
                return await self._merged_in_steps(adapter, exports, again)
        except httpx.TransportError as exc:
            outcome = self._unsure(self._network_outcome(exc), bundle)
            return [outcome] * len(exports)
        outcome = self._unsure(self._classify(response), bundle)
        if outcome.kind == "rejected":
            return [await self._send_one(x) for x in exports]
        if outcome.kind != "sent":
            return [outcome] * len(exports)
        try:
            answered = answers(bundle, json.loads(response.content))
        except (ValueError, AttributeError):
            answered = {}
        if len(answered) != len(merged.bundle["entry"]):  # never guess who got through
            return [self._down("unexpected answer: not one answer per entry")] * len(exports)
        return self._shares(merged, len(exports), answered, outcome.status)

    async def _merged_in_steps(
        self,
        adapter: FhirTransactionAdapter,
        exports: list[ScreeningExport],
        merged: Merged,
        owned: set[str] | None = None,
    ) -> list[_Outcome]:
        result = await self._steps(adapter, merged.bundle, owned)
        if isinstance(result, _Outcome):
            if result.kind == "rejected" and len(exports) > 1:
                return [await self._send_one(x) for x in exports]
            return [result] * len(exports)
        return self._shares(merged, len(exports), result.answered, 200)

    def _shares(
        self,
        merged: Merged,
        count: int,
        answered: Mapping[str, tuple[str, str]],
        status: int | None,
    ) -> list[_Outcome]:
        self._failures = 0
        return [
            _Outcome("sent", status=status, detail=share)
            for share in split_summary(merged, count, answered)
        ]

    async def _send(self, request: OutboundRequest) -> httpx.Response:
        return await self._http().request(
            request.method,
            self._url(request.path),
            content=request.content,
            headers=self._headers(request.headers),
        )

    async def _deliver_in_steps(
        self,
        adapter: FhirTransactionAdapter,
        bundle: Mapping[str, Any],
        owned: set[str] | None = None,
    ) -> _Outcome:
        result = await self._steps(adapter, bundle, owned)
        if isinstance(result, _Outcome):
            return result
        self._failures = 0
        return _Outcome("sent", status=200, detail=result.summary())

    async def _steps(
        self,
        adapter: FhirTransactionAdapter,
        bundle: Mapping[str, Any],
        owned: set[str] | None = None,
    ) -> StepResult | _Outcome:
        """Deliver ``bundle`` in steps: the result, or the outcome of the step that failed
        (held back ``policy.settle`` when that step carried plain creates and its outcome
        is unknown). ``owned``: own entries that may become plain creates."""

        async def send(part: Mapping[str, Any]) -> httpx.Response:
            return await self._send(adapter.request_for(part))

        try:
            result = await deliver_in_steps(
                bundle,
                send,
                adapter.accepted,
                step_size=self.step_size,
                concurrency=self.concurrency,
                first_phase=self._first_phase if self.concurrency > 1 else None,
                choose_plain=functools.partial(self._choose_plain, owned) if owned else None,
            )
        except UnexpectedResponse as exc:
            return self._down(f"unexpected answer: {exc}")
        if result.error is not None:
            outcome = self._network_outcome(result.error)
        elif result.failed is not None:
            outcome = self._classify(result.failed)
        else:
            return result
        # the steps before the plain creates are conditional: a resend of them is safe
        return replace(outcome, in_doubt=outcome.in_doubt and result.failed_plain)

    def _classify(self, response: httpx.Response) -> _Outcome:
        status = response.status_code
        if 200 <= status < 300:
            try:
                summary = self.adapter.accepted(status, response.content)
            except UnexpectedResponse as exc:
                return self._down(f"unexpected answer: {exc}", status)
            self._failures = 0
            return _Outcome("sent", status=status, detail=summary)
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
            if wait is None:
                return self._down("HTTP 429 Too Many Requests", status)
            wait = min(wait, self.policy.max_retry_after)
            return _Outcome("down", "HTTP 429 Too Many Requests", status, None, wait)
        if status >= 500 or status == 408:
            message, _ = self.adapter.rejection(status, response.content)
            # a gateway's 502/504: the server behind it may have the request
            return replace(self._retry(message, status), in_doubt=status in (502, 504))
        if status in _MISCONFIGURED:
            message, _ = self.adapter.rejection(status, response.content)
            return self._down(f"check CART_SIC_BASE_URL / CART_SIC_TOKEN: {message}", status)
        message, detail = self.adapter.rejection(status, response.content)
        return _Outcome("rejected", message, status, detail)

    def _down(self, message: str, status: int | None = None) -> _Outcome:
        self._failures += 1
        return _Outcome(
            "down", message, status, None, self.policy.backoff(self._failures, self._rng)
        )

    def _retry(self, message: str, status: int | None = None) -> _Outcome:
        self._failures += 1
        return _Outcome(
            "retry", message, status, None, self.policy.backoff(self._failures, self._rng)
        )

    async def _record_all(
        self, done: list[tuple[OutboxEntry, _Outcome]], report: PassReport
    ) -> None:
        """Write the outcomes: the sent ones of a round in one database transaction."""
        sent = [(e, o) for e, o in done if o.kind == "sent"]
        if sent:
            rows = [(e.id, o.status, o.detail) for e, o in sent if e.id is not None]
            await asyncio.to_thread(self.store.outbox_sent_many, rows)
            for entry, outcome in sent:
                detail = outcome.detail or {}
                report.sent += 1
                report.created += int(detail.get("created", 0))
                report.existing += int(detail.get("existing", 0))
                log.info(
                    "sic: screening %s delivered (%s created, %s already there)",
                    entry.screening_id,
                    detail.get("created"),
                    detail.get("existing"),
                )
        for entry, outcome in done:
            if outcome.kind != "sent":
                await self._record(entry, outcome, report)

    async def _record(self, entry: OutboxEntry, outcome: _Outcome, report: PassReport) -> None:
        assert entry.id is not None
        sid = entry.screening_id
        if outcome.kind == "sent":
            detail = outcome.detail or {}
            report.sent += 1
            report.created += int(detail.get("created", 0))
            report.existing += int(detail.get("existing", 0))
            await asyncio.to_thread(
                self.store.outbox_sent, entry.id, status_code=outcome.status, summary=detail
            )
            log.info(
                "sic: screening %s delivered (%s created, %s already there)",
                sid,
                detail.get("created"),
                detail.get("existing"),
            )
        elif outcome.kind == "rejected":
            report.rejected += 1
            report.errors.append(outcome.message)
            await asyncio.to_thread(
                self.store.outbox_reject,
                entry.id,
                error=outcome.message,
                status_code=outcome.status,
                outcome=outcome.detail,
            )
            log.warning("sic: screening %s rejected and parked: %s", sid, outcome.message)
        else:
            report.retried += 1
            report.errors.append(outcome.message)
            entry_attempts = entry.attempts + 1
            next_at = None
            delay = 0.0
            if outcome.kind == "retry":
                # this entry backs off on its own, so one bad Bundle cannot hold the queue
                delay = self.policy.backoff(entry_attempts, self._rng)
            if outcome.in_doubt:
                delay = max(delay, self.policy.settle)
            if delay:
                next_at = datetime.now(UTC) + timedelta(seconds=delay)
            await asyncio.to_thread(
                self.store.outbox_retry,
                entry.id,
                error=outcome.message,
                status_code=outcome.status,
                next_attempt_at=next_at,
            )
            log.warning(
                "sic: screening %s not delivered (attempt %s): %s; next try in %.1f s",
                sid,
                entry_attempts,
                outcome.message,
                delay or outcome.delay or 0.0,
            )

    # ------------------------------------------------------------------ HTTP

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                verify=self.verify_tls,
                timeout=httpx.Timeout(self.policy.timeout),
                follow_redirects=False,
            )
        return self._client

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url

    def _headers(self, extra: Mapping[str, str]) -> dict[str, str]:
        headers = dict(extra)
        headers["User-Agent"] = f"mido-cart/{_version()} ({self.adapter.name})"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers


def _without_userinfo(url: str) -> str:
    """The URL for logs: credentials someone put in it (user:pass@) are not printed."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl()


def _version() -> str:
    import cart

    return cart.__version__

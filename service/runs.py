"""Measuring runs in the background, and their progress as a replayable event log.

``POST /screenings/{id}/measure`` starts a :class:`MeasureRun`: an asyncio task owned
by the app (kept in :class:`RunRegistry`, cancelled at shutdown) that reads the devices
through :func:`cart.screening.measure_devices`. Every step is appended to the run's
event log; ``GET /screenings/{id}/events`` replays the log from the start (or after
``Last-Event-ID``) and then follows it live until the run ends, so a late subscriber
misses nothing. The log of the last run of a screening is kept after it ends.

Events (``event`` name, JSON ``data``; every data carries ``seq`` and ``screening_id``):

- ``started``     {devices: [{device_id, role}], bp_readings}
- ``connecting``, ``waiting``, ``progress``  {device_id, role, stage, message,
  measurement (``progress``: the partial value, e.g. ``cuff_pressure``), detail}
- ``reading``     {device_id, role, reading, readings, measurements}: one of several
  blood-pressure readings, stored
- ``done``        {device_id, role, measurements, readings}: stored; for blood pressure
  the average, with every single reading in ``readings``
- ``error``       {device_id, role, error: {type, message, nurse_message}}
- ``end``         {status: finished|cancelled|failed, ok: [ids], failed: [ids]}
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MeasureRun", "RunEvent", "RunRegistry"]

log = logging.getLogger(__name__)

#: finished runs whose event log is kept (per screening, the last run only)
KEEP_FINISHED = 64


@dataclass(frozen=True, slots=True)
class RunEvent:
    id: int
    """1-based position in the run's log (the SSE ``id``)."""
    event: str
    data: dict[str, Any]


@dataclass(eq=False)
class MeasureRun:
    screening_id: int
    device_ids: tuple[str, ...]
    run_id: str | None = None
    """The store's run that owns the screening (None: not owned, e.g. in unit tests)."""
    events: list[RunEvent] = field(default_factory=list)
    finished: bool = False
    task: asyncio.Task[None] | None = None
    _signal: asyncio.Event = field(default_factory=asyncio.Event)

    def publish(self, event: str, data: dict[str, Any]) -> RunEvent:
        """Append an event and wake the subscribers (call from the event loop)."""
        if self.finished:
            raise RuntimeError("the run has ended")
        item = RunEvent(
            len(self.events) + 1,
            event,
            {"seq": len(self.events) + 1, "screening_id": self.screening_id, **data},
        )
        self.events.append(item)
        self._wake()
        return item

    def finish(self) -> None:
        self.finished = True
        self._wake()

    def _wake(self) -> None:
        # one Event per generation: set the current one, hand out a fresh one
        self._signal.set()
        self._signal = asyncio.Event()

    async def follow(
        self, after: int = 0, *, keepalive_s: float = 15.0
    ) -> AsyncIterator[RunEvent | None]:
        """Events with id > ``after``, live until the run ends; ``None`` is a keep-alive tick."""
        sent = max(0, after)
        while True:
            while sent < len(self.events):
                sent += 1
                yield self.events[sent - 1]
            if self.finished:
                return
            signal = self._signal
            try:
                await asyncio.wait_for(signal.wait(), keepalive_s)
            except TimeoutError:
                yield None


class RunRegistry:
    """The app's measuring runs, at most one running per screening and per device."""

    def __init__(self) -> None:
        self._runs: dict[int, MeasureRun] = {}

    def get(self, screening_id: int) -> MeasureRun | None:
        return self._runs.get(screening_id)

    def running(self, screening_id: int) -> bool:
        run = self._runs.get(screening_id)
        return run is not None and not run.finished

    def busy_devices(self) -> dict[str, int]:
        """Device id -> the screening whose run is using it."""
        return {
            device_id: run.screening_id
            for run in self._runs.values()
            if not run.finished
            for device_id in run.device_ids
        }

    def start(
        self,
        screening_id: int,
        device_ids: Iterable[str],
        work: Callable[[MeasureRun], Coroutine[Any, Any, None]],
        *,
        run_id: str | None = None,
    ) -> MeasureRun:
        """Register a run and start ``work(run)`` (which publishes on the run) as a task."""
        if self.running(screening_id):
            raise RuntimeError(f"screening {screening_id} is already measuring")
        run = MeasureRun(screening_id, tuple(device_ids), run_id=run_id)
        self._runs.pop(screening_id, None)
        self._runs[screening_id] = run
        self._prune()
        run.task = asyncio.get_running_loop().create_task(
            self._guard(run, work(run)), name=f"measure-screening-{screening_id}"
        )
        return run

    async def _guard(self, run: MeasureRun, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            if not run.finished:
                run.publish("end", {"status": "cancelled", "ok": [], "failed": []})
            raise
        except Exception:
            log.exception("measuring run of screening %s failed", run.screening_id)
            if not run.finished:
                run.publish("end", {"status": "failed", "ok": [], "failed": []})
        finally:
            work.close()  # a run cancelled before it started must not leak its coroutine
            run.finish()

    async def cancel(self, screening_id: int) -> bool:
        """Stop the screening's running run and wait for it; False if none was running."""
        run = self._runs.get(screening_id)
        if run is None or run.finished or run.task is None or run.task.done():
            return False
        run.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run.task
        return True

    def _prune(self) -> None:
        finished = [sid for sid, run in self._runs.items() if run.finished]
        for sid in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._runs[sid]

    async def shutdown(self) -> None:
        """Cancel every running run and wait for it to stop (the app is shutting down)."""
        tasks = [r.task for r in self._runs.values() if r.task is not None and not r.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

"""The measuring-run registry and its replayable event log (service.runs)."""

from __future__ import annotations

import asyncio

import pytest

from service import runs
from service.runs import MeasureRun, RunRegistry


async def test_follow_replays_then_goes_live_with_keepalives(no_leaked_tasks):
    run = MeasureRun(7, ("bascula",))
    run.publish("started", {"devices": []})
    seen: list[object] = []

    async def subscriber() -> None:
        async for event in run.follow(keepalive_s=0.05):
            seen.append(event if event is None else event.event)
            if len(seen) == 3:
                run.publish("done", {"device_id": "bascula"})
                run.finish()

    task = asyncio.create_task(subscriber())
    await asyncio.wait_for(task, 5)
    assert seen[0] == "started"
    assert None in seen  # idle: a keep-alive tick
    assert seen[-1] == "done"
    assert [e.data["seq"] for e in run.events] == [1, 2]
    assert all(e.data["screening_id"] == 7 for e in run.events)
    with pytest.raises(RuntimeError):
        run.publish("late", {})
    # after the end: the whole log, or what follows a given id
    assert [e.event async for e in run.follow() if e is not None] == ["started", "done"]
    assert [e.event async for e in run.follow(after=1) if e is not None] == ["done"]


async def test_registry_one_run_per_screening_and_shutdown_cancels(no_leaked_tasks):
    registry = RunRegistry()
    gate = asyncio.Event()

    async def work(run: MeasureRun) -> None:
        run.publish("started", {})
        await gate.wait()

    first = registry.start(1, ["bascula"], work)
    await asyncio.sleep(0)
    assert registry.running(1)
    assert registry.busy_devices() == {"bascula": 1}
    with pytest.raises(RuntimeError):
        registry.start(1, ["bascula"], work)
    await registry.shutdown()
    assert first.finished
    assert first.events[-1].data["status"] == "cancelled"
    assert not registry.running(1)
    assert registry.get(1) is first  # the log stays for late subscribers


async def test_a_failing_run_ends_its_stream(no_leaked_tasks, caplog):
    registry = RunRegistry()

    async def boom(run: MeasureRun) -> None:
        raise ValueError("driver bug")

    run = registry.start(3, [], boom)
    assert run.task is not None
    await run.task
    assert run.events[-1].event == "end"
    assert run.events[-1].data["status"] == "failed"
    assert "measuring run of screening 3 failed" in caplog.text


async def test_old_finished_logs_are_pruned(monkeypatch, no_leaked_tasks):
    monkeypatch.setattr(runs, "KEEP_FINISHED", 2)
    registry = RunRegistry()

    async def quick(run: MeasureRun) -> None:
        return None

    for sid in range(1, 6):
        run = registry.start(sid, [], quick)
        assert run.task is not None
        await run.task
    kept = [sid for sid in range(1, 6) if registry.get(sid) is not None]
    assert kept == [3, 4, 5]  # the two newest finished ones, plus the last started

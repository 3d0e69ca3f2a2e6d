"""Issue 11 in the kiosk: a glucometer's refused stored record shows the Spanish reason
on the device card; a reading from a meter whose clock is days off shows its corrected
time and the clock flag. A real OneTouch Ultra2 simulator on a pseudo-terminal, served
from a thread of the test process, read by a `cart serve` subprocess."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from cart.devices import DeviceConfig, Role, dump_devices
from simulators.serial_glucometer import GlucometerConfig, simulator_for
from tests.kiosk.kiosk import axe, browser, curp, needs_chromium, register, serve, shot, start

pytestmark = needs_chromium

DAY_S = 86400.0


@contextmanager
def meter(**config: Any) -> Iterator[tuple[Any, asyncio.AbstractEventLoop]]:
    """A glucometer simulator on its own event loop (the browser test's thread is sync)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    sim = simulator_for("onetouch.ultra2", GlucometerConfig.fast(**config))
    asyncio.run_coroutine_threadsafe(sim.start(), loop).result(10)
    try:
        yield sim, loop
    finally:
        asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _devices(tmp_path: Path, port: str) -> Path:
    path = tmp_path / "devices.toml"
    config = DeviceConfig(
        id="glucometro",
        role=Role.GLUCOMETER,
        driver="onetouch.ultra2",
        transport="serial",
        port=port,
        timeout_s=3.0,
        options={"reply_s": 0.25, "retries": 1},
    )
    path.write_text(dump_devices([config]), encoding="utf-8")
    return path


def test_stale_record_refused_with_the_spanish_reason_on_the_card(tmp_path: Path) -> None:
    with (
        meter(new_reading_mg_dl=None) as (sim, _),  # only readings of past days in memory
        serve(tmp_path, "--devices-file", str(_devices(tmp_path, sim.port))) as (base, _),
        browser() as page,
    ):
        page.goto(base)
        register(page, curp("MALR600305MOCRPS0"), "Rosa", "Martínez López")
        start(page)
        page.get_by_role("button", name="Medir", exact=True).click()
        card = page.locator('[data-role="glucometer"]')
        expect(card).to_have_attribute("data-state", "error", timeout=30_000)
        expect(card.locator(".card-error")).to_contain_text("anterior a este tamizaje")
        expect(card.locator(".card-error")).to_contain_text("Pida al paciente que se mida ahora")
        expect(card.locator(".value-number")).to_have_text("—")
        expect(card.get_by_role("button", name="Reintentar: Glucómetro")).to_be_visible()
        axe(page, "a refused stored record")
        shot(page, "attribution-01-registro-antiguo.png")
        assert not page.errors, page.errors


def test_meter_clock_days_off_shows_corrected_time_and_flag(tmp_path: Path) -> None:
    with (
        meter(new_reading_mg_dl=None, clock_skew_s=3 * DAY_S) as (sim, loop),
        serve(tmp_path, "--devices-file", str(_devices(tmp_path, sim.port))) as (base, _),
        browser() as page,
    ):
        page.goto(base)
        register(page, curp("MALR600305MOCRPS0"), "Rosa", "Martínez López")
        start(page)
        loop.call_soon_threadsafe(sim.add_reading, 180)  # taken now, stamped 3 days ahead
        page.get_by_role("button", name="Medir", exact=True).click()
        card = page.locator('[data-role="glucometer"]')
        expect(card).to_have_attribute("data-state", "done", timeout=30_000)
        expect(card.locator(".value-number")).to_have_text("180")
        expect(card.locator(".value-when")).to_have_text("hace 1 min")  # corrected
        expect(card.locator(".card-flag")).to_have_text(
            "Reloj del equipo 3 días adelantado: hora corregida; ajuste el reloj del equipo"
        )
        axe(page, "a reading with a skewed clock")
        shot(page, "attribution-02-reloj-desfasado.png")
        assert not page.errors, page.errors

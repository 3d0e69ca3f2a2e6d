"""Resume and leave (issue 13) with the run's owner and the BP countdown (issue 11), in
chromium against `cart serve --simulate --fast` with a 12 s interval between readings."""

from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import expect

from tests.helpers import free_port
from tests.kiosk.kiosk import (
    api,
    axe,
    browser,
    curp,
    keypad,
    needs_chromium,
    open_kiosk,
    register,
    reload_kiosk,
    serve,
    shot,
    start,
)

pytestmark = needs_chromium


def test_reload_resumes_and_leaving_asks_then_cancels_the_run(tmp_path: Path) -> None:
    with (
        serve(tmp_path, "--simulate", "--fast", CART_BP_INTERVAL_S="12") as (base, _),
        browser() as page,
    ):
        open_kiosk(page, base)
        register(page, curp("MALR600305MOCRPS0"), "Rosa", "Martínez López")
        start(page)
        expect(page).to_have_url(re.compile(r"#/screenings/1$"))

        # a reload (or a restarted kiosk) comes back to the same screening
        page.reload()
        expect(page.locator("#patient-name")).to_have_text("Rosa Martínez López")
        measure = page.get_by_role("button", name="Medir", exact=True)
        expect(measure).to_be_visible()
        expect(page.get_by_label("CURP")).to_be_hidden()

        # the cuff waits between readings: the nurse sees the countdown
        measure.click()
        bp = page.locator('[data-role="bp"]')
        expect(bp.locator(".badge")).to_have_text(
            re.compile(r"Siguiente lectura en \d+ s"), timeout=20_000
        )
        expect(bp).to_contain_text("Lectura 2 de 2: el paciente descansa sentado")
        first = int(re.findall(r"\d+", bp.locator(".badge").inner_text())[0])
        expect(bp.locator(".badge")).not_to_have_text(f"Siguiente lectura en {first} s")
        later = int(re.findall(r"\d+", bp.locator(".badge").inner_text())[0])
        assert later < first  # it counts down, second by second
        shot(page, "resume-01-cuenta-regresiva.png")
        axe(page, "the BP countdown")

        # a reload mid-run follows the same run
        page.reload()
        expect(page.locator("#patient-name")).to_have_text("Rosa Martínez López")
        expect(page.locator("#measure")).to_be_disabled()
        scale = page.locator('[data-role="scale"]')
        expect(scale.locator(".value-number")).to_have_text("72.40", timeout=20_000)
        expect(scale.locator(".value-when")).to_have_text("hace 1 min")

        # leaving asks first; "Seguir" keeps everything as it was
        page.get_by_role("button", name="Cambiar paciente").click()
        dialog = page.locator("#confirm")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("Rosa Martínez López")
        expect(page.get_by_role("button", name="Seguir con este paciente")).to_be_focused()
        axe(page, "the leave confirmation")
        shot(page, "resume-02-confirmar-salida.png")
        page.get_by_role("button", name="Seguir con este paciente").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#patient-name")).to_have_text("Rosa Martínez López")
        expect(page).to_have_url(re.compile(r"#/screenings/1$"))

        # still between the two readings: leave, and the run is cancelled at once
        countdown = re.search(r"en (\d+) s", bp.locator(".badge").inner_text())
        assert countdown is not None
        page.get_by_role("button", name="Cambiar paciente").click()
        page.get_by_role("button", name="Dejar el tamizaje").click()
        expect(page.get_by_label("CURP")).to_be_focused()
        expect(page.locator("#patient-card")).to_be_hidden()
        left = api(base).get(f"{base}/api/v1/screenings/1", timeout=10).json()
        assert left["status"] == "open"
        stored = len(left["measurements"])
        # past the time the second reading was due: nothing of the stopped run lands
        time.sleep(int(countdown.group(1)) + 2)
        again = api(base).get(f"{base}/api/v1/screenings/1", timeout=10).json()
        assert len(again["measurements"]) == stored
        assert again["status"] == "open"

        # the open screening is on today's list, one tap away
        page.get_by_role("link", name="Hoy").click()
        row = page.locator("#worklist li").filter(has_text="Rosa Martínez López")
        expect(row).to_contain_text("Abierto")
        axe(page, "the worklist")
        shot(page, "resume-03-hoy.png")
        row.get_by_role("link").click()
        expect(page.locator("#patient-name")).to_have_text("Rosa Martínez López")
        expect(page).to_have_url(re.compile(r"#/screenings/1$"))
        expect(page.get_by_role("button", name="Medir", exact=True)).to_be_enabled()

        # to the history and back to the same open screening, nothing lost
        page.get_by_role("button", name="Historial").click()
        visit = page.locator("#history-list li").first
        expect(visit).to_contain_text("Abierto")
        visit.get_by_role("link").click()
        expect(page.get_by_role("button", name="Medir", exact=True)).to_be_visible()
        expect(page.locator('[data-role="scale"] .value-number')).to_have_text("72.40")
        assert not page.errors, page.errors


def test_a_restarted_service_brings_the_nurse_back(tmp_path: Path) -> None:
    """The cart restarts (update, power cut) with the kiosk open: a reload and the nurse's
    PIN bring her back to the same screening."""
    port = free_port()
    with browser() as page:
        with serve(tmp_path, "--simulate", "--fast", port=port) as (base, _):
            open_kiosk(page, base)
            register(page, curp("MALR600305MOCRPS0"), "Rosa", "Martínez López")
            page.get_by_text("En ayuno (8 horas o más)").click()
            start(page)
            page.get_by_role("button", name="Capturar cintura").click()
            keypad(page, "91.0")  # the digit typed is kept as precision, and shown
        with serve(tmp_path, "--simulate", "--fast", port=port) as (base, _):
            reload_kiosk(page)  # sessions end with the service: the nurse signs in again
            expect(page.locator("#patient-name")).to_have_text("Rosa Martínez López")
            expect(page).to_have_url(re.compile(r"#/screenings/1$"))
            waist = page.locator('[data-role="waist"]')
            expect(waist.locator(".value-number")).to_have_text("91.0")
            page.get_by_role("button", name="Medir", exact=True).click()
            scale = page.locator('[data-role="scale"]')
            expect(scale.locator(".value-number")).to_have_text("72.40", timeout=20_000)
            expect(page.get_by_role("button", name="Medir", exact=True)).to_be_enabled(
                timeout=20_000
            )
            page.get_by_role("button", name="Guardar").click()
            expect(page.locator("#saved")).to_contain_text("Guardado")
            saved = api(base).get(f"{base}/api/v1/screenings/1", timeout=10).json()
            assert saved["status"] == "completed"
            assert saved["glucose_context"] == "fasting"
            (waist_row,) = [m for m in saved["measurements"] if m["kind"] == "waist_circumference"]
            assert (waist_row["value"], waist_row["decimals"]) == (91.0, 1)
            assert not page.errors, page.errors

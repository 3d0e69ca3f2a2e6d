"""A nurse's whole day in chromium (issue 13): measure and save with a print-out, search
by name, today's worklist and its filters, a patient's history with trend charts, the
indicators; screenshots at 1280x800, 1024x600 and portrait 800x1280 under
test-artifacts/kiosk/, and axe-core with no violation in every one of those states."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.kiosk.kiosk import (
    VIEWPORTS,
    api,
    axe,
    browser,
    curp,
    keypad,
    needs_chromium,
    open_kiosk,
    register,
    serve,
    shot,
    start,
)

pytestmark = needs_chromium

ROSA = curp("MALR600305MOCRPS0")
ANDRES = curp("GORA850101HJCNDN0")


def _api_screening(
    base: str, patient_id: int, values: dict[str, tuple[float, str]], *known: str
) -> int:
    """A screening typed in by hand through the API (an earlier visit, another patient)."""
    body = {"patient_id": patient_id, "known_diagnoses": list(known)}
    sid: int = api(base).post(f"{base}/api/v1/screenings", json=body, timeout=10).json()["id"]
    for kind, (value, unit) in values.items():
        r = api(base).post(
            f"{base}/api/v1/screenings/{sid}/measurements",
            json={"kind": kind, "value": value, "unit": unit},
            timeout=10,
        )
        assert r.status_code == 201, r.text
    return sid


def _every_viewport(page: Any, name: str, where: str) -> None:
    """Screenshot ``name`` at the three kiosk sizes, axe-core clean in each."""
    for size, (width, height) in VIEWPORTS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate("window.scrollTo(0, 0)")
        axe(page, f"{where} at {size}")
        shot(page, f"day-{name}-{size}.png")
    page.set_viewport_size({"width": 1280, "height": 800})


def test_a_nurses_day(tmp_path: Path) -> None:
    with serve(tmp_path, "--simulate", "--fast") as (base, _), browser() as page:
        open_kiosk(page, base)
        _every_viewport(page, "01-inicio", "the start screen")

        # 1. Rosa: measured with every simulated device, waist typed, saved
        register(page, ROSA, "Rosa", "Martínez López")
        _every_viewport(page, "02-paciente", "the registered patient")
        start(page)
        page.get_by_role("button", name="Medir", exact=True).click()
        expect(page.get_by_role("button", name="Medir", exact=True)).to_be_enabled(timeout=30_000)
        page.get_by_role("button", name="Capturar cintura").click()
        keypad(page, "94.5")
        for role in ("scale", "stadiometer", "bp", "glucometer", "waist"):
            card = page.locator(f'[data-role="{role}"]')
            expect(card.locator(".value-when")).to_have_text("hace 1 min")
        _every_viewport(page, "03-medido", "the measured screening")
        page.get_by_role("button", name="Guardar").click()
        expect(page.locator("#saved")).to_contain_text("Guardado")
        _every_viewport(page, "04-guardado", "the saved screening")
        rosa = api(base).get(f"{base}/api/v1/screenings/1", timeout=10).json()
        rosa_id = rosa["patient_id"]

        # the printable summary: values with units and times, the lights, a print button
        printout = page.get_by_role("link", name="Imprimir resumen")
        expect(printout).to_have_attribute("href", "/screenings/1/summary")
        with page.context.expect_page() as opened:
            printout.click()
        summary = opened.value
        summary.wait_for_load_state()
        expect(summary.locator("h1")).to_have_text("Resumen del tamizaje")
        expect(summary.locator("body")).to_contain_text("Rosa Martínez López")
        # with the two decimals the simulated scale sent
        expect(summary.locator('[data-kind="body_weight"]')).to_contain_text("72.40 kg")
        expect(summary.locator('[data-kind="waist_circumference"]')).to_contain_text("94.5 cm")
        expect(summary.locator('[data-condition="obesity"]')).to_contain_text("En riesgo")
        expect(summary.get_by_role("button", name="Imprimir")).to_be_visible()
        axe(summary, "the printable summary")
        summary.screenshot(path=Path(str(_artifact("day-05-resumen-carta.png"))), full_page=True)
        summary.emulate_media(media="print")
        expect(summary.get_by_role("button", name="Imprimir")).to_be_hidden()
        summary.pdf(path=str(_artifact("day-05-resumen-carta.pdf")), format="Letter")
        summary.goto(f"{base}/screenings/1/summary?paper=receipt")
        width = summary.evaluate("document.body.getBoundingClientRect().width")
        assert 260 < width < 290, width  # 72 mm of an 80 mm roll at 96 dpi
        summary.pdf(path=str(_artifact("day-05-resumen-80mm.pdf")), width="80mm")
        summary.close()

        # an earlier visit of Rosa's, saved; Andrés left open with an urgent glucose
        earlier = _api_screening(
            base,
            rosa_id,
            {
                "body_weight": (75.0, "kg"),
                "body_height": (160.0, "cm"),
                "systolic_pressure": (150, "mm[Hg]"),
                "diastolic_pressure": (95, "mm[Hg]"),
                "glucose": (118, "mg/dL"),
            },
            "hypertension",
        )
        assert api(base).post(f"{base}/api/v1/screenings/{earlier}/complete", timeout=10).is_success
        andres = (
            api(base)
            .post(
                f"{base}/api/v1/patients",
                json={
                    "curp": ANDRES,
                    "given_name": "Andrés",
                    "family_name": "González Ramos",
                    "birth_date": "1985-01-01",
                    "sex": "male",
                },
                timeout=10,
            )
            .json()
        )
        _api_screening(base, andres["id"], {"glucose": (320, "mg/dL")})

        # 2. today's worklist and its filters
        page.get_by_role("button", name="Siguiente paciente").click()
        page.get_by_role("link", name="Hoy").click()
        rows = page.locator("#worklist li")
        expect(rows).to_have_count(3)
        _every_viewport(page, "06-hoy", "today's worklist")
        page.get_by_role("button", name="Urgentes").click()
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Andrés González Ramos")
        expect(rows.first).to_contain_text("Atención urgente")
        expect(page.get_by_role("button", name="Urgentes")).to_have_attribute(
            "aria-pressed", "true"
        )
        page.get_by_role("button", name="Abiertos").click()
        expect(rows).to_have_count(1)
        page.get_by_role("button", name="Por enviar").click()
        expect(rows).to_have_count(2)
        expect(rows.first).to_contain_text("Rosa Martínez López")
        page.get_by_role("button", name="Rechazados por SIC").click()
        expect(page.locator("#worklist-empty")).to_be_visible()
        page.get_by_role("button", name="Todos").click()

        # 3. search by name, then the patient's history with its charts
        page.get_by_role("link", name="Tamizaje").click()
        page.get_by_label("Buscar por nombre").fill("martínez")
        page.get_by_role("button", name="Ver pacientes").click()
        found = page.get_by_role("button", name=f"Rosa Martínez López · {ROSA}")
        expect(found).to_be_visible()
        axe(page, "the name search")
        found.click()
        expect(page.locator("#patient-name")).to_have_text("Rosa Martínez López")
        page.get_by_role("button", name="Historial").click()
        history = page.locator("#history-list li")
        expect(history).to_have_count(2)
        expect(history.first).to_contain_text("Obesidad")
        # the visit with a known diagnosis shows its control status (150/95: not controlled)
        known = history.filter(has_text="Ya diagnosticada: Hipertensión")
        expect(known).to_have_count(1)
        expect(known).to_contain_text("Hipertensión: Descontrolado")
        charts = page.locator("#history-charts figure")
        expect(charts).to_have_count(4)
        expect(charts.locator("canvas")).to_have_count(4)  # drawn by the vendored uPlot
        expect(charts.first.locator("table.sr-only td")).to_have_count(2)  # text equivalent
        # each visit's weight with its own digits: the scale's 72.40, the typed-in 75.0 -> 75
        expect(history.filter(has_text="72.40 kg")).to_have_count(1)
        expect(history.filter(has_text="75 kg")).to_have_count(1)
        expect(charts.first.locator("table.sr-only td")).to_have_text(["72.40 kg", "75 kg"])
        _every_viewport(page, "07-historial", "the patient's history")

        # 4. the indicators
        page.get_by_role("link", name="Indicadores").click()
        expect(page.locator('[data-indicator="ind.screenings"]')).to_have_text("3")
        expect(page.locator('[data-indicator="ind.completed"]')).to_have_text("2")
        expect(page.locator('[data-indicator="ind.sic_pending"]')).to_have_text("2")
        expect(page.locator("#indicators-charts canvas")).to_have_count(1)
        _every_viewport(page, "08-indicadores", "the indicators")
        assert not page.errors, page.errors


def _artifact(name: str) -> Path:
    from tests.kiosk.kiosk import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name

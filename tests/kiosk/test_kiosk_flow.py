"""The whole nurse flow in a real browser against `cart serve --simulate --fast`.

Register a patient by CURP, measure, type the waist on the keypad, see the values and
the traffic lights, save, and switch to English. Screenshots of every step are kept
under ``test-artifacts/kiosk/``. The service's own output (uvicorn access log
included) is grepped for the CURP and the names, which must never be logged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from cart.curp import check_digit
from tests.helpers import TEST_PIN, add_user_cli, sign_in, sign_in_page
from tests.kiosk.kiosk import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, keypad, serve

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium "
    "(apt-get install chromium; .ci/run installs it in CI)",
)

GAUGE_RECORDER = """
window.__cuffPressures = [];
new MutationObserver((changes) => {
  for (const change of changes) {
    for (const node of change.addedNodes) {
      if (!(node instanceof Element)) continue;
      for (const gauge of node.querySelectorAll('[role="meter"]')) {
        window.__cuffPressures.push(Number(gauge.getAttribute("aria-valuenow")));
      }
    }
  }
}).observe(document, { childList: true, subtree: true });
"""

GIVEN = "Lucía"
FAMILY = "Hernández Prieto"
CURP = "HEPL750412MDFRRC0" + check_digit("HEPL750412MDFRRC0")


@contextmanager
def _serve(cwd: Path, *args: str, **env: str) -> Iterator[tuple[str, Path]]:
    """`cart serve ARGS` (DEBUG log) in ``cwd``; yields its base URL and its log file."""
    with serve(cwd, *args, CART_LOG_LEVEL="DEBUG", **env) as (base, _):
        yield base, cwd / "serve.log"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with _serve(tmp_path, "--simulate", "--fast") as running:
        yield running


@contextmanager
def _browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 900}, locale="es-MX")
        finally:
            browser.close()


def _shot(page: object, name: str, section: str | None = None) -> None:
    """What the nurse sees (the viewport, its sticky SIC footer included), scrolled to
    ``section`` when given."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    if section is None:
        page.evaluate("window.scrollTo(0, 0)")
    else:
        page.locator(section).evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=ARTIFACTS / name)


def _keypad(page: object, digits: str) -> None:
    from playwright.sync_api import expect

    keypad(page, digits)
    expect(page.locator("#keypad")).to_be_hidden()


def test_whole_nurse_flow_in_chromium(served: tuple[str, Path]) -> None:
    from playwright.sync_api import expect

    base, log_path = served
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with _browser() as page:
        outside: list[str] = []
        page.on(
            "request",
            lambda r: outside.append(r.url) if not r.url.startswith(base) else None,
        )
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # the cuff gauge lives only while the cuff inflates: record every one rendered
        page.add_init_script(GAUGE_RECORDER)
        sign_in_page(page, base)  # the demo nurse, through the sign-in screen
        page.goto(base)

        # 1. find by CURP -> not registered -> register (birth date and sex prefilled)
        expect(page.get_by_role("heading", name="1. Paciente")).to_be_visible()
        expect(page.locator("#sync-text")).to_contain_text("Por enviar a SIC: 0")
        _shot(page, "01-inicio.png")
        page.get_by_label("CURP").fill(CURP[:10])
        page.get_by_role("button", name="Buscar").click()
        expect(page.locator("#curp-error")).to_contain_text("18 caracteres")
        page.get_by_label("CURP").fill(CURP.lower())
        page.get_by_role("button", name="Buscar").click()
        expect(page.get_by_label("Nombre(s)")).to_be_visible()
        expect(page.get_by_label("Fecha de nacimiento")).to_have_value("1975-04-12")
        expect(page.get_by_role("radio", name="Mujer")).to_be_checked()
        page.get_by_label("Nombre(s)").fill(GIVEN)
        page.get_by_label("Apellidos").fill(FAMILY)
        page.get_by_role("radio", name="Hombre").check()
        page.get_by_role("button", name="Registrar").click()
        expect(page.locator("#sex-error")).to_contain_text("no coincide con la CURP")
        _shot(page, "02-registro-error.png")
        page.get_by_role("radio", name="Mujer").check()
        page.get_by_role("button", name="Registrar").click()
        expect(page.locator("#patient-name")).to_have_text(f"{GIVEN} {FAMILY}")
        expect(page.locator("#patient-meta")).to_contain_text(CURP)
        page.get_by_text("En ayuno (8 horas o más)").click()
        page.get_by_role("button", name="Iniciar tamizaje").click()

        # 2. measure: every configured device reads; live cards end "Medición lista"
        measure = page.get_by_role("button", name="Medir", exact=True)
        expect(measure).to_be_focused()
        measure.click()
        scale = page.locator('[data-device="bascula"]')
        expect(scale).to_have_attribute("data-state", "done", timeout=20_000)
        # the simulated scale sends two decimals ("+0072.40kg"): shown with both (es-MX)
        expect(scale.locator(".value-number")).to_have_text("72.40")
        expect(scale.locator(".badge")).to_have_text("Medición lista")
        expect(measure).to_be_enabled(timeout=20_000)
        expect(page.locator("#live")).to_contain_text("Medición terminada")
        bp = page.locator('[data-role="bp"]')
        if bp.count():  # a simulated cuff: live pressure shown, then the NOM-030 average
            pressures = page.evaluate("window.__cuffPressures")
            assert pressures, "no cuff-pressure gauge was shown while measuring"
            assert max(pressures) > 100
            expect(bp.locator(".value-note")).to_contain_text("promedio de 2 lecturas")
        _shot(page, "03-medicion.png", "#step-measure")

        # waist on the numeric keypad; the devices this cart lacks, by hand too
        page.get_by_role("button", name="Capturar cintura").click()
        _keypad(page, "94.5")
        waist = page.locator('[data-role="waist"]')
        expect(waist.locator(".value-number")).to_have_text("94.5")
        manual = {"stadiometer": ["165"], "bp": ["128", "82"], "glucometer": ["104"]}
        for role, values in manual.items():
            button = page.locator(f'[data-manual="{role}"]')
            if button.count() == 0:
                continue  # the simulated cart has this device
            button.click()
            for value in values:
                _keypad(page, value)
            card = page.locator(f'[data-role="{role}"]')
            expect(card.locator(".value-note")).to_have_text("capturado a mano")
        _shot(page, "04-manual.png", "#step-measure")

        # 3. results: a traffic light per condition with its recommendations
        lights = page.locator("#lights")
        obesity = lights.locator('[data-condition="obesity"]')
        expect(obesity).to_have_attribute("data-domain", "at_risk")
        expect(obesity).to_contain_text("IMC 26.6")
        expect(obesity).to_contain_text("En riesgo")
        expect(lights.locator('[data-condition="hypertension"]')).not_to_have_attribute(
            "data-domain", "missing"
        )
        expect(lights.locator('[data-condition="diabetes"]')).not_to_have_attribute(
            "data-domain", "missing"
        )
        expect(lights.locator(".recs li").first).to_be_visible()
        expect(page.locator("#urgent")).to_be_hidden()
        _shot(page, "05-resultados.png", "#step-results")

        # save: completed, queued for SIC, shown in the footer
        page.get_by_role("button", name="Guardar").click()
        expect(page.locator("#saved")).to_contain_text("Guardado")
        expect(page.get_by_role("button", name="Siguiente paciente")).to_be_focused()
        expect(measure).to_be_hidden()  # a saved screening is shown compactly, without Medir
        expect(page.locator("#sync-text")).to_contain_text("Por enviar a SIC: 1")
        _shot(page, "06-guardado.png", "#step-results")

        # English on demand
        page.get_by_role("button", name="Change language to English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_role("heading", name="3. Results")).to_be_visible()
        expect(obesity).to_contain_text("At risk")
        expect(page.locator("#sync-text")).to_contain_text("Waiting for SIC: 1")
        _shot(page, "07-english.png", "#step-measure")
        page.get_by_role("button", name="Next patient").click()
        expect(page.get_by_label("CURP")).to_be_focused()
        assert not errors, errors
        assert not outside, f"the kiosk fetched from outside the cart: {outside}"

    with httpx.Client(base_url=base, timeout=10) as client:
        sign_in(client)
        screening = client.get("/api/v1/screenings/1").json()
    assert screening["status"] == "completed"
    assert screening["classification"]["overall"]["obesity"] == "at_risk"
    manual_kinds = {m["kind"] for m in screening["measurements"] if m["manual_entry"]}
    assert "waist_circumference" in manual_kinds

    log = log_path.read_text(encoding="utf-8", errors="replace")
    assert "GET /api/v1/patients" in log, "the access log was not captured"
    for secret in (CURP, GIVEN, FAMILY, "Hernández", "Lucía"):
        assert secret not in log, f"{secret!r} was written to the service's log"
    assert not re.search(CURP[:10], log, re.IGNORECASE)


def test_unreachable_device_says_what_to_do_and_offers_retry(tmp_path: Path) -> None:
    """A scale whose port does not exist: the card says so in Spanish, with Reintentar."""
    from playwright.sync_api import expect

    devices = tmp_path / "devices.toml"
    devices.write_text(
        '[[device]]\nid = "bascula"\nrole = "scale"\ndriver = "and.weighing"\n'
        'transport = "serial"\nport = "/dev/mido-no-such-port"\ntimeout_s = 2\n',
        encoding="utf-8",
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    add_user_cli(tmp_path, "rosa")  # a real cart: the administrator made the nurse's user
    with _serve(tmp_path, "--devices-file", str(devices)) as (base, _), _browser() as page:
        sign_in_page(page, base, "rosa", TEST_PIN)
        curp = "GORA850101HJCNDN0" + check_digit("GORA850101HJCNDN0")
        page.get_by_label("CURP").fill(curp)
        page.get_by_label("CURP").press("Enter")
        page.get_by_label("Nombre(s)").fill("Andrés")
        page.get_by_label("Apellidos").fill("González Ramos")
        page.get_by_role("button", name="Registrar").click()
        page.get_by_role("button", name="Iniciar tamizaje").click()
        page.get_by_role("button", name="Medir", exact=True).click()
        scale = page.locator('[data-device="bascula"]')
        expect(scale).to_have_attribute("data-state", "error", timeout=20_000)
        expect(scale.locator(".card-error")).to_have_text(
            "La báscula no se encuentra: revise la alimentación y la conexión, "
            "y presione Reintentar"
        )
        expect(page.locator("#live")).to_contain_text("La báscula no se encuentra")
        retry = scale.get_by_role("button", name="Reintentar: Báscula")
        expect(retry).to_be_enabled()
        _shot(page, "08-error-bascula.png", "#step-measure")
        retry.click()
        expect(scale).to_have_attribute("data-state", "error", timeout=20_000)
        # the fallback: type the weight in; the keypad works from the keyboard too
        scale.get_by_role("button", name="Capturar a mano: Báscula").click()
        expect(page.locator("#keypad")).to_be_visible()
        page.keyboard.type("81.3")
        expect(page.locator("#keypad-display")).to_have_text("81.3")
        _shot(page, "09-teclado.png")
        page.keyboard.press("Enter")
        expect(page.locator("#keypad")).to_be_hidden()
        expect(scale.locator(".value-number")).to_have_text("81.3")
        # an implausible value is refused with a clear Spanish message
        scale.get_by_role("button", name="Capturar a mano: Báscula").click()
        page.keyboard.type("900")
        page.keyboard.press("Enter")
        expect(page.locator("#keypad-error")).to_contain_text("fuera del rango posible")
        page.keyboard.press("Escape")
        expect(page.locator("#keypad")).to_be_hidden()

"""The bugs a nurse's whole day found (issue 13), each in Debian's chromium against a
real `cart serve`: manual blood pressure, registration traps, device cards, layout at
1024x600, the sticky patient bar and urgent banner, /health and the favicon."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.kiosk.kiosk import (
    ARTIFACTS,
    axe,
    browser,
    curp,
    keypad,
    missing_scale,
    needs_chromium,
    register,
    serve,
    shot,
    start,
)

pytestmark = needs_chromium

ROSA = curp("MALR600305MOCRPS0")  # Rosa, 1960-03-05, female


def test_manual_blood_pressure_takes_both_values(tmp_path: Path) -> None:
    """No cuff: "Capturar a mano" asks systolic then diastolic, and stores both."""
    with (
        serve(tmp_path, "--devices-file", str(missing_scale(tmp_path))) as (base, _),
        browser("1024x600") as page,
    ):
        page.goto(base)
        register(page, ROSA, "Rosa", "Martínez López")
        start(page)
        page.get_by_role("button", name="Capturar a mano: Baumanómetro").click()
        dialog = page.locator("#keypad")
        expect(page.locator("#keypad-title")).to_have_text("Presión sistólica (mmHg)")
        keypad(page, "190")
        # the second value's keypad stays open (it closed at once before the fix)
        expect(page.locator("#keypad-title")).to_have_text("Presión diastólica (mmHg)")
        expect(dialog).to_be_visible()
        page.wait_for_timeout(300)  # the first dialog's close event has fired by now
        expect(dialog).to_be_visible()
        axe(page, "the keypad at 1024x600")
        shot(page, "bug-01-diastolica-1024x600.png")
        keypad(page, "100")
        expect(dialog).to_be_hidden()
        card = page.locator('[data-role="bp"]')
        expect(card.locator(".value-number")).to_have_text("190/100")
        expect(card.locator(".value-note")).to_have_text("capturado a mano")
        expect(card.locator(".badge")).to_have_text("Captura manual")
        # one typed reading is fewer than NOM-030 asks: said on the card and in results
        expect(card.locator('[data-flag="bp_incomplete"]')).to_contain_text("1 de 2 lecturas")
        expect(page.locator('[data-quality="bp_incomplete"]')).to_be_visible()
        light = page.locator('#lights [data-condition="hypertension"]')
        expect(light).not_to_have_attribute("data-domain", "missing")
        assert not page.errors, page.errors
        screening = httpx.get(f"{base}/api/v1/screenings/1", timeout=10).json()
        kinds = {m["kind"]: m["value"] for m in screening["measurements"]}
        assert kinds["systolic_pressure"] == 190
        assert kinds["diastolic_pressure"] == 100
        assert screening["bp"] == {"required": 2, "valid": 1, "complete": False}


def test_device_cards_say_offline_before_measuring_and_done_after_typing(
    tmp_path: Path,
) -> None:
    """A missing port is offline at once; a failed scale then a typed weight is not an
    error any more; a failed retry with an earlier value is 'kept', not red."""
    with serve(tmp_path, "--devices-file", str(missing_scale(tmp_path))) as (base, _):
        devices = httpx.get(f"{base}/api/v1/devices", timeout=5).json()
        assert devices[0]["state"] == "offline"
        assert "no se encuentra" in devices[0]["message"]
        with browser() as page:
            page.goto(base)
            register(page, curp("GORA850101HJCNDN0"), "Andrés", "González Ramos")
            start(page)
            scale = page.locator('[data-device="bascula"]')
            # before any Medir: not "ready"
            expect(scale).to_have_attribute("data-state", "error")
            expect(scale.locator(".card-error")).to_contain_text("no se encuentra")
            axe(page, "an offline device")
            page.get_by_role("button", name="Medir", exact=True).click()
            expect(scale.locator(".card-error")).to_contain_text("no se encuentra", timeout=20_000)
            expect(page.get_by_role("button", name="Medir", exact=True)).to_be_enabled(
                timeout=20_000
            )
            scale.get_by_role("button", name="Capturar a mano: Báscula").click()
            keypad(page, "81.3")
            expect(scale.locator(".value-number")).to_have_text("81.3")
            expect(scale).to_have_attribute("data-state", "done")
            expect(scale.locator(".badge")).to_have_text("Captura manual")
            expect(scale.locator(".card-error")).to_have_count(0)
            expect(scale.locator(".value-when")).to_have_text("hace 1 min")
            shot(page, "bug-02-bascula-a-mano.png")
            # a retry that fails again keeps the typed value, in an amber "kept" card
            scale.get_by_role("button", name="Reintentar: Báscula").click()
            expect(scale).to_have_attribute("data-state", "kept", timeout=20_000)
            expect(scale.locator(".badge")).to_have_text("Falló: se conserva el valor anterior")
            expect(scale.locator(".value-number")).to_have_text("81.3")
            axe(page, "a failed retry keeping the typed value")
            # the same in English
            page.get_by_role("button", name="Change language to English").click()
            expect(scale.locator(".badge")).to_have_text("Failed: the earlier value is kept")
            expect(scale.locator(".value-when")).to_have_text("1 min. ago")
            axe(page, "the cards in English")
            assert not page.errors, page.errors


def test_curp_check_digit_refused_before_the_names(tmp_path: Path) -> None:
    good = curp("HEPL750412MDFRRC0")
    wrong = good[:17] + str((int(good[17]) + 1) % 10)
    with (
        serve(tmp_path, "--devices-file", str(missing_scale(tmp_path))) as (base, _),
        browser() as page,
    ):
        page.goto(base)
        page.get_by_label("CURP").fill(wrong)
        page.get_by_role("button", name="Buscar", exact=True).click()
        expect(page.locator("#curp-error")).to_contain_text("dígito")
        expect(page.locator("#curp-error")).to_contain_text("verificador")
        expect(page.get_by_label("Nombre(s)")).to_be_hidden()
        expect(page.get_by_label("CURP")).to_be_focused()
        expect(page.get_by_label("CURP")).to_have_attribute("aria-invalid", "true")
        axe(page, "a wrong check digit")
        shot(page, "bug-03-curp-verificador.png")
        page.get_by_label("CURP").fill(good)
        page.get_by_role("button", name="Buscar", exact=True).click()
        expect(page.get_by_label("Nombre(s)")).to_be_visible()


def test_registration_errors_in_spanish_and_duplicate_notice_visible(tmp_path: Path) -> None:
    code = curp("HEPL750412MDFRRC0")
    with (
        serve(tmp_path, "--devices-file", str(missing_scale(tmp_path))) as (base, _),
        browser() as page,
    ):
        page.goto(base)
        page.get_by_label("CURP").fill(code)
        page.get_by_role("button", name="Buscar", exact=True).click()
        page.get_by_role("button", name="Registrar").click()
        expect(page.locator("#given_name-error")).to_have_text(
            "Escriba el nombre o los nombres del paciente"
        )
        expect(page.locator("#family_name-error")).to_have_text(
            "Escriba los apellidos del paciente"
        )
        expect(page.get_by_label("Nombre(s)")).to_be_focused()
        axe(page, "empty names")
        shot(page, "bug-04-nombres-vacios.png")
        # meanwhile someone else registers the same CURP
        other = httpx.post(
            f"{base}/api/v1/patients",
            json={
                "curp": code,
                "given_name": "Lucía",
                "family_name": "Hernández Prieto",
                "birth_date": "1975-04-12",
                "sex": "female",
            },
            timeout=10,
        )
        assert other.status_code == 201
        page.get_by_label("Nombre(s)").fill("Lucia")
        page.get_by_label("Apellidos").fill("Hernandez")
        page.get_by_role("button", name="Registrar").click()
        expect(page.locator("#patient-name")).to_have_text("Lucía Hernández Prieto")
        notice = page.locator("#patient-note")
        expect(notice).to_be_visible()
        expect(notice).to_have_text("Esta CURP ya está registrada: se usará el paciente existente")
        axe(page, "the duplicate notice")
        assert not page.errors, page.errors


def test_sic_footer_problem_is_spanish(tmp_path: Path) -> None:
    """SIC unreachable: the footer says what it means, never SIC's English error."""
    from tests.helpers import free_port

    nowhere = f"http://127.0.0.1:{free_port()}"
    with (
        serve(
            tmp_path,
            "--devices-file",
            str(missing_scale(tmp_path)),
            CART_SIC_BASE_URL=nowhere,
        ) as (base, _),
        browser() as page,
    ):
        page.goto(base)
        register(page, ROSA, "Rosa", "Martínez López")
        start(page)
        page.get_by_role("button", name="Capturar cintura").click()
        keypad(page, "88")
        page.get_by_role("button", name="Guardar").click()
        expect(page.locator("#saved")).to_contain_text("Guardado")
        page.reload()  # the footer reads /sync at load
        error = page.locator("#sync-error")
        expect(error).to_have_text(
            "SIC no responde por ahora: el carrito reintentará el envío solo",
            timeout=30_000,
        )
        last = httpx.get(f"{base}/api/v1/sync", timeout=5).json()["last_error"]
        assert last["message"]
        assert last["message"] not in error.inner_text()


def test_layout_at_1024x600_sticky_bar_and_distinct_urgent(tmp_path: Path) -> None:
    with (
        serve(tmp_path, "--devices-file", str(missing_scale(tmp_path))) as (base, _),
        browser("1024x600") as page,
    ):
        page.goto(base)
        register(page, ROSA, "Rosa", "Martínez López")
        start(page)
        page.get_by_role("button", name="Capturar a mano: Glucómetro").click()
        ok = page.locator("#keypad").get_by_role("button", name="Aceptar")
        box = ok.bounding_box()
        assert box is not None
        assert box["y"] + box["height"] <= 600, box
        keypad(page, "320")  # urgent: above the 250 mg/dL threshold
        page.get_by_role("button", name="Capturar a mano: Baumanómetro").click()
        keypad(page, "150")
        keypad(page, "95")
        urgent = page.locator("#urgent")
        expect(urgent).to_be_visible()
        # the page scrolled to its end: the patient and the urgent banner stay on screen
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_timeout(100)
        for sticky in ("#patient-name", "#urgent"):
            rect = page.locator(sticky).bounding_box()
            assert rect is not None
            assert 0 <= rect["y"] < 600, (sticky, rect)
        expect(page.locator("#patient-change")).to_be_in_viewport()
        shot(page, "bug-05-urgente-fijo-1024x600.png")
        # urgent's colour is not the red of a "probable" light
        red = page.locator('#lights [data-domain="probable_disease"]').first
        expect(red).to_be_visible()
        urgent_bg = urgent.evaluate("e => getComputedStyle(e).backgroundColor")
        red_bg = red.evaluate("e => getComputedStyle(e).backgroundColor")
        red_edge = red.evaluate("e => getComputedStyle(e).borderTopColor")
        assert urgent_bg not in (red_bg, red_edge), (urgent_bg, red_bg, red_edge)
        axe(page, "urgent at 1024x600")
        page.get_by_role("button", name="Guardar").click()
        expect(page.locator("#saved")).to_contain_text("Guardado")
        # the saved page of a heavy case (urgent, two probable conditions, every advice):
        # values and results in well under three screens (it was three and a half)
        height = page.evaluate("document.documentElement.scrollHeight")
        page.screenshot(path=ARTIFACTS / "bug-06-guardado-1024x600.png", full_page=True)
        assert height <= 2.25 * 600, height
        assert not page.errors, page.errors


def test_health_alias_and_no_favicon_404(tmp_path: Path) -> None:
    with serve(tmp_path, "--devices-file", str(missing_scale(tmp_path))) as (base, _):
        alias = httpx.get(f"{base}/health", timeout=5)
        api = httpx.get(f"{base}/api/v1/health", timeout=5)
        assert alias.status_code == 200
        assert alias.json() == api.json()
        with browser() as page:
            failed: list[str] = []
            page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
            page.goto(base)
            expect(page.get_by_label("CURP")).to_be_focused()
            page.wait_for_load_state("networkidle")
            icon = page.locator('link[rel="icon"]').get_attribute("href")
            assert icon is not None
            assert httpx.get(f"{base}/{icon}", timeout=5).status_code == 200
            assert not failed, failed

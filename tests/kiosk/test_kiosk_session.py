"""Switching nurse and the inactivity lock at the kiosk (issue 14), in chromium against
one `cart serve --simulate --fast` (CART_KIOSK_LOCK_S=60): the second nurse finishes the
first one's screening, a signed-out or locked kiosk holds no patient datum, the same
nurse unlocks with her PIN. The lock test moves the page's clock (Playwright's clock)
past the lock time instead of waiting for it."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from cart.store import create_db_engine, migrate
from cart.store.accounts import Accounts
from cart.users import Role
from service.demo import DEMO_PIN, DEMO_USERNAME
from tests.helpers import TEST_PIN
from tests.kiosk.kiosk import (
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
LUCIA = curp("HEPL750412MDFRRC0")
TRAIL = (
    "SELECT action, username, outcome, object_id, json_extract(detail, '$.reason') "
    "FROM audit_event "
    "WHERE action IN ('sign_in', 'sign_out', 'switch_user') AND id > ? ORDER BY id"
)


@pytest.fixture(scope="module")
def cart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One simulated cart for the module (a second nurse, Beatriz); its URL and database."""
    cwd = tmp_path_factory.mktemp("session")
    _add_nurse(cwd, "bea", "Beatriz")
    env = {"CART_BP_INTERVAL_S": "1", "CART_KIOSK_LOCK_S": "60"}
    with serve(cwd, "--simulate", "--fast", **env) as (base, _):
        yield base, cwd / "var" / "cart.db"


def _add_nurse(cwd: Path, username: str, name: str) -> None:
    """A second nurse (PIN :data:`TEST_PIN`) in the database `cart serve` in ``cwd`` uses."""
    (cwd / "var").mkdir(mode=0o700, exist_ok=True)
    engine = create_db_engine(f"sqlite:///{cwd / 'var' / 'cart.db'}")
    try:
        migrate(engine)
        Accounts(engine).add_user(username, name, Role.NURSE, TEST_PIN)
    finally:
        engine.dispose()


def _sign_in(page: Any, username: str | None, pin: str, button: str = "Entrar") -> None:
    if username is not None:
        page.get_by_label("Usuario").fill(username)
    page.get_by_label("PIN").fill(pin)
    page.get_by_role("button", name=button).click()
    page.wait_for_url(lambda url: "/signin.html" not in url)


def _holds_nothing(page: Any, *secrets: str) -> None:
    """No patient datum in the page, its storage or its JS globals; the API says 401."""
    held = page.evaluate(
        "async () => [document.documentElement.outerHTML, JSON.stringify(sessionStorage),"
        " JSON.stringify(localStorage), JSON.stringify(Object.keys(window)),"
        " String((await fetch('/api/v1/screenings/1')).status),"
        " String((await fetch('/api/v1/patients?q=Ros')).status)]"
    )
    for secret in secrets:
        for text in held[:4]:
            assert secret not in text, secret
    assert held[4:] == ["401", "401"]


def _rows(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def _last_event(db: Path) -> int:
    return int(_rows(db, "SELECT coalesce(max(id), 0) FROM audit_event")[0][0])


def _screening(page: Any) -> int:
    found = re.search(r"#/screenings/(\d+)$", page.url)
    assert found is not None, page.url
    return int(found.group(1))


def test_switch_nurse_mid_screening_and_the_second_completes_it(
    cart: tuple[str, Path],
) -> None:
    base, db = cart
    since = _last_event(db)
    with browser() as page:
        open_kiosk(page, base)
        expect(page.locator("#who")).to_have_text(re.compile(r"^Sesión: "))
        # device setup is not a nurse's page: no "Equipos" link for her
        expect(page.locator("#nav-devices")).to_be_hidden()
        register(page, ROSA, "Rosa", "Martínez López")
        start(page)
        sid = _screening(page)

        # a run under way is this patient's: the nurse waits for it before she leaves
        page.get_by_role("button", name="Medir", exact=True).click()
        expect(page.locator("#measure")).to_be_disabled()
        page.get_by_role("button", name="Cambiar de enfermera").click()
        expect(page.locator("#session-error")).to_contain_text("Espere a que termine la medición")
        expect(page).to_have_url(re.compile(rf"/#/screenings/{sid}$"))
        scale = page.locator('[data-role="scale"] .value-number')
        expect(scale).to_have_text("72.40", timeout=20_000)
        expect(page.locator("#measure")).to_be_enabled(timeout=20_000)
        expect(page.locator("#session-error")).to_be_hidden()

        page.get_by_role("button", name="Cambiar de enfermera").click()
        page.wait_for_url(re.compile(rf"/signin\.html\?reason=switch#/screenings/{sid}$"))
        expect(page.get_by_role("heading", name="Cambiar de enfermera")).to_be_visible()
        expect(page.locator("#signin-note")).to_contain_text("El tamizaje abierto sigue igual")
        _holds_nothing(page, "Rosa", "Martínez", ROSA)
        shot(page, "session-01-cambiar-enfermera.png")

        # the next nurse signs in and is back at the same screening
        _sign_in(page, "bea", TEST_PIN)
        expect(page).to_have_url(re.compile(rf"/#/screenings/{sid}$"))
        expect(page.locator("#patient-name")).to_have_text("Rosa Martínez López")
        expect(page.locator("#who")).to_have_text("Sesión: Beatriz")
        expect(scale).to_have_text("72.40")
        page.get_by_role("button", name="Capturar cintura").click()
        keypad(page, "91")
        expect(page.locator('[data-role="waist"] .value-number')).to_have_text("91")
        page.get_by_role("button", name="Guardar").click()
        expect(page.locator("#saved")).to_contain_text("Guardado")

        # "Cerrar sesión" at the end: the sign-in screen, no screening in the address
        page.get_by_role("button", name="Cerrar sesión").click()
        page.wait_for_url(re.compile(r"/signin\.html\?reason=sign_out$"))
        expect(page.get_by_role("heading", name="Sesión cerrada")).to_be_visible()
        _holds_nothing(page, "Rosa", "Martínez", ROSA)
        assert not page.errors, page.errors

    users = dict(_rows(db, "SELECT username, id FROM cart_user"))
    first, bea = users[DEMO_USERNAME], users["bea"]
    screening = "SELECT opened_by, completed_by FROM screening WHERE id = ?"
    assert _rows(db, screening, sid) == [(first, bea)]
    recorded = dict(
        _rows(db, "SELECT kind, recorded_by FROM measurement WHERE screening_id = ?", sid)
    )
    assert recorded["body_weight"] == first
    assert recorded["waist_circumference"] == bea
    assert _rows(db, TRAIL, since) == [
        ("sign_in", DEMO_USERNAME, "ok", None, None),
        ("sign_out", DEMO_USERNAME, "ok", None, "switch"),
        ("sign_in", "bea", "ok", None, None),
        ("switch_user", "bea", "ok", str(first), None),
        ("sign_out", "bea", "ok", None, "sign_out"),
    ]


def test_idle_kiosk_locks_and_the_nurse_unlocks_where_she_was(cart: tuple[str, Path]) -> None:
    base, db = cart
    since = _last_event(db)
    with browser() as page:
        page.clock.install()  # the page's own time, moved on below instead of waited for
        open_kiosk(page, base)
        register(page, LUCIA, "Lucía", "Hernández Prieto")
        start(page)
        sid = _screening(page)
        page.get_by_role("button", name="Capturar cintura").click()
        keypad(page, "88")
        # a key or a touch restarts the count (60 s); untouched, the screen locks
        page.clock.fast_forward("00:40")
        page.keyboard.press("Shift")
        page.clock.fast_forward("00:40")
        page.mouse.move(10, 10)
        page.clock.fast_forward("00:40")
        expect(page.locator("#patient-name")).to_have_text("Lucía Hernández Prieto")
        assert "/signin.html" not in page.url
        page.clock.fast_forward("00:21")
        page.wait_for_url(re.compile(rf"/signin\.html\?reason=lock#/screenings/{sid}$"))
        expect(page.get_by_role("heading", name="Pantalla bloqueada")).to_be_visible()
        expect(page.locator("#signin-note")).to_contain_text("Enfermera")
        expect(page.get_by_label("Usuario")).to_have_value(DEMO_USERNAME)
        expect(page.get_by_label("PIN")).to_be_focused()
        _holds_nothing(page, "Lucía", "Hernández", LUCIA)
        axe(page, "the lock screen")
        shot(page, "session-02-bloqueada.png")

        # a wrong PIN stays locked; hers unlocks, back to the same screening
        page.get_by_label("PIN").fill("000000")
        page.get_by_role("button", name="Desbloquear").click()
        expect(page.locator("#signin-error")).to_have_text("Usuario o PIN incorrectos")
        _sign_in(page, None, DEMO_PIN, button="Desbloquear")
        expect(page).to_have_url(re.compile(rf"/#/screenings/{sid}$"))
        expect(page.locator("#patient-name")).to_have_text("Lucía Hernández Prieto")
        expect(page.locator('[data-role="waist"] .value-number')).to_have_text("88")

        # locked again: another nurse signs in instead and takes over the screening
        page.clock.fast_forward("01:01")
        page.wait_for_url(re.compile(r"/signin\.html\?reason=lock"))
        page.get_by_role("button", name="Otra enfermera").click()
        expect(page.get_by_label("Usuario")).to_have_value("")
        expect(page.get_by_role("heading", name="Cambiar de enfermera")).to_be_visible()
        _sign_in(page, "bea", TEST_PIN)
        expect(page.locator("#patient-name")).to_have_text("Lucía Hernández Prieto")
        expect(page.locator("#who")).to_have_text("Sesión: Beatriz")
        assert not page.errors, page.errors

    first = _rows(db, "SELECT id FROM cart_user WHERE username = ?", DEMO_USERNAME)[0][0]
    assert _rows(db, TRAIL, since) == [
        ("sign_in", DEMO_USERNAME, "ok", None, None),
        ("sign_out", DEMO_USERNAME, "ok", None, "lock"),
        ("sign_in", DEMO_USERNAME, "failed", None, None),  # a wrong PIN first
        ("sign_in", DEMO_USERNAME, "ok", None, None),
        ("sign_out", DEMO_USERNAME, "ok", None, "lock"),
        ("sign_in", "bea", "ok", None, None),
        ("switch_user", "bea", "ok", str(first), None),
    ]

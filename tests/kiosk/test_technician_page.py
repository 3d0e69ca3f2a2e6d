"""The technician's device-setup page in Debian's chromium against `cart serve --simulate`.

Sign in as a technician, follow the kiosk's "Equipos" link, scan (the scale's
pseudo-terminal named by hand: list_ports does not show ptys; the simulated Bluetooth
devices heard), identify the scale, take a test reading, assign it a new id, save and
reload; the service then reads the new device without a restart. axe-core checks the page.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from cart.private import private_dir
from cart.store import create_db_engine, migrate
from cart.store.accounts import Accounts
from cart.users import Role
from tests.helpers import TEST_PIN, _test_pin_hash
from tests.kiosk.kiosk import api, axe, browser, needs_chromium, serve, shot


def _add_technician(cwd: Path) -> None:
    """The technician `tecnico` in the database `cart serve` will use in ``cwd`` (in
    process, with the tests' cached PIN hash: `cart users add` would cost seconds)."""
    engine = create_db_engine(f"sqlite:///{private_dir(cwd / 'var') / 'cart.db'}")
    try:
        migrate(engine)
        Accounts(engine).add_user("tecnico", "Técnico", Role.TECHNICIAN, pin_hash=_test_pin_hash())
    finally:
        engine.dispose()


@needs_chromium
def test_scan_identify_test_assign_save_and_reload(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    _add_technician(tmp_path)
    with serve(tmp_path, "--simulate", "--fast") as (base, _), browser() as page:
        devices = tomllib.loads((tmp_path / "var" / "devices.toml").read_text())["device"]
        (scale,) = [d for d in devices if d["id"] == "bascula"]

        page.goto(f"{base}/")
        page.get_by_label("Usuario").fill("tecnico")
        page.get_by_label("PIN").fill(TEST_PIN)
        page.get_by_role("button", name="Entrar").click()
        page.get_by_role("link", name="Equipos").click()
        page.wait_for_url(f"{base}/technician.html")
        config = page.locator("#config-list")
        expect(config).to_contain_text("bascula")
        expect(config).to_contain_text("glucometro")

        page.get_by_label("Puertos adicionales (uno por línea)").fill(scale["port"])
        page.get_by_role("button", name="Buscar equipos").click()
        expect(page.locator("#scan-status")).to_contain_text("Encontrados")
        expect(page.locator("#ble-list")).to_contain_text("Baumanómetro (ble.blood_pressure)")
        axe(page, "the technician page after a scan")
        page.get_by_role("button", name=f"Identificar {scale['port']}").click()
        expect(page.locator("#cand-driver")).to_have_text("and.weighing")
        expect(page.locator("#cand-evidence")).to_contain_text("formato A&D")
        expect(page.get_by_label("Función en el tamizaje")).to_have_value("scale")

        page.get_by_role("button", name="Lectura de prueba").click()
        expect(page.locator("#test-values")).to_have_text("Peso: 72.40 kg")  # its 2 decimals
        shot(page, "technician-test-reading.png")

        page.get_by_label("Identificador").fill("bascula-2")
        page.get_by_role("button", name="Agregar a la configuración").click()
        expect(page.locator("#config-status")).to_contain_text("reemplaza a bascula")
        page.get_by_role("button", name="Guardar configuración").click()
        expect(page.locator("#config-status")).to_contain_text("Configuración guardada")
        page.get_by_role("button", name="Recargar equipos").click()
        expect(page.locator("#config-status")).to_contain_text("Equipos recargados")
        expect(page.locator("#live-list")).to_contain_text("bascula-2")
        shot(page, "technician-reloaded.png")
        assert page.errors == []

        live = api(base).get(f"{base}/api/v1/devices").json()
        assert sorted(d["id"] for d in live) == [
            "bascula-2",
            "baumanometro",
            "estadimetro",
            "glucometro",
        ]
        saved = tomllib.loads((tmp_path / "var" / "devices.toml").read_text())["device"]
        assert {d["id"] for d in saved} == {d["id"] for d in live}

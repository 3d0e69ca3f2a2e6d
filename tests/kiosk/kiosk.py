"""What the kiosk's browser tests share: `cart serve` on a free port, Debian's chromium,
axe-core, screenshots, and the nurse's usual gestures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from cart.curp import check_digit
from service.demo import DEMO_CREDENTIALS, DEMO_PIN, DEMO_USERNAME
from tests.helpers import free_port, wait_until_up

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "kiosk"
CART = Path(sys.executable).with_name("cart")
AXE = Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"

VIEWPORTS = {"1280x800": (1280, 800), "1024x600": (1024, 600), "800x1280": (800, 1280)}

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium "
    "(apt-get install chromium; .ci/run installs it in CI)",
)


def curp(first17: str) -> str:
    return first17 + check_digit(first17)


@contextmanager
def serve(
    cwd: Path, *args: str, port: int | None = None, **env: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`cart serve ARGS` on ``port`` (a free one by default) in ``cwd``; yields its base
    URL and process."""
    port = port or free_port()
    log_path = cwd / "serve.log"
    full_env = {**os.environ, "CART_BP_INTERVAL_S": "0", **env}
    if "--simulate" not in args:
        _ensure_nurse(cwd, full_env)  # a real cart: the administrator made the nurse's user
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [str(CART), "serve", "--port", str(port), *args],
            cwd=cwd,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    if not wait_until_up(proc, f"{base}/api/v1/health", 30):
        proc.kill()
        proc.wait()
        pytest.fail(f"cart serve did not come up: {log_path.read_text(errors='replace')}")
    try:
        yield base, proc
    finally:
        client = _CLIENTS.pop(base, None)
        if client is not None:
            client.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


#: signed-in API clients of the services running now, by base URL
_CLIENTS: dict[str, httpx.Client] = {}


def _ensure_nurse(cwd: Path, env: dict[str, str]) -> None:
    """The nurse `enfermera` (the demo nurse's name and PIN) in the cart's database."""
    add = ["users", "add", DEMO_USERNAME, "--role", "nurse", "--name", "Enfermera"]
    done = subprocess.run(
        [str(CART), *add, "--pin-stdin"],
        input=DEMO_PIN + "\n",
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 or "already exists" in done.stderr, done.stderr


def api(base: str) -> httpx.Client:
    """An API client signed in as the nurse on the service at ``base`` (patient data needs
    a session); use it with absolute URLs as ``httpx.get`` was."""
    client = _CLIENTS.get(base)
    if client is None:
        client = httpx.Client(timeout=30)
        sign_in_client(client, base)
        _CLIENTS[base] = client
    return client


def sign_in_client(client: httpx.Client, base: str) -> None:
    resp = client.post(f"{base}/api/v1/session", json=DEMO_CREDENTIALS)
    assert resp.status_code == 200, resp.text


def open_kiosk(page: Any, base: str) -> None:
    """Open the kiosk, signing in as the nurse on the sign-in screen when it asks (first
    visit, after the inactivity lock or a restart of the service)."""
    page.goto(base)
    _sign_in_if_asked(page)


def reload_kiosk(page: Any) -> None:
    """Reload; a restarted service has forgotten the session, so sign in again if asked."""
    page.reload()
    _sign_in_if_asked(page)


def _sign_in_if_asked(page: Any) -> None:
    if "/signin.html" in page.url:
        page.get_by_label("Usuario").fill(DEMO_USERNAME)
        page.get_by_label("PIN").fill(DEMO_PIN)
        page.get_by_role("button", name="Entrar").click()
        page.wait_for_url(lambda url: "/signin.html" not in url)


@contextmanager
def browser(size: str = "1280x800") -> Iterator[Any]:
    """A page of Debian's chromium; page errors are collected in ``page.errors``."""
    from playwright.sync_api import sync_playwright

    width, height = VIEWPORTS[size]
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = chromium.new_page(viewport={"width": width, "height": height}, locale="es-MX")
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.errors = errors
            yield page
        finally:
            chromium.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / name)


def axe(page: Any, where: str) -> None:
    """axe-core (WCAG 2.x A and AA rules) finds no violation in what is on screen now."""
    if not AXE.exists():
        missing = "axe-core is not installed: npm ci --prefix tests/kiosk"
        if os.environ.get("CART_REQUIRE_AXE"):  # CI: never pass without the checks
            pytest.fail(missing)
        pytest.skip(missing)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => (await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})).violations"
        ".map(v => `${v.id}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)"
    )
    assert result == [], f"axe-core violations in {where}: {result}"


def keypad(page: Any, digits: str) -> None:
    from playwright.sync_api import expect

    dialog = page.locator("#keypad")
    expect(dialog).to_be_visible()
    for key in digits:
        dialog.locator(f'.key[data-key="{key}"]').click()
    dialog.get_by_role("button", name="Aceptar").click()


def register(page: Any, code: str, given: str, family: str) -> None:
    """Find by CURP, register (birth date and sex come from the CURP), see the patient."""
    from playwright.sync_api import expect

    page.get_by_label("CURP").fill(code)
    page.get_by_role("button", name="Buscar", exact=True).click()
    page.get_by_label("Nombre(s)").fill(given)
    page.get_by_label("Apellidos").fill(family)
    page.get_by_role("button", name="Registrar").click()
    expect(page.locator("#patient-name")).to_have_text(f"{given} {family}")


def start(page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_role("button", name="Iniciar tamizaje").click()
    expect(page.get_by_role("button", name="Medir", exact=True)).to_be_visible()


def missing_scale(tmp_path: Path) -> Path:
    """A devices file with one scale on a port that does not exist (nothing else)."""
    devices = tmp_path / "devices.toml"
    devices.write_text(
        '[[device]]\nid = "bascula"\nrole = "scale"\ndriver = "and.weighing"\n'
        'transport = "serial"\nport = "/dev/mido-no-such-port"\ntimeout_s = 2\n',
        encoding="utf-8",
    )
    return devices

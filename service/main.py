"""The app factory. `cart serve` runs it under uvicorn; tests build it with their settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

import cart
from cart import wallclock
from cart.config import Settings, load_settings
from cart.devices import DeviceConfig, load_devices
from cart.store import Store, create_db_engine, migrate
from service.api.main import api_router
from service.api.middleware import RequestGuard
from service.api.routes.health import health
from service.api.routes.summary import router as summary_router
from service.auth import SESSION_COOKIE, patient_user, session_user
from service.demo import DEMO_PIN, DEMO_USERNAME, ensure_demo_nurse
from service.device_rig import DeviceRig
from service.errors import ACCESS_RESPONSES, install_error_handlers
from service.openapi import install_openapi
from service.schemas import HealthPublic
from service.security import BearerForRemoteClients, install_log_redaction
from service.sic_worker import start_sic_worker, stop_sic_worker
from service.state import CartState

__all__ = ["create_app"]

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def _operation_id(route: APIRoute) -> str:
    tag = route.tags[0] if route.tags else "api"
    return f"{tag}-{route.name}"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        wallclock.set_zone(settings.timezone)  # device clocks are read in the cart's zone
        engine = create_db_engine(settings.database_url, busy_timeout_s=settings.db_busy_timeout_s)
        await asyncio.to_thread(migrate, engine)
        store = Store(engine)
        # runs left open by a stopped service own nothing any more: a reading that
        # arrives later can never be attributed to them
        abandoned = await asyncio.to_thread(store.abandon_runs)
        if abandoned:
            log.warning("closed %d measuring run(s) left open by the last stop", abandoned)
        simulated = None
        configs: list[DeviceConfig] = []
        if settings.simulate:
            from simulators.world import SimulatedCart

            simulated = await SimulatedCart(fast=settings.fast_simulators).start()
            simulated.write_devices_file(settings.devices_file)
            configs = list(simulated.devices)
        elif settings.devices_file.exists():
            configs = load_devices(settings.devices_file)
        else:
            log.warning("no devices file at %s: no device will be read", settings.devices_file)
        # the drivers and the Bluetooth radio (open only once a BLE device or scan needs
        # it); the technician's reload swaps the drivers without a restart
        rig = DeviceRig(settings, link=simulated.ble_link if simulated is not None else None)
        app.state.device_rig = rig
        manager = await rig.build(configs)
        # the SIC outbox worker (issue 7): None unless CART_SIC_BASE_URL is set
        sic_worker = start_sic_worker(settings, store)
        app.state.sic_worker = sic_worker
        app.state.cart = CartState(
            settings=settings, store=store, devices=manager, sic_worker=sic_worker
        )
        if settings.simulate or settings.demo_nurse:
            await asyncio.to_thread(ensure_demo_nurse, app.state.cart.accounts)
            log.warning(
                "simulated cart: sign in at http://%s:%d as user %r with PIN %s",
                settings.host,
                settings.port,
                DEMO_USERNAME,
                DEMO_PIN,
            )
        try:
            yield
        finally:
            await app.state.cart.runs.shutdown()  # cancel measuring runs before the drivers
            await stop_sic_worker(sic_worker)  # before the engine is disposed
            await app.state.cart.devices.close()  # the drivers in place now (reloads swap them)
            await rig.close()
            if simulated is not None:
                await simulated.stop()
            engine.dispose()

    app = FastAPI(
        title="mido-cart",
        version=cart.__version__,
        description="Local service of the MIDO mobile screening cart.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    install_error_handlers(app)
    install_log_redaction()
    token = settings.api_token.get_secret_value() if settings.api_token else None
    app.add_middleware(BearerForRemoteClients, token=token)
    # added last, so it runs first: a foreign Host or Origin never reaches the token check
    app.add_middleware(RequestGuard, allowed_hosts=[*settings.allowed_hosts, settings.host])
    app.include_router(api_router, prefix="/api/v1", responses=ACCESS_RESPONSES)
    # the usual probe path of load balancers and monitors, same answer as /api/v1/health
    app.add_api_route("/health", health, methods=["GET"], response_model=HealthPublic)
    # the printable summary, a page outside the API: patient data, so a nurse's session
    app.include_router(
        summary_router, dependencies=[Depends(patient_user)], responses=ACCESS_RESPONSES
    )
    install_openapi(app)  # error bodies and the bearer token, declared

    @app.get("/", include_in_schema=False)
    async def kiosk(request: Request) -> Response:
        """The kiosk for a signed-in user; the sign-in screen otherwise (or after the lock)."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie or await session_user(app.state.cart, cookie) is None:
            return RedirectResponse("/signin.html", status_code=303)
        return FileResponse(STATIC / "index.html")

    app.mount("/", StaticFiles(directory=STATIC, html=True), name="kiosk")
    return app

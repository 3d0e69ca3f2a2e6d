"""Helpers shared by tests: running the app in-process with its lifespan."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from cart.config import Settings
from cart.devices import DeviceConfig, dump_devices
from service.main import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_devices(path: Path, devices: list[DeviceConfig]) -> Path:
    path.write_text(dump_devices(devices), encoding="utf-8")
    return path


@asynccontextmanager
async def running_app(
    settings: Settings, *, client_host: str = "127.0.0.1"
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The real app with its lifespan, reached over ASGI from ``client_host``."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_host, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            yield app, client

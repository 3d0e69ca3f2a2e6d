"""All API routers, mounted by the app under /api/v1."""

from __future__ import annotations

import importlib

from fastapi import APIRouter

api_router = APIRouter()

#: route modules in service.api.routes, each exporting ``router``
ROUTES = (
    "health",
    "session",
    "devices",
    "patients",
    "screenings",
    "classify",
    "sync",
    "reports",
    "audit",
    "technician",
)

for name in ROUTES:
    module = importlib.import_module(f"service.api.routes.{name}")
    api_router.include_router(module.router)

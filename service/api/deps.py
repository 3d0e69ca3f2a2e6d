"""Annotated dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from cart.store import Store
from service.device_manager import DeviceManager
from service.schemas import DB_INT_MAX
from service.state import CartState

__all__ = ["DevicesDep", "ScreeningId", "StateDep", "StoreDep"]


def get_state(request: Request) -> CartState:
    state: CartState = request.app.state.cart
    return state


def get_store(request: Request) -> Store:
    return get_state(request).store


def get_devices(request: Request) -> DeviceManager:
    return get_state(request).devices


StateDep = Annotated[CartState, Depends(get_state)]
StoreDep = Annotated[Store, Depends(get_store)]
DevicesDep = Annotated[DeviceManager, Depends(get_devices)]
ScreeningId = Annotated[int, Path(ge=1, le=DB_INT_MAX)]

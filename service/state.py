"""What the lifespan builds and the routes use."""

from __future__ import annotations

from dataclasses import dataclass, field

from cart.config import Settings
from cart.store import Store
from service.device_manager import DeviceManager

__all__ = ["CartState"]


@dataclass
class CartState:
    settings: Settings
    store: Store
    devices: DeviceManager
    #: screenings with a measuring run in progress
    measuring: set[int] = field(default_factory=set)

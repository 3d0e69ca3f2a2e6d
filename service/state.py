"""What the lifespan builds and the routes use."""

from __future__ import annotations

from dataclasses import dataclass, field

from cart.config import Settings
from cart.sic import SicWorker
from cart.store import Store
from service.device_manager import DeviceManager
from service.runs import RunRegistry

__all__ = ["CartState"]


@dataclass
class CartState:
    settings: Settings
    store: Store
    devices: DeviceManager
    #: pushes completed screenings to SIC; None when CART_SIC_BASE_URL is not set
    sic_worker: SicWorker | None = None
    #: measuring runs (background tasks) and their event logs
    runs: RunRegistry = field(default_factory=RunRegistry)

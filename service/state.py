"""What the lifespan builds and the routes use."""

from __future__ import annotations

from dataclasses import dataclass, field

from cart.config import Settings
from cart.sic import SicWorker
from cart.store import Store
from cart.store.accounts import Accounts
from cart.store.audit import AuditLog
from service.auth import SessionRegistry, SignInThrottle
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
    #: users and their tokens (the same database as ``store``)
    accounts: Accounts = field(init=False)
    #: signed-in kiosk sessions (in memory: a restart signs everyone out)
    sessions: SessionRegistry = field(init=False)
    throttle: SignInThrottle = field(default_factory=SignInThrottle)
    #: the append-only, hash-chained bitácora
    audit: AuditLog = field(init=False)

    def __post_init__(self) -> None:
        self.accounts = Accounts(self.store.engine)
        self.audit = AuditLog(self.store.engine)
        self.sessions = SessionRegistry(idle_s=self.settings.session_idle_s)

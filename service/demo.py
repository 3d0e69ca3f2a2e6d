"""The demo nurse of the simulated cart (`make run`, `cart serve --simulate`).

A simulated cart has no real patients, so a known PIN keeps the quick start two
commands; a real cart has no user until `cart users add` creates one.
"""

from __future__ import annotations

from typing import Final

from cart.store.accounts import Accounts
from cart.users import Role

__all__ = ["DEMO_CREDENTIALS", "DEMO_PIN", "DEMO_USERNAME", "ensure_demo_nurse"]

DEMO_USERNAME: Final = "enfermera"
DEMO_PIN: Final = "246810"
#: the body of ``POST /api/v1/session`` that signs the demo nurse in
DEMO_CREDENTIALS: Final = {"username": DEMO_USERNAME, "pin": DEMO_PIN}


def ensure_demo_nurse(accounts: Accounts) -> bool:
    """Create the demo nurse unless the user exists; True if it was created."""
    if accounts.by_name(DEMO_USERNAME) is not None:
        return False
    accounts.add_user(DEMO_USERNAME, "Enfermera de demostración", Role.NURSE, DEMO_PIN)
    return True

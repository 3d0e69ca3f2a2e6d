"""The cart's wall clock: local time in the cart's zone, naive, as device displays show it.

Meters and cuffs are set by hand to local time and know no zone. Comparing their clocks
with the cart's, or writing the cart's time to them, needs the local time of the cart's
zone (the ``timezone`` setting, ``CART_TIMEZONE``, default America/Mexico_City) whatever
zone the computer itself is set to. The service calls :func:`set_zone` with its setting
at start-up; simulated devices read the same clock.
"""

from __future__ import annotations

import os
from datetime import datetime
from zoneinfo import ZoneInfo

__all__ = ["now", "now_aware", "set_zone", "zone"]

_DEFAULT = "America/Mexico_City"
_zone: ZoneInfo | None = None


def zone() -> ZoneInfo:
    global _zone
    if _zone is None:
        _zone = ZoneInfo(os.environ.get("CART_TIMEZONE") or _DEFAULT)
    return _zone


def set_zone(name: str) -> None:
    """Use the cart's configured zone (e.g. from its settings) for every simulated device."""
    global _zone
    _zone = ZoneInfo(name)


def now() -> datetime:
    """The local wall-clock time in the cart's zone, naive (what a device display shows)."""
    return datetime.now(zone()).replace(tzinfo=None)


def now_aware() -> datetime:
    """The same instant as :func:`now`, timezone-aware (the cart side of a clock check)."""
    return datetime.now(zone())

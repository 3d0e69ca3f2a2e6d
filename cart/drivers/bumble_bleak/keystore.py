"""bumble's JSON bond store, written 0600 in a 0700 folder.

Bonds are long-term keys: whoever copies them can impersonate the cart to a paired
cuff or meter. bumble's ``JsonKeyStore.save`` writes with the process umask (0644).
"""

from __future__ import annotations

import json
from typing import Any

from bumble.keys import JsonKeyStore

from cart.private import write_private

__all__ = ["PrivateJsonKeyStore"]


class PrivateJsonKeyStore(JsonKeyStore):
    async def save(self, db: dict[str, dict[str, dict[str, Any]]]) -> None:
        # same content and atomic replace as bumble's, but never readable by others
        write_private(self.filename, json.dumps(db, sort_keys=True, indent=4))

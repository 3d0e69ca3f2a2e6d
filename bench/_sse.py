"""Server-Sent Events as the service sends them, read back by benches and tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Event", "parse_sse"]


@dataclass(frozen=True)
class Event:
    id: int
    event: str
    data: dict[str, Any]


def parse_sse(text: str) -> list[Event]:
    """The events of a text/event-stream body (comments and ``retry`` skipped)."""
    events: list[Event] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        if "event" in fields:
            events.append(Event(int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return events

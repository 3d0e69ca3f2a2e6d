"""A fault-injecting HTTP/1.1 reverse proxy on 127.0.0.1, in front of the real FHIR server.

Each transaction (a POST that is not a search) takes the next scripted action, each
``POST [type]/_search`` (a first send's existence check) the next of ``script_searches``
(default ``pass``):

    pass          forward to the server and relay its answer
    drop          close the connection without answering (server "down" mid-flight)
    timeout       hold the request without answering for ``hold`` seconds
    503           answer 503 with an OperationOutcome, never reaching the server
    400/404/405   answer that status (a server that does not do such a request)
    429:N         answer 429 with ``Retry-After: N``
    lost          forward (the server commits), then close without relaying the answer

``delay`` slows every forwarded request (the SIGKILL drill uses it to catch a sync in
the middle). ``requests`` records what happened, with the time and the Authorization
header, for the assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass

import httpx

HOP_BY_HOP = {
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "content-encoding",
}


@dataclass
class Seen:
    action: str
    method: str
    path: str
    authorization: str | None
    at: float
    status: int | None = None


class FaultProxy:
    def __init__(self, upstream: str, *, port: int = 0, hold: float = 5.0, delay: float = 0.0):
        self.upstream = upstream.rstrip("/")
        self.port = port
        self.hold = hold
        self.delay = delay
        self.actions: deque[str] = deque()
        self.search_actions: deque[str] = deque()
        self.requests: list[Seen] = []
        self.in_flight = 0
        self._server: asyncio.Server | None = None
        self._client: httpx.AsyncClient | None = None
        self._conns: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def script(self, *actions: str) -> None:
        self.actions.extend(actions)

    async def start(self) -> FaultProxy:
        self._client = httpx.AsyncClient(timeout=30)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._conns):
                task.cancel()
            for task in list(self._conns):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._server.wait_closed()
            self._server = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def script_searches(self, *actions: str) -> None:
        self.search_actions.extend(actions)

    def posts(self) -> list[Seen]:
        """The transactions (POSTs that are not searches)."""
        return [r for r in self.requests if r.method == "POST" and not _search(r.path)]

    def searches(self) -> list[Seen]:
        return [r for r in self.requests if r.method == "POST" and _search(r.path)]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            await self._requests(reader, writer)
        except asyncio.CancelledError:
            pass  # stop(): end quietly (asyncio logs a connection task that ends cancelled)
        finally:
            self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if ":" in line:
                    key, value = line.split(":", 1)
                    headers[key.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            queue = self.search_actions if _search(target) else self.actions
            action = queue.popleft() if queue else "pass"
            seen = Seen(action, method, target, headers.get("authorization"), time.monotonic())
            self.requests.append(seen)
            if not await self._act(action, method, target, headers, body, writer, seen):
                return

    async def _act(
        self,
        action: str,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        writer: asyncio.StreamWriter,
        seen: Seen,
    ) -> bool:
        """Handle one request; False closes the connection."""
        if action == "drop":
            return False
        if action == "timeout":
            await asyncio.sleep(self.hold)
            return False
        if action in ("400", "404", "405"):  # the server does not do this at all
            outcome = {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "not-supported"}],
            }
            seen.status = int(action)
            await self._write(writer, int(action), "No", {}, json.dumps(outcome).encode())
            return True
        if action == "503":
            outcome = {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "transient", "diagnostics": "overloaded"}],
            }
            seen.status = 503
            await self._write(writer, 503, "Service Unavailable", {}, json.dumps(outcome).encode())
            return True
        if action.startswith("429"):
            seen.status = 429
            retry_after = action.partition(":")[2] or "1"
            await self._write(writer, 429, "Too Many Requests", {"Retry-After": retry_after}, b"")
            return True
        assert action in ("pass", "lost"), action
        assert self._client is not None
        self.in_flight += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            forward = {k: v for k, v in headers.items() if k not in HOP_BY_HOP}
            response = await self._client.request(
                method, self.upstream + target, content=body, headers=forward
            )
        finally:
            self.in_flight -= 1
        seen.status = response.status_code
        if action == "lost":
            return False
        out = {k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP}
        reason = response.reason_phrase
        await self._write(writer, response.status_code, reason, out, response.content)
        return True

    @staticmethod
    async def _write(
        writer: asyncio.StreamWriter, status: int, reason: str, headers: dict[str, str], body: bytes
    ) -> None:
        lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        with contextlib.suppress(ConnectionError):  # the client may be gone (killed)
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()


def _search(target: str) -> bool:
    return target.split("?", 1)[0].endswith("/_search")

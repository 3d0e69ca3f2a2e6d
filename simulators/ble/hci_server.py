"""The virtual BLE world's radio, offered to another process as an HCI controller over TCP.

``cart simulate`` runs the peripherals on a bumble :class:`~bumble.link.LocalLink` in its
own process. For a cart service in another process to reach them, this server listens on
127.0.0.1 and, for every TCP client, puts a fresh virtual controller on the link and
speaks HCI (H4 packets, as bumble's ``tcp-client:`` transport does) between the two. The
cart opens it like a USB dongle: ``CART_BLE_TRANSPORT=tcp-client:127.0.0.1:PORT``.

A client that goes away (the service restarts) takes its controller off the link, which
drops its links to the peripherals as a powered-off dongle would; the next client gets a
new controller, so the simulated devices and their memory outlive the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from bumble import hci, ll
from bumble.link import LocalLink
from bumble.transport.common import PacketParser

from cart.bumble_controller import VirtualCentralController

__all__ = ["CENTRAL_ADDRESS", "HciTcpServer"]

_log = logging.getLogger(__name__)

#: The public address of the controller each client gets (the cart's "dongle").
CENTRAL_ADDRESS: Final = "C0:CA:27:00:00:02"


class _WriterSink:
    """Controller -> host: H4 packets onto the TCP stream."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    def on_packet(self, packet: bytes) -> None:
        if not self._writer.is_closing():
            self._writer.write(packet)


class HciTcpServer:
    """``server = await HciTcpServer(link).start(); server.port; await server.stop()``."""

    def __init__(self, link: LocalLink, host: str = "127.0.0.1", port: int = 0) -> None:
        self.link = link
        self.host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        #: clients served so far (each one got its own controller)
        self.clients = 0

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def transport_spec(self) -> str:
        """What the cart sets as its BLE transport (``CART_BLE_TRANSPORT``)."""
        return f"tcp-client:{self.host}:{self.port}"

    async def start(self) -> HciTcpServer:
        self._server = await asyncio.start_server(self._serve, self.host, self._port)
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        self.clients += 1
        controller = VirtualCentralController(
            f"cart-central-{self.clients}",
            host_sink=_WriterSink(writer),
            link=self.link,
            public_address=CENTRAL_ADDRESS,
        )
        parser = PacketParser(controller)
        try:
            while data := await reader.read(4096):
                parser.feed_data(data)
        except (ConnectionError, OSError) as exc:
            _log.debug("HCI client went away: %s", exc)
        finally:
            self._sessions.discard(task)
            self._drop(controller)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _drop(self, controller: VirtualCentralController) -> None:
        """The dongle is gone: its links end (peripherals see a supervision timeout)."""
        controller.host = None
        for connection in list(controller.le_connections.values()):
            with contextlib.suppress(Exception):
                connection.send_ll_control_pdu(
                    ll.TerminateInd(hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR)
                )
            controller.le_connections.pop(connection.peer_address, None)
        with contextlib.suppress(KeyError, ValueError):
            self.link.remove_controller(controller)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._sessions):
            task.cancel()
        for task in list(self._sessions):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

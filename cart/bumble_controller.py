"""bumble's virtual controller, patched where it departs from the Core specification.

Shared by the cart's in-process Bluetooth adapter (a virtual link in simulate mode) and
by the simulators' HCI-over-TCP server: one fix, one place. Neither a driver nor a
simulator, so both layers may import it.
"""

from __future__ import annotations

import asyncio

from bumble import hci
from bumble.controller import Controller

__all__ = ["VirtualCentralController"]


class VirtualCentralController(Controller):
    """bumble's virtual controller, with LE Create Connection Cancel as the spec has it.

    bumble 0.0.236's virtual controller acknowledges the cancel but keeps the attempt
    pending and never reports its end, so a connection timeout hangs the host and the
    next attempt is refused. A real controller (Core Vol 4 Part E 7.8.13) ends the
    attempt with an LE Connection Complete event, status Unknown Connection Identifier.
    """

    def on_hci_le_create_connection_cancel_command(
        self, command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        pending = self.pending_le_connection
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        ended = hci.HCI_LE_Connection_Complete_Event(
            status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
            connection_handle=0,
            role=hci.Role.CENTRAL,
            peer_address_type=pending.peer_address_type,
            peer_address=pending.peer_address,
            connection_interval=0,
            peripheral_latency=0,
            supervision_timeout=0,
            central_clock_accuracy=0,
        )
        # after the Command Complete that returning from here sends
        asyncio.get_running_loop().call_soon(self.send_hci_packet, ended)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

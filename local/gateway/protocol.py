"""uvicorn's WebSocket protocol with API Gateway's frame rules.

ASGI hands the app whole messages, so frame sizes are enforced here, in the protocol:
an inbound frame over 32 KB or a message over 128 KB (however it is fragmented) closes the
connection with 1009, before the app sees it. Outbound messages go out in frames of at
most 32 KB, as API Gateway sends them. No permessage-deflate, no server pings (API Gateway
sends neither; idle connections are closed after 10 minutes instead).
"""

from __future__ import annotations

import logging
from typing import Any

from .limits import Limits

log = logging.getLogger("local.gateway")


def uvicorn_ws_options(limits: Limits) -> dict[str, Any]:
    """Options for uvicorn.Config: the protocol class and its settings."""
    options: dict[str, Any] = {"ws_per_message_deflate": False, "ws_ping_interval": None,
                               "ws_max_size": limits.message_bytes}
    try:
        options["ws"] = protocol_class(limits)
    except ImportError:  # an older uvicorn or websockets: message size is still enforced, frame size is not
        log.warning("uvicorn/websockets too old for frame limits: the 32 KB frame limit is not enforced")
        options["ws"] = "websockets"
    return options


def protocol_class(limits: Limits) -> type:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from websockets.frames import Frame, Opcode
    from websockets.server import ServerProtocol

    frame_bytes = limits.frame_bytes
    try:  # (message, fragment) limits need websockets >= 15
        ServerProtocol(max_size=(limits.message_bytes, frame_bytes))
    except TypeError as exc:
        raise ImportError("websockets cannot limit fragment sizes") from exc

    class FramedServerProtocol(ServerProtocol):
        """Splits outbound messages into frames of at most `frame_bytes`."""

        def _send_fragmented(self, opcode: Opcode, data: Any) -> None:
            view = memoryview(data)
            for start in range(0, len(view), frame_bytes):
                chunk = bytes(view[start:start + frame_bytes])
                fin = start + frame_bytes >= len(view)
                if start == 0:
                    self.expect_continuation_frame = not fin
                    self.send_frame(Frame(opcode, chunk, fin))
                else:
                    self.send_continuation(chunk, fin)

        def _split_here(self, data: Any, fin: bool) -> bool:
            """Whether this is a whole message longer than a frame (an open connection checked)."""
            if fin and len(data) > frame_bytes and not self.expect_continuation_frame:
                self._check_open()
                return True
            return False

        def send_text(self, data: Any, fin: bool = True) -> None:
            if self._split_here(data, fin):
                self._send_fragmented(Opcode.TEXT, data)
            else:
                super().send_text(data, fin)

        def send_binary(self, data: Any, fin: bool = True) -> None:
            if self._split_here(data, fin):
                self._send_fragmented(Opcode.BINARY, data)
            else:
                super().send_binary(data, fin)

        def _check_open(self) -> None:
            from websockets.exceptions import InvalidState
            from websockets.protocol import OPEN

            if self._state is not OPEN:
                raise InvalidState(f"connection is {self.state.name.lower()}")

    class ApiGatewayWebSocketProtocol(WebSocketsSansIOProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # (message limit, frame limit): the parser fails the connection with 1009.
            self.conn = FramedServerProtocol(extensions=[], max_size=(limits.message_bytes, frame_bytes),
                                             logger=logging.getLogger("uvicorn.error"))

        async def send(self, message: Any) -> None:
            await super().send(message)
            if message["type"] == "websocket.http.response.body" and not message.get("more_body", False):
                self.handshake_complete = True  # a refused handshake is complete: no "returned without" error

    return ApiGatewayWebSocketProtocol

"""An address on loopback where connecting hangs, as when VK is cut off by an outage or a
firewall that drops packets.

A listening socket with a backlog of 0 whose queue is already full: Linux drops further SYNs,
so a client's connect neither succeeds nor fails until its own timeout fires. That is the
failure in which aiohttp raises ``ConnectionTimeoutError`` with the full request URL
(``access_token`` included) in its message.
"""

from __future__ import annotations

import contextlib
import socket


class Blackhole:
    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port = int(self._listener.getsockname()[1])
        self._fillers: list[socket.socket] = []
        for _ in range(3):  # fill the accept queue; nobody ever accepts
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", self.port))
            self._fillers.append(filler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        for sock in [*self._fillers, self._listener]:
            sock.close()

    def __enter__(self) -> Blackhole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

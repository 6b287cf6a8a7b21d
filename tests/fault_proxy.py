"""A TCP proxy for fault injection: put it between the gateway and a backend, then break the backend.

- `cut()`: every connection through it is closed and new ones are refused (the listening socket is
  gone), as when a server dies or a network link drops with resets.
- `freeze()`: connections stay open but no byte passes in either direction, and new connections are
  accepted and held: a hung server, or a network that silently drops packets.
- `restore()`: back to forwarding, on the same port, so clients need no new address.
- `holding`: an event set once a client has sent something that a freeze holds back, i.e. a caller is
  now waiting on the frozen backend (tests wait on it rather than sleep and hope).

A test utility only: one thread per connection, polling its state every few milliseconds.
"""
from __future__ import annotations

import select
import socket
import threading
import time

_POLL_SECONDS = 0.02


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._state = "up"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.holding = threading.Event()
        self._listen()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # --- faults ------------------------------------------------------------------------------------

    def cut(self) -> None:
        with self._lock:
            self._state = "cut"
            self._close_listener()
            for sock in list(self._sockets):
                _shut(sock)

    def freeze(self) -> None:
        with self._lock:
            if self._state == "cut":
                self._listen()
            self.holding.clear()
            self._state = "frozen"

    def restore(self) -> None:
        with self._lock:
            if self._state == "cut":
                self._listen()
            self._state = "up"

    def close(self) -> None:
        self.cut()

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- forwarding --------------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))  # the same port again after a cut
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name="fault-proxy-accept", daemon=True).start()

    def _close_listener(self) -> None:
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave it listening.
            _shut(self._listener)
            self._listener = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                if self._state == "cut":
                    _shut(client)
                    continue
                self._sockets.add(client)
            threading.Thread(target=self._forward, args=(client,), name="fault-proxy-pipe", daemon=True).start()

    def _forward(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            while True:
                state = self._state
                if state == "cut":
                    return
                if state == "frozen":
                    waiting, _, _ = select.select([client], [], [], _POLL_SECONDS)
                    if waiting:
                        if self._state == "frozen":
                            self.holding.set()
                        # What arrived stays unread, so select() would answer at once again: wait instead
                        # of spinning (a spinning thread per held connection starves the gateway's own).
                        time.sleep(_POLL_SECONDS)
                    continue
                if upstream is None:
                    upstream = socket.create_connection(self.target, timeout=5)
                    upstream.settimeout(None)
                    with self._lock:
                        self._sockets.add(upstream)
                readable, _, _ = select.select([client, upstream], [], [], _POLL_SECONDS)
                if self._state != "up":
                    continue  # frozen (or cut) meanwhile: hold what arrived
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except (OSError, ValueError):  # ValueError: select() on a socket that cut() closed meanwhile
            return
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    _shut(sock)
                    with self._lock:
                        self._sockets.discard(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass

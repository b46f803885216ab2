"""A loopback proxy in front of the test Dovecot that misbehaves on demand, like servers in the field.

Dovecot is a well-behaved server. Others are not, and refmail must cope
with what they do (docs/servers.md): an IDLE that never tells of new mail
(Cyrus without its ``idled``), errors without RFC 5530 response codes, a
folder that allows no permanent flags, a connection that vanishes without
``* BYE`` (a NAT box or load balancer forgetting it), a server that accepts
connections and hangs up at once while it starts. :class:`ImapProxy` sits
between refmail and a real Dovecot on 127.0.0.1 and does each on request,
leaving everything else byte for byte as Dovecot sent it::

    with ImapProxy(dovecot.host, dovecot.port) as proxy:
        proxy.swallow_idle_exists = True          # IDLE never announces mail
        settings = ImapSettings(host=proxy.host, port=proxy.port, ...)

Switches (each may change while connections are open):

- ``swallow_idle_exists``: drop ``* N EXISTS`` (and ``* N RECENT``) the server
  sends while a client is in IDLE (RFC 2177), so IDLE says nothing; a NOOP
  after DONE does not repeat them either (the server thinks it told).
- ``strip_codes``: remove the response code (``[NONEXISTENT]``,
  ``[AUTHENTICATIONFAILED]``, …) from every NO, BAD and BYE response.
- ``rewrites``: ``(pattern, replacement)`` byte regexes applied to every line
  the server sends outside literals, e.g. a PERMANENTFLAGS allowing ``\\Seen`` only.
- ``answers``: command name → the response the proxy gives itself instead of
  forwarding the command (``{"LOGIN": "NO [UNAVAILABLE] try again"}``).
- ``refusing``: accept each new connection and close it at once, before any
  greeting — a server that listens but is not ready.
- :meth:`drop`: cut every open connection at once with a TCP reset, no BYE.

Counters: ``connections`` (accepted, refused ones included; ``accepted_at``
their times) and ``commands``
(a Counter of the command names clients sent, ``DONE`` included).

Only loopback: the proxy listens on 127.0.0.1 and connects to the given
upstream, which the tests always start on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
import time
from collections import Counter

from mailservers import LOOPBACK

__all__ = ["ImapProxy"]

_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")
_IDLE_NEWS = re.compile(rb"^\* \d+ (EXISTS|RECENT)\r\n$", re.IGNORECASE)
_CODE = re.compile(rb"^(\S+ (?:NO|BAD|BYE) )\[[^\]]*\] ?", re.IGNORECASE)


class _Stream:
    """Reads one side of an IMAP connection line by line, literals (``{N}``) apart.

    Each piece is forwarded as soon as it is read: a client sending a
    synchronising literal waits for the server's ``+`` before its data, so
    holding the line back until the data came would hang both.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.file = sock.makefile("rb")
        self._literal = 0  # bytes of literal data still to come
        self.continued = False  # the next line continues the previous one (after a literal)

    def read(self) -> tuple[bytes, bool]:
        """The next piece, and whether it is a line that starts a command or response.

        ``b""`` at the end of the stream.
        """
        if self._literal:
            data = self.file.read(self._literal)
            if len(data) < self._literal:
                return b"", False
            self._literal = 0
            self.continued = True
            return data, False
        line = self.file.readline(1 << 20)
        starts = not self.continued
        self.continued = False
        found = _LITERAL.search(line)
        if found:
            self._literal = int(found.group(1))
        return line, starts


class _Connection:
    def __init__(self, proxy: ImapProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.idle_tag: bytes | None = None  # IDLE sent, "+" not yet seen
        self.in_idle = False
        self.send_lock = threading.Lock()  # both pumps may write to the client

    def to_client(self, data: bytes) -> None:
        with self.send_lock:
            self.client.sendall(data)

    def pump_client(self) -> None:
        """Client → server: count commands, answer some itself, follow IDLE."""
        stream = _Stream(self.client)
        with contextlib.suppress(OSError, ValueError):
            while True:
                piece, starts = stream.read()
                if not piece:
                    break
                if starts:
                    words = piece.split(None, 2)
                    name = words[1].upper().decode("ascii", "replace") if len(words) > 1 else ""
                    if piece.strip().upper() == b"DONE":
                        name = "DONE"
                        self.in_idle = False
                    with self.proxy._lock:
                        self.proxy.commands[name] += 1
                        answer = self.proxy.answers.get(name)
                    if answer is not None and name != "DONE" and not _LITERAL.search(piece):
                        self.to_client(words[0] + b" " + answer.encode() + b"\r\n")
                        continue
                    if name == "IDLE":
                        self.idle_tag = words[0]
                self.upstream.sendall(piece)
        self.close()

    def pump_server(self) -> None:
        """Server → client: swallow, strip or rewrite as switched on (never inside literals)."""
        stream = _Stream(self.upstream)
        with contextlib.suppress(OSError, ValueError):
            while True:
                line, starts = stream.read()
                if not line:
                    break
                if starts and not _LITERAL.search(line):
                    if self.idle_tag is not None and line.startswith(b"+"):
                        self.idle_tag, self.in_idle = None, True
                    elif line.split(b" ", 1)[0] != b"*" and not line.startswith(b"+"):
                        self.in_idle = False  # a tagged response ends IDLE (or never began it)
                    if self.in_idle and self.proxy.swallow_idle_exists and _IDLE_NEWS.match(line):
                        continue
                    if self.proxy.strip_codes:
                        line = _CODE.sub(rb"\1", line)
                    for pattern, replacement in list(self.proxy.rewrites):
                        line = re.sub(pattern, replacement, line)
                self.to_client(line)
        self.close()

    def close(self, *, reset: bool = False) -> None:
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                if reset:  # SO_LINGER 0: close() sends RST, the peer hears no goodbye
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        with self.proxy._lock:
            self.proxy._open.discard(self)


class ImapProxy:
    """A misbehaving loopback proxy in front of ``upstream_host:upstream_port`` (see the module)."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = LOOPBACK
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._open: set[_Connection] = set()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self.swallow_idle_exists = False
        self.strip_codes = False
        self.rewrites: list[tuple[bytes, bytes]] = []
        self.answers: dict[str, str] = {}
        self.refusing = False
        self.connections = 0
        #: ``time.monotonic()`` of each accepted connection, refused ones included.
        self.accepted_at: list[float] = []
        self.commands: Counter[str] = Counter()

    def start(self) -> ImapProxy:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="imap-proxy", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.drop()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> ImapProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    def drop(self) -> int:
        """Reset every open connection (no BYE); returns how many there were."""
        with self._lock:
            victims = list(self._open)
        for conn in victims:
            conn.close(reset=True)
        return len(victims)

    def _serve(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stopped.is_set():
            try:
                client, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self.accepted_at.append(time.monotonic())
            if self.refusing:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()  # the real server is down too: hang up like it
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            conn = _Connection(self, client, upstream)
            with self._lock:
                self._open.add(conn)
            for target in (conn.pump_client, conn.pump_server):
                threading.Thread(target=target, name="imap-proxy-pump", daemon=True).start()

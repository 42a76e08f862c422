"""WebSocket (RFC 6455, version 13) server side: the handshake, framing, and one connection's
reader and writer, written for the OSCQuery server (``live.control.oscquery``).

No server library: the WebSocket shares the OSCQuery HTTP port, so the standard library's HTTP
server answers the upgrade request and hands its socket to a ``Connection``.

Framing
    ``FrameParser`` turns received bytes into whole messages. Everything a client sends must be
    masked; reserved bits (no extension is ever negotiated), unknown opcodes, fragmented or
    over-long control frames, a continuation with nothing to continue and a new message in the
    middle of a fragmented one are protocol errors (close 1002); a message over
    ``max_message`` bytes, fragments added up, is refused as soon as its header says so, before
    its payload is read (close 1009); a text message that is not UTF-8 is closed with 1007. The
    parser never holds more than one frame header plus ``max_message`` bytes of payload.

One connection, two threads
    The reader is the HTTP server's thread that answered the upgrade: it reads, parses, answers
    pings, runs the close handshake and hands each text or binary message to the owner's
    callback. A flood is cut by a token bucket (``messages_per_s`` sustained, ``burst`` at
    once): messages over it are dropped and counted, and a client over it in
    ``ABUSE_SECONDS`` consecutive seconds is closed with 1008. A silent client is pinged after
    ``PING_AFTER_S`` and dropped after ``SILENT_CLOSE_S`` (a phone that went to sleep must not
    hold one of the few client slots forever).

    The writer is the connection's own thread, and nothing else ever writes to the socket, so
    a slow client holds up nobody but itself. What waits to be sent is bounded: a few text
    frames (older ones dropped past ``MAX_QUEUED_TEXT``), one pong (only the newest ping is
    answered, as the RFC allows), the newest binary payload per key (values coalesce: a client
    that cannot keep up gets the latest value of each address, not a backlog) and one preview
    slot (a newer frame replaces an unsent one, which is counted as dropped). Each write gives
    up after ``WRITE_TIMEOUT_S``; a frame half written cannot be resumed, so that ends the
    connection.

Closing
    ``close(code)`` queues a close frame; once it is out the writer shuts down its side and the
    reader waits up to ``CLOSE_WAIT_S`` for the client's close (or end of file), then the owner
    closes the socket. A client's close is answered with the same code. ``abort()`` shuts the
    socket at once (used when the server stops and for dead clients).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import selectors
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""The RFC's fixed string appended to the client's key to prove the server speaks WebSocket."""

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
DATA_OPCODES = (OP_TEXT, OP_BINARY)
CONTROL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009

MAX_MESSAGE = 64 * 1024
"""Largest message (all its fragments) a client may send, in bytes; an OSC packet for a fader
is 30 bytes, a whole-state bundle a few kilobytes."""
MESSAGES_PER_S = 250.0
"""Messages (data and control) a client may send per second, sustained: a few fingers on a
phone's faders at 60 pointer events a second each stay far below."""
BURST = 500
"""Messages a client may send at once before the sustained rate applies."""
ABUSE_SECONDS = 5
"""A client that has messages dropped in this many consecutive seconds is closed (1008)."""
WRITE_TIMEOUT_S = 5.0
"""Longest a write to one client may take; past it the client is dropped."""
POLL_S = 0.5
"""How often the reader wakes without input, to check keep-alive and close deadlines."""
PING_AFTER_S = 15.0
"""A client silent this long is pinged (browsers answer pings themselves)."""
SILENT_CLOSE_S = 45.0
"""A client silent this long (no pong either) is gone: its connection is dropped."""
CLOSE_WAIT_S = 2.0
"""After sending a close frame, how long to wait for the client's before hanging up."""
MAX_QUEUED_TEXT = 32
"""Text frames waiting to be sent to one client; past this the oldest is dropped."""
RECV_BYTES = 65536


class ProtocolError(Exception):
    """The client broke the protocol; ``code`` is the close code to send back."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# ---------------------------------------------------------------- handshake
def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()  # noqa: S324 (the RFC's)
    return base64.b64encode(digest).decode("ascii")


def is_upgrade(headers) -> bool:
    """Whether an HTTP request asks to become a WebSocket (``Upgrade: websocket``)."""
    return (headers.get("Upgrade") or "").strip().lower() == "websocket"


def handshake_problem(headers) -> tuple[int, str] | None:
    """(HTTP status, reason) when an upgrade request is not a valid version 13 opening
    handshake, else None. The method (GET) and HTTP/1.1 are the HTTP server's to check."""
    tokens = {t.strip().lower() for t in (headers.get("Connection") or "").split(",")}
    if "upgrade" not in tokens:
        return 400, "Connection: Upgrade missing"
    if (headers.get("Sec-WebSocket-Version") or "").strip() != "13":
        return 426, "only WebSocket version 13 is spoken"
    key = (headers.get("Sec-WebSocket-Key") or "").strip()
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError
    except ValueError:
        return 400, "Sec-WebSocket-Key is not 16 bytes in base64"
    return None


# ---------------------------------------------------------------- frames
def encode_frame(opcode: int, payload: bytes = b"") -> bytes:
    """One final, unmasked frame (the server never masks)."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + payload


def encode_close(code: int, reason: str = "") -> bytes:
    return encode_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode("utf-8")[:120])


def unmask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte masking ``key`` repeated (one big-integer XOR, linear
    time; 64 KiB takes tens of microseconds)."""
    size = len(payload)
    if size == 0:
        return b""
    pad = (key * (size // 4 + 1))[:size]
    mixed = int.from_bytes(payload, "little") ^ int.from_bytes(pad, "little")
    return mixed.to_bytes(size, "little")


def close_code_valid(code: int) -> bool:
    """Codes a peer may put in a close frame (RFC 6455 7.4, and the registry's 1012-1014)."""
    return code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
                    1014) or 3000 <= code <= 4999


class FrameParser:
    """Bytes from a client in, whole messages out, with every rule of RFC 6455 section 5
    that applies to a server checked (``ProtocolError`` on the first broken one)."""

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self.max_message = max_message
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._fragment_opcode: int | None = None
        self._fragment_bytes = 0

    @property
    def buffered(self) -> int:
        """Bytes held: unparsed input plus fragments of an unfinished message."""
        return len(self._buffer) + self._fragment_bytes

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def messages(self) -> Iterator[tuple[int, bytes]]:
        """Yield (opcode, payload) for each whole message or control frame buffered; text
        payloads are checked to be UTF-8 (still bytes)."""
        while True:
            frame = self._next_frame()
            if frame is None:
                return
            fin, opcode, payload = frame
            if opcode in CONTROL_OPCODES:
                yield opcode, payload
                continue
            if opcode == OP_CONTINUATION:
                if self._fragment_opcode is None:
                    raise ProtocolError(CLOSE_PROTOCOL_ERROR, "continuation of nothing")
                self._fragments.append(payload)
                self._fragment_bytes += len(payload)
                if not fin:
                    continue
                opcode, payload = self._fragment_opcode, b"".join(self._fragments)
                self._fragments, self._fragment_opcode, self._fragment_bytes = [], None, 0
            elif self._fragment_opcode is not None:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR,
                                    "new message in the middle of a fragmented one")
            elif not fin:
                self._fragment_opcode = opcode
                self._fragments = [payload]
                self._fragment_bytes = len(payload)
                continue
            if opcode == OP_TEXT:
                try:
                    payload.decode("utf-8")
                except UnicodeDecodeError:
                    raise ProtocolError(CLOSE_INVALID_DATA, "text that is not UTF-8") from None
            yield opcode, payload

    def _next_frame(self) -> tuple[bool, int, bytes] | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        first, second = buf[0], buf[1]
        fin, opcode = bool(first & 0x80), first & 0x0F
        if first & 0x70:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set (no extension agreed)")
        if opcode not in DATA_OPCODES + CONTROL_OPCODES + (OP_CONTINUATION,):
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
        if not second & 0x80:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "client frame not masked")
        size = second & 0x7F
        offset = 2
        if size == 126:
            if len(buf) < 4:
                return None
            size = struct.unpack_from("!H", buf, 2)[0]
            offset = 4
        elif size == 127:
            if len(buf) < 10:
                return None
            size = struct.unpack_from("!Q", buf, 2)[0]
            offset = 10
        if opcode in CONTROL_OPCODES:
            if not fin or size > 125:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR,
                                    "control frame fragmented or over 125 bytes")
        elif size + self._fragment_bytes > self.max_message:
            raise ProtocolError(CLOSE_TOO_BIG, f"message over {self.max_message} bytes")
        end = offset + 4 + size
        if len(buf) < end:
            return None
        key = bytes(buf[offset:offset + 4])
        payload = unmask(bytes(buf[offset + 4:end]), key)
        del buf[:end]
        return fin, opcode, payload


# ---------------------------------------------------------------- flood control
class RateLimiter:
    """Token bucket of ``per_s`` messages a second up to ``burst``, and a record of abuse:
    ``abusive`` once messages were refused in ``abuse_seconds`` consecutive whole seconds."""

    def __init__(self, per_s: float = MESSAGES_PER_S, burst: int = BURST,
                 abuse_seconds: int = ABUSE_SECONDS, clock=time.monotonic) -> None:
        self.per_s = per_s
        self.burst = burst
        self.abuse_seconds = abuse_seconds
        self.clock = clock
        self.tokens = float(burst)
        self._refilled = clock()
        self._last_refused_second = -math.inf
        self._refused_run = 0

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self._refilled) * self.per_s)
        self._refilled = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        second = math.floor(now)
        if second == self._last_refused_second + 1:
            self._refused_run += 1
        elif second != self._last_refused_second:
            self._refused_run = 1
        self._last_refused_second = second
        return False

    @property
    def abusive(self) -> bool:
        return self._refused_run >= self.abuse_seconds


# ---------------------------------------------------------------- one connection
Counter = Callable[[str, int], None]
"""``count(name, n)``: adds to the owner's statistics (names listed in ``Connection``)."""


class Connection:
    """One WebSocket client after the handshake.

    ``on_message(connection, opcode, payload)`` is called on the reader thread for each text
    (UTF-8 checked) or binary message within the rate limit. ``count(name, n)`` receives
    ``ws_messages_in``, ``ws_dropped``, ``ws_bad_frames``, ``ws_too_big``, ``ws_flooded``,
    ``ws_flood_closed``, ``ws_silent_closed``, ``ws_write_failed``, ``ws_text_dropped``,
    ``preview_sent`` and ``preview_dropped``.
    """

    def __init__(self, sock: socket.socket, host: str, port: int, *,
                 on_message: Callable[[Connection, int, bytes], None],
                 count: Counter = lambda name, n: None,
                 max_message: int = MAX_MESSAGE) -> None:
        self.sock = sock
        self.host = host
        self.port = port
        self.on_message = on_message
        self.count = count
        self.parser = FrameParser(max_message)
        self.limiter = RateLimiter(MESSAGES_PER_S, BURST, ABUSE_SECONDS)
        self.write_timeout_s = WRITE_TIMEOUT_S
        self.opened = time.monotonic()
        self.last_heard = self.opened
        self._cond = threading.Condition()
        self._texts: deque[bytes] = deque()
        self._pong: bytes | None = None
        self._ping: bytes | None = None
        self._keyed: dict[str, bytes] = {}
        self._preview: bytes | None = None
        self._close_frame: bytes | None = None
        self._closing = False  # a close frame is queued or sent: nothing more goes out
        self._close_sent = threading.Event()
        self._close_received = False
        self._close_deadline = math.inf
        self._aborted = False
        self._broken = False
        self._ping_sent_at = -math.inf
        self.done = threading.Event()
        """Set when the reader has finished (the socket may then be closed)."""
        self._writer = threading.Thread(target=self._write_loop, name="oscquery-ws-send",
                                        daemon=True)

    # ------------------------------------------------------------ any thread
    @property
    def closing(self) -> bool:
        return self._closing

    def send_text(self, text: str) -> None:
        frame = encode_frame(OP_TEXT, text.encode("utf-8"))
        with self._cond:
            if self._closing:
                return
            if len(self._texts) >= MAX_QUEUED_TEXT:
                self._texts.popleft()
                self.count("ws_text_dropped", 1)
            self._texts.append(frame)
            self._cond.notify()

    def send_keyed(self, key: str, payload: bytes) -> None:
        """Queue a binary message; an unsent one with the same ``key`` is replaced."""
        with self._cond:
            if self._closing:
                return
            self._keyed[key] = payload
            self._cond.notify()

    def send_preview(self, payload: bytes) -> None:
        """Queue a binary preview frame in the single preview slot (newest wins)."""
        with self._cond:
            if self._closing:
                return
            if self._preview is not None:
                self.count("preview_dropped", 1)
            self._preview = payload
            self._cond.notify()

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Start the closing handshake (once): queued values and previews are abandoned."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._close_frame = encode_close(code, reason)
            self._keyed.clear()
            self._preview = None
            self._close_deadline = time.monotonic() + CLOSE_WAIT_S + self.write_timeout_s
            self._cond.notify()

    def abort(self) -> None:
        """Hang up now: both threads see the socket closed and finish."""
        with self._cond:
            self._aborted = True
            self._closing = True
            self._cond.notify()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ------------------------------------------------------------ reader (caller's thread)
    def run(self, initial: bytes = b"") -> None:
        """Serve the connection until it closes; ``initial``: bytes already read past the
        handshake. Returns with the writer stopped; the caller closes the socket."""
        self.sock.settimeout(self.write_timeout_s)
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # not TCP (a test's socket pair)
            pass
        self._writer.start()
        selector = selectors.DefaultSelector()
        try:
            selector.register(self.sock, selectors.EVENT_READ)
            if initial:
                self._received(initial)
            while not self._finished():
                if not selector.select(POLL_S):
                    self._keep_alive()
                    continue
                try:
                    data = self.sock.recv(RECV_BYTES)
                except (BlockingIOError, InterruptedError, TimeoutError):
                    continue
                except OSError:
                    break
                if not data:
                    break
                self._received(data)
        except Exception:  # one client must never take the server thread with it
            log.exception("WebSocket connection from %s failed", self.host)
        finally:
            selector.close()
            self.abort()
            self._writer.join(timeout=self.write_timeout_s + 1.0)
            self.done.set()

    def _finished(self) -> bool:
        if self._aborted:
            return True
        if self._close_received and self._close_sent.is_set():
            return True
        return time.monotonic() > self._close_deadline

    def _keep_alive(self) -> None:
        now = time.monotonic()
        silent = now - self.last_heard
        if silent > SILENT_CLOSE_S and not self._closing:
            self.count("ws_silent_closed", 1)
            self.abort()
        elif silent > PING_AFTER_S and now - self._ping_sent_at > PING_AFTER_S:
            self._ping_sent_at = now
            with self._cond:
                if not self._closing:
                    self._ping = encode_frame(OP_PING, b"live")
                    self._cond.notify()

    def _received(self, data: bytes) -> None:
        self.last_heard = time.monotonic()
        if self._broken:
            return  # after a protocol error the stream cannot be trusted: read and drop
        self.parser.feed(data)
        try:
            for opcode, payload in self.parser.messages():
                self._message(opcode, payload)
                if self._aborted:
                    return
        except ProtocolError as exc:
            self.count("ws_dropped", 1)
            self.count("ws_too_big" if exc.code == CLOSE_TOO_BIG else "ws_bad_frames", 1)
            log.info("WebSocket %s: %s, closing (%d)", self.host, exc.reason, exc.code)
            self._broken = True
            self.close(exc.code, exc.reason)

    def _message(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_CLOSE:
            self._close_received = True
            self._answer_close(payload)
            return
        if self._closing:
            return  # a close was sent: the RFC says later data is ignored
        if not self.limiter.allow():
            self.count("ws_dropped", 1)
            self.count("ws_flooded", 1)
            if self.limiter.abusive:
                self.count("ws_flood_closed", 1)
                log.info("WebSocket %s: over %g messages a second for %d seconds, closing",
                         self.host, self.limiter.per_s, self.limiter.abuse_seconds)
                self._broken = True
                self.close(CLOSE_POLICY, "too many messages")
            return
        if opcode == OP_PONG:
            return  # counts as heard, nothing to answer
        if opcode == OP_PING:
            with self._cond:
                self._pong = encode_frame(OP_PONG, payload)
                self._cond.notify()
            return
        self.count("ws_messages_in", 1)
        self.on_message(self, opcode, payload)

    def _answer_close(self, payload: bytes) -> None:
        if len(payload) == 1:
            code, reason = CLOSE_PROTOCOL_ERROR, "close frame of one byte"
        elif len(payload) >= 2:
            code = struct.unpack_from("!H", payload)[0]
            reason = ""
            try:
                payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                code, reason = CLOSE_INVALID_DATA, "close reason not UTF-8"
            if not close_code_valid(code):
                code, reason = CLOSE_PROTOCOL_ERROR, "invalid close code"
        else:
            code, reason = CLOSE_NORMAL, ""
        if self._closing:
            return  # ours is already out (or going): this was the answer
        self.close(code, reason)

    # ------------------------------------------------------------ writer thread
    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not (self._aborted or self._pong or self._ping or self._texts
                           or self._keyed or self._preview or self._close_frame):
                    self._cond.wait()
                if self._aborted:
                    return
                control = [frame for frame in (self._pong, self._ping) if frame]
                self._pong = self._ping = None
                control.extend(self._texts)
                self._texts.clear()
                values = list(self._keyed.values())
                self._keyed.clear()
                preview, self._preview = self._preview, None
                close_frame, self._close_frame = self._close_frame, None
            try:
                out = control + [encode_frame(OP_BINARY, value) for value in values]
                if out:
                    self.sock.sendall(b"".join(out))
                if preview is not None:
                    self.sock.sendall(encode_frame(OP_BINARY, preview))
                    self.count("preview_sent", 1)
                if close_frame is not None:
                    self.sock.sendall(close_frame)
                    self._close_deadline = time.monotonic() + CLOSE_WAIT_S
                    self._close_sent.set()
                    try:
                        self.sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
            except (OSError, TimeoutError) as exc:
                if not self._aborted:
                    self.count("ws_write_failed", 1)
                    log.info("WebSocket %s: write failed (%s), dropping the client",
                             self.host, type(exc).__name__)
                self.abort()
                return

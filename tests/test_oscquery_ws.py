"""The OSCQuery WebSocket over real sockets on loopback: LISTEN/IGNORE fed by real UDP OSC,
OSC written over the socket, the PIN, previews, bad frames, floods, slow and silent clients,
the client cap, CORS and the namespace's containers."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import struct
import threading
import urllib.error
import urllib.request
from contextlib import ExitStack
from types import SimpleNamespace

import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import build_msg
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from live.config import OscConfig, OscQueryConfig, RemoteConfig
from live.control import oscquery, websocket
from live.control.osc import OscServer
from live.control.oscquery import Namespace, OscQueryServer, PinGuard, value_message
from live.control.websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    Connection,
    FrameParser,
    ProtocolError,
    RateLimiter,
)
from live.params import Bus, Registry
from tests.conftest import wait_for


# ---------------------------------------------------------------- helpers
@pytest.fixture
def show():
    """A bus, a running OSC server and a factory of OSCQuery servers wired to it."""
    bus = Bus(Registry())
    osc = OscServer(bus, OscConfig(host="127.0.0.1", port=0))
    osc.start()
    scene = {"name": "first"}
    servers: list[OscQueryServer] = []

    def make(remote: RemoteConfig | None = None, **kwargs) -> OscQueryServer:
        kwargs.setdefault("osc_input", osc.input)
        kwargs.setdefault("scene_name", lambda: scene["name"])
        query = OscQueryServer(bus, OscQueryConfig(port=0, zeroconf=False),
                               OscConfig(host="127.0.0.1"), osc.port,
                               remote=remote or RemoteConfig(), **kwargs)
        query.start()
        servers.append(query)
        return query

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(address: str, *args) -> None:
        udp.sendto(build_msg(address, list(args)).dgram, ("127.0.0.1", osc.port))

    yield SimpleNamespace(bus=bus, osc=osc, make=make, send=send, scene=scene)
    for query in servers:
        query.close()
    osc.close()
    udp.close()


def ws(query: OscQueryServer, **kwargs):
    kwargs.setdefault("proxy", None)
    return connect(f"ws://127.0.0.1:{query.port}/", open_timeout=10, **kwargs)


def status(client) -> dict:
    message = json.loads(client.recv(timeout=10))
    assert message["COMMAND"] == "LIVE_STATUS"
    return message["DATA"]


def listen(client, address: str) -> None:
    client.send(json.dumps({"COMMAND": "LISTEN", "DATA": address}))


def osc(client, timeout: float = 10.0) -> OscMessage:
    """The next binary message, parsed as OSC (text frames are skipped)."""
    while True:
        data = client.recv(timeout=timeout)
        if isinstance(data, bytes):
            return OscMessage(data)


def until(client, address: str, value) -> list[OscMessage]:
    """OSC messages received until ``address`` carries ``value`` (that one last)."""
    seen = []
    while True:
        message = osc(client)
        seen.append(message)
        if message.address == address and message.params == [value]:
            return seen


def raw_connect(port: int, rcvbuf: int = 0) -> socket.socket:
    """A WebSocket opened by hand, for frames no library would send."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(10)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, head
        head += byte
    assert head.startswith(b"HTTP/1.1 101"), head
    assert websocket.accept_key(key).encode() in head
    return sock


def frame(opcode: int, payload: bytes = b"", *, mask: bool = True, fin: bool = True,
          rsv: int = 0, size: int | None = None) -> bytes:
    size = len(payload) if size is None else size
    first = (0x80 if fin else 0) | rsv | opcode
    if size < 126:
        head = struct.pack("!BB", first, (0x80 if mask else 0) | size)
    elif size < 65536:
        head = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, size)
    else:
        head = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + websocket.unmask(payload, key)


def read_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    first, second = read_exact(sock, 2)
    assert not second & 0x80, "server frames are never masked"
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", read_exact(sock, 2))[0]
    elif size == 127:
        size = struct.unpack("!Q", read_exact(sock, 8))[0]
    return first & 0x0F, read_exact(sock, size)


def close_code(sock: socket.socket) -> int:
    """Read frames until the server's close frame; its code."""
    while True:
        opcode, payload = read_frame(sock)
        if opcode == OP_CLOSE:
            return struct.unpack("!H", payload[:2])[0]


def get(port: int, path: str, method: str = "GET", headers: dict | None = None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


# ---------------------------------------------------------------- LISTEN / IGNORE
def test_listen_streams_udp_changes_as_osc_and_ignore_stops_them(show):
    query = show.make()
    with ws(query) as client:
        assert status(client) == {"pin_required": False, "authorised": True}
        listen(client, "/live/walk/speed")
        first = osc(client)  # the current value, at once
        assert (first.address, first.params) == ("/live/walk/speed", [1.0])
        show.send("/live/walk/speed", 2.5)
        assert until(client, "/live/walk/speed", 2.5)[-1].params == [2.5]
        # a 0-1 address, a choice (by name), an on/off value and a whole number
        for address in ("/live/norm/walk/speed", "/live/fx/mirror", "/live/text/visible",
                        "/live/fx/kaleido"):
            listen(client, address)
        until(client, "/live/fx/kaleido", 0)  # every first value is in: all four listen
        show.send("/live/fx/mirror", "quad")
        show.send("/live/text/visible", 1)
        show.send("/live/fx/kaleido", 6)
        show.send("/live/norm/walk/speed", 0.5)
        expected = {"/live/fx/mirror": ["quad"], "/live/text/visible": [True],
                    "/live/fx/kaleido": [6], "/live/norm/walk/speed": [0.5],
                    "/live/walk/speed": [4.0]}
        seen = {}
        while any(seen.get(address) != value for address, value in expected.items()):
            message = osc(client)
            seen[message.address] = message.params
        # IGNORE: the hue keeps changing, only the mirror's change arrives
        client.send(json.dumps({"COMMAND": "IGNORE", "DATA": "/live/walk/speed"}))
        client.send(json.dumps({"COMMAND": "IGNORE", "DATA": "/live/norm/walk/speed"}))
        listen(client, "/live/fx/hue")
        until(client, "/live/fx/hue", 0.0)  # the IGNOREs were handled before this
        show.send("/live/walk/speed", 7.0)
        show.send("/live/fx/mirror", "off")  # after the speed: seen in the same tick or later
        seen = until(client, "/live/fx/mirror", "off")
        assert all(m.address not in ("/live/walk/speed", "/live/norm/walk/speed")
                   for m in seen)
    assert wait_for(lambda: query.ws_clients == 0)


def test_scene_name_is_a_read_only_string_that_streams(show):
    query = show.make()
    status_code, _, body = get(query.port, "/live/scene/current")
    node = json.loads(body)
    assert status_code == 200 and node["TYPE"] == "s" and node["ACCESS"] == 1
    assert node["VALUE"] == ["first"]
    with ws(query) as client:
        status(client)
        listen(client, "/live/scene/current")
        assert osc(client).params == ["first"]
        show.scene["name"] = "second"
        assert osc(client).params == ["second"]


def test_osc_over_the_socket_is_applied_like_udp(show):
    query = show.make()
    stats = show.osc.stats
    with ws(query) as client:
        status(client)
        client.send(build_msg("/live/walk/speed", [3.0]).dgram)
        assert wait_for(lambda: show.bus.get("walk.speed") == 3.0)
        assert stats.packets == 1 and stats.applied == 1
        client.send(build_msg("/live/fx/hue", [1e9]).dgram)  # clamped
        client.send(build_msg("/live/nothing", [1.0]).dgram)
        client.send(b"\x00garbage")
        zoom = build_msg("/live/fx/zoom", [2.0]).dgram
        bundle = b"#bundle\0" + bytes(8) + struct.pack(">i", len(zoom)) + zoom
        client.send(bundle)
        assert wait_for(lambda: stats.packets == 5)
        assert stats.bad["clamped"] == 1 and stats.bad["unknown_address"] == 1
        assert stats.bad["malformed"] == 1 and show.bus.get("fx.zoom") == 2.0
        # the address that changed it hears the new value like any listener
        listen(client, "/live/walk/speed")
        assert osc(client).params == [3.0]
    assert query.ws_messages_in == 6


def test_sockets_and_udp_writing_at_once_keep_every_count(show):
    """The UDP thread and WebSocket threads share OscInput: its lock keeps the counters."""
    query = show.make()
    per_sender = 300
    with ExitStack() as stack:
        clients = [stack.enter_context(ws(query)) for _ in range(2)]

        def write(client) -> None:
            for i in range(per_sender):
                client.send(build_msg("/live/fx/hue", [float(i % 180)]).dgram)

        threads = [threading.Thread(target=write, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        for i in range(per_sender):
            show.send("/live/fx/zoom", 1.0 + (i % 3))
        for thread in threads:
            thread.join()
        total = 3 * per_sender
        assert wait_for(lambda: show.osc.stats.packets >= total)
        assert show.osc.stats.packets == show.osc.stats.applied == total


# ---------------------------------------------------------------- bad input
def test_bad_frames_close_only_their_connection_and_are_counted(show):
    query = show.make()
    with ws(query) as watcher:
        status(watcher)
        listen(watcher, "/live/fx/hue")
        osc(watcher)
        cases = [
            (frame(OP_BINARY, b"/x\0\0", mask=False), 1002),  # unmasked
            (frame(0x3, b"?"), 1002),  # reserved opcode
            (frame(OP_BINARY, b"", rsv=0x40), 1002),  # compressed without agreeing to it
            (frame(OP_PING, b"x" * 126), 1002),  # control frame too long
            (frame(0x0, b"more"), 1002),  # continuation of nothing
            (frame(OP_BINARY, b"", size=100_000)[:14], 1009),  # announced too big: no payload
            (frame(OP_TEXT, b"{\"COMMAND\": \"\xff\xfe\"}"), 1007),  # not UTF-8
        ]
        for data, expected in cases:
            sock = raw_connect(query.port)
            try:
                sock.sendall(data)
                assert close_code(sock) == expected
                assert sock.recv(1) == b""  # and hung up on
            finally:
                sock.close()
        assert wait_for(lambda: query.ws_clients == 1)
        assert query.ws_bad_frames == 6 and query.ws_too_big == 1
        assert query.ws_dropped == 7
        # fragments that add up past the cap are refused too
        sock = raw_connect(query.port)
        try:
            chunk = b"x" * 40_000
            sock.sendall(frame(OP_BINARY, chunk, fin=False) + frame(0x0, chunk))
            assert close_code(sock) == 1009
        finally:
            sock.close()
        # the watcher was never disturbed
        show.send("/live/fx/hue", 90.0)
        assert until(watcher, "/live/fx/hue", 90.0)


def test_garbage_commands_are_counted_and_the_connection_stays(show):
    query = show.make()
    with ws(query) as client:
        status(client)
        for text in ("not json", "[1, 2]", '{"DATA": 1}', "[" * 60_000,
                     '{"COMMAND": "LISTEN", "DATA": "/live/no/such"}',
                     '{"COMMAND": "LISTEN", "DATA": "/live/show/snapshot"}',  # no value
                     '{"COMMAND": "LISTEN", "DATA": 5}',
                     '{"COMMAND": "LIVE_PREVIEW", "DATA": "yes"}'):
            client.send(text)
        client.send('{"COMMAND": "PATH_RENAMED", "DATA": "/x"}')
        listen(client, "/live/fx/zoom")
        assert osc(client).address == "/live/fx/zoom"
        assert query.ws_bad_commands == 8 and query.ws_unknown_commands == 1
        # fragmented text arrives whole
    sock = raw_connect(query.port)
    try:
        command = json.dumps({"COMMAND": "LISTEN", "DATA": "/live/fx/hue"}).encode()
        sock.sendall(frame(OP_TEXT, command[:10], fin=False) + frame(OP_PING, b"hi")
                     + frame(0x0, command[10:20], fin=False) + frame(0x0, command[20:]))
        seen = []
        while not any(op == OP_BINARY for op, _ in seen):
            seen.append(read_frame(sock))
        assert (0xA, b"hi") in seen  # the ping in between was answered
        assert OscMessage([p for op, p in seen if op == OP_BINARY][0]).address == "/live/fx/hue"
        sock.sendall(frame(OP_CLOSE, struct.pack("!H", 1000)))
        assert close_code(sock) == 1000  # the close handshake
    finally:
        sock.close()


def test_a_flood_is_dropped_counted_and_closed(show, monkeypatch):
    monkeypatch.setattr(websocket, "MESSAGES_PER_S", 100.0)
    monkeypatch.setattr(websocket, "BURST", 100)
    monkeypatch.setattr(websocket, "ABUSE_SECONDS", 2)
    query = show.make()
    with ws(query) as watcher:
        status(watcher)
        sock = raw_connect(query.port)
        batch = frame(OP_BINARY, build_msg("/live/fx/hue", [10.0]).dgram) * 2000
        sent = 0
        try:
            # flood until the server gives up on this client (a few seconds of it)
            while query.ws_flood_closed == 0:
                try:
                    sock.sendall(batch)
                except OSError:  # hung up on
                    break
                sent += 2000
                held = [c.conn.parser.buffered for c in query.ws_client_list()]
                assert max(held) <= websocket.MAX_MESSAGE + websocket.RECV_BYTES + 14
        finally:
            sock.close()
        assert wait_for(lambda: query.ws_flood_closed == 1)
        assert query.ws_flooded > 0 and query.ws_dropped == query.ws_flooded
        # what got through stayed within the bucket, not the flood
        assert show.osc.stats.packets == query.ws_messages_in < sent
        # the other client is still served
        listen(watcher, "/live/fx/zoom")
        assert osc(watcher).address == "/live/fx/zoom"
        assert wait_for(lambda: query.ws_clients == 1)


def test_rate_limiter_drops_past_the_bucket_and_flags_sustained_abuse():
    now = [100.0]
    limiter = RateLimiter(per_s=10, burst=5, abuse_seconds=3, clock=lambda: now[0])
    assert sum(limiter.allow() for _ in range(20)) == 5
    assert not limiter.abusive
    now[0] += 0.5  # 5 more tokens
    assert sum(limiter.allow() for _ in range(20)) == 5
    for _ in range(2):
        now[0] += 1.0
        assert sum(limiter.allow() for _ in range(50)) == 5  # the bucket's size
    assert limiter.abusive  # refused in 3 consecutive seconds
    calm = RateLimiter(per_s=10, burst=5, abuse_seconds=3, clock=lambda: now[0])
    for _ in range(5):
        now[0] += 2.0
        calm.allow() and [calm.allow() for _ in range(10)]
    assert not calm.abusive  # refused now and then, never in consecutive seconds


def test_frame_parser_reassembles_and_checks():
    parser = FrameParser(max_message=100)
    data = (frame(OP_TEXT, b"hel", fin=False) + frame(OP_PING, b"p")
            + frame(0x0, b"lo") + frame(OP_BINARY, b"\x01\x02"))
    expected = [(OP_PING, b"p"), (OP_TEXT, b"hello"), (OP_BINARY, b"\x01\x02")]
    got = []
    for i in range(len(data)):  # a byte at a time: nothing is lost between reads
        parser.feed(data[i:i + 1])
        got.extend(parser.messages())
    assert got == expected and parser.buffered == 0
    parser = FrameParser(max_message=100)
    parser.feed(data)
    assert list(parser.messages()) == expected
    for bad, code in ((frame(OP_TEXT, b"a", fin=False) + frame(OP_TEXT, b"b"), 1002),
                      (frame(OP_CLOSE, b"", fin=False), 1002),
                      (frame(OP_BINARY, b"x" * 101), 1009)):
        parser = FrameParser(max_message=100)
        parser.feed(bad)
        with pytest.raises(ProtocolError) as error:
            list(parser.messages())
        assert error.value.code == code
    payload = os.urandom(70_000)
    assert websocket.unmask(websocket.unmask(payload, b"abcd"), b"abcd") == payload


# ---------------------------------------------------------------- limits on clients
def test_past_max_clients_is_503_and_http_still_answers(show):
    query = show.make(RemoteConfig(max_clients=2))
    with ExitStack() as stack:
        first = stack.enter_context(ws(query))
        stack.enter_context(ws(query))
        with pytest.raises(InvalidStatus) as refused:
            ws(query)
        assert refused.value.response.status_code == 503
        assert query.ws_full == 1 and query.ws_clients == 2
        code, headers, body = get(query.port, "/live/walk/speed")
        assert code == 200 and json.loads(body)["TYPE"] == "f"
        first.close()
        assert wait_for(lambda: query.ws_clients == 1)
        with ws(query) as third:
            assert status(third)["authorised"]


def test_http_lifetime_and_evictions_never_cut_websockets(show, monkeypatch):
    monkeypatch.setattr(oscquery, "CONNECTION_LIFETIME_S", 0.3)
    monkeypatch.setattr(oscquery, "MAX_CONNECTIONS", 4)
    monkeypatch.setattr(oscquery, "EVICT_AFTER_S", 0.0)
    query = show.make()
    with ws(query) as client:
        status(client)
        idle = socket.create_connection(("127.0.0.1", query.port), timeout=30)
        try:
            assert idle.recv(1) == b""  # an HTTP connection past its lifetime: hung up on
        finally:
            idle.close()
        crowd = [socket.create_connection(("127.0.0.1", query.port), timeout=30)
                 for _ in range(12)]
        try:
            assert wait_for(lambda: query.evicted + query.refused > 0)
        finally:
            for sock in crowd:
                sock.close()
        listen(client, "/live/fx/hue")
        assert osc(client).address == "/live/fx/hue"  # still open
        assert query.ws_clients == 1


def test_a_slow_client_loses_old_frames_not_the_show(show, monkeypatch):
    monkeypatch.setattr(websocket, "WRITE_TIMEOUT_S", 1.0)
    query = show.make()
    stalled = raw_connect(query.port, rcvbuf=4096)  # reads nothing after the handshake
    try:
        stalled.sendall(frame(OP_TEXT, b'{"COMMAND": "LIVE_PREVIEW", "DATA": true}'))
        assert wait_for(lambda: query.preview_watchers() == 1)
        jpeg = b"\xff\xd8" + os.urandom(60_000)
        with ws(query) as watcher:
            status(watcher)
            listen(watcher, "/live/fx/hue")
            osc(watcher)

            def offer() -> bool:
                query.broadcast_preview(jpeg)  # returns at once, whatever the reader does
                return query.ws_write_failed == 1

            # the stalled client's buffers fill, its write times out: it alone is dropped
            assert wait_for(offer)
            assert query.preview_dropped > 0
            assert wait_for(lambda: query.ws_clients == 1)
            show.send("/live/fx/hue", 45.0)
            assert until(watcher, "/live/fx/hue", 45.0)
    finally:
        stalled.close()


def test_silent_clients_are_pinged_then_dropped(show, monkeypatch):
    monkeypatch.setattr(websocket, "POLL_S", 0.05)
    monkeypatch.setattr(websocket, "PING_AFTER_S", 0.2)
    monkeypatch.setattr(websocket, "SILENT_CLOSE_S", 2.0)
    query = show.make()
    with ws(query) as alive:  # the library answers pings
        status(alive)
        sock = raw_connect(query.port)
        try:
            assert read_frame(sock)[0] == OP_TEXT  # LIVE_STATUS
            assert read_frame(sock) == (OP_PING, b"live")
            assert wait_for(lambda: query.ws_silent_closed == 1)
        finally:
            sock.close()
        assert wait_for(lambda: query.ws_clients == 1)
        listen(alive, "/live/fx/hue")
        assert osc(alive).address == "/live/fx/hue"


def test_close_stops_every_thread_promptly(show):
    before = {t.ident for t in threading.enumerate()}
    query = show.make()
    with ExitStack() as stack:
        clients = [stack.enter_context(ws(query)) for _ in range(3)]
        for client in clients:
            status(client)
            client.send('{"COMMAND": "LIVE_PREVIEW", "DATA": true}')
        assert wait_for(lambda: query.preview_watchers() == 3)
        query.close()
        for client in clients:
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    client.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert wait_for(lambda: {t.ident for t in threading.enumerate()} <= before)


# ---------------------------------------------------------------- PIN
def test_pin_guard_locks_out_after_wrong_pins():
    now = [0.0]
    guard = PinGuard("2468", failures=3, window_s=60, lockout_s=60, clock=lambda: now[0])
    assert guard.check("10.0.0.5", "2468") == "ok"
    assert [guard.check("10.0.0.5", "0000") for _ in range(3)] == ["wrong"] * 3
    assert guard.check("10.0.0.5", "2468") == "locked"  # even the right one
    assert guard.check("10.0.0.6", "2468") == "ok"  # per address
    assert 59 < guard.locked_for("10.0.0.5") <= 60
    now[0] += 61
    assert guard.check("10.0.0.5", "2468") == "ok"
    now[0] += 100
    for _ in range(2):  # failures far apart never lock
        assert guard.check("10.0.0.5", "1") == "wrong"
        now[0] += 61
    assert guard.check("10.0.0.5", "2468") == "ok"


def _from(source: str, port: int):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return connect(f"ws://127.0.0.1:{port}/", sock=sock, proxy=None, open_timeout=10)


def test_writes_from_elsewhere_need_the_pin(show, monkeypatch):
    monkeypatch.setattr(oscquery, "STATUS_INTERVAL_S", 0.0)
    # 127.0.0.2 stands for a phone: only 127.0.0.1 counts as this machine here
    query = show.make(RemoteConfig(pin="2468"), local_networks=("127.0.0.1/32",))
    with _from("127.0.0.2", query.port) as phone:
        assert status(phone) == {"pin_required": True, "authorised": False}
        phone.send(build_msg("/live/fx/hue", [150.0]).dgram)
        assert status(phone)["authorised"] is False  # told why
        assert query.pin_refused == 1 and show.osc.stats.packets == 0
        # reading is allowed
        listen(phone, "/live/fx/hue")
        assert osc(phone).params == [0.0]
        phone.send(json.dumps({"COMMAND": "LIVE_PIN", "DATA": "1111"}))
        answer = status(phone)
        assert answer["authorised"] is False and answer["error"] == "wrong PIN"
        phone.send(json.dumps({"COMMAND": "LIVE_PIN", "DATA": "2468"}))
        assert status(phone) == {"pin_required": True, "authorised": True}
        phone.send(build_msg("/live/fx/hue", [150.0]).dgram)
        assert until(phone, "/live/fx/hue", 150.0)
        assert query.pin_failures == 1
    # this machine needs no PIN, unless the page comes from another origin
    with ws(query) as local:
        assert status(local) == {"pin_required": False, "authorised": True}
    with ws(query, origin=f"http://127.0.0.1:{query.port}") as own_page:
        assert status(own_page)["authorised"] is True
    with ws(query, origin="http://evil.example") as foreign:
        assert status(foreign) == {"pin_required": True, "authorised": False}
    # wrong PINs lock the address out, the right one included
    with _from("127.0.0.3", query.port) as guesser:
        status(guesser)
        for guess in range(oscquery.PIN_FAILURES):
            guesser.send(json.dumps({"COMMAND": "LIVE_PIN", "DATA": guess}))
            status(guesser)
        guesser.send(json.dumps({"COMMAND": "LIVE_PIN", "DATA": "2468"}))
        answer = status(guesser)
        assert answer["authorised"] is False and "too many" in answer["error"]
        assert query.pin_locked == 1


def test_loopback_is_local_by_default(show):
    query = show.make(RemoteConfig(pin="2468"))
    with _from("127.0.0.2", query.port) as other_loopback:
        assert status(other_loopback) == {"pin_required": False, "authorised": True}


# ---------------------------------------------------------------- previews
def test_previews_go_only_to_clients_that_asked(show):
    query = show.make()
    with ws(query) as watcher, ws(query) as other:
        status(watcher)
        status(other)
        assert query.preview_watchers() == 0
        watcher.send(json.dumps({"COMMAND": "LIVE_PREVIEW", "DATA": True}))
        assert wait_for(lambda: query.preview_watchers() == 1)
        jpeg = b"\xff\xd8\xff\xe0" + os.urandom(30_000) + b"\xff\xd9"
        query.broadcast_preview(jpeg)
        assert watcher.recv(timeout=10) == jpeg
        assert wait_for(lambda: query.preview_sent == 1)
        watcher.send(json.dumps({"COMMAND": "LIVE_PREVIEW", "DATA": False}))
        assert wait_for(lambda: query.preview_watchers() == 0)
        query.broadcast_preview(jpeg)
        listen(other, "/live/fx/hue")
        listen(watcher, "/live/fx/hue")
        assert osc(other).address == osc(watcher).address == "/live/fx/hue"
        assert query.preview_sent == 1


def test_preview_slot_keeps_only_the_newest():
    counts: dict[str, int] = {}
    near, far = socket.socketpair()
    try:
        conn = Connection(near, "127.0.0.1", 1, on_message=lambda *a: None,
                          count=lambda name, n: counts.__setitem__(name,
                                                                   counts.get(name, 0) + n))
        for i in range(5):  # the writer has not started: nothing leaves
            conn.send_preview(bytes([0xFF, 0xD8, i]))
        conn.send_keyed("/a", b"1")
        conn.send_keyed("/a", b"2")
        assert counts == {"preview_dropped": 4}
        assert conn._preview == b"\xff\xd8\x04" and conn._keyed == {"/a": b"2"}
    finally:
        near.close()
        far.close()


# ---------------------------------------------------------------- HTTP side
def test_handshake_problems_are_answered_in_http(show):
    query = show.make()
    for headers, expected in (({"Sec-WebSocket-Version": "8"}, 426),
                              ({"Sec-WebSocket-Key": "short"}, 400),
                              ({"Connection": "keep-alive"}, 400)):
        base = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()}
        connection = http.client.HTTPConnection("127.0.0.1", query.port, timeout=10)
        try:
            connection.request("GET", "/", headers={**base, **headers})
            response = connection.getresponse()
            assert response.status == expected
            assert response.headers["Access-Control-Allow-Origin"] == "*"
        finally:
            connection.close()
    assert query.ws_rejected == 3
    off = show.make(RemoteConfig(enabled=False))
    with pytest.raises(InvalidStatus) as refused:
        ws(off)
    assert refused.value.response.status_code == 404
    _, _, body = get(off.port, "/?HOST_INFO")
    assert json.loads(body)["EXTENSIONS"]["LISTEN"] is False


def test_no_remote_config_means_no_websocket(show):
    bus = show.bus
    query = OscQueryServer(bus, OscQueryConfig(port=0, zeroconf=False),
                           OscConfig(host="127.0.0.1"), 8000)
    query.start()
    try:
        with pytest.raises(InvalidStatus):
            ws(query)
        assert get(query.port, "/remote")[0] == 404
    finally:
        query.close()


def test_host_info_advertises_listen_and_the_websocket(show):
    query = show.make()
    _, _, body = get(query.port, "/?HOST_INFO")
    info = json.loads(body)
    assert info["EXTENSIONS"]["LISTEN"] is True and info["WS_PORT"] == query.port
    assert info["WS_IP"] == "127.0.0.1"


def test_cors_on_every_reply_and_preflight(show):
    query = show.make()
    for path, method, expected in (("/", "GET", 200), ("/live/nothing", "GET", 404),
                                   ("/live/fx/hue?NOPE", "GET", 400), ("/", "POST", 501),
                                   ("/remote", "GET", 404)):
        code, headers, _ = get(query.port, path, method)
        assert code == expected and headers["Access-Control-Allow-Origin"] == "*", path
    code, headers, _ = get(query.port, "/live/fx/hue", "OPTIONS",
                            {"Origin": "http://elsewhere", "Access-Control-Request-Method": "GET",
                             "Access-Control-Request-Headers": "content-type"})
    assert code == 204 and headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Headers"] == "content-type"
    blocked = OscQueryServer(show.bus, OscQueryConfig(port=0, zeroconf=False),
                             OscConfig(host="127.0.0.1", allow=("10.0.0.0/8",)), 8000,
                             remote=RemoteConfig())
    blocked.start()
    try:
        for method in ("GET", "OPTIONS"):
            code, headers, _ = get(blocked.port, "/", method)
            assert code == 403 and headers["Access-Control-Allow-Origin"] == "*"
        with pytest.raises(InvalidStatus) as refused:
            ws(blocked)
        assert refused.value.response.status_code == 403
    finally:
        blocked.close()


def test_remote_pages_are_delegated(show):
    remote = pytest.importorskip("live.remote")
    context = remote.RemoteContext(show.bus.registry, None, pin_required=False)
    query = show.make(context=context)
    code, headers, body = get(query.port, "/remote")
    assert code == 200 and headers["Cache-Control"] == "no-cache"
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Content-Type"].startswith("text/html")


def test_no_node_is_both_container_and_method():
    namespace = Namespace(Bus(Registry()), scene_name=lambda: "a")
    for path, node in namespace.nodes.items():
        assert not ("CONTENTS" in node and "TYPE" in node), path
    recall = namespace.nodes["/live/cue/recall"]
    assert set(recall["CONTENTS"]) == {str(i) for i in range(16)}
    assert "DESCRIPTION" in recall and "VALUE" not in recall
    assert namespace.nodes["/live/cue/recall/3"]["TYPE"] == "N"
    assert namespace.nodes["/live/scene/current"]["ACCESS"] == 1
    namespace.refresh()
    assert namespace.nodes["/live/scene/current"]["VALUE"] == ["a"]
    assert "/live/cue/recall" not in namespace.listenable
    assert "/live/norm/walk/speed" in namespace.listenable


def test_value_messages_carry_the_oscquery_types():
    registry = Registry()
    cases = {"walk.speed": (2.5, 2.5), "fx.mirror": (3.0, "quad"),
             "text.visible": (1.0, True), "fx.kaleido": (6.0, 6)}
    for name, (value, expected) in cases.items():
        param = registry[name]
        message = OscMessage(value_message(param.address, param, oscquery.NATIVE, value))
        assert message.address == param.address
        assert message.params == [expected] and type(message.params[0]) is type(expected)
    norm = OscMessage(value_message("/live/norm/walk/speed", registry["walk.speed"],
                                    oscquery.NORM, 2.0))
    assert norm.params == [0.25]
    off = OscMessage(value_message("/live/text/visible", registry["text.visible"],
                                   oscquery.NATIVE, 0.0))
    assert off.params == [False]


def test_a_page_of_another_site_is_read_only_without_a_pin(show):
    """No PIN set: a page of any other origin (a site a performer opens on the show network)
    can follow the show but not steer it, and an empty LIVE_PIN unlocks nothing."""
    query = show.make()
    with ws(query, origin="http://evil.example") as foreign:
        assert status(foreign) == {"pin_required": False, "authorised": False}
        foreign.send(json.dumps({"COMMAND": "LIVE_PIN", "DATA": ""}))
        assert status(foreign)["authorised"] is False
        foreign.send(build_msg("/live/fx/hue", [90.0]).dgram)
        listen(foreign, "/live/fx/hue")
        assert osc(foreign).params == [pytest.approx(show.bus.get("fx.hue"))]
    assert wait_for(lambda: query.pin_refused >= 1, timeout=30)
    assert show.bus.get("fx.hue") != 90.0
    with ws(query, origin=f"http://127.0.0.1:{query.port}") as own_page:
        assert status(own_page)["authorised"] is True
        own_page.send(build_msg("/live/fx/hue", [90.0]).dgram)
        assert wait_for(lambda: show.bus.get("fx.hue") == 90.0, timeout=30)

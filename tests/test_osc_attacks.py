"""Attacks on a running show's OSC and OSCQuery ports (issue 11), over real sockets: a packet
built to make pattern matching exponential, idle and vanishing HTTP clients, /live/sync loops."""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import time
import urllib.request

import pytest
from pythonosc.osc_message_builder import build_msg
from pythonosc.osc_packet import OscPacket

from live.config import OscConfig, OscQueryConfig
from live.control import oscquery
from live.control.osc import (
    MAX_PATTERN_CHARS,
    MAX_PATTERN_CHOICES,
    MAX_PATTERNS_PER_PACKET,
    SLOT,
    AddressMatcher,
    Feedback,
    OscInput,
    OscServer,
    PatternBudget,
    PatternError,
    Route,
    parse_segment,
)
from live.control.oscquery import OscQueryServer
from live.params import Bus, Registry
from tests.conftest import wait_for

LOCAL = ("127.0.0.1", 50000)
ATTACK_ADDRESS = "/live/" + "{,}" * 22 + "X"
"""python-osc turned this into a regex taking about a minute per message to fail."""


def packet(address: str, *args) -> bytes:
    return build_msg(address, list(args)).dgram


def bundle(*messages: bytes) -> bytes:
    parts = [b"#bundle\0", b"\0" * 7 + b"\1"]
    for message in messages:
        parts += [struct.pack(">i", len(message)), message]
    return b"".join(parts)


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- the matcher
ADDRESSES = ["/live/walk/speed", "/live/walk/pc1", "/live/walk/pc2", "/live/walk/pc10",
             "/live/fx/hue", "/live/fx/zoom", "/live/norm/fx/hue", "/live/cue/recall",
             "/live/cue/recall/3", "/live/a-b/c"]


def matcher() -> AddressMatcher:
    return AddressMatcher({a: Route(SLOT, None, i) for i, a in enumerate(ADDRESSES)})


def hits(pattern: str, steps: int = 10_000) -> list[str]:
    return sorted(ADDRESSES[route.slot] for route in matcher().match(pattern, steps))


@pytest.mark.parametrize(("pattern", "expected"), [
    ("/live/walk/speed", ["/live/walk/speed"]),
    ("/live/walk/*", ["/live/walk/pc1", "/live/walk/pc10", "/live/walk/pc2",
                      "/live/walk/speed"]),
    ("/live/walk/pc?", ["/live/walk/pc1", "/live/walk/pc2"]),
    ("/live/walk/pc*", ["/live/walk/pc1", "/live/walk/pc10", "/live/walk/pc2"]),
    ("/live/walk/pc[1-2]", ["/live/walk/pc1", "/live/walk/pc2"]),
    ("/live/walk/pc[!1]", ["/live/walk/pc2"]),
    ("/live/walk/pc[2]*", ["/live/walk/pc2"]),
    ("/live/{walk,fx}/{speed,hue}", ["/live/fx/hue", "/live/walk/speed"]),
    ("/live/*/hue", ["/live/fx/hue"]),  # a wildcard never crosses '/'
    ("/*/*/fx/hue", ["/live/norm/fx/hue"]),
    ("/live/cue/recall/*", ["/live/cue/recall/3"]),
    ("/live/cue/*", ["/live/cue/recall"]),
    ("/live/[a-]-b/c", ["/live/a-b/c"]),  # '-' last in a class is itself
    ("/live/walk/s**d", ["/live/walk/speed"]),
    ("/live/{,w}alk/speed", ["/live/walk/speed"]),
    ("/live/walk/pc{1,10}", ["/live/walk/pc1", "/live/walk/pc10"]),
    ("/nowhere/*", []),
    ("/live/walk/?", []),
])
def test_matcher_follows_osc_1_0_patterns(pattern, expected):
    assert hits(pattern) == expected


@pytest.mark.parametrize("pattern", ["/live/walk/pc[1", "/live/{walk/speed",
                                     "/live/walk}/speed", "/live/walk/pc[]", "live/walk/*",
                                     "/live/" + "*" * MAX_PATTERN_CHARS,
                                     "/live/" + "{a,b,c,d,e,f,g,h}" * 5])
def test_malformed_or_oversized_patterns_are_refused(pattern):
    assert len("/live/" + "{a,b,c,d,e,f,g,h}" * 5) <= MAX_PATTERN_CHARS
    assert 8 * 5 > MAX_PATTERN_CHOICES
    with pytest.raises(PatternError):
        matcher().match(pattern, 10_000)


def test_exponential_pattern_returns():
    """The attack address, and worse ones, finish: the matcher is a pass over positions, not a
    backtracking search (python-osc's regex took ~50 s for this address alone)."""
    registry_matcher = AddressMatcher(OscInput(Bus(Registry())).routes)
    assert registry_matcher.match(ATTACK_ADDRESS, 10_000) == []
    assert registry_matcher.spent < 10_000
    for pattern in ("/live/" + "{,}" * 40 + "X", "/*/*/" + "*?" * 40, "/*/*/*" + "[a-z]*" * 20,
                    "/live/" + "{,a,b}" * 20 + "X"):
        try:
            registry_matcher.match(pattern, 10_000)
        except PatternError:
            pass
        assert registry_matcher.spent <= 10_000


def test_matching_work_is_capped():
    wide = matcher()
    assert len(wide.match("/*/*/*", 10_000)) == 8
    with pytest.raises(PatternError, match="costs too much"):
        wide.match("/*/*/*", 5)
    assert wide.spent == 5


def test_segment_parser_merges_stars_and_duplicate_choices():
    assert parse_segment("a**b") == parse_segment("a*b")
    assert parse_segment("{,}{,}") == parse_segment("{}{}")


def test_pattern_budget_refills_with_time():
    clock = FrozenClock()
    budget = PatternBudget(per_packet=100, per_s=50, clock=clock)
    budget.spend(100)
    budget.refill()
    assert budget.level == 0
    clock.now += 1.0
    budget.refill()
    assert budget.level == 50
    clock.now += 10.0
    budget.refill()
    assert budget.level == 100  # never more than one packet's worth


def test_patterns_past_the_budget_are_dropped_and_counted():
    clock = FrozenClock()
    bus = Bus(Registry())
    osc = OscInput(bus, OscConfig(), clock=clock)
    osc.pattern_budget = PatternBudget(per_packet=2500, per_s=2500, clock=clock)
    osc.handle_packet(packet("/live/fx/*", 0.5), LOCAL)  # 18 steps + 16 addresses x 25
    assert bus.get("fx.master") == 0.5 and osc.stats.bad["bad_pattern"] == 0
    osc.handle_packet(bundle(*[packet("/*/*/*", 0.25)] * 3), LOCAL)  # 89 + 70 x 25 each
    assert osc.stats.bad["bad_pattern"] >= 1  # the bucket ran dry within the packet
    clock.now += 10.0
    osc.handle_packet(packet("/live/walk/pc[1-2]", 1.5), LOCAL)  # refilled
    assert bus.get("walk.pc1") == 1.5 and bus.get("walk.pc2") == 1.5


def test_wildcard_still_reaches_every_fx_parameter():
    bus = Bus(Registry())
    osc = OscInput(bus, OscConfig())
    osc.handle_packet(packet("/live/norm/fx/*", 0.5), LOCAL)
    fx = [p for p in bus.registry if p.name.startswith("fx.") and p.kind == "float"]
    assert len(fx) > 10
    for param in fx:
        assert bus.get(param.name) == pytest.approx(param.from_norm(0.5)), param.name


# ---------------------------------------------------------------- hole 1 over real UDP
def test_brace_alternation_bundle_does_not_freeze_osc_input():
    bus = Bus(Registry())
    osc = OscServer(bus, OscConfig(host="127.0.0.1", port=0))
    osc.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        attack = bundle(*[packet(ATTACK_ADDRESS, 0.5)] * 50)
        sock.sendto(attack, ("127.0.0.1", osc.port))
        sock.sendto(packet("/live/walk/speed", 3.0), ("127.0.0.1", osc.port))
        # the old path needed minutes for this bundle; now it is dropped in milliseconds
        assert wait_for(lambda: bus.get("walk.speed") == 3.0, timeout=10.0)
        bad = osc.stats.bad
        assert osc.stats.messages == 51 and osc.stats.applied == 1
        assert bad["bad_pattern"] + bad["unknown_address"] == 50
        assert bad["bad_pattern"] >= 50 - MAX_PATTERNS_PER_PACKET
        assert osc._thread is not None and osc._thread.is_alive()
    finally:
        sock.close()
        osc.close()


# ---------------------------------------------------------------- hole 8: /live/sync loops
def test_sync_sends_the_whole_state_at_most_once_a_second_per_client():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.2)
    clock = FrozenClock()
    cfg = OscConfig(host="127.0.0.1", port=0, feedback_port=rx.getsockname()[1],
                    feedback_hz=30.0)
    bus = Bus(Registry())
    feedback = Feedback(bus, cfg, clock=clock)
    osc = OscServer(bus, cfg, feedback)
    osc.start()
    feedback.start()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    full_states = 0

    def read(seconds: float) -> None:
        nonlocal full_states
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data, _ = rx.recvfrom(65536)
            except TimeoutError:
                continue
            full_states += sum(m.message.address == "/live/walk/keyframes"
                               for m in OscPacket(data).messages)

    try:
        tx.sendto(packet("/live/walk/speed", 2.0), ("127.0.0.1", osc.port))
        assert wait_for(lambda: (read(0.1), full_states)[1] == 1)  # new client: one state
        clock.now += 5.0
        for _ in range(10):  # a client echoing its feedback back
            tx.sendto(packet("/live/sync"), ("127.0.0.1", osc.port))
        assert wait_for(lambda: (read(0.1), full_states)[1] == 2)
        assert wait_for(lambda: osc.stats.messages == 11)
        dropped = osc.stats.bad["rate_limited"]  # those read after the state went out
        for _ in range(10):  # within the same second: none is served
            tx.sendto(packet("/live/sync"), ("127.0.0.1", osc.port))
        assert wait_for(lambda: osc.stats.messages == 21)
        assert osc.stats.bad["rate_limited"] == dropped + 10
        read(0.5)
        assert full_states == 2
        clock.now += 1.0
        tx.sendto(packet("/live/sync"), ("127.0.0.1", osc.port))
        assert wait_for(lambda: (read(0.1), full_states)[1] == 3)  # a second later: served
    finally:
        tx.close()
        osc.close()
        feedback.close()
        rx.close()


def test_full_state_is_capped_across_many_sources():
    clock = FrozenClock()
    feedback = Feedback(Bus(Registry()), OscConfig(), clock=clock)
    granted = [feedback.request_full(f"10.0.{i // 250}.{i % 250}") for i in range(500)]
    assert sum(granted) == 32  # MAX_CLIENTS per second in all
    assert len(feedback._last_full) == 32
    clock.now += 1.0
    assert feedback.request_full("10.9.9.9")


# ---------------------------------------------------------------- hole 7: OSCQuery
@pytest.fixture
def query():
    server = OscQueryServer(Bus(Registry()), OscQueryConfig(port=0, zeroconf=False),
                            OscConfig(host="127.0.0.1"), 8000)
    server.start()
    yield server
    server.close()


def get(port: int, path: str) -> tuple[int, dict]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.status, json.loads(response.read())


def answers(port: int, path: str) -> bool:
    try:
        return get(port, path)[0] == 200
    except OSError:  # refused while full of idle sockets: try again
        return False


def test_idle_connections_do_not_pile_up_threads(query):
    before = threading.active_count()
    idle = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", query.port), timeout=5)
            idle.append(sock)
        assert wait_for(lambda: query.connections >= 200)
        assert threading.active_count() - before <= 2 * oscquery.MAX_CONNECTIONS
        assert query.open_connections() <= 2 * oscquery.MAX_CONNECTIONS
        assert wait_for(lambda: query.refused + query.evicted > 0)
        # a browser still gets an answer: stale idle sockets make room for it
        assert wait_for(lambda: answers(query.port, "/live/walk/speed"), timeout=30.0)
        assert threading.active_count() - before <= 2 * oscquery.MAX_CONNECTIONS + 1
    finally:
        for sock in idle:
            sock.close()


def test_clients_vanishing_mid_reply_stay_off_stderr(query, capfd, caplog):
    caplog.set_level(logging.INFO, logger="live.control.oscquery")
    capfd.readouterr()
    started = time.monotonic()
    for _ in range(20):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # a tiny receive window: the server is still writing the tree when the reset comes
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        sock.connect(("127.0.0.1", query.port))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(1)  # the reply has started
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST
    # every connection served and closed: anything the server had to say has been said
    assert wait_for(lambda: query.connections == 20 and query.open_connections() == 0)
    seconds = time.monotonic() - started
    assert query.disconnects >= 1
    assert answers(query.port, "/")
    assert capfd.readouterr().err == ""
    lines = [r for r in caplog.records if "went away" in r.getMessage()]
    assert 1 <= len(lines) <= 1 + seconds  # rate-limited: one line a second
    assert query.errors == 0


def test_idle_connection_is_closed_after_the_read_timeout(query, monkeypatch):
    monkeypatch.setattr(oscquery._Handler, "timeout", 0.3)
    sock = socket.create_connection(("127.0.0.1", query.port), timeout=30)
    try:
        assert sock.recv(1) == b""  # the server hung up: no thread left waiting forever
        assert wait_for(lambda: query.open_connections() == 0)
    finally:
        sock.close()


def test_trickling_connection_is_closed_after_its_lifetime(query, monkeypatch):
    """A byte every 0.1 s never trips the read timeout; the lifetime still ends it."""
    monkeypatch.setattr(oscquery, "CONNECTION_LIFETIME_S", 0.5)
    sock = socket.create_connection(("127.0.0.1", query.port), timeout=30)
    sock.sendall(b"GET / HTTP/1.1\r\n")
    closed = False
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not closed:
            try:
                sock.sendall(b"X-Slow: 1\r\n")
                sock.settimeout(0.1)
                closed = sock.recv(1) == b""
            except TimeoutError:
                continue
            except OSError:  # reset while sending: closed as well
                closed = True
        assert closed
        assert wait_for(lambda: query.open_connections() == 0)
    finally:
        sock.close()

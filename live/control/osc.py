"""OSC in and out: every registry parameter on a fixed address, echoed back so faders follow.

Input
    One thread reads the UDP socket (a ``socketserver.UDPServer`` loop draining every waiting
    datagram), so nothing is lost to thread start-up under load; python-osc only parses. A
    bundle with a future timetag is applied at once (and counted) instead of sleeping the
    server thread. The handler only parses, validates, clamps and publishes to the bus; it never
    touches the engine, a file or the network. Addresses are looked up in a dict (exact match);
    OSC 1.0 patterns (``/live/fx/*``, ``/live/walk/pc[1-3]``, ``/live/{fx,walk}/speed``) go
    through ``AddressMatcher``, our own matcher over the fixed namespace: no regular expression
    is built from what arrives (python-osc's dispatcher builds one, and ``{,}`` repeated 22
    times made it backtrack for minutes), the work is counted and capped per packet and per
    second, and a pattern over the caps is dropped as ``bad_pattern``.

    Every parameter has two addresses: ``/live/walk/speed`` takes a value in the native range
    (enums also take the choice name), ``/live/norm/walk/speed`` takes 0-1 mapped onto that
    range, so a TouchOSC fader with its default range works without set-up. Triggers fire on a
    message with no argument or a non-zero first argument (a momentary button's release sends
    0, which is ignored). Slot triggers (``cue.recall``) take the slot as their argument, or
    fire from a per-slot address (``/live/cue/recall/3``). ``/live/sync`` asks for the whole
    state to be sent back at once, at most once a second per client (more are dropped as
    ``rate_limited``: a sync echoed back by a client would otherwise multiply the traffic).

Bad input
    Malformed packets, unknown addresses, wrong argument counts or types, NaN and infinities
    are dropped; out-of-range values are clamped; over-long strings are cut; packets from
    outside the allowlist are dropped before parsing. Each kind is counted in ``OscStats`` and
    logged at most once per second.

Feedback
    A thread wakes ``feedback_hz`` times a second, compares a snapshot of the bus with what it
    last sent and sends only the changed values, on both the native and the 0-1 address, to
    every client heard from within ``client_timeout_s`` (its IP, ``feedback_port``) and to the
    configured targets, the sender included (it learns the clamped value). Messages are packed
    into bundles below a Wi-Fi MTU. A new client gets the whole state.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import socket
import socketserver
import struct
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket, ParseError
from pythonosc.parsing import osc_types
from pythonosc.parsing.osc_types import IMMEDIATELY

from live.config import OscConfig
from live.params import Bus, Param, Registry

log = logging.getLogger(__name__)

SYNC_ADDRESS = "/live/sync"
MAX_PACKET = 65507
"""Largest UDP payload; a datagram at this size was probably cut by the socket buffer."""
MAX_CLIENTS = 32
"""Clients remembered for feedback; the one heard from least recently is forgotten first."""
FEEDBACK_DATAGRAM = 1200
"""Feedback bundles are kept under this many bytes, below a Wi-Fi MTU (no IP fragments)."""
FUTURE_TOLERANCE_S = 0.005
DRAIN_BATCH = 512
"""Datagrams read per wake-up of the server loop before it checks for shutdown again."""

# kinds of bad input, each counted and logged at most once a second
BAD_KINDS = ("blocked", "malformed", "unknown_address", "wrong_count", "wrong_type",
             "not_finite", "clamped", "too_long", "future_timetag", "refused", "bad_pattern",
             "rate_limited")

FULL_STATE_INTERVAL_S = 1.0
"""A client gets the whole state at most once per this many seconds (``/live/sync``)."""


class OscError(RuntimeError):
    """The OSC server cannot start (port taken, bad address); the message says which."""


def parse_networks(specs: tuple[str, ...] | list[str]) -> list:
    """``["127.0.0.0/8", "192.168.1.7"]`` -> network objects; a bad entry is a ValueError."""
    networks = []
    for spec in specs:
        try:
            networks.append(ipaddress.ip_network(spec.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"osc.allow: {spec!r} is not a network ({exc})") from None
    return networks


class Allowlist:
    """Source addresses inside ``[osc] allow`` (OSC packets and OSCQuery requests alike)."""

    def __init__(self, specs: tuple[str, ...] | list[str]) -> None:
        self.networks = parse_networks(specs)
        self._verdicts: dict[str, bool] = {}

    def __call__(self, host: str) -> bool:
        """Whether ``host`` is inside the allowlist (cached per address)."""
        verdict = self._verdicts.get(host)
        if verdict is None:
            try:
                ip = ipaddress.ip_address(host.split("%", 1)[0])
            except ValueError:
                verdict = False
            else:
                if ip.version == 6 and ip.ipv4_mapped is not None:
                    ip = ip.ipv4_mapped
                verdict = any(ip in net for net in self.networks)
            if len(self._verdicts) > 4096:
                self._verdicts.clear()  # a scan from many addresses: stay bounded
            self._verdicts[host] = verdict
        return verdict


def parse_target(text: str) -> tuple[str, int]:
    """``"192.168.1.20:9000"`` (or ``"[::1]:9000"``) -> (host, port)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"osc.feedback_targets: expected host:port, got {text!r}")
    return host.strip("[]"), int(port)


class RateLimitedLog:
    """Logs one line per kind at most once per ``interval_s``, with the count since: a flood
    of bad input must not become a flood of log lines (nor hold the input thread on I/O)."""

    def __init__(self, logger: logging.Logger, interval_s: float = 1.0, prefix: str = "OSC",
                 level: int = logging.WARNING) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.prefix = prefix
        self.level = level
        self._last: dict[str, float] = {}
        self._since: dict[str, int] = {}

    def __call__(self, kind: str, message: str, *args) -> None:
        now = time.monotonic()
        self._since[kind] = self._since.get(kind, 0) + 1
        if now - self._last.get(kind, -math.inf) >= self.interval_s:
            count = self._since[kind]
            self._since[kind] = 0
            self._last[kind] = now
            more = f" ({count - 1} more like it since the last report)" if count > 1 else ""
            self.logger.log(self.level, self.prefix + " %s: " + message + more,
                            kind.replace("_", " "), *args)


@dataclass
class OscStats:
    """Counters of the input path (read by the HUD, ``live bench`` and tests)."""

    packets: int = 0
    messages: int = 0
    applied: int = 0
    bad: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BAD_KINDS, 0))

    def as_dict(self) -> dict:
        return {"packets": self.packets, "messages": self.messages, "applied": self.applied,
                **self.bad}


# how an address maps onto a parameter
NATIVE, NORM, SLOT, SYNC = 0, 1, 2, 3


@dataclass(frozen=True)
class Route:
    form: int
    param: Param | None = None
    slot: int = 0


def build_routes(registry: Registry) -> dict[str, Route]:
    """Every address the server answers, from the registry."""
    routes: dict[str, Route] = {SYNC_ADDRESS: Route(SYNC)}
    for param in registry:
        routes[param.address] = Route(NATIVE, param)
        if param.kind != "trigger":
            routes[param.norm_address] = Route(NORM, param)
        elif not param.text and param.hi > 1:
            for slot in range(int(param.lo), int(param.hi) + 1):
                routes[f"{param.address}/{slot}"] = Route(SLOT, param, slot)
    return routes


# ---------------------------------------------------------------- address patterns
MAX_PATTERN_CHARS = 128
"""Longest address pattern matched (the longest address is under 40 characters)."""
MAX_PATTERN_CHOICES = 32
"""Most ``{a,b}`` alternatives in one pattern, all brace groups together (duplicates once)."""
MAX_PATTERNS_PER_PACKET = 16
"""Most wildcard messages matched in one packet; the rest of a bundle's are dropped."""
PATTERN_STEPS_PER_PACKET = 10_000
"""Matching work one packet may cost, a step being one position tried in one name (a few ms
of the input thread at worst; ``/*/*/*/*``, every address, costs about 250 to match and
2,100 to apply with ``STEPS_PER_APPLY``)."""
PATTERN_STEPS_PER_S = 50_000
STEPS_PER_APPLY = 25
"""Each address a pattern reaches is charged this many steps: applying a value (validate,
clamp, publish: ~5 us) costs about as much as 25 steps of matching (~0.2 us each)."""
"""Matching work per second, sustained, so a flood of patterns cannot starve the render loop."""

_ALT, _ONE, _STAR, _CLASS = 0, 1, 2, 3
_Token = tuple[int, tuple]


class PatternError(ValueError):
    """An address pattern that is malformed or over a cap; the message says which."""


def parse_segment(text: str) -> tuple[_Token, ...]:
    """One ``/``-free part of an OSC 1.0 address pattern as tokens.

    ``(_ALT, strings)``: one of these literal strings (a plain run of characters is an
    alternation of one); ``(_ONE, ())``: ``?``; ``(_STAR, ())``: ``*`` (a run of stars is one);
    ``(_CLASS, (negated, ranges))``: ``[a-z_]`` or ``[!0-9]``.
    """
    tokens: list[_Token] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            tokens.append((_ALT, ("".join(literal),)))
            literal.clear()

    i = 0
    while i < len(text):
        char = text[i]
        if char == "*":
            flush()
            if not tokens or tokens[-1][0] != _STAR:
                tokens.append((_STAR, ()))
        elif char == "?":
            flush()
            tokens.append((_ONE, ()))
        elif char == "[":
            end = text.find("]", i + 1)
            if end < 0:
                raise PatternError("'[' without ']'")
            body = text[i + 1:end]
            negated = body.startswith("!")
            body = body[1:] if negated else body
            if not body:
                raise PatternError("empty '[]'")
            ranges = []
            j = 0
            while j < len(body):
                if j + 2 < len(body) and body[j + 1] == "-":
                    ranges.append((body[j], body[j + 2]))
                    j += 3
                else:  # a '-' first or last is itself
                    ranges.append((body[j], body[j]))
                    j += 1
            flush()
            tokens.append((_CLASS, (negated, tuple(ranges))))
            i = end
        elif char == "{":
            end = text.find("}", i + 1)
            if end < 0:
                raise PatternError("'{' without '}'")
            flush()
            # duplicates only cost work: "{,}" is one empty string, not two
            tokens.append((_ALT, tuple(dict.fromkeys(text[i + 1:end].split(",")))))
            i = end
        elif char in "]}":
            raise PatternError(f"{char!r} without its opening bracket")
        else:
            literal.append(char)
        i += 1
    flush()
    return tuple(tokens)


class _Node:
    __slots__ = ("children", "route")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.route: Route | None = None


class AddressMatcher:
    """OSC 1.0 address patterns matched against the fixed namespace, in bounded time.

    The namespace is a tree of address parts; a pattern is matched part by part (wildcards
    never cross ``/``), each part against the names of the nodes still in play, by a
    left-to-right pass over the set of positions reachable in the name. That costs at most
    (tokens x name length x alternatives) per name, never exponential, and every unit of it is
    counted against the caller's ``steps``: past that the pattern is refused (``PatternError``)
    instead of holding the input thread.
    """

    def __init__(self, routes: dict[str, Route]) -> None:
        self.root = _Node()
        for address, route in routes.items():
            node = self.root
            for part in address[1:].split("/"):
                node = node.children.setdefault(part, _Node())
            node.route = route
        self.alphabet = sorted(set("".join(routes)) - {"/"})
        """Every character of the namespace: a ``[...]`` becomes the set of those it takes."""
        self._limit = self._left = 0

    @property
    def spent(self) -> int:
        """Steps the last ``match`` cost, refused or not."""
        return self._limit - max(self._left, 0)

    def match(self, pattern: str, steps: int) -> list[Route]:
        """Routes whose address ``pattern`` matches, at a cost of at most ``steps``.

        ``PatternError`` when the pattern is malformed, over ``MAX_PATTERN_CHARS`` or
        ``MAX_PATTERN_CHOICES``, or would cost more than ``steps``.
        """
        self._limit = self._left = steps
        if len(pattern) > MAX_PATTERN_CHARS:
            raise PatternError(f"pattern of {len(pattern)} characters "
                               f"(at most {MAX_PATTERN_CHARS})")
        if not pattern.startswith("/"):
            raise PatternError("pattern does not start with '/'")
        parts = [(part, None if not any(c in part for c in "*?[]{}") else
                  self._classes_as_sets(parse_segment(part)))
                 for part in pattern[1:].split("/")]
        choices = sum(len(data) for _, tokens in parts if tokens
                      for kind, data in tokens if kind == _ALT and len(data) > 1)
        if choices > MAX_PATTERN_CHOICES:
            raise PatternError(f"{choices} alternatives (at most {MAX_PATTERN_CHOICES})")
        nodes = [self.root]
        for part, tokens in parts:
            found: list[_Node] = []
            for node in nodes:
                if tokens is None:
                    self._spend(1)
                    child = node.children.get(part)
                    if child is not None:
                        found.append(child)
                elif tokens == ((_STAR, ()),):
                    self._spend(len(node.children) or 1)
                    found.extend(node.children.values())
                else:
                    for name, child in node.children.items():
                        if self._part_matches(tokens, name):
                            found.append(child)
            nodes = found
            if not nodes:
                break
        return [node.route for node in nodes if node.route is not None]

    def _classes_as_sets(self, tokens: tuple[_Token, ...]) -> tuple[_Token, ...]:
        """``[a-z]`` as the frozenset of namespace characters it takes: one set lookup per
        position instead of a walk over the ranges."""
        compiled = []
        for kind, data in tokens:
            if kind == _CLASS:
                negated, ranges = data
                self._spend(len(ranges))
                data = frozenset(c for c in self.alphabet
                                 if negated != any(lo <= c <= hi for lo, hi in ranges))
            compiled.append((kind, data))
        return tuple(compiled)

    def _spend(self, steps: int) -> None:
        self._left -= steps
        if self._left < 0:
            raise PatternError("pattern costs too much to match")

    def _part_matches(self, tokens: tuple[_Token, ...], name: str) -> bool:
        end = len(name)
        positions = {0}
        for kind, data in tokens:
            if kind == _ALT:
                self._spend(1 + len(positions) * len(data))
                positions = {at + len(text) for at in positions for text in data
                             if name.startswith(text, at)}
            elif kind == _STAR:
                start = min(positions)
                self._spend(1 + end - start)
                positions = set(range(start, end + 1))
            elif kind == _ONE:
                self._spend(1 + len(positions))
                positions = {at + 1 for at in positions if at < end}
            else:
                self._spend(1 + len(positions))
                positions = {at + 1 for at in positions if at < end and name[at] in data}
            if not positions:
                return False
        return end in positions


class PatternBudget:
    """Matching work allowed, as a token bucket: full at ``per_packet`` steps, refilled at
    ``per_s`` steps a second. One packet can never cost more than a full bucket; a stream of
    them no more than ``per_s`` on average."""

    def __init__(self, per_packet: int = PATTERN_STEPS_PER_PACKET,
                 per_s: int = PATTERN_STEPS_PER_S, clock=time.monotonic) -> None:
        self.per_packet = per_packet
        self.per_s = per_s
        self.clock = clock
        self.level = float(per_packet)
        self._refilled = clock()

    def refill(self) -> None:
        now = self.clock()
        self.level = min(float(self.per_packet),
                         self.level + (now - self._refilled) * self.per_s)
        self._refilled = now

    def spend(self, steps: int) -> None:
        self.level -= steps


_FIXED_SIZE = {"i": 4, "f": 4, "r": 4, "m": 4, "d": 8, "h": 8, "t": 8,
               "T": 0, "F": 0, "N": 0, "[": 0, "]": 0}
"""Type tags python-osc reads, by their size; any other tag (``I``, ``c``, ``S``) is refused."""


def _string_end(data: bytes, start: int) -> int:
    """Offset after the padded OSC string at ``start``; ValueError if it is not terminated."""
    end = data.index(b"\0", start)
    return (end + 4) & ~3


def message_size_problem(data: bytes) -> str | None:
    """Why a message's byte count disagrees with its type tags, or None when it is exact.

    python-osc pads a message that was cut short with zeros (``,f`` with no bytes reads as
    0.0); a controller sending that is broken, and the value must not reach the show.
    """
    if len(data) % 4:
        return f"length {len(data)} is not a multiple of 4"
    try:
        offset = _string_end(data, 0)
        if offset >= len(data):
            return None  # no type tags at all: an old-style message without arguments
        tags_end = _string_end(data, offset)
        tags = data[offset + 1: data.index(b"\0", offset)].decode("ascii")
        offset = tags_end
        for tag in tags:
            size = _FIXED_SIZE.get(tag)
            if size is not None:
                offset += size
            elif tag == "s":
                offset = _string_end(data, offset)
            elif tag == "b":
                length = int.from_bytes(data[offset:offset + 4], "big", signed=True)
                if length < 0:
                    return "negative blob length"
                offset += 4 + ((length + 3) & ~3)
            else:
                return f"unknown type tag {tag!r}"
    except (ValueError, UnicodeDecodeError):
        return "unterminated string"
    if offset != len(data):
        return f"{len(data)} bytes where the type tags need {offset}"
    return None


_FLOAT = struct.Struct(">f")
_INT = struct.Struct(">i")


def simple_message(data: bytes) -> tuple[str, list] | None:
    """(address, args) of a message with one float, one int or no argument, else None.

    Faders and buttons send nothing else, so this path (about a third of python-osc's cost)
    carries nearly all traffic; every other packet goes through the full checks and parser.
    """
    end = data.find(b"\0")
    if end < 1 or data[0] != 0x2F:  # "/"
        return None
    tags_at = (end + 4) & ~3
    tags = data[tags_at:tags_at + 4]
    size = len(data)
    if tags == b",f\0\0" and size == tags_at + 8:
        args = [_FLOAT.unpack_from(data, tags_at + 4)[0]]
    elif tags == b",i\0\0" and size == tags_at + 8:
        args = [_INT.unpack_from(data, tags_at + 4)[0]]
    elif tags == b",\0\0\0" and size == tags_at + 4:
        args = []
    else:
        return None
    try:
        return data[:end].decode("ascii"), args
    except UnicodeDecodeError:
        return None


def packet_problem(data: bytes, depth: int = 0) -> str | None:
    """Why a datagram is not a well-formed OSC packet, or None. Checked before python-osc
    parses it: python-osc pads short messages, and logs to the root logger (once per packet)
    on unknown type tags and unknown bundle contents, which a flood of garbage must not reach.
    """
    if data[:1] == b"/":
        return message_size_problem(data)
    if data[:8] != b"#bundle\0":
        return "neither a message nor a bundle"
    if depth > 8:
        return "bundles nested too deeply"
    if len(data) < 16:
        return "bundle shorter than its header"
    offset = 16
    while offset < len(data):
        if offset + 4 > len(data):
            return "bundle element without its size"
        size = int.from_bytes(data[offset:offset + 4], "big", signed=True)
        offset += 4
        if size <= 0 or size % 4 or offset + size > len(data):
            return f"bundle element of size {size} does not fit"
        problem = packet_problem(data[offset:offset + size], depth + 1)
        if problem is not None:
            return "in a bundle: " + problem
        offset += size
    return None


class OscInput:
    """Parses packets and publishes their messages to the bus (the server thread's work).

    ``handle_packet`` is the whole input path and takes raw bytes, so tests can fuzz it
    without a socket.
    """

    def __init__(self, bus: Bus, cfg: OscConfig | None = None,
                 feedback: Feedback | None = None, clock=time.monotonic) -> None:
        cfg = cfg or OscConfig()
        self.bus = bus
        self.registry = bus.registry
        self.routes = build_routes(self.registry)
        self.max_string = cfg.max_string
        self.allow_quit = cfg.allow_quit
        self.allowed = Allowlist(cfg.allow)
        """Whether a source address may send (``allowed(host)``)."""
        self.feedback = feedback
        self.stats = OscStats()
        self.warn = RateLimitedLog(log)
        self.matcher = AddressMatcher(self.routes)
        self.pattern_budget = PatternBudget(clock=clock)
        self._patterns_in_packet = 0
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- allowlist
    def block(self, host: str) -> None:
        self._bad("blocked", "packet from %s (not in osc.allow) dropped", host)

    # ---------------------------------------------------------------- packets
    def handle_packet(self, data: bytes, client: tuple[str, int],
                      udp_feedback: bool = True) -> None:
        """Apply one packet. Thread-safe: the UDP thread and the OSCQuery WebSocket both call
        it, and the counters, the pattern budget and the matcher's state are shared.
        ``udp_feedback`` off (a WebSocket client, which LISTENs instead): the sender is not
        made a UDP feedback client and ``/live/sync`` sends it nothing over UDP."""
        with self._lock:
            saved = self.feedback
            if not udp_feedback:
                self.feedback = None
            try:
                self._handle_packet(data, client)
            finally:
                self.feedback = saved

    def _handle_packet(self, data: bytes, client: tuple[str, int]) -> None:
        stamp = time.perf_counter_ns()
        self.stats.packets += 1
        self._patterns_in_packet = 0
        simple = simple_message(data)
        if simple is not None:
            if self.feedback is not None:
                self.feedback.heard(client[0])
            self.handle_message(simple[0], simple[1], client, stamp)
            return
        problem = packet_problem(data)
        if problem is not None:
            self._bad("malformed", "packet of %d bytes from %s dropped: %s", len(data),
                      client[0], problem)
            return
        try:
            timed = OscPacket(data).messages
        except (ParseError, ValueError, IndexError, TypeError, OverflowError,
                UnicodeDecodeError) as exc:
            self._bad("malformed", "packet of %d bytes from %s dropped: %s",
                      len(data), client[0], exc)
            return
        except Exception as exc:  # python-osc raising something unexpected on garbage
            self._bad("malformed", "packet of %d bytes from %s dropped: %r",
                      len(data), client[0], exc)
            return
        if self.feedback is not None:
            self.feedback.heard(client[0])
        is_bundle = data[:8] == b"#bundle\0"
        now = time.time() if is_bundle else 0.0
        for message in timed:
            if is_bundle and message.time > now + FUTURE_TOLERANCE_S:
                self._bad("future_timetag", "bundle timed %.3f s ahead applied now",
                          message.time - now)
            self.handle_message(message.message.address, message.message.params, client, stamp)

    def handle_message(self, address: str, args: list, client: tuple[str, int],
                       stamp_ns: int) -> None:
        self.stats.messages += 1
        route = self.routes.get(address)
        if route is not None:
            self._apply(route, args, client, stamp_ns)
            return
        if any(c in address for c in "*?[{"):
            for route in self._match(address, client):
                self._apply(route, args, client, stamp_ns)
            return
        self._bad("unknown_address", "%s from %s dropped", address[:80], client[0])

    def _match(self, pattern: str, client: tuple[str, int]) -> list[Route]:
        """The routes a wildcard pattern reaches, within this packet's share of matching work;
        an empty list when the pattern was dropped (and counted)."""
        if self._patterns_in_packet >= MAX_PATTERNS_PER_PACKET:
            self._bad("bad_pattern", "%s from %s dropped: more than %d patterns in one packet",
                      pattern[:80], client[0], MAX_PATTERNS_PER_PACKET)
            return []
        if self._patterns_in_packet == 0:
            self.pattern_budget.refill()
        self._patterns_in_packet += 1
        budget = self.pattern_budget
        try:
            routes = self.matcher.match(pattern, max(int(budget.level), 0))
        except PatternError as exc:
            self._bad("bad_pattern", "%s from %s dropped: %s", pattern[:80], client[0], exc)
            return []
        finally:
            budget.spend(self.matcher.spent)
        if not routes:
            self._bad("unknown_address", "%s from %s dropped", pattern[:80], client[0])
            return []
        cost = len(routes) * STEPS_PER_APPLY
        if cost > budget.level:
            self._bad("bad_pattern", "%s from %s dropped: reaches %d addresses, more than "
                      "this packet's share", pattern[:80], client[0], len(routes))
            return []
        budget.spend(cost)
        return routes

    # ---------------------------------------------------------------- messages
    def _apply(self, route: Route, args: list, client: tuple[str, int], stamp_ns: int) -> None:
        param = route.param
        if route.form == SYNC:
            if self.feedback is not None and not self.feedback.request_full(client[0]):
                self._bad("rate_limited", "%s from %s dropped: the whole state goes to a "
                          "client at most once every %g s", SYNC_ADDRESS, client[0],
                          FULL_STATE_INTERVAL_S)
                return
            self.stats.applied += 1
            return
        assert param is not None
        if param.kind == "trigger":
            self._trigger(route, param, args, stamp_ns)
            return
        if len(args) != 1:
            self._bad("wrong_count", "%s takes 1 argument, got %d", param.address, len(args))
            return
        value = args[0]
        if isinstance(value, str) and not (route.form == NATIVE and param.kind == "enum"):
            self._bad("wrong_type", "%s takes a number, got a string", param.address)
            return
        if not isinstance(value, bool | int | float | str):
            self._bad("wrong_type", "%s takes a number, got %s", param.address,
                      type(value).__name__)
            return
        if isinstance(value, float) and not math.isfinite(value):
            self._bad("not_finite", "%s: %r dropped", param.address, value)
            return
        try:
            if route.form == NORM:
                if not 0.0 <= value <= 1.0:
                    self._bad("clamped", "%s: %r outside 0-1", param.norm_address, value)
                value = param.from_norm(value)
            elif not isinstance(value, str | bool) and not param.lo <= value <= param.hi:
                self._bad("clamped", "%s: %r outside %g-%g", param.address, value,
                          param.lo, param.hi)
            self.bus.set(param.name, value, stamp_ns)
        except ValueError as exc:
            self._bad("wrong_type", "%s", exc)
            return
        self.stats.applied += 1

    def _trigger(self, route: Route, param: Param, args: list, stamp_ns: int) -> None:
        if param.name == "show.quit" and not self.allow_quit:
            self._bad("refused", "%s ignored ([osc] allow_quit is off)", param.address)
            return
        if param.text:
            if len(args) != 1:
                self._bad("wrong_count", "%s takes 1 argument, got %d", param.address,
                          len(args))
                return
            value = args[0]
            if isinstance(value, str):
                if len(value) > self.max_string:
                    self._bad("too_long", "%s: string of %d characters cut to %d",
                              param.address, len(value), self.max_string)
                    value = value[: self.max_string]
                self.bus.trigger(param.name, 1.0, stamp_ns, text=value)
            elif (isinstance(value, int) and not isinstance(value, bool)) or (
                    isinstance(value, float) and value.is_integer()):
                # a number (scene.go 3): carried as the text, the consumer reads it
                self.bus.trigger(param.name, 1.0, stamp_ns, text=str(int(value)))
            else:
                self._bad("wrong_type", "%s takes a string, got %r", param.address, value)
                return
            self.stats.applied += 1
            return
        if len(args) > 1:
            self._bad("wrong_count", "%s takes at most 1 argument, got %d", param.address,
                      len(args))
            return
        value = args[0] if args else 1.0
        if not isinstance(value, bool | int | float):
            self._bad("wrong_type", "%s takes a number, got %r", param.address, value)
            return
        value = float(value)
        if not math.isfinite(value):
            self._bad("not_finite", "%s: %r dropped", param.address, value)
            return
        if route.form == SLOT:
            if value == 0.0:
                return  # a button's release
            value = float(route.slot)
        elif param.hi > 1:  # a slot trigger on its base address: the argument is the slot
            if not args:
                self._bad("wrong_count", "%s needs the slot number as its argument",
                          param.address)
                return
            if not param.lo <= value <= param.hi:
                self._bad("clamped", "%s: slot %r outside %g-%g", param.address, value,
                          param.lo, param.hi)
            value = float(round(min(max(value, param.lo), param.hi)))
        else:
            if value == 0.0:
                return  # a button's release
            if not 0.0 <= value <= 1.0:
                self._bad("clamped", "%s: %r outside 0-1", param.address, value)
        self.bus.trigger(param.name, value, stamp_ns)
        self.stats.applied += 1

    def _bad(self, kind: str, message: str, *args) -> None:
        self.stats.bad[kind] += 1
        self.warn(kind, message, *args)


class _Server(socketserver.UDPServer):
    """A UDP server loop reading every waiting datagram into ``OscInput``.

    The request path below replaces socketserver's one-request-per-select handling (and with
    it the request handler class, never used); python-osc's dispatcher is not involved.
    """

    max_packet_size = MAX_PACKET

    def __init__(self, address: tuple[str, int], osc_input: OscInput) -> None:
        self.osc_input = osc_input
        try:  # "::" or an IPv6 host binds an IPv6 socket
            infos = socket.getaddrinfo(address[0], address[1], type=socket.SOCK_DGRAM)
            self.address_family = infos[0][0]
        except (socket.gaierror, IndexError):
            pass
        super().__init__(address, socketserver.BaseRequestHandler)

    def _handle_request_noblock(self) -> None:
        """Drain every datagram waiting (up to ``DRAIN_BATCH``) per wake-up of the select loop.

        The socket is non-blocking, so a flood costs one ``recvfrom`` and one dict lookup per
        packet instead of a select call and a handler object each; the allowlist is checked
        before anything else.
        """
        sock, osc_input, size = self.socket, self.osc_input, self.max_packet_size
        for _ in range(DRAIN_BATCH):
            try:
                data, client = sock.recvfrom(size)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. an ICMP error reported on the socket: read on
                continue
            if not osc_input.allowed(client[0]):
                osc_input.block(client[0])
                continue
            try:
                osc_input.handle_packet(data, client)
            except Exception:  # the server thread must outlive any packet
                log.exception("OSC packet handling failed")


class OscServer:
    """The OSC input thread; ``start()`` binds (raising ``OscError``), ``close()`` stops it."""

    def __init__(self, bus: Bus, cfg: OscConfig, feedback: Feedback | None = None) -> None:
        self.cfg = cfg
        self.input = OscInput(bus, cfg, feedback)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def stats(self) -> OscStats:
        return self.input.stats

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self.cfg.port

    def start(self) -> None:
        try:
            self._server = _Server((self.cfg.host, self.cfg.port), self.input)
        except OSError as exc:
            raise OscError(f"OSC: cannot listen on {self.cfg.host}:{self.cfg.port}: "
                           f"{exc.strerror or exc} (osc.port in config.toml, or "
                           "--set osc.port=N)") from None
        # a deep receive buffer rides out bursts while the thread waits for the GIL
        try:
            self._server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        except OSError:
            pass
        self._server.socket.setblocking(False)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.25}, name="osc-in",
                                        daemon=True)
        self._thread.start()
        log.info("OSC: listening on %s:%d", self.cfg.host, self.port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None


class Feedback:
    """Sends changed values back to clients and targets, at most ``feedback_hz`` per address."""

    def __init__(self, bus: Bus, cfg: OscConfig, clock=time.monotonic) -> None:
        self.bus = bus
        self.clock = clock
        self.registry = bus.registry
        self.port = cfg.feedback_port
        self.interval_s = 1.0 / max(cfg.feedback_hz, 0.1)
        self.timeout_s = cfg.client_timeout_s
        self.targets = [parse_target(t) for t in cfg.feedback_targets]
        self.params = [p for p in self.registry if p.kind != "trigger"]
        self._index = np.array([self.registry.index[p.name] for p in self.params])
        self._values = np.zeros(len(self.registry.params))
        self._sent = np.full(len(self.params), np.nan)
        self._clients: OrderedDict[str, float] = OrderedDict()
        self._full: set[str] = set()
        self._last_full: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._socks: dict[int, socket.socket] = {}
        self.sent_datagrams = 0
        self.send_errors = 0

    # called from the input thread: a few dict stores under a short lock
    def heard(self, host: str) -> None:
        now = self.clock()
        with self._lock:
            if host not in self._clients:
                self._want_full(host, now)  # a new client gets the whole state
                while len(self._clients) >= MAX_CLIENTS:
                    self._clients.popitem(last=False)
            self._clients[host] = now
            self._clients.move_to_end(host)

    def request_full(self, host: str) -> bool:
        """Queue the whole state for ``host`` (True also when one is queued already); False
        when it was sent one within ``FULL_STATE_INTERVAL_S``: one ``/live/sync`` of a few
        bytes costs ~100 messages (~3.6 kB) out, so a client echoing feedback back (or a loop of two
        shows) must not turn that into a flood."""
        with self._lock:
            return host in self._full or self._want_full(host, self.clock())

    def _want_full(self, host: str, now: float) -> bool:
        """Per client at most one full state per interval, and ``MAX_CLIENTS`` in all (a
        sender cycling through source addresses gets no more than that)."""
        recent = self._last_full
        while recent and now - next(iter(recent.values())) >= FULL_STATE_INTERVAL_S:
            recent.popitem(last=False)
        if host in recent or len(recent) >= MAX_CLIENTS:
            return False
        recent[host] = now
        self._full.add(host)
        return True

    def clients(self) -> list[str]:
        now = self.clock()
        with self._lock:
            for host in [h for h, seen in self._clients.items() if now - seen > self.timeout_s]:
                del self._clients[host]
            return list(self._clients)

    # the feedback thread
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="osc-feedback", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        for sock in self._socks.values():
            sock.close()
        self._socks.clear()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception:  # feedback must never take the show down
                log.exception("OSC feedback failed")

    def tick(self) -> None:
        """One round: send what changed since the last round (and full state where asked)."""
        self.bus.snapshot(self._values)
        current = self._values[self._index]
        changed = np.flatnonzero(current != self._sent)
        clients = self.clients()
        with self._lock:
            full, self._full = self._full, set()
        destinations = [(host, self.port, host in full) for host in clients]
        destinations += [(host, port, False) for host, port in self.targets]
        first_round = bool(np.isnan(self._sent).all())
        for host, port, wants_all in destinations:
            indices = range(len(self.params)) if wants_all or first_round else changed
            messages = []
            for i in indices:
                messages.extend(self._messages(self.params[i], float(current[i])))
            self._send(host, port, messages)
        self._sent[:] = current

    @staticmethod
    def _messages(param: Param, value: float) -> list[bytes]:
        native = OscMessageBuilder(param.address)
        if param.kind in ("int", "enum"):
            native.add_arg(int(value), OscMessageBuilder.ARG_TYPE_INT)
        else:
            native.add_arg(value, OscMessageBuilder.ARG_TYPE_FLOAT)
        norm = OscMessageBuilder(param.norm_address)
        norm.add_arg(param.to_norm(value), OscMessageBuilder.ARG_TYPE_FLOAT)
        return [native.build().dgram, norm.build().dgram]

    def _send(self, host: str, port: int, messages: list[bytes]) -> None:
        """Pack messages into bundles under ``FEEDBACK_DATAGRAM`` bytes and send them."""
        if not messages:
            return
        batch: list[bytes] = []
        size = 16
        for message in messages:
            if batch and size + 4 + len(message) > FEEDBACK_DATAGRAM:
                self._sendto(_bundle(batch), host, port)
                batch, size = [], 16
            batch.append(message)
            size += 4 + len(message)
        self._sendto(_bundle(batch) if len(batch) > 1 else batch[0], host, port)

    def _sendto(self, data: bytes, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = self._socks.get(family)
        if sock is None:
            sock = self._socks[family] = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
        try:
            sock.sendto(data, (host, port))
            self.sent_datagrams += 1
        except OSError:  # full buffer, unreachable host: feedback is best effort
            self.send_errors += 1


def _bundle(messages: list[bytes]) -> bytes:
    """An immediate bundle of prebuilt messages."""
    parts = [b"#bundle\0", osc_types.write_date(IMMEDIATELY)]
    for message in messages:
        parts += [osc_types.write_int(len(message)), message]
    return b"".join(parts)

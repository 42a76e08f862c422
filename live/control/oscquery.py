"""OSCQuery: the OSC namespace as JSON over HTTP, and its WebSocket for streamed values.

Follows the OSCQuery proposal (Vidvox, third revision): a GET of a path returns that node with
its attributes: ``FULL_PATH``, ``CONTENTS`` (child nodes) for containers, and ``TYPE`` (OSC
type tags), ``RANGE`` (``MIN``/``MAX``, or ``VALS`` for a choice), ``VALUE`` (the current value,
read from the bus when asked), ``ACCESS`` (1 read, 2 write, 3 both), ``CLIPMODE`` and
``DESCRIPTION`` for methods. ``?ATTRIBUTE`` returns that attribute alone and ``/?HOST_INFO``
describes the server (name, OSC port and transport, the extensions served, the WebSocket).
A node with ``CONTENTS`` is a container only: where an OSC address also has child addresses
(the slot triggers: ``/live/cue/recall`` and ``/live/cue/recall/3``) the tree lists the
children as its methods, and the parent keeps only a description (the OSC route itself is
unchanged: ``/live/cue/recall 3`` still recalls slot 3). ``/live/scene/current`` is a
read-only string, the current scene's name, when the server is given ``scene_name``.

The tree is built once from the registry; only ``VALUE`` is filled per request, from one bus
snapshot. The server runs on its own threads (the standard library's threading HTTP server)
and answers only clients inside ``osc.allow``, with ``Access-Control-Allow-Origin: *`` on every
reply (errors too) and on ``OPTIONS`` preflights, so browser clients on any origin can read it.
A thread per connection is only safe bounded: at most ``MAX_CONNECTIONS`` at once (past that
the oldest, if held longer than ``EVICT_AFTER_S``, is hung up on, else the new one), each read
times out after ``IDLE_TIMEOUT_S`` and no connection lives past ``CONNECTION_LIFETIME_S``, so
idle or slow sockets cannot pile up threads or lock out a browser; a client that goes away
mid-reply is a rate-limited log line, not a traceback on stderr. When the ``zeroconf`` package
is installed and ``oscquery.zeroconf`` is on, the service is advertised as ``_oscjson._tcp``
(and the OSC port as ``_osc._udp``) so browsers of the network find it without typing an
address. ``/remote`` and everything under it is the browser remote (``live.remote.serve``).

WebSocket (docs/oscquery-ws.md)
    When ``[remote] enabled``, a GET with ``Upgrade: websocket`` on any path becomes a
    WebSocket (RFC 6455; our own framing in ``live.control.websocket``). Its connections leave
    the HTTP bounds above (they are long-lived by design) for their own: at most
    ``[remote] max_clients`` at once (one more gets HTTP 503), each kept open while it answers
    pings. The client sends JSON text commands: ``LISTEN`` / ``IGNORE`` an address (the
    proposal's), ``LIVE_PIN`` and ``LIVE_PREVIEW`` (ours); unknown commands are counted and
    ignored. It sends OSC packets as binary messages, applied through the running OSC server's
    ``OscInput.handle_packet`` exactly like UDP ones (same validation and counters), and
    refused (counted in ``pin_refused``) from a client that needs the PIN and has not given it.
    The server sends, as binary messages holding one OSC message each, the value of every
    address the client listens to: once when it starts listening, then whenever it changes,
    checked ``[remote] listen_hz`` times a second by one thread (``_ValueStream``) that
    diffs bus snapshots; JPEG preview frames (``broadcast_preview``) to clients that asked; and
    ``LIVE_STATUS`` text frames (on connect, after a PIN, after a refused write). Each client
    has its own writer thread and bounded outgoing state (see ``live.control.websocket``), so a
    slow client loses old values, never blocks the HTTP server, the value thread, the preview
    encoder or other clients.

PIN
    With ``[remote] pin`` set, writes need the PIN except from this machine (``local_networks``,
    by default 127.0.0.0/8 and ::1) by a page of this server's own origin (a web page from
    elsewhere, opened in a browser on this machine, is treated as remote). A page of another
    origin may always read; it writes only after the PIN, so with no PIN set it is read-only
    (a site a performer happens to open cannot steer the show). PINs are compared in
    constant time; ``PIN_FAILURES`` wrong ones in ``PIN_WINDOW_S`` from one address lock that
    address out for ``PIN_LOCKOUT_S`` (the right PIN included).
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import socket
import struct
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import numpy as np

from live.config import OscConfig, OscQueryConfig, RemoteConfig
from live.control import websocket
from live.control.osc import (
    NATIVE,
    NORM,
    SLOT,
    SYNC,
    Allowlist,
    OscError,
    OscInput,
    RateLimitedLog,
    build_routes,
)
from live.params import Bus, Param

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 16
"""HTTP connections served at once, each on its own thread (a browser or two use a few)."""
EVICT_AFTER_S = 1.0
"""When full, the oldest connection is hung up on if it has been open this long (a request is
answered in milliseconds: one held longer is idle or slow), else the new one is refused."""
IDLE_TIMEOUT_S = 5.0
"""Each read and write on a connection gives up after this long."""
CONNECTION_LIFETIME_S = 30.0
"""A connection is closed after this long whatever it does (a byte every few seconds would
otherwise keep it forever); keep-alive clients simply reconnect. WebSockets are exempt."""
LISTEN_BACKLOG = 128

LOCAL_NETWORKS = ("127.0.0.0/8", "::1/128")
"""Clients that never need the PIN: this machine's loopback addresses."""
PIN_FAILURES = 5
PIN_WINDOW_S = 60.0
PIN_LOCKOUT_S = 60.0
STATUS_INTERVAL_S = 1.0
"""A client whose writes are refused is told so (LIVE_STATUS) at most this often."""
CLOSE_GRACE_S = 1.0
"""On ``close()``, how long WebSocket clients get to answer the close handshake."""

SCENE_ADDRESS = "/live/scene/current"
SCENE = 4
"""The form of ``SCENE_ADDRESS`` beside osc's NATIVE/NORM/SLOT/SYNC."""

EXTENSIONS = {"ACCESS": True, "VALUE": True, "RANGE": True, "DESCRIPTION": True,
              "CLIPMODE": True, "TAGS": False, "UNIT": False, "CRITICAL": False,
              "LISTEN": True, "PATH_CHANGED": False}
ATTRIBUTES = ("FULL_PATH", "CONTENTS", "TYPE", "RANGE", "VALUE", "ACCESS", "CLIPMODE",
              "DESCRIPTION")
METHOD_ATTRIBUTES = ("TYPE", "RANGE", "VALUE", "ACCESS", "CLIPMODE")


class Namespace:
    """The JSON tree of every OSC address, with values filled from the bus on request."""

    def __init__(self, bus: Bus, scene_name: Callable[[], str] | None = None) -> None:
        self.bus = bus
        self.registry = bus.registry
        self.scene_name = scene_name
        self._values = np.zeros(len(self.registry.params))
        self.root: dict = {"FULL_PATH": "/", "CONTENTS": {},
                           "DESCRIPTION": "live: real-time generative performance server"}
        self.nodes: dict[str, dict] = {"/": self.root}
        self._valued: list[tuple[dict, Param, int]] = []
        for address, route in build_routes(self.registry).items():
            self._add(address, route)
        self._scene_node: dict | None = None
        if scene_name is not None:
            self._scene_node = self._container(SCENE_ADDRESS)
            del self._scene_node["CONTENTS"]
            self._scene_node.update(TYPE="s", ACCESS=1,
                                    DESCRIPTION="the current scene's name (read only; LISTEN "
                                                "on the WebSocket to follow scene changes)")
        self._containers_only()
        self.listenable: dict[str, tuple[Param | None, int]] = {
            node["FULL_PATH"]: (param, form) for node, param, form in self._valued}
        """Addresses with a VALUE, which a WebSocket client may LISTEN to: (param, form)."""
        if self._scene_node is not None:
            self.listenable[SCENE_ADDRESS] = (None, SCENE)

    def _container(self, path: str) -> dict:
        node = self.nodes.get(path)
        if node is None:
            parent_path, _, name = path.rpartition("/")
            parent = self._container(parent_path or "/")
            node = {"FULL_PATH": path, "CONTENTS": {}}
            parent.setdefault("CONTENTS", {})[name] = node
            self.nodes[path] = node
        elif "CONTENTS" not in node:
            node["CONTENTS"] = {}
        return node

    def _containers_only(self) -> None:
        """The proposal's rule: a node with CONTENTS has no TYPE. An address with children
        keeps only its description (its children are the methods); OSC still routes it."""
        for node in self.nodes.values():
            if node.get("CONTENTS") and "TYPE" in node:
                for key in METHOD_ATTRIBUTES:
                    node.pop(key, None)
                node["DESCRIPTION"] = (node.get("DESCRIPTION", "") + ". Listed as a container "
                                       "of its children; the address itself still takes its "
                                       "argument over OSC (docs/osc.md)")
        self._valued = [entry for entry in self._valued if "TYPE" in entry[0]]
    def _add(self, address: str, route) -> None:
        node = self._container(address)
        if not node["CONTENTS"]:
            del node["CONTENTS"]  # a method; gains CONTENTS again if a child is added
        param = route.param
        if route.form == SYNC:
            node.update(TYPE="N", ACCESS=2,
                        DESCRIPTION="send the whole state back to this client now")
            return
        assert param is not None
        unit = f" [{param.unit}]" if param.unit else ""
        if param.kind == "trigger":
            if param.text:
                node.update(TYPE="s", ACCESS=2, DESCRIPTION=param.description)
            elif route.form == SLOT:
                node.update(TYPE="N", ACCESS=2,
                            DESCRIPTION=f"{param.description.split(' (')[0]}: slot "
                                        f"{route.slot} (fires on 1 or no argument)")
            elif param.hi > 1:
                node.update(TYPE="i", ACCESS=2, CLIPMODE="both",
                            RANGE=[{"MIN": int(param.lo), "MAX": int(param.hi)}],
                            DESCRIPTION=param.description)
            else:
                node.update(TYPE="f", ACCESS=2, CLIPMODE="both",
                            RANGE=[{"MIN": 0.0, "MAX": 1.0}],
                            DESCRIPTION=param.description + " (fires on a non-zero argument "
                                                            "or none)")
            return
        if route.form == NORM:
            node.update(TYPE="f", ACCESS=3, CLIPMODE="both", RANGE=[{"MIN": 0.0, "MAX": 1.0}],
                        DESCRIPTION=f"{param.name} as 0-1 of its range: {param.description}")
        elif param.kind == "enum":
            node.update(TYPE="s", ACCESS=3, RANGE=[{"VALS": list(param.choices)}],
                        DESCRIPTION=param.description + " (a choice, or its index)")
        elif param.kind == "bool":
            node.update(TYPE="T", ACCESS=3, DESCRIPTION=param.description)
        else:
            lo, hi = (int(param.lo), int(param.hi)) if param.kind == "int" else (param.lo,
                                                                                   param.hi)
            node.update(TYPE="i" if param.kind == "int" else "f", ACCESS=3, CLIPMODE="both",
                        RANGE=[{"MIN": lo, "MAX": hi}], DESCRIPTION=param.description + unit)
        self._valued.append((node, param, route.form))

    def refresh(self) -> None:
        """Fill every VALUE from one bus snapshot (and the scene's name)."""
        self.bus.snapshot(self._values)
        for node, param, form in self._valued:
            value = float(self._values[self.registry.index[param.name]])
            if form == NORM:
                node["VALUE"] = [round(param.to_norm(value), 6)]
            elif param.kind == "enum":
                node["VALUE"] = [param.choices[int(value)]]
            elif param.kind == "bool":
                node["VALUE"] = [value >= 0.5]
            elif param.kind == "int":
                node["VALUE"] = [int(value)]
            else:
                node["VALUE"] = [round(value, 6)]
        if self._scene_node is not None:
            self._scene_node["VALUE"] = [self.current_scene()]

    def current_scene(self) -> str:
        """The scene's name from the callable given (any thread); "" if it fails."""
        if self.scene_name is None:
            return ""
        try:
            return str(self.scene_name())
        except Exception:  # a scene switch in progress, a broken callable: not our problem
            return ""

    def host_info(self, osc_port: int, osc_ip: str = "", ws_port: int | None = None) -> dict:
        """HOST_INFO; ``ws_port`` when the WebSocket is served (it is the HTTP port)."""
        info = {"NAME": "live", "OSC_PORT": osc_port, "OSC_TRANSPORT": "UDP",
                "EXTENSIONS": {**EXTENSIONS, "LISTEN": ws_port is not None}}
        if osc_ip:
            info["OSC_IP"] = osc_ip
        if ws_port is not None:
            info["WS_PORT"] = ws_port
            if osc_ip:
                info["WS_IP"] = osc_ip
        return info


# ---------------------------------------------------------------- values as OSC
def _osc_string(text: str) -> bytes:
    data = text.encode("utf-8")
    return data + b"\0" * (4 - len(data) % 4)


def value_message(address: str, param: Param | None, form: int, value: float | str) -> bytes:
    """One OSC message with a value in its OSCQuery TYPE: f for floats and 0-1 addresses, i for
    whole numbers, s for a choice (by name) and the scene, T/F for on/off."""
    head = _osc_string(address)
    if form == SCENE or param is None:
        return head + _osc_string(",s") + _osc_string(str(value))
    number = float(value)
    if form == NORM:
        return head + b",f\0\0" + struct.pack(">f", param.to_norm(number))
    if param.kind == "enum":
        index = min(max(int(number), 0), len(param.choices) - 1)
        return head + b",s\0\0" + _osc_string(param.choices[index])
    if param.kind == "bool":
        return head + (b",T\0\0" if number >= 0.5 else b",F\0\0")
    if param.kind == "int":
        return head + b",i\0\0" + struct.pack(">i", int(number))
    return head + b",f\0\0" + struct.pack(">f", number)


class _ValueStream:
    """The LISTEN side: ``listen_hz`` times a second, a bus snapshot compared with the last;
    each changed value goes, as one OSC message built once, to the clients listening to it
    (coalesced per address in each client's writer, so the newest always arrives)."""

    def __init__(self, namespace: Namespace, hz: float,
                 clients: Callable[[], list[_WsClient]]) -> None:
        self.namespace = namespace
        self.bus = namespace.bus
        registry = namespace.registry
        self.interval_s = 1.0 / max(hz, 0.1)
        self.clients = clients
        self.params = [p for p in registry if p.kind != "trigger"]
        self._index = np.array([registry.index[p.name] for p in self.params], dtype=np.intp)
        self._values = np.zeros(len(registry.params))
        self._last = np.full(len(self.params), np.nan)
        self._last_scene: str | None = None
        self.lock = threading.Lock()
        """Held for a whole tick, and by LISTEN: a first value is never older than a tick's."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0
        self.values_sent = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="oscquery-listen", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def _run(self) -> None:
        next_tick = time.monotonic()
        while True:
            next_tick += self.interval_s
            now = time.monotonic()
            if next_tick < now:  # fell behind (a stall): do not try to catch up
                next_tick = now
            if self._stop.wait(next_tick - now):
                return
            try:
                self.tick()
            except Exception:  # streaming must never take the show down
                log.exception("OSCQuery value stream failed")

    def tick(self) -> None:
        with self.lock:
            self.ticks += 1
            self.bus.snapshot(self._values)
            current = self._values[self._index]
            changed = np.flatnonzero(current != self._last)
            self._last[:] = current
            scene = self.namespace.current_scene() if self.namespace.scene_name else None
            scene_changed = scene != self._last_scene
            self._last_scene = scene
            clients = [c for c in self.clients() if c.listening]
            if not clients:
                return
            for i in changed:
                param, value = self.params[i], float(current[i])
                self._offer(clients, param.address, param, NATIVE, value)
                self._offer(clients, param.norm_address, param, NORM, value)
            if scene_changed and scene is not None:
                self._offer(clients, SCENE_ADDRESS, None, SCENE, scene)

    def _offer(self, clients: list[_WsClient], address: str, param: Param | None, form: int,
               value: float | str) -> None:
        message = None
        for client in clients:
            if address in client.listening:
                if message is None:
                    message = value_message(address, param, form, value)
                client.conn.send_keyed(address, message)
                self.values_sent += 1

    def listen(self, client: _WsClient, address: str) -> bool:
        """Start streaming ``address`` to ``client``, with its current value at once; False
        when the address has no value to stream."""
        target = self.namespace.listenable.get(address)
        if target is None:
            return False
        param, form = target
        with self.lock:
            client.listening.add(address)
            value = (self.namespace.current_scene() if form == SCENE
                     else self.bus.get(param.name))
            client.conn.send_keyed(address, value_message(address, param, form, value))
        return True

    def ignore(self, client: _WsClient, address: str) -> None:
        with self.lock:
            client.listening.discard(address)


# ---------------------------------------------------------------- PIN
class PinGuard:
    """Checks PINs, with a lockout per source address: ``failures`` wrong PINs within
    ``window_s`` refuse that address for ``lockout_s``, the right PIN included."""

    MAX_HOSTS = 256

    def __init__(self, pin: str, failures: int = PIN_FAILURES, window_s: float = PIN_WINDOW_S,
                 lockout_s: float = PIN_LOCKOUT_S, clock=time.monotonic) -> None:
        self.pin = pin
        self.failures = failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.clock = clock
        self._failed: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, host: str, attempt: str) -> str:
        """"ok", "wrong" or "locked" (then ``locked_for(host)`` says how long)."""
        now = self.clock()
        with self._lock:
            failed = self._failed.get(host)
            if failed is not None:
                while failed and now - failed[0] > self.window_s + self.lockout_s:
                    failed.popleft()
                if self._locked(failed, now):
                    return "locked"
            if self.pin and hmac.compare_digest(attempt.encode("utf-8"),
                                                self.pin.encode("utf-8")):
                return "ok"  # no PIN set: nothing unlocks (a foreign page stays read-only)
            if failed is None:
                if len(self._failed) >= self.MAX_HOSTS:  # many sources: stay bounded
                    self._failed.popitem(last=False)
                failed = self._failed[host] = deque(maxlen=self.failures)
            failed.append(now)
            return "wrong"

    def locked_for(self, host: str) -> float:
        """Seconds until ``host`` may try again (0 when it may now)."""
        now = self.clock()
        with self._lock:
            failed = self._failed.get(host)
            if failed is None or not self._locked(failed, now):
                return 0.0
            return failed[-1] + self.lockout_s - now

    def _locked(self, failed: deque[float], now: float) -> bool:
        return (len(failed) >= self.failures and failed[-1] - failed[0] <= self.window_s
                and now - failed[-1] < self.lockout_s)


def same_origin(headers) -> bool:
    """Whether a request comes from a page of this server (or from no page at all: tools send
    no ``Origin``). Compares the Origin's host:port with the Host header."""
    origin = headers.get("Origin")
    if origin is None:
        return True
    host = (headers.get("Host") or "").strip().lower()
    return bool(host) and urlsplit(origin.strip()).netloc.lower() == host


class _WsClient:
    """One WebSocket client's state beside its connection."""

    def __init__(self, host: str, port: int, local: bool, authorised: bool) -> None:
        self.host = host
        self.port = port
        self.local = local
        self.authorised = authorised
        self.listening: set[str] = set()
        self.preview = False
        self.last_status = -math.inf
        self.conn: websocket.Connection


# ---------------------------------------------------------------- HTTP
class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S

    def send_response(self, code: int, message: str | None = None) -> None:
        """Every reply, errors from the standard library's own paths included, may be read by
        a page of any origin."""
        super().send_response(code, message)
        self.send_header("Access-Control-Allow-Origin", "*")

    def do_OPTIONS(self) -> None:  # noqa: N802 (the standard library's name)
        """CORS preflight."""
        owner = self.server.owner
        if not owner.allowed(self.client_address[0]):
            owner.blocked += 1
            self._reply(403, {"error": "not in osc.allow"})
            return
        self.send_response(204)
        self.send_header("Access-Control-Allow-Methods", "GET, OPTIONS")
        requested = self.headers.get("Access-Control-Request-Headers")
        if requested:
            self.send_header("Access-Control-Allow-Headers", requested[:512])
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        owner = self.server.owner
        if not owner.allowed(self.client_address[0]):
            owner.blocked += 1
            self._reply(403, {"error": "not in osc.allow"})
            return
        if websocket.is_upgrade(self.headers):
            self._websocket()
            return
        parts = urlsplit(self.path)
        raw_path = unquote(parts.path)
        if raw_path == "/remote" or raw_path.startswith("/remote/"):
            self._remote(raw_path, parts.query)
            return
        path = raw_path.rstrip("/") or "/"
        query = unquote(parts.query)
        if query == "HOST_INFO":
            self._reply(200, owner.host_info())
            return
        with owner.lock:
            node = owner.namespace.nodes.get(path)
            if node is None:
                body, status = {"error": f"no OSC address {path}"}, 404
            else:
                owner.namespace.refresh()
                if query:
                    if query not in ATTRIBUTES:
                        body, status = {"error": f"unknown attribute {query}"}, 400
                    elif query not in node:
                        body, status = None, 204
                    else:
                        body, status = {query: node[query]}, 200
                else:
                    body, status = node, 200
            data = b"" if body is None else json.dumps(body).encode()
        self._send(status, data)

    def _remote(self, path: str, query: str) -> None:
        """The browser remote's files, from ``live.remote.serve`` (404 without a context)."""
        owner = self.server.owner
        result = None
        if owner.context is not None and owner.ws_enabled:
            from live import remote

            result = remote.serve(path, query, owner.context)
        if result is None:
            self._reply(404, {"error": f"no such page {path}"})
            return
        status, content_type, body = result
        self._send(status, body, content_type, [("Cache-Control", "no-cache")])

    def _websocket(self) -> None:
        """Answer the opening handshake and serve the WebSocket on this thread."""
        owner = self.server.owner
        self.close_connection = True
        closing = [("Connection", "close")]
        if not owner.ws_enabled:
            self._reply(404, {"error": "no WebSocket here ([remote] enabled is off)"}, closing)
            return
        problem = websocket.handshake_problem(self.headers)
        if problem is not None:
            owner.count("ws_rejected")
            status, reason = problem
            extra = closing + ([("Sec-WebSocket-Version", "13")] if status == 426 else [])
            self._reply(status, {"error": reason}, extra)
            return
        client = owner.ws_admit(self.connection, self.client_address, self.headers)
        if client is None:
            self._reply(503, {"error": f"{owner.max_clients} WebSocket clients already "
                                       "([remote] max_clients)"},
                        closing + [("Retry-After", "5")])
            return
        try:
            self.server.adopt(self.connection)
            self.send_response(101, "Switching Protocols")
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept",
                             websocket.accept_key(self.headers["Sec-WebSocket-Key"].strip()))
            self.end_headers()
            owner.ws_serve(client, self._buffered_input())
        finally:
            owner.ws_forget(client)

    def _buffered_input(self) -> bytes:
        """Bytes the HTTP parser read past the handshake (a client may send its first frame
        without waiting for the reply), taken without blocking."""
        self.connection.setblocking(False)
        try:
            data = self.rfile.peek()
            return self.rfile.read1(len(data)) if data else b""
        except OSError:
            return b""
        finally:
            self.connection.settimeout(websocket.WRITE_TIMEOUT_S)

    def _reply(self, status: int, body: dict,
               headers: list[tuple[str, str]] | None = None) -> None:
        self._send(status, json.dumps(body).encode(), headers=headers)

    def _send(self, status: int, data: bytes, content_type: str = "application/json",
              headers: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        for name, value in headers or ():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if status != 204:
            self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        log.debug("OSCQuery %s: " + format, self.client_address[0], *args)


class _HttpServer(ThreadingHTTPServer):
    """The threading HTTP server with its threads bounded and its errors kept off stderr."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG
    owner: OscQueryServer

    def __init__(self, address: tuple[str, int], handler: type[_Handler]) -> None:
        self._connections: OrderedDict[socket.socket, float] = OrderedDict()
        self._adopted: set[socket.socket] = set()
        self._threads_alive = 0
        self._lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: socket.socket, client_address) -> None:
        """Serve the connection on a thread if there is room (made by hanging up on the
        oldest one when it is stale); otherwise close it at once."""
        owner = self.owner
        owner.connections += 1
        now = time.monotonic()
        with self._lock:
            if len(self._connections) >= MAX_CONNECTIONS:
                oldest, opened = next(iter(self._connections.items()))
                if now - opened >= EVICT_AFTER_S:
                    del self._connections[oldest]
                    _hang_up(oldest)
                    owner.evicted += 1
            # hung-up threads exit within moments; the second bound holds if they lag
            admitted = (len(self._connections) < MAX_CONNECTIONS
                        and self._threads_alive < 2 * MAX_CONNECTIONS)
            if admitted:
                self._connections[request] = now
                self._threads_alive += 1
        if not admitted:
            owner.refused += 1
            owner.note("refused", "connection from %s closed: %d already open",
                       client_address[0], MAX_CONNECTIONS)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except RuntimeError:  # no thread could be started
            self._forget(request)
            self.shutdown_request(request)

    def process_request_thread(self, request: socket.socket, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def adopt(self, request: socket.socket) -> None:
        """The connection became a WebSocket: it leaves the HTTP bounds (eviction, lifetime,
        thread count), which the WebSocket's own client cap replaces."""
        with self._lock:
            if self._connections.pop(request, None) is not None:
                self._threads_alive -= 1
                self._adopted.add(request)

    def _forget(self, request: socket.socket) -> None:
        with self._lock:
            if request in self._adopted:
                self._adopted.discard(request)
            else:
                self._connections.pop(request, None)
                self._threads_alive -= 1

    def service_actions(self) -> None:
        """Between polls of the accept loop: hang up on connections past their lifetime."""
        now = time.monotonic()
        with self._lock:
            while self._connections:
                oldest, opened = next(iter(self._connections.items()))
                if now - opened < CONNECTION_LIFETIME_S:
                    break
                del self._connections[oldest]
                _hang_up(oldest)

    @property
    def threads_alive(self) -> int:
        with self._lock:
            return self._threads_alive

    def hang_up_all(self) -> None:
        with self._lock:
            for request in self._connections:
                _hang_up(request)
            self._connections.clear()

    def handle_error(self, request, client_address) -> None:
        """A client gone mid-request is normal on a network: one rate-limited line, not
        socketserver's traceback on stderr per connection."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            self.owner.disconnects += 1
            self.owner.note("disconnect", "%s went away mid-request (%s)", client_address[0],
                            type(exc).__name__)
        else:
            self.owner.errors += 1
            self.owner.warn("error", "request from %s failed: %r", client_address[0], exc)


def _hang_up(request: socket.socket) -> None:
    """Wake the thread serving ``request`` (its read returns end-of-file, its write fails);
    that thread closes the socket itself."""
    try:
        request.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed or reset
        pass


class OscQueryServer:
    """HTTP server of the namespace and its WebSocket, plus the optional zeroconf advertisement.

    ``remote`` (``[remote]``; None: no WebSocket and no ``/remote``) sets the PIN, the client
    cap and the LISTEN rate; ``osc_input`` (the running ``OscServer.input``) applies OSC sent
    over the WebSocket (None: such packets are dropped and counted); ``scene_name`` gives
    ``/live/scene/current``; ``context`` (a ``live.remote.RemoteContext``) serves ``/remote``;
    ``local_networks``: sources that never need the PIN.

    Counters (read by the HUD, bench and tests): ``ws_clients`` open now, ``ws_connections``
    accepted in all, ``ws_messages_in`` (text and binary messages within the rate limit),
    ``ws_dropped`` (every message or frame dropped: flood, too big, bad frames, bad commands),
    ``ws_bad_frames``, ``ws_too_big``, ``ws_flooded``, ``ws_flood_closed``, ``ws_bad_commands``
    (not JSON, not a command, LISTEN to an address without a value), ``ws_unknown_commands``,
    ``ws_rejected`` (bad handshakes), ``ws_full`` (503s), ``ws_silent_closed``,
    ``ws_write_failed``, ``ws_text_dropped``, ``pin_refused`` (writes without the PIN),
    ``pin_failures`` (wrong PINs), ``pin_locked`` (PINs refused during a lockout),
    ``preview_sent``, ``preview_dropped`` (replaced before they were sent).
    """

    COUNTERS = ("ws_connections", "ws_messages_in", "ws_dropped", "ws_bad_frames", "ws_too_big",
                "ws_flooded", "ws_flood_closed", "ws_bad_commands", "ws_unknown_commands",
                "ws_rejected", "ws_full", "ws_silent_closed", "ws_write_failed",
                "ws_text_dropped", "pin_refused", "pin_failures", "pin_locked", "preview_sent",
                "preview_dropped")

    def __init__(self, bus: Bus, cfg: OscQueryConfig, osc: OscConfig, osc_port: int,
                 host: str | None = None, *, remote: RemoteConfig | None = None,
                 osc_input: OscInput | None = None,
                 scene_name: Callable[[], str] | None = None, context=None,
                 local_networks: tuple[str, ...] = LOCAL_NETWORKS) -> None:
        self.cfg = cfg
        self.namespace = Namespace(bus, scene_name)
        self.allowed = Allowlist(osc.allow)
        self.osc_port = osc_port
        self.host = osc.host if host is None else host
        self.osc_ip = "" if self.host in ("0.0.0.0", "::", "") else self.host
        self.lock = threading.Lock()
        self.blocked = 0
        self.connections = 0
        """Connections accepted, refused ones included."""
        self.refused = 0
        self.evicted = 0
        self.disconnects = 0
        self.errors = 0
        self.note = RateLimitedLog(log, prefix="OSCQuery", level=logging.INFO)
        self.warn = RateLimitedLog(log, prefix="OSCQuery")
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._zeroconf = None
        self.service_names: list[str] = []
        # the WebSocket
        self.remote = remote
        self.ws_enabled = remote is not None and remote.enabled
        self.max_clients = remote.max_clients if remote is not None else 0
        self.pin = remote.pin if remote is not None else ""
        self.pins = PinGuard(self.pin)
        self.osc_input = osc_input
        self.context = context
        self.local = Allowlist(list(local_networks))
        self.stream = _ValueStream(self.namespace, remote.listen_hz if remote else 30.0,
                                   self.ws_client_list)
        self._clients: set[_WsClient] = set()
        self._ws_lock = threading.Lock()
        self._counter_lock = threading.Lock()
        self.ws_clients = 0
        for name in self.COUNTERS:
            setattr(self, name, 0)

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self.cfg.port

    def open_connections(self) -> int:
        """HTTP connections being served right now (each on its own thread); WebSockets are
        counted apart, in ``ws_clients``."""
        return self._server.threads_alive if self._server else 0

    def host_info(self) -> dict:
        return self.namespace.host_info(self.osc_port, self.osc_ip,
                                        self.port if self.ws_enabled else None)

    def count(self, name: str, n: int = 1) -> None:
        """Add to a counter (any thread)."""
        with self._counter_lock:
            setattr(self, name, getattr(self, name) + n)

    def stats(self) -> dict:
        """Every WebSocket counter by name, with ``ws_clients``."""
        with self._counter_lock:
            return {"ws_clients": self.ws_clients,
                    **{name: getattr(self, name) for name in self.COUNTERS}}

    # ---------------------------------------------------------------- the WebSocket
    def ws_client_list(self) -> list[_WsClient]:
        with self._ws_lock:
            return list(self._clients)

    def ws_admit(self, sock: socket.socket, address, headers) -> _WsClient | None:
        """A client for a valid upgrade request, or None when ``max_clients`` are open."""
        host, port = address[0], address[1]
        # a page of another site (any browser on the network can open one) may read, but
        # writes only with the PIN: without one set it stays read-only (no cross-site writes)
        foreign = not same_origin(headers)
        local = self.local(host) and not foreign
        client = _WsClient(host, port, local, authorised=local if self.pin else not foreign)
        client.conn = websocket.Connection(
            sock, host, port, count=self.count,
            on_message=lambda conn, opcode, payload: self._ws_message(client, opcode, payload))
        with self._ws_lock:
            if len(self._clients) >= self.max_clients:
                admitted = False
            else:
                admitted = True
                self._clients.add(client)
                self.ws_clients = len(self._clients)
        if not admitted:
            self.count("ws_full")
            self.note("full", "WebSocket from %s refused: %d clients already ([remote] "
                      "max_clients)", host, self.max_clients)
            return None
        self.count("ws_connections")
        log.info("OSCQuery: WebSocket client %s connected", host)
        return client

    def ws_serve(self, client: _WsClient, initial: bytes) -> None:
        """Run ``client``'s connection on this thread until it closes."""
        self._send_status(client)
        client.conn.run(initial)

    def ws_forget(self, client: _WsClient) -> None:
        client.conn.done.set()  # also when the handshake failed before the connection ran
        with self._ws_lock:
            self._clients.discard(client)
            self.ws_clients = len(self._clients)
        log.info("OSCQuery: WebSocket client %s gone", client.host)

    def broadcast_preview(self, jpeg: bytes) -> None:
        """Offer a preview frame to every client that asked for previews (any thread; never
        blocks: each client keeps only the newest unsent frame)."""
        for client in self.ws_client_list():
            if client.preview:
                client.conn.send_preview(jpeg)

    def preview_watchers(self) -> int:
        """Clients that want preview frames now (the encoder idles at 0)."""
        return sum(1 for client in self.ws_client_list() if client.preview)

    def _ws_message(self, client: _WsClient, opcode: int, payload: bytes) -> None:
        if opcode == websocket.OP_BINARY:
            self._ws_osc(client, payload)
        else:
            self._ws_command(client, payload)

    def _ws_osc(self, client: _WsClient, payload: bytes) -> None:
        if not client.authorised:
            self.count("pin_refused")
            self.note("pin", "write from %s dropped: the PIN is needed ([remote] pin)",
                      client.host)
            now = time.monotonic()
            if now - client.last_status >= STATUS_INTERVAL_S:
                self._send_status(client)
            return
        if self.osc_input is None:
            self.count("ws_dropped")
            self.note("no_input", "OSC from %s over the WebSocket dropped: OSC input is off",
                      client.host)
            return
        self.osc_input.handle_packet(payload, (client.host, client.port),
                                     udp_feedback=False)

    def _ws_command(self, client: _WsClient, payload: bytes) -> None:
        try:
            command = json.loads(payload)
        except (ValueError, RecursionError):
            command = None
        if not isinstance(command, dict) or not isinstance(command.get("COMMAND"), str):
            self._bad_command(client, "not a JSON command")
            return
        name, data = command["COMMAND"], command.get("DATA")
        if name in ("LISTEN", "IGNORE"):
            if not isinstance(data, str):
                self._bad_command(client, f"{name} without an address")
            elif name == "IGNORE":
                self.stream.ignore(client, data)
            elif not self.stream.listen(client, data):
                self._bad_command(client, f"LISTEN to {data[:80]!r}, which has no value")
        elif name == "LIVE_PIN":
            self._check_pin(client, data)
        elif name == "LIVE_PREVIEW":
            if isinstance(data, bool):
                client.preview = data
            else:
                self._bad_command(client, "LIVE_PREVIEW takes true or false")
        else:
            self.count("ws_unknown_commands")
            self.note("unknown_command", "WebSocket %s: command %r ignored", client.host,
                      name[:40])

    def _bad_command(self, client: _WsClient, why: str) -> None:
        self.count("ws_bad_commands")
        self.count("ws_dropped")
        self.note("bad_command", "WebSocket %s: %s, dropped", client.host, why)

    def _check_pin(self, client: _WsClient, attempt) -> None:
        if isinstance(attempt, int) and not isinstance(attempt, bool):
            attempt = str(attempt)
        if not isinstance(attempt, str):
            self._bad_command(client, "LIVE_PIN takes the PIN as a string")
            return
        error = ""
        if not client.authorised:
            verdict = self.pins.check(client.host, attempt[:64])
            if verdict == "ok":
                client.authorised = True
                log.info("OSCQuery: WebSocket client %s gave the PIN", client.host)
            elif verdict == "wrong":
                self.count("pin_failures")
                self.note("pin_wrong", "wrong PIN from %s", client.host)
                error = "wrong PIN"
            else:
                self.count("pin_locked")
                error = (f"too many wrong PINs: try again in "
                         f"{math.ceil(self.pins.locked_for(client.host))} s")
        self._send_status(client, error)

    def _send_status(self, client: _WsClient, error: str = "") -> None:
        client.last_status = time.monotonic()
        data = {"pin_required": bool(self.pin) and not client.local,
                "authorised": client.authorised}
        if error:
            data["error"] = error
        client.conn.send_text(json.dumps({"COMMAND": "LIVE_STATUS", "DATA": data}))

    # ---------------------------------------------------------------- life
    def start(self) -> None:
        try:
            self._server = _HttpServer((self.host, self.cfg.port), _Handler)
        except OSError as exc:
            raise OscError(f"OSCQuery: cannot listen on {self.host}:{self.cfg.port}: "
                           f"{exc.strerror or exc} (oscquery.port in config.toml)") from None
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.25}, name="oscquery",
                                        daemon=True)
        self._thread.start()
        if self.ws_enabled:
            self.stream.start()
        log.info("OSCQuery: http://%s:%d/", self.osc_ip or _local_ip(), self.port)
        if self.cfg.zeroconf:
            threading.Thread(target=self._advertise, name="zeroconf", daemon=True).start()

    def _advertise(self) -> None:
        try:
            from zeroconf import ServiceInfo, Zeroconf
        except ImportError:
            log.info("OSCQuery: zeroconf not installed, not advertised")
            return
        try:
            address = socket.inet_aton(self.osc_ip or _local_ip())
            name = socket.gethostname().split(".")[0] or "live"
            zc = Zeroconf()
            for kind, port in (("_oscjson._tcp.local.", self.port),
                               ("_osc._udp.local.", self.osc_port)):
                info = ServiceInfo(kind, f"live on {name}.{kind}", port=port,
                                   addresses=[address], server=f"{name}.local.")
                # a second show on the network (or a restart too quick for the goodbye
                # packets) gets "live on host (2)" rather than an error
                zc.register_service(info, allow_name_change=True)
                self.service_names.append(info.name)
            self._zeroconf = zc
            log.info("OSCQuery: advertised as _oscjson._tcp (zeroconf)")
        except Exception as exc:  # no multicast, no network: the show goes on
            log.warning("OSCQuery: zeroconf advertisement failed: %s", exc)

    def close(self) -> None:
        """Stop everything: the value stream, every WebSocket (a close frame, then hung up on
        after ``CLOSE_GRACE_S``), the HTTP server and the advertisement."""
        self.stream.close()
        clients = self.ws_client_list()
        for client in clients:
            client.conn.close(websocket.CLOSE_GOING_AWAY, "server stopping")
        deadline = time.monotonic() + CLOSE_GRACE_S
        for client in clients:
            if not client.conn.done.wait(max(deadline - time.monotonic(), 0.0)):
                client.conn.abort()
        for client in clients:
            client.conn.done.wait(websocket.WRITE_TIMEOUT_S + 2.0)
        if self._zeroconf is not None:
            try:
                self._zeroconf.unregister_all_services()
                self._zeroconf.close()
            except Exception:
                pass
            self._zeroconf = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.hang_up_all()
            self._server = None


def _local_ip() -> str:
    """This machine's address on the network with a default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))
            return sock.getsockname()[0]
        except OSError:
            return "127.0.0.1"

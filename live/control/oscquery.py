"""OSCQuery: the OSC namespace as JSON over HTTP, so other software can discover every control.

Follows the OSCQuery proposal (Vidvox, third revision): a GET of a path returns that node with
its attributes: ``FULL_PATH``, ``CONTENTS`` (child nodes) for containers, and ``TYPE`` (OSC
type tags), ``RANGE`` (``MIN``/``MAX``, or ``VALS`` for a choice), ``VALUE`` (the current value,
read from the bus when asked), ``ACCESS`` (1 read, 2 write, 3 both), ``CLIPMODE`` and
``DESCRIPTION`` for methods. ``?ATTRIBUTE`` returns that attribute alone and ``/?HOST_INFO``
describes the server (name, OSC port and transport, the extensions served).

The tree is built once from the registry; only ``VALUE`` is filled per request, from one bus
snapshot. The server runs on its own threads (the standard library's threading HTTP server)
and answers only clients inside ``osc.allow``. A thread per connection is only safe bounded:
at most ``MAX_CONNECTIONS`` at once (past that the oldest, if held longer than
``EVICT_AFTER_S``, is hung up on, else the new one), each read times out after
``IDLE_TIMEOUT_S`` and no connection lives past ``CONNECTION_LIFETIME_S``, so idle or slow
sockets cannot pile up threads or lock out a browser; a client that goes away mid-reply is a
rate-limited log line, not a traceback on stderr. When the ``zeroconf`` package is installed and
``oscquery.zeroconf`` is on, the service is advertised as ``_oscjson._tcp`` (and the OSC port
as ``_osc._udp``) so browsers of the network find it without typing an address.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import numpy as np

from live.config import OscConfig, OscQueryConfig
from live.control.osc import NORM, SLOT, SYNC, Allowlist, OscError, RateLimitedLog, build_routes
from live.params import Bus, Param

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 16
"""Connections served at once, each on its own thread (a browser or two use a few)."""
EVICT_AFTER_S = 1.0
"""When full, the oldest connection is hung up on if it has been open this long (a request is
answered in milliseconds: one held longer is idle or slow), else the new one is refused."""
IDLE_TIMEOUT_S = 5.0
"""Each read and write on a connection gives up after this long."""
CONNECTION_LIFETIME_S = 30.0
"""A connection is closed after this long whatever it does (a byte every few seconds would
otherwise keep it forever); keep-alive clients simply reconnect."""
LISTEN_BACKLOG = 128

EXTENSIONS = {"ACCESS": True, "VALUE": True, "RANGE": True, "DESCRIPTION": True,
              "CLIPMODE": True, "TAGS": False, "UNIT": False, "CRITICAL": False,
              "LISTEN": False, "PATH_CHANGED": False}
ATTRIBUTES = ("FULL_PATH", "CONTENTS", "TYPE", "RANGE", "VALUE", "ACCESS", "CLIPMODE",
              "DESCRIPTION")


class Namespace:
    """The JSON tree of every OSC address, with values filled from the bus on request."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.registry = bus.registry
        self._values = np.zeros(len(self.registry.params))
        self.root: dict = {"FULL_PATH": "/", "CONTENTS": {},
                           "DESCRIPTION": "live: real-time generative performance server"}
        self.nodes: dict[str, dict] = {"/": self.root}
        self._valued: list[tuple[dict, Param, int]] = []
        for address, route in build_routes(self.registry).items():
            self._add(address, route)

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
        """Fill every VALUE from one bus snapshot."""
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

    def host_info(self, osc_port: int, osc_ip: str = "") -> dict:
        info = {"NAME": "live", "OSC_PORT": osc_port, "OSC_TRANSPORT": "UDP",
                "EXTENSIONS": EXTENSIONS}
        if osc_ip:
            info["OSC_IP"] = osc_ip
        return info


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        owner = self.server.owner
        if not owner.allowed(self.client_address[0]):
            owner.blocked += 1
            self._reply(403, {"error": "not in osc.allow"})
            return
        parts = urlsplit(self.path)
        path = unquote(parts.path).rstrip("/") or "/"
        query = unquote(parts.query)
        if query == "HOST_INFO":
            self._reply(200, owner.namespace.host_info(owner.osc_port, owner.osc_ip))
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

    def _reply(self, status: int, body: dict) -> None:
        self._send(status, json.dumps(body).encode())

    def _send(self, status: int, data: bytes) -> None:
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
        self.send_header("Access-Control-Allow-Origin", "*")
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

    def _forget(self, request: socket.socket) -> None:
        with self._lock:
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
    """HTTP server of the namespace, plus the optional zeroconf advertisement."""

    def __init__(self, bus: Bus, cfg: OscQueryConfig, osc: OscConfig, osc_port: int,
                 host: str | None = None) -> None:
        self.cfg = cfg
        self.namespace = Namespace(bus)
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

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self.cfg.port

    def open_connections(self) -> int:
        """Connections being served right now (each on its own thread)."""
        return self._server.threads_alive if self._server else 0

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


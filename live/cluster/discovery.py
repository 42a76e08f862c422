"""Finding the leader on the local network with zeroconf (mDNS / DNS-SD).

A leader with ``[cluster] zeroconf = true`` (the default) advertises the service
``_live-cluster._udp.local.`` with its OSC port (the port followers ping and say hello to) and
the machine's IPv4 addresses. A follower given no leader address (``--follow`` alone, or
``[cluster] leader = ""`` with ``role = "follower"``) browses for that service and follows the
first leader it finds. The ``zeroconf`` package does the multicast; where it is missing or
multicast does not work, the leader shows on unadvertised and the follower says so and keeps
looking (give it the address instead).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence

log = logging.getLogger(__name__)

SERVICE = "_live-cluster._udp.local."


def _addresses() -> list[str]:
    """This machine's IPv4 addresses a follower could reach (loopback only when alone)."""
    try:
        from zeroconf import get_all_addresses
        found = [a for a in get_all_addresses() if not a.startswith("127.")]
    except Exception:
        found = []
    return found or ["127.0.0.1"]


class Advertiser:
    """The leader's advertisement; ``start`` never raises (a show without multicast goes on)."""

    def __init__(self, osc_port: int, interfaces: Sequence[str] | None = None,
                 name: str | None = None) -> None:
        self.osc_port = osc_port
        self.interfaces = list(interfaces) if interfaces else None
        self.name = name or (socket.gethostname().split(".")[0] or "live")
        self.service_name: str | None = None
        """The name registered (``live leader on HOST._live-cluster._udp.local.``)."""
        self._zeroconf = None
        self._closed = False
        self._lock = threading.Lock()

    def start(self) -> bool:
        try:
            from zeroconf import ServiceInfo, Zeroconf
        except ImportError:
            log.info("cluster: zeroconf not installed, the leader is not advertised")
            return False
        try:
            addresses = self.interfaces or _addresses()
            zc = Zeroconf(interfaces=self.interfaces) if self.interfaces else Zeroconf()
            info = ServiceInfo(SERVICE, f"live leader on {self.name}.{SERVICE}",
                               port=self.osc_port,
                               addresses=[socket.inet_aton(a) for a in addresses],
                               server=f"{self.name}.local.")
            # two leaders on one network (or a restart quicker than the goodbye packets):
            # "... (2)" rather than an error
            zc.register_service(info, allow_name_change=True)
        except Exception as exc:
            log.warning("cluster: zeroconf advertisement failed: %s", exc)
            return False
        with self._lock:
            closed = self._closed
            if not closed:
                self._zeroconf, self.service_name = zc, info.name
        if closed:  # closed while this started (a show stopped at once): take it back
            zc.unregister_all_services()
            zc.close()
            return False
        log.info("cluster: advertised as %r (zeroconf, OSC port %d)", info.name, self.osc_port)
        return True

    def close(self) -> None:
        with self._lock:
            zc, self._zeroconf, self._closed = self._zeroconf, None, True
        if zc is not None:
            try:
                zc.unregister_all_services()
                zc.close()
            except Exception:
                pass


def browse(timeout_s: float, stop: threading.Event | None = None,
           interfaces: Sequence[str] | None = None) -> tuple[str, int, str] | None:
    """The first leader found within ``timeout_s``: (IPv4 address, OSC port, service name),
    or None (none found, ``stop`` set, or no zeroconf)."""
    try:
        from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf
    except ImportError:
        log.warning("cluster: zeroconf not installed: cannot look for the leader; give its "
                    "address ([cluster] leader or --follow HOST[:PORT])")
        return None
    found: list[tuple[str, int, str]] = []
    done = threading.Event()

    def on_change(zeroconf, service_type, name, state_change) -> None:
        if state_change is not ServiceStateChange.Added or done.is_set():
            return
        info = zeroconf.get_service_info(service_type, name, timeout=3000)
        if info is None or not info.port:
            return
        v4 = [a for a in info.parsed_addresses() if ":" not in a]
        if v4:
            found.append((v4[0], int(info.port), name))
            done.set()

    try:
        zc = Zeroconf(interfaces=list(interfaces)) if interfaces else Zeroconf()
    except Exception as exc:
        log.warning("cluster: zeroconf cannot start (%s): give the leader's address", exc)
        return None
    try:
        browser = ServiceBrowser(zc, SERVICE, handlers=[on_change])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not done.is_set():
            if stop is not None and stop.is_set():
                break
            done.wait(0.05)
        browser.cancel()
    finally:
        zc.close()
    return found[0] if found else None

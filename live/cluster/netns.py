"""Hosts as Linux network namespaces on a private bridge: several ``live`` nodes on one machine.

Layout of a cluster of N hosts (``with Cluster(3) as cluster: ...``)::

    namespace <run>-sw   bridge br0 (no address) with ports p0 .. pN-1
    namespace <run>-h0   lo, eth0 = 10.77.0.1/24   (the peer of p0)
    namespace <run>-h1   lo, eth0 = 10.77.0.2/24   (the peer of p1)
    ...

Every interface is created inside the namespaces (``ip -n``), so the machine's own interfaces and
routes are never touched, and the bridge has no port outside them: nothing the hosts send leaves
the namespaces. A host has no default route (an address outside 10.77.0.0/24 is unreachable) and a
multicast route on eth0, so Ableton Link's discovery (multicast 224.76.78.75:20808) and zeroconf
reach the other hosts. The bridge floods multicast (snooping off) and forwards at once (no STP).

Names carry the creating process's id and a random tag (``lvc-<pid>-<tag>-h0``), so parallel runs
do not collide; a run that crashed leaves namespaces whose pid is gone, and the next cluster
removes them. Needs root and iproute2 (``ip``); :func:`available` says why not when it cannot run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field

PREFIX = "lvc"
SUBNET = "10.77.0"
MULTICAST = "224.0.0.0/4"

_available: str | None | bool = False  # False: not checked yet


class NetnsError(RuntimeError):
    pass


def _ip(*args: str, check: bool = True, timeout: float = 20.0) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {result.stderr.strip() or result.returncode}")
    return result


def namespaces() -> list[str]:
    """The names of the machine's named network namespaces (``ip netns list``)."""
    result = _ip("netns", "list", check=False)
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def link_bench_problem() -> str | None:
    """Why a Link measurement between namespaces cannot run here (LinkPython-extern missing,
    or ``available()``'s reason), or None."""
    try:
        import link  # noqa: F401  (LinkPython-extern)
    except ImportError:
        return "LinkPython-extern is not installed"
    return available()


def available() -> str | None:
    """None when network namespaces with a bridge can be built here, else the reason why not
    (not root, no ``ip`` command, or the kernel/container refuses namespaces, veth, bridges or
    entering a namespace)."""
    global _available
    if _available is not False:
        return _available
    reason = None
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        reason = "network namespaces need root"
    elif shutil.which("ip") is None:
        reason = "network namespaces need iproute2 (the ip command)"
    else:
        name = f"{PREFIX}-{os.getpid()}-{secrets.token_hex(3)}-chk"
        try:
            _ip("netns", "add", name)
            _ip("-n", name, "link", "add", "br0", "type", "bridge")
            _ip("-n", name, "link", "add", "p0", "type", "veth", "peer", "name", "eth0")
            _ip("netns", "exec", name, "true")
        except (NetnsError, OSError, subprocess.TimeoutExpired) as exc:
            reason = f"cannot build a network namespace with a bridge and veth here: {exc}"
        finally:
            _ip("netns", "del", name, check=False)
    _available = reason
    return reason


def _pids_in(netns: str) -> list[int]:
    result = _ip("netns", "pids", netns, check=False)
    return [int(word) for word in result.stdout.split() if word.isdigit()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _delete(netns: str) -> None:
    """Delete a namespace of ours: end the processes still in it (ours: started in it), then the
    name; the kernel frees the namespace and its interfaces when the last process leaves."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _pids_in(netns)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        end = time.monotonic() + 3.0
        while time.monotonic() < end and any(_alive(pid) for pid in pids):
            time.sleep(0.02)
    _ip("netns", "del", netns, check=False)


def cleanup_stale(prefix: str = PREFIX) -> list[str]:
    """Remove the namespaces a crashed run left behind: ``<prefix>-<pid>-...`` whose pid is gone.
    Returns the names removed."""
    removed = []
    for name in namespaces():
        parts = name.split("-")
        if len(parts) < 3 or parts[0] != prefix or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid == os.getpid() or _alive(pid):
            continue
        _delete(name)
        removed.append(name)
    return removed


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a host's command starts with: nothing of ours but the search path, home,
    locale and a headless SDL, plus ``extra``."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "SDL_VIDEODRIVER": "dummy",
        "SDL_AUDIODRIVER": "dummy",
        "PYGAME_HIDE_SUPPORT_PROMPT": "1",
    }
    if extra:
        env.update(extra)
    return env


@dataclass
class Host:
    """One host of a cluster: the namespace ``netns`` with ``address`` on its eth0."""

    name: str
    netns: str
    address: str
    _procs: list[subprocess.Popen] = field(default_factory=list, repr=False)

    def argv(self, cmd: list[str], env: dict[str, str] | None = None) -> list[str]:
        """``cmd`` as run in this host with a clean environment (see :func:`clean_env`)."""
        pairs = [f"{key}={value}" for key, value in clean_env(env).items()]
        return ["ip", "netns", "exec", self.netns, "env", "-i", *pairs, *cmd]

    def run(self, cmd: list[str], env: dict[str, str] | None = None, timeout: float = 60.0,
            **kwargs) -> subprocess.CompletedProcess:
        """Run ``cmd`` in this host to its end (output captured as text unless told otherwise)."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(self.argv(cmd, env), timeout=timeout, **kwargs)

    def popen(self, cmd: list[str], env: dict[str, str] | None = None,
              **kwargs) -> subprocess.Popen:
        """Start ``cmd`` in this host; the cluster ends it (if still running) when it closes."""
        proc = subprocess.Popen(self.argv(cmd, env), **kwargs)
        self._procs.append(proc)
        return proc

    def stop(self, timeout: float = 5.0) -> None:
        """End the processes started with :meth:`popen` (SIGTERM, then SIGKILL)."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        self._procs.clear()


class Cluster:
    """``n`` hosts on one private bridge; a context manager that removes everything on exit."""

    def __init__(self, n: int = 3, prefix: str = PREFIX) -> None:
        if not 1 <= n <= 250:
            raise ValueError("a cluster has 1 to 250 hosts")
        self.n = n
        self.prefix = prefix
        self.run_id = f"{prefix}-{os.getpid()}-{secrets.token_hex(3)}"
        self.switch = f"{self.run_id}-sw"
        self.hosts: list[Host] = []
        self._made: list[str] = []

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getitem__(self, index: int) -> Host:
        return self.hosts[index]

    def __iter__(self):
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    def _add_netns(self, name: str) -> None:
        _ip("netns", "add", name)
        self._made.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def start(self) -> None:
        reason = available()
        if reason:
            raise NetnsError(reason)
        cleanup_stale(self.prefix)
        sw = self.switch
        self._add_netns(sw)
        _ip("-n", sw, "link", "add", "br0", "type", "bridge", "stp_state", "0",
            "forward_delay", "0", "mcast_snooping", "0")
        _ip("-n", sw, "link", "set", "br0", "up")
        for i in range(self.n):
            host = Host(f"h{i}", f"{self.run_id}-h{i}", f"{SUBNET}.{i + 1}")
            self._add_netns(host.netns)
            _ip("-n", sw, "link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0",
                "netns", host.netns)
            _ip("-n", sw, "link", "set", f"p{i}", "master", "br0")
            _ip("-n", sw, "link", "set", f"p{i}", "up")
            _ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _ip("-n", host.netns, "link", "set", "eth0", "up")
            _ip("-n", host.netns, "route", "add", MULTICAST, "dev", "eth0")
            self.hosts.append(host)

    def close(self) -> None:
        """End the hosts' processes and delete every namespace of this cluster (idempotent)."""
        for host in self.hosts:
            try:
                host.stop()
            except Exception:
                pass
        for name in reversed(self._made):
            _delete(name)
        self._made.clear()
        self.hosts.clear()

    def leftovers(self) -> list[str]:
        """Namespaces of this cluster still present (empty after :meth:`close`)."""
        return [name for name in namespaces() if name.startswith(self.run_id + "-")]

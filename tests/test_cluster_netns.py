"""Test hosts in network namespaces (live.cluster.netns) and Link clock agreement between them.

Real namespaces, veth pairs, a bridge and real UDP sockets; needs root and iproute2 (skipped with
the reason elsewhere). The Link part needs LinkPython-extern as well.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from live.cluster import netns
from live.cluster.netns import Cluster

REASON = netns.available()
needs_netns = pytest.mark.skipif(REASON is not None, reason=REASON or "")

# in a host: receive one datagram on PORT and send it back (prints "ready" once bound)
ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
s.settimeout(30)
data, peer = s.recvfrom(100)
s.sendto(data.upper(), peer)
"""

# in a host: send a datagram to HOST:PORT, print the answer
ASK = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(30)
s.sendto(b"hello", (sys.argv[1], int(sys.argv[2])))
print(s.recvfrom(100)[0].decode())
"""

# in a host: try to send to an address; print the errno (0: it went out)
SEND = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b"x", (sys.argv[1], 9))
    print(0)
except OSError as exc:
    print(exc.errno)
"""


def _root_links() -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return sorted(line.split(":")[1].strip() for line in out.splitlines())


def _root_addrs() -> list[str]:
    out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True).stdout
    return sorted(" ".join(line.split()[1:4]) for line in out.splitlines())


@pytest.fixture(scope="module")
def cluster():
    links, addrs = _root_links(), _root_addrs()
    with Cluster(3) as made:
        made.root_before = (links, addrs)
        yield made


@needs_netns
def test_hosts_reach_each_other_over_the_bridge(cluster):
    server, client = cluster[2], cluster[0]
    echo = server.popen([sys.executable, "-c", ECHO, server.address, "47001"],
                        stdout=subprocess.PIPE, text=True)
    assert echo.stdout.readline().strip() == "ready"
    answer = client.run([sys.executable, "-c", ASK, server.address, "47001"])
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "HELLO"
    assert echo.wait(timeout=30) == 0


@needs_netns
def test_nothing_leaves_the_namespaces(cluster):
    host = cluster[1]
    # no default route: only the cluster's subnet and the multicast route
    routes = host.run(["ip", "route", "show"]).stdout
    assert "default" not in routes
    assert f"{netns.SUBNET}.0/24 dev eth0" in routes
    assert "224.0.0.0/4 dev eth0" in routes
    # an address outside the subnet is unreachable from a host
    for outside in ("192.0.2.1", "10.77.1.1", "8.8.8.8"):
        sent = host.run([sys.executable, "-c", SEND, outside])
        assert sent.stdout.strip() == str(errno.ENETUNREACH), (outside, sent.stdout, sent.stderr)
    # a host's interfaces: lo and its end of the veth pair, nothing else
    links = host.run(["ip", "-o", "link", "show"]).stdout.splitlines()
    assert sorted(line.split(":")[1].strip().split("@")[0] for line in links) == ["eth0", "lo"]
    # the bridge's ports are the hosts' veth peers, and the bridge itself has no address
    ports = subprocess.run(["ip", "-n", cluster.switch, "-o", "link", "show", "master", "br0"],
                           capture_output=True, text=True).stdout.splitlines()
    assert sorted(line.split(":")[1].strip().split("@")[0] for line in ports) == ["p0", "p1", "p2"]
    bridge = subprocess.run(["ip", "-n", cluster.switch, "-o", "addr", "show", "dev", "br0"],
                            capture_output=True, text=True).stdout
    assert " inet " not in bridge
    # the machine's own interfaces and addresses are as they were before the cluster
    assert (_root_links(), _root_addrs()) == cluster.root_before


@needs_netns
def test_link_probes_find_each_other_and_agree_on_phase(cluster):
    pytest.importorskip("link", reason="LinkPython-extern is not installed")
    from live.cluster.linkprobe import measure

    report = measure(seconds=5.0, rate=100.0, join_timeout=45.0, cluster=cluster)
    print("link clock agreement:", json.dumps(report))
    assert "error" not in report, report
    assert report["peers_min"] == 2
    assert report["tempo_steady"]
    assert report["instants"] >= 400
    # generous for a loaded CI machine; the target (p99 <= 2 ms) is the bench's
    assert report["spread_ms"]["p99"] <= 5.0, report


@needs_netns
def test_teardown_leaves_nothing_and_stale_runs_are_removed():
    # a namespace a crashed run left behind: the prefix with a pid that no longer runs
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = f"{netns.PREFIX}-{gone.pid}-dead00-h0"
    if netns._alive(gone.pid):  # the pid was taken again at once: nothing to show here
        pytest.skip("the dead pid was reused")
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        before = _root_links()
        with Cluster(2) as made:
            assert stale not in netns.namespaces()
            assert len(made.leftovers()) == 3
            made[0].popen(["sleep", "300"])  # a process still running in a host
        assert made.leftovers() == []
        assert not [n for n in netns.namespaces() if n.startswith(made.run_id)]
        assert _root_links() == before
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)


def test_names_are_unique_per_cluster():
    a, b = Cluster(1), Cluster(1)
    assert a.run_id != b.run_id
    assert a.run_id.startswith(f"{netns.PREFIX}-{os.getpid()}-")


def test_compare_measures_a_known_offset_across_the_bar_line():
    """The comparison itself, on made-up samples: host b runs 1.5 ms behind host a, a whole bar
    (4 beats) apart in its beat count, sampled at slightly different instants."""
    pytest.importorskip("numpy")
    from live.cluster.linkprobe import compare

    bpm, quantum, period = 120.0, 4.0, 10_000_000
    start = 10**12
    beat_ns = 60e9 / bpm

    def samples(jitter_ns, offset_ms, bar):
        t = [start + k * period + jitter_ns for k in range(200)]
        beat = [(x - start) / beat_ns + bar * quantum + 3.9 - offset_ms * 1e6 / beat_ns
                for x in t]
        return {"t_ns": t, "beat": beat, "tempo": [bpm] * 200, "bracket_ns": [1000] * 200}

    report = compare([samples(0, 0.0, 0), samples(3_000_000, 1.5, 1), samples(-2_000_000, 0.0, 7)],
                     ["a", "b", "c"], quantum, start, period, 200)
    assert report["pairs"]["a-b"]["mean"] == pytest.approx(1.5, abs=1e-3)
    assert report["pairs"]["a-c"]["max"] == pytest.approx(0.0, abs=1e-3)
    assert report["spread_ms"]["p50"] == pytest.approx(1.5, abs=1e-3)
    assert report["instants"] >= 195

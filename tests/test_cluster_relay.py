"""Leader and followers (live/cluster/relay.py, sync.py): the clock logic and the relay over real
UDP on this machine, then a leader and two followers as real ``live run`` processes in network
namespaces (root only; skipped with the reason elsewhere)."""

from __future__ import annotations

import math
import os
import signal
import time
from types import SimpleNamespace

import numpy as np
import pytest

from live.cluster import relay
from live.cluster.sync import HOLD_S, LeaderClock, OffsetEstimator, SteeredClock
from live.control.tempo import BeatClock
from live.modulation import SourceTable
from live.params import Bus, Controls, Registry
from live.walk import Walk
from tests.conftest import wait_for

REG = Registry()


class FakeTime:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# ----------------------------------------------------------------------------- clock logic
def test_estimator_trusts_the_smallest_round_trip():
    est = OffsetEstimator(window=4)
    # true offset 5.0; the slow sample has an asymmetric path (queued on the way out)
    est.add(0.0, 5.030, 5.030, 0.031)  # rtt 31 ms, offset off by 15 ms
    est.add(1.0, 6.0005, 6.0006, 1.0011)  # rtt 1.0 ms
    rtt, offset = est.best()
    assert rtt == pytest.approx(0.001)
    assert offset == pytest.approx(5.0, abs=1e-6)
    assert est.add(2.0, 1.0, 1.0, 1.0) is None  # negative round trip: dropped
    for i in range(4):  # the good sample falls out of the window
        est.add(10.0 + i, 15.0 + i + 0.01, 15.0 + i + 0.01, 10.02 + i)
    assert est.best()[0] == pytest.approx(0.02)


def test_steered_clock_jumps_once_then_slews_and_never_goes_back():
    ft = FakeTime(100.0)
    clock = SteeredClock(slew=0.02, time_fn=ft)
    assert clock.read() == pytest.approx(0.0)
    ft.t += 1.0
    assert clock.read() == pytest.approx(1.0)  # on its own: local show time
    clock.steer(50.0 - ft.t)  # the leader is at 50 s: taken at once
    assert clock.read() == pytest.approx(50.0)
    assert clock.base == 0.0
    clock.steer(50.0 - ft.t - 0.010)  # 10 ms behind: slewed in at 2 %, never backwards
    readings = []
    for _ in range(100):
        ft.t += 0.01
        readings.append(clock.read())
    assert all(b >= a for a, b in zip(readings, readings[1:], strict=False))
    assert clock.error == pytest.approx(0.0, abs=1e-9)  # 10 ms in after 0.5 s, done by 1 s
    assert readings[-1] == pytest.approx(50.0 + 1.0 - 0.010)


def test_steered_clock_rebases_on_a_leader_far_behind_and_holds_when_close():
    ft = FakeTime(0.0)
    clock = SteeredClock(time_fn=ft)
    ft.t = 30.0
    clock.steer(2.0 - ft.t)  # a leader that started later than us, 28 s behind
    assert clock.base == pytest.approx(28.0)
    assert clock.read() == pytest.approx(30.0)  # our show goes on
    assert clock.leader_now() == pytest.approx(2.0)
    ft.t = 31.0
    clock.rebase(0.5 - ft.t)  # the leader restarted: its time is 0.5
    assert clock.base == pytest.approx(31.0 - 0.5)
    assert clock.read() == pytest.approx(31.0)
    near = SteeredClock(time_fn=ft)
    ft.t = 35.0
    near.read()
    near.steer(4.0 - 0.5 * HOLD_S - ft.t)  # behind us by less than HOLD_S: wait for it
    assert near.base == 0.0
    before = near.read()
    ft.t += 0.1
    assert near.read() == before  # held still until the leader catches up


def test_parse_leader_and_wire_round_trip():
    assert relay.parse_leader("10.0.0.5") == ("10.0.0.5", 8000)
    assert relay.parse_leader("show-a:9000") == ("show-a", 9000)
    assert relay.parse_leader("[fe80::1]:7000") == ("fe80::1", 7000)
    with pytest.raises(ValueError):
        relay.parse_leader("host:port")
    at = 1234.567890123
    msgs = [relay.message("/live/cluster/set", [at, f"p{i}", 0.25]) for i in range(400)]
    packets = relay.bundles(msgs)
    assert len(packets) > 1 and all(len(p) <= relay.MAX_DATAGRAM for p in packets)
    parsed = [m for p in packets for m in relay.parse(p)]
    assert len(parsed) == 400
    assert parsed[0] == ("/live/cluster/set", [at, "p0", 0.25])  # doubles: exact times
    assert relay.parse(b"garbage") == []


# ----------------------------------------------------------------------------- over UDP
def _engine(bus: Bus):
    walk = Walk(8, seed=0)
    return SimpleNamespace(bus=bus, registry=bus.registry, walk=walk, timeline=None)


def _step(engine, controls, sources, beat, t0, t1):
    engine.bus.drain(controls)
    engine.timeline.advance(t0, t1, controls, engine.walk, beat, sources, engine.bus)


def test_leader_relays_stamped_changes_that_a_follower_applies_at_the_same_time():
    leader = relay.Leader(delay_frames=2, frame_rate=60.0, trace=relay.Trace(None, "leader"))
    lead_engine = _engine(Bus(REG))
    leader.attach(lead_engine)
    leader.start()
    # the leader's OSC port, reduced to what it does for /live/cluster/*
    import socket
    import threading

    osc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    osc.bind(("127.0.0.1", 0))
    osc.settimeout(0.1)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, client = osc.recvfrom(65536)
            except TimeoutError:
                continue
            for address, args in relay.parse(data):
                leader.handle(address, args, client)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    follower = relay.Follower(("127.0.0.1", osc.getsockname()[1]), port=0, host="127.0.0.1",
                              trace=relay.Trace(None, "follower"))
    fol_engine = _engine(Bus(REG))
    follower.attach(fol_engine)
    try:
        follower.start()
        assert wait_for(lambda: follower.locked and follower.state_session == leader.session,
                        timeout=30)
        assert abs(follower.clock.leader_now() - leader.clock.now()) < 0.005
        # a controller sets a value on the leader: not applied at once, stamped 2 frames on
        lead_engine.bus.set("fx.hue", 0.4)
        assert lead_engine.bus.get("fx.hue") != pytest.approx(0.4)
        lead_engine.bus.trigger("cue.store", 3)
        lead_engine.bus.trigger("show.hud")  # local: not relayed, queued at once
        lead_marks = sorted((m[0], m[2]) for m in leader.timeline._marks)
        assert [n for _, n in lead_marks] == ["fx.hue", "cue.store"]

        def fol_marks():
            return {(m[0], m[2]) for m in list(follower.timeline._marks)}
        # the same show time on both nodes (besides the values of the state sent on joining)
        assert wait_for(lambda: set(lead_marks) <= fol_marks(), timeout=10)
        at = lead_marks[-1][0]
        for engine in (lead_engine, fol_engine):
            controls, sources, beat = Controls(REG), SourceTable(), BeatClock()
            _step(engine, controls, sources, beat, at - 1.0, at + 0.001)
            assert controls.target[REG.index["fx.hue"]] == pytest.approx(0.4)
            assert engine.bus.get("fx.hue") == pytest.approx(0.4)
            assert engine.walk.cues[3] is not None
        assert [t.name for t in controls.triggers] == []  # show.hud stayed on the leader
        # audio features, stamped and relayed at the frame rate
        proxy = leader.source_proxy()
        proxy.set("audio.bass", 0.7)
        proxy.event("audio.beat", 1.0)
        assert wait_for(lambda: len(follower.timeline._extra) >= 2, timeout=10)
        # the follower ignores controller OSC; /live/sync still passes
        seen = []
        handler = follower.wrap_osc(lambda *a: seen.append(a[0]))
        handler("/live/fx/hue", [0.9], ("10.0.0.9", 1), 0)
        handler("/live/sync", [], ("10.0.0.9", 1), 0)
        assert seen == ["/live/sync"] and follower.ignored == 1
    finally:
        follower.close()
        stop.set()
        server.join(timeout=2)
        osc.close()
        leader.close()


class _LeaderPort:
    """The leader's OSC port, reduced to what it does for /live/cluster/* (a real socket)."""

    def __init__(self, leader) -> None:
        import socket
        import threading

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(leader,), daemon=True)
        self.thread.start()

    def _serve(self, leader) -> None:
        while not self.stop.is_set():
            try:
                data, client = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            for address, args in relay.parse(data):
                leader.handle(address, args, client)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.sock.close()


class _Node:
    """An engine's render loop reduced to its clock, bus, timeline and walk."""

    def __init__(self, node, clock, dim: int = 16, text=None) -> None:
        self.engine = SimpleNamespace(bus=Bus(REG), registry=REG, walk=Walk(dim, seed=0),
                                      timeline=None, text=text)
        node.attach(self.engine)
        self.clock = clock
        self.controls, self.sources, self.beat = Controls(REG), SourceTable(), BeatClock()
        self.t = 0.0

    def step_to(self, t1: float) -> None:
        self.engine.bus.drain(self.controls)
        self.engine.timeline.advance(self.t, t1, self.controls, self.engine.walk, self.beat,
                                     self.sources, self.engine.bus)
        self.t = t1

    def frame(self) -> None:
        self.step_to(max(self.clock.read(), self.t))

    def latent(self) -> np.ndarray:
        return self.engine.walk.render(self.controls).copy()


def _frames_until(check, *nodes, timeout: float = 30) -> bool:
    """Frames on every node until ``check()`` holds (``wait_for``'s answer)."""
    def step():
        for node in nodes:
            node.frame()
        return check()
    return wait_for(step, timeout=timeout)


def test_a_late_joiner_takes_the_walk_where_the_leader_has_it():
    """A leader whose walk has moved (speed, keyframes, reseed, a held cue gliding in) and a
    follower joining late: at the same show reading both have the same walk and latent."""
    leader = relay.Leader(delay_frames=2, frame_rate=60.0, trace=relay.Trace(None, "leader"))
    lead = _Node(leader, leader.clock)
    port = _LeaderPort(leader)
    bus = lead.engine.bus
    follower = None
    try:
        leader.start()
        for name, value in (("walk.speed", 1.7), ("walk.keyframes", 5), ("walk.energy", 0.8),
                            ("walk.glide", 30.0), ("walk.period", 3.0)):
            bus.set(name, value)
        bus.trigger("walk.reseed")
        for _ in range(20):
            lead.frame()
            time.sleep(0.01)
        bus.set("walk.mode", "noise")
        bus.trigger("cue.store", 2)
        bus.trigger("cue.next")  # with a cue stored: recalls it, a glide of 30 s begins
        for _ in range(10):
            lead.frame()
            time.sleep(0.01)
        walk = lead.engine.walk
        assert walk.held_cue == 2 and walk.phase > 0.0 and len(walk.keyframes) == 5
        follower = relay.Follower(("127.0.0.1", port.port), port=0, host="127.0.0.1",
                                  trace=relay.Trace(None, "follower"))
        fol = _Node(follower, follower.clock)
        follower.start()
        assert _frames_until(lambda: follower.in_step, lead, fol)
        assert follower.clock.base == 0.0
        fol_walk = fol.engine.walk
        assert fol_walk.seed == walk.seed and fol_walk.held_cue == 2
        # the same show reading on both: the same walk and the same latent
        for extra in (0.5, 1.25):
            at = max(lead.t, fol.t) + extra
            lead.step_to(at)
            fol.step_to(at)
            for name in ("phase", "noise_laps", "jitter_s", "_glide_elapsed_s"):
                assert getattr(fol_walk, name) == pytest.approx(getattr(walk, name),
                                                                 rel=1e-9, abs=1e-9), name
            assert fol_walk.mode == walk.mode == "noise"
            np.testing.assert_allclose(fol.controls.smoothed, lead.controls.smoothed,
                                       rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(fol.latent(), lead.latent(), rtol=1e-9, atol=1e-9)
        # after a release the two glide back into the same walk
        bus.trigger("cue.release")
        release_at = max(m[0] for m in leader.timeline._marks)
        assert wait_for(lambda: any(m[2] == "cue.release" for m in list(
            follower.timeline._marks)), timeout=10)
        at = max(lead.t, fol.t, release_at) + 2.0
        lead.step_to(at)
        fol.step_to(at)
        assert fol_walk.held_cue is None and walk.held_cue is None
        np.testing.assert_allclose(fol.latent(), lead.latent(), rtol=1e-9, atol=1e-9)
    finally:
        if follower is not None:
            follower.close()
        port.close()
        leader.close()


def test_walk_state_round_trip_steps_on_by_the_time_it_came_late():
    """``set_walk_state`` with ``dt``: a state taken at t, set at t + dt, equals the walk
    that went on to t + dt itself (the step cut at another place)."""
    controls = Controls(REG)
    controls.set_target("walk.speed", 2.5)
    controls.set_target("walk.energy", 0.5)
    walk = Walk(12, seed=3)
    for _ in range(7):
        controls.step(0.05)
        walk.advance(0.05, controls, float(controls.integral[REG.index["walk.speed"]]))
    walk.handle(relay.TriggerEvent("walk.reseed", 1.0, 0, ""))
    blob = relay.walk_state(walk, controls)
    other, other_controls = Walk(12, seed=99), Controls(REG)
    assert relay.set_walk_state(other, other_controls, blob, 0.3)
    for _ in range(3):
        controls.step(0.1)
        walk.advance(0.1, controls, float(controls.integral[REG.index["walk.speed"]]))
    assert other.phase == pytest.approx(walk.phase, abs=1e-12)
    np.testing.assert_allclose(other.render(other_controls), walk.render(controls),
                               rtol=1e-9, atol=1e-9)
    # the integrals since the show started too (the compositor's spin and layer phases)
    np.testing.assert_allclose(other_controls.total, controls.total, rtol=1e-12, atol=1e-12)
    assert controls.total[REG.index["walk.speed"]] > 0.5
    assert not relay.set_walk_state(Walk(4, seed=0), Controls(REG), blob)  # another size


def test_a_followers_keyboard_steers_the_leader_and_keeps_its_own_keys_local():
    """Keys on a follower go to the leader as controller OSC (a real UDP socket standing for
    the leader's OSC port, read by a real ``OscInput``); show keys stay on the follower."""
    import socket

    import pygame

    from live.config import OscConfig
    from live.control.keyboard import handle_key
    from live.control.osc import OscInput

    port = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    port.bind(("127.0.0.1", 0))
    port.settimeout(5.0)
    follower = relay.Follower(port.getsockname(), port=0, host="127.0.0.1",
                              trace=relay.Trace(None, "follower"))
    engine = _engine(Bus(REG))
    follower.attach(engine)
    follower.start()
    lead_bus = Bus(REG)
    osc = OscInput(lead_bus, OscConfig())
    try:
        for key in (pygame.K_UP, pygame.K_b, pygame.K_3, pygame.K_t, pygame.K_h, pygame.K_x):
            handle_key(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0), engine.key_bus)
        got = []
        while len(got) < 5:
            data, client = port.recvfrom(65536)
            got += [(a, args) for a, args in relay.parse(data)
                    if not a.startswith(relay.PREFIX)]  # not its hellos and pings
        assert [a for a, _ in got] == ["/live/walk/speed", "/live/fx/flash", "/live/walk/mode",
                                       "/live/tempo/tap", "/live/text/visible"]
        for address, args in got:
            osc.handle_message(address, args, client, 0)
        assert osc.stats.applied == 5
        assert lead_bus.get("walk.speed") == pytest.approx(REG["walk.speed"].default * 1.25)
        assert lead_bus.get("walk.mode") == REG["walk.mode"].clamp("orbit")
        assert lead_bus.get("text.visible") == 1.0
        assert sorted(t.name for t in lead_bus._triggers) == ["fx.flash", "tempo.tap"]
        # on the follower: only the HUD key, and nothing changed that the leader owns
        assert [t.name for t in engine.bus._triggers] == ["show.hud"]
        assert engine.bus.get("walk.speed") == REG["walk.speed"].default
        assert engine.key_bus.forwarded == 5
    finally:
        follower.close()
        port.close()


def test_a_garbled_walk_state_is_refused_and_changes_nothing():
    """A walk state is read on the render thread: cut, wrong shapes, NaN, a bad random state
    or a bad mode are refused before anything is changed."""
    import json
    import struct

    controls = Controls(REG)
    walk = Walk(12, seed=3)
    blob = relay.walk_state(walk, controls)
    size = struct.unpack_from("<I", blob)[0]
    head = json.loads(blob[4:4 + size])

    def with_head(**changes) -> bytes:
        text = json.dumps({**head, **changes}).encode()
        return struct.pack("<I", len(text)) + text + blob[4 + size:]

    target = Walk(12, seed=7)
    before = (target.phase, target.keyframes.copy(), target.seed)
    bad = [blob[: len(blob) // 2], b"\x00\x00", b"\xff\xff\xff\xff" + blob[4:],
           with_head(shapes=[[10**9, 12]] + head["shapes"][1:]),
           with_head(shapes=head["shapes"][:-1]), with_head(mode="sideways"),
           with_head(phase=float("nan")), with_head(held_cue=99),
           with_head(rng={"bit_generator": "nope"}),
           with_head(shapes=[[1000, 12]] + head["shapes"][1:])]
    for garbled in bad:
        assert not relay.set_walk_state(target, controls, garbled)
    assert (target.phase, target.seed) == before[::2]
    np.testing.assert_array_equal(target.keyframes, before[1])


def test_a_follower_without_an_address_finds_the_leader_with_zeroconf(caplog):
    """mDNS on the loopback interface: the leader advertises _live-cluster._udp with its OSC
    port, a follower given no address browses, follows it and gets its state."""
    from live.cluster import discovery

    pytest.importorskip("zeroconf")
    lo = ["127.0.0.1"]
    cfg = SimpleNamespace(role="solo", leader="", port=0, delay_frames=2, frame_rate=60.0,
                          zeroconf=True)
    assert relay.make_node(cfg, follow="").leader is None  # --follow alone: zeroconf
    with pytest.raises(ValueError, match="zeroconf"):
        relay.make_node(SimpleNamespace(**{**vars(cfg), "zeroconf": False}), follow="")
    # nobody advertises yet: the follower says so after DISCOVER_S and looks on
    lonely = relay.Follower(None, port=0, host="127.0.0.1", trace=relay.Trace(None, "f"),
                            zeroconf_interfaces=lo)
    old = relay.DISCOVER_S
    relay.DISCOVER_S = 0.5
    try:
        with caplog.at_level("WARNING", logger="live.cluster.relay"):
            lonely.start()
            assert wait_for(lambda: "no leader found with zeroconf" in caplog.text, timeout=30)
        assert lonely.leader is None and "looking" in lonely.hud_line()
    finally:
        relay.DISCOVER_S = old
        lonely.close()
    leader = relay.Leader(trace=relay.Trace(None, "leader"), zeroconf_interfaces=lo,
                          osc_port=1)  # the port is set below, once the socket is bound
    lead = _Node(leader, leader.clock)
    port = _LeaderPort(leader)
    leader.advertiser.osc_port = port.port
    follower = None
    try:
        leader.start()
        if not wait_for(lambda: leader.advertiser.service_name is not None, timeout=30):
            pytest.skip("zeroconf cannot advertise on the loopback interface here")
        found = discovery.browse(15.0, interfaces=lo)
        if found is None:
            pytest.skip("mDNS over the loopback interface does not work here")
        assert found[:2] == ("127.0.0.1", port.port)
        follower = relay.Follower(None, port=0, host="127.0.0.1",
                                  trace=relay.Trace(None, "follower"), zeroconf_interfaces=lo)
        fol = _Node(follower, follower.clock, dim=16)
        follower.start()
        assert _frames_until(lambda: follower.in_step, lead, fol, timeout=60)
        assert follower.leader == ("127.0.0.1", port.port)
        assert follower.session == leader.session
    finally:
        if follower is not None:
            follower.close()
        port.close()
        leader.close()
    assert leader.advertiser._zeroconf is None  # unregistered on close


def test_leader_clock_is_monotonic_seconds_since_start():
    ft = FakeTime(10.0)
    clock = LeaderClock(time_fn=ft)
    ft.t = 12.5
    assert clock.now() == pytest.approx(2.5) and clock.read() == pytest.approx(2.5)
    assert math.isfinite(clock.origin)


# ----------------------------------------------------------------------------- namespaces
def _laps_apart(a: float, b: float) -> float:
    """How far apart two walk phases are, across the wrap (0.9999999 and 1e-15 are close)."""
    d = abs(a - b) % 1.0
    return min(d, 1.0 - d)


def _events(trace, name):
    return [r for r in trace if r.get("event") == name]


def test_leader_and_two_followers_in_network_namespaces(tmp_path):
    from live.cluster import clusterbench as cb
    from live.cluster.netns import Cluster, available

    reason = available()
    if reason:
        pytest.skip(reason)
    traces = [tmp_path / f"h{i}.jsonl" for i in range(3)]
    with Cluster(3) as cluster:
        addr = cluster[0].address
        lead = cb.start_node(cluster[0], ["--leader"], traces[0], tmp_path / "h0.log")
        f1 = cb.start_node(cluster[1], ["--follow", addr], traces[1], tmp_path / "h1.log")
        assert cb.wait_for(lambda: _events(cb.read_trace(traces[1]), "in_step"), 150), \
            (tmp_path / "h1.log").read_text()[-2000:]
        # a late joiner, given no address: finds the leader with zeroconf (multicast between
        # the namespaces), then is in step within a second of its first frame
        cb.start_node(cluster[2], ["--follow"], traces[2], tmp_path / "h2.log")
        assert cb.wait_for(lambda: _events(cb.read_trace(traces[2]), "in_step"), 150), \
            (tmp_path / "h2.log").read_text()[-2000:]
        assert _events(cb.read_trace(traces[2]), "discovered")[0]["leader"] == f"{addr}:8000"
        values = [0.1 + 0.02 * i for i in range(20)]
        cb.send_controls(cluster[0], values, gap_s=0.05)
        time.sleep(2.0)
        data = [cb.read_trace(path) for path in traces]
        report = cb.same_frame(data, values)
        assert report["seen_on_all"] == len(values), report
        assert report["fraction"] >= 0.9, report  # the bench asks 0.99; CI machines are loaded
        errors = np.concatenate([cb.clock_errors_ms(data[0], data[i]) for i in (1, 2)])
        print("clock agreement ms:", cb.percentiles(errors), "late join s:",
              cb.late_join_s(data[2]), "join s:", cb.join_s(data[2]))
        assert len(errors) > 10 and np.percentile(errors, 99) <= 5.0
        assert cb.late_join_s(data[2]) is not None and cb.late_join_s(data[2]) <= 1.0
        # the same walk at the same show time on every node, the late joiner included (each
        # node writes its walk down at whole show seconds)
        lead_walk = {r["walk_at"]: r for r in data[0] if "walk_at" in r}
        for i in (1, 2):
            taken = _events(data[i], "walk_in")[0]["t"]
            common = [r for r in data[i] if "walk_at" in r and r["walk_at"] > taken
                      and r["walk_at"] in lead_walk]
            assert len(common) >= 2, (i, taken, sorted(lead_walk)[-3:])
            for rec in common:
                ref = lead_walk[rec["walk_at"]]
                assert (rec["seed"], rec["held_cue"]) == (ref["seed"], ref["held_cue"])
                assert _laps_apart(rec["phase"], ref["phase"]) < 1e-6, (i, rec, ref)
                np.testing.assert_allclose(rec["latent"], ref["latent"], atol=1e-5)
        # killing a follower leaves the others untouched
        f1.send_signal(signal.SIGKILL)
        f1.wait(timeout=20)
        cb.send_controls(cluster[0], [0.77], gap_s=0.01)
        assert cb.wait_for(lambda: 0.77 in cb.applied(cb.read_trace(traces[2]), "fx.hue"), 30)
        assert lead.poll() is None
        # killing the leader: the follower shows on (its clock keeps going), then re-syncs
        lead.send_signal(signal.SIGKILL)
        lead.wait(timeout=20)
        assert cb.wait_for(lambda: _events(cb.read_trace(traces[2]), "lost"), 30)
        clocks_before = len([r for r in cb.read_trace(traces[2]) if "clock" in r])
        time.sleep(1.0)
        assert len([r for r in cb.read_trace(traces[2]) if "clock" in r]) > clocks_before
        time.sleep(1.5)  # the follower shows on alone, its walk going on
        cb.start_node(cluster[0], ["--leader"], traces[0], tmp_path / "h0b.log")
        assert cb.wait_for(lambda: len(_events(cb.read_trace(traces[2]), "in_step")) >= 2, 150)
        # the restarted leader went on from its saved show (live/cluster/resume.py): its clock
        # where the follower's was (no base, no hold), and its walk where the follower's walk,
        # left on its own, got to at the same show seconds
        def since_restart():  # the restarted leader's part of its trace (written as it goes)
            trace = cb.read_trace(traces[0])
            starts = [i for i, r in enumerate(trace) if r.get("event") == "leader_start"]
            return trace[starts[1]:] if len(starts) > 1 else []

        resumed = cb.wait_for(lambda: _events(since_restart(), "resumed"), 30)
        assert resumed and resumed[0]["taken"], (tmp_path / "h0b.log").read_text()[-2000:]
        assert _events(cb.read_trace(traces[2]), "session")[-1]["base"] == 0.0

        def common_seconds():
            after = {r["walk_at"]: r for r in since_restart() if "walk_at" in r}
            own = {r["walk_at"]: r for r in cb.read_trace(traces[2]) if "walk_at" in r}
            keys = [k for k in sorted(set(after) & set(own)) if k > resumed[0]["t"]]
            return (keys, after, own) if keys else None

        found = cb.wait_for(common_seconds, 60)
        assert found, (resumed[0], (tmp_path / "h0b.log").read_text()[-1000:])
        common, after, own = found
        assert _laps_apart(after[common[0]]["phase"], own[common[0]]["phase"]) < 1e-6
        cb.send_controls(cluster[0], [0.66], gap_s=0.01)
        assert cb.wait_for(lambda: 0.66 in cb.applied(cb.read_trace(traces[2]), "fx.hue"), 30)
        rec = cb.applied(cb.read_trace(traces[2]), "fx.hue")[0.66]
        assert not rec["late"]
        assert os.path.exists(traces[0])


class _TextRecorder:
    """Stands in for the engine's text (``TextShow``): what reaches its layer, in order."""

    def __init__(self) -> None:
        self.out = None
        self.follow = False
        self.got: list[str | None] = []
        self.layer = SimpleNamespace(push=self.got.append, clear=lambda: self.got.append(None))


def test_typed_text_reaches_every_node_at_one_show_time_and_a_joiner_gets_the_screen():
    """The leader's typed characters go onto its own layer and every follower's at a stamped
    show time; a follower joining gets the text on the leader's screen (since the last reset)
    and types nothing of its own."""
    leader = relay.Leader(delay_frames=2, frame_rate=60.0, trace=relay.Trace(None, "leader"))
    text = _TextRecorder()
    lead = _Node(leader, leader.clock, text=text)
    port = _LeaderPort(leader)
    follower = None
    try:
        leader.start()
        assert text.out is not None
        text.out("to be")
        assert text.got == []  # not at once: at its stamped time, like every node
        lead.engine.bus.trigger("text.reset")
        text.out("Hel")
        text.out("lo")
        assert _frames_until(lambda: text.got == ["to be", "Hel", "lo"], lead, timeout=10)
        follower = relay.Follower(("127.0.0.1", port.port), port=0, host="127.0.0.1",
                                  trace=relay.Trace(None, "follower"))
        fol_text = _TextRecorder()
        fol = _Node(follower, follower.clock, text=fol_text)
        assert fol_text.follow
        follower.start()
        assert _frames_until(lambda: follower.in_step, lead, fol)
        assert _frames_until(lambda: fol_text.got[:2] == [None, "Hello"], fol, timeout=10)
        text.out(", world")
        assert _frames_until(lambda: fol_text.got[-1] == ", world", lead, fol, timeout=10)
        assert text.got[-1] == ", world"
    finally:
        if follower is not None:
            follower.close()
        port.close()
        leader.close()

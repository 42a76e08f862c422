"""Ableton Link: tempo follows a peer, a local change reaches the peer, phase is shared."""

from __future__ import annotations

import pytest

from live.control.link import LinkClock
from live.modulation import SourceTable
from live.params import Bus, Registry
from tests.conftest import wait_for

link = pytest.importorskip("link")


def test_tempo_and_phase_are_shared_with_a_peer():
    peer = link.Link(97.0)
    peer.enabled = True
    bus, sources = Bus(Registry()), SourceTable()
    clock = LinkClock(bus, sources, quantum=4)
    assert clock.start()
    try:
        if not wait_for(lambda: clock.peers >= 1):
            pytest.skip("Link peers cannot see each other here (no multicast)")
        # the two meet on one session tempo
        assert wait_for(lambda: abs(bus.get("tempo.bpm")
                                    - peer.captureSessionState().tempo()) < 0.01)
        # a change made here (a tap, the beat tracker) reaches the peer
        bus.set("tempo.bpm", 133.0)
        assert wait_for(lambda: abs(peer.captureSessionState().tempo() - 133.0) < 0.01)
        # and a peer's change comes here
        state = peer.captureSessionState()
        state.setTempo(88.0, peer.clock().micros())
        peer.commitSessionState(state)
        assert wait_for(lambda: abs(bus.get("tempo.bpm") - 88.0) < 0.01)
        # the beat phase is the session's
        state = peer.captureSessionState()
        expected = state.phaseAtTime(peer.clock().micros(), 1.0)
        got = sources.values[sources.index["tempo.phase"]]
        assert min(abs(got - expected), 1 - abs(got - expected)) < 0.1
    finally:
        clock.close()
        peer.enabled = False


def test_a_cluster_followers_link_leaves_the_tempo_to_its_leader():
    """``tempo=False`` (a cluster follower): a peer's tempo does not reach this bus (it comes
    stamped from the leader) and this bus's tempo is not committed to the session."""
    peer = link.Link(97.0)
    peer.enabled = True
    bus, sources = Bus(Registry()), SourceTable()
    clock = LinkClock(bus, sources, quantum=4, tempo=False)
    assert clock.start()
    try:
        if not wait_for(lambda: clock.peers >= 1):
            pytest.skip("Link peers cannot see each other here (no multicast)")
        before = bus.get("tempo.bpm")
        bus.set("tempo.bpm", 150.0)
        state = peer.captureSessionState()
        state.setTempo(91.0, peer.clock().micros())
        peer.commitSessionState(state)
        polls = 0

        def polled():
            nonlocal polls
            clock.poll()
            polls += 1
            return polls >= 10
        assert wait_for(polled)
        assert bus.get("tempo.bpm") == 150.0 != before  # only this node's own write
        assert abs(peer.captureSessionState().tempo() - 91.0) < 0.01  # nothing committed
    finally:
        clock.close()
        peer.enabled = False


def test_missing_link_package_is_a_warning(monkeypatch, caplog):
    import builtins

    real_import = builtins.__import__

    def no_link(name, *args, **kwargs):
        if name == "link":
            raise ImportError("no module named link")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_link)
    clock = LinkClock(Bus(Registry()), SourceTable())
    assert clock.start() is False
    assert "LinkPython-extern" in caplog.text

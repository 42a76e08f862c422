"""Ableton Link: share tempo and beat phase with other software and machines on the network.

Optional: needs the ``LinkPython-extern`` package (``pip install LinkPython-extern``, a wheel
with Ableton's Link library inside) and ``[tempo] link = true``. A thread polls the Link session
60 times a second:

* a tempo change made by a peer (another laptop, Ableton Live, a DJ app) is published to
  ``tempo.bpm``; a change made here (a tap, the beat tracker, a fader) is committed to the
  session, so everyone follows whoever moved last;
* the session's beat phase replaces the engine's own beat clock, so beat-locked motion lands
  on the same beat as every peer. In a show (``per_frame``, what the control surface uses) the
  render thread asks :meth:`LinkClock.phase_at` once a frame for the phase at the instant of
  the frame's show-clock reading (``engine.beat_at``): every node of a multi-machine show
  takes the phase at its own frame time, not at the poll's last tick (up to 17 ms stale). Without
  ``per_frame`` the poll writes the phase to the ``tempo.phase`` source.

Link's clock and ``time.monotonic()``: on Linux Link reads ``CLOCK_MONOTONIC_RAW``, Python's
``time.monotonic()`` reads ``CLOCK_MONOTONIC``. Measured on the development machine (Linux
6.18, LinkPython-extern 1.3.0, up 8.4 hours): ``link.clock().micros()`` was 146.717 ms behind
``time.monotonic()`` (bracketed readings 0.5 us wide), the same as ``CLOCK_MONOTONIC_RAW`` minus
``CLOCK_MONOTONIC`` read directly (146.722 ms), and steady (0 ppm over 10 s: no NTP there).
The two clocks part at the rate NTP slews ``CLOCK_MONOTONIC`` (up to 500 ppm), so the offset is
measured at start and again on every poll (the tightest of a few bracketed readings), and
:meth:`LinkClock.phase_at` converts with the latest.

Trace: ``LIVE_LINK_TRACE=FILE`` appends JSON lines to FILE: ``{"show", "mono", "phase", "beat",
"bpm"}`` from :meth:`LinkClock.phase_at` (at most 20 a second; kept in memory by the render
thread and written by the poll thread) and ``{"event": "peers", "peers": n, "mono": t}``
whenever the peer count changes. live/cluster/linkbeat.py reads them.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time

log = logging.getLogger(__name__)

POLL_HZ = 60
OFFSET_TRIES = 4
"""Bracketed clock readings per offset measurement on the poll (the tightest counts)."""
OFFSET_WIDTH_S = 100e-6
"""A measurement whose tightest bracket is wider than this (preempted) keeps the last offset."""
TRACE_GAP_S = 0.05
"""At most one trace row per this many seconds (20 a second)."""
TRACE_BACKLOG = 2400
"""Trace rows kept in memory when the poll thread falls behind (the oldest go first)."""
TRACE_WRITE_S = 0.25
"""The poll thread writes the trace rows at most this often."""


class LinkClock:
    def __init__(self, bus, sources, quantum: int = 4, per_frame: bool = False,
                 trace: str | None = None, tempo: bool = True) -> None:
        self.bus = bus
        self.sources = sources
        self.quantum = max(1, quantum)
        self.per_frame = per_frame
        """The render thread asks :meth:`phase_at` (``engine.beat_at``); the poll thread then
        leaves ``tempo.phase`` alone."""
        self.tempo = tempo
        """Follow the session's tempo onto the bus and commit the bus's to the session. Off on
        a cluster follower: its tempo comes stamped from its leader (which follows Link), so a
        peer's change lands at the same show time on every node, not at each node's poll."""
        self.link = None
        self.peers = 0
        self.offset_s = 0.0
        """Link's clock minus ``time.monotonic()``, in seconds (measured, see the module)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sent = 0.0
        self._failed = False
        self._trace_path = trace if trace is not None else os.environ.get("LIVE_LINK_TRACE")
        self._trace_file = None
        self._trace_rows: collections.deque = collections.deque(maxlen=TRACE_BACKLOG)
        self._trace_next = 0.0
        self._trace_written = 0.0
        self._traced_peers = -1

    def start(self) -> bool:
        try:
            import link  # LinkPython-extern
        except ImportError:
            log.warning("tempo.link is on but LinkPython-extern is not installed "
                        "(pip install LinkPython-extern); tempo stays local")
            return False
        try:
            self.link = link.Link(self.bus.get("tempo.bpm"))
            self.link.enabled = True
            self.link.startStopSyncEnabled = False
            measured = self._measure_offset(32)
            if measured is not None:
                self.offset_s = measured[1]
        except Exception as exc:
            log.warning("Ableton Link could not start: %s; tempo stays local", exc)
            self.link = None
            return False
        if self._trace_path:
            try:
                self._trace_file = open(self._trace_path, "a", buffering=1 << 16)  # noqa: SIM115
            except OSError as exc:
                log.warning("LIVE_LINK_TRACE: cannot open %s: %s", self._trace_path, exc)
        self._sent = self.bus.get("tempo.bpm")
        self._thread = threading.Thread(target=self._run, name="link", daemon=True)
        self._thread.start()
        log.info("Ableton Link on (quantum %d, its clock %+.3f ms from time.monotonic)",
                 self.quantum, self.offset_s * 1e3)
        return True

    def _measure_offset(self, tries: int) -> tuple[float, float] | None:
        """(bracket width s, Link's clock minus ``time.monotonic()`` s) of the tightest of
        ``tries`` readings of Link's clock between two monotonic readings."""
        clock = self.link.clock()
        best = None
        for _ in range(tries):
            before = time.monotonic()
            micros = clock.micros()
            after = time.monotonic()
            width = after - before
            if best is None or width < best[0]:
                best = (width, micros * 1e-6 - (before + after) * 0.5)
        return best

    def _run(self) -> None:
        while not self._stop.wait(1 / POLL_HZ):
            try:
                self.poll()
            except Exception:
                log.exception("Ableton Link poll failed")
        self._write_trace(force=True)

    def poll(self) -> None:
        measured = self._measure_offset(OFFSET_TRIES)
        if measured is not None and measured[0] <= OFFSET_WIDTH_S:
            self.offset_s = measured[1]
        state = self.link.captureAppSessionState()
        now = self.link.clock().micros()
        session = state.tempo()
        local = self.bus.get("tempo.bpm")
        if not self.tempo:
            pass
        elif abs(local - self._sent) > 1e-3:  # changed here: tell the session
            state.setTempo(local, now)
            self.link.commitAppSessionState(state)
            self._sent = session = local
        elif abs(session - local) > 1e-3:  # changed by a peer: follow it
            self.bus.set("tempo.bpm", session)
            self._sent = self.bus.get("tempo.bpm")
        if not self.per_frame:
            self.sources.set("tempo.phase", state.phaseAtTime(now, 1.0) % 1.0)
        self.peers = self.link.numPeers()
        self._write_trace()

    def phase_at(self, mono_s: float, show_s: float) -> float | None:
        """The session's beat phase (0..1 of a beat) at ``time.monotonic()`` reading ``mono_s``
        (``engine.beat_at``: the render thread, once a frame). Never raises: None (keep the
        last phase) when Link is off or the binding fails (logged once). ``show_s`` is the
        frame's show-clock reading, only for the trace."""
        link = self.link
        if link is None or self._stop.is_set():
            return None
        try:
            micros = int((mono_s + self.offset_s) * 1e6)
            state = link.captureAppSessionState()
            phase = state.phaseAtTime(micros, 1.0) % 1.0
            if self._trace_file is not None and mono_s >= self._trace_next:
                self._trace_next = mono_s + TRACE_GAP_S
                self._trace_rows.append((show_s, mono_s, phase,
                                         state.beatAtTime(micros, float(self.quantum)),
                                         state.tempo()))
            return phase
        except Exception:
            if not self._failed:
                self._failed = True
                log.exception("Ableton Link: the beat phase for a frame failed; the beat "
                              "clock keeps its last phase")
            return None

    def _write_trace(self, force: bool = False) -> None:
        """Write the trace rows the render thread left (the poll thread, not the render one)."""
        out = self._trace_file
        if out is None:
            return
        now = time.monotonic()
        peers = self.peers
        if not force and peers == self._traced_peers and now - self._trace_written < TRACE_WRITE_S:
            return
        self._trace_written = now
        rows = self._trace_rows
        try:
            if peers != self._traced_peers:
                self._traced_peers = peers
                out.write(json.dumps({"event": "peers", "peers": peers, "mono": now}) + "\n")
            while rows:
                show, mono, phase, beat, bpm = rows.popleft()
                out.write(json.dumps({"show": show, "mono": mono, "phase": phase,
                                      "beat": beat, "bpm": bpm}) + "\n")
            out.flush()
        except (OSError, ValueError) as exc:
            log.warning("LIVE_LINK_TRACE: writing failed (%s); the trace stops", exc)
            self._trace_file = None

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if self.link is not None:
            self.link.enabled = False
        if self._trace_file is not None:
            try:
                self._trace_file.close()
            except OSError:
                pass
            self._trace_file = None

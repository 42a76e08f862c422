"""Ableton Link: share tempo and beat phase with other software and machines on the network.

Optional: needs the ``LinkPython-extern`` package (``pip install LinkPython-extern``, a wheel
with Ableton's Link library inside) and ``[tempo] link = true``. A thread polls the Link session
60 times a second:

* a tempo change made by a peer (another laptop, Ableton Live, a DJ app) is published to
  ``tempo.bpm``; a change made here (a tap, the beat tracker, a fader) is committed to the
  session, so everyone follows whoever moved last;
* the session's beat phase is written to the ``tempo.phase`` source, which then replaces the
  engine's own beat clock, so beat-locked motion lands on the same beat as every peer.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class LinkClock:
    def __init__(self, bus, sources, quantum: int = 4) -> None:
        self.bus = bus
        self.sources = sources
        self.quantum = max(1, quantum)
        self.link = None
        self.peers = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sent = 0.0

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
        except Exception as exc:
            log.warning("Ableton Link could not start: %s; tempo stays local", exc)
            return False
        self._sent = self.bus.get("tempo.bpm")
        self._thread = threading.Thread(target=self._run, name="link", daemon=True)
        self._thread.start()
        log.info("Ableton Link on (quantum %d)", self.quantum)
        return True

    def _run(self) -> None:
        while not self._stop.wait(1 / 60):
            try:
                self.poll()
            except Exception:
                log.exception("Ableton Link poll failed")

    def poll(self) -> None:
        state = self.link.captureSessionState()
        now = self.link.clock().micros()
        session = state.tempo()
        local = self.bus.get("tempo.bpm")
        if abs(local - self._sent) > 1e-3:  # changed here: tell the session
            state.setTempo(local, now)
            self.link.commitSessionState(state)
            self._sent = session = local
        elif abs(session - local) > 1e-3:  # changed by a peer: follow it
            self.bus.set("tempo.bpm", session)
            self._sent = self.bus.get("tempo.bpm")
        self.sources.set("tempo.phase", state.phaseAtTime(now, 1.0) % 1.0)
        self.peers = self.link.numPeers()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if self.link is not None:
            self.link.enabled = False

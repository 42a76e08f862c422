"""Tap tempo: the tempo follows taps on the beat (``/live/tempo/tap``, a MIDI note, a key).

Two taps give a first estimate; later taps refine it with the median of the recent intervals,
so one late tap does not throw the tempo off. A pause longer than ``RESET_S`` starts afresh.
Runs on the engine thread inside trigger handling: a few arithmetic operations, no allocation
beyond a fixed-length deque.
"""

from __future__ import annotations

import math
from collections import deque

RESET_S = 2.0
"""A gap longer than this (30 BPM) starts a new tap sequence."""
MIN_BPM, MAX_BPM = 20.0, 300.0


class TapTempo:
    def __init__(self, history: int = 8) -> None:
        self._taps: deque[float] = deque(maxlen=history)

    def tap(self, t: float) -> float | None:
        """Register a tap at ``t`` seconds; returns the new BPM once there are two taps."""
        if self._taps and (t - self._taps[-1] > RESET_S or t <= self._taps[-1]):
            self._taps.clear()
        self._taps.append(t)
        if len(self._taps) < 2:
            return None
        taps = list(self._taps)
        intervals = sorted(b - a for a, b in zip(taps, taps[1:], strict=False))
        median = intervals[len(intervals) // 2] if len(intervals) % 2 else (
            intervals[len(intervals) // 2 - 1] + intervals[len(intervals) // 2]) / 2
        return min(max(60.0 / median, MIN_BPM), MAX_BPM)


BEATS_PER_BAR = 4


class BeatClock:
    """The show's beat phase and bar line, advanced once per frame on the render thread.

    The phase follows the audio beat tracker while it is confident, another clock (Ableton
    Link) when ``external`` (that clock writes ``tempo.phase`` itself), else it free-runs at
    ``tempo.bpm``. A wrap of the phase is a new beat; every ``BEATS_PER_BAR``-th is a bar.

    Free-running, the phase is the fractional part of ``beat_time``, the beats since show
    start, which integrates ``tempo.bpm`` over show time; the tempo is a discrete control,
    constant between changes, so ``beat_time`` is exact however the time is cut into steps
    (live/showclock.py splits a frame's step at a stamped tempo change). Locked to the audio,
    the phase is the tracker's (a per-node input).
    """

    def __init__(self) -> None:
        self.external = False
        self.beats = 0
        """Beats counted since the show started."""
        self.on_bar = False
        """True for the frame in which a bar began."""
        self.beat_time = 0.0
        """Beats since show start (free-running or following the audio's phase)."""
        self._last = 0.0

    @property
    def phase(self) -> float:
        return self.beat_time % 1.0

    def advance(self, dt: float, sources, bpm: float) -> None:
        """Before ``sources.step``: write this frame's ``tempo.phase`` (unless external)."""
        if not self.external:
            if sources["audio.confidence"] >= 0.5:  # locked to the music
                self.beat_time = math.floor(self.beat_time) + sources["audio.phase"]
            elif dt > 0.0 and math.isfinite(dt * bpm):
                self.beat_time += dt * bpm / 60.0
            if not math.isfinite(self.beat_time):
                self.beat_time = 0.0
            sources.set("tempo.phase", self.phase)

    def count(self, phase: float) -> None:
        """After ``sources.step``: a new beat (and bar) when the phase wrapped."""
        self.on_bar = False
        if phase < self._last - 0.5:
            self.beats += 1
            self.on_bar = self.beats % BEATS_PER_BAR == 0
        self._last = phase

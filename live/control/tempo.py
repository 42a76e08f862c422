"""Tap tempo: the tempo follows taps on the beat (``/live/tempo/tap``, a MIDI note, a key).

Two taps give a first estimate; later taps refine it with the median of the recent intervals,
so one late tap does not throw the tempo off. A pause longer than ``RESET_S`` starts afresh.
Runs on the engine thread inside trigger handling: a few arithmetic operations, no allocation
beyond a fixed-length deque.
"""

from __future__ import annotations

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

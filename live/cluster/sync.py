"""Show clocks of a leader and its followers, agreed over UDP without Ableton Link.

The leader's show time is seconds on its own monotonic clock since it started
(:class:`LeaderClock`). A follower estimates the offset between that show time and its own
monotonic clock NTP-style: it sends ``/live/cluster/ping t1`` (its monotonic seconds), the
leader answers ``/live/cluster/pong t1 t2 t3`` (its show time when the ping arrived and when
the pong left), and at ``t4`` the follower has one sample::

    round trip  = (t4 - t1) - (t3 - t2)
    offset      = ((t2 - t1) + (t3 - t4)) / 2        (leader show time - follower monotonic)

:class:`OffsetEstimator` keeps the last ``window`` samples and trusts the one with the smallest
round trip (the least queueing, so the least asymmetry). :class:`SteeredClock` is the
follower's show clock: its monotonic clock plus that offset. The first estimate is taken at
once (a forward jump: the engine catches up in one exact step); later estimates are slewed in
at ``slew`` seconds per second at most, so the show never runs backwards and never jumps
while it is running. A follower whose leader is gone keeps running on the last offset.

A leader that restarts starts a new session whose show time begins again near 0. A follower
never goes back: it keeps its own show time and maps the new session's times onto it with a
``base`` (follower show time = leader show time + base), so stamped changes still land at the
same instant on every node (see ``rebase``).

With ``[tempo] link`` on, Link's session timeline would take this module's place: every node
reads Link's ``clock().micros()`` through ``beatAtTime`` and the show time is the session's
beat time divided by the tempo (an ``ExternalClock`` over Link); the stamped relay below
stays as it is. That path is not built yet (docs/cluster.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

SLEW = 0.02
"""The largest correction of a running follower clock, seconds per second (2%)."""
WINDOW = 16
"""Ping samples kept; the one with the smallest round trip gives the offset."""
LOCKED_S = 0.001
"""A clock within this of its estimate, from at least ``MIN_SAMPLES`` samples, is locked."""
MIN_SAMPLES = 4
HOLD_S = 1.0
"""A leader behind our show time by less than this is waited for (the show holds still,
e.g. when both started together); further behind, the difference becomes ``base``."""


class LeaderClock:
    """The leader's show time: seconds on this machine's monotonic clock since ``origin``.

    ``now()`` may be called from any thread; ``read()`` is the engine's once-a-frame reading
    (never going back). No stall clamp: a slow frame drops, the clock goes on.
    """

    def __init__(self, time_fn: Callable[[], float] = time.monotonic) -> None:
        self._time_fn = time_fn
        self.origin = time_fn()
        self._last = 0.0

    def now(self) -> float:
        return self._time_fn() - self.origin

    def read(self) -> float:
        t = max(self.now(), self._last)
        self._last = t
        return t


class OffsetEstimator:
    """The offset of the leader's show time from our monotonic clock, from ping samples."""

    def __init__(self, window: int = WINDOW) -> None:
        self.samples: deque[tuple[float, float]] = deque(maxlen=window)
        """(round trip, offset) of the last pongs."""
        self.count = 0

    def add(self, t1: float, t2: float, t3: float, t4: float) -> tuple[float, float] | None:
        """One ping/pong; returns its (round trip, offset), or None when it makes no sense
        (a negative round trip, numbers that are not finite)."""
        rtt = (t4 - t1) - (t3 - t2)
        offset = ((t2 - t1) + (t3 - t4)) / 2.0
        if not (math.isfinite(rtt) and math.isfinite(offset)) or rtt < 0.0:
            return None
        self.samples.append((rtt, offset))
        self.count += 1
        return rtt, offset

    def best(self) -> tuple[float, float] | None:
        """(round trip, offset) of the sample with the smallest round trip."""
        return min(self.samples) if self.samples else None

    def clear(self) -> None:
        self.samples.clear()
        self.count = 0


class SteeredClock:
    """A follower's show clock: monotonic seconds + a steered offset + a session ``base``.

    Before the first estimate it is a local clock from 0 (the follower shows on its own).
    ``steer(offset)`` sets the target; the first one is taken at once (forward only: a target
    behind the local show time becomes a ``base`` instead), later ones are slewed in at
    ``slew`` s/s. ``now()`` is safe from any thread; ``read()`` is the engine's reading.
    """

    def __init__(self, slew: float = SLEW, time_fn: Callable[[], float] = time.monotonic) -> None:
        self.slew = slew
        self._time_fn = time_fn
        self._lock = threading.Lock()
        start = time_fn()
        self._anchor = start
        self._anchor_offset = -start  # local show time from 0 until the first estimate
        self._target = -start
        self.base = 0.0
        """Follower show time minus leader show time (non-zero after a leader restart)."""
        self.steered = False
        self._last = 0.0

    def _offset_at(self, mono: float) -> float:
        gap = self._target - self._anchor_offset
        limit = self.slew * max(mono - self._anchor, 0.0)
        return self._anchor_offset + min(max(gap, -limit), limit)

    def now(self) -> float:
        mono = self._time_fn()
        with self._lock:
            return mono + self._offset_at(mono) + self.base

    def leader_now(self) -> float:
        """Our estimate of the leader's show time now (``now() - base``)."""
        mono = self._time_fn()
        with self._lock:
            return mono + self._offset_at(mono)

    def read(self) -> float:
        t = max(self.now(), self._last)
        self._last = t
        return t

    @property
    def error(self) -> float:
        """Target offset minus the offset in use now (what is still being slewed in)."""
        mono = self._time_fn()
        with self._lock:
            return self._target - self._offset_at(mono)

    def steer(self, offset: float) -> None:
        """A new estimate of (leader show time - our monotonic time)."""
        mono = self._time_fn()
        with self._lock:
            if not self.steered:
                self._jump(mono, offset)
                return
            self._anchor_offset = self._offset_at(mono)
            self._anchor = mono
            self._target = offset

    def rebase(self, offset: float) -> None:
        """A new leader session (it restarted): keep our show time running and map the new
        session's times onto it. ``offset`` is the first estimate for the new session."""
        mono = self._time_fn()
        with self._lock:
            self._jump(mono, offset)

    def _jump(self, mono: float, offset: float) -> None:
        """Take ``offset`` at once, forward only: when the leader is behind our show time by
        more than ``HOLD_S``, the difference becomes ``base``; by less, ``read`` holds the show
        still until the leader's time has caught up."""
        ours = mono + self._offset_at(mono) + self.base
        theirs = mono + offset
        self.base = ours - theirs if ours - theirs > HOLD_S else 0.0
        self._anchor, self._anchor_offset, self._target = mono, offset, offset
        self.steered = True

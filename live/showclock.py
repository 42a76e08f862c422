"""Show time: one clock reading per frame, and changes applied at the show time they name.

Every node of a show (live/cluster, docs/cluster.md) must compute the same latent and the same
fx values for the same clock reading. So the render loop reads a ``ShowClock`` once per frame
and derives everything time-based from that reading: the step of a frame is the difference of
two readings, and everything stepped (the smoothed controls, the walk's clocks, the beat
clock) is exact in the step length: stepping 0.1 s once or in ten pieces gives the same state
to float rounding (see ``Controls``, ``Walk`` and ``BeatClock``). Frame pacing may differ
between nodes; the state at a reading does not.

Clocks (``read()`` is called once per frame by the render thread and never goes back):

* ``LocalClock``: seconds since the first reading on this machine's monotonic clock. A stall
  longer than ``max_step_s`` (a window drag, a swap to disk) is not replayed: the show time
  holds back by the excess, as the loop always did. This is the single-machine show.
* ``SteppedClock``: ``step_s`` per reading (offline rendering, ``live soak``, tests).
* ``ExternalClock``: a reading taken from elsewhere (a leader's show clock, Ableton Link's
  session timeline converted to seconds) plus an offset; no stall clamp, so a node that cannot
  keep up drops frames but stays on the clock.
* ``ManualClock``: set by hand (tests, or a caller that owns time).

Changes at a show time: ``Timeline.at(at_s, name, value)`` schedules a control change or a
trigger (any thread). The render thread's ``Timeline.advance`` steps from the last reading to
this one, split at every scheduled time that falls inside: the state is stepped exactly up to
the change, the change applied there (a value as the new smoothing target, a walk or cue
trigger on the walk at that instant, so its glide and phase jump start there), then stepped
on. Other triggers (flash, scene, show.*) take effect on the first frame at or after their
time, through ``Controls.triggers``. A change whose time has already passed when it is seen
(a node whose frames are longer than the leader's delay, a stall) is counted in ``late``; a
value lands where it would have been (``Controls.set_target_since``: the smoother, the
integrals since the show started and the walk's distance are put where an on-time change
would have taken them, so a slow node does not drift), a trigger applies at the start of the
frame's step (a glide then starts that much later). Changes published on the ``Bus``
without a time apply at once (at the start of the step, as before), so control-to-photon
latency does not grow; a scheduled value is written to the bus when it applies, so the next
drain keeps it.

Not covered here: audio features and the audio-locked beat phase are per-node inputs; the
``smooth`` of a modulation map and the modulation added to ``walk.speed`` are sampled once
per frame; the compositor's own accumulators (``fx.spin``, feedback, flash decay, layer
phases) are stepped by frame ``dt`` in live/render.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable

from live.params import TriggerEvent

WALK_TRIGGERS = ("cue.", "walk.")
"""Trigger names the walk applies at their exact show time."""
FRAME_TRIGGERS = ("output.snapshot",)
"""Triggers that get a frame at their exact show time (``Timeline.cut_at``)."""


class LocalClock:
    """Show seconds on this machine's monotonic clock, from the first reading."""

    def __init__(self, max_step_s: float = 0.1,
                 time_fn: Callable[[], float] = time.perf_counter) -> None:
        self.max_step_s = max_step_s
        self._time_fn = time_fn
        self._origin: float | None = None
        self._held = 0.0
        """Seconds of stalls not replayed."""
        self._last = 0.0

    def read(self) -> float:
        raw = self._time_fn()
        if self._origin is None:
            self._origin = raw
        t = raw - self._origin - self._held
        if t - self._last > self.max_step_s:
            self._held += t - self._last - self.max_step_s
            t = self._last + self.max_step_s
        t = max(t, self._last)
        self._last = t
        return t


class SteppedClock:
    """``step_s`` seconds per reading: 0, step, 2 step, ... (each ``n * step``, not a sum)."""

    def __init__(self, step_s: float) -> None:
        if not (math.isfinite(step_s) and step_s >= 0.0):
            raise ValueError(f"a clock step must be seconds >= 0, got {step_s!r}")
        self.step_s = step_s
        self._n = 0

    def read(self) -> float:
        t = self._n * self.step_s
        self._n += 1
        return t


class ManualClock:
    """A reading set by its owner (``set``/``advance``)."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def set(self, t: float) -> None:
        self.t = t

    def advance(self, dt: float) -> None:
        self.t += dt

    def read(self) -> float:
        return self.t


class ExternalClock:
    """Show seconds from another source (``source()`` plus ``offset``), never going back.

    The source may be called from the render thread only; a source that can fail (a Link
    session left) should return its last good reading. A reading behind the last one (the
    source was corrected backwards) holds the show still until the source catches up.
    """

    def __init__(self, source: Callable[[], float], offset: float = 0.0) -> None:
        self.source = source
        self.offset = offset
        self._last = -math.inf

    def read(self) -> float:
        t = self.source() + self.offset
        if not math.isfinite(t):
            return max(self._last, 0.0)
        t = max(t, self._last)
        self._last = t
        return t


class Timeline:
    """Control changes and triggers stamped with the show time at which to apply them.

    ``at`` may be called from any thread (a short lock); ``advance`` from the render thread,
    once per frame, between ``Bus.drain`` and modulation.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._lock = threading.Lock()
        self._heap: list[tuple[float, int, str, object, str]] = []
        self._seq = itertools.count()
        self._capacity = capacity
        self.dropped = 0
        """Changes refused because the queue was full."""
        self.late = 0
        """Changes seen after their time had passed (applied at once)."""
        self.now_s = 0.0
        """The reading the last ``advance`` reached."""
        self._due_items: list = []

    def at(self, at_s: float, name: str, value: float | str = 1.0, text: str = "") -> bool:
        """Apply ``name = value`` (or fire trigger ``name`` with argument ``value``) at show
        time ``at_s``. Same-time changes apply in the order given. False when full or when
        ``at_s`` is not a finite number."""
        if not math.isfinite(at_s):
            return False
        with self._lock:
            if len(self._heap) >= self._capacity:
                self.dropped += 1
                return False
            heapq.heappush(self._heap, (float(at_s), next(self._seq), name, value, text))
        return True

    def cut_at(self, t0: float, t1: float) -> float | None:
        """The first time in ``(t0, t1]`` of a change that wants a frame of its own there
        (``FRAME_TRIGGERS``: a snapshot of every node of a show at one show time), or None.
        The engine then ends its frame at that reading instead of ``t1``."""
        cut = None
        with self._lock:
            for item in self._heap:  # a few items at most; no allocation
                if item[2] in FRAME_TRIGGERS and t0 < item[0] <= t1 and \
                        (cut is None or item[0] < cut):
                    cut = item[0]
        return cut

    def pending(self) -> int:
        with self._lock:
            return len(self._heap)

    def _due(self, until_s: float) -> list:
        """The items due by ``until_s``, in order, in a list kept for the next frame (the
        render loop allocates nothing per frame)."""
        due = self._due_items
        due.clear()
        with self._lock:
            while self._heap and self._heap[0][0] <= until_s:
                due.append(heapq.heappop(self._heap))
        return due

    def advance(self, t0: float, t1: float, controls, walk, beat, sources, bus=None) -> None:
        """Step ``controls``, ``beat`` (a ``BeatClock``) and ``walk`` from reading ``t0`` to
        ``t1``, applying every change due by ``t1`` at its own time. Leaves ``controls.value``
        smoothed (modulation comes next) and the walk advanced to ``t1`` (``render`` next)."""
        t = t0
        registry = controls.registry
        for at_s, _, name, value, text in self._due(t1):
            late_s = 0.0
            if at_s > t:
                self._segment(at_s - t, controls, walk, beat, sources)
                t = at_s
            elif at_s < t0:
                self.late += 1
                late_s = t - at_s
            if name not in registry:
                continue
            param = registry[name]
            if param.kind == "trigger":
                arg = 1.0 if isinstance(value, str) else float(value)
                text = value if isinstance(value, str) else text
                if not math.isfinite(arg):
                    continue
                arg = min(max(arg, param.lo), param.hi)
                event = TriggerEvent(name, arg, controls.newest_stamp_ns, text, at_s)
                if name.startswith(WALK_TRIGGERS):
                    walk.handle(event)  # at its time: the glide and the phase jump start here
                else:
                    controls.triggers.append(event)
                continue
            try:
                # a late value lands where it would have: smoother, integrals, walk distance
                number, extra = controls.set_target_since(name, value, late_s)
            except ValueError:
                continue
            if extra and name == "walk.speed":
                walk.advance(0.0, controls, extra)
            if bus is not None:
                # the next drain must not undo it; ``publish`` writes past a cluster leader's
                # relay, so a change applied here is not relayed again
                bus.publish(name, number)
            walk.sync(controls)
        self._segment(t1 - t, controls, walk, beat, sources)
        self.now_s = t1

    @staticmethod
    def _segment(dt: float, controls, walk, beat, sources) -> None:
        controls.step(dt)
        beat.advance(dt, sources, controls["tempo.bpm"])
        speed = controls.registry.index["walk.speed"]
        walk.advance(dt, controls, float(controls.integral[speed]))

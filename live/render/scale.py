"""Dynamic render scale: hold the frame budget by rendering fewer pixels, in steps.

The compositor's own time per frame comes from GL timer queries (three in flight, each read
two frames later so reading never waits) or, where the driver has none, from the wall time of
the passes plus a ``finish``. ``RenderScale.update`` sees that time once per frame; over a
window of frames it lowers the scale by one step when the compositor takes more than its share
of the budget, and raises it by one step when it has ample room, never below ``floor`` and
never above 1. A fixed number in the config pins the scale.
"""

from __future__ import annotations

import time
from collections import deque

STEP = 0.1
"""One change of scale (fraction of the output size per side)."""
WINDOW_FRAMES = 30
"""Frames looked at before each decision (half a second at 60 Hz)."""
SHARE = 0.6
"""Part of the frame budget the compositor may use (the decode and the rest need the remainder
on a CPU that does both)."""
RAISE_BELOW = 0.65
"""Raise the scale only when the time at the next step up is expected below this fraction of
the share: hysteresis, so the scale does not hunt between two steps."""


class RenderScale:
    """Chooses the render scale from measured compositor milliseconds."""

    def __init__(self, setting: str | float, floor: float = 0.5, budget_ms: float = 1000 / 60,
                 ) -> None:
        self.auto = setting == "auto"
        self.floor = min(max(float(floor), 0.1), 1.0)
        self.scale = 1.0 if self.auto else min(max(float(setting), 0.1), 2.0)
        self.budget_ms = budget_ms
        self._window: deque[float] = deque(maxlen=WINDOW_FRAMES)
        self.changes = 0

    def update(self, compositor_ms: float | None) -> float:
        """Feed one frame's compositor time (None: not measured yet); returns the scale to use
        (a change takes effect by resizing the compositor's targets)."""
        if not self.auto or compositor_ms is None:
            return self.scale
        self._window.append(compositor_ms)
        if len(self._window) < WINDOW_FRAMES:
            return self.scale
        typical = sorted(self._window)[len(self._window) * 3 // 4]  # upper quartile
        allowed = SHARE * self.budget_ms
        scale = self.scale
        if typical > allowed and scale > self.floor:
            scale = max(self.floor, round(scale - STEP, 2))
        elif scale < 1.0:
            # pixel count grows with the square of the scale
            expected = typical * ((scale + STEP) / scale) ** 2
            if expected < RAISE_BELOW * allowed:
                scale = min(1.0, round(scale + STEP, 2))
        if scale != self.scale:
            self.scale = scale
            self.changes += 1
            self._window.clear()
        return self.scale


class GpuTimer:
    """Compositor time per frame: GL timer queries when the driver has them, else the wall
    time of the passes up to a ``finish`` (which waits: only drivers without queries)."""

    IN_FLIGHT = 3

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.queries = None
        try:
            if {"GL_ARB_timer_query", "GL_EXT_timer_query"} & set(ctx.extensions):
                self.queries = [ctx.query(time=True) for _ in range(self.IN_FLIGHT)]
        except Exception:  # a driver that advertises the query but cannot make one
            self.queries = None
        self._frame = 0
        self._started = 0.0
        self.last_ms: float | None = None

    @property
    def kind(self) -> str:
        return "timer query" if self.queries else "wall time + finish"

    def begin(self) -> None:
        if self.queries:
            self.queries[self._frame % self.IN_FLIGHT].mglo.begin()
        else:
            self._started = time.perf_counter()

    def end(self) -> float | None:
        """End this frame's measurement; returns the newest finished one (ms) or None."""
        if self.queries:
            self.queries[self._frame % self.IN_FLIGHT].mglo.end()
            self._frame += 1
            if self._frame >= self.IN_FLIGHT:
                # the query begun IN_FLIGHT - 1 frames ago: long done, so reading it is free
                oldest = self.queries[self._frame % self.IN_FLIGHT]
                self.last_ms = oldest.elapsed / 1e6
            return self.last_ms
        self.ctx.finish()  # a sync point: only where the driver has no timer queries
        self.last_ms = (time.perf_counter() - self._started) * 1000.0
        return self.last_ms

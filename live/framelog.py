"""Per-frame timings of the render loop in preallocated rings (HUD, bench, soak, watchdog)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

STAGES = ("controls", "walk", "decode", "compose", "present")
"""The loop's stages: drain and modulate the controls, step the walk, decode (or collect the
worker's decode), upload and compose (all shader passes), present and hand frames on."""


@dataclass
class FrameLog:
    """Per-frame timings in preallocated rings (the last ``capacity`` frames)."""

    capacity: int

    def __post_init__(self) -> None:
        self.frame_ms = np.zeros(self.capacity)
        self.stage_ms = np.zeros((self.capacity, len(STAGES)))
        self.stamp_ns = np.zeros(self.capacity, dtype=np.int64)
        self.present_ns = np.zeros(self.capacity, dtype=np.int64)
        self.compositor_ms = np.full(self.capacity, np.nan)
        """The compositor's own time per frame (GPU timer queries; NaN: not measured)."""
        self.count = 0

    def add(self, frame_ms: float, stages: np.ndarray, stamp_ns: int, present_ns: int,
            compositor_ms: float | None = None) -> None:
        i = self.count % self.capacity
        self.compositor_ms[i] = np.nan if compositor_ms is None else compositor_ms
        self.frame_ms[i] = frame_ms
        self.stage_ms[i] = stages
        self.stamp_ns[i] = stamp_ns
        self.present_ns[i] = present_ns
        self.count += 1

    def chronological(self, array: np.ndarray) -> np.ndarray:
        n = min(self.count, self.capacity)
        if self.count <= self.capacity:
            return array[:n]
        start = self.count % self.capacity
        return np.concatenate([array[start:], array[:start]])


def percentile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else math.nan

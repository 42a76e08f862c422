"""Latent trajectories: a closed keyframe loop, a smooth noise wander and a great-circle orbit.

All three live on the shell where Gaussian latents live (norm about sqrt(dim)), move by a phase
that integrates ``speed * dt / period`` (so a change of speed or period changes the velocity,
never the position), and hand over through a glide: whenever the source of the latent changes
(mode, keyframes, reseed, cue recall or release) the walk captures where it is and slerps from
there to the new source over ``walk.glide`` seconds. Nothing a performer does makes it jump.

Shapes: every latent here is a float64 numpy vector of shape ``(dim,)``; ``step`` returns the
walk's own output buffer, valid until the next call.
"""

from __future__ import annotations

import math

import numpy as np

from live.params import WALK_MODES, Controls, TriggerEvent

CUE_SLOTS = 16
JITTER_HZ = (0.31, 0.57, 0.93)
"""Frequencies of the energy jitter: slow enough to read as breathing, never as flicker."""
NOISE_CYCLES_PER_LAP = (1.0, 2.2, 3.7)
"""Noise-walk frequencies in cycles per walk period; incommensurate so it never repeats."""


def slerp(a: np.ndarray, b: np.ndarray, t: float, out: np.ndarray) -> np.ndarray:
    """Spherical interpolation of directions with linear interpolation of norms.

    ``t`` may lie outside [0, 1] (extrapolation along the great circle), which the spline
    below relies on. Writes into and returns ``out``; ``out`` may alias ``a`` or ``b``.
    """
    norm_a = math.sqrt(float(a @ a)) or 1e-12
    norm_b = math.sqrt(float(b @ b)) or 1e-12
    cos_omega = min(max(float(a @ b) / (norm_a * norm_b), -1.0), 1.0)
    omega = math.acos(cos_omega)
    radius = (1.0 - t) * norm_a + t * norm_b
    if omega < 1e-4:
        wa, wb = 1.0 - t, t
    else:
        sin_omega = math.sin(omega)
        wa = math.sin((1.0 - t) * omega) / sin_omega * radius / norm_a
        wb = math.sin(t * omega) / sin_omega * radius / norm_b
    # out = wa * a + wb * b without a temporary, safe when out aliases a or b
    if out is b:
        np.multiply(b, wb, out=out)
        out += wa * a
    else:
        np.multiply(a, wa, out=out)
        out += wb * b
    return out


def smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


class Walk:
    """A latent walk of dimension ``dim``; call ``step`` once per frame."""

    def __init__(self, dim: int, seed: int = 0, keyframes: int = 8,
                 mode: str = WALK_MODES[0]) -> None:
        self.dim = dim
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self.phase = 0.0
        """Position in the loop/orbit, in laps, in [0, 1)."""
        self.noise_laps = 0.0
        self.jitter_s = 0.0
        self.mode = mode
        self.cues: list[np.ndarray | None] = [None] * CUE_SLOTS
        self.held_cue: int | None = None
        self.out = np.zeros(dim)
        self._source = np.zeros(dim)
        self._glide_from = np.zeros(dim)
        self._glide_elapsed_s = 0.0
        self._glide_active = False
        self._spline = [np.zeros(dim) for _ in range(5)]
        self._jitter = np.zeros(dim)
        self._trig = np.zeros((len(JITTER_HZ), dim))
        self._reseed(keyframes)
        self._loop_latent(self._source)
        self.out[:] = self._source

    # ----------------------------------------------------------------- sources
    def _reseed(self, keyframes: int) -> None:
        rng = self._rng
        self.keyframes = rng.standard_normal((keyframes, self.dim))
        a, b = rng.standard_normal((2, self.dim))
        a /= np.linalg.norm(a)
        b -= (b @ a) * a
        b /= np.linalg.norm(b)
        radius = math.sqrt(self.dim)
        self._orbit = (a * radius, b * radius)
        self._noise_phase = rng.uniform(0, 2 * math.pi, (len(NOISE_CYCLES_PER_LAP), self.dim))
        self._noise_freq = np.array(NOISE_CYCLES_PER_LAP)[:, None] * rng.uniform(
            0.7, 1.3, (len(NOISE_CYCLES_PER_LAP), self.dim)
        )
        self._jitter_phase = rng.uniform(0, 2 * math.pi, (len(JITTER_HZ), self.dim))
        self._jitter_freq = np.array(JITTER_HZ)[:, None] * rng.uniform(
            0.6, 1.4, (len(JITTER_HZ), self.dim)
        )

    def _loop_latent(self, out: np.ndarray) -> np.ndarray:
        """Spherical Catmull-Rom through the keyframes at ``self.phase`` (closed, C1)."""
        k = len(self.keyframes)
        u = self.phase * k
        i = int(math.floor(u)) % k
        t = u - math.floor(u)
        p0, p1, p2, p3 = (self.keyframes[(i + j) % k] for j in (-1, 0, 1, 2))
        a1, a2, a3, b1, b2 = self._spline
        # Barry-Goldman pyramid with every lerp replaced by a slerp
        slerp(p0, p1, t + 1.0, a1)
        slerp(p1, p2, t, a2)
        slerp(p2, p3, t - 1.0, a3)
        slerp(a1, a2, (t + 1.0) / 2.0, b1)
        slerp(a2, a3, t / 2.0, b2)
        return slerp(b1, b2, t, out)

    def _sines(self, freq: np.ndarray, phase: np.ndarray, t: float, out: np.ndarray) -> np.ndarray:
        """Sum of unit-variance sinusoids per dimension at time ``t``, into ``out``."""
        np.multiply(freq, 2 * math.pi * t, out=self._trig)
        self._trig += phase
        np.sin(self._trig, out=self._trig)
        np.sum(self._trig, axis=0, out=out)
        out *= math.sqrt(2.0 / len(freq))
        return out

    def _orbit_latent(self, out: np.ndarray) -> np.ndarray:
        angle = 2 * math.pi * self.phase
        a, b = self._orbit
        np.multiply(a, math.cos(angle), out=out)
        out += math.sin(angle) * b
        return out

    # ----------------------------------------------------------------- control
    def start_glide(self) -> None:
        """Glide from wherever the output is now to whatever the source becomes."""
        self._glide_from[:] = self.out
        self._glide_elapsed_s = 0.0
        self._glide_active = True

    def store_cue(self, slot: int) -> None:
        self.cues[slot] = self.out.copy()

    def recall_cue(self, slot: int) -> bool:
        if self.cues[slot] is None:
            return False
        self.held_cue = slot
        self.start_glide()
        return True

    def release(self) -> None:
        if self.held_cue is not None:
            self.held_cue = None
            self.start_glide()

    def next_cue(self) -> None:
        """Next stored cue after the held one; with none stored, the next keyframe."""
        stored = [i for i, cue in enumerate(self.cues) if cue is not None]
        if stored:
            after = [i for i in stored if self.held_cue is None or i > self.held_cue]
            self.recall_cue((after or stored)[0])
            return
        k = len(self.keyframes)
        self.phase = ((math.floor(self.phase * k + 1e-9) + 1) / k) % 1.0
        self.noise_laps += 1.0 / k
        self.start_glide()

    def handle(self, event: TriggerEvent) -> None:
        """Apply a walk or cue trigger from the bus."""
        slot = int(event.arg) % CUE_SLOTS
        if event.name == "cue.store":
            self.store_cue(slot)
        elif event.name == "cue.recall":
            self.recall_cue(slot)
        elif event.name == "cue.next":
            self.next_cue()
        elif event.name == "cue.release":
            self.release()
        elif event.name == "walk.reseed":
            self.seed += 1
            self._rng = np.random.default_rng(self.seed)
            self._reseed(len(self.keyframes))
            self.start_glide()

    # ----------------------------------------------------------------- per frame
    def step(self, dt: float, controls: Controls) -> np.ndarray:
        """Advance by ``dt`` seconds under the current (smoothed) controls; return the latent."""
        mode = controls.choice("walk.mode")
        if mode != self.mode:
            self.mode = mode
            self.held_cue = None
            self.start_glide()
        keyframes = int(controls["walk.keyframes"])
        if keyframes != len(self.keyframes):
            self.keyframes = self._rng.standard_normal((keyframes, self.dim))
            self.start_glide()

        period_s = controls["walk.period"]
        if controls.choice("walk.period_unit") == "beats":
            period_s *= 60.0 / controls["tempo.bpm"]
        laps = dt * controls["walk.speed"] / max(period_s, 1e-3)
        self.phase = (self.phase + laps) % 1.0
        self.noise_laps += laps
        self.jitter_s += dt

        source = self._source
        if self.held_cue is not None:
            source[:] = self.cues[self.held_cue]
        elif mode == "loop":
            self._loop_latent(source)
        elif mode == "noise":
            self._sines(self._noise_freq, self._noise_phase, self.noise_laps, source)
        else:
            self._orbit_latent(source)

        energy = controls["walk.energy"]
        if energy > 0.0:
            self._sines(self._jitter_freq, self._jitter_phase, self.jitter_s, self._jitter)
            self._jitter *= 0.6 * energy
            source += self._jitter

        glide_s = controls["walk.glide"]
        if self._glide_active and glide_s > 0.0:
            self._glide_elapsed_s += dt
            progress = self._glide_elapsed_s / glide_s
            if progress < 1.0:
                return slerp(self._glide_from, source, smoothstep(progress), self.out)
        self._glide_active = False
        self.out[:] = source
        return self.out

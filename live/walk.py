"""Latent trajectories: a closed keyframe loop, a smooth noise wander and a great-circle orbit.

All three live on the shell where Gaussian latents live (norm about sqrt(dim)), move by a phase
that integrates ``speed * dt / period`` (so a change of speed or period changes the velocity,
never the position), and hand over through a glide: whenever the source of the latent changes
(mode, keyframes, reseed, cue recall or release) the walk captures where it is and slerps from
there to the new source over ``walk.glide`` seconds. Nothing a performer does makes it jump.

Time: the walk's state is a function of show time, not of how the time was cut into frames.
``advance(dt, controls, speed_integral)`` moves the clocks (loop/orbit phase, noise laps,
jitter time, glide time) and ``render(controls)`` computes the latent at the time reached;
``step`` is the two together. Given ``speed_integral`` (the exact integral of the smoothed
``walk.speed`` over the step, ``Controls.integral``) the phase integrates speed exactly, so
two walks stepped with different frame times through the same changes at the same show times
agree to float rounding; the period, the tempo and the mode are discrete controls, constant
between changes. A glide starts from the latent at the moment it is asked for, computed
there when the walk has advanced since it last rendered (a trigger applied inside a frame,
at its stamped time, by live/showclock.py). Modulation added to ``walk.speed`` is held from
the last rendered frame over the next step (audio is a per-node input anyway).

Shapes: every latent here is a float64 numpy vector of shape ``(dim,)``; ``step`` returns the
walk's own output buffer, valid until the next call.

No NaN or infinity gets into a latent: a cue must be a finite latent to be stored or recalled
(``finite_latent``), the few control values the walk reads are checked before use, and the
output is checked every frame; if it is ever not finite the walk shows its last good latent,
clears what went wrong and glides on from there, so the picture cannot go black for good.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from live.params import REGISTRY, WALK_MODES, Controls, TriggerEvent

log = logging.getLogger(__name__)

CUE_SLOTS = 16
JITTER_HZ = (0.31, 0.57, 0.93)
"""Frequencies of the energy jitter: slow enough to read as breathing, never as flicker."""
NOISE_CYCLES_PER_LAP = (1.0, 2.2, 3.7)
"""Noise-walk frequencies in cycles per walk period; incommensurate so it never repeats."""
LATENT_LIMIT = 1e3
"""Largest magnitude of one latent component a cue may hold. Walk outputs are Gaussian-like
(a few units at most); this is far beyond, yet squares of it cannot overflow a norm."""
_DEFAULTS = {p.name: p.default_number() for p in REGISTRY}
STATE_ARRAYS = ("keyframes", "_noise_phase", "_noise_freq", "_jitter_phase", "_jitter_freq",
                "_glide_from")
"""The arrays of ``Walk.state`` besides the orbit's two (float64 each)."""
STATE_NUMBERS = ("seed", "phase", "noise_laps", "jitter_s", "time_s", "_glide_elapsed_s",
                 "_speed_mod")


def finite_latent(values: object, dim: int) -> np.ndarray:
    """``values`` as a new float64 latent of shape ``(dim,)``; ``ValueError`` saying why when
    it is not a list/array of ``dim`` finite numbers within ``LATENT_LIMIT``."""
    if isinstance(values, list | tuple):
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise ValueError("a cue holds numbers only")
    elif not isinstance(values, np.ndarray):
        raise ValueError(f"expected a list of {dim} numbers, got {type(values).__name__}")
    try:
        latent = np.array(values, dtype=np.float64)
    except (OverflowError, ValueError, TypeError):
        raise ValueError("not a list of numbers a float can hold") from None
    if latent.shape != (dim,):
        raise ValueError(f"{latent.size} numbers for a latent size of {dim}")
    if not np.isfinite(latent).all():
        raise ValueError("not a finite latent (NaN or infinity)")
    if float(np.abs(latent).max(initial=0.0)) > LATENT_LIMIT:
        raise ValueError(f"values beyond +-{LATENT_LIMIT:g}")
    return latent


def _is_finite(latent: np.ndarray) -> bool:
    """Every component finite (and the norm representable), without a temporary array: one
    dot product, about a microsecond for a few hundred dims, so it is cheap per frame."""
    return math.isfinite(float(latent @ latent))


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
        self.time_s = 0.0
        """Show seconds the walk has advanced through (the sum of its steps)."""
        self._rendered_s = 0.0
        """``time_s`` when ``out`` was last computed."""
        self._speed_mod = 0.0
        """Modulation on ``walk.speed`` at the last render, held over the next step."""
        self._controls: Controls | None = None
        self.mode = mode
        self.cues: list[np.ndarray | None] = [None] * CUE_SLOTS
        self.held_cue: int | None = None
        self.out = np.zeros(dim)
        self._last_good = np.zeros(dim)
        self.recoveries = 0
        """Frames whose latent was not finite and were replaced by the last good one."""
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
        self._last_good[:] = self._source

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
    def _now(self, out: np.ndarray) -> np.ndarray:
        """The latent at ``time_s`` into ``out``: the output when the walk has not advanced
        since its last render, else computed there (a trigger inside a frame)."""
        if self.time_s != self._rendered_s and self._controls is not None:
            self._latent(self._controls, out)
            if _is_finite(out):
                return out
        out[:] = self.out
        return out

    def start_glide(self) -> None:
        """Glide from wherever the walk is now (``_now``) to whatever the source becomes:
        call it before changing the source."""
        self._now(self._glide_from)
        self._glide_elapsed_s = 0.0
        self._glide_active = True

    def store_cue(self, slot: int) -> bool:
        """Keep the latent at the walk's time in ``slot``; refused (False) if not finite."""
        return self.set_cue(slot, self._now(np.empty(self.dim)))

    def set_cue(self, slot: int, values) -> bool:
        """Put ``values`` in cue ``slot`` if they are a finite latent of this walk's size;
        otherwise leave the slot as it was, warn, and return False."""
        try:
            self.cues[slot] = finite_latent(values, self.dim)
        except ValueError as exc:
            log.warning("cue %d not stored: %s", slot + 1, exc)
            return False
        return True

    def recall_cue(self, slot: int) -> bool:
        cue = self.cues[slot]
        if cue is None:
            return False
        if cue.shape != (self.dim,) or not _is_finite(cue):
            # put there by someone other than set_cue: dropped, never shown
            log.warning("cue %d dropped: not a finite latent of size %d", slot + 1, self.dim)
            self.cues[slot] = None
            return False
        self.start_glide()
        self.held_cue = slot
        return True

    def release(self) -> None:
        if self.held_cue is not None:
            self.start_glide()
            self.held_cue = None

    def next_cue(self) -> None:
        """Next stored cue after the held one; with none stored, the next keyframe."""
        stored = [i for i, cue in enumerate(self.cues) if cue is not None]
        if stored:
            after = [i for i in stored if self.held_cue is None or i > self.held_cue]
            self.recall_cue((after or stored)[0])
            return
        k = len(self.keyframes)
        self.start_glide()
        self.phase = ((math.floor(self.phase * k + 1e-9) + 1) / k) % 1.0
        self.noise_laps += 1.0 / k

    def handle(self, event: TriggerEvent) -> None:
        """Apply a walk or cue trigger from the bus."""
        if not math.isfinite(event.arg):  # e.g. a modulated trigger fed a NaN source
            return
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
            self.start_glide()
            self.seed += 1
            self._rng = np.random.default_rng(self.seed)
            self._reseed(len(self.keyframes))

    # ----------------------------------------------------------------- per frame
    def step(self, dt: float, controls: Controls) -> np.ndarray:
        """Advance by ``dt`` seconds under the current (smoothed) controls; return the latent.
        The speed is taken as constant over the step (``advance`` without an integral)."""
        self.advance(dt, controls)
        return self.render(controls)

    def sync(self, controls: Controls) -> None:
        """Follow a change of mode or keyframe count (with a glide from where it is now)."""
        self._controls = controls
        mode = controls.choice("walk.mode")
        if mode != self.mode:
            self.start_glide()
            self.mode = mode
            self.held_cue = None
        keyframes = int(_control(controls, "walk.keyframes"))
        if keyframes != len(self.keyframes):
            self.start_glide()
            self.keyframes = self._rng.standard_normal((keyframes, self.dim))

    def advance(self, dt: float, controls: Controls,
                speed_integral: float | None = None) -> None:
        """Move the walk's clocks on by ``dt`` seconds. ``speed_integral``: the integral of
        the smoothed ``walk.speed`` over the step (``Controls.integral``), for a phase that
        does not depend on how time is cut into steps; without it, speed times ``dt``."""
        if not (math.isfinite(dt) and dt >= 0.0):
            dt = 0.0
        self.sync(controls)
        period_s = _control(controls, "walk.period")
        if controls.choice("walk.period_unit") == "beats":
            period_s *= 60.0 / max(_control(controls, "tempo.bpm"), 1e-3)
        if speed_integral is None or not math.isfinite(speed_integral):
            distance = dt * _control(controls, "walk.speed")
        else:
            distance = speed_integral + self._speed_mod * dt
        laps = distance / max(period_s, 1e-3)
        if not math.isfinite(laps):  # the phase keeps what it is given, for good
            laps = 0.0
        self.phase = (self.phase + laps) % 1.0
        self.noise_laps += laps
        self.jitter_s += dt
        self.time_s += dt
        if self._glide_active:
            self._glide_elapsed_s += dt
        if not math.isfinite(self.phase + self.noise_laps + self.jitter_s + self.time_s):
            self._reset_clocks()  # set from outside; int(NaN) below would end the show

    def _latent(self, controls: Controls, out: np.ndarray) -> bool:
        """The latent at ``time_s`` into ``out``; True while a glide is still under way.
        Changes no state but scratch buffers."""
        source = self._source
        if self.held_cue is not None:
            source[:] = self.cues[self.held_cue]
        elif self.mode == "loop":
            self._loop_latent(source)
        elif self.mode == "noise":
            self._sines(self._noise_freq, self._noise_phase, self.noise_laps, source)
        else:
            self._orbit_latent(source)

        energy = _control(controls, "walk.energy")
        if energy > 0.0:
            self._sines(self._jitter_freq, self._jitter_phase, self.jitter_s, self._jitter)
            self._jitter *= 0.6 * energy
            source += self._jitter

        glide_s = _control(controls, "walk.glide")
        if self._glide_active and glide_s > 0.0:
            progress = self._glide_elapsed_s / glide_s
            if progress < 1.0:
                slerp(self._glide_from, source, smoothstep(progress), out)
                return True
        out[:] = source
        return False

    def render(self, controls: Controls) -> np.ndarray:
        """The latent at the time the walk has reached (its output buffer)."""
        self._controls = controls
        self.sync(controls)
        self._glide_active = self._latent(controls, self.out)
        mod = controls.value[controls.registry.index["walk.speed"]] - \
            controls.smoothed[controls.registry.index["walk.speed"]]
        self._speed_mod = float(mod) if math.isfinite(mod) else 0.0
        self._rendered_s = self.time_s
        return self._checked()

    # ----------------------------------------------------------------- state
    def state(self) -> tuple[dict, list[np.ndarray]]:
        """Everything needed to be where this walk is now and go on as it would (another
        node's walk, live/cluster): a head of plain values (clocks, mode, held cue, glide,
        the random generator's state) and float64 arrays (``STATE_ARRAYS``, then the orbit's
        two axes). Cue latents are not in it (stored cues travel on their own)."""
        arrays = [np.asarray(getattr(self, name), "<f8") for name in STATE_ARRAYS]
        arrays += [np.asarray(axis, "<f8") for axis in self._orbit]
        head = {name: getattr(self, name) for name in STATE_NUMBERS}
        head.update(mode=self.mode, held_cue=self.held_cue, glide=bool(self._glide_active),
                    rng=self._rng.bit_generator.state, dim=int(self.dim))
        return head, arrays

    def set_state(self, head: dict, arrays: list[np.ndarray], controls: Controls) -> str | None:
        """Take a ``state()`` (the arrays are kept, not copied), with ``controls`` set as the
        leader's were. Returns why it does not fit this walk (another latent size, a wrong
        shape, a number that is not finite, a bad random state), with nothing changed, or
        None."""
        keyframes = controls.registry["walk.keyframes"]
        if head.get("dim") != self.dim:
            return f"latent size {head.get('dim')!r}, this walk's is {self.dim}"
        if len(arrays) != len(STATE_ARRAYS) + 2:
            return "wrong number of arrays"
        for name, array in zip(STATE_ARRAYS, arrays, strict=False):
            if name == "keyframes":
                if array.ndim != 2 or array.shape[1] != self.dim or \
                        not keyframes.lo <= len(array) <= keyframes.hi:
                    return f"keyframes of shape {array.shape}"
            elif array.shape != np.shape(getattr(self, name)):
                return f"{name.strip('_')} of shape {array.shape}"
        if any(axis.shape != (self.dim,) for axis in arrays[len(STATE_ARRAYS):]):
            return "an orbit of another size"
        numbers = [head.get(name) for name in STATE_NUMBERS]
        if not (all(isinstance(n, int | float) and math.isfinite(n) for n in numbers)
                and all(np.isfinite(a).all() for a in arrays)):
            return "a number that is not finite"
        held = head.get("held_cue")
        if head.get("mode") not in WALK_MODES or not (
                held is None or (isinstance(held, int) and 0 <= held < len(self.cues))):
            return "an unknown mode or cue"
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = head["rng"]
        except (ValueError, TypeError, KeyError) as exc:
            return f"a bad random state ({exc})"
        for name, array in zip(STATE_ARRAYS, arrays, strict=False):
            setattr(self, name, array)
        self._orbit = (arrays[len(STATE_ARRAYS)], arrays[len(STATE_ARRAYS) + 1])
        for name in STATE_NUMBERS:
            setattr(self, name, head[name])
        self.mode, self.held_cue = head["mode"], held
        if held is not None and self.cues[held] is None:
            self.held_cue = None  # its cue did not come (lost): the walk, not a missing latent
        self._glide_active = bool(head.get("glide"))
        self._rng = rng
        self._controls = controls
        self._rendered_s = math.nan  # ``out`` is not at the new time: computed when asked
        return None

    def _checked(self) -> np.ndarray:
        """The output if it is finite (then kept as the last good one); otherwise the last
        good latent, after clearing what made it non-finite (a glide then leads back into the
        walk). Per frame: one dot product and one copy of ``dim`` floats, no allocation."""
        if _is_finite(self.out):
            self._last_good[:] = self.out
            return self.out
        self.recoveries += 1
        if self.recoveries == 1 or self.recoveries % 1000 == 0:
            log.warning("walk: the latent was not finite (%d times so far): showing the last "
                        "good one and gliding on from there", self.recoveries)
        self.out[:] = self._last_good
        held = self.held_cue
        if held is not None and (self.cues[held] is None or not _is_finite(self.cues[held])):
            self.cues[held] = None
            self.held_cue = None
        self._reset_clocks()
        self.seed += 1  # new keyframes and orbit: whatever else went wrong is not kept
        self._rng = np.random.default_rng(self.seed)
        self._reseed(len(self.keyframes))
        self.start_glide()
        return self.out

    def _reset_clocks(self) -> None:
        """Start again from 0 whichever of the walk's clocks is not finite."""
        for name in ("phase", "noise_laps", "jitter_s", "time_s", "_glide_elapsed_s"):
            if not math.isfinite(getattr(self, name)):
                setattr(self, name, 0.0)


def _control(controls: Controls, name: str) -> float:
    """A control the walk computes with; its default if the value is not finite (a modulation
    fed a NaN source must not reach the phase, which would keep it for good)."""
    value = controls[name]
    return value if math.isfinite(value) else _DEFAULTS[name]

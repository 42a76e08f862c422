"""The parameter registry and the control bus: the single source of truth for controls.

Every controllable value is declared once in ``REGISTRY`` (name, kind, range, default, unit,
smoothing time, description). OSC addresses, OSCQuery, the HUD, docs and scene validation are
all derived from this table, so adding a control is one line here.

Threads publish into the ``Bus``; only the engine reads it:

* values live in latest-value slots; ``Bus.set`` validates, clamps and stamps, under a lock held
  for a few microseconds (never while doing I/O);
* a NaN or an infinity never gets in: whoever publishes it (OSC, MIDI, audio, Link, a scene),
  ``set`` and ``trigger`` drop it and count it in ``Bus.non_finite``, and the slot keeps its
  last good value, so one bad number cannot spread through the smoothers into the picture;
* triggers (one-shot events such as ``cue.next``) go into a bounded, stamped queue; when it is
  full the event is dropped and counted instead of growing memory;
* once per frame the engine calls ``Bus.drain`` into its preallocated ``Controls`` and steps
  the smoothers, so a jump in a control becomes a glide in the picture.

Stamps are ``time.perf_counter_ns()`` at arrival in the process; each frame carries the newest
stamp it consumed so ``live bench`` can report control-to-photon latency.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

Kind = Literal["float", "int", "bool", "enum", "trigger"]


@dataclass(frozen=True)
class Param:
    """One controllable value. ``lo``/``hi`` are the native range; ``smooth_s`` the glide time."""

    name: str
    kind: Kind
    default: float | int | bool | str = 0.0
    lo: float = 0.0
    hi: float = 1.0
    unit: str = ""
    smooth_s: float = 0.0
    description: str = ""
    choices: tuple[str, ...] = ()
    text: bool = False
    """A trigger whose argument is a string (a scene name, words to prime the text with)."""

    @property
    def address(self) -> str:
        """The OSC address: ``walk.speed`` -> ``/live/walk/speed``."""
        return "/live/" + self.name.replace(".", "/")

    @property
    def norm_address(self) -> str:
        """The 0-1 twin of the address: ``walk.speed`` -> ``/live/norm/walk/speed``.

        A fader with TouchOSC's default 0-1 range sent here covers the whole native range.
        """
        return "/live/norm/" + self.name.replace(".", "/")

    def from_norm(self, x: float) -> float:
        """Map 0-1 onto the native range (enums and ints round to a step); clamped."""
        x = min(max(_finite(self.name, x), 0.0), 1.0)
        return self.lo + x * (self.hi - self.lo)

    def to_norm(self, value: float) -> float:
        """The slot value as 0-1 of the native range (for feedback to 0-1 faders)."""
        span = self.hi - self.lo
        return 0.0 if span == 0 else min(max((value - self.lo) / span, 0.0), 1.0)

    def default_number(self) -> float:
        """The default as the float stored in a slot (enum: index of the choice)."""
        if self.kind == "enum":
            return float(self.choices.index(str(self.default)))
        return float(self.default)

    def clamp(self, value: float | int | bool | str) -> float:
        """Validate ``value`` for this parameter and return the slot's float.

        Enums accept a choice name or an index; bools accept 0/1; numbers are clamped to the
        range. NaN, infinities and wrong types raise ``ValueError``.
        """
        if self.kind == "enum":
            if isinstance(value, str):
                if value not in self.choices:
                    raise ValueError(
                        f"{self.name}: {value!r} is not one of {', '.join(self.choices)}"
                    )
                return float(self.choices.index(value))
            index = _finite(self.name, value)
            return float(min(max(round(index), 0), len(self.choices) - 1))
        if isinstance(value, str):
            raise ValueError(f"{self.name}: expected a number, got {value!r}")
        number = _finite(self.name, value)
        if self.kind == "bool":
            return 1.0 if number >= 0.5 else 0.0
        number = min(max(number, self.lo), self.hi)
        if self.kind == "int":
            number = float(round(number))
        return number


def _finite(name: str, value: float | int | bool) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name}: {number} is not a finite number")
    return number


def _f(name, default, lo, hi, unit="", smooth_s=0.15, description=""):
    return Param(name, "float", default, lo, hi, unit, smooth_s, description)


def _i(name, default, lo, hi, unit="", description=""):
    return Param(name, "int", default, lo, hi, unit, 0.0, description)


def _e(name, default, choices, description=""):
    return Param(name, "enum", default, 0, len(choices) - 1, "", 0.0, description, tuple(choices))


def _b(name, default, description=""):
    return Param(name, "bool", default, 0, 1, "", 0.0, description)


def _t(name, description, lo=0.0, hi=1.0):
    return Param(name, "trigger", 0.0, lo, hi, "", 0.0, description)


def _s(name, description):
    """A trigger that carries a string."""
    return Param(name, "trigger", 0.0, 0.0, 1.0, "", 0.0, description, text=True)


MAX_TEXT = 256
"""Longest string a trigger carries; longer ones are cut (and counted by the OSC server)."""


WALK_MODES = ("loop", "noise", "orbit")
PC_PARAMS = ("walk.pc1", "walk.pc2", "walk.pc3", "walk.pc4")
MIRROR_MODES = ("off", "horizontal", "vertical", "quad")
LAYER_SLOTS = 2
"""Layers over the neural one (``layer1``, ``layer2``): each a source, an opacity and a blend
mode (live/render/compositor.py). The next issue's ISF shaders become further sources."""
LAYER_SOURCES = ("off", "solid", "gradient", "rings", "stripes", "noise")
BLEND_MODES = ("normal", "add", "screen", "multiply", "difference")
AUDIO_SOURCES = ("level", "bass", "mid", "high", "onset", "beat")
"""Audio sources with a depth fader (``audio.bass_depth``); see live/modulation.py."""

REGISTRY: tuple[Param, ...] = (
    # latent walk
    _e("walk.mode", "loop", WALK_MODES,
       "trajectory: loop = closed spline through keyframes, noise = smooth wander, "
       "orbit = great circle"),
    _f("walk.speed", 1.0, 0.0, 8.0, "x", 0.4, "speed multiplier of the walk (0 = freeze)"),
    _f("walk.period", 32.0, 1.0, 512.0, "s|beats", 0.0,
       "time for one lap of the loop or orbit, in walk.period_unit"),
    _e("walk.period_unit", "seconds", ("seconds", "beats"), "unit of walk.period"),
    _i("walk.keyframes", 8, 2, 64, "", "keyframes in the loop (a change glides to new ones)"),
    _f("walk.energy", 0.15, 0.0, 1.0, "", 0.3, "smooth jitter added to the walk"),
    _f("walk.truncation", 0.8, 0.0, 1.5, "psi", 0.3,
       "pull toward the average latent: lower = safer, higher = wilder"),
    _f("walk.glide", 2.0, 0.0, 30.0, "s", 0.0, "glide time for cue recalls and mode changes"),
    *(_f(name, 0.0, -3.0, 3.0, "sd", 0.3,
         f"move along the model's principal direction {name[-1]} (in standard deviations; "
         "models without stored directions ignore it)") for name in PC_PARAMS),
    _t("walk.reseed", "new keyframes and orbit plane, with a glide"),
    _f("tempo.bpm", 120.0, 20.0, 300.0, "bpm", 0.0, "tempo used by beat-based periods"),
    _t("tempo.tap", "tap tempo: tap on the beat; from the second tap the tempo follows"),
    # cues
    _t("cue.store", "store the current latent in a cue slot (argument: slot 0-15)", 0, 15),
    _t("cue.recall", "glide to a stored cue and hold there (argument: slot 0-15)", 0, 15),
    _t("cue.next", "glide to the next stored cue, or the next keyframe when none is stored"),
    _t("cue.release", "leave the held cue and glide back into the walk"),
    # fx: the compositor's neural pass (geometry, colour, trails) and its output pass
    _f("fx.zoom", 1.0, 0.25, 4.0, "x", 0.2, "zoom into the picture"),
    _f("fx.rotate", 0.0, -180.0, 180.0, "deg", 0.2, "rotation of the picture"),
    _f("fx.spin", 0.0, -180.0, 180.0, "deg/s", 0.3, "continuous rotation speed"),
    _e("fx.mirror", "off", MIRROR_MODES, "mirror the picture about its centre lines"),
    _i("fx.kaleido", 0, 0, 24, "segments", "kaleidoscope segments (0 = off)"),
    _f("fx.feedback", 0.0, 0.0, 0.98, "", 0.2, "trails: how much of the last frame stays"),
    _f("fx.feedback_zoom", 1.02, 0.8, 1.25, "x", 0.2, "zoom applied to the trails each frame"),
    _f("fx.feedback_rotate", 0.0, -10.0, 10.0, "deg", 0.2, "rotation of the trails each frame"),
    _f("fx.hue", 0.0, -180.0, 180.0, "deg", 0.2, "hue rotation"),
    _f("fx.saturation", 1.0, 0.0, 3.0, "x", 0.2, "colour saturation"),
    _f("fx.brightness", 1.0, 0.0, 3.0, "x", 0.2, "brightness"),
    _f("fx.contrast", 1.0, 0.0, 3.0, "x", 0.2, "contrast around mid grey"),
    _f("fx.master", 1.0, 0.0, 1.0, "", 0.25, "master fader: 0 = black"),
    _t("fx.flash", "flash to white (argument: strength 0-1)"),
    _f("fx.flash_decay", 0.25, 0.02, 4.0, "s", 0.0, "how fast a flash fades"),
    _f("fx.crossfade", 0.4, 0.0, 10.0, "s", 0.0,
       "crossfade time when a switch (mirror, kaleido, model) would otherwise cut"),
    # layers over the neural layer, composed in slot order
    *(param for slot in range(1, LAYER_SLOTS + 1) for param in (
        _e(f"layer{slot}.source", "off", LAYER_SOURCES,
           f"what layer {slot} shows over the layers below it (off = nothing)"),
        _f(f"layer{slot}.opacity", 0.5, 0.0, 1.0, "", 0.2, f"opacity of layer {slot}"),
        _e(f"layer{slot}.blend", "screen", BLEND_MODES,
           f"how layer {slot} combines with the layers below it"),
        _f(f"layer{slot}.speed", 1.0, 0.0, 8.0, "x", 0.3, f"how fast layer {slot} moves"),
        _f(f"layer{slot}.scale", 1.0, 0.25, 8.0, "x", 0.2, f"size of layer {slot}'s pattern"),
        _f(f"layer{slot}.hue", 0.0, -180.0, 180.0, "deg", 0.2, f"hue of layer {slot}"),
    )),
    # imported StyleGAN models (live/stylegan/): what their network itself can do
    _f("model.rotate", 0.0, -180.0, 180.0, "deg", 0.3,
       "StyleGAN3: turn the picture inside the network (no seam, as NVIDIA's visualizer)"),
    _f("model.translate_x", 0.0, -2.0, 2.0, "", 0.3,
       "StyleGAN3: slide the picture sideways inside the network"),
    _f("model.translate_y", 0.0, -2.0, 2.0, "", 0.3,
       "StyleGAN3: slide the picture up or down inside the network"),
    _e("model.noise", "const", ("const", "random", "none"),
       "StyleGAN2: per-pixel noise: const = fixed texture, random = shimmering, none = smooth"),
    # scenes
    _t("scene.next", "switch to the next scene in the scenes folder (alphabetical)"),
    _t("scene.prev", "switch to the previous scene"),
    _s("scene.go", "switch to a scene by name (a string) or by number (0 = first)"),
    # audio mapping: how strongly the scene's [[map]] tables from each audio source act
    _f("audio.depth", 1.0, 0.0, 2.0, "x", 0.1,
       "master depth of every audio modulation (0 = the music moves nothing)"),
    *(_f(f"audio.{name}_depth", 1.0, 0.0, 2.0, "x", 0.1,
         f"depth of the modulation from audio.{name}") for name in AUDIO_SOURCES),
    # text layer
    _b("text.visible", False, "show the live text over the picture"),
    _f("text.rate", 12.0, 0.0, 80.0, "chars/s", 0.3, "typing speed (0 = only bursts and beats)"),
    _i("text.beat_chars", 0, 0, 32, "chars", "characters typed on each beat (0 = off)"),
    _t("text.burst", "type a burst of characters at once (argument: 0-1 of 24 characters)"),
    _f("text.temperature", 0.8, 0.1, 2.0, "", 0.0,
       "sampling temperature: low = safe and repetitive, high = wild"),
    _i("text.top_k", 0, 0, 64, "", "sample among the k likeliest characters (0 = all)"),
    _f("text.top_p", 1.0, 0.05, 1.0, "", 0.0,
       "sample among the likeliest characters covering this probability (1 = all)"),
    _f("text.size", 0.06, 0.02, 0.25, "of height", 0.0, "letter height, as a fraction of the "
       "output height"),
    _f("text.opacity", 0.9, 0.0, 1.0, "", 0.2, "opacity of the text"),
    _f("text.x", 0.06, 0.0, 1.0, "", 0.3, "left edge of the text block (0-1 of the width)"),
    _f("text.y", 0.62, 0.0, 1.0, "", 0.3, "top of the text block (0-1 of the height)"),
    _f("text.width", 0.88, 0.1, 1.0, "", 0.0, "width lines wrap at (0-1 of the width)"),
    _i("text.lines", 4, 1, 16, "lines", "lines kept on screen; older ones scroll away"),
    _f("text.fade", 6.0, 0.0, 60.0, "s", 0.0,
       "seconds a finished line stays before it fades out (0 = never fades)"),
    _f("text.hue", 0.0, -180.0, 180.0, "deg", 0.2, "text colour hue"),
    _f("text.saturation", 0.0, 0.0, 1.0, "", 0.2, "text colour saturation (0 = white)"),
    _f("text.outline", 0.7, 0.0, 1.0, "", 0.2,
       "dark outline and shadow so the text reads on bright and dark pictures"),
    _s("text.prime", "continue the live text from these words"),
    _t("text.reset", "forget the text so far and start afresh"),
    # MIDI
    _s("midi.learn", "arm MIDI learn for this parameter (\"\" = the last one changed, "
                     "\"off\" = cancel); the next control moved is mapped to it"),
    # output (every node of a show)
    _t("output.snapshot", "a PNG on every node of a multi-machine show, of the frame at the "
                           "same show time (each node its own output, named by that time)"),
    # show
    _b("show.record", False, "record the output to an mp4 in the recordings folder (1 = start, "
                             "0 = stop)"),
    _t("show.snapshot", "write a PNG of the output to the snapshots folder"),
    _t("show.hud", "toggle the heads-up display"),
    _t("show.fullscreen", "toggle fullscreen"),
    _t("show.quit", "stop the show"),
)


class Registry:
    """Index of ``REGISTRY`` by name, with the slot layout the bus and engine share."""

    def __init__(self, params: Iterable[Param] = REGISTRY, shaders: Iterable = ()) -> None:
        self.params: tuple[Param, ...] = tuple(params)
        self.shaders: tuple = tuple(shaders)
        """``(layer name, ISF shader)`` pairs whose inputs were added
        (live.layers.show_registry)."""
        self.index: dict[str, int] = {p.name: i for i, p in enumerate(self.params)}
        if len(self.index) != len(self.params):
            raise ValueError("duplicate parameter names in the registry")
        self.defaults = np.array([p.default_number() for p in self.params], dtype=np.float64)
        self.smooth_s = np.array(
            [p.smooth_s if p.kind == "float" else 0.0 for p in self.params], dtype=np.float64
        )

    def __getitem__(self, name: str) -> Param:
        try:
            return self.params[self.index[name]]
        except KeyError:
            raise KeyError(f"unknown parameter {name!r}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.index

    def __iter__(self):
        return iter(self.params)


@dataclass(frozen=True)
class TriggerEvent:
    name: str
    arg: float
    stamp_ns: int
    text: str = ""
    at_s: float = math.nan
    """The show time it was stamped for (live/showclock.py), or NaN: at once."""


class Bus:
    """Latest-value slots plus a bounded trigger queue, written by any thread.

    ``set``/``trigger`` never block for longer than a list store under a lock and never raise
    on a full queue: a dropped trigger is counted in ``dropped_triggers``.
    """

    def __init__(self, registry: Registry, trigger_capacity: int = 256) -> None:
        self.registry = registry
        self._values = registry.defaults.copy()
        self._stamps = np.zeros(len(registry.params), dtype=np.int64)
        self._newest_stamp_ns = 0
        self._triggers: deque[TriggerEvent] = deque()
        self._capacity = trigger_capacity
        self._lock = threading.Lock()
        self.dropped_triggers = 0
        self.rejected = 0
        self.non_finite = 0
        """NaNs and infinities published and dropped (never stored, never queued)."""
        self.relay = None
        """A cluster leader (live/cluster/relay.py) when this show leads others: ``set`` and
        ``trigger`` then hand every write to ``relay.set`` / ``relay.trigger``, which stamp
        it with the show time at which every node applies it and publish it here through
        ``publish`` / ``publish_trigger`` at that time."""

    def set(self, name: str, value: float | int | bool | str, stamp_ns: int | None = None) -> float:
        """Publish a new value (validated and clamped), or hand it to the cluster ``relay``;
        returns the stored value (see ``publish``). A trigger given a value fires (a string
        is its text) and returns 1.0."""
        if self.registry[name].kind == "trigger":
            if isinstance(value, str):
                self.trigger(name, 1.0, stamp_ns, text=value)
            else:
                self.trigger(name, value, stamp_ns)
            return 1.0
        relay = self.relay
        if relay is not None:
            return relay.set(name, value, stamp_ns)
        return self.publish(name, value, stamp_ns)

    def trigger(self, name: str, arg: float = 1.0, stamp_ns: int | None = None,
                text: str = "") -> bool:
        """Queue a one-shot event, or hand it to the cluster ``relay`` (see
        ``publish_trigger``)."""
        relay = self.relay
        if relay is not None:
            return relay.trigger(name, arg, stamp_ns, text)
        return self.publish_trigger(name, arg, stamp_ns, text)

    def publish(self, name: str, value: float | int | bool | str,
                stamp_ns: int | None = None) -> float:
        """Publish a new value (validated and clamped); returns the stored value.

        A NaN or infinity is dropped and counted in ``non_finite`` (the slot keeps its value,
        which is returned): a sensor or a peer gone wrong must not stop its thread. Raises
        ``KeyError`` for an unknown name and ``ValueError`` for a wrong type or choice; the
        caller (an OSC handler, a scene loader) decides whether to count or report it.
        Values only: ``set`` fires triggers.
        """
        param = self.registry[name]
        if param.kind == "trigger":
            raise ValueError(f"{name} is a trigger: fire it with set or trigger")
        if isinstance(value, float | np.floating) and not math.isfinite(value):
            self.non_finite += 1
            return float(self._values[self.registry.index[name]])
        try:
            number = param.clamp(value)
        except ValueError:
            self.rejected += 1
            raise
        stamp = time.perf_counter_ns() if stamp_ns is None else stamp_ns
        i = self.registry.index[name]
        with self._lock:
            self._values[i] = number
            self._stamps[i] = stamp
            if stamp > self._newest_stamp_ns:
                self._newest_stamp_ns = stamp
        return number

    def publish_trigger(self, name: str, arg: float = 1.0, stamp_ns: int | None = None,
                        text: str = "") -> bool:
        """Queue a one-shot event; returns False (and counts it) when the queue is full.

        ``text`` (cut to ``MAX_TEXT`` characters) is for triggers that carry a string. A NaN or
        infinite ``arg`` is dropped and counted in ``non_finite`` (returns False).
        """
        param = self.registry[name]
        if param.kind != "trigger":
            raise ValueError(f"{name} is a {param.kind} parameter, not a trigger")
        if isinstance(arg, float | np.floating) and not math.isfinite(arg):
            self.non_finite += 1
            return False
        number = min(max(_finite(name, arg), param.lo), param.hi)
        text = text[:MAX_TEXT]
        stamp = time.perf_counter_ns() if stamp_ns is None else stamp_ns
        with self._lock:
            if len(self._triggers) >= self._capacity:
                self.dropped_triggers += 1
                return False
            self._triggers.append(TriggerEvent(name, number, stamp, text))
            if stamp > self._newest_stamp_ns:
                self._newest_stamp_ns = stamp
        return True

    def get(self, name: str) -> float:
        """The newest published (unsmoothed) value, for feedback and tests."""
        return float(self._values[self.registry.index[name]])

    def snapshot(self, out: np.ndarray) -> None:
        """Copy every published value into ``out`` (feedback, OSCQuery): one short lock."""
        with self._lock:
            np.copyto(out, self._values)

    def last_changed(self) -> str | None:
        """The parameter set most recently (MIDI learn of "the last one touched")."""
        with self._lock:
            if not self._stamps.any():
                return None
            return self.registry.params[int(np.argmax(self._stamps))].name

    def drain(self, into: Controls, triggers: bool = True) -> None:
        """Copy the newest values and pending triggers into ``into`` (engine thread only);
        with ``triggers=False`` the triggers stay queued for the next drain."""
        with self._lock:
            np.copyto(into.target, self._values)
            into.newest_stamp_ns = self._newest_stamp_ns
            if triggers:
                into.triggers.clear()
                into.triggers.extend(self._triggers)
                self._triggers.clear()


class Controls:
    """The engine's view of the controls: smoothed values, pending triggers, newest stamp.

    ``step(dt)`` moves each smoothed value toward its target with a one-pole filter whose time
    constant is the parameter's ``smooth_s`` (ints, enums and bools follow at once).

    Time: with a constant target the filter is exact in ``dt`` (``exp(-a) * exp(-b) ==
    exp(-(a + b))``), so stepping 0.1 s once or ten times 0.01 s gives the same value to float
    rounding: the smoothed controls are a function of show time between target changes. A
    change that must land at a given show time (a stamped change from a leader, see
    live/showclock.py) is applied by splitting the frame's step there: ``step`` up to the
    change, ``set_target``, ``step`` on. A change drained from the bus without a time applies
    at the start of the frame's step, as it always did. ``step`` also leaves in ``integral``
    the exact integral of each smoothed value over the step, which the walk turns into
    distance (so its phase does not depend on the frame rate either).
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.target = registry.defaults.copy()
        self.smoothed = registry.defaults.copy()
        """The smoothers' state: the controls as set, glided."""
        self.value = registry.defaults.copy()
        """What the picture uses: ``smoothed`` plus this frame's modulation."""
        self.triggers: list[TriggerEvent] = []
        self.newest_stamp_ns = 0
        self.integral = np.zeros_like(self.value)
        """Per parameter: the integral of its smoothed value over the last ``step``
        (value-seconds); discrete ones hold their new value over the whole step."""
        self.total = np.zeros_like(self.value)
        """Per parameter: the integral of its smoothed value since the show started, the
        sum of ``integral`` (a rate's accumulated distance: the compositor's spin and layer
        phases), a function of show time like the smoothers."""
        self._tau = np.maximum(registry.smooth_s, 1e-9)
        self._alpha = np.zeros_like(self.value)
        self._delta = np.zeros_like(self.value)
        self._discrete = registry.smooth_s <= 0.0
        self._index = registry.index

    def step(self, dt: float) -> None:
        """Advance the smoothers by ``dt`` seconds (in place, no allocation); ``value`` then
        holds the smoothed values, to which modulation may add, and ``integral`` the exact
        integral of each smoothed value over the step."""
        dt = dt if dt > 0.0 else 0.0  # also NaN
        np.divide(-dt, self._tau, out=self._alpha)
        np.exp(self._alpha, out=self._alpha)
        np.subtract(1.0, self._alpha, out=self._alpha)
        np.subtract(self.target, self.smoothed, out=self._delta)
        # s(t) = T - (T - s0) exp(-t/tau): its integral over dt is T dt - (T - s0) tau alpha
        np.multiply(self._delta, self._alpha, out=self.integral)
        self.integral *= self._tau
        np.subtract(0.0, self.integral, out=self.integral)
        self._delta *= self._alpha
        self.smoothed += self._delta
        np.copyto(self.smoothed, self.target, where=self._discrete)
        np.copyto(self.value, self.smoothed)
        np.multiply(self.target, dt, out=self._alpha)  # alpha is spent: reused as T dt
        self.integral += self._alpha
        np.copyto(self.integral, self._alpha, where=self._discrete)
        self.total += self.integral

    def set_target(self, name: str, value: float | int | bool | str) -> float:
        """Set one target (validated and clamped like ``Bus.set``) between two ``step``
        calls: the change takes effect at the show time the steps have reached. Discrete
        parameters follow at once. Returns the stored value."""
        param = self.registry[name]
        number = param.clamp(value)
        i = self._index[name]
        self.target[i] = number
        if self._discrete[i]:
            self.smoothed[i] = number
            self.value[i] = number
        return number

    def set_target_since(self, name: str, value: float | int | bool | str,
                         ago_s: float) -> tuple[float, float]:
        """``set_target`` as if it had been done ``ago_s`` seconds before the time the steps
        have reached (a stamped change that arrived late): the smoother and the integral
        since the show started are put where they would be (with a constant target the
        filter's response to a step is known in closed form). Returns the stored value and
        the extra integral of the smoothed value over those seconds (value-seconds; the walk
        turns that of ``walk.speed`` into distance)."""
        i = self._index[name]
        old = float(self.target[i])
        number = self.set_target(name, value)
        if not ago_s > 0.0:  # also NaN
            return number, 0.0
        jump = number - old
        if self._discrete[i]:
            extra = jump * ago_s
        else:
            kept = math.exp(-ago_s / self._tau[i])
            self.smoothed[i] += jump * (1.0 - kept)
            self.value[i] = self.smoothed[i]
            extra = jump * (ago_s - self._tau[i] * (1.0 - kept))
        self.total[i] += extra
        return number, extra

    def jump(self) -> None:
        """Set every smoothed value to its target at once (scene load, tests)."""
        np.copyto(self.smoothed, self.target)
        np.copyto(self.value, self.target)

    def __getitem__(self, name: str) -> float:
        return float(self.value[self._index[name]])

    def choice(self, name: str) -> str:
        """The current choice name of an enum parameter."""
        param = self.registry[name]
        return param.choices[int(self.value[self._index[name]])]

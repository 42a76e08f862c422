"""Modulation: sources (audio features, the tempo clock) moving parameters, per scene.

A scene's ``[[map]]`` entries each say: take a **source**, shape it with a **curve**, scale it
by **amount** (in the target's own units) and add it to the **target** parameter's value::

    [[map]]
    source = "audio.bass"    # 0-1
    target = "fx.zoom"
    amount = 0.15            # bass at full adds 0.15 to the zoom
    curve = "exp"            # lin | exp | log | step
    range = [0.1, 0.9]       # optional: the part of the source mapped onto 0-1
    smooth = 0.05            # optional: extra smoothing in seconds

The sum is what the picture uses (``Controls.value``); the parameter's own value (what OSC
faders, scenes and MIDI set, and what feedback reports) is untouched, so modulation never
fights a fader. A trigger target (``fx.flash``, ``cue.next``, ``walk.reseed``) fires when the
source rises through 0.5, or on every event of an event source (``audio.onset``,
``audio.beat``), with ``amount`` times the event's strength as its argument.

Sources live in a ``SourceTable``: fixed slots written by their threads (the audio analysis
thread publishes levels and counts events) and read once per frame by the engine, which also
decays the pulses (``audio.onset`` and ``audio.beat`` jump to the event's strength and fall
back over ``PULSE_S``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from live.params import AUDIO_SOURCES, Controls, Registry, TriggerEvent

SOURCES = ("audio.level", "audio.bass", "audio.mid", "audio.high", "audio.onset",
           "audio.beat", "audio.phase", "audio.bpm", "audio.confidence", "tempo.phase")
"""Every source a map can name, 0-1 except audio.bpm (beats per minute)."""
EVENTS = ("audio.onset", "audio.beat")
PULSE_S = 0.12
"""Time constant of the pulse an event source leaves behind."""
CURVES = ("lin", "exp", "log", "step")


class ModulationError(ValueError):
    """A map that cannot be used; the scene loader adds file:line."""


@dataclass(frozen=True)
class Map:
    source: str
    target: str
    amount: float
    curve: str = "lin"
    lo: float = 0.0
    hi: float = 1.0
    smooth_s: float = 0.0


def parse_map(raw: dict, registry: Registry) -> Map:
    """One ``[[map]]`` table -> ``Map``; problems raise ``ModulationError`` naming the key."""
    known = {"source", "target", "amount", "curve", "range", "smooth"}
    extra = sorted(set(raw) - known)
    if extra:
        raise ModulationError(f"unknown key {extra[0]!r} in [[map]] (known: "
                              f"{', '.join(sorted(known))})")
    for key in ("source", "target", "amount"):
        if key not in raw:
            raise ModulationError(f"[[map]] needs {key!r}")
    source, target = raw["source"], raw["target"]
    if source not in SOURCES:
        raise ModulationError(f"unknown source {source!r} (sources: {', '.join(SOURCES)})")
    if not isinstance(target, str) or target not in registry:
        raise ModulationError(f"unknown target parameter {target!r}")
    param = registry[target]
    if param.kind in ("enum", "bool") or (param.kind == "trigger" and param.text):
        raise ModulationError(f"{target} is a {param.kind} parameter: it cannot be modulated")
    amount = raw["amount"]
    if isinstance(amount, bool) or not isinstance(amount, int | float) or \
            not math.isfinite(amount):
        raise ModulationError(f"amount must be a number, got {amount!r}")
    curve = raw.get("curve", "lin")
    if curve not in CURVES:
        raise ModulationError(f"curve must be one of {', '.join(CURVES)}, got {curve!r}")
    lo, hi = raw.get("range", [0.0, 1.0]) if source != "audio.bpm" else raw.get(
        "range", [60.0, 180.0])
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lo, hi)) \
            or not lo < hi:
        raise ModulationError(f"range must be [low, high] with low < high, got {[lo, hi]!r}")
    smooth = raw.get("smooth", 0.0)
    if isinstance(smooth, bool) or not isinstance(smooth, int | float) or smooth < 0:
        raise ModulationError(f"smooth must be seconds >= 0, got {smooth!r}")
    return Map(source, target, float(amount), curve, float(lo), float(hi), float(smooth))


class SourceTable:
    """The current value of every source, written by their threads, read by the engine."""

    def __init__(self) -> None:
        self.index = {name: i for i, name in enumerate(SOURCES)}
        self.non_finite = 0
        """NaN or infinite values refused (they would reach every parameter they modulate)."""
        self.values = np.zeros(len(SOURCES))
        """Continuous values as published (the engine reads ``current``)."""
        self.events = np.zeros(len(SOURCES), dtype=np.int64)
        """Per event source: how many events so far (the engine compares counts)."""
        self.strength = np.zeros(len(SOURCES))
        self.current = np.zeros(len(SOURCES))
        self._seen = np.zeros(len(SOURCES), dtype=np.int64)
        self.fired = np.zeros(len(SOURCES), dtype=bool)
        """Which event sources had an event since the last frame (engine side)."""
        self._pulses = np.array([name in EVENTS for name in SOURCES])

    # writer side (audio analysis thread)
    def set(self, name: str, value: float) -> None:
        if not math.isfinite(value):  # a source gone wrong keeps its last good value
            self.non_finite += 1
            return
        self.values[self.index[name]] = value

    def event(self, name: str, strength: float = 1.0) -> None:
        if not math.isfinite(strength):
            self.non_finite += 1
            return
        i = self.index[name]
        self.strength[i] = strength
        self.events[i] += 1

    # engine side, once per frame
    def step(self, dt: float) -> None:
        np.not_equal(self.events, self._seen, out=self.fired)
        np.copyto(self._seen, self.events)
        decay = math.exp(-max(dt, 0.0) / PULSE_S)
        self.current *= decay
        np.copyto(self.current, self.values, where=~self._pulses)
        np.copyto(self.current, self.strength, where=self.fired)

    def __getitem__(self, name: str) -> float:
        return float(self.current[self.index[name]])


class Modulation:
    """The maps of the current scene, applied to ``Controls`` once per frame."""

    def __init__(self, maps: list[Map] | tuple[Map, ...], registry: Registry) -> None:
        self.registry = registry
        self.maps = tuple(maps)
        self._source = [SOURCES.index(m.source) for m in self.maps]
        self._target = [registry.index[m.target] for m in self.maps]
        self._trigger = [registry[m.target].kind == "trigger" for m in self.maps]
        self._event = [m.source in EVENTS for m in self.maps]
        # audio maps scale with the master depth and their source's depth fader
        master = registry.index.get("audio.depth")
        self._depth = [
            (master, registry.index.get(f"{m.source}_depth"))
            if m.source.startswith("audio.") and m.source[6:] in AUDIO_SOURCES else
            (master, None) if m.source.startswith("audio.") else (None, None)
            for m in self.maps]
        self._state = np.zeros(len(self.maps))
        self._above = np.zeros(len(self.maps), dtype=bool)
        self._lo = np.array([p.lo for p in registry])
        self._hi = np.array([p.hi for p in registry])

    def apply(self, controls: Controls, sources: SourceTable, dt: float) -> None:
        """Add every map's contribution to ``controls.value`` and queue trigger maps."""
        if not self.maps:
            return
        for k, m in enumerate(self.maps):
            s = self._source[k]
            amount = m.amount
            master, depth = self._depth[k]
            if master is not None:
                amount *= controls.value[master]
            if depth is not None:
                amount *= controls.value[depth]
            if self._trigger[k]:
                if self._event[k]:
                    if sources.fired[s] and amount > 0:
                        self._fire(controls, m, amount * sources.strength[s])
                    continue
                above = sources.current[s] >= 0.5
                if above and not self._above[k] and amount > 0:
                    self._fire(controls, m, amount)
                self._above[k] = above
                continue
            x = (sources.current[s] - m.lo) / (m.hi - m.lo)
            x = 0.0 if x < 0.0 else 1.0 if x > 1.0 else x
            if m.curve == "exp":
                x = x * x
            elif m.curve == "log":
                x = math.sqrt(x)
            elif m.curve == "step":
                x = 1.0 if x >= 0.5 else 0.0
            if m.smooth_s > 0:
                x = self._state[k] + (x - self._state[k]) * (1 - math.exp(-dt / m.smooth_s))
            self._state[k] = x
            controls.value[self._target[k]] += amount * x
        np.clip(controls.value, self._lo, self._hi, out=controls.value)

    def _fire(self, controls: Controls, m: Map, arg: float) -> None:
        param = self.registry[m.target]
        arg = min(max(arg, param.lo), param.hi)
        controls.triggers.append(TriggerEvent(m.target, arg, controls.newest_stamp_ns))

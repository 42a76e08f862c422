"""Show time: the state at a clock reading does not depend on how time was cut into frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from live.control.tempo import BeatClock
from live.modulation import Map, Modulation, SourceTable
from live.params import Bus, Controls, Registry
from live.showclock import ExternalClock, LocalClock, ManualClock, SteppedClock, Timeline
from live.walk import Walk

DIM = 64
REG = Registry()
CHECKS = (0.5, 1.25, 2.0, 2.75, 3.5, 4.25, 5.0)
"""Readings both frame timings pass through, where the states are compared."""

CHANGES = (  # (show time, name, value): values and triggers, stamped
    (0.2, "walk.period_unit", "beats"),
    (0.2, "walk.period", 8.0),
    (0.37, "cue.store", 2),
    (0.53, "walk.speed", 3.0),
    (0.71, "fx.hue", 90.0),
    (1.1, "tempo.bpm", 140.0),
    (1.37, "walk.mode", "orbit"),
    (1.9, "cue.next", 1),
    (2.3, "walk.reseed", 1),
    (2.61, "walk.glide", 0.7),
    (2.8, "cue.recall", 2),
    (3.3, "walk.energy", 0.8),
    (3.6, "cue.release", 1),
    (3.9, "walk.mode", "noise"),
    (4.1, "fx.zoom", 2.5),
    (4.4, "walk.speed", 0.5),
)


class Node:
    """What a node computes from shared state: controls, walk, beat clock, modulation."""

    def __init__(self, maps=()) -> None:
        self.bus = Bus(REG)
        self.controls = Controls(REG)
        self.bus.drain(self.controls)
        self.controls.jump()
        self.walk = Walk(DIM, seed=5)
        self.beat = BeatClock()
        self.sources = SourceTable()
        self.modulation = Modulation(list(maps), REG)
        self.timeline = Timeline()
        self.last_s = 0.0
        self.walk.render(self.controls)

    def frame(self, t: float) -> None:
        """One frame at reading ``t``, in the engine's order."""
        dt = t - self.last_s
        self.bus.drain(self.controls)
        self.timeline.advance(self.last_s, t, self.controls, self.walk, self.beat,
                              self.sources, self.bus)
        self.sources.step(dt)
        self.beat.count(self.sources["tempo.phase"])
        self.modulation.apply(self.controls, self.sources, dt)
        for event in self.controls.triggers:  # unstamped ones, as the engine does
            if event.name.startswith(("cue.", "walk.")):
                self.walk.handle(event)
        self.walk.render(self.controls)
        self.last_s = t


def readings(kind: str, end: float = 5.0) -> list[float]:
    """Frame readings up to ``end``: a steady 60 Hz, or irregular 17-70 ms frames; both
    pass through every reading in ``CHECKS``."""
    rng = np.random.default_rng(11)
    out, t = [], 0.0
    while t < end - 1e-9:
        t += 1 / 60 if kind == "60hz" else float(rng.uniform(0.017, 0.070))
        for check in CHECKS:  # land on the check readings exactly
            if out and out[-1] < check < t + 1e-9:
                t = check
        t = min(t, end)
        out.append(t)
    return out


def run(kind: str, maps=()) -> dict[float, tuple]:
    node = Node(maps)
    for at_s, name, value in CHANGES:
        assert node.timeline.at(at_s, name, value)
    seen = {}
    for t in readings(kind):
        node.frame(t)
        if t in CHECKS:
            seen[t] = (node.walk.out.copy(), node.controls.value.copy(), node.beat.phase,
                       node.walk.held_cue, node.walk.mode)
    assert node.timeline.pending() == 0 and node.timeline.late == 0
    return seen


def test_two_frame_timings_give_the_same_latent_and_fx_at_the_same_readings():
    steady, ragged = run("60hz"), run("ragged")
    assert sorted(steady) == sorted(ragged) == list(CHECKS)
    for t in CHECKS:
        (z1, v1, p1, held1, mode1), (z2, v2, p2, held2, mode2) = steady[t], ragged[t]
        assert np.allclose(z1, z2, rtol=0, atol=1e-9), (t, float(np.abs(z1 - z2).max()))
        assert np.allclose(v1, v2, rtol=0, atol=1e-9), t
        assert p1 == pytest.approx(p2, abs=1e-9)
        assert (held1, mode1) == (held2, mode2)
    # the changes did something: a held cue, a new mode, the fx moved
    assert steady[3.5][3] == 2 and steady[5.0][4] == "noise"
    assert steady[1.25][1][REG.index["fx.hue"]] > 80.0


def test_a_beat_synced_lfo_is_the_same_at_the_same_reading():
    maps = [Map("tempo.phase", "fx.hue", 40.0), Map("tempo.phase", "fx.zoom", 0.5, "exp")]
    steady, ragged = run("60hz", maps), run("ragged", maps)
    for t in CHECKS:
        assert np.allclose(steady[t][1], ragged[t][1], rtol=0, atol=1e-9), t
    hue = REG.index["fx.hue"]
    # 1.25 s: 120 bpm to 1.1 s, then 140 bpm: the phase is exact, so is the LFO
    beats = 1.1 * 2.0 + 0.15 * 140 / 60
    assert steady[1.25][2] == pytest.approx(beats % 1.0, abs=1e-9)
    assert steady[1.25][1][hue] == pytest.approx(
        90.0 * (1 - math.exp(-(1.25 - 0.71) / REG["fx.hue"].smooth_s)) + 40.0 * (beats % 1),
        abs=1e-6)


def test_controls_split_at_a_change_equal_one_exact_step():
    """A stamped change inside a frame lands at its time: smoothing from there on."""
    a, b = Node(), Node()
    for node in (a, b):
        node.timeline.at(0.3, "fx.hue", 120.0)
    a.frame(1.0)  # one long frame
    for t in np.linspace(0.05, 1.0, 20):  # twenty short ones
        b.frame(float(t))
    tau = REG["fx.hue"].smooth_s
    expected = 120.0 * (1 - math.exp(-0.7 / tau))
    assert a.controls["fx.hue"] == pytest.approx(expected, abs=1e-9)
    assert b.controls["fx.hue"] == pytest.approx(expected, abs=1e-9)
    assert a.bus.get("fx.hue") == 120.0  # the next drain keeps it


def test_an_unstamped_change_still_applies_at_once():
    node = Node()
    node.frame(0.1)
    node.bus.set("fx.kaleido", 6)
    node.bus.set("fx.hue", 30.0)
    node.frame(0.2)  # the very next frame shows it
    assert node.controls["fx.kaleido"] == 6.0
    assert node.controls["fx.hue"] > 0.0


def test_a_value_seen_late_lands_where_it_would_have_been_and_is_counted():
    """A node too slow for the leader's delay sees changes after their time: smoothed values,
    integrals since the start (spin, layer phases) and the walk's phase are put where they
    would be had the change come on time, so the slow node does not drift."""
    changes = ((0.2, "walk.speed", 3.0), (0.25, "fx.spin", 90.0), (0.3, "fx.kaleido", 4),
               (0.3, "fx.hue", 200.0))
    on_time, late = Node(), Node()
    for at_s, name, value in changes:
        on_time.timeline.at(at_s, name, value)
    for t in (0.1, 0.45, 0.5, 0.6):
        on_time.frame(t)
    for t in (0.1, 0.45):
        late.frame(t)
    for at_s, name, value in changes:  # arrive during the frame after their time
        late.timeline.at(at_s, name, value)
    late.frame(0.5)
    late.frame(0.6)
    assert late.timeline.late == 4 and on_time.timeline.late == 0
    for attr in ("target", "smoothed", "total"):
        np.testing.assert_allclose(getattr(late.controls, attr), getattr(on_time.controls, attr),
                                   rtol=1e-12, atol=1e-12)
    assert late.walk.phase == pytest.approx(on_time.walk.phase, abs=1e-12)
    np.testing.assert_allclose(late.walk.out, on_time.walk.out, atol=1e-12)
    assert late.controls["fx.kaleido"] == 4.0


def test_the_timeline_refuses_non_finite_times_and_bounds_its_queue():
    timeline = Timeline(capacity=2)
    assert not timeline.at(math.nan, "fx.hue", 1.0)
    assert timeline.at(1.0, "fx.hue", 1.0) and timeline.at(2.0, "fx.hue", 2.0)
    assert not timeline.at(3.0, "fx.hue", 3.0) and timeline.dropped == 1


def test_walk_speed_integrates_the_smoothed_speed_exactly():
    node = Node()
    node.walk.phase = 0.0
    node.timeline.at(0.0, "walk.energy", 0.0)
    node.timeline.at(0.0, "walk.speed", 4.0)
    node.frame(2.0)
    tau = REG["walk.speed"].smooth_s
    distance = 4.0 * 2.0 - 3.0 * tau * (1 - math.exp(-2.0 / tau))
    assert node.walk.phase == pytest.approx(distance / 32.0 % 1.0, abs=1e-12)


def test_local_clock_holds_back_a_stall_and_never_goes_back():
    now = [100.0]
    clock = LocalClock(max_step_s=0.1, time_fn=lambda: now[0])
    assert clock.read() == 0.0
    now[0] = 100.05
    assert clock.read() == pytest.approx(0.05)
    now[0] = 102.0  # a 2 s stall: shown as 0.1 s
    assert clock.read() == pytest.approx(0.15)
    now[0] = 102.02
    assert clock.read() == pytest.approx(0.17)


def test_stepped_manual_and_external_clocks():
    stepped = SteppedClock(0.25)
    assert [stepped.read() for _ in range(4)] == [0.0, 0.25, 0.5, 0.75]
    manual = ManualClock()
    manual.advance(0.5)
    assert manual.read() == 0.5
    source = [10.0]
    external = ExternalClock(lambda: source[0], offset=-4.0)
    assert external.read() == 6.0
    source[0] = 9.0  # corrected backwards: the show holds still
    assert external.read() == 6.0
    source[0] = math.nan
    assert external.read() == 6.0
    source[0] = 11.0
    assert external.read() == 7.0
    with pytest.raises(ValueError):
        SteppedClock(-1.0)


class ListClock:
    """Readings from a list (then the last one again)."""

    def __init__(self, readings) -> None:
        self.readings = list(readings)
        self.n = 0

    def read(self) -> float:
        t = self.readings[min(self.n, len(self.readings) - 1)]
        self.n += 1
        return t


def two_engines(cfg, seed: int, step: float, end: float):
    """Two headless engines ending at reading ``end``: one on a steady ``step``, one on
    irregular 17-70 ms frames; yields each with its frame count."""
    from live.cli import _prepare
    from live.engine import Engine

    rng = np.random.default_rng(seed)
    ragged = np.cumsum(rng.uniform(0.017, 0.070, 40))
    ragged = [0.0, *ragged[ragged < end].tolist(), end]
    for clock, frames in ((SteppedClock(step), round(end / step)),
                          (ListClock(ragged), len(ragged) - 1)):
        scene, model, choice = _prepare(cfg, None, None)
        yield Engine(cfg, model, choice, scene, headless=True, clock=clock), frames


def test_two_engines_at_different_frame_rates_decode_the_same_latent(small_config):
    results = []
    for engine, frames in two_engines(small_config, 3, 0.04, 1.2):
        for at_s, name, value in ((0.3, "walk.speed", 4.0), (0.45, "cue.next", 1.0),
                                  (0.6, "fx.hue", 60.0), (0.8, "walk.mode", "orbit")):
            engine.timeline.at(at_s, name, value)
        assert engine.run(frames) == frames
        assert engine.timeline.now_s == pytest.approx(1.2, abs=1e-12)
        results.append((engine._z.cpu().numpy().copy(), engine.controls.value.copy(),
                        engine.walk.mode))
    (z1, v1, m1), (z2, v2, m2) = results
    assert m1 == m2 == "orbit"
    assert np.allclose(z1, z2, rtol=0, atol=1e-5)  # float32 on the device
    assert np.allclose(v1, v2, rtol=0, atol=1e-9)


def test_two_engines_at_different_frame_rates_draw_the_same_picture(small_config):
    """The compositor's own clocks (spin, a built-in layer's phase, a flash's decay, the ISF
    layers' TIME) follow show time too: two engines pacing their frames differently end on
    the same picture at the same reading (trails are per frame, so off here)."""
    pictures = []
    for engine, frames in two_engines(small_config, 4, 0.05, 1.3):
        for at_s, name, value in ((0.0, "fx.feedback", 0.0), (0.0, "walk.speed", 0.0),
                                  (0.1, "fx.spin", 140.0), (0.2, "layer1.source", "rings"),
                                  (0.2, "layer1.opacity", 0.6), (0.3, "layer1.speed", 3.0),
                                  (0.4, "fx.flash_decay", 1.5), (0.55, "fx.flash", 0.9),
                                  (0.9, "fx.spin", -60.0), (1.3, "show.snapshot", 1.0)):
            engine.timeline.at(at_s, name, value)
        # the last frame's snapshot, kept here instead of written out
        engine._write_snapshot = lambda e=engine: pictures.append(
            (e.display.captured.astype(float), e.compositor.show_s, e.compositor._flash))
        assert engine.run(frames) == frames
    assert [p[1] for p in pictures] == pytest.approx([1.3, 1.3], abs=1e-12)
    assert 0.05 < pictures[0][2] == pytest.approx(pictures[1][2], abs=1e-12)  # decaying
    pictures = [p[0] for p in pictures]
    diff = np.abs(pictures[0] - pictures[1])
    assert pictures[0].std() > 10  # a picture, not a flat colour
    # equal here (0.000, max 0); with spin, phase, flash and TIME summed per frame: 0.18, max 9
    assert diff.mean() < 0.02 and diff.max() <= 2, (diff.mean(), diff.max())

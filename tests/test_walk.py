import numpy as np
import pytest

from live.params import TriggerEvent
from live.walk import Walk, slerp
from tests.conftest import bus_and_controls

DIM = 64
DT = 1 / 60


def make(**values):
    return bus_and_controls(**values)


def run(walk, controls, frames, bus=None, changes=None):
    out = []
    for frame in range(frames):
        if changes and frame in changes and bus is not None:
            for name, value in changes[frame].items():
                bus.set(name, value)
        if bus is not None:
            bus.drain(controls)
        controls.step(DT)
        out.append(walk.step(DT, controls).copy())
    return np.array(out)


def max_step(latents):
    return float(np.linalg.norm(np.diff(latents, axis=0), axis=1).max())


def test_slerp_endpoints_and_norm():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, DIM))
    out = np.empty(DIM)
    assert np.allclose(slerp(a, b, 0.0, out), a)
    assert np.allclose(slerp(a, b, 1.0, out), b)
    mid = slerp(a, b, 0.5, out)
    assert np.linalg.norm(mid) == pytest.approx((np.linalg.norm(a) + np.linalg.norm(b)) / 2)


@pytest.mark.parametrize("mode", ["loop", "orbit"])
def test_loop_closes_latent_at_period_equals_start(mode):
    _, controls = make(walk__mode=mode, walk__energy=0.0, walk__period=2.0)
    walk = Walk(DIM, seed=3, mode=mode)
    start = walk.step(0.0, controls).copy()
    for _ in range(10):
        walk.step(0.2, controls)  # ten steps of 0.2 s = exactly one 2 s period
    assert np.allclose(walk.out, start, atol=1e-6)


def test_loop_passes_through_every_keyframe():
    _, controls = make(walk__energy=0.0, walk__keyframes=4, walk__period=4.0)
    walk = Walk(DIM, seed=0, keyframes=4)
    for k in range(4):
        walk.phase = k / 4
        assert np.allclose(walk.step(0.0, controls), walk.keyframes[k], atol=1e-6)


def test_walk_moves_smoothly():
    _, controls = make(walk__period=8.0)
    latents = run(Walk(DIM), controls, 240)
    steps = np.linalg.norm(np.diff(latents, axis=0), axis=1)
    assert steps.min() > 0  # it moves every frame
    # C1 through the keyframes: the velocity changes gradually, never kinks
    assert np.abs(np.diff(steps)).max() < 0.05 * steps.mean()


@pytest.mark.parametrize("change", [
    {"walk.mode": "noise"}, {"walk.mode": "orbit"}, {"walk.speed": 8.0},
    {"walk.period": 1.0}, {"walk.keyframes": 3}, {"walk.energy": 1.0},
])
def test_switching_mode_or_speed_never_jumps(change):
    bus, controls = make(walk__period=16.0)
    walk = Walk(DIM)
    steady = run(walk, controls, 60)
    # the fastest the walk moves at the new settings, measured on its own
    settings = {"walk__period": 16.0}
    settings.update({name.replace(".", "__"): value for name, value in change.items()})
    _, controls_new = make(**settings)
    fast = run(Walk(DIM, mode=controls_new.choice("walk.mode")), controls_new, 240)
    bound = 1.5 * max(max_step(steady), max_step(fast))
    switched = run(walk, controls, 240, bus, {0: change})
    stitched = np.concatenate([steady[-1:], switched])
    assert max_step(stitched) < bound


def test_cue_recall_glides_and_holds_then_release_glides_back():
    bus, controls = make(walk__glide=1.0, walk__energy=0.0, walk__period=8.0)
    walk = Walk(DIM)
    run(walk, controls, 30)
    walk.handle(TriggerEvent("cue.store", 2, 0))
    cue = walk.cues[2].copy()
    run(walk, controls, 120)
    assert not np.allclose(walk.out, cue)
    walk.handle(TriggerEvent("cue.recall", 2, 0))
    glide = run(walk, controls, 90)
    assert max_step(glide) < 0.5
    assert np.allclose(glide[-1], cue)
    assert walk.held_cue == 2
    walk.handle(TriggerEvent("cue.release", 0, 0))
    back = run(walk, controls, 90)
    assert max_step(np.concatenate([glide[-1:], back])) < 0.5
    assert walk.held_cue is None and not np.allclose(back[-1], cue)


def test_next_cue_without_cues_glides_to_the_next_keyframe():
    _, controls = make(walk__glide=0.5, walk__energy=0.0, walk__speed=0.0, walk__keyframes=4)
    walk = Walk(DIM, keyframes=4)
    walk.step(DT, controls)
    walk.handle(TriggerEvent("cue.next", 1, 0))
    latents = run(walk, controls, 60)
    assert walk.phase == pytest.approx(0.25)
    assert np.allclose(latents[-1], walk.keyframes[1], atol=1e-6)
    assert max_step(latents) < 1.0


def test_recall_of_an_empty_slot_changes_nothing():
    _, controls = make()
    walk = Walk(DIM)
    assert walk.recall_cue(5) is False
    assert walk.held_cue is None


def test_beats_period_follows_tempo():
    _, controls = make(walk__period=4.0, walk__period_unit="beats", tempo__bpm=120.0,
                       walk__energy=0.0)
    walk = Walk(DIM)
    walk.step(1.0, controls)  # 4 beats at 120 bpm = 2 s, so 1 s is half a lap
    assert walk.phase == pytest.approx(0.5)


def test_a_nan_cue_is_refused_at_store_and_at_recall(caplog):
    _, controls = make(walk__glide=0.5, walk__energy=0.0)
    walk = Walk(DIM)
    run(walk, controls, 10)
    bad = np.full(DIM, 0.5)
    bad[7] = np.nan
    for values in (bad, [0.5] * (DIM - 1) + [np.inf], [1e308] * DIM, [0.5] * 3, "cue"):
        assert walk.set_cue(4, values) is False
    assert walk.cues[4] is None
    assert "cue 5 not stored" in caplog.text
    walk.cues[4] = bad  # put there behind the walk's back (an old state, a bug)
    assert walk.recall_cue(4) is False
    assert walk.cues[4] is None and walk.held_cue is None
    walk.handle(TriggerEvent("cue.recall", float("nan"), 0))  # a NaN slot number: ignored
    latents = run(walk, controls, 30)
    assert np.isfinite(latents).all()


def test_non_finite_controls_never_reach_the_latent():
    """Modulation writes straight into ``Controls.value``: a NaN audio source there must not
    stop the walk (int(NaN) once ended the show) or stick in its phase."""
    _, controls = make(walk__energy=0.5, walk__glide=0.5)
    walk = Walk(DIM)
    run(walk, controls, 10)
    for name in ("walk.speed", "walk.period", "walk.keyframes", "walk.energy", "walk.glide",
                 "tempo.bpm"):
        controls.value[controls.registry.index[name]] = np.nan
    for _ in range(30):
        assert np.isfinite(walk.step(DT, controls)).all()
    assert np.isfinite(walk.phase) and walk.recoveries == 0
    assert np.isfinite(walk.step(np.nan, controls)).all()


def test_a_non_finite_latent_is_replaced_by_the_last_good_one_and_the_walk_goes_on(caplog):
    _, controls = make(walk__glide=2.0, walk__energy=0.0, walk__period=8.0)
    walk = Walk(DIM)
    latents = run(walk, controls, 20)
    walk.keyframes[:] = np.nan  # whatever the cause: the next output is not finite
    walk.phase = np.nan
    after = run(walk, controls, 180)
    assert np.isfinite(after).all()
    assert np.allclose(after[0], latents[-1])  # the last good latent, not black
    assert walk.recoveries == 1 and "not finite" in caplog.text
    assert max_step(after) < 0.5  # then it glides on into the reseeded walk
    assert not np.allclose(after[-1], after[0])  # and keeps moving

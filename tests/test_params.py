import math

import numpy as np
import pytest

from live.params import REGISTRY, Bus, Controls, Registry


@pytest.fixture
def registry():
    return Registry()


def test_every_param_is_declared_once_with_address_and_description(registry):
    names = [p.name for p in REGISTRY]
    assert len(names) == len(set(names))
    for param in registry:
        assert param.description
        assert param.address.startswith("/live/") and "." not in param.address
        if param.kind in ("float", "int"):
            assert param.lo <= param.default_number() <= param.hi


def test_set_clamps_to_range_and_rejects_wrong_types(registry):
    bus = Bus(registry)
    assert bus.set("walk.speed", 100.0) == registry["walk.speed"].hi
    assert bus.set("fx.kaleido", 5.6) == 6.0
    with pytest.raises(ValueError):
        bus.set("walk.speed", "fast")
    assert bus.rejected == 1
    with pytest.raises(KeyError):
        bus.set("walk.sped", 1.0)


def test_nan_and_infinity_never_enter_the_bus(registry):
    """Whoever publishes them (a sensor, a peer, a modulated trigger): dropped and counted,
    the slot keeps its last good value and no event is queued."""
    bus = Bus(registry)
    bus.set("walk.speed", 2.0)
    for bad in (math.nan, math.inf, -math.inf, np.float32("nan"), np.float64("inf")):
        assert bus.set("walk.speed", bad) == 2.0
        assert bus.trigger("cue.recall", bad) is False
        assert bus.trigger("fx.flash", bad) is False
    assert bus.set("fx.mirror", math.nan) == 0.0  # an enum slot too
    assert bus.non_finite == 16 and bus.rejected == 0
    controls = Controls(registry)
    bus.drain(controls)
    controls.jump()
    assert controls["walk.speed"] == 2.0 and controls.triggers == []
    assert np.isfinite(controls.value).all()


def test_enum_takes_a_name_or_an_index(registry):
    bus = Bus(registry)
    bus.set("walk.mode", "orbit")
    controls = Controls(registry)
    bus.drain(controls)
    controls.jump()
    assert controls.choice("walk.mode") == "orbit"
    bus.set("walk.mode", 1)
    bus.drain(controls)
    controls.step(0.0)
    assert controls.choice("walk.mode") == "noise"
    with pytest.raises(ValueError, match="not one of"):
        bus.set("walk.mode", "spiral")


def test_trigger_queue_is_bounded_and_counts_drops(registry):
    bus = Bus(registry, trigger_capacity=4)
    accepted = [bus.trigger("fx.flash") for _ in range(6)]
    assert accepted == [True] * 4 + [False] * 2
    assert bus.dropped_triggers == 2
    controls = Controls(registry)
    bus.drain(controls)
    assert [t.name for t in controls.triggers] == ["fx.flash"] * 4
    bus.drain(controls)
    assert controls.triggers == []


def test_drain_carries_the_newest_stamp(registry):
    bus = Bus(registry)
    bus.set("fx.hue", 10.0, stamp_ns=100)
    bus.trigger("cue.next", stamp_ns=250)
    bus.set("fx.hue", 20.0, stamp_ns=200)
    controls = Controls(registry)
    bus.drain(controls)
    assert controls.newest_stamp_ns == 250


def test_smoothing_turns_a_jump_into_a_glide(registry):
    bus = Bus(registry)
    controls = Controls(registry)
    bus.set("fx.hue", 180.0)
    bus.drain(controls)
    tau = registry["fx.hue"].smooth_s
    values = []
    for _ in range(120):
        controls.step(1 / 60)
        values.append(controls["fx.hue"])
    steps = np.diff([0.0, *values])
    # no frame moves more than the one-pole filter allows, and it arrives
    assert steps.max() <= 180.0 * (1 - math.exp(-(1 / 60) / tau)) + 1e-9
    assert np.all(steps >= 0)
    assert values[-1] == pytest.approx(180.0, abs=0.5)


def test_discrete_params_follow_at_once(registry):
    bus = Bus(registry)
    controls = Controls(registry)
    bus.set("fx.kaleido", 6)
    bus.drain(controls)
    controls.step(1 / 60)
    assert controls["fx.kaleido"] == 6

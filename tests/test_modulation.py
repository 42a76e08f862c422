"""Modulation maps: parsing, sources and pulses, what they add to the picture's values."""

from __future__ import annotations

from pathlib import Path

import pytest

from live.modulation import Map, Modulation, ModulationError, SourceTable, parse_map
from live.params import Registry
from live.scenes import SceneError, parse_scene
from tests.conftest import bus_and_controls

REG = Registry()


def settled(**values):
    return bus_and_controls(**values)


@pytest.mark.parametrize("raw, message", [
    ({"source": "audio.bass", "target": "fx.zoom"}, "needs 'amount'"),
    ({"source": "audio.nope", "target": "fx.zoom", "amount": 1}, "unknown source"),
    ({"source": "audio.bass", "target": "fx.nope", "amount": 1}, "unknown target"),
    ({"source": "audio.bass", "target": "fx.mirror", "amount": 1}, "cannot be modulated"),
    ({"source": "audio.bass", "target": "fx.zoom", "amount": "a lot"}, "amount must be"),
    ({"source": "audio.bass", "target": "fx.zoom", "amount": 1, "curve": "cubic"}, "curve"),
    ({"source": "audio.bass", "target": "fx.zoom", "amount": 1, "range": [1, 0]}, "range"),
    ({"source": "audio.bass", "target": "fx.zoom", "amount": 1, "smooth": -1}, "smooth"),
    ({"source": "audio.bass", "target": "fx.zoom", "amount": 1, "depth": 2}, "unknown key"),
])
def test_bad_maps_say_what_is_wrong(raw, message):
    with pytest.raises(ModulationError, match=message):
        parse_map(raw, REG)


def test_maps_add_to_the_picture_not_to_the_fader():
    bus, controls = settled(fx__zoom=1.5)
    sources = SourceTable()
    modulation = Modulation([Map("audio.bass", "fx.zoom", 0.5),
                             Map("audio.level", "walk.speed", 2.0, curve="exp"),
                             Map("audio.high", "fx.hue", 100.0, curve="step")], REG)
    sources.set("audio.bass", 0.5)
    sources.set("audio.level", 0.5)
    sources.set("audio.high", 0.4)
    sources.step(1 / 60)
    controls.step(1 / 60)
    modulation.apply(controls, sources, 1 / 60)
    assert controls["fx.zoom"] == pytest.approx(1.75)
    assert controls["walk.speed"] == pytest.approx(1.0 + 2.0 * 0.25)
    assert controls["fx.hue"] == 0.0  # step: below half
    assert bus.get("fx.zoom") == 1.5  # the fader's value (and its feedback) is untouched
    # next frame starts from the smoothed value again: no accumulation
    controls.step(1 / 60)
    modulation.apply(controls, sources, 1 / 60)
    assert controls["fx.zoom"] == pytest.approx(1.75)
    sources.set("audio.bass", 1.0)
    sources.step(1 / 60)
    controls.step(1 / 60)
    Modulation([Map("audio.bass", "fx.zoom", 100.0)], REG).apply(controls, sources, 1 / 60)
    assert controls["fx.zoom"] == 4.0  # clamped to the parameter's range


def test_events_fire_triggers_and_leave_a_decaying_pulse():
    _, controls = settled()
    sources = SourceTable()
    modulation = Modulation([Map("audio.onset", "fx.flash", 0.5),
                             Map("audio.onset", "fx.brightness", 1.0)], REG)
    sources.event("audio.onset", 0.8)
    sources.step(1 / 60)
    controls.step(1 / 60)
    controls.triggers.clear()
    modulation.apply(controls, sources, 1 / 60)
    assert [(e.name, round(e.arg, 3)) for e in controls.triggers] == [("fx.flash", 0.4)]
    assert controls["fx.brightness"] == pytest.approx(1.8)
    for _ in range(30):  # half a second later the pulse has gone and nothing fired again
        sources.step(1 / 60)
        controls.step(1 / 60)
        controls.triggers.clear()
        modulation.apply(controls, sources, 1 / 60)
        assert not controls.triggers
    assert controls["fx.brightness"] == pytest.approx(1.0, abs=0.02)


def test_a_continuous_source_fires_a_trigger_when_it_rises_through_half():
    _, controls = settled()
    sources = SourceTable()
    modulation = Modulation([Map("audio.bass", "cue.next", 1.0)], REG)
    fired = 0
    for value in (0.1, 0.6, 0.7, 0.2, 0.9):
        sources.set("audio.bass", value)
        sources.step(1 / 60)
        controls.triggers.clear()
        modulation.apply(controls, sources, 1 / 60)
        fired += len(controls.triggers)
    assert fired == 2


def test_scene_maps_with_file_and_line(tmp_path: Path):
    text = ('model = "default-gan"\n[fx]\nhue = 10.0\n\n[[map]]\nsource = "audio.bass"\n'
            'target = "fx.zoom"\namount = 0.2\n\n[[map]]\nsource = "audio.high"\n'
            'target = "fx.saturation"\namount = 0.5\ncurve = "log"\n')
    scene = parse_scene(text, tmp_path / "s.toml", REG)
    assert [m.target for m in scene.maps] == ["fx.zoom", "fx.saturation"]
    bad = text.replace('curve = "log"', 'curve = "wobbly"')
    with pytest.raises(SceneError, match=r"s.toml:10: curve"):
        parse_scene(bad, tmp_path / "s.toml", REG)


def test_depth_faders_scale_audio_maps():
    _, controls = settled(audio__depth=0.5, audio__bass_depth=2.0, audio__onset_depth=0.0)
    sources = SourceTable()
    modulation = Modulation([Map("audio.bass", "fx.zoom", 0.2),
                             Map("audio.onset", "fx.flash", 1.0),
                             Map("tempo.phase", "fx.hue", 10.0)], REG)
    sources.set("audio.bass", 1.0)
    sources.set("tempo.phase", 0.5)
    sources.event("audio.onset", 1.0)
    sources.step(1 / 60)
    controls.step(1 / 60)
    controls.triggers.clear()
    modulation.apply(controls, sources, 1 / 60)
    assert controls["fx.zoom"] == pytest.approx(1.0 + 0.2 * 0.5 * 2.0)
    assert controls.triggers == []  # onset depth 0: no flash
    assert controls["fx.hue"] == pytest.approx(5.0)  # not an audio source: no depth


def test_a_non_finite_source_value_never_reaches_a_parameter():
    sources = SourceTable()
    sources.set("audio.bass", 0.5)
    for bad in (float("nan"), float("inf"), -float("inf")):
        sources.set("audio.bass", bad)
        sources.event("audio.onset", bad)
    sources.step(1 / 60)
    assert sources["audio.bass"] == 0.5 and sources.non_finite == 6
    assert not sources.fired.any()

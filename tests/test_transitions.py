"""Scene transitions: a model swapped in without a stall, bar quantisation, hot reload."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from live.cli import _prepare
from live.config import OscConfig, OscQueryConfig
from live.control.surface import ControlSurface
from live.engine import Engine
from live.scenes import load_scene, scene_values
from tests.conftest import run_while, wait_for


@pytest.fixture
def scenes(tmp_path: Path, repo: Path) -> Path:
    folder = tmp_path / "scenes"
    folder.mkdir()
    shutil.copy(repo / "scenes" / "default.toml", folder / "a.toml")
    (folder / "b.toml").write_text('model = "default-vae"\ntransition = 1.0\nquantize = false\n'
                                   '[fx]\nhue = 90.0\n')
    return folder


@pytest.fixture
def show(small_config, scenes):
    cfg = replace(small_config, osc=OscConfig(enabled=False),
                  oscquery=OscQueryConfig(enabled=False),
                  paths=replace(small_config.paths, scenes=str(scenes)))
    scene, model, choice = _prepare(cfg, "a", None)
    engine = Engine(cfg, model, choice, scene, headless=True)
    surface = ControlSurface(cfg, engine)
    surface.start()
    yield engine, surface, scenes
    surface.close()




def test_switching_to_a_scene_with_another_model_never_stalls(show):
    engine, surface, _ = show
    assert engine.model_name == "default-gan"

    marks = {}

    def actions():
        assert surface.prefetched.wait(60)  # scene b's model, prepared in the background
        assert wait_for(lambda: engine.frames.count > 20)
        marks["start"] = engine.frames.count
        engine.bus.trigger("scene.go", text="b")
        assert wait_for(lambda: engine.model_name == "default-vae")
        assert wait_for(lambda: engine.bus.get("fx.hue") == 90.0)
        seen = engine.frames.count
        assert wait_for(lambda: engine.frames.count > seen + 20)

    run_while(engine, actions)
    frame_ms = engine.frames.chronological(engine.frames.frame_ms)[marks["start"]:]
    # the model was loaded, traced and warmed on the scenes thread; the loop only swapped it
    assert frame_ms.max() < max(10 * float(np.median(frame_ms)), 250.0)
    assert engine.switches == 1 and engine.scene.name == "b"


def test_a_switch_waits_for_the_bar_when_a_tempo_source_is_active(show):
    engine, _, scenes = show
    scene = load_scene("b", scenes, engine.registry)
    engine.bus.drain(engine.controls)
    engine.external_tempo_phase = True  # as with Ableton Link
    engine.request_scene(scene, scene_values(scene, engine.registry), None, 1.0, True)
    engine._on_bar = False
    engine._bring_in_pending_scene()
    assert engine._pending_scene is not None and engine.scene.name == "a"  # waits
    engine._on_bar = True
    engine._bring_in_pending_scene()
    assert engine._pending_scene is None and engine.scene.name == "b"
    assert engine.bus.get("fx.hue") == 90.0
    # without a tempo source there is no bar to wait for
    engine.external_tempo_phase = False
    again = load_scene("a", scenes, engine.registry)
    engine.request_scene(again, scene_values(again, engine.registry), None, 1.0, True)
    engine._on_bar = False
    engine._bring_in_pending_scene()
    assert engine.scene.name == "a"


def test_bars_are_counted_from_the_tempo_phase(show):
    engine, _, _ = show
    engine.external_tempo_phase = True

    def actions():
        assert wait_for(lambda: engine.frames.count > 2)
        for _beat in range(9):  # nine beats of a fake clock, each phase seen by a frame
            for step in range(4):
                engine.sources.set("tempo.phase", step / 4)
                seen = engine.frames.count
                assert wait_for(lambda seen=seen: engine.frames.count > seen + 1)

    run_while(engine, actions)
    assert engine._beats >= 8


def test_saving_the_scene_file_reloads_it_and_a_broken_save_keeps_the_old(show):
    engine, surface, scenes = show
    path = scenes / "a.toml"
    original = path.read_text()
    timings = {}

    def actions():
        time.sleep(0.3)
        path.write_text(original.replace("saturation = 1.15", "saturation = 2.5"))
        saved = time.monotonic()
        assert wait_for(lambda: engine.bus.get("fx.saturation") == 2.5, timeout=5)
        timings["reload_s"] = time.monotonic() - saved
        path.write_text(original.replace("saturation = 1.15", 'saturation = "lots"'))
        assert wait_for(lambda: surface.deck.last_error != "", timeout=5)
        time.sleep(0.3)

    run_while(engine, actions)
    assert timings["reload_s"] <= 0.5
    assert "a.toml:" in surface.deck.last_error and "saturation" in surface.deck.last_error
    assert engine.bus.get("fx.saturation") == 2.5  # the old scene keeps running
    assert "scene error" in surface.hud_line()

"""Scene transitions: a model swapped in without a stall, bar quantisation, hot reload."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from live.engine import Engine
from live.scenes import load_scene, scene_values
from tests.conftest import quiet_show, run_while, wait_for


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
    engine, surface = quiet_show(small_config, "a", scenes)
    yield engine, surface, scenes
    surface.close()




class Calls(list):
    running = False


@pytest.fixture
def workers(monkeypatch):
    """(thread ident, loop running) for each model load or preparation; installed before
    ``show``, whose own set-up loads the first model on the test's thread."""
    import live.store

    idents = Calls()
    for owner, name in ((live.store, "load_generator"), (Engine, "_prepare_model")):
        original = getattr(owner, name)

        def spy(*args, _original=original, **kwargs):
            idents.append((threading.get_ident(), idents.running))
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)
    return idents


def test_switching_to_a_scene_with_another_model_never_stalls(workers, show):
    """The model is loaded, traced and warmed off the render thread; the loop only swaps
    it in. Asserted by which thread did the work, not by frame times (a loaded machine makes
    those say nothing; ``live bench --scene-switch`` measures them)."""
    engine, surface, _ = show
    assert engine.model_name == "default-gan"

    def actions():
        assert surface.prefetched.wait(60)  # scene b's model, prepared in the background
        assert wait_for(lambda: engine.frames.count > 20)
        engine.bus.trigger("scene.go", text="b")
        assert wait_for(lambda: engine.model_name == "default-vae")
        assert wait_for(lambda: engine.bus.get("fx.hue") == 90.0)
        seen = engine.frames.count
        assert wait_for(lambda: engine.frames.count > seen + 20)

    workers.running = True
    run_while(engine, actions)  # the render loop runs on this thread
    here = threading.get_ident()
    assert not [call for call in workers if call == (here, True)]
    assert [call for call in workers if call[0] != here]  # b's model: prepared elsewhere
    assert engine.switches == 1 and engine.scene.name == "b"


def test_a_switch_waits_for_the_bar_when_a_tempo_source_is_active(show):
    engine, _, scenes = show
    scene = load_scene("b", scenes, engine.registry)
    engine.bus.drain(engine.controls)
    engine.clock.external = True  # as with Ableton Link
    engine.request_scene(scene, scene_values(scene, engine.registry), None, 1.0, True)
    engine.clock.on_bar = False
    engine._bring_in_pending_scene()
    assert engine._pending_scene is not None and engine.scene.name == "a"  # waits
    engine.clock.on_bar = True
    engine._bring_in_pending_scene()
    assert engine._pending_scene is None and engine.scene.name == "b"
    assert engine.bus.get("fx.hue") == 90.0
    # without a tempo source there is no bar to wait for
    engine.clock.external = False
    again = load_scene("a", scenes, engine.registry)
    engine.request_scene(again, scene_values(again, engine.registry), None, 1.0, True)
    engine.clock.on_bar = False
    engine._bring_in_pending_scene()
    assert engine.scene.name == "a"


def test_bars_are_counted_from_the_tempo_phase(show):
    engine, _, _ = show
    engine.clock.external = True

    def actions():
        assert wait_for(lambda: engine.frames.count > 2)
        for _beat in range(9):  # nine beats of a fake clock, each phase seen by a frame
            for step in range(4):
                engine.sources.set("tempo.phase", step / 4)
                seen = engine.frames.count
                assert wait_for(lambda seen=seen: engine.frames.count > seen + 1)

    run_while(engine, actions)
    assert engine.clock.beats >= 8


def test_saving_the_scene_file_reloads_it_and_a_broken_save_keeps_the_old(show):
    engine, surface, scenes = show
    path = scenes / "a.toml"
    original = path.read_text()

    def actions():
        time.sleep(0.3)
        path.write_text(original.replace("saturation = 1.15", "saturation = 2.5"))
        assert wait_for(lambda: engine.bus.get("fx.saturation") == 2.5)
        path.write_text(original.replace("saturation = 1.15", 'saturation = "lots"'))
        assert wait_for(lambda: surface.deck.last_error != "")
        time.sleep(0.3)

    run_while(engine, actions)
    assert surface.deck.watch_s <= 0.2  # polled five times a second: a save shows at once
    assert "a.toml:" in surface.deck.last_error and "saturation" in surface.deck.last_error
    assert engine.bus.get("fx.saturation") == 2.5  # the old scene keeps running
    assert "scene error" in surface.hud_line()


def test_a_follower_leaves_a_scenes_values_to_its_leader_and_fades_from_the_stamp(show):
    """On a cluster follower a scene brought in changes maps, layers and model but not the
    values (they come stamped from the leader); the crossfade runs from the switch's
    stamped show time."""
    engine, _, scenes = show
    scene = load_scene("b", scenes, engine.registry)
    engine.bus.drain(engine.controls)
    engine.scene_values_from_leader = True
    before = engine.bus.get("fx.hue")
    engine.compositor.show_s = 10.0
    engine.request_scene(scene, scene_values(scene, engine.registry), None, 2.0, False,
                         at_s=9.5)
    engine._bring_in_pending_scene()
    assert engine.scene.name == "b" and engine.bus.get("fx.hue") == before != 90.0
    assert engine.compositor._fade_from == 9.5

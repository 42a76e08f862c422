"""Scene files as hostile input: devices, FIFOs, cut saves, odd scene numbers (issue 11)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from live.cli import main
from live.params import Bus, Registry
from live.scenes import SceneDeck, SceneError, load_scene, parse_scene
from tests.conftest import wait_for


@pytest.fixture
def scenes(tmp_path: Path, repo: Path) -> Path:
    folder = tmp_path / "scenes"
    folder.mkdir()
    shutil.copy(repo / "scenes" / "default.toml", folder / "a.toml")
    (folder / "b.toml").write_text('[fx]\nhue = 90.0\n')
    return folder


def in_thread(call, timeout: float = 30.0):
    """Run ``call`` on another thread; fail (instead of hanging the suite) if it blocks."""
    outcome = {}

    def attempt():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the call blocked"
    return outcome


@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_a_scene_that_is_a_device_or_fifo_is_refused_at_once(scenes, kind):
    target = scenes / "evil.toml"
    if kind == "dev-zero":
        target.symlink_to("/dev/zero")
    else:
        os.mkfifo(target)
    outcome = in_thread(lambda: load_scene("evil", scenes, Registry()))
    error = outcome["error"]
    assert isinstance(error, SceneError)
    assert str(error).startswith(f"{target}:1: cannot read: refused")


def test_scenes_check_refuses_a_fifo_without_blocking(scenes, capsys):
    os.mkfifo(scenes / "pipe.toml")
    outcome = in_thread(lambda: main(["scenes", "check", str(scenes / "pipe.toml")]))
    assert outcome["value"] == 1
    assert "FIFO" in capsys.readouterr().out + capsys.readouterr().err


def test_hot_reload_of_a_scene_swapped_for_dev_zero_keeps_the_old_scene(scenes):
    registry = Registry()
    bus = Bus(registry)
    current = load_scene("b", scenes, registry)
    deck = SceneDeck(scenes, bus, current, watch_s=3600)  # reloads driven by hand below
    try:
        path = scenes / "b.toml"
        path.unlink()
        path.symlink_to("/dev/zero")
        assert deck.check_reload() is False  # changed: read once it stays the same a poll
        outcome = in_thread(deck.check_reload)
        assert outcome["value"] is False
        assert "character device" in deck.last_error
        assert deck.current is current
    finally:
        deck.close()


def test_start_up_prefetch_lists_scenes_past_a_fifo(small_config, scenes):
    """The control surface reads every scene at start to prepare their models: a FIFO among
    them is skipped with its reason, the others are still read."""
    from tests.conftest import quiet_show

    os.mkfifo(scenes / "c-pipe.toml")
    engine, surface = quiet_show(small_config, "a", scenes)
    try:
        assert surface.prefetched.wait(120)
    finally:
        surface.close()
        engine.close()


def test_a_save_cut_mid_token_names_the_line_it_was_cut_at():
    text = '[walk]\nmode = "loop"\nspeed = 0.5\n[fx]\nhue = "warm'  # cut inside a string
    with pytest.raises(SceneError) as err:
        parse_scene(text, Path("scenes/cut.toml"), Registry())
    assert str(err.value).startswith("scenes/cut.toml:5:")


def test_a_save_cut_at_a_line_boundary_says_which_keys_fell_back(scenes, caplog):
    registry = Registry()
    bus = Bus(registry)
    path = scenes / "b.toml"
    path.write_text('[walk]\nspeed = 0.5\n[fx]\nhue = 90.0\nsaturation = 1.5\n')
    deck = SceneDeck(scenes, bus, load_scene("b", scenes, registry), watch_s=3600)
    try:
        path.write_text('[walk]\nspeed = 0.5\n[fx]\nhue = 90.0\n')  # the last line lost
        os.utime(path, ns=(1, 1))  # a new mtime even on a coarse clock
        with caplog.at_level("WARNING", logger="live.scenes"):
            assert deck.check_reload() is False  # seen changing: waits one poll
            assert deck.check_reload() is True
        assert "fx.saturation" in deck.last_error and "defaults" in deck.last_error
        assert any("fx.saturation" in r.getMessage() for r in caplog.records)
    finally:
        deck.close()


@pytest.mark.parametrize("text", ["\u00b2", "\u0663", "99999999999999999999", "-0x1"])
def test_scene_go_with_odd_digits_is_an_unknown_scene_not_a_crash(scenes, text):
    from live.layers import show_registry

    registry = show_registry(scenes)  # a.toml (the default scene) maps ISF layer inputs
    deck = SceneDeck(scenes, Bus(registry), load_scene("a", scenes, registry), watch_s=3600)
    try:
        with pytest.raises(SceneError, match="unknown scene"):
            deck.target("scene.go", text)
        deck._requests.put_nowait(("scene.go", text, None))
        assert wait_for(lambda: "unknown scene" in deck.last_error)
    finally:
        deck.close()


def test_a_save_that_truncates_then_writes_within_one_clock_tick_is_read_whole(scenes):
    """An editor's save is a truncate and a write; on a coarse file-system clock both get
    the same modification time. The reload must not stop at the empty file."""
    registry = Registry()
    bus = Bus(registry)
    path = scenes / "b.toml"
    deck = SceneDeck(scenes, bus, load_scene("b", scenes, registry), watch_s=3600)
    try:
        stamp = path.stat().st_mtime_ns + 1_000_000
        path.write_text("")  # the truncate, seen by a poll
        os.utime(path, ns=(stamp, stamp))
        assert deck.check_reload() is False
        path.write_text('[fx]\nhue = 45.0\n')  # the write, in the same tick
        os.utime(path, ns=(stamp, stamp))
        assert deck.check_reload() is False  # changed again: wait for it to settle
        assert deck.check_reload() is True
        assert deck.current.values == {"fx.hue": 45.0}
    finally:
        deck.close()

"""A damaged, stale or hostile ``state.json`` never stops a gallery show from starting.

Each attack from issue 11 (hole 5) is written to a real file: wrong types, deep nesting, a
deleted or broken scene, a scene path outside the scenes folder, a NaN cue, a symlink to
``/dev/zero`` and a FIFO. The state is read entry by entry; a bad entry is dropped with one
warning naming it, the show starts on the playlist's scene, and nothing that is not finite
reaches a cue, the picture, or the state written back.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from live.cli import _prepare, main
from live.gallery import ShowState, StateKeeper, load_playlist, read_state, restore

SCENES = ["default", "gallery-calm", "vae-drift", "broken"]
DIM = 4
NEST = 100_000
"""Nesting far beyond the recursion limit json.loads runs into (about 1,000)."""


def write_state(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "state.json"
    path.write_text(text)
    return path


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# Each attack: the state file's text, and what is left of it after reading.
DROPPED_ENTRY = [
    ('{"scene": 5}', "scene", {"scene": ""}),
    ('{"scene": ["default"]}', "scene", {"scene": ""}),
    ('{"scene": "gone", "playlist_index": 1}', "scene", {"scene": "", "playlist_index": 1}),
    ('{"scene": "../x"}', "scene", {"scene": ""}),
    ('{"scene": "/etc/passwd"}', "scene", {"scene": ""}),
    ('{"scene": "default.toml"}', "scene", {"scene": ""}),
    ('{"playlist_index": "x"}', "playlist_index", {"playlist_index": 0}),
    ('{"playlist_index": 1e308}', "playlist_index", {"playlist_index": 0}),
    ('{"playlist_index": 7}', "playlist_index", {"playlist_index": 0}),
    ('{"playlist_index": -1}', "playlist_index", {"playlist_index": 0}),
    ('{"playlist_index": true}', "playlist_index", {"playlist_index": 0}),
    ('{"cues": 5, "latent_dim": 4}', "cues", {"cues": [], "latent_dim": 4}),
    ('{"latent_dim": 4, "cues": [["x", 1, 2, 3], [1, 2, 3, 4]]}', "cues[0]",
     {"cues": [None, [1.0, 2.0, 3.0, 4.0]]}),
    ('{"latent_dim": 4, "cues": [[NaN, 1, 2, 3]]}', "cues[0]", {"cues": [None]}),
    ('{"latent_dim": 4, "cues": [[Infinity, 1, 2, 3]]}', "cues[0]", {"cues": [None]}),
    ('{"latent_dim": 4, "cues": [[1e308, 1e308, 1e308, 1e308]]}', "cues[0]", {"cues": [None]}),
    ('{"latent_dim": 4, "cues": [[1, 2, 3]]}', "cues[0]", {"cues": [None]}),
    ('{"latent_dim": 4, "cues": [[[1], 2, 3, 4]]}', "cues[0]", {"cues": [None]}),
    ('{"latent_dim": "4"}', "latent_dim", {"latent_dim": 0}),
    ('{"cues": [[1, 2, 3, 4]]}', "cues", {"cues": []}),  # no latent size to check against
    ('{"latent_dim": 1e308}', "latent_dim", {"latent_dim": 0}),
    ('{"midi_learned": 5}', "midi_learned", {"midi_learned": []}),
    ('{"midi_learned": [5, "ch 1 cc 21 -> fx.hue"]}', "midi_learned[0]",
     {"midi_learned": ["ch 1 cc 21 -> fx.hue"]}),
    ('{"saved_at": {"a": 1}}', "saved_at", {"saved_at": ""}),
    ('{"scene": "default", "surprise": 1}', "'surprise'", {"scene": "default"}),
    (json.dumps({f"k{i}": i for i in range(5000)}), "'k0', 'k1', 'k2' and 4997 more", {}),
]


@pytest.mark.parametrize("text, entry, left", DROPPED_ENTRY)
def test_a_bad_entry_is_dropped_with_one_warning_naming_it(tmp_path, caplog, text, entry,
                                                           left):
    state = read_state(write_state(tmp_path, text), SCENES, playlist_length=2)
    assert isinstance(state, ShowState)
    for key, value in left.items():
        assert getattr(state, key) == value
    said = warnings(caplog)
    assert len(said) == 1 and f"{entry} dropped" in said[0], said


UNREADABLE = [
    ('["default"]', "expected a JSON object"),
    ("1e308", "expected a JSON object"),
    ('"default"', "expected a JSON object"),
    ('{"scene": "vae-dr', "unreadable"),
    ('{"scene": "default"} trailing', "unreadable"),
    ("[" * NEST + "]" * NEST, "recursion"),
    ('{"cues": ' + "[" * NEST + "]" * NEST + "}", "recursion"),
    ('{"playlist_index": ' + "9" * 5000 + "}", "unreadable"),  # past int's digit limit
]


@pytest.mark.parametrize("text, message", UNREADABLE)
def test_an_unreadable_state_is_not_used(tmp_path, caplog, text, message):
    assert read_state(write_state(tmp_path, text), SCENES, 2) is None
    said = warnings(caplog)
    assert len(said) == 1 and message in said[0], said


def test_a_state_nested_within_the_parser_limit_is_only_a_wrong_type(tmp_path, caplog):
    """Deep but parseable nesting reaches no code that recurses: the entry is dropped."""
    nested = "[" * 500 + "]" * 500
    text = '{"latent_dim": 4, "cues": [' + nested + '], "midi_learned": ' + nested + "}"
    state = read_state(write_state(tmp_path, text), SCENES)
    assert state.cues == [None] and state.midi_learned == []
    assert "cues[0] dropped" in caplog.text


def test_a_state_that_is_not_utf8_is_unreadable(tmp_path, caplog):
    (tmp_path / "state.json").write_bytes(b'{"scene": "\xff"}')
    assert read_state(tmp_path / "state.json", SCENES) is None
    assert "not utf-8" in caplog.text


def _read_in_thread(path: Path) -> list:
    """read_state on another thread: a test that blocked would hang the suite."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(read_state(path, SCENES)),
                              daemon=True)
    thread.start()
    thread.join(timeout=30.0)
    assert not thread.is_alive(), "reading the state blocked"
    return result


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_state_that_is_a_symlink_to_dev_zero_is_refused(tmp_path, caplog):
    path = tmp_path / "state.json"
    path.symlink_to("/dev/zero")
    assert _read_in_thread(path) == [None]
    assert "not a regular file" in caplog.text


def test_a_state_that_is_a_fifo_is_refused_without_blocking(tmp_path, caplog):
    path = tmp_path / "state.json"
    os.mkfifo(path)
    assert _read_in_thread(path) == [None]
    assert "FIFO" in caplog.text


def test_a_missing_state_is_a_fresh_start_without_a_warning(tmp_path, caplog):
    assert read_state(tmp_path / "state.json", SCENES) is None
    assert warnings(caplog) == []


def test_a_playlist_is_read_through_the_capped_reader(tmp_path):
    from live.gallery import PlaylistError

    fifo = tmp_path / "show.toml"
    os.mkfifo(fifo)
    with pytest.raises(PlaylistError, match="FIFO"):
        load_playlist(fifo, SCENES)
    big = tmp_path / "big.toml"
    big.write_text('[[scene]]\nname = "default"\nminutes = 1\n' + "#" * (2 << 20))
    with pytest.raises(PlaylistError, match="limit"):
        load_playlist(big, SCENES)


def test_restore_checks_again_and_keeps_what_is_good(caplog):
    """A ShowState built by hand (not read from a file) is checked too."""
    from live.control.midi import MidiMapper
    from live.params import Bus, Registry

    walk = SimpleNamespace(dim=DIM, cues=[None] * 16)
    bus = Bus(Registry())
    mapper = MidiMapper(bus.registry, bus)
    state = ShowState(latent_dim=DIM, cues=[[np.nan, 0, 0, 0], [0.5] * DIM, "x"],
                      midi_learned=["ch 1 cc 21 -> fx.hue", "ch 1 cc 22 -> no.such", 5])
    restore(state, SimpleNamespace(walk=walk), SimpleNamespace(midi=mapper))
    assert walk.cues[0] is None and walk.cues[2] is None
    np.testing.assert_allclose(walk.cues[1], [0.5] * DIM)
    assert mapper.learned == ["ch 1 cc 21 -> fx.hue"]
    said = warnings(caplog)
    assert len(said) == 4 and all("not restored" in line for line in said)


def test_a_non_finite_cue_is_never_written_back(tmp_path):
    walk = SimpleNamespace(dim=DIM, cues=[None] * 16)
    walk.cues[0] = np.array([np.nan, 0.0, 0.0, 0.0])
    walk.cues[1] = np.array([0.25] * DIM)
    engine = SimpleNamespace(walk=walk, scene=SimpleNamespace(name="default"))
    keeper = StateKeeper(tmp_path / "state.json", engine)
    assert keeper.save()
    text = (tmp_path / "state.json").read_text()
    assert "NaN" not in text
    saved = json.loads(text)
    assert saved["cues"][0] is None and saved["cues"][1] == [0.25] * DIM


def test_a_nan_cue_never_turns_the_picture_black(small_config):
    """A NaN cue put into the running walk (whatever the way) is refused at recall, and the
    picture goes on."""
    from live.engine import Engine

    scene, model, choice = _prepare(small_config, None, None)
    engine = Engine(small_config, model, choice, scene, headless=True)
    dim = engine.walk.dim
    restore(ShowState(latent_dim=dim, cues=[[float("nan")] * dim, [0.1] * dim]), engine)
    assert engine.walk.cues[0] is None and engine.walk.cues[1] is not None
    engine.walk.cues[2] = np.full(dim, np.nan)  # behind the state's checks
    engine.bus.trigger("cue.recall", 2)  # refused: the walk goes on
    engine.bus.trigger("cue.recall", 1)  # a good cue still recalls
    engine.run(12)
    assert engine.walk.cues[2] is None and engine.walk.held_cue == 1
    assert np.isfinite(engine.walk.out).all()
    assert engine.display.host.std() > 5  # a picture, not black


# ------------------------------------------------------------------ the whole show


@pytest.fixture
def show(tmp_path, repo):
    """A scenes folder of the shipped scenes plus a broken one, a playlist of vae-drift,
    a valid scene file just outside the scenes folder, and the `live run` arguments."""
    scenes = tmp_path / "scenes"
    shutil.copytree(repo / "scenes", scenes)
    (scenes / "broken.toml").write_text('model = "default-gan"\n[walk\n')
    shutil.copy(repo / "scenes" / "strobe.toml", tmp_path / "outside.toml")
    playlist = tmp_path / "show.toml"
    playlist.write_text('[[scene]]\nname = "vae-drift"\nminutes = 10\n')
    state = tmp_path / "state.json"
    args = ["run", "--headless", "--frames", "2", "--playlist", str(playlist),
            "--set", "display.size=[192, 108]", "--set", f'paths.state="{state}"',
            "--set", f'paths.scenes="{scenes}"', "--set", f'paths.models="{repo / "models"}"',
            "--set", "osc.enabled=false", "--set", "midi.enabled=false",
            "--set", "audio.enabled=false"]
    dim = tomllib.loads((repo / "models" / "default-vae" / "model.toml").read_text())[
        "arch"]["latent_dim"]
    return SimpleNamespace(args=args, state=state, dim=dim, outside=tmp_path / "outside.toml")


def _started_on(caplog) -> str:
    line = next(r.getMessage() for r in caplog.records
                if r.name == "live" and r.getMessage().startswith("live: "))
    return line.split(", scene ")[1].split(",")[0]


SHOW_ATTACKS = {
    "scene-int": '{"scene": 5}',
    "list": '["default"]',
    "index-string": '{"playlist_index": "x"}',
    "huge-number": "1e308",
    "deep": "[" * NEST + "]" * NEST,
    "cues-int": '{"cues": 5}',
    "string-in-cue": '{"latent_dim": 4, "cues": [["x", 0, 0, 0]]}',
    "learned-int": '{"midi_learned": 5}',
    "deleted-scene": '{"scene": "gone"}',
    "broken-scene": '{"scene": "broken"}',
    "parent-path": '{"scene": "../outside"}',
    "parent-path-toml": '{"scene": "../outside.toml"}',
    "absolute-path": "ABSOLUTE",
}


@pytest.mark.parametrize("attack", SHOW_ATTACKS)
def test_live_run_starts_on_the_playlist_scene_whatever_the_state(show, caplog, attack):
    text = SHOW_ATTACKS[attack]
    if text == "ABSOLUTE":
        text = json.dumps({"scene": str(show.outside)})
    show.state.write_text(text)
    with caplog.at_level(logging.INFO):
        assert main(show.args) == 0
    assert _started_on(caplog) == "vae-drift"
    assert not any(r.exc_info for r in caplog.records)  # no traceback anywhere
    assert any(r.levelno == logging.WARNING and ("state" in r.getMessage()
                                                 or "saved scene" in r.getMessage())
               for r in caplog.records)
    assert read_state(show.state).scene == "vae-drift"  # written back clean


@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_live_run_refuses_a_state_that_is_not_a_file(show, caplog, kind):
    if kind == "fifo":
        os.mkfifo(show.state)
    else:
        show.state.symlink_to("/dev/zero")
    with caplog.at_level(logging.INFO):
        assert main(show.args) == 0
    assert _started_on(caplog) == "vae-drift"
    assert "not a regular file" in caplog.text


def test_live_run_drops_a_nan_cue_and_does_not_write_it_back(show, caplog):
    good = [0.1] * show.dim
    show.state.write_text(json.dumps({
        "scene": "vae-drift", "latent_dim": show.dim,
        "cues": [[float("nan")] * show.dim, good, [1e308] * show.dim]}))
    with caplog.at_level(logging.INFO):
        assert main(show.args) == 0
    assert "cues[0] dropped" in caplog.text and "cues[2] dropped" in caplog.text
    text = show.state.read_text()
    assert "NaN" not in text and "Infinity" not in text
    saved = read_state(show.state)
    assert saved.cues[0] is None and saved.cues[1] == good and saved.cues[2] is None

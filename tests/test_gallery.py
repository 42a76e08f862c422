"""Gallery mode: playlists and their schedule, the state kept across restarts, the watchdog."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from live.cli import main
from live.gallery import (
    EXIT_STALLED,
    Playlist,
    PlaylistError,
    ShowState,
    StateKeeper,
    Watchdog,
    load_playlist,
    read_state,
    restore,
    write_atomically,
)
from live.params import Bus, Controls, Registry

SCENES = ["default", "gallery-calm", "vae-drift"]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def events(bus: Bus) -> list:
    controls = Controls(bus.registry)
    bus.drain(controls)
    return [(e.name, e.text) for e in controls.triggers]


@pytest.mark.parametrize("text, message", [
    ("", "at least one"),
    ('[[scene]]\nname = "nope"\nminutes = 1\n', "unknown scene 'nope'"),
    ('[[scene]]\nname = "default"\n', "minutes or seconds"),
    ('[[scene]]\nname = "default"\nseconds = 1\n', "at least 5 s"),
    ('[[scene]]\nname = "default"\nminutes = 1\n[schedule]\non = "9am"\noff = "18:00"\n',
     "a time like"),
    ('loop = true\n[[scene]]\nname = "default"\nminutes = 1\n', "unknown key 'loop'"),
])
def test_bad_playlists_say_what_is_wrong(tmp_path, text, message):
    with pytest.raises(PlaylistError, match=message):
        load_playlist(write(tmp_path / "p.toml", text), SCENES)


def test_scenes_rotate_on_their_timers(tmp_path):
    playlist = load_playlist(write(tmp_path / "p.toml", (
        '[[scene]]\nname = "gallery-calm"\nseconds = 10\n'
        '[[scene]]\nname = "vae-drift"\nminutes = 0.5\n')), SCENES)
    bus = Bus(Registry())
    player = Playlist(playlist, bus)
    player.tick(now_s=0.0)
    assert events(bus) == [("scene.go", "gallery-calm")]
    player.tick(now_s=9.0)
    assert events(bus) == []
    player.tick(now_s=10.0)
    assert events(bus) == [("scene.go", "vae-drift")]
    player.tick(now_s=39.0)
    assert events(bus) == []
    player.tick(now_s=40.0)  # round again
    assert events(bus) == [("scene.go", "gallery-calm")]


def test_the_schedule_blacks_out_or_shows_the_off_scene(tmp_path):
    now = {"t": datetime(2026, 11, 26, 8, 0)}
    playlist = load_playlist(write(tmp_path / "p.toml", (
        '[[scene]]\nname = "vae-drift"\nminutes = 5\n'
        '[schedule]\non = "09:30"\noff = "18:00"\n')), SCENES)
    bus = Bus(Registry())
    player = Playlist(playlist, bus, clock=lambda: now["t"])
    player.tick(now_s=0.0)
    assert player.state == "off" and bus.get("fx.master") == 0.0 and events(bus) == []
    now["t"] = datetime(2026, 11, 26, 9, 30)
    player.tick(now_s=1.0)
    assert player.state == "playing" and events(bus) == [("scene.go", "vae-drift")]
    now["t"] = datetime(2026, 11, 26, 18, 0)
    with_off_scene = load_playlist(write(tmp_path / "q.toml", (
        '[[scene]]\nname = "vae-drift"\nminutes = 5\n'
        '[schedule]\non = "18:00"\noff = "02:00"\noff_scene = "gallery-calm"\n')), SCENES)
    night = Playlist(with_off_scene, bus, clock=lambda: now["t"])
    now["t"] = datetime(2026, 11, 27, 1, 59)  # through midnight: still on
    night.tick(now_s=0.0)
    assert night.state == "playing"
    events(bus)
    now["t"] = datetime(2026, 11, 27, 2, 0)
    night.tick(now_s=1.0)
    assert events(bus) == [("scene.go", "gallery-calm")]


def test_an_interrupted_save_leaves_the_previous_state(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    write_atomically(path, json.dumps({"scene": "vae-drift"}).encode())

    def power_cut(*args):
        raise OSError("No space left on device")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(OSError):
        write_atomically(path, json.dumps({"scene": "strobe"}).encode())
    monkeypatch.undo()
    assert read_state(path).scene == "vae-drift"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary left over
    write(path, '{"scene": "vae-dr')  # a file cut short by something else: not used
    assert read_state(path) is None


def test_state_round_trip_of_scene_cues_and_learned_maps(tmp_path):
    from live.control.midi import MidiMapper

    walk = SimpleNamespace(dim=4, cues=[None] * 16)
    walk.cues[2] = np.array([0.5, -1.0, 2.0, 0.25])
    bus = Bus(Registry())
    mapper = MidiMapper(bus.registry, bus)
    mapper.restore_learned(["ch 1 cc 21 -> fx.hue"])
    engine = SimpleNamespace(walk=walk, scene=SimpleNamespace(name="kaleido"))
    keeper = StateKeeper(tmp_path / "state.json", engine, SimpleNamespace(midi=mapper),
                         SimpleNamespace(index=3))
    assert keeper.save() and not keeper.save()  # unchanged: not written again
    state = read_state(tmp_path / "state.json")
    assert state.scene == "kaleido" and state.playlist_index == 3
    other = SimpleNamespace(walk=SimpleNamespace(dim=4, cues=[None] * 16))
    fresh = MidiMapper(bus.registry, bus)
    restore(state, other, SimpleNamespace(midi=fresh))
    np.testing.assert_allclose(other.walk.cues[2], walk.cues[2])
    assert fresh.learned == ["ch 1 cc 21 -> fx.hue"]
    # cues from a model with another latent size are not forced onto this one
    small = SimpleNamespace(walk=SimpleNamespace(dim=3, cues=[None] * 16))
    restore(state, small, None)
    assert small.walk.cues[2] is None
    assert isinstance(state, ShowState)


def test_watchdog_feeds_systemd_and_ends_a_stalled_loop(tmp_path, monkeypatch):
    import socket

    notify = tmp_path / "notify"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify))
    listener.settimeout(3.0)
    monkeypatch.setenv("NOTIFY_SOCKET", str(notify))
    engine = SimpleNamespace(frames=SimpleNamespace(count=0), stop=threading.Event())
    exits, saved = [], []
    dog = Watchdog(engine, stall_s=1.5, on_stall=lambda: saved.append(1), exit=exits.append)
    dog.start()
    assert listener.recv(64) == b"READY=1"
    engine.frames.count = 5  # frames come: the watchdog is fed
    assert listener.recv(64) == b"WATCHDOG=1"
    deadline = time.monotonic() + 10
    while not exits and time.monotonic() < deadline:  # then the loop stalls
        time.sleep(0.1)
    dog.close()
    listener.close()
    assert exits == [EXIT_STALLED] and saved == [1]


def test_live_run_with_a_playlist_keeps_its_state(tmp_path, repo):
    playlist = write(tmp_path / "show.toml", '[[scene]]\nname = "vae-drift"\nminutes = 10\n')
    state = tmp_path / "state.json"
    common = ["--headless", "--playlist", str(playlist), "--set", "display.size=[192, 108]",
              "--set", f'paths.state="{state}"', "--set", f'paths.scenes="{repo / "scenes"}"',
              "--set", f'paths.models="{repo / "models"}"', "--set", "osc.enabled=false",
              "--set", "midi.enabled=false", "--set", "audio.enabled=false"]
    assert main(["run", "--frames", "60", *common]) == 0
    saved = read_state(state)
    assert saved is not None and saved.scene == "vae-drift"
    saved_cues = json.loads(state.read_text())
    saved_cues["cues"][0] = [0.1] * saved.latent_dim
    state.write_text(json.dumps(saved_cues))
    assert main(["run", "--frames", "30", *common]) == 0  # starts where it was
    again = read_state(state)
    assert again.scene == "vae-drift" and again.cues[0] == [0.1] * saved.latent_dim


def test_soak_runs_the_whole_show_and_reports_memory(capsys, repo):
    assert main(["soak", "--frames", "600", "--settle", "200", "--switch-every", "200",
                 "--json", "--set", f'paths.scenes="{repo / "scenes"}"',
                 "--set", f'paths.models="{repo / "models"}"']) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames"] == 600 and result["switches"] >= 1
    assert result["osc_messages"] > 0 and result["audio_blocks"] > 0
    for key in ("rss_mb_settled", "rss_mb_end", "rss_growth_pct", "fds_end", "threads_end"):
        assert key in result

"""A running show steered through its control surface: OSC over real sockets into a headless
engine (record start/stop, tap tempo, scene switch, MIDI learn), and the new keys."""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import mido
import pygame
import pytest
from pythonosc.osc_message_builder import build_msg

from live.cli import _prepare
from live.config import OscConfig, OscQueryConfig
from live.control.surface import ControlSurface
from live.engine import Engine
from tests.conftest import quiet_show, run_while, wait_for


@pytest.fixture
def show(small_config, tmp_path):
    """A headless engine with its control surface on free loopback ports."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    cfg = replace(
        small_config,
        osc=OscConfig(host="127.0.0.1", port=0, feedback_port=rx.getsockname()[1]),
        oscquery=OscQueryConfig(port=0, zeroconf=False),
        paths=replace(small_config.paths, recordings=str(tmp_path / "rec")),
    )
    scene, model, choice = _prepare(cfg, None, None)
    engine = Engine(cfg, model, choice, scene, headless=True)
    surface = ControlSurface(cfg, engine)
    surface.start()
    yield engine, surface, rx
    surface.close()
    rx.close()






def test_record_tap_and_midi_learn_over_osc(show, tmp_path):
    engine, surface, _ = show
    port = surface.osc.port
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(address, *args):
        sock.sendto(build_msg(address, list(args)).dgram, ("127.0.0.1", port))

    def actions():
        send("/live/show/record", 1)
        assert wait_for(lambda: engine.recorder is not None)
        assert wait_for(lambda: engine.recorder.frames_written > 10)
        send("/live/show/record", 0)
        assert wait_for(lambda: engine.recorder is None)
        start = time.monotonic()
        for i in range(4):  # taps 0.4 s apart: 150 BPM
            time.sleep(max(0.0, start + 0.4 * i - time.monotonic()))
            send("/live/tempo/tap")
        assert wait_for(lambda: abs(engine.bus.get("tempo.bpm") - 150.0) < 8.0)
        send("/live/midi/learn", "fx.hue")
        assert wait_for(lambda: surface.midi.armed == "fx.hue")
        surface.midi.handle(mido.Message("control_change", channel=0, control=21, value=64))
        assert wait_for(lambda: surface.midi.armed is None)
        surface.midi.handle(mido.Message("control_change", channel=0, control=21, value=127))
        assert wait_for(lambda: engine.bus.get("fx.hue") == pytest.approx(180.0))

    run_while(engine, actions)
    sock.close()
    recordings = list((tmp_path / "rec").glob("live-*.mp4"))
    assert len(recordings) == 1
    import imageio_ffmpeg

    frames = list(imageio_ffmpeg.read_frames(str(recordings[0])))[1:]
    assert len(frames) > 10
    assert any("fx.hue" in line for line in surface.midi.learned)


def test_scene_switch_and_feedback_reach_the_client(show, tmp_path):
    engine, surface, rx = show
    port = surface.osc.port
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.settimeout(0.2)

    def actions():
        sock.sendto(build_msg("/live/fx/hue", [45.0]).dgram, ("127.0.0.1", port))
        assert wait_for(lambda: engine.controls["fx.hue"] > 40.0)  # the picture's value
        sock.sendto(build_msg("/live/scene/go", ["default"]).dgram, ("127.0.0.1", port))
        # the default scene leaves hue at its default: the switch brings it back to 0
        assert wait_for(lambda: engine.bus.get("fx.hue") == 0.0)
        seen = []
        end = time.monotonic() + 2.0
        from pythonosc.osc_packet import OscPacket

        while time.monotonic() < end and not seen:
            try:
                data, _ = rx.recvfrom(65536)
            except TimeoutError:
                continue
            seen = [m.message.params for m in OscPacket(data).messages
                    if m.message.address == "/live/fx/hue" and m.message.params == [0.0]]
        assert seen, "the scene's value was not fed back"

    run_while(engine, actions)
    sock.close()
    assert "OSC :" in surface.hud_line()


def test_new_keys_reach_the_bus(small_config):
    scene, model, choice = _prepare(small_config, None, None)
    engine = Engine(small_config, model, choice, scene, headless=True)
    for key in (pygame.K_n, pygame.K_p, pygame.K_t, pygame.K_l):
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0))
    seen = []

    class Listener:
        def handle(self, event):
            seen.append((event.name, event.text))

    engine.listeners.append(Listener())
    engine.run(3)
    assert seen == [("scene.next", ""), ("scene.prev", ""), ("tempo.tap", ""), ("midi.learn", "")]
    from live.control.keyboard import handle_key

    for _ in range(2):
        before = engine.bus.get("show.record")
        handle_key(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_v, mod=0), engine.bus)
        assert engine.bus.get("show.record") == 1.0 - before


def groove(path, bpm=124.0, seconds=8.0):
    """Kicks on the beat, hats between, over a low hum: a file to steer the show with."""
    from live.soak import write_groove

    write_groove(path, seconds=seconds, bpm=bpm)


def test_the_default_scene_moves_with_an_audio_file(small_config, tmp_path):
    """--audio-file through the real analysis: the default scene's maps move the picture and
    the tempo follows the music."""
    path = tmp_path / "groove.wav"
    groove(path, seconds=60.0)  # long enough for a loaded machine; the test stops early
    engine, surface = quiet_show(small_config, audio_file=path)
    scene = engine.scene
    zooms, flashes = [], []

    class Watch:
        def handle(self, event):
            if event.name == "fx.flash":
                flashes.append(event.arg)

    engine.listeners.append(Watch())

    def moved():
        zooms.append(engine.controls["fx.zoom"])
        return (len(flashes) >= 5 and max(zooms) - min(zooms) > 0.02
                and abs(engine.bus.get("tempo.bpm") - 124.0) < 2.5)

    def actions():
        # the music plays in real time: wait for what it should do, however slow the machine
        assert wait_for(moved, timeout=50, step=0.01)

    try:
        run_while(engine, actions)
    finally:
        surface.close()
    assert scene.maps  # the default scene maps audio to the picture
    assert max(zooms) - min(zooms) > 0.02  # kicks push the zoom
    assert len(flashes) >= 5  # onsets flash
    assert abs(engine.bus.get("tempo.bpm") - 124.0) < 2.5  # the tempo followed the beat
    assert "bpm" in surface.hud_line()

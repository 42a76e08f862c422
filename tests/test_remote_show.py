"""The remote on a running show: a headless engine with its control surface serves the page,
the WebSocket follows the scene, and the preview carries the real output as JPEGs, encoded
off the render thread and only while a page watches."""

from __future__ import annotations

import io
import json
import urllib.request
from dataclasses import replace

import pygame
import pytest
from pythonosc.osc_message import OscMessage
from websockets.sync.client import connect

from live.cli import _prepare
from live.config import OscConfig, OscQueryConfig, RemoteConfig
from live.control.surface import ControlSurface
from live.engine import Engine
from tests.conftest import run_while, wait_for


@pytest.fixture
def show(small_config):
    cfg = replace(small_config,
                  osc=OscConfig(host="127.0.0.1", port=0, feedback_port=9),
                  oscquery=OscQueryConfig(port=0, zeroconf=False),
                  remote=RemoteConfig(preview_fps=10.0, preview_width=160, pin="2468"))
    scene, model, choice = _prepare(cfg, None, None)
    engine = Engine(cfg, model, choice, scene, headless=True)
    surface = ControlSurface(cfg, engine)
    surface.start()
    yield engine, surface
    surface.close()


def _next_binary(client, timeout: float = 30.0) -> bytes:
    while True:
        data = client.recv(timeout=timeout)
        if isinstance(data, bytes):
            return data


def test_the_page_the_scene_and_the_preview_of_a_running_show(show):
    engine, surface = show
    port = surface.oscquery.port
    assert surface.remote_url.endswith(f":{port}/remote")
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/remote", timeout=30).read()
    assert b"<html" in page.lower()
    layout = json.loads(urllib.request.urlopen(
        f"http://127.0.0.1:{port}/remote/layout.json", timeout=30).read())
    assert "default" in json.dumps(layout)
    seen = {}

    def actions():
        with connect(f"ws://127.0.0.1:{port}/", open_timeout=30, proxy=None) as client:
            status = json.loads(client.recv(timeout=30))
            # this machine needs no PIN
            assert status["DATA"] == {"pin_required": False, "authorised": True}
            client.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/live/scene/current"}))
            message = OscMessage(_next_binary(client))
            assert message.address == "/live/scene/current"
            seen["scene"] = message.params[0]
            assert wait_for(lambda: not surface.preview.tap.active, timeout=30)
            assert surface.preview.tap.captured == 0  # nobody watching: no read-back
            client.send(json.dumps({"COMMAND": "LIVE_PREVIEW", "DATA": True}))
            jpegs = []
            while len(jpegs) < 3:
                data = _next_binary(client)
                if data[:2] == b"\xff\xd8":
                    jpegs.append(data)
            seen["jpegs"] = jpegs
            seen["line"] = surface.hud_line() + " " + surface.preview.hud_line()
            client.send(json.dumps({"COMMAND": "LIVE_PREVIEW", "DATA": False}))
            assert wait_for(lambda: not surface.preview.tap.active, timeout=30)

    run_while(engine, actions, timeout=180)
    assert seen["scene"] == engine.scene.name
    picture = pygame.image.load(io.BytesIO(seen["jpegs"][-1]), "x.jpg")
    width, height = engine.display.output_size
    assert picture.get_size() == (160, round(height * 160 / width))
    # the preview shows the picture, not a blank frame
    colours = {tuple(picture.get_at((x, y))[:3]) for x in range(0, 160, 16)
               for y in range(0, picture.get_height(), 9)}
    assert len(colours) > 4
    assert "remote http://" in seen["line"] and "PIN 2468" in seen["line"]
    assert "preview" in seen["line"]
    assert surface.oscquery.preview_sent >= 3
    assert engine.outputs == [surface.preview]


def test_the_remote_bench_reports_every_phase(capsys):
    from live.cli import main
    from live.remote.measure import browser_paths

    assert main(["bench", "--remote", "--json", "--frames", "20", "--size", "160x90",
                 "--remote-changes", "5", "--set", "remote.preview_fps=10"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"off", "preview", "off_again"} <= set(result["phases"])
    assert result["preview"]["frames_received"] > 0
    assert result["preview"]["fps_received"] > 0
    assert "preview_p99_change_pct" in result
    if isinstance(browser_paths(), str):
        assert "skipped" in result["page"]
    else:
        assert result["page"]["received"] == 5 and result["page"]["p99_ms"] > 0

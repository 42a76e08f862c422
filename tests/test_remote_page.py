"""The browser remote's layout (made from the registry and the scenes folder) and its files
(``live.remote.serve``), without a browser: tests/test_remote_browser.py drives the page."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from live import remote
from live.control.osc import build_routes
from live.control.touchosc import left_off
from live.layers import show_registry
from live.params import Registry

REPO = Path(__file__).resolve().parent.parent
SCENES = REPO / "scenes"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return show_registry(SCENES)


@pytest.fixture(scope="module")
def context(registry) -> remote.RemoteContext:
    return remote.RemoteContext(registry, SCENES)


@pytest.fixture(scope="module")
def layout(context) -> dict:
    return context.layout()


def _controls(layout: dict):
    for page in layout["pages"]:
        for section in page["sections"]:
            for control in section["controls"]:
                yield page, section, control


def _names(control: dict) -> set[str]:
    # a colour control's own name is its input's (layer.x.tint); its channels are the params
    names = {control["name"]} if "name" in control and control["kind"] != "color" else set()
    for child in control.get("buttons", []) + control.get("channels", []):
        names |= _names({"kind": control["kind"] + " item", **child})
    return names


def test_pages_come_in_the_show_order(layout):
    titles = [p["title"] for p in layout["pages"]]
    assert titles[:10] == ["walk", "colour", "space", "layers", "cues", "scenes", "audio",
                           "text", "model", "show"]
    assert len({p["id"] for p in layout["pages"]}) == len(titles)
    for page in layout["pages"]:
        assert re.fullmatch(r"#[0-9a-f]{6}", page["color"])


def test_every_address_is_a_route_of_the_show(registry, layout):
    routes = build_routes(registry)
    for address in remote.addresses(layout):
        assert address in routes, address
    assert layout["scene_go"] in routes
    assert layout["scene_address"] == "/live/scene/current"


def test_every_parameter_is_on_a_page_but_the_ones_left_off(registry, layout):
    placed = set()
    for _, _, control in _controls(layout):
        placed |= _names(control)
    expected = {p.name for p in registry} - set(left_off(registry)) - {"scene.go"}
    assert expected - placed == set()
    assert placed <= {p.name for p in registry}


def test_faders_use_the_norm_address_and_carry_the_native_range(registry, layout):
    faders = [c for _, _, c in _controls(layout) if c["kind"] == "fader"]
    faders += [ch for _, _, c in _controls(layout) if c["kind"] == "color"
               for ch in c["channels"]]
    assert len(faders) > 100
    for fader in faders:
        param = registry[fader["name"]]
        assert fader["address"] == param.norm_address
        assert fader["native"] == param.address
        assert (fader["lo"], fader["hi"], fader["unit"]) == (param.lo, param.hi, param.unit)
        assert 0.0 <= fader["default"] <= 1.0
        assert fader["int"] == (param.kind in ("int", "enum"))
    speed = next(f for f in faders if f["name"] == "walk.speed")
    assert speed["label"] == "speed" and speed["default"] == pytest.approx(1 / 8)


def test_choices_toggles_and_pushes(registry, layout):
    controls = [c for _, _, c in _controls(layout)]
    mode = next(c for c in controls if c.get("name") == "walk.mode")
    assert mode["kind"] == "choice" and mode["choices"] == ["loop", "noise", "orbit"]
    assert mode["address"] == "/live/walk/mode" and mode["default"] == "loop"
    buttons = {b["name"]: b for c in controls if c["kind"] == "buttons"
               for b in c["buttons"] if "name" in b}
    assert buttons["text.visible"]["kind"] == "toggle"
    assert buttons["show.record"]["kind"] == "toggle"
    assert buttons["fx.flash"]["kind"] == "push"
    assert buttons["walk.reseed"]["address"] == "/live/walk/reseed"
    assert "show.quit" not in buttons


def test_cue_slots_are_two_pads_and_storing_is_marked(layout):
    cues = next(p for p in layout["pages"] if p["title"] == "cues")
    pads = [c for s in cues["sections"] for c in s["controls"] if c["kind"] == "pads"]
    assert [p["name"] for p in pads] == ["cue.recall", "cue.store"]
    recall, store = pads
    assert [b["address"] for b in recall["buttons"]] == [f"/live/cue/recall/{n}"
                                                         for n in range(16)]
    assert [b["label"] for b in store["buttons"]] == [str(n) for n in range(16)]
    assert store["danger"] and not recall["danger"]


def test_scenes_with_their_layers_and_the_layers_page(registry, layout):
    scenes = {s["name"]: s for s in layout["scenes"]}
    assert sorted(scenes) == sorted(p.stem for p in SCENES.glob("*.toml"))
    assert scenes["default"]["layers"] == ["def_tone", "def_glow"]
    assert scenes["default"]["description"]
    layers = next(p for p in layout["pages"] if p["title"] == "layers")
    by_layer = {s["layer"]: s for s in layers["sections"] if "layer" in s}
    for scene in scenes.values():
        for name in scene["layers"]:
            assert name in by_layer, name
    # each ISF layer's section: opacity, blend, then the shader's inputs
    tone = by_layer["def_tone"]
    assert tone["title"] == "def_tone · gradient_map"
    assert [c["kind"] for c in tone["controls"][:2]] == ["fader", "choice"]
    colors = [c for c in tone["controls"] if c["kind"] == "color"]
    assert [c["name"] for c in colors] == ["layer.def_tone.shadowColor",
                                          "layer.def_tone.midColor",
                                          "layer.def_tone.highlightColor"]
    assert [ch["label"] for ch in colors[0]["channels"]] == ["r", "g", "b", "a"]
    assert colors[0]["label"] == "shadow color"
    # the fixed layer slots come after the scene layers and are always shown
    slots = [s for s in layers["sections"] if "layer" not in s]
    assert [s["title"] for s in slots] == ["layer1 (slot)", "layer2 (slot)"]
    assert layers["sections"].index(slots[0]) > layers["sections"].index(tone)
    scene_page = next(p for p in layout["pages"] if p["title"] == "scenes")
    assert scene_page["sections"][0]["scenes"] is True


def test_a_scenes_folder_of_its_own(tmp_path):
    (tmp_path / "b-two.toml").write_text(
        'description = "two layers"\n[[layer]]\nname = "tone"\nshader = "gradient_map"\n'
        '[[layer]]\nname = "glow"\nshader = "bloom"\n')
    (tmp_path / "a-one.toml").write_text('model = "default-gan"\n')
    (tmp_path / "c-broken.toml").write_text("this is [not toml\n")
    registry = show_registry(tmp_path)
    context = remote.RemoteContext(registry, tmp_path)
    layout = context.layout()
    assert layout["scenes"] == [
        {"name": "a-one", "description": "", "layers": []},
        {"name": "b-two", "description": "two layers", "layers": ["tone", "glow"]},
        {"name": "c-broken", "description": "", "layers": []},
    ]
    layers = next(p for p in layout["pages"] if p["title"] == "layers")
    assert [s.get("layer") for s in layers["sections"]][:2] == ["tone", "glow"]
    # a scene added while the show runs appears in the next layout (pages stay as built)
    (tmp_path / "d-new.toml").write_text('[[layer]]\nname = "later"\nshader = "bloom"\n')
    assert context.layout()["scenes"][-1] == {"name": "d-new", "description": "",
                                              "layers": ["later"]}
    # what the running show knows wins over the files
    known = remote.RemoteContext(registry, tmp_path, scene_layers=lambda: {"b-two": ["glow"]})
    assert {s["name"]: s["layers"] for s in known.layout()["scenes"]}["b-two"] == ["glow"]


def test_a_registry_without_scene_layers_still_has_a_layers_and_scenes_page(tmp_path):
    layout = remote.RemoteContext(Registry(), tmp_path / "missing").layout()
    assert layout["scenes"] == []
    titles = [p["title"] for p in layout["pages"]]
    assert "scenes" in titles and "layers" in titles
    json.dumps(layout)


def test_serve_the_page_and_its_files(context):
    for path in ("/remote", "/remote/"):
        status, kind, body = remote.serve(path, "", context)
        assert status == 200 and kind == "text/html; charset=utf-8"
        assert b"/remote/static/remote.js" in body and b"/remote/static/remote.css" in body
    status, kind, body = remote.serve("/remote/static/remote.js", "v=1", context)
    assert (status, kind) == (200, "text/javascript; charset=utf-8")
    assert b"window.liveRemote" in body
    assert remote.serve("/remote/static/remote.css", "", context)[1] == "text/css; charset=utf-8"
    assert remote.serve("/remote/static/icon.svg", "", context)[1] == "image/svg+xml"
    status, kind, body = remote.serve("/remote/layout.json", "", context)
    assert (status, kind) == (200, "application/json")
    assert json.loads(body) == json.loads(json.dumps(context.layout()))


@pytest.mark.parametrize("path", [
    "/remote/static/../__init__.py", "/remote/static/..", "/remote/static/",
    "/remote/static//etc/passwd", "/remote/static/%2e%2e/__init__.py",
    "/remote/static/missing.js", "/remote/static/sub/remote.js", "/remote/other",
    "/remote/layout.json/x", "/remoteX", "/remote/static/REMOTE.JS",
])
def test_serve_answers_nothing_else(context, path):
    assert remote.serve(path, "", context) is None


def test_no_context_no_remote():
    assert remote.serve("/remote", "", None) is None
    assert remote.serve("/remote/static/remote.js", "", None) is None


def test_the_page_loads_nothing_from_elsewhere():
    for name in remote.static_files():
        text = (remote.STATIC / name).read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), name
        assert not re.search(r"""(import|fetch|url)\s*\(\s*["'`]?(https?:)?//""", text), name
        assert "http://www.w3.org/2000/svg" in text or "http" not in text.replace(
            "https:", ""), name


def test_the_script_parses():
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("no node to check the script's syntax (the browser test runs it)")
    result = subprocess.run([node, "--check", str(remote.STATIC / "remote.js")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_words():
    assert remote.words("bloomAmount") == "bloom amount"
    assert remote.words("feedback_zoom") == "feedback zoom"
    assert remote.words("pc1") == "pc1"

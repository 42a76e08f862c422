"""ISF shaders as scene layers and transitions (live/layers.py, live/render/isf/stack.py):
scene parsing and its errors, a registry parameter per shader input, inputs changed over
real OSC without a single recompile, rendering on a real OpenGL context (filters on the stack
or the neural layer, opacity, blend modes, alpha, events), hot reload with the old program
kept on error, transitions, audio inputs fed by an AudioScope, and [[map]] on a layer input.

The fixture shaders are in tests/isf/layers/: ``probe`` (a generator showing each input in a
quarter of the picture), ``invert`` (a filter), ``wash`` (a generator of one colour with its
alpha), ``red_middle`` (a transition that is pure red in the middle of the fade),
``menu_wipe`` (a transition showing its menu, progress and colour inputs) and ``scope_bars``
(the spectrum in red and the waveform in green, by column)."""

from __future__ import annotations

import math
import os
import shutil
import socket
import tomllib
from pathlib import Path

import numpy as np
import pytest
from pythonosc.osc_message_builder import build_msg

from live import config
from live.control.osc import OscServer, build_routes
from live.control.scope import AudioScope
from live.layers import LayerSpec, ShaderLibrary, layer_params, parse_layers, show_registry
from live.params import BLEND_MODES, REGISTRY, Bus, Controls, Registry
from live.scenes import SceneError, load_scene, parse_scene, scene_values
from tests.conftest import REPO, quiet_show, run_while, wait_for

glcontext = pytest.importorskip("live.render.glcontext")

HERE = Path(__file__).resolve().parent / "isf" / "layers"
SIZE = (64, 36)
QUARTERS = [8, 24, 40, 56]
"""A column in the middle of each quarter of a SIZE picture (the probe's four fields)."""
ROW = 18
TOLERANCE = 3  # levels of 255: 8-bit rounding through two or three passes
NEURAL = (-0.5, 0.0, 0.5)
"""The flat decoded picture under the compositor tests: about (64, 128, 191)."""
DT = 1 / 60
SETTLE_FRAMES = 60
DECODE_EVERY = 10_000
"""The engines here decode their first frame only (as ``live soak`` fast-forwards): the
layers cover or ignore the neural picture, and a loaded 2-core machine shows frames faster."""
"""Frames after a fader moved before its glide (0.15 s) is within a level of the target."""


def level(value: float) -> int:
    return round(value * 255)


def near(pixels, expected, tolerance: int = TOLERANCE) -> bool:
    pixels = np.asarray(pixels, int)
    return bool(np.all(np.abs(pixels - np.asarray(expected, float)) <= tolerance))


def quarters(frame: np.ndarray) -> np.ndarray:
    return np.asarray(frame, int)[ROW, QUARTERS]


# ----------------------------------------------------------------------------- fixtures



@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A scenes folder with copies of the fixture shaders beside the scene files."""
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for shader in HERE.glob("*.fs"):
        shutil.copy(shader, scenes)
    return scenes


def layer_config(tmp_path: Path, scenes: Path):
    return config.load(None, [
        f"display.size=[{SIZE[0]}, {SIZE[1]}]",
        "engine.render_scale=1.0",
        f'paths.scenes="{scenes}"',
        f'paths.models="{REPO / "models"}"',
        f'paths.snapshots="{tmp_path / "snaps"}"',
    ])


def headless_engine(tmp_path: Path, scenes: Path, first: str = "a"):
    """A headless engine on ``scenes`` with a fixed frame time (faders glide by frames)."""
    from live.cli import _prepare
    from live.engine import Engine

    cfg = layer_config(tmp_path, scenes)
    scene, model, choice = _prepare(cfg, first, None)
    engine = Engine(cfg, model, choice, scene, headless=True, fixed_dt=DT)
    engine.decode_every = DECODE_EVERY
    return engine


class Frames:
    """Every frame the engine shows, read back on its render thread (the snapshot hook,
    asked again after each frame), for the test's thread to look at."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.shown: list[np.ndarray] = []
        engine.capture_hook = self._take
        engine.display.request_capture()

    def _take(self, frame: np.ndarray) -> None:
        self.shown.append(frame)
        self.engine.display.request_capture()

    def after(self, count: int) -> np.ndarray:
        """The newest frame once ``count`` more have been shown."""
        start = len(self.shown)
        assert wait_for(lambda: len(self.shown) >= start + count, timeout=120)
        return self.shown[-1].astype(int)

    def mark(self) -> int:
        return len(self.shown)

    def until(self, check, start: int, timeout: float = 60) -> np.ndarray:
        """The first frame shown since ``start`` (a ``mark``) for which ``check`` holds."""
        seen = [start]

        def found() -> bool:
            while seen[0] < len(self.shown):
                seen[0] += 1
                if check(self.shown[seen[0] - 1].astype(int)):
                    return True
            return False

        assert wait_for(found, timeout=timeout), "no such frame was shown"
        return self.shown[seen[0] - 1].astype(int)


class Rig:
    """A compositor at SIZE over a flat decoded picture, drawing the ``[[layer]]`` tables of
    ``text`` with real Controls (a registry holding their parameters) and a real Bus."""

    def __init__(self, ctx, text: str = "", folder: Path = HERE,
                 library: ShaderLibrary | None = None, values: dict | None = None) -> None:
        from live.render.compositor import Compositor

        self.library = library or ShaderLibrary([HERE])
        raw = tomllib.loads(text).get("layer", [])
        self.specs = parse_layers(raw, text, folder / "rig.toml", self.library) if raw else ()
        params = [p for spec in self.specs for p in layer_params(spec.name, spec.shader)]
        self.registry = Registry([*REGISTRY, *params])
        self.bus = Bus(self.registry)
        self.controls = Controls(self.registry)
        self.compositor = Compositor(ctx, SIZE)
        self.compositor.upload(np.tile(np.asarray(NEURAL, np.float32), (16, 16, 1)))
        self.isf = self.compositor.isf
        self.isf.layers = self.specs
        self.set({name: value for spec in self.specs for name, value in spec.values.items()})
        self.set(values or {})

    def set(self, values: dict) -> None:
        for name, value in values.items():
            self.bus.set(name, value)

    def frame(self) -> np.ndarray:
        self.bus.drain(self.controls)
        self.controls.jump()
        self.compositor.render(self.controls, DT)
        return self.compositor.read_output().astype(int)

    def close(self) -> None:
        self.compositor.release()


@pytest.fixture
def rigs(ctx):
    made: list[Rig] = []

    def make(*args, **kwargs) -> Rig:
        made.append(Rig(ctx, *args, **kwargs))
        return made[-1]

    yield make
    for rig in made:
        rig.close()


def layer(name: str, shader: str, **keys) -> str:
    """One ``[[layer]]`` table as TOML text."""
    lines = ["[[layer]]", f'name = "{name}"', f'shader = "{shader}"']
    for key, value in keys.items():
        lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(float(value) if isinstance(value, float) else value)


# ----------------------------------------------------------------------------- 1. parsing

def test_layer_tables_parse_to_checked_specs(folder):
    text = ('model = "default-gan"\n'
            + layer("p", "probe", amount=0.75, pick="Full", count=5, invert=True,
                    tint=[1.0, 0.0], centre=[0.1, 0.9], isf_opacity=0.5, opacity=0.5,
                    blend="add")
            + layer("inv", "invert", input="neural"))
    path = folder / "a.toml"
    scene = parse_scene(text, path, Registry())
    assert [type(s) for s in scene.layers] == [LayerSpec, LayerSpec]
    probe, inv = scene.layers
    assert (probe.name, probe.shader.kind, probe.input) == ("p", "generator", "stack")
    assert probe.path == folder / "probe.fs"  # the scene's own folder first
    assert probe.values == {
        "layer.p.amount": 0.75, "layer.p.pick": "Full", "layer.p.count": 5,
        "layer.p.invert": True, "layer.p.tint.r": 1.0, "layer.p.tint.g": 0.0,
        "layer.p.centre.x": 0.1, "layer.p.centre.y": 0.9, "layer.p.isf_opacity": 0.5,
        "layer.p.opacity": 0.5, "layer.p.blend": "add"}
    assert (inv.name, inv.shader.kind, inv.input, inv.values) == ("inv", "filter", "neural", {})
    # the scene sets the layers' values like any other parameter's
    assert scene.values["layer.p.amount"] == 0.75 and scene.values["layer.p.blend"] == "add"
    assert scene.transition_spec is None


def test_a_transition_shader_and_its_inputs_parse(folder):
    text = ('transition = 1.5\ntransition_shader = "red_middle"\n'
            'transition_inputs = { level = 0.25 }\n')
    scene = parse_scene(text, folder / "a.toml", Registry())
    assert scene.transition_spec.shader.kind == "transition"
    assert scene.transition_spec.shader.path == folder / "red_middle.fs"
    assert scene.transition_spec.values == {"level": 0.25}
    assert scene.layers == ()


def test_transition_inputs_reach_the_shader_as_its_uniforms_take_them(folder, rigs):
    """A menu by label or by index is the entry of its VALUES (the shader compares with
    those), a colour fills the channels it leaves out from the header's default."""
    text = ('transition_shader = "menu_wipe"\n'
            'transition_inputs = { pick = "Full", tint = [0.0, 0.0, 0.5] }\n')
    spec = parse_scene(text, folder / "a.toml", Registry()).transition_spec
    assert spec.values == {"pick": 4, "tint": (0.0, 0.0, 0.5, 1.0)}
    text = 'transition_shader = "menu_wipe"\ntransition_inputs = { pick = 1 }\n'
    assert parse_scene(text, folder / "b.toml", Registry()).transition_spec.values == {
        "pick": 2}
    rig = rigs()
    rig.frame()
    rig.compositor.start_fade(1.0, spec)
    assert near(rig.frame(), (255, level(DT), 128))  # drawn one frame into the fade
    assert near(rig.frame(), (255, level(2 * DT), 128))


def test_shaders_are_found_in_the_scenes_folder_first_then_the_library(tmp_path):
    scenes = tmp_path / "scenes"
    (scenes / "sub").mkdir(parents=True)
    # a "probe" beside the scene that is really the wash generator: it wins over the library's
    shutil.copy(HERE / "wash.fs", scenes / "probe.fs")
    shutil.copy(HERE / "invert.fs", scenes / "sub" / "flip.fs")
    text = layer("a", "probe") + layer("b", "invert") + layer("c", "sub/flip.fs")
    specs = parse_layers(tomllib.loads(text)["layer"], text, scenes / "s.toml",
                         ShaderLibrary([HERE]))
    assert specs[0].path == scenes / "probe.fs"
    assert [item.name for item in specs[0].shader.inputs] == ["colour"]
    assert specs[1].path == HERE / "invert.fs"  # not beside the scene: from the library
    assert specs[2].path == scenes / "sub" / "flip.fs"  # a path, relative to the scene


PROBE = layer("p", "probe")
NINE = "".join(layer(f"l{i}", "probe") for i in range(9))


@pytest.mark.parametrize("text, line, phrases", [
    pytest.param('model = "default-gan"\n\n' + layer("p", "nope"), 3,
                 ["layer p:", "no shader 'nope'", "{folder}"], id="unknown-shader"),
    pytest.param("\n" + layer("p", "broken"), 2,
                 ["layer p:", "{folder}/broken.fs:7:"], id="fs-does-not-parse"),
    pytest.param(PROBE + "wobble = 1.0\n", 1,
                 ["probe has no input 'wobble'", "amount", "isf_opacity"], id="unknown-input"),
    pytest.param(PROBE + "amount = 2.0\n", 1,
                 ["layer.p.amount = 2.0 is outside its range 0 to 1"], id="out-of-range"),
    pytest.param(PROBE + "count = 9\n", 1,
                 ["layer.p.count = 9 is outside its range 0 to 8"], id="int-out-of-range"),
    pytest.param(PROBE + "invert = 1\n", 1,
                 ["layer.p.invert expects a bool"], id="wrong-type-bool"),
    pytest.param(PROBE + 'amount = "lots"\n', 1,
                 ["layer.p.amount", "expected a number"], id="wrong-type-number"),
    pytest.param(PROBE + 'pick = "Sideways"\n', 1,
                 ["'Sideways' is not one of None, Half, Full"], id="unknown-choice"),
    pytest.param(PROBE + "tint = 0.5\n", 1,
                 ["tint must be a list of up to 4 numbers"], id="colour-not-a-list"),
    pytest.param(PROBE + "flash = true\n", 1,
                 ["layer.p.flash is an event"], id="event-has-no-value"),
    pytest.param(PROBE + "\n" + layer("t", "red_middle"), 5,
                 ["layer t:", "red_middle is a transition", "transition_shader"],
                 id="transition-as-layer"),
    pytest.param('transition_shader = "probe"\n', 1,
                 ["transition_shader", "probe is a generator, not a transition"],
                 id="generator-as-transition"),
    pytest.param('\ntransition_shader = "invert"\n', 2,
                 ["transition_shader", "invert is a filter, not a transition"],
                 id="filter-as-transition"),
    pytest.param(PROBE + "\n" + layer("p", "invert"), 5,
                 ["a second layer named 'p'"], id="duplicate-name"),
    pytest.param(layer("Glow!", "probe"), 1, ["layer name must be", "'Glow!'"],
                 id="bad-name"),
    pytest.param('[[layer]]\nshader = "probe"\n', 1, ["layer name must be", "None"],
                 id="no-name"),
    pytest.param(NINE, 25, ["at most 8 layers"], id="nine-layers"),
    pytest.param(PROBE + 'input = "both"\n', 1,
                 ["input must be one of stack, neural, got 'both'"], id="bad-input"),
    pytest.param('transition = 1.0\ntransition_inputs = { level = 0.5 }\n', 2,
                 ["transition_inputs without transition_shader"],
                 id="inputs-without-transition"),
    pytest.param('transition_shader = "red_middle"\ntransition_inputs = { wobble = 1.0 }\n', 1,
                 ["red_middle has no input 'wobble'", "level"], id="unknown-transition-input"),
    pytest.param('transition_shader = "red_middle"\ntransition_inputs = { level = 3.0 }\n', 1,
                 ["transition_inputs.level = 3.0 is outside its range 0 to 1"],
                 id="transition-input-out-of-range"),
    pytest.param('transition_shader = "menu_wipe"\ntransition_inputs = { tint = [2.0] }\n', 1,
                 ["transition_inputs.tint.r = 2.0 is outside its range 0 to 1"],
                 id="transition-colour-out-of-range"),
    pytest.param('transition_shader = "menu_wipe"\ntransition_inputs = { pick = "Most" }\n',
                 1, ["'Most' is not one of None, Half, Full"], id="transition-unknown-choice"),
])
def test_layer_errors_name_the_file_and_line(folder, text, line, phrases):
    shutil.copy(REPO / "tests" / "isf" / "bad_json.fs", folder / "broken.fs")
    path = folder / "s.toml"
    path.write_text(text)
    with pytest.raises(SceneError) as caught:
        load_scene("s", folder, Registry())
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    for phrase in phrases:
        assert phrase.format(folder=folder) in message, message


# ----------------------------------------------------------------------------- 2. registry

def test_every_input_of_every_scene_layer_is_a_registry_parameter(folder):
    (folder / "a.toml").write_text(
        'transition_shader = "red_middle"\n' + layer("p", "probe") + layer("w", "wash")
        + layer("f", "invert", input="neural"))
    (folder / "b.toml").write_text(layer("p", "probe", amount=0.5))  # the same faders
    (folder / "c.toml").write_text(layer("x", "nope"))  # skipped here, reported when loaded
    registry = show_registry(folder, ShaderLibrary([HERE]))
    assert "walk.speed" in registry and "layer1.opacity" in registry  # the fixed ones stay

    def param(name):
        return registry[name]

    assert (param("layer.p.opacity").kind, param("layer.p.opacity").default,
            param("layer.p.opacity").lo, param("layer.p.opacity").hi) == ("float", 1.0, 0.0, 1.0)
    blend = param("layer.p.blend")
    assert (blend.kind, blend.default, blend.choices) == ("enum", "normal", BLEND_MODES)
    amount = param("layer.p.amount")
    assert (amount.kind, amount.default, amount.lo, amount.hi) == ("float", 0.25, 0.0, 1.0)
    assert "Amount" in amount.description and "probe" in amount.description
    assert amount.smooth_s > 0  # floats glide like every other fader
    pick = param("layer.p.pick")
    assert (pick.kind, pick.choices, pick.default) == ("enum", ("None", "Half", "Full"), "Half")
    count = param("layer.p.count")
    assert (count.kind, count.default, count.lo, count.hi) == ("int", 2, 0, 8)
    invert = param("layer.p.invert")
    assert (invert.kind, invert.default) == ("bool", False)
    assert param("layer.p.flash").kind == "trigger"
    assert [(param(f"layer.p.tint.{c}").kind, param(f"layer.p.tint.{c}").default)
            for c in "rgba"] == [("float", 0.0), ("float", 0.5), ("float", 1.0), ("float", 1.0)]
    assert [(param(f"layer.p.centre.{c}").default, param(f"layer.p.centre.{c}").lo,
             param(f"layer.p.centre.{c}").hi) for c in "xy"] == [(0.25, 0.0, 1.0),
                                                                (0.75, 0.0, 1.0)]
    own = param("layer.p.isf_opacity")  # the shader's own "opacity" beside the layer's
    assert (own.kind, own.default) == ("float", 1.0) and "Own opacity" in own.description
    wash = [p.name for p in registry if p.name.startswith("layer.w.")]
    assert wash == ["layer.w.opacity", "layer.w.blend", "layer.w.colour.r", "layer.w.colour.g",
                    "layer.w.colour.b", "layer.w.colour.a"]
    assert registry["layer.w.colour.a"].default == 0.5
    # a filter's inputImage is the picture, not a fader; a transition adds no parameter
    assert [p.name for p in registry if p.name.startswith("layer.f.")] == [
        "layer.f.opacity", "layer.f.blend"]
    assert not [p.name for p in registry
                if p.name.startswith("layer.") and ("level" in p.name or ".x." in p.name)]
    assert [(name, shader.name) for name, shader in registry.shaders] == [
        ("p", "probe"), ("w", "wash"), ("f", "invert"), ("", "red_middle"), ("p", "probe")]
    # one OSC address per parameter, native and 0-1
    routes = build_routes(registry)
    for address in ("/live/layer/p/amount", "/live/norm/layer/p/amount", "/live/layer/p/pick",
                    "/live/layer/p/count", "/live/layer/p/invert", "/live/layer/p/flash",
                    "/live/layer/p/tint/r", "/live/layer/p/tint/a", "/live/layer/p/centre/x",
                    "/live/layer/p/centre/y", "/live/layer/p/isf_opacity",
                    "/live/layer/p/opacity", "/live/layer/p/blend", "/live/layer/w/colour/g"):
        assert address in routes, address
    assert routes["/live/layer/p/amount"].param is amount


def test_a_point_without_a_range_gets_one_from_its_default(tmp_path):
    path = tmp_path / "points.fs"
    path.write_text('/*{"INPUTS": [\n'
                    '  {"NAME": "unit", "TYPE": "point2D", "DEFAULT": [0.5, 0.25]},\n'
                    '  {"NAME": "pixels", "TYPE": "point2D", "DEFAULT": [320, 180]}\n'
                    ']}*/\nvoid main() { gl_FragColor = vec4(unit, pixels / 640.0); }\n')
    from live.render import isf

    params = {p.name: p for p in layer_params("pt", isf.load_isf(path))}
    assert (params["layer.pt.unit.x"].lo, params["layer.pt.unit.x"].hi) == (0.0, 1.0)
    assert (params["layer.pt.pixels.x"].lo, params["layer.pt.pixels.x"].hi) == (0.0, 640.0)
    assert (params["layer.pt.pixels.y"].lo, params["layer.pt.pixels.y"].hi) == (0.0, 360.0)
    assert params["layer.pt.pixels.y"].default == 180


# ----------------------------------------------------------------------------- 3. OSC

PROBE_DEFAULTS = [(level(0.25), level(0.5), 0), (level(2 / 8), level(0.25), level(0.75)),
                  (0, level(0.5), 255), (255, 0, 0)]


def test_changing_isf_inputs_over_osc_never_recompiles(tmp_path, folder):
    """Every kind of input, opacity and blend, sent to /live/layer/NAME/INPUT over a real
    UDP socket into a running engine: the picture follows, no program is compiled."""
    (folder / "a.toml").write_text(
        'model = "default-gan"\n' + layer("p", "probe") + layer("inv", "invert", opacity=0.0))
    engine = headless_engine(tmp_path, folder)
    osc = OscServer(engine.bus, config.OscConfig(host="127.0.0.1", port=0))
    osc.start()
    frames = Frames(engine)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    isf = engine.compositor.isf
    sent = [0]
    programs = {}

    def send(address: str, *args) -> None:
        if sent[0] - osc.stats.applied >= 40:  # a small default socket buffer never overflows
            applied()
        sock.sendto(build_msg(address, list(args)).dgram, ("127.0.0.1", osc.port))
        sent[0] += 1

    def applied() -> None:
        assert wait_for(lambda: osc.stats.applied >= sent[0]), osc.stats.as_dict()

    def renderers() -> dict:
        return {key: (id(entry.renderer), entry.renderer.compiles)
                for key, entry in isf._entries.items()}

    def actions():
        start = frames.after(3)
        programs["compiles"], programs["renderers"] = isf.compiles, renderers()
        assert isf.compiles == 2 and len(programs["renderers"]) == 2  # p and inv, at warm-up
        assert all(compiles == 1 for _, compiles in programs["renderers"].values())
        assert near(quarters(start), PROBE_DEFAULTS), quarters(start)
        # a sweep of many messages on every kind of input, then the values to check
        rng = np.random.default_rng(7)
        for value in rng.uniform(0.0, 1.0, 150):
            send("/live/layer/p/amount", float(value))
            send("/live/norm/layer/p/count", float(value))
            send("/live/layer/p/tint/g", float(value))
            send("/live/layer/p/pick", int(value * 3))
            send("/live/layer/p/invert", bool(value > 0.5))
        send("/live/layer/p/amount", 0.75)
        send("/live/layer/p/pick", "Full")  # an enum by its label
        send("/live/layer/p/count", 6)  # an int
        send("/live/layer/p/invert", True)  # a bool
        send("/live/layer/p/tint/r", 1.0)  # colour channels
        send("/live/layer/p/tint/g", 0.25)
        send("/live/layer/p/tint/b", 0.0)
        send("/live/layer/p/centre/x", 0.5)  # a point's axis
        send("/live/layer/p/isf_opacity", 0.5)  # the shader's own "opacity"
        applied()
        frame = frames.after(SETTLE_FRAMES)
        assert near(quarters(frame), [(level(0.75), 255, 255), (level(6 / 8), 128, level(0.75)),
                                      (255, level(0.25), 0), (128, 0, 0)]), quarters(frame)
        # the filter over it: on at full opacity (drawn straight into the stack), then half
        send("/live/layer/inv/opacity", 1.0)
        applied()
        inverted = frames.after(SETTLE_FRAMES)
        assert near(quarters(inverted), 255 - quarters(frame)), quarters(inverted)
        send("/live/layer/inv/opacity", 0.5)
        applied()
        assert near(frames.after(SETTLE_FRAMES), 128)  # half of x and 1 - x is grey
        # the blend mode, by label and by index: difference of x and 1 - x
        send("/live/layer/inv/opacity", 1.0)
        send("/live/layer/inv/blend", "difference")
        applied()
        blended = frames.after(SETTLE_FRAMES)
        assert near(quarters(blended), np.abs(2 * quarters(frame) - 255)), quarters(blended)
        send("/live/layer/inv/blend", 0)
        send("/live/layer/inv/opacity", 0.0)
        applied()
        assert near(quarters(frames.after(SETTLE_FRAMES)), quarters(frame))
        # an event: white for exactly one frame per message
        white = sum(int(f.min() >= 250) for f in frames.shown)
        assert white == 0
        for _ in range(2):
            start = frames.mark()
            send("/live/layer/p/flash")
            applied()
            frames.until(lambda f: f.min() >= 250, start)
            frames.after(5)
        assert sum(int(f.min() >= 250) for f in frames.shown) == 2
        assert isf.compiles == programs["compiles"]
        assert renderers() == programs["renderers"]  # the same programs, each compiled once

    try:
        run_while(engine, actions, timeout=600)
    finally:
        osc.close()
        sock.close()
    assert osc.stats.bad["unknown_address"] == 0 and osc.stats.bad["wrong_type"] == 0
    assert engine.frames.count > 5 * SETTLE_FRAMES


# ----------------------------------------------------------------------------- 4. rendering

SOLID_RED = {"layer1.source": "solid", "layer1.opacity": 1.0, "layer1.blend": "normal",
             "layer1.hue": 0.0}


def test_a_filter_reads_the_stack_or_the_neural_layer_alone(rigs):
    plain = rigs(values=SOLID_RED)
    red = plain.frame()
    assert near(red, (255, 0, 0))
    neural = rigs().frame()  # the flat decoded picture, alone
    assert near(neural, (64, 128, 191), 2)
    on_stack = rigs(layer("inv", "invert"), values=SOLID_RED).frame()
    assert near(on_stack, (0, 255, 255))  # the built-in red layer, inverted
    on_neural = rigs(layer("inv", "invert", input="neural"), values=SOLID_RED).frame()
    assert near(on_neural, 255 - neural[ROW, 0])  # layer1 is not in its input at all


def test_opacity_zero_skips_the_layer_and_a_half_mixes(rigs):
    rig = rigs(layer("inv", "invert"), values={**SOLID_RED, "layer.inv.opacity": 0.0})
    assert near(rig.frame(), (255, 0, 0))
    assert rig.isf.compiles == 1
    drawn = rig.isf._layer_target
    rig.set({"layer.inv.opacity": 0.5})
    assert near(rig.frame(), (128, 128, 128))  # red and its inverse, half each
    assert drawn is None and rig.isf._layer_target is not None  # blended through a target
    rig.set({"layer.inv.opacity": 1.0})
    assert near(rig.frame(), (0, 255, 255))
    assert rig.isf.compiles == 1


@pytest.mark.parametrize("mode", BLEND_MODES)
def test_blend_modes_mix_a_layer_as_the_numpy_reference(rigs, mode):
    colour = np.array([0.5, 0.25, 1.0])
    below = rigs().frame()[ROW, 0] / 255.0
    rig = rigs(layer("w", "wash", colour=[*colour, 1.0], blend=mode))
    reference = {
        "normal": colour,
        "add": np.clip(below + colour, 0, 1),
        "screen": 1 - (1 - below) * (1 - colour),
        "multiply": below * colour,
        "difference": np.abs(below - colour),
    }[mode]
    assert near(rig.frame(), reference * 255), (mode, rig.frame()[ROW, 0], reference * 255)
    rig.set({"layer.w.opacity": 0.5})
    assert near(rig.frame(), (below + reference) / 2 * 255)


def test_a_generator_with_alpha_composes_over_the_stack(rigs):
    rig = rigs(layer("w", "wash"), values=SOLID_RED)  # red at alpha 0.5 over red
    assert near(rig.frame(), (255, 0, 0))
    rig.set({"layer1.hue": -120.0})  # over blue: half of each
    assert near(rig.frame(), (128, 0, 128))
    rig.set({"layer.w.colour.a": 0.0})  # transparent: the stack shows through
    assert near(rig.frame(), (0, 0, 255))
    rig.set({"layer.w.colour.a": 1.0, "layer.w.colour.g": 1.0})
    assert near(rig.frame(), (255, 255, 0))


def test_an_event_input_fires_for_exactly_one_frame(rigs):
    rig = rigs(layer("p", "probe"))
    assert near(quarters(rig.frame()), PROBE_DEFAULTS)
    assert rig.isf.trigger("layer.p.flash")
    assert near(rig.frame(), 255)
    assert near(quarters(rig.frame()), PROBE_DEFAULTS)
    assert near(quarters(rig.frame()), PROBE_DEFAULTS)
    assert not rig.isf.trigger("fx.flash")  # not a layer's: not for the ISF stack
    # fired while the layer is hidden, or for a layer the scene does not have: it does not
    # wait to go off when the layer shows again
    rig.set({"layer.p.opacity": 0.0})
    assert rig.isf.trigger("layer.p.flash") and rig.isf.trigger("layer.gone.flash")
    rig.frame()
    rig.set({"layer.p.opacity": 1.0})
    assert near(quarters(rig.frame()), PROBE_DEFAULTS)
    assert rig.isf.trigger("layer.p.flash")
    assert near(rig.frame(), 255)


def test_inputs_are_read_from_the_controls_each_frame(rigs):
    rig = rigs(layer("p", "probe", amount=0.5, pick="None", tint=[1.0, 1.0, 1.0]))
    first = quarters(rig.frame())
    assert near(first[0], (128, 0, 0)) and near(first[2], (255, 255, 255))
    rig.set({"layer.p.amount": 1.0, "layer.p.pick": "Full", "layer.p.centre.y": 0.0,
             "layer.p.tint.g": 0.0})
    second = quarters(rig.frame())
    assert near(second[0], (255, 255, 0)) and near(second[1], (64, 64, 0))
    assert near(second[2], (255, 0, 255))
    assert rig.isf.compiles == 1


# ----------------------------------------------------------------------------- 5. hot reload

def glow_source(colour: str, extra: str = "", header_default: str = '"DEFAULT": 1.0') -> str:
    """A generator whose colour is written in its body (line 6); ``extra`` is line 7."""
    return ('/*{\n'
            '    "DESCRIPTION": "hot reload test",\n'
            f'    "INPUTS": [{{"NAME": "gain", "TYPE": "float", {header_default}}}]\n'
            '}*/\n'
            'void main() {\n'
            f'    gl_FragColor = vec4({colour}) * gain;\n'
            f'{extra}'
            '}\n')


def rewrite(path: Path, text: str) -> None:
    """Save ``text`` with a modification time a second after the last one's, so the change
    is seen whatever the file system's clock resolution."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    stamp = max(before + 1_000_000_000, path.stat().st_mtime_ns)
    os.utime(path, ns=(stamp, stamp))


RED, GREEN, BLUE = "1.0, 0.0, 0.0, 1.0", "0.0, 1.0, 0.0, 1.0", "0.0, 0.0, 1.0, 1.0"
BROKEN_GLSL = "    no_such_thing += 1.0;\n"  # line 7


def test_an_edited_shader_is_recompiled_and_a_broken_one_keeps_the_old(rigs, tmp_path):
    path = tmp_path / "glow.fs"
    rewrite(path, glow_source(RED))
    library = ShaderLibrary([])
    rig = rigs(layer("g", "glow"), folder=tmp_path, library=library)
    isf = rig.isf
    assert near(rig.frame(), (255, 0, 0)) and isf.compiles == 1
    assert library.changed() == []

    def poll() -> list:
        """The watcher's two polls: the first sees the change, the second reads the file
        (once it held still); what it found goes to the render thread's stack."""
        assert library.changed() == []
        found = library.changed()
        for changed_path, shader, _ in found:
            assert changed_path == path
            if shader is not None:
                isf.updates[changed_path] = shader
        assert library.changed() == []  # reported once
        return found

    rewrite(path, glow_source(GREEN))
    [(_, shader, error)] = poll()
    assert shader is not None and error == ""
    assert near(rig.frame(), (0, 255, 0)) and isf.compiles == 2
    assert rig.compositor.shader_error == ""
    # a body the driver refuses: the green program keeps running, the error says where
    rewrite(path, glow_source(BLUE, BROKEN_GLSL))
    poll()
    assert near(rig.frame(), (0, 255, 0))
    assert rig.compositor.shader_error.startswith(f"{path}:7: "), rig.compositor.shader_error
    assert "no_such_thing" in rig.compositor.shader_error
    assert near(rig.frame(), (0, 255, 0)) and isf.compiles == 2  # not tried every frame
    # a header that does not parse: reported by the watcher, nothing for the stack
    rewrite(path, glow_source(BLUE, header_default='"DEFAULT" 1.0'))
    [(_, shader, error)] = poll()
    assert shader is None and error.startswith(f"{path}:3: "), error
    assert near(rig.frame(), (0, 255, 0))
    # fixed: compiled, drawn, the error gone
    rewrite(path, glow_source(BLUE))
    poll()
    assert near(rig.frame(), (0, 0, 255)) and isf.compiles == 3
    assert rig.compositor.shader_error == "" and isf.errors == {}


def test_the_show_watches_its_shaders_and_reloads_them(tmp_path, folder):
    """The whole path: the control surface's scenes thread polls the library, the render
    thread compiles; a broken save (GLSL or header) keeps the picture and shows file:line."""
    path = folder / "glow.fs"
    rewrite(path, glow_source(RED))
    (folder / "a.toml").write_text('model = "default-gan"\n' + layer("g", "glow"))
    cfg = layer_config(tmp_path, folder)
    engine, surface = quiet_show(cfg, "a", folder)
    engine.decode_every = DECODE_EVERY
    frames = Frames(engine)
    compositor = engine.compositor

    def colour(rgb):
        return lambda frame: near(frame, rgb)

    def actions():
        frames.until(colour((255, 0, 0)), 0)
        compiles = compositor.isf.compiles
        start = frames.mark()
        rewrite(path, glow_source(GREEN))
        frames.until(colour((0, 255, 0)), start)
        assert compositor.isf.compiles == compiles + 1
        rewrite(path, glow_source(BLUE, BROKEN_GLSL))
        assert wait_for(lambda: compositor.shader_error.startswith(f"{path}:7: "))
        assert near(frames.after(3), (0, 255, 0))
        rewrite(path, glow_source(BLUE, header_default='"DEFAULT" 1.0'))
        assert wait_for(lambda: compositor.shader_error.startswith(f"{path}:3: "))
        assert near(frames.after(3), (0, 255, 0))
        start = frames.mark()
        rewrite(path, glow_source(BLUE))
        frames.until(colour((0, 0, 255)), start)
        assert wait_for(lambda: compositor.shader_error == "")
        assert compositor.isf.compiles == compiles + 2

    try:
        run_while(engine, actions, timeout=600)
    finally:
        surface.close()


# ----------------------------------------------------------------------------- 6, 8. engine

def test_transition_shader_runs_for_its_scene_and_maps_move_layer_inputs(tmp_path, folder):
    """Scene a: the probe layer with a [[map]] from audio.level onto two of its inputs. Scene
    b comes in through red_middle (pure red at level 0.8 mid-fade); later fades for mirror
    and kaleidoscope changes are crossfades."""
    (folder / "a.toml").write_text(
        'model = "default-gan"\n' + layer("p", "probe")
        + '[[map]]\nsource = "audio.level"\ntarget = "layer.p.amount"\namount = 0.5\n'
        + '[[map]]\nsource = "audio.level"\ntarget = "layer.p.tint.r"\namount = 0.5\n')
    (folder / "b.toml").write_text(
        'model = "default-gan"\ntransition = 1.0\nquantize = false\n'
        'transition_shader = "red_middle"\ntransition_inputs = { level = 0.8 }\n'
        '[layer1]\nsource = "solid"\nopacity = 1.0\nblend = "normal"\nhue = 120.0\n')
    engine = headless_engine(tmp_path, folder)
    frames = Frames(engine)
    isf = engine.compositor.isf
    red = (level(0.8), 0, 0)
    compiles = []

    def is_red(frame) -> bool:
        return near(frame, red)

    def actions():
        assert near(quarters(frames.after(3)), PROBE_DEFAULTS)
        compiles.append(isf.compiles)  # probe and red_middle, at warm-up
        engine.sources.set("audio.level", 1.0)
        moved = quarters(frames.after(5))
        assert near(moved[0], (level(0.75), 128, 0)), moved  # amount 0.25 + 0.5
        assert near(moved[2], (128, 128, 255)), moved  # tint.r 0 + 0.5
        engine.sources.set("audio.level", 0.0)
        assert near(quarters(frames.after(3)), PROBE_DEFAULTS)
        # the switch: b comes in through its transition shader
        scene = load_scene("b", folder, engine.registry)
        start = len(frames.shown)
        engine.request_scene(scene, scene_values(scene, engine.registry), None,
                             scene.transition_s(120.0), quantize=False)
        frames.until(lambda f: near(f, (0, 255, 0)), start)
        fade = frames.shown[start:]
        reds = [i for i, f in enumerate(fade) if is_red(f.astype(int))]
        # progress 0.2 to 0.8 of one second at 60 frames a second: about 36 frames, together
        assert 30 <= len(reds) <= 40 and reds == list(range(reds[0], reds[0] + len(reds)))
        assert not is_red(fade[0].astype(int))  # the probe picture first (at most a frame in)
        assert near(quarters(fade[0]), PROBE_DEFAULTS, 8)
        assert isf.transition is scene.transition_spec
        # mirror and kaleidoscope changes fade without the transition shader
        for name, value in (("fx.mirror", 1), ("fx.kaleido", 6)):
            start = len(frames.shown)
            engine.bus.set(name, value)
            frames.after(int(0.4 * 60) + 10)
            assert not [f for f in frames.shown[start:] if is_red(f.astype(int))]
            assert isf.transition is None
        assert near(frames.after(3), (0, 255, 0))

    run_while(engine, actions, timeout=600)
    assert engine.scene.name == "b" and engine.switches == 1
    assert isf.compiles == compiles[0] == 2  # nothing compiled on the switch


# ----------------------------------------------------------------------------- 7. audio

def analysed_sine(hz: float, samplerate: int = 48000, amplitude: float = 0.05,
                  window_s: float | None = None):
    """The live analysis of a sine: (the block, the newest window, its power spectrum)."""
    from live.control.audio_analysis import Analyzer, AnalyzerConfig

    cfg = AnalyzerConfig() if window_s is None else AnalyzerConfig(window_s=window_s)
    analyzer = Analyzer(samplerate, 256, cfg)
    t = np.arange(samplerate // 10) / samplerate
    block = (amplitude * np.sin(2 * math.pi * hz * t)).astype(np.float32)
    analyzer.process(block)
    samples, power = analyzer.latest_frame()
    return block, samples.copy(), power.copy()


def peak_hz(scope: AudioScope, samplerate: int) -> float:
    """The frequency of the spectrum's strongest bin on the scope's log axis."""
    from live.control.scope import LOW_HZ

    bins = len(scope.spectrum)
    k = int(np.argmax(scope.spectrum))
    return LOW_HZ * (samplerate / 2 / LOW_HZ) ** (k / (bins - 1))


def test_an_audio_scope_holds_the_waveform_and_a_log_spectrum():
    scope = AudioScope()
    assert scope.updates == 0 and not scope.waveform.any() and not scope.spectrum.any()
    block, samples, power = analysed_sine(1000.0)
    scope.update(samples, power, 48000)
    assert scope.updates == 1
    assert np.allclose(scope.waveform, block[-512:], atol=1e-6)  # the newest samples
    assert -1.0 <= scope.waveform.min() < -0.04 and 0.04 < scope.waveform.max() <= 1.0
    assert abs(math.log(peak_hz(scope, 48000) / 1000.0)) < math.log(1.06)
    assert scope.spectrum.max() > 0.5 and np.median(scope.spectrum) < 0.2
    assert 0.0 <= scope.spectrum.min() and scope.spectrum.max() <= 1.0
    # a louder-than-full-scale signal is held to -1..1
    scope.update(np.full(2048, 3.0, np.float32), power, 48000)
    assert scope.waveform.max() == 1.0


@pytest.mark.parametrize("samplerate, window_s", [(44100, None), (48000, 0.042)])
def test_the_log_axis_follows_a_new_samplerate_or_window(samplerate, window_s):
    """One scope lives for the whole show; a stream reopened at another rate (or analysed
    with another window) must not keep the bin table of the first one."""
    scope = AudioScope()
    scope.update(*analysed_sine(1000.0)[1:], 48000)
    _, samples, power = analysed_sine(1000.0, samplerate, window_s=window_s)
    scope.update(samples, power, samplerate)
    fresh = AudioScope()
    fresh.update(samples, power, samplerate)
    assert np.array_equal(scope.spectrum, fresh.spectrum)
    assert abs(math.log(peak_hz(scope, samplerate) / 1000.0)) < math.log(1.06)


def test_a_layer_with_audio_inputs_draws_the_scopes_data(rigs):
    rig = rigs(layer("bars", "scope_bars"))
    silent = rig.frame()[ROW]
    assert near(silent[:, 0], 0) and near(silent[:, 1], 128)  # no scope: silence
    scope = AudioScope()
    rig.isf.audio = scope
    for hz, peak_column in ((1000.0, None), (250.0, None)):
        _, samples, power = analysed_sine(hz)
        scope.update(samples, power, 48000)
        row = rig.frame()[ROW]
        columns = SIZE[0]
        spectrum = np.interp(np.linspace(0, len(scope.spectrum) - 1, columns),
                             np.arange(len(scope.spectrum)), scope.spectrum)
        wave = np.interp(np.linspace(0, len(scope.waveform) - 1, columns),
                         np.arange(len(scope.waveform)), scope.waveform)
        assert near(row[:, 0], spectrum * 255), (row[:, 0], spectrum * 255)
        assert near(row[:, 1], (wave * 0.5 + 0.5) * 255), (row[:, 1], wave)
        assert row[:, 0].max() > 128  # the sine's peak is drawn
        peak_column = int(np.argmax(row[:, 0]))
        expected = math.log(hz / 30.0) / math.log(24000 / 30.0) * (columns - 1)
        assert abs(peak_column - expected) <= 2, (hz, peak_column, expected)
    assert rig.isf.compiles == 1


def test_a_filter_is_opaque_whether_drawn_into_the_stack_or_blended(rigs):
    # drawn straight into the stack at full opacity, a filter's alpha cannot apply; blended
    # (opacity under 1) it is ignored too, so 0.999 and 1.0 give the same picture
    full = rigs(layer("h", "half_alpha_invert"), values=SOLID_RED).frame()
    almost = rigs(layer("h", "half_alpha_invert", opacity=0.999), values=SOLID_RED).frame()
    assert near(full, (0, 255, 255)) and near(almost, (0, 255, 255))


def test_a_scene_parsed_before_a_shader_edit_does_not_bring_the_old_program_back(
        rigs, tmp_path, monkeypatch):
    import live.layers

    path = tmp_path / "glow.fs"
    rewrite(path, glow_source(RED))
    library = ShaderLibrary([])
    monkeypatch.setattr(live.layers, "_LIBRARY", library)  # the show's library
    text = layer("g", "glow")
    rig = rigs(text, folder=tmp_path, library=library)
    stale = parse_layers(tomllib.loads(text)["layer"], text, tmp_path / "b.toml", library)
    assert near(rig.frame(), (255, 0, 0))
    rewrite(path, glow_source(GREEN))
    assert library.changed() == []
    [(_, shader, _)] = library.changed()
    rig.isf.updates[path] = shader
    assert near(rig.frame(), (0, 255, 0)) and rig.isf.compiles == 2
    rig.isf.layers = stale  # a scene read before the edit comes in (e.g. after a bar's wait)
    assert near(rig.frame(), (0, 255, 0)) and rig.isf.compiles == 2
    fresh = parse_layers(tomllib.loads(text)["layer"], text, tmp_path / "c.toml", library)
    rig.isf.layers = fresh  # one read after it is the same program
    assert near(rig.frame(), (0, 255, 0)) and rig.isf.compiles == 2


def test_a_vertex_shader_edited_alone_is_a_change(tmp_path):
    path = tmp_path / "glow.fs"
    rewrite(path, glow_source(RED))
    library = ShaderLibrary([])
    library.load(path)
    vertex = tmp_path / "glow.vs"
    rewrite(vertex, "void main() { isf_vertShaderInit(); }\n")
    assert library.changed() == []  # seen moving
    [(changed, shader, error)] = library.changed()
    assert changed == path and error == "" and shader.vertex is not None
    rewrite(vertex, "void main() { isf_vertShaderInit(); gl_Position.x += 0.0; }\n")
    library.changed()
    [(_, shader, _)] = library.changed()
    assert "gl_Position.x" in shader.vertex


def test_a_blend_given_by_index_draws_like_its_name_with_or_without_faders(rigs):
    colour = [0.5, 0.25, 1.0, 1.0]
    by_name = rigs(layer("w", "wash", colour=colour, blend="add")).frame()
    by_index = rigs(layer("w", "wash", colour=colour, blend=1))  # add, as an index
    assert near(by_index.frame(), by_name[ROW, 0])
    # a layer the show has no faders for (added while it runs) uses the scene's values
    by_index.controls = Controls(Registry())
    by_index.bus = Bus(by_index.controls.registry)
    by_index.isf._entries.clear()  # bound afresh against the registry without the layer
    assert near(by_index.frame(), by_name[ROW, 0])


def test_the_configured_library_is_kept_while_its_folders_stay_the_same(tmp_path,
                                                                        monkeypatch):
    import live.layers
    from live import config

    monkeypatch.setattr(live.layers, "_LIBRARY", None)  # the show's library, restored after
    cfg = config.load(None, [f"paths.shaders={HERE}"])
    first = live.layers.use_library(cfg)
    first.load(HERE / "invert.fs")
    assert live.layers.use_library(cfg) is first  # what it parsed is not parsed again
    other = config.load(None, [f"paths.shaders={tmp_path}"])
    assert live.layers.use_library(other) is not first

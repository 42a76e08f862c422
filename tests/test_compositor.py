"""The shader compositor on a real OpenGL context (EGL; Mesa llvmpipe without a GPU):
each pass against a numpy reference on small framebuffers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from live.params import MIRROR_MODES, Registry
from live.render.compositor import Compositor, colour_transform, source_scale
from live.render.passes import Pass, ShaderError, located_errors

glcontext = pytest.importorskip("live.render.glcontext")




class Controls(dict):
    """Registry defaults with overrides, as the engine's settled controls."""

    def __init__(self, **values):
        super().__init__({p.name: _number(p) for p in Registry() if p.kind != "trigger"})
        for name, value in values.items():
            self[name.replace("__", ".")] = value


def _number(param):
    if param.kind == "enum":
        return float(param.choices.index(param.default))
    return float(param.default)


def render(ctx, frame, size=(64, 36), fit="fill", dt=1 / 60, frames=1, **controls):
    comp = Compositor(ctx, size, fit=fit)
    comp.upload(frame.astype(np.float32))
    values = Controls(**controls)
    for _ in range(frames):
        comp.render(values, dt)
    out = comp.read_output().astype(np.float64)
    comp.release()
    return out


def test_a_flat_picture_comes_out_flat_and_in_0_255(ctx):
    frame = np.full((16, 16, 3), 0.0, np.float32)  # decoded 0 = mid grey
    out = render(ctx, frame)
    assert out.shape == (36, 64, 3)
    assert np.abs(out - 127.5).max() <= 1.0


def test_upscale_is_sharper_than_bilinear_and_exact_on_a_linear_ramp(ctx):
    # a linear ramp is reproduced exactly by Catmull-Rom (and by bilinear): the filter is
    # interpolating, unbiased, and has no edge artefact
    ramp = np.linspace(-1, 1, 16, dtype=np.float32)
    frame = np.repeat(np.repeat(ramp[None, :, None], 16, 0), 3, 2)
    out = render(ctx, frame, size=(64, 64))
    row = out[32, :, 0]
    source = (np.arange(64) + 0.5) / 64 * 2 - 1  # -1..1 across the square
    uv = source * (0.5 - 2 / 16) + 0.5  # two texels in from each edge (neural.frag)
    centres = uv * 16 - 0.5  # texel coordinates of output pixels
    expected = (np.interp(centres, np.arange(16), ramp) * 0.5 + 0.5) * 255
    inner = slice(4, 60)  # the clamped border texels are flat by design
    assert np.abs(row[inner] - expected[inner]).max() <= 1.5
    # a step: Catmull-Rom overshoots a little on each side (bilinear never does): sharper
    step = np.where(np.arange(16) < 8, -0.6, 0.6).astype(np.float32)
    frame = np.repeat(np.repeat(step[None, :, None], 16, 0), 3, 2)
    row = render(ctx, frame, size=(64, 64))[32, :, 0]
    low, high = (-0.6 * 0.5 + 0.5) * 255, (0.6 * 0.5 + 0.5) * 255
    assert row.min() < low - 3 and row.max() > high + 3


def test_first_and_last_columns_match_their_neighbours(ctx):
    rng = np.random.default_rng(0)
    frame = rng.uniform(-1, 1, (32, 32, 3)).astype(np.float32)
    smooth = frame.copy()
    for _ in range(4):  # a smooth picture, like a decode
        smooth = (smooth + np.roll(smooth, 1, 0) + np.roll(smooth, 1, 1)) / 3
    out = render(ctx, smooth, size=(160, 90))
    luma = out.mean(axis=2)
    for edge, neighbour in ((0, 1), (-1, -2)):
        step = np.abs(luma[:, edge] - luma[:, neighbour]).mean()
        inner = np.abs(np.diff(luma[:, 40:120], axis=1)).mean()
        assert step <= 2 * inner + 0.5, (edge, step, inner)


def test_fill_crops_and_fit_shows_black_beside(ctx):
    frame = np.full((16, 16, 3), 1.0, np.float32)  # white
    fill = render(ctx, frame, size=(64, 32), fit="fill")
    fit = render(ctx, frame, size=(64, 32), fit="fit")
    assert fill.min() >= 254
    assert fit[:, :12].max() <= 1 and fit[:, 20:44].min() >= 254 and fit[:, -12:].max() <= 1
    assert source_scale((64, 32), "fill") == 0.5 and source_scale((64, 32), "fit") == 1.0


def quadrants() -> np.ndarray:
    frame = np.full((16, 16, 3), -1.0, np.float32)
    frame[:8, :8] = (1, -1, -1)  # red top left
    frame[:8, 8:] = (-1, 1, -1)  # green top right
    frame[8:, :8] = (-1, -1, 1)  # blue bottom left
    frame[8:, 8:] = (1, 1, 1)    # white bottom right
    return frame


def test_rotation_turns_the_picture_clockwise_on_screen(ctx):
    out = render(ctx, quadrants(), size=(64, 64), fx__rotate=90.0)
    # +90 degrees: the top-left (red) quadrant moves to the top right
    assert out[8, 56, 0] > 200 and out[8, 56, 1] < 60 and out[8, 56, 2] < 60


def test_zoom_enlarges_about_the_centre(ctx):
    out = render(ctx, quadrants(), size=(64, 64), fx__zoom=2.0)
    # zoomed 2x the four quadrants still meet at the centre and fill the frame
    assert out[2, 2, 0] > 200 and out[61, 61].min() > 200


@pytest.mark.parametrize("mode", ["horizontal", "vertical", "quad"])
def test_mirror_is_symmetric_with_a_crisp_seam(ctx, mode):
    rng = np.random.default_rng(1)
    frame = rng.uniform(-1, 1, (16, 16, 3)).astype(np.float32)
    out = render(ctx, frame, size=(64, 64), fx__mirror=float(MIRROR_MODES.index(mode)))
    if mode in ("horizontal", "quad"):
        assert np.abs(out - out[:, ::-1]).max() <= 1
    if mode in ("vertical", "quad"):
        assert np.abs(out - out[::-1, :]).max() <= 1


def test_kaleidoscope_repeats_every_wedge(ctx):
    rng = np.random.default_rng(2)
    frame = rng.uniform(-1, 1, (16, 16, 3)).astype(np.float32)
    out = render(ctx, frame, size=(65, 65), fx__kaleido=4.0)
    # four mirrored wedges: symmetric under a 90-degree turn about the centre
    assert np.abs(out - np.rot90(out)).mean() <= 2.0


def test_colour_stage_matches_the_numpy_reference(ctx):
    rng = np.random.default_rng(3)
    colour = rng.uniform(-1, 1, 3).astype(np.float32)
    frame = np.broadcast_to(colour, (8, 8, 3)).copy()
    values = dict(fx__hue=40.0, fx__saturation=1.6, fx__contrast=1.3, fx__brightness=0.9,
                  fx__master=0.8)
    out = render(ctx, frame, size=(16, 16), **values)
    matrix, offset = colour_transform(40.0, 1.6, 1.3, 0.9, 0.0)
    m = np.array(matrix).reshape(3, 3).T  # GLSL mat3 is column-major
    # the colour stage on the neural layer, the master fader over everything after it
    expected = np.clip(m @ (colour * 0.5 + 0.5) + np.array(offset), 0, 1) * 0.8 * 255
    assert np.abs(out[8, 8] - expected).max() <= 1.5


def test_master_at_zero_is_black_and_a_flash_is_white_then_fades(ctx):
    frame = np.zeros((8, 8, 3), np.float32)
    assert render(ctx, frame, size=(16, 16), fx__master=0.0).max() <= 0.5
    comp = Compositor(ctx, (16, 16))
    comp.upload(frame)
    comp.flash(1.0)
    comp.render(Controls(), 0.0)
    assert comp.read_output().min() >= 254
    for _ in range(30):
        comp.render(Controls(fx__flash_decay=0.1), 1 / 60)
    assert abs(float(comp.read_output().mean()) - 127.5) <= 2
    comp.release()


def test_trails_mix_the_last_frame_in(ctx):
    comp = Compositor(ctx, (16, 16))
    white, black = np.ones((8, 8, 3), np.float32), -np.ones((8, 8, 3), np.float32)
    controls = Controls(fx__feedback=0.5, fx__feedback_zoom=1.0)
    comp.upload(white)
    comp.render(controls, 1 / 60)
    comp.upload(black)
    comp.render(controls, 1 / 60)
    assert abs(float(comp.read_output().mean()) - 127.5) <= 2  # half of the white stayed
    comp.render(controls, 1 / 60)
    assert abs(float(comp.read_output().mean()) - 63.75) <= 2
    comp.release()


def test_a_crossfade_goes_from_the_held_frame_to_the_new_one(ctx):
    comp = Compositor(ctx, (16, 16))
    comp.upload(np.ones((8, 8, 3), np.float32))
    comp.render(Controls(), 1 / 60)
    comp.start_fade(1.0)
    comp.upload(-np.ones((8, 8, 3), np.float32))
    comp.render(Controls(), 0.5)
    assert abs(float(comp.read_output().mean()) - 127.5) <= 2
    comp.render(Controls(), 0.6)
    assert comp.read_output().max() <= 0.5
    comp.release()


@pytest.mark.parametrize("mode, expect", [
    ("normal", lambda b, top: top), ("add", lambda b, top: np.minimum(b + top, 1)),
    ("screen", lambda b, top: 1 - (1 - b) * (1 - top)), ("multiply", lambda b, top: b * top),
    ("difference", lambda b, top: np.abs(b - top)),
])
def test_blend_modes_match_the_numpy_reference(ctx, mode, expect):
    from live.params import BLEND_MODES, LAYER_SOURCES

    below = np.array([0.2, 0.5, 0.9])
    layer = np.array([1.0, 0.5, 0.0])  # the solid source at hue 30: orange
    frame = np.broadcast_to((below * 2 - 1).astype(np.float32), (8, 8, 3)).copy()
    out = render(ctx, frame, size=(16, 16), layer1__source=float(LAYER_SOURCES.index("solid")),
                 layer1__blend=float(BLEND_MODES.index(mode)), layer1__opacity=0.75,
                 layer1__hue=30.0)
    expected = below + 0.75 * (np.clip(expect(below, layer), 0, 1) - below)
    assert np.abs(out[8, 8] / 255 - expected).max() <= 2.5 / 255


@pytest.mark.parametrize("source", ["gradient", "rings", "stripes", "noise"])
def test_every_generator_draws_a_pattern_that_moves(ctx, source):
    from live.params import LAYER_SOURCES

    comp = Compositor(ctx, (64, 36))
    comp.upload(-np.ones((8, 8, 3), np.float32))  # black below: the layer alone shows
    controls = Controls(layer1__source=float(LAYER_SOURCES.index(source)), layer1__opacity=1.0,
                        layer1__blend=0.0)
    comp.render(controls, 0.5)
    first = comp.read_output().astype(float)
    comp.render(controls, 0.5)
    second = comp.read_output().astype(float)
    comp.release()
    assert first.std() > 10  # a pattern, not a flat colour
    assert np.abs(first - second).mean() > 1  # it moves with the layer's clock


def test_layers_off_leave_the_neural_picture_alone(ctx):
    rng = np.random.default_rng(5)
    frame = rng.uniform(-1, 1, (16, 16, 3)).astype(np.float32)
    plain = render(ctx, frame, size=(32, 32))
    with_zero_opacity = render(ctx, frame, size=(32, 32), layer1__source=2.0,
                               layer1__opacity=0.0)
    assert np.abs(plain - with_zero_opacity).max() == 0


def test_a_broken_shader_names_its_file_and_line(ctx, tmp_path):
    (tmp_path / "broken.frag").write_text("#version 330 core\nout vec4 c;\nvoid main() {\n"
                                          "    c = vec4(nothing);\n}\n")
    from live.render.passes import SHADER_DIR

    (tmp_path / "fullscreen.vert").write_text((SHADER_DIR / "fullscreen.vert").read_text())
    with pytest.raises(ShaderError) as err:
        Pass(ctx, "broken.frag", folder=tmp_path)
    assert f"{tmp_path / 'broken.frag'}:4:" in str(err.value)
    assert "nothing" in str(err.value)


def test_driver_logs_are_mapped_to_file_and_line():
    mesa = "GLSL Compiler failed\n\nfragment_shader\n=====\n0:7(3): error: `x' undeclared\n"
    nvidia = "fragment_shader\n0(12) : error C1008: undefined variable \"x\"\n"
    files = {"fragment_shader": "a.frag", "vertex_shader": "a.vert"}
    assert located_errors(mesa, files) == "a.frag:7: error: `x' undeclared"
    assert located_errors(nvidia, files).startswith("a.frag:12: error C1008")


def test_the_colour_transform_is_identity_at_defaults():
    matrix, offset = colour_transform(0.0, 1.0, 1.0, 1.0, 0.0)
    assert np.allclose(np.array(matrix).reshape(3, 3), np.eye(3))
    assert np.allclose(offset, 0.0)
    assert math.isclose(colour_transform(0, 1, 1, 1, 1.0)[1][0], 1.0)


def test_readback_returns_the_frame_before_the_newest_without_waiting(ctx):
    from live.render.readback import Readback

    comp = Compositor(ctx, (16, 8))
    readback = Readback(ctx, (16, 8))
    seen = []
    for value in (1.0, -1.0, 0.0):
        comp.upload(np.full((4, 4, 3), value, np.float32))
        comp.render(Controls(), 1 / 60)
        readback.request(comp.output.framebuffer)
        frame = readback.collect()
        seen.append(None if frame is None else float(frame.mean()))
    assert seen[0] is None and seen[1] >= 254 and seen[2] <= 1  # one frame late
    now = readback.latest(comp.output.framebuffer)
    assert abs(float(now.mean()) - 127.5) <= 1 and now.shape == (8, 16, 3)
    readback.release()
    comp.release()


def test_render_scale_steps_down_to_the_floor_and_back_up():
    from live.render.scale import WINDOW_FRAMES, RenderScale

    scale = RenderScale("auto", floor=0.5, budget_ms=1000 / 60)
    for _ in range(20 * WINDOW_FRAMES):
        scale.update(40.0)  # far over budget
    assert scale.scale == 0.5  # never below the floor
    for _ in range(20 * WINDOW_FRAMES):
        scale.update(1.0)  # ample room
    assert scale.scale == 1.0
    fixed = RenderScale(0.75)
    assert fixed.update(100.0) == 0.75 and not fixed.auto


def test_render_scale_does_not_hunt_between_two_steps():
    from live.render.scale import WINDOW_FRAMES, RenderScale

    scale = RenderScale("auto", floor=0.3, budget_ms=10.0)
    cost_at_full = 9.0  # ms at scale 1: a little over the 6 ms share

    history = []
    for _ in range(60 * WINDOW_FRAMES):
        history.append(scale.update(cost_at_full * scale.scale ** 2))
    settled = history[-20 * WINDOW_FRAMES:]
    assert len(set(settled)) == 1 and settled[0] < 1.0


def test_gpu_timer_measures_the_passes(ctx):
    from live.render.scale import GpuTimer

    comp = Compositor(ctx, (64, 36))
    comp.upload(np.zeros((8, 8, 3), np.float32))
    timer = GpuTimer(ctx)
    measured = []
    for _ in range(6):
        timer.begin()
        comp.render(Controls(), 1 / 60)
        measured.append(timer.end())
    assert measured[-1] is not None and measured[-1] > 0.0
    comp.release()


def test_sprites_are_drawn_tinted_and_faded(ctx):
    import pygame

    from live.render.sprites import SpriteFactory

    comp = Compositor(ctx, (32, 32))
    comp.upload(-np.ones((4, 4, 3), np.float32))  # black picture
    surface = pygame.Surface((8, 8), pygame.SRCALPHA)
    surface.fill((255, 255, 255, 255))
    sprite = SpriteFactory(ctx).from_surface(surface)
    sprite.color = pygame.Color(255, 0, 0)
    sprite.alpha = 128
    comp.render(Controls(), 1 / 60, overlays=[(sprite, pygame.Rect(4, 2, 8, 8))])
    out = comp.read_output().astype(int)
    assert abs(out[5, 7, 0] - 128) <= 2 and out[5, 7, 1] <= 1  # red at half opacity
    assert out[1, 7].max() <= 1 and out[5, 3].max() <= 1 and out[11, 7].max() <= 1  # placed
    comp.release()


def test_defines_keep_the_shaders_line_numbers_in_errors(ctx, tmp_path):
    from live.render.passes import SHADER_DIR

    (tmp_path / "fullscreen.vert").write_text((SHADER_DIR / "fullscreen.vert").read_text())
    (tmp_path / "v.frag").write_text("#version 330 core\nout vec4 c;\nvoid main() {\n"
                                     "#if BROKEN\n    c = vec4(nothing);\n#else\n"
                                     "    c = vec4(1.0);\n#endif\n}\n")
    Pass(ctx, "v.frag", folder=tmp_path, defines={"BROKEN": 0}).release()
    with pytest.raises(ShaderError) as err:
        Pass(ctx, "v.frag", folder=tmp_path, defines={"BROKEN": 1, "OTHER": 2})
    assert f"{tmp_path / 'v.frag'}:5:" in str(err.value)


def test_every_switch_combination_compiles(ctx):
    comp = Compositor(ctx, (32, 18))
    comp.precompile()
    # neural (mirror x kaleido x trails), output (fade), ISF layer blends (5 modes)
    assert len(comp._variants) == 4 * 2 * 2 + 2 + 5
    comp.release()


def test_a_broken_shader_keeps_the_previous_chain_and_says_where(ctx, tmp_path):
    import shutil

    from live.params import LAYER_SOURCES
    from live.render.passes import SHADER_DIR

    folder = tmp_path / "glsl"
    shutil.copytree(SHADER_DIR, folder)
    frame = np.zeros((8, 8, 3), np.float32)
    comp = Compositor(ctx, (16, 16), shader_dir=folder)
    comp.upload(frame)
    rings = Controls(layer1__source=float(LAYER_SOURCES.index("rings")), layer1__opacity=1.0)
    comp.render(rings, 1 / 60)  # the rings variant compiles and draws
    before = comp.read_output().copy()
    # a saved edit breaks the layer shader, and the next variant asked for is that file's
    text = (folder / "layer.frag").read_text()
    (folder / "layer.frag").write_text(text.replace("return hue_colour(hue);",
                                                    "return hue_colour(hue) +;"))
    solid = Controls(layer1__source=float(LAYER_SOURCES.index("solid")), layer1__opacity=1.0)
    comp.render(solid, 0.0)  # does not raise: the last layer variant that compiled draws
    assert f"{folder / 'layer.frag'}:" in comp.shader_error
    assert np.abs(comp.read_output().astype(int) - before.astype(int)).max() <= 2
    # a broken neural pass: a mirror variant not compiled yet falls back to the plain one
    (folder / "neural.frag").write_text("#version 330 core\nvoid main() { nothing; }\n")
    comp.render(Controls(fx__mirror=3.0), 1 / 60)
    assert "neural.frag:2:" in comp.shader_error
    comp.release()


def test_a_read_back_the_driver_cannot_map_is_a_lost_frame_not_a_crash(ctx, monkeypatch):
    import moderngl

    from live.render.readback import Readback

    comp = Compositor(ctx, (16, 8))
    comp.upload(np.zeros((4, 4, 3), np.float32))
    readback = Readback(ctx, (16, 8))
    comp.render(Controls(), 1 / 60)
    readback.request(comp.output.framebuffer)

    class Unmappable:
        def read_into(self, *_args, **_kwargs):
            raise moderngl.Error("cannot map the buffer")

        def release(self):
            pass

    real = readback._buffers[0]
    readback._buffers[0] = Unmappable()
    assert readback.drain() is None and readback.failures == 1
    readback._buffers[0] = real
    # from then on frames are read synchronously, and still arrive
    comp.upload(np.ones((4, 4, 3), np.float32))
    comp.render(Controls(), 1 / 60)
    readback.request(comp.output.framebuffer)
    frame = readback.collect()
    assert readback.direct and frame is not None and frame.min() >= 254
    assert readback.drain() is None  # already delivered
    readback.release()
    comp.release()


def test_a_crossfade_from_a_show_time_is_where_it_would_be_on_every_node(ctx):
    """Two nodes start the same stamped crossfade (from show time 0.4) at different frames,
    one having loaded the scene late: at the same show time both are equally far in."""
    means = []
    for start_at in (0.45, 0.9):
        comp = Compositor(ctx, (16, 16))
        comp.upload(np.ones((8, 8, 3), np.float32))
        comp.render(Controls(), start_at)  # the show time reaches start_at
        comp.start_fade(1.0, at_s=0.4)
        comp.upload(-np.ones((8, 8, 3), np.float32))
        comp.render(Controls(), 1.0 - start_at)  # both at show time 1.0
        means.append(float(comp.read_output().mean()))
        comp.release()
    assert means[0] == pytest.approx(means[1], abs=0.5)
    assert means[0] == pytest.approx(0.4 * 255, abs=2)  # 0.6 of the way to black

"""Tiles of a wall (live/render/tile.py, ``[output] canvas / tile / blend``): tiles rendered
on their own by the real compositor (OpenGL through EGL; Mesa's llvmpipe without a GPU)
stitch into the picture one render of the whole canvas gives, with the geometry, layers and
ISF shaders on; the feedback trail's seam is measured with and without the guard band; the
edge-blend ramps follow the gamma and two overlapping blended tiles add up, in light, to the
picture unblended. The figures each test measures are printed (``pytest -s`` shows them)."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from live.layers import ShaderLibrary, layer_params, parse_layers
from live.params import REGISTRY, Bus, Controls, Registry
from live.render.compositor import Compositor
from live.render.tile import Tile, blend_weight
from tests.conftest import REPO

glcontext = pytest.importorskip("live.render.glcontext")

CANVAS = (96, 48)
LEFT, RIGHT = (0, 0, 48, 48), (48, 0, 48, 48)
DT = 1 / 60


def decoded_frame() -> np.ndarray:
    """A smooth, busy decoded picture (as a generator gives), floats in -1..1."""
    y, x = np.mgrid[0:32, 0:32] / 32.0
    rgb = np.stack([np.sin(6 * x + 2 * y), np.cos(5 * y - 3 * x), np.sin(4 * (x + y))], axis=2)
    return (0.8 * rgb).astype(np.float32)


class Rig:
    """A compositor for one output (the whole canvas, or a tile of it) with real Controls
    and the ``[[layer]]`` tables of ``layers`` (shaders from the repo's library)."""

    def __init__(self, ctx, size, tile: Tile | None = None, layers: str = "", **values):
        self.specs = ()
        if layers:
            library = ShaderLibrary([REPO / "shaders"])
            self.specs = parse_layers(tomllib.loads(layers)["layer"], layers,
                                      REPO / "rig.toml", library)
        params = [p for spec in self.specs for p in layer_params(spec.name, spec.shader)]
        self.registry = Registry([*REGISTRY, *params])
        self.bus = Bus(self.registry)
        self.controls = Controls(self.registry)
        for spec in self.specs:
            for name, value in spec.values.items():
                self.bus.set(name, value)
        for name, value in values.items():
            self.bus.set(name.replace("__", "."), value)
        self.bus.drain(self.controls)
        self.controls.jump()
        self.compositor = Compositor(ctx, size, tile=tile)
        self.compositor.isf.layers = self.specs
        self.compositor.upload(decoded_frame())

    def frames(self, count: int = 1, overlays=()) -> np.ndarray:
        for _ in range(count):
            self.compositor.render(self.controls, DT, overlays)
        return self.compositor.read_output().astype(np.float64)

    def close(self) -> None:
        self.compositor.release()


def whole_and_tiles(ctx, rects, frames=1, margin=32, layers="", **values):
    """The whole canvas rendered once, and each tile of ``rects`` rendered on its own."""
    whole = Rig(ctx, CANVAS, layers=layers, **values)
    reference = whole.frames(frames)
    whole.close()
    parts = []
    for rect in rects:
        rig = Rig(ctx, rect[2:], Tile(CANVAS, rect, margin=margin), layers=layers, **values)
        parts.append(rig.frames(frames))
        rig.close()
    return reference, parts


def seam_errors(reference, left, right, band=4):
    """Mean abs difference (levels of 255) of the two halves stitched against the whole:
    over the picture, and over the ``band`` columns each side of the seam."""
    stitched = np.concatenate([left, right], axis=1)
    diff = np.abs(stitched - reference)
    middle = reference.shape[1] // 2
    return float(diff.mean()), float(diff[:, middle - band:middle + band].mean()), \
        float(diff.max())


GEOMETRY = dict(fx__rotate=23.0, fx__zoom=1.4, fx__mirror=1, fx__kaleido=6)


@pytest.mark.parametrize("values", [
    pytest.param({}, id="plain"),
    pytest.param(GEOMETRY, id="rotate-zoom-mirror-kaleido"),
    pytest.param(dict(GEOMETRY, layer1__source=3, layer1__opacity=0.6, layer1__blend=1,
                      layer2__source=5, layer2__opacity=0.5), id="geometry-and-layers"),
])
def test_two_halves_stitch_into_the_whole_canvas(ctx, values):
    reference, (left, right) = whole_and_tiles(ctx, [LEFT, RIGHT], **values)
    overall, seam, worst = seam_errors(reference, left, right)
    print(f"\nhalves {values}: mean {overall:.3f}, at the seam {seam:.3f}, max {worst:.0f}")
    assert overall < 0.05 and seam < 0.1 and worst <= 2


def test_overlapping_tiles_are_crops_of_the_whole_canvas(ctx):
    # a 2x1 wall whose projectors overlap by 16 canvas pixels (each 56 wide)
    rects = [(0, 0, 56, 48), (40, 0, 56, 48)]
    reference, parts = whole_and_tiles(ctx, rects, **GEOMETRY)
    for rect, part in zip(rects, parts, strict=True):
        x, y, w, h = rect
        diff = np.abs(part - reference[y:y + h, x:x + w])
        print(f"\noverlapping tile {rect}: mean {diff.mean():.3f}, max {diff.max():.0f}")
        assert diff.mean() < 0.05 and diff.max() <= 2


def test_a_tile_of_a_window_another_size_scales_its_rectangle(ctx):
    # the right half shown on an output twice its canvas size: the whole canvas at twice the
    # size, cropped, is the same picture
    whole = Rig(ctx, (CANVAS[0] * 2, CANVAS[1] * 2), **GEOMETRY)
    reference = whole.frames()[:, CANVAS[0]:]
    whole.close()
    rig = Rig(ctx, (96, 96), Tile(CANVAS, RIGHT), **GEOMETRY)
    part = rig.frames()
    rig.close()
    diff = np.abs(part - reference)
    assert diff.mean() < 0.05 and diff.max() <= 2


ISF_LAYERS = """
[[layer]]
name = "waves"
shader = "interference"
opacity = 0.5
blend = "screen"

[[layer]]
name = "edges"
shader = "edge_glow"
"""


def test_isf_generator_and_filter_layers_continue_across_the_seam(ctx):
    reference, (left, right) = whole_and_tiles(ctx, [LEFT, RIGHT], layers=ISF_LAYERS,
                                               **GEOMETRY)
    overall, seam, worst = seam_errors(reference, left, right)
    print(f"\nISF interference + edge_glow: mean {overall:.3f}, at the seam {seam:.3f}, "
          f"max {worst:.0f}")
    assert overall < 0.1 and seam < 0.3 and worst <= 3
    # without the guard band the filter's taps across the seam are clamped to the tile
    reference, (left, right) = whole_and_tiles(ctx, [LEFT, RIGHT], margin=0,
                                               layers=ISF_LAYERS, **GEOMETRY)
    _, bare_seam, _ = seam_errors(reference, left, right)
    print(f"ISF without guard band: at the seam {bare_seam:.3f}")
    assert bare_seam > seam


TRAILS = dict(GEOMETRY, fx__feedback=0.85, fx__feedback_rotate=2.0, fx__feedback_zoom=1.03,
              fx__spin=20.0)


def test_feedback_trail_seam_with_and_without_the_guard_band(ctx):
    frames = 40
    errors = {}
    for margin in (0, 8, 32):
        reference, (left, right) = whole_and_tiles(ctx, [LEFT, RIGHT], frames=frames,
                                                   margin=margin, **TRAILS)
        errors[margin] = seam_errors(reference, left, right)
    for margin, (overall, seam, worst) in errors.items():
        print(f"\ntrail after {frames} frames, guard band {margin}px: mean {overall:.3f}, "
              f"at the seam {seam:.3f}, max {worst:.0f}")
    # the canvas here is tiny (96x48): 32 px is as much as the whole other half, so the
    # band makes the tile exact; a band narrower than the trail's reach leaves a seam
    assert errors[32][1] < 0.2 and errors[32][2] <= 3
    assert errors[0][1] > errors[8][1] >= errors[32][1]


def test_the_whole_canvas_as_its_own_tile_is_the_untiled_picture(ctx):
    untiled = Rig(ctx, CANVAS, **TRAILS)
    reference = untiled.frames(5)
    untiled.close()
    rig = Rig(ctx, CANVAS, Tile(CANVAS, (0, 0, *CANVAS)), **TRAILS)
    tiled = rig.frames(5)
    rig.close()
    assert np.array_equal(tiled, reference)


def test_config_without_a_canvas_is_no_tile():
    from live.config import OutputConfig

    assert Tile.from_config(OutputConfig()) is None
    tile = Tile.from_config(OutputConfig(canvas=(3840, 1080), tile=(1920, 0, 1920, 1080),
                                         blend=(128, 0, 0, 0), blend_gamma=2.4))
    assert tile.canvas == (3840, 1080) and tile.rect == (1920, 0, 1920, 1080)
    assert tile.blend == (128, 0, 0, 0) and tile.gamma == 2.4
    assert Tile.from_config(OutputConfig(canvas=(3840, 1080))).rect == (0, 0, 3840, 1080)
    # the guard band stays inside the canvas: the right tile has a neighbour on its left only
    assert tile.margins((1920, 1080)) == (64, 0, 0, 0)


def test_edge_blend_ramps_follow_the_gamma_and_overlaps_add_up_in_light(ctx):
    gamma, overlap = 2.2, 16
    rects = [(0, 0, 56, 48), (40, 0, 56, 48)]
    flat = dict(fx__feedback=0.0)
    whole = Rig(ctx, CANVAS, **flat)
    reference = whole.frames()
    whole.close()
    blends = [(0, overlap, 0, 0), (overlap, 0, 0, 0)]
    parts = []
    for rect, blend in zip(rects, blends, strict=True):
        rig = Rig(ctx, rect[2:], Tile(CANVAS, rect, blend, gamma), **flat)
        parts.append(rig.frames())
        rig.close()
    left, right = parts
    # the ramp: the left tile's last 16 columns scaled by smoothstep(t) ** (1 / gamma)
    t = (overlap - (np.arange(overlap) + 0.5)) / overlap  # 1 .. 0 toward its right edge
    expected = reference[:, 40:56] * blend_weight(t, gamma)[None, :, None]
    assert np.abs(left[:, 40:56] - expected).max() <= 1.5
    assert np.abs(left[:, :40] - reference[:, :40]).max() <= 1  # untouched outside
    # light of the two projectors added up where they overlap = the picture's light
    light = (left[:, 40:56] / 255) ** gamma + (right[:, :16] / 255) ** gamma
    target = (reference[:, 40:56] / 255) ** gamma
    error = np.abs(light - target)
    print(f"\nblended overlap, light sum vs picture: mean {error.mean():.4f}, "
          f"max {error.max():.4f} (linear light, 0..1)")
    assert error.mean() < 0.005 and error.max() < 0.03


def test_text_is_laid_out_on_the_canvas_and_each_tile_shows_its_part(ctx):
    import pygame

    from live.render.sprites import SpriteFactory
    from live.render.text import TextLayer

    pygame.font.init()
    text = dict(text__visible=True, text__fade=0.0, text__size=0.25, text__width=0.9,
                text__x=0.3, text__y=0.3, text__opacity=1.0)

    def show(size, tile):
        rig = Rig(ctx, size, tile, **text)
        sprites = SpriteFactory(ctx)
        sprites.tile = tile
        layer = TextLayer(sprites, size)
        layer.push("tiles")
        overlays = layer.update(DT, rig.controls)
        picture = rig.frames(overlays=overlays)
        rig.close()
        return picture, layer

    reference, whole = show(CANVAS, None)
    left, half = show(LEFT[2:], Tile(CANVAS, LEFT))
    right, _ = show(RIGHT[2:], Tile(CANVAS, RIGHT))
    assert half.layout_size == CANVAS and half.font_px == whole.font_px
    stitched = np.concatenate([left, right], axis=1)
    assert np.abs(stitched - reference).max() <= 2
    bare = Rig(ctx, CANVAS)
    assert np.abs(reference - bare.frames()).max() > 50  # the text is there
    bare.close()


def _tile_display(output):
    """A headless 48x48 Display with ``output`` (an ``OutputConfig``), or a skip without
    OpenGL."""
    from live.config import DisplayConfig
    from live.render.display import Display

    try:
        return Display(DisplayConfig(size=(48, 48)), headless=True, render_scale=1.0,
                       output=output)
    except Exception as exc:  # noqa: BLE001 (no OpenGL here: nothing to check)
        pytest.skip(f"no headless display: {exc}")


def test_the_display_takes_its_tile_from_the_output_config():
    from live.config import OutputConfig

    display = _tile_display(OutputConfig(canvas=(96, 48), tile=(48, 0, 48, 48),
                                         blend=(8, 0, 0, 0)))
    try:
        assert display.compositor.tile.rect == (48, 0, 48, 48)
        assert display.sprites.tile.canvas == (96, 48)
        assert display.compositor.render_size == (96, 48)  # the band: the whole left half
        display.upload(np.zeros((16, 16, 3), np.float32))  # flat mid grey
        display.compose(_controls(), DT)
        frame = display.host.astype(float)
        grey = frame[:, 20:].mean()
        assert abs(grey - 127.5) <= 1.5
        # the left edge blended: its first column at t = 0.5 / 8 of the ramp
        assert np.abs(frame[:, 0] - grey * blend_weight(0.5 / 8, 2.2)).max() <= 1.5
    finally:
        display.close()


def test_the_guard_band_is_the_output_guard_key(tmp_path):
    """``[output] guard``: the band a tile renders around itself (0..512 canvas pixels), as
    the Display builds its tile."""
    from live import config
    from live.config import OutputConfig

    assert OutputConfig().guard == 64
    path = tmp_path / "config.toml"
    path.write_text("[output]\ncanvas = [3840, 1080]\ntile = [1920, 0, 1920, 1080]\n"
                    "guard = 200\n")
    cfg = config.load(path)
    tile = Tile.from_config(cfg.output)
    assert tile.margin == 200 and tile.margins((1920, 1080)) == (200, 0, 0, 0)
    assert Tile.from_config(cfg.output, margin=8).margin == 8  # an explicit band wins
    assert config.load(path, ["output.guard=0"]).output.guard == 0
    for bad in ("output.guard=513", "output.guard=-1"):
        with pytest.raises(config.ConfigError):
            config.load(path, [bad])
    display = _tile_display(OutputConfig(canvas=(96, 48), tile=(48, 0, 48, 48), guard=16))
    try:
        assert display.compositor.tile.margin == 16
        assert display.compositor.render_size == (48 + 16, 48)  # 16 px of the left half
    finally:
        display.close()


def _controls():
    registry = Registry(REGISTRY)
    controls = Controls(registry)
    controls.jump()
    return controls

"""The project's own ISF library in shaders/: every file parses, documents each input for a
control surface, is the kind its category says and compiles on a real context; drawn by the
ISF host, each makes a picture that is not flat, filters follow their input and pass it
through at their IDENTITY value, transitions run from startImage to endImage, generators move
with TIME, and the glitch burst event bursts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from live.render import isf

SHADERS = Path(__file__).resolve().parent.parent / "shaders"
SHADER_FILES = sorted(SHADERS.glob("*.fs"))
KIND_CATEGORY = {"filter": "Filter", "generator": "Generator", "transition": "Transition"}
RENDER_SIZE = (64, 36)
FRAMES = 3


def raw_inputs(path: Path) -> list[dict]:
    """The header's INPUTS as written (the parser fills in absent keys, which we must not
    count as documented)."""
    header = re.match(r"\s*/\*(.*?)\*/", path.read_text(), re.DOTALL)
    assert header, f"{path.name}: no header comment"
    return json.loads(header.group(1)).get("INPUTS", [])




def test_library_has_enough_of_each_kind():
    kinds = [isf.load_isf(path).kind for path in SHADER_FILES]
    assert len(kinds) >= 16
    assert kinds.count("generator") >= 2
    assert kinds.count("transition") >= 2


@pytest.mark.parametrize("path", SHADER_FILES, ids=lambda path: path.stem)
def test_shader_parses_and_is_the_kind_its_category_says(path):
    shader = isf.load_isf(path)
    assert shader.credit == "live project"
    assert shader.description
    assert KIND_CATEGORY[shader.kind] in shader.categories
    others = set(KIND_CATEGORY.values()) - {KIND_CATEGORY[shader.kind]}
    assert not others & set(shader.categories)
    if shader.kind == "filter":
        assert isinstance(shader.input("inputImage"), isf.ImageInput)
    if shader.kind == "transition":
        assert isinstance(shader.input("startImage"), isf.ImageInput)
        assert isinstance(shader.input("endImage"), isf.ImageInput)
        assert isinstance(shader.input("progress"), isf.FloatInput)


@pytest.mark.parametrize("path", SHADER_FILES, ids=lambda path: path.stem)
def test_every_input_is_documented_for_a_control_surface(path):
    for spec in raw_inputs(path):
        name = spec["NAME"]
        assert isinstance(spec.get("LABEL"), str) and spec["LABEL"], name
        kind = spec["TYPE"]
        if kind in ("image", "event"):
            continue
        assert "DEFAULT" in spec, name
        if kind == "float":
            assert spec["MIN"] <= spec["DEFAULT"] <= spec["MAX"], name
            assert spec["MIN"] < spec["MAX"], name
        elif kind == "long":
            assert spec["DEFAULT"] in spec["VALUES"], name
            assert len(spec["LABELS"]) == len(spec["VALUES"]), name
        elif kind == "point2D":
            for low, value, high in zip(spec["MIN"], spec["DEFAULT"], spec["MAX"], strict=True):
                assert low <= value <= high, name
        elif kind == "color":
            assert len(spec["DEFAULT"]) == 4 and all(0 <= c <= 1 for c in spec["DEFAULT"]), name


@pytest.mark.parametrize("path", SHADER_FILES, ids=lambda path: path.stem)
def test_translated_shader_compiles(ctx, path):
    import moderngl

    shader = isf.load_isf(path)
    fragment, vertex = isf.translate_source(shader), isf.translate_vertex(shader)
    try:
        program = ctx.program(vertex_shader=vertex.text, fragment_shader=fragment.text)
    except moderngl.Error as exc:
        pytest.fail(isf.located_errors(str(exc), fragment, vertex))
    program.release()


def test_image(shift: int, channels=(0, 1, 2)) -> np.ndarray:
    """(H, W, 4) uint8 of RENDER_SIZE, row 0 at the top: soft gradients and a bright disc,
    like a neural frame; ``shift`` slides it sideways, ``channels`` reorders its colours."""
    width, height = RENDER_SIZE
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = (x + shift) / width, y / height
    disc = np.clip(1.0 - np.hypot(u - 0.6, v - 0.45) * 4.0, 0.0, 1.0)
    colour = np.stack([0.5 + 0.5 * np.sin(u * 9.0), v * 0.8 + disc * 0.2, 0.3 + 0.7 * disc],
                      axis=-1)[..., list(channels)]
    picture = np.concatenate([colour, np.ones_like(u)[..., None]], axis=-1)
    return (np.clip(picture, 0.0, 1.0) * 255).astype(np.uint8)


test_image.__test__ = False  # a helper, not a test
START_PICTURE = test_image(0)
END_PICTURE = test_image(23, channels=(2, 0, 1))
TOLERANCE = 2  # levels of 255: 8-bit rounding


@pytest.fixture(scope="module")
def renderer_class():
    return pytest.importorskip("live.render.isf.host",
                               reason="live/render/isf/host.py is not there").IsfRenderer


@pytest.fixture(scope="module")
def pictures(ctx):
    """Textures of the two test pictures, by the image input names that read them."""
    start = ctx.texture(RENDER_SIZE, 4, data=START_PICTURE.tobytes())
    end = ctx.texture(RENDER_SIZE, 4, data=END_PICTURE.tobytes())
    yield {"inputImage": start, "startImage": start, "endImage": end}
    start.release()
    end.release()


def render(ctx, renderer_class, path: Path, images, values=None, start_s: float = 0.5,
           frames: int = FRAMES, events_at: dict[int, str] | None = None) -> np.ndarray:
    """Draw ``frames`` frames of the shader at 30 fps from ``start_s`` and read back the last
    as (H, W, 3) ints, row 0 at the top; ``events_at`` fires an event input on a frame."""
    width, height = RENDER_SIZE
    output = ctx.texture(RENDER_SIZE, 4)
    framebuffer = ctx.framebuffer(color_attachments=[output])
    renderer = renderer_class(ctx, isf.load_isf(path))
    try:
        for frame in range(frames):
            if frame in (events_at or {}):
                renderer.trigger(events_at[frame])
            renderer.render(framebuffer, RENDER_SIZE, values or {}, images,
                            time_s=start_s + frame / 30, dt_s=1 / 30, frame_index=frame)
        data = framebuffer.read(viewport=(0, 0, width, height), components=3)
    finally:
        renderer.release()
        framebuffer.release()
        output.release()
    return np.frombuffer(data, np.uint8).reshape(height, width, 3).astype(int)


def differs(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.abs(a - b).max() > 16)


def same(picture: np.ndarray, expected: np.ndarray) -> bool:
    return bool(np.abs(picture - expected[..., :3].astype(int)).max() <= TOLERANCE)


def shaders_of_kind(kind: str) -> list[Path]:
    """The shipped shaders of ``kind``; one that does not parse is left to the parse tests."""
    paths = []
    for path in SHADER_FILES:
        try:
            if isf.load_isf(path).kind == kind:
                paths.append(path)
        except isf.IsfError:
            pass
    return paths


@pytest.mark.parametrize("path", SHADER_FILES, ids=lambda path: path.stem)
def test_shader_draws_a_picture_that_is_not_flat(ctx, renderer_class, pictures, path):
    values = {"progress": 0.5} if isf.load_isf(path).kind == "transition" else {}
    picture = render(ctx, renderer_class, path, pictures, values)
    channel_ranges = picture.max(axis=(0, 1)) - picture.min(axis=(0, 1))
    assert channel_ranges.max() > 16, f"{path.name}: the picture is one flat colour"


@pytest.mark.parametrize("path", shaders_of_kind("filter"), ids=lambda path: path.stem)
def test_filter_follows_its_input(ctx, renderer_class, pictures, path):
    other = {**pictures, "inputImage": pictures["endImage"]}
    assert differs(render(ctx, renderer_class, path, pictures),
                   render(ctx, renderer_class, path, other))


IDENTITY_CASES = [(path, item.name, item.identity) for path in shaders_of_kind("filter")
                  for item in isf.load_isf(path).inputs
                  if isinstance(item, isf.FloatInput) and item.identity is not None]


@pytest.mark.parametrize("path, name, identity", IDENTITY_CASES,
                         ids=[f"{path.stem}-{name}" for path, name, _ in IDENTITY_CASES])
def test_filter_at_its_identity_value_passes_the_picture_through(
        ctx, renderer_class, pictures, path, name, identity):
    picture = render(ctx, renderer_class, path, pictures, {name: identity})
    assert same(picture, START_PICTURE)


@pytest.mark.parametrize("path", shaders_of_kind("transition"), ids=lambda path: path.stem)
def test_transition_runs_from_start_to_end(ctx, renderer_class, pictures, path):
    assert same(render(ctx, renderer_class, path, pictures, {"progress": 0.0}), START_PICTURE)
    assert same(render(ctx, renderer_class, path, pictures, {"progress": 1.0}), END_PICTURE)
    halfway = render(ctx, renderer_class, path, pictures, {"progress": 0.5})
    assert not same(halfway, START_PICTURE) and not same(halfway, END_PICTURE)


@pytest.mark.parametrize("path", shaders_of_kind("generator"), ids=lambda path: path.stem)
def test_generator_moves_with_time(ctx, renderer_class, pictures, path):
    assert differs(render(ctx, renderer_class, path, {}, start_s=0.5),
                   render(ctx, renderer_class, path, {}, start_s=3.0))


def test_glitch_burst_throws_more_blocks(ctx, renderer_class, pictures):
    path = SHADERS / "glitch_displace.fs"
    calm = render(ctx, renderer_class, path, pictures)
    burst = render(ctx, renderer_class, path, pictures, events_at={FRAMES - 1: "burst"})
    assert changed_share(burst) > changed_share(calm) + 0.2


def changed_share(picture: np.ndarray) -> float:
    """The share of pixels that differ from the input picture."""
    return float((np.abs(picture - START_PICTURE[..., :3]).max(axis=-1) > 8).mean())

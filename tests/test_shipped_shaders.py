"""The project's own ISF library in shaders/: every file parses, documents each input, is the
kind its category says, compiles on a real context and draws a picture that is not flat."""

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


@pytest.fixture(scope="module")
def ctx():
    from live.render import glcontext

    try:
        context = glcontext.standalone()
    except glcontext.GLContextError as exc:
        pytest.skip(f"no OpenGL here: {exc}")
    yield context
    context.release()


def test_library_has_enough_of_each_kind():
    kinds = [isf.load_isf(path).kind for path in SHADER_FILES]
    assert len(kinds) >= 16
    assert kinds.count("generator") >= 2
    assert kinds.count("transition") >= 2


@pytest.mark.parametrize("path", SHADER_FILES, ids=lambda path: path.stem)
def test_shader_is_the_kind_its_category_says(path):
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


def test_image(width: int, height: int, shift: int) -> np.ndarray:
    """(H, W, 4) uint8 with soft gradients, a bright disc and detail, like a neural frame."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = (x + shift) / width, y / height
    disc = np.clip(1.0 - np.hypot(u - 0.6, v - 0.45) * 4.0, 0.0, 1.0)
    picture = np.stack([0.5 + 0.5 * np.sin(u * 9.0), v * 0.8 + disc * 0.2,
                        0.3 + 0.7 * disc, np.ones_like(u)], axis=-1)
    return (np.clip(picture, 0.0, 1.0) * 255).astype(np.uint8)


test_image.__test__ = False  # a helper, not a test


def test_renderer_module_is_there():
    pytest.importorskip("live.render.isf.host")


@pytest.mark.parametrize("path", SHADER_FILES, ids=lambda path: path.stem)
def test_shader_draws_a_picture_that_is_not_flat(ctx, path):
    host_module = pytest.importorskip("live.render.isf.host")
    shader = isf.load_isf(path)
    width, height = RENDER_SIZE
    start = ctx.texture(RENDER_SIZE, 4, data=test_image(width, height, 0).tobytes())
    end = ctx.texture(RENDER_SIZE, 4, data=test_image(width, height, 23)[:, :, [2, 0, 1, 3]]
                      .tobytes())
    images = {"inputImage": start, "startImage": start, "endImage": end}
    output = ctx.texture(RENDER_SIZE, 4)
    framebuffer = ctx.framebuffer(color_attachments=[output])
    renderer = host_module.IsfRenderer(ctx, shader)
    values = {"progress": 0.5} if shader.kind == "transition" else {}
    try:
        for frame in range(FRAMES):
            renderer.render(framebuffer, RENDER_SIZE, values, images, time_s=0.5 + frame / 30,
                            dt_s=1 / 30, frame_index=frame)
        data = framebuffer.read(viewport=(0, 0, width, height), components=3)
    finally:
        renderer.release()
        for resource in (framebuffer, output, start, end):
            resource.release()
    picture = np.frombuffer(data, np.uint8).reshape(height, width, 3).astype(int)
    assert np.isfinite(picture).all()
    assert picture.max(axis=(0, 1)).max() - picture.min(axis=(0, 1)).min() > 16, (
        f"{path.name}: the picture is one flat colour")

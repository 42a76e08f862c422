"""The ISF GPU host (live.render.isf.host) on a real EGL context: inputs as uniforms without
recompiling, events, image and audio inputs upright, passes, persistent float targets,
built-ins, GLSL 1.x and vertex shaders, compile errors at the file's line."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pytest

from live.render import isf
from live.render.isf.host import IsfRenderer
from live.render.passes import ShaderError

HERE = Path(__file__).resolve().parent / "isf"
SIZE = (32, 18)
TOLERANCE = 2  # 8-bit rounding of a float colour, in levels of 255




@pytest.fixture
def output(ctx):
    """A framebuffer the size of SIZE, as the compositor's targets are (row 0 at the top)."""
    texture = ctx.texture(SIZE, 4)
    framebuffer = ctx.framebuffer(color_attachments=[texture])
    yield framebuffer
    framebuffer.release()
    texture.release()


def renderer(ctx, name: str) -> IsfRenderer:
    return IsfRenderer(ctx, isf.load_isf(HERE / name))


def draw(host: IsfRenderer, framebuffer, values=None, images=None, time_s=0.0, dt_s=1 / 60,
         frame_index=0, audio=None, size=SIZE) -> np.ndarray:
    """Render once and read back (H, W, 3) uint8, row 0 at the top."""
    host.render(framebuffer, size, values or {}, images or {}, time_s, dt_s, frame_index, audio)
    data = framebuffer.read(viewport=(0, 0, *size), components=3)
    return np.frombuffer(data, np.uint8).reshape(size[1], size[0], 3)


def level(value: float) -> int:
    return round(value * 255)


def close(picture: np.ndarray, expected) -> bool:
    return bool(np.all(np.abs(picture.astype(int) - np.asarray(expected, float)) <= TOLERANCE))


def asymmetric_image() -> np.ndarray:
    """(H, W, 4) uint8 where every pixel differs: red by column, green by row (row 0 top)."""
    height, width = SIZE[1], SIZE[0]
    picture = np.zeros((height, width, 4), np.uint8)
    picture[..., 0] = (np.arange(width) * 7)[None, :]
    picture[..., 1] = (np.arange(height) * 13 + 5)[:, None]
    picture[..., 2] = 200
    picture[..., 3] = 255
    return picture


@pytest.fixture
def input_image(ctx):
    picture = asymmetric_image()
    texture = ctx.texture(SIZE, 4, data=picture.tobytes())
    yield picture, texture
    texture.release()


# ----------------------------------------------------------------------------- inputs

def test_generator_inputs_reach_the_picture_without_recompiling(ctx, output):
    host = renderer(ctx, "host_generator.fs")
    program = host.program
    # defaults: tint (1, .5, .25) * level .5
    assert close(draw(host, output), [level(0.5), level(0.25), level(0.125)])
    assert close(draw(host, output, {"level": 1.0, "tint": (0.0, 1.0, 0.5, 1.0)}),
                 [0, 255, level(0.5)])
    assert close(draw(host, output, {"level": 1.0, "tint": (0.2, 0.4, 0.6), "invert": True}),
                 [level(0.8), level(0.6), level(0.4)])  # a 3-channel colour gets alpha 1
    assert close(draw(host, output, {"mode": 1, "centre": (0.75, 0.5)}),
                 [level(0.75), level(0.5), 0])
    for step in range(200):  # a show's worth of control changes: uniform writes only
        draw(host, output, {"level": step / 200, "mode": step % 3, "invert": step % 2 == 0,
                            "tint": (step / 200, 0.5, 0.5, 1.0), "centre": (0.1, step / 200)})
    assert host.compiles == 1
    assert host.program is program
    host.release()


def test_generator_output_is_upright_y_up_is_the_top(ctx, output):
    host = renderer(ctx, "host_generator.fs")
    picture = draw(host, output, {"mode": 2})
    height, width = SIZE[1], SIZE[0]
    expected_green = (1.0 - (np.arange(height) + 0.5) / height) * 255  # row 0 at the top
    expected_red = (np.arange(width) + 0.5) / width * 255
    assert np.all(np.abs(picture[:, 0, 1] - expected_green) <= TOLERANCE)
    assert np.all(np.abs(picture[0, :, 0] - expected_red) <= TOLERANCE)
    host.release()


def test_event_is_true_for_exactly_one_render(ctx, output):
    host = renderer(ctx, "host_event.fs")
    dark, white = [level(0.25)] * 3, [255, 255, 255]
    assert close(draw(host, output), dark)
    host.trigger("flash")
    assert close(draw(host, output), white)
    assert close(draw(host, output), dark)
    assert close(draw(host, output, {"flash": True}), white)  # a value fires that render
    assert close(draw(host, output, {}), dark)
    host.release()


# ----------------------------------------------------------------------------- images

@pytest.mark.parametrize("probe", [0, 1, 2, 3])
def test_filter_passes_input_image_through_upright(ctx, output, input_image, probe):
    """IMG_THIS_PIXEL, IMG_NORM_PIXEL, IMG_PIXEL and a raw texture2D call all read the
    compositor's image (row 0 at the top) so that the output's top row is the input's."""
    picture, texture = input_image
    host = renderer(ctx, "host_probe.fs")
    result = draw(host, output, {"probe": probe}, {"inputImage": texture})
    assert np.array_equal(result[0], picture[0, :, :3])
    assert np.array_equal(result, picture[..., :3])
    host.release()


def test_img_size_and_size_uniforms_are_the_image_size(ctx, output, input_image):
    _, texture = input_image
    host = renderer(ctx, "host_probe.fs")
    result = draw(host, output, {"probe": 4}, {"inputImage": texture})
    assert close(result, [SIZE[0], SIZE[1], SIZE[0]])
    host.release()


def test_glsl1_filter_renders(ctx, output, input_image):
    picture, texture = input_image
    host = renderer(ctx, "glsl1_filter.fs")  # gl_FragColor, texture2D, varying, #version 120
    result = draw(host, output, {"amount": 0.0}, {"inputImage": texture})
    assert np.array_equal(result, picture[..., :3])
    host.release()


def test_vertex_shader_with_isf_vert_shader_init_renders(ctx, output, input_image):
    picture, texture = input_image
    host = renderer(ctx, "vertex.fs")  # vertex.vs computes the two sampling points
    assert host.shader.vertex is not None
    assert np.array_equal(draw(host, output, {"spread": 0.0}, {"inputImage": texture}),
                          picture[..., :3])
    # spread of one pixel: the mean of the left and right neighbours (red is 7 per column)
    shifted = draw(host, output, {"spread": 1.0 / SIZE[0]}, {"inputImage": texture})
    assert np.all(np.abs(shifted[:, 1:-1, 0].astype(int) - picture[:, 1:-1, 0]) <= 1)
    assert np.array_equal(shifted[:, :, 1], picture[:, :, 1])
    host.release()


def test_vertex_values_interpolate_between_the_picture_corners(ctx, output):
    """A .vs that clamps isf_FragNormCoord per vertex (as published blurs do) sees vertices on
    the picture's corners, so the clamp changes nothing and the gradient spans the picture."""
    host = renderer(ctx, "host_vertex_clamp.fs")
    picture = draw(host, output)
    height, width = SIZE[1], SIZE[0]
    assert np.all(np.abs(picture[0, :, 0] - (np.arange(width) + 0.5) / width * 255) <= TOLERANCE)
    assert np.all(np.abs(picture[:, 0, 1] - (1.0 - (np.arange(height) + 0.5) / height) * 255)
                  <= TOLERANCE)
    host.release()


def test_missing_image_input_samples_transparent_black(ctx, output):
    host = renderer(ctx, "host_probe.fs")
    assert close(draw(host, output, {"probe": 0}), [0, 0, 0])
    host.release()


def test_imported_image_is_loaded_upright(ctx, output, tmp_path):
    pygame = pytest.importorskip("pygame")
    picture = asymmetric_image()
    surface = pygame.image.frombytes(picture.tobytes(), SIZE, "RGBA")
    pygame.image.save(surface, str(tmp_path / "pattern.png"))
    (tmp_path / "stamp.fs").write_text(
        '/*{"IMPORTED": {"pattern": {"PATH": "pattern.png"}}}*/\n'
        "void main() { gl_FragColor = IMG_THIS_PIXEL(pattern); }\n")
    host = IsfRenderer(ctx, isf.load_isf(tmp_path / "stamp.fs"))
    assert np.array_equal(draw(host, output), picture[..., :3])
    host.release()


# ----------------------------------------------------------------------------- passes

def test_passes_write_targets_and_a_persistent_float_target_accumulates(ctx, output):
    host = renderer(ctx, "host_multipass.fs")
    for frame in range(5):
        result = draw(host, output, frame_index=frame)
    # pass 0 drew RENDERSIZE (the half size) into halfSize; the output reads it
    assert host.target_texture("halfSize").size == (SIZE[0] // 2, SIZE[1] // 2)
    assert close(result[..., :2], [SIZE[0] // 2, SIZE[1] // 2])
    total = np.frombuffer(host.target_texture("sum").read(), np.float32)
    assert np.allclose(total, 0.5, atol=1e-5)  # 0.1 per frame, 5 frames
    assert close(result[..., 2], level(0.5 / 4.0))
    for frame in range(5, 15):
        result = draw(host, output, frame_index=frame)
    total = np.frombuffer(host.target_texture("sum").read(), np.float32)
    assert np.allclose(total, 1.5, atol=1e-4)  # past 1.0: a float target does not clamp
    assert close(result[..., 2], level(1.5 / 4.0))
    assert host.compiles == len(host.shader.passes)  # one program per pass, never more
    host.release()


def test_a_last_pass_with_a_persistent_target_feeds_itself_and_is_the_output(ctx, output):
    host = renderer(ctx, "host_feedback.fs")  # one pass: TARGET lastFrame, PERSISTENT
    for frame in range(3):
        result = draw(host, output, frame_index=frame)
    assert close(result, [level(0.3), level(0.6), 0])
    host.release()


def test_targets_are_reused_until_the_render_size_changes(ctx, output):
    host = renderer(ctx, "host_multipass.fs")
    draw(host, output)
    first = host.target_texture("halfSize")
    draw(host, output)
    assert host.target_texture("halfSize") is first
    small = (16, 8)
    draw(host, output, size=small)
    assert host.target_texture("halfSize").size == (8, 4)
    host.release()


def test_builtins_reach_the_shader(ctx, output):
    host = renderer(ctx, "host_builtins.fs")
    today = datetime.datetime.now()
    result = draw(host, output, time_s=2.5, dt_s=0.05, frame_index=7)
    top, bottom = result[: SIZE[1] // 2], result[SIZE[1] // 2:]
    left, right = slice(0, SIZE[0] // 2), slice(SIZE[0] // 2, SIZE[0])
    assert close(top[:, left], [8, 4, 0])  # pass 0: its own RENDERSIZE and PASSINDEX
    assert close(top[:, right], [SIZE[0], SIZE[1], 1])  # the output pass
    assert close(bottom[:, left], [level(0.25), level(0.5), 7])  # TIME, TIMEDELTA, FRAMEINDEX
    assert close(bottom[:, right, :2], [today.month, today.day])
    host.release()


# ----------------------------------------------------------------------------- audio

def test_audio_and_fft_inputs_sample_the_supplied_arrays(ctx):
    size = (8, 2)
    texture = ctx.texture(size, 4)
    framebuffer = ctx.framebuffer(color_attachments=[texture])
    host = renderer(ctx, "host_audio.fs")
    wave = np.linspace(-1.0, 1.0, 8, dtype=np.float32)
    spectrum = np.array([0.0, 0.25, 0.5, 1.0], np.float32)
    result = draw(host, framebuffer, audio={"wave": wave, "spectrum": spectrum}, size=size)
    assert np.all(np.abs(result[0, :, 0] - (wave * 0.5 + 0.5) * 255) <= TOLERANCE)
    assert np.all(np.abs(result[1, :, 1] - np.repeat(spectrum, 2) * 255) <= TOLERANCE)
    # a longer signal is resampled to the header's MAX; no signal is silence
    long_wave = np.linspace(-1.0, 1.0, 64, dtype=np.float32)
    result = draw(host, framebuffer, audio={"wave": long_wave}, size=size)
    assert np.all(np.abs(result[0, :, 0] - (wave * 0.5 + 0.5) * 255) <= TOLERANCE)
    assert close(result[1, :, 1], 0)
    host.release()
    framebuffer.release()
    texture.release()


# ----------------------------------------------------------------------------- errors

def test_shader_that_does_not_compile_names_the_fs_file_and_line(ctx, tmp_path):
    source = tmp_path / "broken.fs"
    source.write_text('/*{\n"INPUTS": [{"NAME": "level", "TYPE": "float"}]\n}*/\n'
                      "void main() {\n"
                      "    gl_FragColor = vec4(level);\n"
                      "    no_such_variable += 1.0;\n"
                      "}\n")
    with pytest.raises(ShaderError) as caught:
        IsfRenderer(ctx, isf.load_isf(source))
    assert str(caught.value).startswith(f"{source}:6: ")
    assert "no_such_variable" in str(caught.value)


def test_a_pass_reading_a_target_before_it_is_drawn_is_refused_with_its_line(ctx):
    # pass 0 samples "later", which pass 1 draws and which is not persistent: ISF leaves what
    # it reads undefined (here it would be last frame's), so the shader is refused
    with pytest.raises(ShaderError) as err:
        renderer(ctx, "read_before_written.fs")
    message = str(err.value)
    assert message.startswith(f"{HERE / 'read_before_written.fs'}:9: pass 0 reads TARGET "
                              "'later' before pass 1 draws it")
    assert "PERSISTENT" in message


def test_a_persistent_target_keeps_its_picture_when_the_render_size_changes(ctx, output):
    # the render scale steps while a feedback shader runs: its history is scaled, not lost
    host = renderer(ctx, "host_persistent_sized.fs")
    for frame in range(5):
        draw(host, output, frame_index=frame)
    for size in [(16, 9), (24, 12)]:
        draw(host, output, frame_index=9, size=size)
        total = np.frombuffer(host.target_texture("sum").read(), np.float32)
        assert host.target_texture("sum").size == size
        assert np.allclose(total, 0.6 if size == (16, 9) else 0.7, atol=1e-4)
    host.release()

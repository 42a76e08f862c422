"""The live text layer: wrapping, the line cache, scroll, fade, clear, bad input, legibility."""

from __future__ import annotations

import os

import numpy as np
import pygame
import pytest

from live.render.text import FADE_OUT_S, SCROLL_S, TextLayer, clean, wrap
from tests.conftest import bus_and_controls

OUTPUT = (640, 360)
FRAME_S = 1 / 60


@pytest.fixture(scope="module")
def renderer():
    """Sprites on a real OpenGL context (EGL; llvmpipe without a GPU), as the show makes them."""
    from live.render import glcontext
    from live.render.sprites import SpriteFactory

    pygame.display.init()
    pygame.font.init()
    try:
        ctx = glcontext.standalone()
    except glcontext.GLContextError as exc:
        pytest.skip(f"no OpenGL here: {exc}")
    yield SpriteFactory(ctx)
    ctx.release()


def settle(bus, controls, **values):
    """Set controls at once (``text__size=0.1`` sets text.size), no smoothing."""
    for name, value in values.items():
        bus.set(name.replace("__", "."), value)
    bus.drain(controls)
    controls.jump()


def shown(**values):
    values = {"text__visible": True, "text__fade": 0.0, "text__lines": 8, **values}
    return bus_and_controls(**values)


def test_wrap_breaks_at_spaces_within_the_width_and_cuts_long_words(renderer):
    font = pygame.font.Font(None, 30)
    text = "the quick brown fox jumps over the lazy dog " * 3
    width = 200
    pieces = wrap(text, font, width)
    assert len(pieces) > 3
    assert all(font.size(line)[0] <= width for line, _ in pieces)
    assert "".join(line + sep for line, sep in pieces) == text
    assert all(sep in (" ", "") for _, sep in pieces)
    long_word = "x" * 80
    cut = wrap(long_word, font, width)
    assert len(cut) > 1 and all(font.size(line)[0] <= width for line, _ in cut)
    assert "".join(line for line, _ in cut) == long_word


def test_layer_wraps_typed_text_at_text_width(renderer):
    bus, controls = shown(text__width=0.4, text__size=0.08)
    layer = TextLayer(renderer, OUTPUT)
    words = "one two three four five six seven eight nine ten eleven twelve"
    layer.push(words)
    layer.update(FRAME_S, controls)
    font = pygame.font.Font(None, round(0.08 * OUTPUT[1]))
    assert len(layer.lines) > 1
    assert all(font.size(line)[0] <= 0.4 * OUTPUT[0] for line in layer.lines)
    assert " ".join(layer.lines) == words
    # a narrower wrap re-lays the same text out into more lines
    settle(bus, controls, text__width=0.2)
    layer.update(FRAME_S, controls)
    assert all(font.size(line)[0] <= 0.2 * OUTPUT[0] for line in layer.lines)
    assert " ".join(layer.lines) == words


def test_only_the_line_being_typed_is_rendered_again(renderer):
    _, controls = shown()
    layer = TextLayer(renderer, OUTPUT)
    layer.push("a finished line\nand a second\nnow typ")
    overlays = layer.update(FRAME_S, controls)
    assert layer.renders == 3
    assert len(overlays) == 6  # back (shadow + outline) and fill per line
    for chars in "ing on":
        before = layer.renders
        layer.push(chars)
        layer.update(FRAME_S, controls)
        assert layer.renders == before + 1
        layer.update(FRAME_S, controls)
        layer.update(FRAME_S, controls)
        assert layer.renders == before + 1  # nothing changed: nothing rendered
    layer.push("\n")
    layer.update(FRAME_S, controls)
    assert layer.renders == 3 + 6  # finishing a line does not render it again
    assert layer.lines == ["a finished line", "and a second", "now typing on"]


def test_frames_without_changes_reuse_the_same_overlays(renderer):
    _, controls = shown()
    layer = TextLayer(renderer, OUTPUT)
    layer.push("steady text\nstays")
    first = list(layer.update(FRAME_S, controls))
    second = layer.update(FRAME_S, controls)
    assert [id(t) for t, _ in first] == [id(t) for t, _ in second]
    assert [id(r) for _, r in first] == [id(r) for _, r in second]


def test_scroll_drops_the_oldest_line_beyond_text_lines(renderer):
    _, controls = shown(text__lines=3)
    layer = TextLayer(renderer, OUTPUT)
    layer.push("one\ntwo\nthree\n")
    layer.update(FRAME_S, controls)
    assert layer.lines == ["one", "two", "three"]  # the empty new line takes no room yet
    layer.push("f")
    overlays = layer.update(FRAME_S, controls)
    assert layer.lines == ["two", "three", "f"]
    assert len(overlays) == 8  # "one" is still drawn while it scrolls away (2 per line)
    for _ in range(round(SCROLL_S / FRAME_S) + 2):
        overlays = layer.update(FRAME_S, controls)
    assert len(overlays) == 6
    layer.push("our\nfive\nsix\n")
    layer.update(FRAME_S, controls)
    assert layer.lines == ["four", "five", "six"]


def test_scroll_moves_the_block_up_smoothly(renderer):
    _, controls = shown(text__lines=2)
    layer = TextLayer(renderer, OUTPUT)
    layer.push("one\ntwo\n")
    layer.update(FRAME_S, controls)
    fills = layer.update(FRAME_S, controls)[-2:]
    two_at_rest = fills[1][1].y
    layer.push("three")
    tops = []
    for _ in range(round(SCROLL_S / FRAME_S) + 2):
        overlays = layer.update(FRAME_S, controls)
        two_rect = next(r for t, r in overlays if t is layer._lines[0].fill)
        tops.append(two_rect.y)
    assert two_at_rest - 3 <= tops[0] < two_at_rest  # starts from where it was ...
    assert tops == sorted(tops, reverse=True) and len(set(tops)) > 3  # ... glides up ...
    assert tops[-1] < two_at_rest  # ... to the top row


def test_fade_drops_finished_lines_after_fade_and_fade_out(renderer):
    _, controls = shown(text__fade=1.0)
    layer = TextLayer(renderer, OUTPUT)
    layer.push("old line\nbeing typed")
    layer.update(FRAME_S, controls)
    fill = layer._lines[0].fill
    alphas = []
    t = FRAME_S
    while t < 1.0 + FADE_OUT_S + 0.1:
        layer.update(0.1, controls)
        t += 0.1
        alphas.append(fill.alpha)
        if t < 0.95:
            assert layer.lines == ["old line", "being typed"]
    assert layer.lines == ["being typed"]  # the line being typed never fades
    assert alphas[0] > 200 and min(alphas) < 60


def test_fade_zero_keeps_lines(renderer):
    _, controls = shown(text__fade=0.0)
    layer = TextLayer(renderer, OUTPUT)
    layer.push("stays\n")
    for _ in range(10):
        layer.update(10.0, controls)
    assert layer.lines == ["stays"]


def test_clear_forgets_everything(renderer):
    _, controls = shown()
    layer = TextLayer(renderer, OUTPUT)
    layer.push("some text\nmore")
    layer.update(FRAME_S, controls)
    layer.push("queued before the reset")
    layer.clear()
    assert layer.update(FRAME_S, controls) == []
    assert layer.lines == []
    layer.push("fresh")
    layer.update(FRAME_S, controls)
    assert layer.lines == ["fresh"]


def test_invisible_layer_draws_and_renders_nothing(renderer):
    bus, controls = shown(text__visible=False)
    layer = TextLayer(renderer, OUTPUT)
    layer.push("hidden words\nstill typed")
    assert layer.update(FRAME_S, controls) == []
    assert layer.renders == 0
    assert layer.lines == ["hidden words", "still typed"]
    settle(bus, controls, text__visible=True)
    assert len(layer.update(FRAME_S, controls)) == 4
    assert layer.renders == 2


def test_control_characters_are_dropped_and_tabs_become_spaces(renderer):
    assert clean("a\x00b\x07c\td\r\ne\x1b[0m\u200b\ud800") == "abc d\ne[0m"
    _, controls = shown()
    layer = TextLayer(renderer, OUTPUT)
    layer.push("bell\x07\x00 and\ttab\r\n\U0001F600 \ue000 \u2603 ok")
    layer.update(FRAME_S, controls)  # glyphs the font lacks draw as boxes, never raise
    assert layer.lines == ["bell and tab", "\U0001F600  \u2603 ok"]  # private use dropped


def test_a_size_change_renders_each_line_once(renderer):
    bus, controls = shown(text__size=0.06)
    layer = TextLayer(renderer, OUTPUT)
    layer.push("first\nsecond\nthird")
    layer.update(FRAME_S, controls)
    assert layer.renders == 3
    small = layer.font_px
    settle(bus, controls, text__size=0.09)
    layer.update(FRAME_S, controls)
    assert layer.font_px > small
    assert layer.renders == 6
    layer.update(FRAME_S, controls)
    assert layer.renders == 6


def test_resize_follows_the_output(renderer):
    _, controls = shown(text__size=0.1, text__x=0.5, text__y=0.5)
    layer = TextLayer(renderer, OUTPUT)
    layer.push("resized")
    fill_rect = layer.update(FRAME_S, controls)[-1][1]
    assert layer.font_px == 36 and fill_rect.topleft == (320, 180)
    layer.resize((1280, 720))
    fill_rect = layer.update(FRAME_S, controls)[-1][1]
    assert layer.font_px == 72 and fill_rect.topleft == (640, 360)
    assert layer.renders == 2
    layer.resize((0, 0))  # minimised: keep the layout
    layer.update(FRAME_S, controls)
    assert layer.font_px == 72 and layer.lines == ["resized"] and layer.renders == 2


def test_colour_opacity_and_outline_change_no_pixels_only_modulation(renderer):
    bus, controls = shown(text__outline=0.7)
    layer = TextLayer(renderer, OUTPUT)
    layer.push("tinted")
    layer.update(FRAME_S, controls)
    settle(bus, controls, text__hue=120.0, text__saturation=1.0, text__opacity=0.5)
    overlays = layer.update(FRAME_S, controls)
    assert layer.renders == 1
    back, fill = (t for t, _ in overlays)
    assert tuple(fill.color)[:3] == (0, 255, 0)
    assert fill.alpha == 128
    assert 0 < back.alpha < fill.alpha
    settle(bus, controls, text__outline=0.0)
    assert len(layer.update(FRAME_S, controls)) == 1  # only the fill


def test_a_missing_font_file_falls_back_to_the_default(renderer, tmp_path):
    _, controls = shown()
    layer = TextLayer(renderer, OUTPUT, font_path=str(tmp_path / "nope.ttf"))
    layer.push("still readable")
    assert len(layer.update(FRAME_S, controls)) == 2


def render_over(renderer, layer, controls, colour) -> pygame.Surface:
    """The layer drawn by the compositor over a flat picture of ``colour``."""
    from live.render.compositor import Compositor
    from tests.test_compositor import Controls

    compositor = Compositor(renderer.ctx, OUTPUT)
    decoded = np.array(colour[:3], np.float32) / 255 * 2 - 1
    compositor.upload(np.broadcast_to(decoded, (8, 8, 3)).copy())
    compositor.render(Controls(), 0.0, overlays=layer.update(FRAME_S, controls))
    frame = compositor.read_output().copy()
    compositor.release()
    return pygame.image.frombuffer(frame.tobytes(), OUTPUT, "RGB")


def test_text_reads_on_bright_and_dark_pictures(renderer, tmp_path):
    """Text pixels differ clearly from the background on white, mid-yellow and black."""
    _, controls = shown(text__size=0.08, text__x=0.05, text__y=0.1, text__outline=0.7)
    layer = TextLayer(renderer, OUTPUT)
    layer.push("the machine dreams in colour\nwhite on white must still read")
    shots = {}
    for name, colour in {"white": (255, 255, 255, 255), "yellow": (230, 220, 60, 255),
                         "black": (0, 0, 0, 255)}.items():
        shot = render_over(renderer, layer, controls, colour)
        shots[name] = shot
        area = pygame.Rect(0, 0, OUTPUT[0], OUTPUT[1] // 2)
        lum = [sum(shot.get_at((x, y))[:3]) / 3 for x in range(area.w) for y in range(area.h)]
        background = sum(colour[:3]) / 3
        far = [v for v in lum if abs(v - background) > 100]
        assert len(far) > 500, name  # plenty of pixels stand out from the picture
    directory = os.environ.get("LIVE_TEXT_SHOTS")
    if directory:  # for looking at by eye: LIVE_TEXT_SHOTS=/tmp/shots pytest ...
        os.makedirs(directory, exist_ok=True)
        for name, shot in shots.items():
            pygame.image.save(shot, os.path.join(directory, f"text-{name}.png"))

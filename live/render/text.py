"""The live text layer: characters typed by the char-RNN, drawn over the picture.

``push`` may be called from any thread; it only queues the characters. Everything else runs on
the render thread in ``update``, which lays the queued characters out into lines (word wrap at
``text.width``), renders the lines that changed, ages finished lines (``text.fade``), drops the
oldest beyond ``text.lines`` with a short scroll, and returns the overlays to draw.

Each line is rendered once per change into two sprites (OpenGL textures drawn as quads by the
compositor at the output resolution), drawn in this order:

- back: a soft shadow (the outlined glyphs in black, shrunk to 1/``SHADOW_SHRINK`` size and
  smoothed back up, which blurs them, offset down-right) with the outline over it (the glyphs
  in black with ``Font.outline``: a dark rim of a few pixels), composed once on the CPU, so
  a frame draws one texture for both (two draws per line);
- fill: the glyphs in white, tinted by the sprite's ``color`` (hue, saturation).

Colour, opacity, outline strength and fading are the sprites' tint and alpha, so moving
those faders never re-renders anything; only typing, a new letter size or a new wrap width
does. Finished lines keep their textures until they leave.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402

from live.render.sprites import Sprite  # noqa: E402
from live.render.wrap import clean, wrap  # noqa: E402, F401 (part of this module's API)

log = logging.getLogger(__name__)

FADE_OUT_S = 1.0
"""How long a line takes to fade out once it is older than ``text.fade``."""
SCROLL_S = 0.25
"""How long the block takes to slide up by one line when the oldest line leaves."""
SHADOW_SHRINK = 5
"""The shadow is rendered at 1/SHADOW_SHRINK size; stretching it back blurs it."""
OUTLINE_FRACTION = 0.06
"""Outline thickness as a fraction of the font's pixel size (at least 1 px)."""
SHADOW_OFFSET = (0.05, 0.08)
"""Shadow offset (right, down) as fractions of the font's pixel size."""
SHADOW_ALPHA = 0.8
"""Shadow opacity relative to the outline's."""
MIN_FONT_PX = 4
MIN_OUTPUT_PX = 16

_Overlay = tuple[Sprite, pygame.Rect]


@dataclass(eq=False)
class _Line:
    text: str
    sep: str = ""
    """What ended the line: "\\n", the spaces a wrap consumed, or "" (a cut word; the current
    line)."""
    finished_at: float | None = None
    """The layer's clock when typing moved past this line; None while it is being typed."""
    rendered: str | None = None
    """The text the textures show (None: not rendered at the current font)."""
    shadow: Sprite | None = None
    outline: Sprite | None = None
    fill: Sprite | None = None
    shadow_rect: pygame.Rect = field(default_factory=pygame.Rect)
    outline_rect: pygame.Rect = field(default_factory=pygame.Rect)
    fill_rect: pygame.Rect = field(default_factory=pygame.Rect)

    draws: tuple[_Overlay, _Overlay, _Overlay] | None = None
    """(shadow, outline, fill) overlays, made once per render so drawing allocates nothing."""

    def drop_textures(self) -> None:
        self.shadow = self.outline = self.fill = None
        self.rendered = None
        self.draws = None


class TextLayer:
    """Typed text over the picture; see the module docstring for how it is drawn."""

    def __init__(self, renderer, output_size: tuple[int, int],
                 font_path: str | None = None) -> None:
        self.renderer = renderer
        """Makes sprites of rendered lines (``SpriteFactory.from_surface``)."""
        self.output_size = (int(output_size[0]), int(output_size[1]))
        self.font_path = font_path
        self.renders = 0
        """How many lines have been rendered into textures so far."""
        self._pending: list[str | None] = []
        """Queued pushes; None stands for a clear. Guarded by ``_lock``."""
        self._lock = threading.Lock()
        self._lines: list[_Line] = [_Line("")]
        """Oldest first; the last is the line being typed (possibly empty)."""
        self._leaving: list[_Line] = []
        """Lines scrolled out of the block, drawn above it while the scroll runs."""
        self._scroll_px = 0.0
        self._clock_s = 0.0
        self._font: pygame.font.Font | None = None
        self._outline_font: pygame.font.Font | None = None
        self._font_px = 0
        self._wrap_px = 0
        self._outline_px = 1
        self._line_px = 1
        self._overlays: list[_Overlay] = []
        self._layers: tuple[list[_Overlay], ...] = ([], [])
        """Per-frame scratch lists: shadows, outlines, fills."""
        self._tint = pygame.Color(255, 255, 255)
        self._tint_key = (0.0, 0.0)

    # -- input (any thread) -------------------------------------------------------------------

    def push(self, chars: str) -> None:
        """Queue newly typed characters ("\\n" ends a line); cheap and thread-safe."""
        if chars:
            with self._lock:
                self._pending.append(chars)

    def clear(self) -> None:
        """Forget all text (``text.reset``), including characters queued before this call."""
        with self._lock:
            self._pending.clear()
            self._pending.append(None)

    def resize(self, output_size: tuple[int, int]) -> None:
        """The output changed size: lines are re-laid out and re-rendered on the next update.

        A degenerate size (a minimised window reports 0 x 0) is ignored: re-wrapping at a
        width of a few pixels would shred the text into one-letter lines.
        """
        width, height = int(output_size[0]), int(output_size[1])
        if width >= MIN_OUTPUT_PX and height >= MIN_OUTPUT_PX:
            self.output_size = (width, height)

    # -- what tests and the HUD may read ---------------------------------------------------------

    @property
    def lines(self) -> list[str]:
        """The lines in the block, oldest first, the one being typed last (if not empty)."""
        texts = [line.text for line in self._lines]
        if not texts[-1]:
            texts.pop()
        return texts

    @property
    def font_px(self) -> int:
        return self._font_px

    # -- the render thread ---------------------------------------------------------------------

    def update(self, dt: float, controls) -> list[_Overlay]:
        """Advance by ``dt`` seconds and return the overlays to draw, in output pixels.

        The returned list is reused: it is valid until the next call.
        """
        dt = max(dt, 0.0)
        self._clock_s += dt
        self._layout(controls)
        self._drain()
        self._trim(int(controls["text.lines"]), float(controls["text.fade"]))
        if self._scroll_px > 0.0:
            # one line's height per SCROLL_S, faster when several lines left at once
            step = max(self._line_px, self._scroll_px) * dt / SCROLL_S
            self._scroll_px = max(0.0, self._scroll_px - step)
            if self._scroll_px == 0.0:
                self._leaving.clear()
        self._overlays.clear()
        if not controls["text.visible"]:
            return self._overlays
        for line in self._lines:
            if line.text.strip() and line.rendered != line.text:
                self._render(line)
        self._place(controls)
        return self._overlays

    @property
    def layout_size(self) -> tuple[int, int]:
        """What the text is laid out on: the output, or on a tile of a wall (the renderer's
        ``tile``) the whole canvas in output pixels; the overlays' rects are then canvas
        rects, which the compositor moves to the tile."""
        tile = getattr(self.renderer, "tile", None)
        if tile is None:
            return self.output_size
        return tile.sized(self.output_size).layout_size(self.output_size)

    def _layout(self, controls) -> None:
        """Re-create the font when the letter size changes; re-wrap when the wrap width does."""
        width, height = self.layout_size
        font_px = max(MIN_FONT_PX, round(float(controls["text.size"]) * height))
        wrap_px = max(1, round(float(controls["text.width"]) * width))
        if font_px == self._font_px and wrap_px == self._wrap_px:
            return
        if font_px != self._font_px:
            self._font = self._make_font(font_px)
            self._outline_px = max(1, round(font_px * OUTLINE_FRACTION))
            self._outline_font = self._make_font(font_px)
            self._outline_font.outline = self._outline_px
            self._font_px = font_px
            # a little extra leading so one line's outline does not touch the next line's
            self._line_px = self._font.get_linesize() + self._outline_px
            for line in self._lines:
                line.drop_textures()
            self._leaving.clear()
            self._scroll_px = 0.0
        self._wrap_px = wrap_px
        self._rewrap()

    def _make_font(self, px: int) -> pygame.font.Font:
        if self.font_path is not None:
            try:
                return pygame.font.Font(self.font_path, px)
            except (OSError, pygame.error) as exc:
                # a missing or broken font file must not stop the show: fall back to the default
                log.warning("text font %s unusable (%s): using the default font",
                            self.font_path, exc)
                self.font_path = None
        return pygame.font.Font(None, px)

    def _rewrap(self) -> None:
        """Lay all lines out again at the current font and wrap width, keeping each line's age
        and, where a line's text is unchanged, its textures."""
        old = self._lines
        paragraphs: list[list[_Line]] = [[]]
        for line in old:
            paragraphs[-1].append(line)
            if line.sep == "\n":
                paragraphs.append([])
        new: list[_Line] = []
        for number, paragraph in enumerate(paragraphs):
            last_paragraph = number == len(paragraphs) - 1
            text = "".join(line.text + line.sep for line in paragraph)
            ends = []  # the paragraph offset where each old line ends, sep included
            offset = 0
            for line in paragraph:
                offset += len(line.text) + len(line.sep)
                ends.append(offset)
            body = text[:-1] if text.endswith("\n") else text
            pieces = wrap(body, self._font, self._wrap_px)
            if len(pieces) > 1 and not pieces[-1][0] and not last_paragraph:
                pieces.pop()  # a finished paragraph needs no empty line after its last break
            start = 0
            for index, (piece, sep) in enumerate(pieces):
                last_char = start + max(len(piece), 1) - 1
                origin = next((ln for ln, end in zip(paragraph, ends, strict=True)
                               if last_char < end), paragraph[-1])
                is_current = last_paragraph and index == len(pieces) - 1
                if index == len(pieces) - 1 and not last_paragraph:
                    sep = "\n"
                finished = None if is_current else (origin.finished_at
                                                    if origin.finished_at is not None
                                                    else self._clock_s)
                line = _Line(piece, sep, finished)
                if origin.text == piece and origin.rendered == piece:
                    line.rendered, line.shadow, line.outline, line.fill, line.draws = (
                        origin.rendered, origin.shadow, origin.outline, origin.fill,
                        origin.draws)
                    line.shadow_rect, line.outline_rect, line.fill_rect = (
                        origin.shadow_rect, origin.outline_rect, origin.fill_rect)
                new.append(line)
                start += len(piece) + len(sep)
        self._lines = new

    def _drain(self) -> None:
        with self._lock:
            if not self._pending:
                return
            pending, self._pending = self._pending, []
        for chars in pending:
            if chars is None:
                self._lines = [_Line("")]
                self._leaving.clear()
                self._scroll_px = 0.0
            else:
                self._type(clean(chars))

    def _type(self, chars: str) -> None:
        """Append characters to the line being typed, finishing lines at "\\n" and wraps."""
        segments = chars.split("\n")
        for number, segment in enumerate(segments):
            current = self._lines[-1]
            if segment:
                current.text += segment
                if self._font.size(current.text)[0] > self._wrap_px:
                    pieces = wrap(current.text, self._font, self._wrap_px)
                    current.text, current.sep = pieces[0]
                    current.finished_at = self._clock_s
                    for piece, sep in pieces[1:]:
                        self._lines.append(_Line(piece, sep, self._clock_s))
                    current = self._lines[-1]
                    current.sep, current.finished_at = "", None
            if number < len(segments) - 1:  # a "\n" follows this segment
                current.sep = "\n"
                current.finished_at = self._clock_s
                self._lines.append(_Line(""))

    def _trim(self, max_lines: int, fade_s: float) -> None:
        """Drop lines beyond ``max_lines`` (scrolling them out) and lines that have faded."""
        line_px = self._line_px
        kept = len(self._lines) - (0 if self._lines[-1].text else 1)
        while kept > max(1, max_lines):
            gone = self._lines.pop(0)
            self._leaving.append(gone)
            self._scroll_px += line_px
            kept -= 1
        if fade_s > 0.0:
            while (len(self._lines) > 1 and self._lines[0].finished_at is not None
                   and self._clock_s - self._lines[0].finished_at >= fade_s + FADE_OUT_S):
                self._lines.pop(0)  # already invisible: no need to draw it leaving
                self._scroll_px += line_px

    def _render(self, line: _Line) -> None:
        """Render ``line`` into its back (shadow + outline) and fill textures."""
        fill = self._font.render(line.text, True, (255, 255, 255))
        outline = self._outline_font.render(line.text, True, (0, 0, 0))
        # pad the shadow so the blur has room to spread beyond the glyphs
        pad = SHADOW_SHRINK * 2
        dx = max(0, round(self._font_px * SHADOW_OFFSET[0]))
        dy = max(0, round(self._font_px * SHADOW_OFFSET[1]))
        size = (outline.get_width() + 2 * pad, outline.get_height() + 2 * pad)
        padded = pygame.Surface(size, pygame.SRCALPHA)
        padded.blit(outline, (pad, pad))
        small = pygame.transform.smoothscale(
            padded, (max(1, size[0] // SHADOW_SHRINK), max(1, size[1] // SHADOW_SHRINK)))
        shadow = pygame.transform.smoothscale(small, size)
        shadow.fill((255, 255, 255, round(255 * SHADOW_ALPHA)),
                    special_flags=pygame.BLEND_RGBA_MULT)
        back = pygame.Surface((size[0] + dx, size[1] + dy), pygame.SRCALPHA)
        back.blit(shadow, (dx, dy))
        back.blit(outline, (pad, pad))
        line.fill = self.renderer.from_surface(fill)
        line.outline = self.renderer.from_surface(back)
        line.shadow = None
        line.fill_rect.size = fill.get_size()
        line.outline_rect.size = back.get_size()
        line.rendered = line.text
        line.draws = ((line.outline, line.outline_rect), (line.fill, line.fill_rect))
        self.renders += 1

    def _place(self, controls) -> None:
        """Position every line, set its alpha and tint, and fill the overlay list."""
        width, height = self.layout_size
        x = round(float(controls["text.x"]) * width)
        top = float(controls["text.y"]) * height + self._scroll_px
        opacity = min(max(float(controls["text.opacity"]), 0.0), 1.0)
        outline = min(max(float(controls["text.outline"]), 0.0), 1.0)
        fade_s = float(controls["text.fade"])
        hue = float(controls["text.hue"]) % 360.0
        saturation = min(max(float(controls["text.saturation"]), 0.0), 1.0)
        if (hue, saturation) != self._tint_key:
            self._tint_key = (hue, saturation)
            self._tint.hsva = (hue, saturation * 100.0, 100.0, 100.0)
        line_px = self._line_px
        o = self._outline_px
        pad = SHADOW_SHRINK * 2
        backs, fills = self._layers
        for layer in self._layers:
            layer.clear()
        rows = len(self._leaving)
        for row, line in enumerate(self._leaving + self._lines if self._leaving else self._lines):
            if line.draws is None:
                continue
            alpha = 1.0
            if row < rows:  # scrolling out above the block: fades as it passes the top
                alpha = min(1.0, max(0.0, 1.0 + (self._scroll_px / line_px) + row - rows))
            if fade_s > 0.0 and line.finished_at is not None:
                age_s = self._clock_s - line.finished_at
                alpha *= min(1.0, max(0.0, 1.0 - (age_s - fade_s) / FADE_OUT_S))
            alpha *= opacity
            if alpha <= 0.0:
                continue
            y = round(top + (row - rows) * line_px)
            line.fill_rect.topleft = (x, y)
            line.outline_rect.topleft = (x - o - pad, y - o - pad)
            line.fill.alpha = round(255 * alpha)
            line.fill.color = self._tint
            fills.append(line.draws[1])
            if outline > 0.0:
                line.outline.alpha = round(255 * alpha * outline)
                backs.append(line.draws[0])
        # every back (shadow and outline) under every fill: a shadow never covers a letter
        self._overlays.extend(backs)
        self._overlays.extend(fills)

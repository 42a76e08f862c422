"""Heads-up display: what the show is doing, for the performer only (never recorded).

The lines are rendered a few times a second (not per frame) into one sprite drawn over the
picture after the read-back. Glyphs sit on a fixed grid (every character one cell wide), so
figures that change keep their place instead of jittering with proportional letter widths.
"""

from __future__ import annotations

import pygame

REFRESH_S = 0.25
PANEL_ALPHA = 160


class Hud:
    def __init__(self, sprites, font_px: int = 18) -> None:
        self.sprites = sprites
        self.font = pygame.font.Font(None, font_px)
        self.visible = False
        self._sprite = None
        self._rect = pygame.Rect(0, 0, 0, 0)
        self._age_s = REFRESH_S
        self._glyphs: dict[str, pygame.Surface] = {}
        self._cell = max(self.font.size(c)[0] for c in "0123456789.-")
        self._line_px = self.font.get_linesize()
        self.message = ""
        """A line shown until replaced (e.g. a scene error with file:line)."""
        self._draws: list = []

    def toggle(self) -> None:
        self.visible = not self.visible
        self._age_s = REFRESH_S

    def _glyph(self, char: str) -> pygame.Surface:
        glyph = self._glyphs.get(char)
        if glyph is None:
            glyph = self.font.render(char, True, (255, 255, 255))
            if len(self._glyphs) < 512:  # HUD text is mostly ASCII; never an unbounded cache
                self._glyphs[char] = glyph
        return glyph

    def _panel(self, lines: list[str]) -> pygame.Surface:
        cell = self._cell
        width = max(len(line) for line in lines) * cell + 16
        height = len(lines) * self._line_px + 12
        panel = pygame.Surface((width, height), pygame.SRCALPHA)
        panel.fill((0, 0, 0, PANEL_ALPHA))
        for row, line in enumerate(lines):
            y = 6 + row * self._line_px
            for column, char in enumerate(line):
                if char == " ":
                    continue
                glyph = self._glyph(char)
                # centred in its cell: a wide letter spills a little, a figure never moves
                x = 8 + column * cell + (cell - glyph.get_width()) // 2
                panel.blit(glyph, (x, y))
        return panel

    def update(self, dt: float, lines: list[str]) -> list:
        """The sprites to draw this frame; re-renders the panel at most every REFRESH_S."""
        if not self.visible:
            return []
        self._age_s += dt
        if self._age_s >= REFRESH_S or self._sprite is None:
            self._age_s = 0.0
            if self.message:
                lines = [*lines, self.message]
            if self._sprite is not None:
                self._sprite.release()
            self._sprite = self.sprites.from_surface(self._panel(lines or [""]))
            self._rect = pygame.Rect(10, 10, *self._sprite.size)
            self._draws = [(self._sprite, self._rect)]
        return self._draws


def status_lines(engine) -> list[str]:
    """The HUD's lines. The frame rate is the mean over the last second, beside the worst
    frame in that second (a median would hide the stalls an audience sees); control->photon
    shows only while controls arrive (a figure from minutes ago says nothing)."""
    import numpy as np

    frames = engine.frames
    recent = frames.chronological(frames.frame_ms)[-600:]
    if len(recent):
        # the frames of the last second, counted back from the newest
        within = np.cumsum(recent[::-1]) <= 1000.0
        last_second = recent[::-1][: max(1, int(within.sum()))]
        fps = 1000.0 / float(last_second.mean())
        worst = float(last_second.max())
        stages = frames.chronological(frames.stage_ms)[-len(last_second):]
        decode = float(stages[:, 2].mean())
    else:
        fps = worst = decode = 0.0
    fresh = time_since_control_s(engine) <= LATENCY_SHOWN_S
    latency = f"{engine.last_control_to_photon_ms:5.1f} ms" if fresh else "   -    "
    display = engine.display
    held = "" if engine.walk.held_cue is None else f" (cue {engine.walk.held_cue + 1})"
    recording = "   REC" if engine.recorder is not None else ""
    extra = [line() for line in engine.status_lines]
    width, height = display.output_size
    return [
        f"{fps:5.1f} fps   worst {worst:5.1f} ms   decode {decode:5.2f} ms   "
        f"control->photon {latency}",
        f"output {width}x{height}   render scale {display.render_scale:.2f}   "
        f"gl {display.gl_renderer[:24]}",
        f"device {engine.choice.label}   model {engine.model_name}   scene {engine.scene.name}",
        f"walk {engine.walk.mode}{held}   speed {engine.controls['walk.speed']:.2f}   "
        f"bpm {engine.controls['tempo.bpm']:.1f}{recording}",
        *([layer_line(engine.scene.layers, engine.controls)] if engine.scene.layers else []),
        *[line for line in extra if line],
        *([f"shader error: {short_error(display.compositor.shader_error)}"]
          if display.compositor.shader_error else []),
    ]


def layer_line(layers, controls) -> str:
    """The scene's ISF layers, bottom first, each with its opacity: ``layers  grade
    gradient_map 1.00 | glow bloom 0.60``."""
    parts = []
    for spec in layers:
        name = f"layer.{spec.name}.opacity"
        opacity = controls[name] if name in controls.registry else 1.0
        parts.append(f"{spec.name} {spec.shader.name} {opacity:.2f}")
    return "layers  " + " | ".join(parts)


def short_error(error: str, width: int = 96) -> str:
    """A compile error for one HUD line: its first line, the file's name without its folder
    (``bloom.fs:42: ...``), cut to ``width`` characters."""
    first = error.strip().splitlines()[0] if error.strip() else ""
    head, sep, rest = first.partition(":")
    if sep and ("/" in head or "\\" in head):
        first = head.replace("\\", "/").rsplit("/", 1)[-1] + sep + rest
    return first if len(first) <= width else first[: width - 3] + "..."


LATENCY_SHOWN_S = 2.0
"""How long after the last control reached the picture its latency stays on the HUD."""


def time_since_control_s(engine) -> float:
    import time

    shown_ns = engine.last_control_shown_ns
    return (time.perf_counter_ns() - shown_ns) / 1e9 if shown_ns else float("inf")

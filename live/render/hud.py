"""Heads-up display: fps, frame/decode ms, control->photon ms, device, model, scene.

The text is re-rendered a few times a second (not per frame) into one texture that the display
draws over the picture.
"""

from __future__ import annotations

import pygame
from pygame._sdl2 import video

REFRESH_S = 0.25


class Hud:
    def __init__(self, renderer: video.Renderer, font_px: int = 18) -> None:
        self.renderer = renderer
        self.font = pygame.font.Font(None, font_px)
        self.visible = False
        self._texture: video.Texture | None = None
        self._rect = pygame.Rect(0, 0, 0, 0)
        self._age_s = REFRESH_S
        self.message = ""
        """A line shown until replaced (e.g. a scene error with file:line)."""

    def toggle(self) -> None:
        self.visible = not self.visible
        self._age_s = REFRESH_S

    def update(self, dt: float, lines: list[str]) -> list[tuple[video.Texture, pygame.Rect]]:
        """The overlays to draw this frame; re-renders the text at most every REFRESH_S."""
        if not self.visible:
            return []
        self._age_s += dt
        if self._age_s >= REFRESH_S or self._texture is None:
            self._age_s = 0.0
            if self.message:
                lines = [*lines, self.message]
            rendered = [self.font.render(line, True, (255, 255, 255)) for line in lines]
            width = max(s.get_width() for s in rendered) + 16
            height = sum(s.get_height() for s in rendered) + 12
            panel = pygame.Surface((width, height), pygame.SRCALPHA)
            panel.fill((0, 0, 0, 160))
            y = 6
            for surface in rendered:
                panel.blit(surface, (8, y))
                y += surface.get_height()
            self._texture = video.Texture.from_surface(self.renderer, panel)
            self._rect = pygame.Rect(10, 10, width, height)
        return [(self._texture, self._rect)]

"""Sprites: pygame-ce surfaces (text lines, the HUD panel) as OpenGL textures drawn as quads.

A sprite is uploaded once when its picture changes; per frame only its place (a
``pygame.Rect`` in output pixels, y down), ``alpha`` (0-255) and ``color`` (a tint multiplied
into the texture) change, and those are uniforms of the quad pass, so moving a fader never
re-uploads anything.
"""

from __future__ import annotations

import pygame


class Sprite:
    """One uploaded picture; ``alpha`` and ``color`` modulate it when drawn."""

    __slots__ = ("texture", "size", "alpha", "color")

    def __init__(self, texture, size: tuple[int, int]) -> None:
        self.texture = texture
        self.size = size
        self.alpha = 255
        self.color = pygame.Color(255, 255, 255)

    def release(self) -> None:
        if self.texture is not None:
            self.texture.release()
            self.texture = None


class SpriteFactory:
    """Makes sprites on one GL context (the compositor's)."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.uploads = 0
        """Textures uploaded so far (tests count re-renders with it)."""
        self.tile = None
        """The ``Tile`` of a wall's canvas this output shows, or None: the text layer lays
        out on the whole canvas and the compositor moves its sprites to the tile."""

    def from_surface(self, surface: pygame.Surface) -> Sprite:
        import moderngl

        size = surface.get_size()
        size = (max(1, size[0]), max(1, size[1]))
        if surface.get_size() != size:
            surface = pygame.Surface(size, pygame.SRCALPHA)
        data = pygame.image.tobytes(surface, "RGBA")  # row 0 at the top, as the quads expect
        texture = self.ctx.texture(size, 4, data)
        texture.filter = moderngl.LINEAR, moderngl.LINEAR
        texture.repeat_x = texture.repeat_y = False
        self.uploads += 1
        return Sprite(texture, size)

"""Tiles of a virtual canvas: which part of the one picture this output shows, and the edge
blending of overlapping projectors (``[output] canvas / tile / blend / blend_gamma``).

Every pass that turns output pixels into picture coordinates works in *canvas coordinates*:
the render targets cover a rectangle of the canvas (the tile, plus a guard band of
``margin`` canvas pixels on the sides that have a neighbour), described to the shaders by

- ``view``: (x, y, w, h) of that rectangle as fractions of the canvas (0, 0, 1, 1 untiled):
  canvas uv = ``view.xy + image_uv * view.zw``;
- ``canvas_size``: the whole canvas in render pixels (its aspect and pixel size);
- ``crop``: the tile inside the render target (the output pass shows only it).

A tile is then the crop of the picture a single node renders of the whole canvas, up to float
rounding, except where a pass reads pixels of its own earlier output outside the render
rectangle (the feedback trail, a persistent ISF target, a blur of a neighbour's pixels): the
guard band keeps those seams small (docs/cluster.md, "Tiles and edge blending").
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MARGIN = 64
"""Guard band, canvas pixels, on each side of a tile that has a neighbour (``[output] guard``)."""


@dataclass(frozen=True)
class Tile:
    canvas: tuple[int, int]
    """The whole picture (W, H), canvas pixels."""
    rect: tuple[int, int, int, int]
    """This output's rectangle of it (x, y, w, h), canvas pixels, y down."""
    blend: tuple[int, int, int, int] = (0, 0, 0, 0)
    """Overlap with the neighbours at the left, right, top, bottom edge, canvas pixels."""
    gamma: float = 2.2
    """The projectors' response: the ramps are even in light, ``value ** gamma``."""
    margin: int = DEFAULT_MARGIN
    """Guard band rendered around the tile (inside the canvas) and cropped off."""

    @classmethod
    def from_config(cls, output, margin: int | None = None) -> Tile | None:
        """The tile an ``OutputConfig`` asks for, or None when it asks for none (the output
        is the whole picture and nothing is blended: rendering stays as it was). The guard
        band is ``margin`` when given, else the config's ``guard``."""
        if margin is None:
            margin = int(getattr(output, "guard", DEFAULT_MARGIN))
        canvas = tuple(int(v) for v in output.canvas)
        rect = tuple(int(v) for v in output.tile)
        blend = tuple(max(0, int(v)) for v in output.blend)
        if canvas[0] <= 0 or canvas[1] <= 0:
            if not any(blend):
                return None
            canvas = (0, 0)  # blending alone: the canvas is this output (see ``sized``)
        if rect[2] <= 0 or rect[3] <= 0:
            rect = (0, 0, *canvas)
        return cls(canvas, rect, blend, float(output.blend_gamma), margin)  # type: ignore[arg-type]

    def sized(self, output_size: tuple[int, int]) -> Tile:
        """This tile with a canvas of (0, 0) (blending alone) made the output itself."""
        if self.canvas[0] > 0 and self.canvas[1] > 0:
            return self
        return Tile(output_size, (0, 0, *output_size), self.blend, self.gamma, self.margin)

    # ------------------------------------------------------------------ geometry
    def scale(self, output_size: tuple[int, int]) -> tuple[float, float]:
        """Output pixels per canvas pixel (1, 1 when the window is the tile's size)."""
        return output_size[0] / self.rect[2], output_size[1] / self.rect[3]

    def margins(self, output_size: tuple[int, int]) -> tuple[int, int, int, int]:
        """The guard band in output pixels at the left, right, top, bottom: ``margin``
        where the canvas goes on beyond the tile, less where it ends sooner, 0 at its edge."""
        x, y, w, h = self.rect
        width, height = self.canvas
        sx, sy = self.scale(output_size)
        m = max(0, int(self.margin))
        room = (min(m, max(x, 0)), min(m, max(width - x - w, 0)),
                min(m, max(y, 0)), min(m, max(height - y - h, 0)))
        return (round(room[0] * sx), round(room[1] * sx), round(room[2] * sy),
                round(room[3] * sy))

    def padded_size(self, output_size: tuple[int, int]) -> tuple[int, int]:
        """The output plus its guard band, output pixels (the render size before the
        render scale)."""
        left, right, top, bottom = self.margins(output_size)
        return output_size[0] + left + right, output_size[1] + top + bottom

    def view(self, output_size: tuple[int, int]) -> tuple[float, float, float, float]:
        """The render rectangle as fractions of the canvas: (x, y, w, h)."""
        left, _, top, _ = self.margins(output_size)
        sx, sy = self.scale(output_size)
        padded = self.padded_size(output_size)
        width, height = self.canvas
        return ((self.rect[0] - left / sx) / width, (self.rect[1] - top / sy) / height,
                padded[0] / sx / width, padded[1] / sy / height)

    def crop(self, output_size: tuple[int, int]) -> tuple[float, float, float, float]:
        """The tile inside the render target, as fractions of it: (x, y, w, h)."""
        left, _, top, _ = self.margins(output_size)
        padded = self.padded_size(output_size)
        return (left / padded[0], top / padded[1], output_size[0] / padded[0],
                output_size[1] / padded[1])

    def layout_size(self, output_size: tuple[int, int]) -> tuple[int, int]:
        """The canvas in output pixels: what the text layer lays out on."""
        sx, sy = self.scale(output_size)
        return round(self.canvas[0] * sx), round(self.canvas[1] * sy)

    def origin(self, output_size: tuple[int, int]) -> tuple[float, float]:
        """The tile's top-left corner on the canvas, output pixels (overlays move by it)."""
        sx, sy = self.scale(output_size)
        return self.rect[0] * sx, self.rect[1] * sy

    def ramps(self, output_size: tuple[int, int]) -> list[tuple[float, float, int]]:
        """The edge-blend ramps as ``(start, length, axis)`` in output pixels: along
        ``axis`` (0 x, 1 y) the weight runs from 0 at ``start`` to 1 at ``start + length``
        (a negative length runs backwards from the right or bottom edge)."""
        sx, sy = self.scale(output_size)
        left, right, top, bottom = self.blend
        width, height = output_size
        out = []
        for overlap, start, sign, axis, s in ((left, 0.0, 1, 0, sx), (right, width, -1, 0, sx),
                                              (top, 0.0, 1, 1, sy), (bottom, height, -1, 1, sy)):
            if overlap > 0:
                out.append((float(start), sign * overlap * s, axis))
        return out


def blend_weight(t, gamma: float):
    """The factor a pixel value is multiplied by at ``t`` (0..1) into a ramp: the light
    weight ``smoothstep(t)`` (two overlapping ramps, ``t`` and ``1 - t``, add up to 1) taken
    through the projector's response, ``weight ** (1 / gamma)``. Works on numpy arrays."""
    import numpy as np

    t = np.clip(np.asarray(t, np.float64), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)) ** (1.0 / gamma)

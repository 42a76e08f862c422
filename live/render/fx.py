"""The fx chain: one resampling pass, trails, one colour matrix, on the generator's device.

Per frame the decoded image (``(1, 3, R, R)``, roughly [-1, 1]) becomes a uint8 canvas
``(H, W, 3)`` in four steps, every one writing into a buffer allocated at start-up:

1. geometry: a single ``grid_sample`` does the upscale to the canvas, the fit/fill crop, zoom,
   rotation, mirroring and the kaleidoscope. Mirror/kaleidoscope folds depend only on their
   settings and are cached; per frame only a 2x2 matrix multiplies the folded coordinates.
2. trails: the previous canvas, zoomed/rotated by another cached-grid sample, is mixed in.
3. colour: hue, saturation, contrast, brightness, master, flash and the [-1, 1] -> [0, 255]
   mapping are folded into one 3x3 matrix plus bias, applied with one ``addmm``.
4. a crossfade from the last frame when a switch (mirror mode, kaleidoscope segments) would cut.
"""

from __future__ import annotations

import math

import torch

from live.params import MIRROR_MODES, Controls

_BILINEAR = 0
_REFLECTION = 2
LUMA = (0.299, 0.587, 0.114)


def _grid_sample_into(image: torch.Tensor, grid: torch.Tensor, out: torch.Tensor) -> None:
    torch.ops.aten.grid_sampler_2d.out(image, grid, _BILINEAR, _REFLECTION, False, out=out)


def colour_matrix(hue_deg: float, saturation: float, contrast: float, gain: float,
                  flash: float) -> tuple[list[list[float]], list[float]]:
    """The 3x3 matrix and bias taking a decoded [-1, 1] pixel to a 0-255 value (pre-clamp)."""
    # hue: rotation about the grey axis (Rodrigues with axis (1,1,1)/sqrt(3))
    angle = math.radians(hue_deg)
    c, s = math.cos(angle), math.sin(angle)
    k = (1.0 - c) / 3.0
    r = s / math.sqrt(3.0)
    hue = [[c + k, k - r, k + r], [k + r, c + k, k - r], [k - r, k + r, c + k]]
    # saturation: mix toward luma
    sat = [[(1 - saturation) * LUMA[j] + (saturation if i == j else 0.0) for j in range(3)]
           for i in range(3)]
    m = [[sum(sat[i][t] * hue[t][j] for t in range(3)) for j in range(3)] for i in range(3)]
    # decoded -> [0, 1]: x01 = 0.5 x + 0.5; contrast about 0.5; gain; flash toward white
    scale = 255.0 * gain * contrast * (1.0 - flash) * 0.5
    matrix = [[scale * m[i][j] for j in range(3)] for i in range(3)]
    row_sums = [sum(m[i]) for i in range(3)]
    bias = [
        255.0 * ((1.0 - flash) * gain * (contrast * (0.5 * row_sums[i] - 0.5) + 0.5) + flash)
        + 0.5  # rounds on the truncating cast to uint8
        for i in range(3)
    ]
    return matrix, bias


class FxChain:
    """Turns decoded images into display-ready uint8 canvases of ``canvas_size`` (w, h)."""

    def __init__(self, canvas_size: tuple[int, int], device: torch.device,
                 dtype: torch.dtype) -> None:
        width, height = canvas_size
        self.canvas_size = canvas_size
        self.device, self.dtype = device, dtype
        aspect = width / height
        opts = {"device": device, "dtype": dtype}
        ys = torch.linspace(-1 + 1 / height, 1 - 1 / height, height, **opts)
        xs = torch.linspace(-1 + 1 / width, 1 - 1 / width, width, **opts) * aspect
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        self._base = torch.stack([grid_x, grid_y], dim=-1)  # (H, W, 2), canvas units
        self._aspect = aspect
        # the source square covers the canvas's longer side (fill); a square canvas is fit
        self._source_scale = 1.0 / max(aspect, 1.0)
        self._folds: dict[tuple[str, int], torch.Tensor] = {}
        self._grid = torch.empty(1, height, width, 2, **opts)
        self._fb_grid = torch.empty(1, height, width, 2, **opts)
        self._matrix2 = torch.empty(2, 2, **opts)
        self._fb_matrix2 = torch.empty(2, 2, **opts)
        self._canvas = torch.empty(1, 3, height, width, **opts)
        self._trail = torch.zeros(1, 3, height, width, **opts)
        self._warped = torch.empty(1, 3, height, width, **opts)
        self._colour = torch.empty(3, height * width, **opts)
        self._fade_from = torch.empty(3, height * width, **opts)
        self._matrix3 = torch.empty(3, 3, **opts)
        self._bias3 = torch.empty(3, 1, **opts)
        self.frame = torch.empty(height, width, 3, dtype=torch.uint8, device=device)
        """The output canvas, (H, W, 3) uint8; rewritten by every ``apply``."""
        self._fold_key: tuple[str, int] | None = None
        self._fade_s = 0.0
        self._fade_elapsed_s = math.inf
        self._spin_deg = 0.0
        self._flash = 0.0
        self._has_trail = False

    # ------------------------------------------------------------------ geometry
    def _folded(self, mirror: str, segments: int) -> torch.Tensor:
        key = (mirror, segments)
        cached = self._folds.get(key)
        if cached is not None:
            return cached
        coords = self._base.clone()
        if segments >= 2:
            x, y = coords[..., 0], coords[..., 1]
            radius = torch.sqrt(x * x + y * y)
            wedge = 2 * math.pi / segments
            angle = torch.remainder(torch.atan2(y, x), wedge)
            angle = torch.where(angle > wedge / 2, wedge - angle, angle)  # mirror inside a wedge
            coords = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=-1)
        if mirror in ("horizontal", "quad"):
            coords[..., 0] = -coords[..., 0].abs()
        if mirror in ("vertical", "quad"):
            coords[..., 1] = -coords[..., 1].abs()
        self._folds[key] = coords.contiguous()
        return self._folds[key]

    @staticmethod
    def _set_rotozoom(matrix: torch.Tensor, degrees: float, scale: float) -> None:
        # grid = coords @ matrix: rotate the sampling points by -degrees (the picture turns by
        # +degrees) and scale them by ``scale``
        a = math.radians(degrees)
        c, s = math.cos(a) * scale, math.sin(a) * scale
        matrix[0, 0], matrix[0, 1], matrix[1, 0], matrix[1, 1] = c, -s, s, c

    def start_fade(self, seconds: float) -> None:
        """Crossfade from the last output to whatever comes next over ``seconds``."""
        if seconds > 0.0:
            self._fade_from.copy_(self._colour)
            self._fade_s = seconds
            self._fade_elapsed_s = 0.0

    def flash(self, strength: float) -> None:
        self._flash = max(self._flash, min(max(strength, 0.0), 1.0))

    # ------------------------------------------------------------------ per frame
    def apply(self, decoded: torch.Tensor, controls: Controls, dt: float) -> torch.Tensor:
        """Run the chain on ``decoded`` (1, 3, R, R); returns ``self.frame`` (H, W, 3) uint8."""
        height, width = self._canvas.shape[-2:]
        mirror = MIRROR_MODES[int(controls["fx.mirror"])]
        segments = int(controls["fx.kaleido"])
        key = (mirror, segments)
        if key != self._fold_key:
            if self._fold_key is not None:
                self.start_fade(controls["fx.crossfade"])
            self._fold_key = key
        folded = self._folded(mirror, segments)

        self._spin_deg = (self._spin_deg + controls["fx.spin"] * dt) % 360.0
        zoom = controls["fx.zoom"]
        self._set_rotozoom(self._matrix2, controls["fx.rotate"] + self._spin_deg,
                           self._source_scale / zoom)
        torch.matmul(folded, self._matrix2, out=self._grid[0])
        _grid_sample_into(decoded.to(self.dtype), self._grid, self._canvas)

        feedback = controls["fx.feedback"]
        if feedback > 1e-3:
            if self._has_trail:
                self._set_rotozoom(self._fb_matrix2, controls["fx.feedback_rotate"],
                                   1.0 / controls["fx.feedback_zoom"])
                # trail coordinates are in the canvas's own normalised units
                torch.matmul(self._base, self._fb_matrix2, out=self._fb_grid[0])
                self._fb_grid[..., 0] /= self._aspect
                _grid_sample_into(self._trail, self._fb_grid, self._warped)
                torch.lerp(self._canvas, self._warped, feedback, out=self._canvas)
            self._trail.copy_(self._canvas)
            self._has_trail = True
        else:
            self._has_trail = False

        if self._flash > 0.0:
            self._flash *= math.exp(-dt / controls["fx.flash_decay"])
            if self._flash < 1e-3:
                self._flash = 0.0
        matrix, bias = colour_matrix(
            controls["fx.hue"], controls["fx.saturation"], controls["fx.contrast"],
            controls["fx.brightness"] * controls["fx.master"], self._flash,
        )
        for i in range(3):
            self._bias3[i, 0] = bias[i]
            for j in range(3):
                self._matrix3[i, j] = matrix[i][j]
        torch.addmm(self._bias3, self._matrix3, self._canvas.view(3, -1), out=self._colour)

        if self._fade_elapsed_s < self._fade_s:
            self._fade_elapsed_s += dt
            progress = min(self._fade_elapsed_s / self._fade_s, 1.0)
            torch.lerp(self._fade_from, self._colour, progress, out=self._colour)

        self._colour.clamp_(0.0, 255.0)
        self.frame.copy_(self._colour.view(3, height, width).permute(1, 2, 0))
        return self.frame

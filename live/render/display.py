"""The window: pygame-ce's GPU texture path (``_sdl2.video``), or the same path headless.

The canvas (small, from the fx chain) is uploaded into one streaming texture and scaled to the
window by the renderer with linear filtering: on a machine with a GPU that is the GPU's
sampler, never a CPU smoothscale at full size. ``--headless`` runs exactly this code against
SDL's dummy video driver (software renderer), so benchmarks include the present.
"""

from __future__ import annotations

import logging
import os

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
os.environ.setdefault("SDL_RENDER_SCALE_QUALITY", "linear")

import pygame  # noqa: E402
from pygame._sdl2 import video  # noqa: E402

from live.config import DisplayConfig  # noqa: E402

log = logging.getLogger(__name__)

_CENTERED_ON_DISPLAY = 0x2FFF0000
"""SDL_WINDOWPOS_CENTERED_DISPLAY(n) is this mask ORed with the display index."""


class DisplayError(RuntimeError):
    """No usable display; the message says what to do instead."""


def init_video(headless: bool) -> None:
    """Initialise SDL video (dummy driver when headless); a clear error when there is none."""
    if headless:
        os.environ["SDL_VIDEODRIVER"] = "dummy"
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    hint = ("on a machine without a screen run `live run --headless` "
            "(add --record out.mp4 to keep the output)")
    chosen_by_user = "SDL_VIDEODRIVER" in os.environ
    try:
        pygame.display.init()
        pygame.font.init()
    except pygame.error as exc:
        raise DisplayError(f"no display available ({exc}); {hint}") from None
    driver = pygame.display.get_driver()
    if not headless and not chosen_by_user and driver in ("offscreen", "dummy"):
        # SDL falls back to an invisible driver when it finds no screen: a show nobody sees
        pygame.display.quit()
        raise DisplayError(f"no display available (SDL found only {driver!r}); {hint}")


class Display:
    """A window + renderer + one streaming texture of the canvas size."""

    def __init__(self, cfg: DisplayConfig, headless: bool = False):
        init_video(headless)
        self.cfg = cfg
        self.headless = headless
        self.fit = cfg.fit
        sizes = pygame.display.get_desktop_sizes() or [cfg.size]
        display_index = cfg.display
        if not 0 <= display_index < len(sizes):
            log.warning("display %d does not exist (%d found): using display 0",
                        display_index, len(sizes))
            display_index = 0
        position = (_CENTERED_ON_DISPLAY | display_index,) * 2
        try:
            self.window = video.Window(cfg.title, size=cfg.size, position=position,
                                       fullscreen_desktop=cfg.fullscreen and not headless)
            self.renderer = video.Renderer(self.window, vsync=cfg.vsync and not headless)
        except pygame.error as exc:
            raise DisplayError(f"cannot open a window ({exc}); try `live run --headless`") from None
        self.renderer.draw_color = (0, 0, 0, 255)
        self._overlays: list[tuple[video.Texture, pygame.Rect]] = []
        self._hud: list[tuple[video.Texture, pygame.Rect]] = []
        self._capture = False
        self.captured: pygame.Surface | None = None
        self._fullscreen = cfg.fullscreen and not headless

    def attach(self, host: np.ndarray) -> None:
        """Show frames from ``host``, an (H, W, 3) uint8 RGB buffer the engine rewrites in place.

        The surface wraps the buffer without copying; ``present`` uploads it to the texture.
        """
        height, width = host.shape[:2]
        self.canvas_size = (width, height)
        self.host = host
        self._surface = pygame.image.frombuffer(host, self.canvas_size, "RGB")
        self.texture = video.Texture(self.renderer, self.canvas_size, streaming=True)
        self._dest = self._dest_rect()

    @property
    def output_size(self) -> tuple[int, int]:
        return tuple(self.window.size)  # type: ignore[return-value]

    def _dest_rect(self) -> pygame.Rect:
        out_w, out_h = self.output_size
        can_w, can_h = self.canvas_size
        pick = min if self.fit == "fit" else max
        scale = pick(out_w / can_w, out_h / can_h)
        w, h = round(can_w * scale), round(can_h * scale)
        return pygame.Rect((out_w - w) // 2, (out_h - h) // 2, w, h)

    def toggle_fullscreen(self) -> None:
        if self.headless:
            return
        if self._fullscreen:
            self.window.set_windowed()
        else:
            self.window.set_fullscreen(desktop=True)
        self._fullscreen = not self._fullscreen
        self._dest = self._dest_rect()

    def set_overlays(self, overlays: list[tuple[video.Texture, pygame.Rect]],
                     hud: list[tuple[video.Texture, pygame.Rect]]) -> None:
        """Textures drawn over the picture in output pixels: ``overlays`` are part of the show
        (snapshots include them), ``hud`` is for the performer only."""
        self._overlays = overlays
        self._hud = hud

    def request_capture(self) -> None:
        """Have the next ``present`` read back the output (without the HUD) into ``captured``."""
        self._capture = True

    def present(self) -> None:
        """Upload ``self.host`` and show it (blocks for vsync when vsync is on)."""
        self.texture.update(self._surface)
        self.renderer.clear()
        self.texture.draw(dstrect=self._dest)
        for texture, rect in self._overlays:
            texture.draw(dstrect=rect)
        if self._capture:
            # read back before present: the back buffer is undefined after it (GPU -> CPU
            # copy, a sync point; only when a snapshot was asked for)
            self.captured = self.renderer.to_surface()
            self._capture = False
        for texture, rect in self._hud:
            texture.draw(dstrect=rect)
        self.renderer.present()

    def poll(self) -> list[pygame.event.Event]:
        events = pygame.event.get()
        for event in events:
            if event.type in (pygame.WINDOWRESIZED, pygame.WINDOWSIZECHANGED):
                self._dest = self._dest_rect()
        return events

    def close(self) -> None:
        self.window.destroy()
        pygame.display.quit()

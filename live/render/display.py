"""The output: a pygame-ce window with an OpenGL 3.3 context, or a headless EGL context.

Both run the same compositor (live/render/compositor.py): headless it draws into an offscreen
framebuffer of the output size, in a window into the window's back buffer, then flips.
``present`` composes a frame, reads it back for a recording (asynchronously, one frame late),
draws the HUD over it and shows it; it also feeds the dynamic render scale.
"""

from __future__ import annotations

import logging
import os

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402

from live.config import DisplayConfig  # noqa: E402
from live.render import glcontext  # noqa: E402
from live.render.compositor import Compositor  # noqa: E402
from live.render.passes import ShaderError  # noqa: E402
from live.render.readback import Readback  # noqa: E402
from live.render.scale import GpuTimer, RenderScale  # noqa: E402
from live.render.sprites import SpriteFactory  # noqa: E402
from live.render.tile import Tile  # noqa: E402

log = logging.getLogger(__name__)


class DisplayError(RuntimeError):
    """No usable display or OpenGL; the message says what to do instead."""


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


def _open_gl_window(cfg: DisplayConfig) -> tuple[int, int]:
    """The window with a 3.3 core context; its size in pixels."""
    pygame.display.gl_set_attribute(pygame.GL_CONTEXT_MAJOR_VERSION, 3)
    pygame.display.gl_set_attribute(pygame.GL_CONTEXT_MINOR_VERSION, 3)
    pygame.display.gl_set_attribute(pygame.GL_CONTEXT_PROFILE_MASK,
                                    pygame.GL_CONTEXT_PROFILE_CORE)
    if hasattr(pygame, "GL_CONTEXT_FORWARD_COMPATIBLE_FLAG"):  # macOS needs it for 3.3 core
        pygame.display.gl_set_attribute(pygame.GL_CONTEXT_FLAGS,
                                        pygame.GL_CONTEXT_FORWARD_COMPATIBLE_FLAG)
    sizes = pygame.display.get_desktop_sizes() or [cfg.size]
    index = cfg.display
    if not 0 <= index < len(sizes):
        log.warning("display %d does not exist (%d found): using display 0", index, len(sizes))
        index = 0
    flags = pygame.OPENGL | pygame.DOUBLEBUF
    size = cfg.size
    if cfg.fullscreen:
        flags |= pygame.FULLSCREEN
        size = sizes[index]
    pygame.display.set_caption(cfg.title)
    try:
        surface = pygame.display.set_mode(size, flags, display=index,
                                          vsync=1 if cfg.vsync else 0)
    except pygame.error as exc:
        try:  # some drivers refuse vsync: a window without it beats no show
            surface = pygame.display.set_mode(size, flags, display=index)
        except pygame.error:
            raise DisplayError(f"cannot open an OpenGL window ({exc}); "
                               f"{glcontext.INSTALL_HINT}; or try `live run --headless`") from None
    return surface.get_size()


class Display:
    """The compositor, its context and what the loop needs around it."""

    def __init__(self, cfg: DisplayConfig, headless: bool = False,
                 render_scale: str | float = "auto", render_scale_min: float = 0.5,
                 output=None) -> None:
        """``output``: the ``[output]`` config, whose ``canvas`` / ``tile`` / ``blend`` make
        this output one tile of a wall (live/render/tile.py); None or untiled: the whole
        picture."""
        init_video(headless)
        self.cfg = cfg
        self.headless = headless
        self._fullscreen = cfg.fullscreen and not headless
        try:
            if headless:
                size = tuple(cfg.size)
                self.ctx = glcontext.standalone()
            else:
                size = _open_gl_window(cfg)
                self.ctx = glcontext.from_window()
        except glcontext.GLContextError as exc:
            pygame.display.quit()
            raise DisplayError(str(exc)) from None
        try:
            tile = Tile.from_config(output) if output is not None else None
            self.compositor = Compositor(self.ctx, size, cfg.fit, screen=not headless,
                                         tile=tile)
        except ShaderError as exc:
            pygame.display.quit()
            raise DisplayError(f"the compositor's shaders do not compile: {exc}") from None
        self.sprites = SpriteFactory(self.ctx)
        """Makes textures of pygame surfaces (text lines, the HUD) on this context."""
        self.sprites.tile = tile
        self.timer = GpuTimer(self.ctx)
        if tile is not None and render_scale == "auto":
            # a wall's tiles must render alike: one node stepping its scale down alone would
            # blur its half of the picture (a fixed number, the same on every node, is fine)
            log.info("display: a tile of a wall renders at a fixed scale 1.0, not \"auto\" "
                     "([display] render_scale: the same number on every node)")
            render_scale = 1.0
        self.scale = RenderScale(render_scale, render_scale_min,
                                 budget_ms=1000.0 / max(self._refresh_hz(), 1.0))
        self.compositor.resize(size, self.scale.scale)
        self.readback = Readback(self.ctx, size)
        self.reading = False
        """Read every frame back (a recording or video out is running)."""
        self.frame: np.ndarray | None = None
        """The newest frame read back (one frame late), when ``reading``; None before."""
        self._capture = False
        self.captured: np.ndarray | None = None
        self.taps: list = []
        """``FrameTap``s (live/render/tap.py) fed every frame: video out, the remote's preview."""
        self.compositor_ms: float | None = None
        self._closed_frame: np.ndarray | None = None
        log.debug("display: %s, GL %s, scale %s", "x".join(map(str, size)),
                  glcontext.renderer_name(self.ctx), render_scale)

    def _refresh_hz(self) -> float:
        if self.headless:
            return 60.0
        try:
            rate = pygame.display.get_current_refresh_rate()
        except (pygame.error, AttributeError):
            rate = 0
        return float(rate or 60)

    @property
    def output_size(self) -> tuple[int, int]:
        return self.compositor.output_size

    @property
    def render_scale(self) -> float:
        return self.compositor.render_scale

    @property
    def gl_renderer(self) -> str:
        return glcontext.renderer_name(self.ctx)

    def upload(self, frame: np.ndarray) -> None:
        """The decoded frame, (R, R, 3) float32 in -1..1 (see ``Compositor.upload``)."""
        self.compositor.upload(frame)

    def request_capture(self) -> None:
        """Have the next ``present`` read back the output (without the HUD) into ``captured``."""
        self._capture = True

    def compose(self, controls, dt: float, overlays=(), hud=(),
                show_s: float | None = None) -> None:
        """Compose a frame, read back what a recording or snapshot needs, draw the HUD
        (``show_s``: the frame's show-clock reading, see ``Compositor.render``)."""
        self.timer.begin()
        self.compositor.render(controls, dt, overlays, hud, before_hud=self._read_back,
                               show_s=show_s)
        self.compositor_ms = self.timer.end()
        scale = self.scale.update(self.compositor_ms)
        if scale != self.compositor.render_scale:
            log.info("render scale %.2f (compositor %.1f ms)", scale, self.compositor_ms or 0)
            self.compositor.resize(self.output_size, scale)

    def present(self) -> None:
        """Show the composed frame (waits for vsync in a window with vsync on)."""
        if not self.headless:
            pygame.display.flip()

    def _read_back(self) -> None:
        framebuffer = self.ctx.screen if not self.headless else self.compositor.output.framebuffer
        flip = not self.headless
        if self._capture:
            # a blocking read (a GPU sync point): snapshots only, a few per show
            data = framebuffer.read(components=3)
            width, height = self.output_size
            frame = np.frombuffer(data, np.uint8).reshape(height, width, 3)
            self.captured = frame[::-1].copy() if flip else frame.copy()
            self._capture = False
        if self.reading:
            self.readback.request(framebuffer, flip)
            self.frame = self.readback.collect()
        else:
            self.frame = None
        for tap in self.taps:
            tap.capture(self.ctx, framebuffer, self.output_size, flip)

    def drain(self) -> np.ndarray | None:
        """The frame still in the read-back ring after the last ``compose`` (None if none)."""
        return self.readback.drain() if self.reading else None

    def toggle_fullscreen(self) -> None:
        if self.headless:
            return
        try:
            pygame.display.toggle_fullscreen()
        except pygame.error as exc:
            log.warning("fullscreen toggle failed: %s", exc)
            return
        self._fullscreen = not self._fullscreen
        self._follow_window_size()

    def _follow_window_size(self) -> None:
        surface = pygame.display.get_surface()
        if surface is None:
            return
        size = surface.get_size()
        if size != self.output_size and size[0] > 0 and size[1] > 0:
            self.compositor.resize(size)
            self.readback.release()
            self.readback = Readback(self.ctx, size)

    def poll(self) -> list[pygame.event.Event]:
        events = pygame.event.get()
        for event in events:
            if event.type in (pygame.WINDOWRESIZED, pygame.WINDOWSIZECHANGED):
                self._follow_window_size()
        return events

    @property
    def host(self) -> np.ndarray:
        """The last composed output, (H, W, 3) uint8, row 0 on top: a blocking read (tests,
        tools), or the copy kept when the display closed."""
        if self._closed_frame is not None:
            return self._closed_frame
        framebuffer = self.ctx.screen if not self.headless else self.compositor.output.framebuffer
        width, height = self.output_size
        frame = np.frombuffer(framebuffer.read(components=3), np.uint8).reshape(height, width, 3)
        return frame if self.headless else frame[::-1]

    def close(self) -> None:
        if self._closed_frame is not None:
            return
        try:
            self._closed_frame = self.host.copy()
            self.readback.release()
            for tap in self.taps:
                tap.release_gl()
            self.compositor.release()
            if self.headless:
                self.ctx.release()  # a window's context goes with the window
        finally:
            pygame.display.quit()

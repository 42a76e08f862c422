"""The compositor: everything after the decode, as shader passes at the output resolution.

Per frame::

    decoded frame (R x R RGBA8, uploaded)
      geometry + bicubic + colour + trails  --neural.frag-->  ping-pong pair   (render size)
      each layer on: generator + blend      --layer.frag--->  the stack        (render size)
      each ISF layer of the scene           --its shader--->  the stack        (render size)
                                              (live/render/isf/stack.py)
      scale, crossfade, master, flash       --output.frag-->  output           (output size)
      text quads, (read back), HUD quads

A tile of a wall (``tile``, live/render/tile.py) renders the same passes in canvas
coordinates over its rectangle of the canvas plus a guard band; the output pass crops the
band off and edge-blend ramps (when configured) multiply the finished output.

Passes are few and fused because on a machine without a GPU Mesa's llvmpipe runs them on the
CPU, where every pass is a sweep over memory (measured at 1280x720 on the 2-core reference
machine: a pass that only samples one texture costs ~5 ms). The render size is the output size
times ``render_scale`` (``live.render.scale`` picks it); only the last pass runs at the output
size. Targets are created when the size changes and reused every frame; uniforms are written
only when they change.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from live.params import BLEND_MODES, LAYER_SLOTS, MIRROR_MODES
from live.render.isf.stack import TEXTURE_SOURCE, IsfStack
from live.render.passes import SHADER_DIR, Pass, ShaderError, Target
from live.render.tile import Tile

log = logging.getLogger(__name__)
LUMA = (0.299, 0.587, 0.114)


def colour_transform(hue_deg: float, saturation: float, contrast: float, gain: float,
                     flash: float) -> tuple[tuple[float, ...], tuple[float, float, float]]:
    """The colour stage as ``matrix`` (3x3, column-major for GLSL's ``mat3``) and ``offset``
    taking a 0..1 pixel to a 0..1 pixel (before the clamp): hue rotation about the grey axis,
    saturation toward luma, contrast about mid grey, gain, then flash toward white."""
    angle = math.radians(hue_deg)
    c, s = math.cos(angle), math.sin(angle)
    k = (1.0 - c) / 3.0
    r = s / math.sqrt(3.0)
    hue = [[c + k, k - r, k + r], [k + r, c + k, k - r], [k - r, k + r, c + k]]
    sat = [[(1 - saturation) * LUMA[j] + (saturation if i == j else 0.0) for j in range(3)]
           for i in range(3)]
    m = [[sum(sat[i][t] * hue[t][j] for t in range(3)) for j in range(3)] for i in range(3)]
    scale = gain * (1.0 - flash)
    rows = [[scale * contrast * m[i][j] for j in range(3)] for i in range(3)]
    offset = scale * 0.5 * (1.0 - contrast) + flash
    column_major = tuple(rows[i][j] for j in range(3) for i in range(3))
    return column_major, (offset, offset, offset)


def rotozoom(degrees: float, scale: float) -> tuple[float, float, float, float]:
    """A GLSL ``mat2`` (column-major) that turns sampling points by ``-degrees`` (the picture
    turns by ``+degrees``) and scales them by ``scale``."""
    a = math.radians(degrees)
    c, s = math.cos(a) * scale, math.sin(a) * scale
    return (c, -s, s, c)


def source_scale(size: tuple[int, int], fit: str) -> float:
    """Canvas units (y from -1 to 1, x scaled by the aspect) to source units: ``fill`` covers
    the output with the square decode (cropping), ``fit`` shows all of it (black beside)."""
    aspect = size[0] / size[1]
    return 1.0 / (max(aspect, 1.0) if fit == "fill" else min(aspect, 1.0))


class Compositor:
    """Owns the passes and targets; ``upload`` a decoded frame, then ``render`` it."""

    def __init__(self, ctx, output_size: tuple[int, int], fit: str = "fill",
                 render_scale: float = 1.0, screen: bool = False,
                 shader_dir: Path = SHADER_DIR, tile: Tile | None = None) -> None:
        import moderngl

        self.ctx = ctx
        self.shader_dir = shader_dir
        self.fit = fit
        self.screen = screen
        """Draw the output into the window's framebuffer (flipped: GL's rows go up)."""
        self._variants: dict[tuple, Pass] = {}
        """Compiled variants of neural.frag / output.frag by their switches (see the shader)."""
        self._last_good: dict[str, Pass] = {}
        self._failed: dict[tuple, str] = {}
        self.shader_error = ""
        """The newest compile error (``file:line: ...``), for the HUD; "" when none."""
        self.quad = Pass(ctx, "quad.frag", vertex="quad.vert", folder=shader_dir)
        self._decoded = None
        self._targets: list[Target] = []
        self.output: Target | None = None
        self.output_size = (0, 0)
        self.render_size = (0, 0)
        self.render_scale = render_scale
        self.tile: Tile | None = None
        """This output's part of a wall's canvas, or None (the whole picture): ``set_tile``."""
        self.view = (0.0, 0.0, 1.0, 1.0)
        """The render targets' rectangle of the canvas, as fractions of it."""
        self.canvas_size = (0.0, 0.0)
        """The whole canvas in render pixels."""
        self.crop = (0.0, 0.0, 1.0, 1.0)
        """The output's rectangle of the render targets, as fractions of them."""
        self._blend_pass: Pass | None = None
        self._tile_wanted = tile
        self.resize(output_size, render_scale)
        self.show_s = 0.0
        """The show time of the frame being drawn (``render``'s ``show_s``, or the sum of its
        ``dt`` when none is given)."""
        self._flash_peak = 0.0
        self._flash_at: float | None = 0.0
        """The show time the last flash started (None: the next frame drawn)."""
        self._flash = 0.0
        """The flash's level in the frame drawn."""
        self._extra = {"fx.spin": 0.0}
        """Per rate (spin, layer speeds): this node's sum of ``value * dt`` beyond the
        controls' exact integral (the modulation on top; the whole rate without one)."""
        self._fade_s = 0.0
        self._fade_from: float | None = None
        """The show time the crossfade started (None: no crossfade)."""
        self._fold_key: tuple[int, int] | None = None
        self._has_trail = False
        self._index = 0
        self._extra.update(dict.fromkeys(
            (f"layer{slot}.speed" for slot in range(1, LAYER_SLOTS + 1)), 0.0))
        self.isf = IsfStack(ctx, self)
        """The scene's ISF layers and transition (live/render/isf/stack.py)."""
        # the passes every frame needs, now: a broken install fails here, before the show
        self._variant("neural.frag", MIRROR=0, KALEIDO=0, FIT=int(fit == "fit"), TRAILS=0)
        self._variant("output.frag", FADE=0)
        ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA

    # ------------------------------------------------------------------ sizes
    def resize(self, output_size: tuple[int, int], render_scale: float | None = None) -> None:
        """New output size or render scale: the targets are made again (not per frame)."""
        if render_scale is not None:
            self.render_scale = render_scale
        scale = self.render_scale
        tile = self._tile_wanted.sized(output_size) if self._tile_wanted is not None else None
        padded = tile.padded_size(output_size) if tile is not None else output_size
        render = (max(16, round(padded[0] * scale)), max(16, round(padded[1] * scale)))
        if output_size == self.output_size and render == self.render_size and \
                tile == self.tile:
            return
        self.tile = tile
        if tile is None:
            self.view, self.crop = (0.0, 0.0, 1.0, 1.0), (0.0, 0.0, 1.0, 1.0)
            self.canvas_size = (float(render[0]), float(render[1]))
        else:
            self.view, self.crop = tile.view(output_size), tile.crop(output_size)
            self.canvas_size = (render[0] / self.view[2], render[1] / self.view[3])
        for target in self._targets:
            target.release()
        ctx = self.ctx
        self.render_size = render
        self.frames = [Target(ctx, render), Target(ctx, render)]
        """The neural pass's output, this frame's and the last (the trails read it)."""
        self.stack = [Target(ctx, render), Target(ctx, render)]
        """The layers composed over the neural one (ping-pong, one pass per layer on)."""
        self.held = Target(ctx, render)
        self._targets = [*self.frames, *self.stack, self.held]
        self._picture = self.frames[0]
        if output_size != self.output_size:
            if self.output is not None:
                self.output.release()
            self.output = Target(ctx, output_size)
            self.output_size = output_size
        for target in self._targets:
            target.clear()
        self._has_trail = False

    def set_tile(self, tile: Tile | None) -> None:
        """Show ``tile`` of a wall's canvas from now on (None: the whole picture); the
        targets are made again for its guard band, and the trail starts afresh."""
        self._tile_wanted = tile
        self.resize(self.output_size)

    def _variant(self, fragment: str, **switches: int) -> Pass:
        """The pass compiled for these switches: once per combination (~20 ms on llvmpipe),
        then cached; ``precompile`` does them before the show."""
        key = (fragment, *sorted(switches.items()))
        program = self._variants.get(key)
        if program is None and key not in self._failed:
            try:
                program = self._variants[key] = Pass(self.ctx, fragment, folder=self.shader_dir,
                                                     defines=switches)
            except ShaderError as exc:
                # the show keeps the chain it had: the last variant of this pass that compiled
                self._failed[key] = self.shader_error = str(exc)
                log.error("shader not compiled, keeping the previous one: %s", exc)
        if program is None:
            program = self._last_good.get(fragment)
            if program is None:  # nothing to fall back to: the compositor cannot run
                raise ShaderError(self._failed[key])
            return program
        self._last_good[fragment] = program
        return program

    def precompile(self) -> None:
        """Compile the variants a show can switch to (mirror modes, kaleidoscope, trails,
        fades) so that the first use of each is not a stalled frame."""
        fit = int(self.fit == "fit")
        for mirror in range(len(MIRROR_MODES)):
            for kaleido in (0, 1):
                for trails in (0, 1):
                    self._variant("neural.frag", MIRROR=mirror, KALEIDO=kaleido, FIT=fit,
                                  TRAILS=trails)
        for fade in (0, 1):
            self._variant("output.frag", FADE=fade)
        for mode in range(len(BLEND_MODES)):
            self._variant("layer.frag", SOURCE=TEXTURE_SOURCE, MODE=mode)

    # ------------------------------------------------------------------ input
    def upload(self, frame: np.ndarray) -> None:
        """The decoded frame with row 0 at the top: (R, R, 4) uint8 RGBA as the engine keeps
        it, or (R, R, 3) floats in -1..1 (converted here: tests and tools). The texture is
        made once per shape and rewritten in place."""
        if frame.dtype != np.uint8:
            rgb = np.clip(frame * 127.5 + 128.0, 0, 255).astype(np.uint8)
            frame = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
        height, width = frame.shape[:2]
        texture = self._decoded
        if texture is None or texture.size != (width, height):
            import moderngl

            if texture is not None:
                texture.release()
            texture = self.ctx.texture((width, height), 4)
            texture.filter = moderngl.LINEAR, moderngl.LINEAR
            texture.repeat_x = texture.repeat_y = False  # taps past the edge repeat it
            self._decoded = texture
        texture.write(frame)

    # ------------------------------------------------------------------ events
    def start_fade(self, seconds: float, transition=None, at_s: float | None = None) -> None:
        """Crossfade from the last finished frame to whatever comes next over ``seconds``
        from show time ``at_s`` (None: the last frame's; a time already past joins the fade
        where it has got to); with ``transition`` (a scene's ISF transition) that shader draws
        the change."""
        if seconds > 0.0:
            self.ctx.copy_framebuffer(self.held.framebuffer, self._picture.framebuffer)
            self._fade_s = seconds
            self._fade_from = at_s if at_s is not None and math.isfinite(at_s) else self.show_s
            self.isf.start(transition)

    def flash(self, strength: float, at_s: float | None = None) -> None:
        """Flash toward white at ``strength`` from show time ``at_s`` (None: the next frame
        drawn), decaying with ``fx.flash_decay``; a weaker flash than the one still showing
        changes nothing."""
        strength = min(max(strength, 0.0), 1.0)
        if strength >= self._flash:
            self._flash_peak = self._flash = strength
            self._flash_at = at_s if at_s is not None and math.isfinite(at_s) else None

    def _integrate(self, controls, name: str, dt: float, timed: bool) -> float:
        """The integral of control ``name`` since the show started. ``timed`` (the engine's
        stepped ``Controls`` and a show clock): the controls' exact integral of the smoothed
        value, a function of show time, plus the modulation on top summed per frame; else the
        value summed per frame."""
        if timed:
            i = controls.registry.index[name]
            self._extra[name] += (controls.value[i] - controls.smoothed[i]) * dt
            return float(controls.total[i]) + self._extra[name]
        self._extra[name] += controls[name] * dt
        return self._extra[name]

    # ------------------------------------------------------------------ per frame
    def render(self, controls, dt: float, overlays=(), hud=(), before_hud=None,
               show_s: float | None = None) -> None:
        """Compose one frame from the last upload into ``self.output`` (or the window).
        ``overlays`` and ``hud`` are ``(Sprite, rect)`` pairs, rects ``(x, y, w, h)`` in output
        pixels; ``before_hud()`` runs after the overlays, before the HUD (read-backs).

        ``show_s``: the frame's show-clock reading (live/showclock.py), given by the engine
        with its stepped ``Controls``: spin, the layers' phases, the flash and ISF ``TIME`` are
        then functions of show time (the same on every node of a show for the same reading).
        Without it they follow the sum of ``dt``."""
        timed = show_s is not None and hasattr(controls, "total")
        self.show_s = show_s if timed else self.show_s + max(dt, 0.0)
        if self._flash_at is None:
            self._flash_at = self.show_s
        mirror = int(controls["fx.mirror"])
        segments = int(controls["fx.kaleido"])
        key = (mirror, segments)
        if key != self._fold_key:
            if self._fold_key is not None:
                self.start_fade(controls["fx.crossfade"])
            self._fold_key = key

        neural = self._neural(controls, dt, mirror, segments, timed)
        picture = self._layers(neural, controls, dt, timed)
        picture = self.isf.render(picture, neural, controls, dt, self.stack)
        self._picture = picture
        self._to_output(picture, controls, dt, overlays, hud, before_hud)

    def _layers(self, picture: Target, controls, dt: float, timed: bool) -> Target:
        """Each layer that is on, composed over the stack in slot order (one pass each)."""
        index = 0
        for slot in range(1, LAYER_SLOTS + 1):
            prefix = f"layer{slot}."
            phase = self._integrate(controls, prefix + "speed", dt, timed)
            source = int(controls[prefix + "source"])
            opacity = controls[prefix + "opacity"]
            if source == 0 or opacity <= 1e-3:
                continue
            mode = int(controls[prefix + "blend"])
            try:
                p = self._variant("layer.frag", SOURCE=source,
                                  MODE=mode if mode < len(BLEND_MODES) else 0)
            except ShaderError:
                continue  # no layer shader ever compiled: the stack goes on without it
            p.set("flip_y", False)
            p.set("canvas_size", self.canvas_size)
            p.set("view", self.view)
            p.set("phase", phase % 3600.0)
            p.set("scale", controls[prefix + "scale"])
            p.set("hue", controls[prefix + "hue"])
            p.set("opacity", opacity)
            out = self.stack[index]
            index ^= 1
            p.bind(below=picture.texture)
            p.draw(out.framebuffer)
            picture = out
        return picture

    def blend_layer(self, below: Target, layer: Target, out: Target, opacity: float,
                    mode: int, alpha: bool = True) -> None:
        """``layer`` over ``below`` into ``out`` at ``opacity`` and blend ``mode`` (an ISF
        layer that is not simply drawn over the stack); with ``alpha`` (generators) mixed by
        its alpha too, else (filters) taken as opaque."""
        try:
            p = self._variant("layer.frag", SOURCE=TEXTURE_SOURCE,
                              MODE=mode if 0 <= mode < len(BLEND_MODES) else 0)
        except ShaderError:
            self.ctx.copy_framebuffer(out.framebuffer, layer.framebuffer)
            return
        p.set("flip_y", False)
        p.set("canvas_size", self.canvas_size)
        p.set("view", self.view)
        p.set("opacity", opacity)
        p.set("layer_alpha", alpha)
        p.bind(below=below.texture, layer_image=layer.texture)
        p.draw(out.framebuffer)

    def _neural(self, controls, dt: float, mirror: int, segments: int, timed: bool) -> Target:
        spin_deg = self._integrate(controls, "fx.spin", dt, timed) % 360.0
        if self._flash > 0.0:
            age = max(self.show_s - self._flash_at, 0.0)
            self._flash = self._flash_peak * math.exp(-age / controls["fx.flash_decay"])
            if self._flash < 1e-3:
                self._flash = 0.0
        # master and flash act on every layer: the output pass applies them
        matrix, offset = colour_transform(
            controls["fx.hue"], controls["fx.saturation"], controls["fx.contrast"],
            controls["fx.brightness"], 0.0)
        amount = controls["fx.feedback"]
        trails = amount > 1e-3
        p = self._variant("neural.frag", MIRROR=mirror if mirror < len(MIRROR_MODES) else 0,
                          KALEIDO=int(segments >= 2), FIT=int(self.fit == "fit"),
                          TRAILS=int(trails and self._has_trail))
        p.set("flip_y", False)
        p.set("canvas_size", self.canvas_size)
        p.set("view", self.view)
        p.set("source_scale", source_scale(self.canvas_size, self.fit))
        p.set("rotozoom", rotozoom(controls["fx.rotate"] + spin_deg,
                                   1.0 / controls["fx.zoom"]))
        p.set("segments", segments)
        p.set("matrix", matrix)
        p.set("offset", offset)
        p.set("trail_amount", amount)
        p.set("trail_rotozoom", rotozoom(controls["fx.feedback_rotate"],
                                         1.0 / controls["fx.feedback_zoom"]))
        self._has_trail = trails
        previous = self.frames[self._index]
        self._index ^= 1
        out = self.frames[self._index]
        if self._decoded is None:
            out.clear()
            return out
        p.bind(decoded=self._decoded, trail=previous.texture)
        p.draw(out.framebuffer)
        return out

    def _to_output(self, picture: Target, controls, dt: float, overlays, hud,
                   before_hud) -> None:
        fade = 1.0
        if self._fade_from is not None:
            fade = min(max(self.show_s - self._fade_from, 0.0) / self._fade_s, 1.0)
            if fade >= 1.0:
                self._fade_from = None
        framebuffer = self.ctx.screen if self.screen else self.output.framebuffer
        if fade < 1.0:
            drawn = self.isf.transition_picture(self.held, picture, fade, dt)
            if drawn is not None:  # the scene's ISF transition drew the change
                picture, fade = drawn, 1.0
        p = self._variant("output.frag", FADE=int(fade < 1.0))
        p.set("flip_y", self.screen)
        p.set("master", controls["fx.master"])
        p.set("flash", self._flash)
        p.set("fade", fade)
        p.set("crop", self.crop)
        if fade < 1.0:
            p.bind(picture=picture.texture, held=self.held.texture)
        else:
            p.bind(picture=picture.texture)
        if self.screen:
            self.ctx.viewport = (0, 0, *self.output_size)
        p.draw(framebuffer)
        # overlays laid out on the canvas (the text layer) are moved by this tile's origin
        self._quads(framebuffer, overlays,
                    self.tile.origin(self.output_size) if self.tile else (0, 0))
        if self.tile is not None and any(self.tile.blend):
            self._edge_blend(framebuffer)
        if before_hud is not None:
            before_hud()
        self._quads(framebuffer, hud)

    def _edge_blend(self, framebuffer) -> None:
        """Multiply each blended edge's strip by its ramp (edgeblend.frag), scissored to it;
        where two strips cross (a corner) the weights multiply."""
        import moderngl

        if self._blend_pass is None:
            self._blend_pass = Pass(self.ctx, "edgeblend.frag", folder=self.shader_dir)
        p = self._blend_pass
        width, height = self.output_size
        p.set("flip_y", self.screen)
        p.set("target_size", (float(width), float(height)))
        p.set("inv_gamma", 1.0 / max(self.tile.gamma, 1e-3))
        self.ctx.enable(moderngl.BLEND)
        self.ctx.blend_func = moderngl.ZERO, moderngl.SRC_COLOR
        try:
            for start, length, axis in self.tile.ramps(self.output_size):
                p.set("ramp", (start, length, float(axis)))
                low, high = sorted((start, start + length))
                low, high = max(0, math.floor(low)), min(math.ceil(high),
                                                         height if axis else width)
                if axis == 0:
                    box = (low, 0, high - low, height)
                else:  # rows counted from the top; the window's GL rows go up
                    row = height - high if self.screen else low
                    box = (0, row, width, high - low)
                framebuffer.scissor = box
                p.draw(framebuffer)
        finally:
            framebuffer.scissor = None
            self.ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
            self.ctx.disable(moderngl.BLEND)

    def _quads(self, framebuffer, quads, origin=(0, 0)) -> None:
        """Draw ``(sprite, rect)`` quads, rects in output pixels less ``origin``."""
        if not quads:
            return
        import moderngl

        p = self.quad
        p.set("target_size", (float(self.output_size[0]), float(self.output_size[1])))
        p.set("flip_y", self.screen)
        self.ctx.enable(moderngl.BLEND)
        for sprite, rect in quads:
            p.set("rect", (float(rect[0] - origin[0]), float(rect[1] - origin[1]),
                           float(rect[2]), float(rect[3])))
            p.set("opacity", sprite.alpha / 255.0)
            color = sprite.color
            p.set("tint", (color[0] / 255.0, color[1] / 255.0, color[2] / 255.0))
            p.bind(image=sprite.texture)
            p.draw(framebuffer)
        self.ctx.disable(moderngl.BLEND)

    def read_output(self) -> np.ndarray:
        """The output as (H, W, 3) uint8, row 0 at the top (a blocking read: tests, snapshots
        of the offscreen target; the show reads back through ``live.render.readback``)."""
        width, height = self.output_size
        data = self.output.framebuffer.read(components=3)
        return np.frombuffer(data, np.uint8).reshape(height, width, 3)

    def release(self) -> None:
        self.isf.release()
        for target in [*self._targets, self.output]:
            if target is not None:
                target.release()
        for p in (*self._variants.values(), self.quad):
            p.release()
        if self._blend_pass is not None:
            self._blend_pass.release()
        if self._decoded is not None:
            self._decoded.release()

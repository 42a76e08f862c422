"""The GPU host for one ISF shader: its program, pass targets, audio textures and uniforms.

One :class:`IsfRenderer` per shader instance on a moderngl context. It compiles the
translated vertex and fragment shader once per pass, with ``PASSINDEX`` a constant in each
(ISF runs one program with a uniform; on Mesa's llvmpipe every pass would then pay for the
texture fetches of every other pass's branch), and per ``render``:

    built-ins, inputs       --uniforms, written only when they change-->  the program
    pass 0 .. n-2           --into their TARGET textures (pass_size)-->   samplers by name
    pass n-1                --into the caller's framebuffer (size)-->     the picture
                              (with a TARGET: into it, then copied there)

Orientation: every texture the host reads or writes keeps row 0 at the top of the picture,
as the compositor's do (``image_uv`` y down). ISF's coordinates have y up, so the translated
source turns y over where the shader meets the pixels (``translate._UPRIGHT``):
``isf_FragNormCoord`` and ``gl_FragCoord`` have y = 1 / RENDERSIZE.y at the picture's top,
and ``IMG_*``, ``texture``, ``textureLod`` and ``texelFetch`` sample row ``1 - y``. A filter
that passes ``inputImage`` through writes it upright, and a generator's "up" is the top.

Targets are made when their size or format changes and reused; a PERSISTENT target is a
ping-pong pair, so its pass reads its own last frame while writing the other texture. A
compile failure raises :class:`~live.render.passes.ShaderError` (``file:line: ...`` in the
user's .fs or .vs), the error the compositor already answers by keeping its previous program.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

import numpy as np

from live.render import isf
from live.render.passes import ShaderError, Target

DEFAULT_AUDIO_SAMPLES = 256
"""Columns of an audio or audioFFT texture whose input gives no MAX."""


def _date_uniform(now: datetime.datetime) -> tuple[float, float, float, float]:
    """ISF's DATE: (year, month, day, seconds since midnight)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return (float(now.year), float(now.month), float(now.day),
            (now - midnight).total_seconds())


def _uniform_value(item: isf.IsfInput, value: object) -> object:
    """``value`` as moderngl writes ``item``'s GLSL type."""
    if isinstance(item, isf.FloatInput):
        return float(value)  # type: ignore[arg-type]
    if isinstance(item, isf.LongInput):
        return int(value)  # type: ignore[call-overload]
    if isinstance(item, (isf.BoolInput, isf.EventInput)):
        return bool(value)
    if isinstance(item, isf.ColorInput):
        channels = [float(c) for c in value]  # type: ignore[attr-defined]
        return tuple((channels + [1.0])[:4]) if len(channels) == 3 else tuple(channels[:4])
    if isinstance(item, isf.Point2DInput):
        return tuple(float(c) for c in value)[:2]  # type: ignore[attr-defined]
    return value


class _PassTarget:
    """A TARGET's textures: one, or two taking turns when persistent (``read`` holds the
    last frame, ``write`` receives this one; ``swap`` after the pass)."""

    def __init__(self, ctx, size: tuple[int, int], dtype: str, persistent: bool) -> None:
        self.size, self.dtype = size, dtype
        self.buffers = [Target(ctx, size, dtype) for _ in range(2 if persistent else 1)]
        for buffer in self.buffers:
            buffer.framebuffer.clear(0.0, 0.0, 0.0, 0.0)

    @property
    def read(self) -> Target:
        return self.buffers[0]

    @property
    def write(self) -> Target:
        return self.buffers[-1]

    def swap(self) -> None:
        self.buffers.reverse()

    def release(self) -> None:
        for buffer in self.buffers:
            buffer.release()


class IsfRenderer:
    """One ISF shader ready to draw: ``render`` every frame, ``release`` at the end."""

    def __init__(self, ctx, shader: isf.IsfShader, per_pass: bool = True) -> None:
        import moderngl

        self.ctx = ctx
        self.shader = shader
        self.compiles = 0
        """Programs compiled by this renderer: one per pass, for its whole life (inputs are
        uniforms)."""
        self.programs: list = []
        self._vaos: list = []
        self._caches: list[dict[str, object]] = []
        """Per program: uniform name -> the value last written."""
        self._program_of = list(range(len(shader.passes))) if per_pass else \
            [0] * len(shader.passes)
        """Pass -> program. ``per_pass=False`` builds ISF's one program with PASSINDEX a
        uniform (``live shaders cost --one-program`` compares the two)."""
        for index in range(len(shader.passes) if per_pass else 1):
            fragment = isf.translate_source(shader, index if per_pass else None)
            vertex = isf.translate_vertex(shader, index if per_pass else None)
            try:
                self.compiles += 1
                program = ctx.program(vertex_shader=vertex.text, fragment_shader=fragment.text)
            except moderngl.Error as exc:
                self.release()
                raise ShaderError(isf.located_errors(str(exc), fragment, vertex)) from None
            self.programs.append(program)
            self._vaos.append(ctx.vertex_array(program, []))
            self._caches.append({})
        self.program = self.programs[0]
        problem = self._read_before_written() if per_pass else ""
        if problem:
            self.release()
            raise ShaderError(problem)
        self._defaults = isf.default_values(shader)
        self._inputs = [item for item in shader.inputs if item.glsl_type != "sampler2D"]
        self._audio_inputs = [item for item in shader.inputs
                              if isinstance(item, isf.AudioInput)]
        sampler_names = [name for name, kind in isf.uniform_declarations(shader).items()
                         if kind == "sampler2D"]
        self._units = {name: unit for unit, name in enumerate(sampler_names)}
        """A texture unit per sampler, fixed for the program's life."""
        self._targets: dict[str, _PassTarget] = {}
        self._audio: dict[str, object] = {}
        self._resample_cache: dict[tuple, object] = {}
        self._copy = None
        """A stretch-copy program, made the first time a persistent target is resized."""
        self.view = (0.0, 0.0, 1.0, 1.0)
        """The part of a wall's canvas the pictures cover (x, y, w, h as fractions, y down;
        live/render/tile.py): coordinates, RENDERSIZE and pass sizes are the canvas's."""
        self._raw = set(isf.raw_samplers(shader))
        self._pending_events: set[str] = set()
        self._shared: dict[str, object] = {}
        """This render's values of the uniforms every pass shares (reused)."""
        self._blank = ctx.texture((1, 1), 4, data=bytes(4))
        """What an image input nobody supplied samples: transparent black."""
        self._imported = {image.name: self._load_image(image) for image in shader.imported}
        for index in range(len(self.programs)):
            for name, unit in self._units.items():
                self._set(index, name, unit)

    def _read_before_written(self) -> str:
        """A pass that samples a TARGET which is not PERSISTENT before (or while) the pass
        that writes it: it would get the last frame's picture, or nothing, which ISF leaves
        undefined. Each program is one pass's (PASSINDEX a constant), so a sampler the
        compiler kept is one that pass really reads."""
        passes = self.shader.passes
        for writer, pass_ in enumerate(passes):
            if not pass_.target or pass_.persistent:
                continue
            for reader in range(writer + 1):
                if pass_.target in self.programs[reader]:
                    when = "in the pass that draws it" if reader == writer else \
                        f"before pass {writer} draws it"
                    return (f"{self.shader.path}:{pass_.line}: pass {reader} reads TARGET "
                            f"{pass_.target!r} {when}, and it is not PERSISTENT (it would "
                            "see last frame's picture or nothing): mark that pass "
                            "\"PERSISTENT\": true, or read it in a later pass")
        return ""

    # ------------------------------------------------------------------ uniforms
    def _set(self, index: int, name: str, value: object) -> None:
        """Write a uniform of pass ``index``'s program when its value changed (each write is
        a GL call); names the compiler removed are skipped."""
        cache = self._caches[index]
        if cache.get(name, _UNSET) == value:
            return
        cache[name] = value
        program = self.programs[index]
        if name in program:
            program[name].value = value

    def trigger(self, name: str) -> None:
        """Fire the event input ``name``: true for the next render only."""
        self._pending_events.add(name)

    # ------------------------------------------------------------------ per frame
    def render(self, target_framebuffer, size: tuple[int, int], values: Mapping[str, object],
               images: Mapping[str, object], time_s: float, dt_s: float, frame_index: int,
               audio: Mapping[str, np.ndarray] | None = None) -> None:
        """Draw every pass; the last one into ``target_framebuffer`` at ``size`` (w, h).

        ``values``: input name -> value (absent: the header's default); an event is true
        for the render whose ``values`` has it true, and for the one after ``trigger``.
        ``images``: image input (or IMPORTED) name -> moderngl texture, row 0 at the top.
        ``audio``: audio / audioFFT input name -> (samples,) or (channels, samples) floats,
        waveform in -1..1, spectrum magnitudes in 0..1; resampled to the input's MAX."""
        import moderngl

        width, height = int(size[0]), int(size[1])
        current = {**self._defaults, **values}
        view = self.view
        tiled = view != (0.0, 0.0, 1.0, 1.0)
        shared = self._shared
        shared.clear()
        shared["isf_view"] = view
        shared["TIME"] = float(time_s)
        shared["TIMEDELTA"] = float(dt_s)
        shared["FRAMEINDEX"] = int(frame_index)
        shared["DATE"] = _date_uniform(datetime.datetime.now())
        for item in self._inputs:
            value = current.get(item.name, False)
            if isinstance(item, isf.EventInput):
                value = bool(value) or item.name in self._pending_events
            shared[item.name] = _uniform_value(item, value)
        self._pending_events.clear()

        textures = {name: images.get(name, self._imported.get(name, self._blank))
                    for name in self._units}
        for name, target in self._targets.items():  # read before written: last frame's
            textures[name] = target.read.texture
        for item in self._audio_inputs:
            textures[item.name] = self._audio_texture(item, (audio or {}).get(item.name))
        last = len(self.shader.passes) - 1
        for index, pass_ in enumerate(self.shader.passes):
            if index == last and not pass_.target:
                framebuffer, pass_size = target_framebuffer, (width, height)
            else:
                if tiled:  # the pass's size on the canvas, then this tile's part of it
                    whole = isf.pass_size(pass_, round(width / view[2]), round(height / view[3]),
                                          current)
                    pass_size = (max(1, round(whole[0] * view[2])),
                                 max(1, round(whole[1] * view[3])))
                else:
                    pass_size = isf.pass_size(pass_, width, height, current)
                target = self._target(pass_, pass_size)
                framebuffer = target.write.framebuffer
                # its own sampler reads the last frame (persistent) or nothing: GL forbids
                # sampling the texture being drawn into
                textures[pass_.target] = (target.read.texture if pass_.persistent
                                          else self._blank)
            program = self._program_of[index]
            for name, value in shared.items():
                self._set(program, name, value)
            self._set(program, "PASSINDEX", index)  # a constant in per-pass programs: skipped
            if tiled:
                self._set(program, "RENDERSIZE", (pass_size[0] / view[2], pass_size[1] / view[3]))
            else:
                self._set(program, "RENDERSIZE", (float(pass_size[0]), float(pass_size[1])))
            for name, texture in textures.items():
                texture.use(self._units[name])
                texture_size = (float(texture.size[0]), float(texture.size[1]))
                if tiled and name not in self._raw:  # a picture of the canvas: its whole size
                    texture_size = (texture_size[0] / view[2], texture_size[1] / view[3])
                self._set(program, f"_{name}_imgSize", texture_size)
                self._set(program, f"_{name}_imgRect", (0.0, 0.0, *texture_size))
            framebuffer.use()
            self.ctx.viewport = (0, 0, *pass_size)
            self._vaos[program].render(mode=moderngl.TRIANGLE_STRIP, vertices=4)
            if pass_.target:
                target.swap()
                textures[pass_.target] = target.read.texture
        if self.shader.passes[-1].target:  # a last pass that feeds itself: show its target
            self.ctx.copy_framebuffer(target_framebuffer, target.read.framebuffer)

    def target_texture(self, name: str):
        """The texture holding TARGET ``name``'s newest contents (None before its first pass):
        for tests and tools."""
        target = self._targets.get(name)
        return None if target is None else target.read.texture

    def _target(self, pass_: isf.IsfPass, size: tuple[int, int]) -> _PassTarget:
        """The pass's target at ``size``: made again only when the size or format changed.
        A persistent target of a new size starts from its last picture, scaled (a render
        scale step must not empty a feedback tunnel); of a new format, cleared."""
        dtype = "f4" if pass_.float_texture else "f1"
        target = self._targets.get(pass_.target)
        if target is None or target.size != size or target.dtype != dtype:
            new = _PassTarget(self.ctx, size, dtype, pass_.persistent)
            if target is not None:
                if pass_.persistent and target.dtype == dtype:
                    self._rescale(target.read.texture, new.read.framebuffer, size)
                target.release()
            target = self._targets[pass_.target] = new
        return target

    def _rescale(self, texture, framebuffer, size: tuple[int, int]) -> None:
        """Draw ``texture`` stretched over ``framebuffer`` (a resized persistent target)."""
        import moderngl

        if self._copy is None:
            program = self.ctx.program(vertex_shader=_COPY_VERTEX, fragment_shader=_COPY_FRAGMENT)
            self._copy = (program, self.ctx.vertex_array(program, []))
        program, vao = self._copy
        texture.use(0)
        program["source"].value = 0
        framebuffer.use()
        self.ctx.viewport = (0, 0, *size)
        vao.render(mode=moderngl.TRIANGLE_STRIP, vertices=4)

    def _load_image(self, image: isf.ImportedImage):
        """An IMPORTED image file as an RGBA8 texture, row 0 at the top (read once)."""
        import pygame

        try:
            surface = pygame.image.load(str(image.path))
        except (pygame.error, OSError) as exc:
            self.release()
            raise ShaderError(f"{self.shader.path}:1: IMPORTED {image.name!r}: {image.path}: "
                              f"{exc}") from None
        texture = self.ctx.texture(surface.get_size(), 4,
                                   data=pygame.image.tobytes(surface, "RGBA"))
        texture.repeat_x = texture.repeat_y = False
        return texture

    def _audio_texture(self, item: isf.AudioInput, signal: np.ndarray | None):
        """An R32F texture, one column per sample and one row per channel, made once per
        shape and rewritten in place; silence when no signal came. A signal of another
        length is resampled (linearly; the weights and buffers are kept for next time)."""
        columns = item.samples or (DEFAULT_AUDIO_SAMPLES if signal is None
                                   else int(np.shape(signal)[-1]))
        if signal is None:
            rows = self._silence(columns)
        else:
            rows = np.atleast_2d(np.asarray(signal, np.float32))
            if rows.shape[1] != columns:
                rows = self._resampled(item.name, rows, columns)
        texture = self._audio.get(item.name)
        if texture is None or tuple(texture.size) != (columns, rows.shape[0]):
            if texture is not None:
                texture.release()
            texture = self.ctx.texture((columns, rows.shape[0]), 1, dtype="f4")
            texture.repeat_x = texture.repeat_y = False
            self._audio[item.name] = texture
        # rows are stored as given: row 0 (the first channel) is the picture's top
        texture.write(np.ascontiguousarray(rows))
        return texture

    def _silence(self, columns: int) -> np.ndarray:
        silence = self._resample_cache.get(("", columns))
        if silence is None:
            silence = self._resample_cache[("", columns)] = np.zeros((1, columns), np.float32)
        return silence

    def _resampled(self, name: str, rows: np.ndarray, columns: int) -> np.ndarray:
        key = (name, rows.shape, columns)
        cached = self._resample_cache.get(key)
        if cached is None:
            at = np.linspace(0.0, rows.shape[1] - 1, columns)
            left = np.floor(at).astype(np.intp)
            right = np.minimum(left + 1, rows.shape[1] - 1)
            weight = (at - left).astype(np.float32)
            shape = (rows.shape[0], columns)
            cached = (left, right, weight, np.empty(shape, np.float32),
                      np.empty(shape, np.float32))
            self._resample_cache[key] = cached
        left, right, weight, out, scratch = cached
        np.take(rows, left, axis=1, out=out)
        np.take(rows, right, axis=1, out=scratch)
        scratch -= out
        scratch *= weight
        out += scratch
        return out

    def release(self) -> None:
        """Free everything (also safe on a renderer whose construction failed midway)."""
        targets, audio = getattr(self, "_targets", {}), getattr(self, "_audio", {})
        for target in targets.values():
            target.release()
        for texture in [*audio.values(), *getattr(self, "_imported", {}).values()]:
            texture.release()
        targets.clear()
        audio.clear()
        if hasattr(self, "_blank"):
            self._blank.release()
        for item in reversed(getattr(self, "_copy", None) or ()):
            item.release()
        for vao in self._vaos:
            vao.release()
        for program in self.programs:
            program.release()
        self._vaos.clear()
        self.programs.clear()


_UNSET = object()
_COPY_VERTEX = """#version 330 core
out vec2 uv;
void main() {
    uv = vec2(gl_VertexID & 1, gl_VertexID >> 1);
    gl_Position = vec4(uv * 2.0 - 1.0, 0.0, 1.0);
}
"""
_COPY_FRAGMENT = """#version 330 core
in vec2 uv;
out vec4 colour;
uniform sampler2D source;
void main() { colour = texture(source, uv); }
"""

"""The ISF layers of the running scene, drawn over the compositor's stack, and its transition.

Per frame, after the built-in layers (live/render/compositor.py)::

    for each [[layer]] of the scene, bottom first, opacity > 0:
      normal blend at full opacity:   shader --(inputImage = stack or neural)--> next stack target
      otherwise:                      shader --> the layer target, layer.frag (blend, opacity)
                                                 --> next stack target
    scene coming in with a transition_shader:
      transition(startImage = the last frame held, endImage = the new picture, progress)
                                      --> the transition target, then the output pass

Programs are compiled on the render thread (GL needs it) and only when a shader is new or
changed: at warm-up for every layer of every scene, after that for a shader edited on disk
(the library's watcher parses it on its own thread and hands it over in ``updates``). A
compile error keeps the program that ran (``shader_error`` says ``file:line`` for the HUD).
Inputs reach the programs as uniforms read from the controls each frame: faders, MIDI and
``[[map]]`` never recompile anything. Events (``layer.NAME.INPUT`` triggers) fire for one
frame. Audio and audioFFT inputs sample the live analysis (``audio``, an AudioScope).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from live.layers import (
    LayerSpec,
    TransitionSpec,
    input_key,
    input_params,
    layer_params,
    library,
)
from live.render import isf
from live.render.passes import ShaderError, Target

log = logging.getLogger(__name__)
TEXTURE_SOURCE = 6
"""layer.frag's SOURCE that samples a texture (an ISF layer's picture)."""


@dataclass
class _Binding:
    """How one frame's values reach one renderer: (input, registry slot or -1, channel,
    fallback) per controllable input, and the dict handed to the renderer (reused)."""

    entries: list[tuple[str, int, int, object, tuple]] = field(default_factory=list)
    values: dict[str, object] = field(default_factory=dict)
    opacity: tuple[int, float] = (-1, 1.0)
    blend: tuple[int, float] = (-1, 0.0)


@dataclass
class _Entry:
    shader: isf.IsfShader
    renderer: object  # IsfRenderer
    binding: _Binding | None = None
    spec: object = None


class IsfStack:
    def __init__(self, ctx, compositor) -> None:
        self.ctx = ctx
        self.compositor = compositor
        self.layers: tuple[LayerSpec, ...] = ()
        """The running scene's layers (set by the engine with the scene; a reference)."""
        self.audio = None
        """An AudioScope with the live waveform and spectrum, or None (silence)."""
        self.updates: dict[Path, isf.IsfShader] = {}
        """Shaders changed on disk, parsed by the watcher thread: path -> new description."""
        self.compiles = 0
        self.errors: dict[Path, str] = {}
        self._entries: dict[tuple[str, Path], _Entry] = {}
        self._newest: dict[Path, isf.IsfShader] = {}
        self._failed: dict[int, isf.IsfShader] = {}
        """Shader descriptions that did not compile, by id() (not tried again)."""
        self._layer_target: Target | None = None
        self._transition_target: Target | None = None
        self._transition_entry: _Entry | None = None
        self.transition: TransitionSpec | None = None
        """The transition of the fade now running (``start``), or None: a crossfade."""
        self._pending: dict[str, set[str]] = {}
        """Event inputs triggered since the last frame, by layer name: fired in the layer's
        renderer when it is drawn this frame, dropped when it is not (hidden, absent)."""
        self.time_s = 0.0
        self.frame_index = 0
        self._images: dict[str, object] = {}
        self._audio_values: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ programs
    def _compile(self, shader: isf.IsfShader):
        """A renderer for ``shader``, or None when it does not compile (error kept)."""
        from live.render.isf.host import IsfRenderer

        if id(shader) in self._failed:
            return None
        try:
            renderer = IsfRenderer(self.ctx, shader)
        except ShaderError as exc:
            self._failed[id(shader)] = shader
            self.errors[shader.path] = str(exc)
            self.compositor.shader_error = str(exc)
            log.error("ISF shader not compiled, keeping the previous one: %s", exc)
            return None
        self.compiles += 1
        if self.errors.pop(shader.path, None) is not None and not self.errors:
            self.compositor.shader_error = ""
        return renderer

    def _entry(self, key: tuple[str, Path], shader: isf.IsfShader) -> _Entry | None:
        """The compiled layer for ``key``; compiled now if new, rebuilt if its shader file
        changed (the old program stays when the new one fails)."""
        newest = self._newest.setdefault(key[1], shader)
        entry = self._entries.get(key)
        if entry is not None and entry.shader is newest:
            return entry
        renderer = self._compile(newest)
        if renderer is None:
            return entry
        if entry is not None:
            entry.renderer.release()
        entry = self._entries[key] = _Entry(newest, renderer)
        return entry

    def precompile(self, layers) -> None:
        """Compile ``(name, shader)`` pairs (every scene's layers) before the show."""
        for name, shader in layers:
            self._entry((name, shader.path), shader)

    def take_updates(self) -> None:
        """Render thread: adopt shaders the watcher re-parsed (compiled when next drawn)."""
        while self.updates:
            path, shader = self.updates.popitem()
            self._newest[path] = shader
            log.info("ISF shader %s changed: recompiling", path)

    # ------------------------------------------------------------------ bindings
    def _bind(self, entry: _Entry, spec: LayerSpec, controls) -> _Binding:
        """Where each input's value comes from: the registry slot of its parameter when the
        show has one, else the scene's value, else the shader's default."""
        index = controls.registry.index
        binding = _Binding()

        def source(param) -> tuple[int, object]:
            # the scene's value as the parameter's slot holds it (an enum by name or by
            # index both become the index), for a layer whose faders the show lacks
            fallback = spec.values.get(param.name, param.default)
            if param.kind in ("enum", "float", "int"):
                fallback = param.clamp(fallback)
            return index.get(param.name, -1), fallback

        for param, name, channel in input_params(spec.name, entry.shader):
            slot, fallback = source(param)
            menu = tuple(getattr(entry.shader.input(name), "values", ()))
            binding.entries.append((name, slot, channel, fallback, menu))
        for name, value in isf.default_values(entry.shader).items():
            binding.values[name] = list(value) if isinstance(value, tuple) else value
        opacity, blend = layer_params(spec.name, entry.shader)[:2]
        binding.opacity, binding.blend = source(opacity), source(blend)
        entry.binding, entry.spec = binding, spec
        return binding

    @staticmethod
    def _read(binding: _Binding, controls) -> None:
        """This frame's values into ``binding.values`` (in place)."""
        value_of = controls.value
        values = binding.values
        for name, slot, channel, fallback, menu in binding.entries:
            number = value_of[slot] if slot >= 0 else fallback
            if channel >= 0:
                values[name][channel] = float(number)
            elif menu:
                values[name] = menu[min(max(int(number), 0), len(menu) - 1)]
            else:
                values[name] = number

    def trigger(self, param_name: str) -> bool:
        """A ``layer.NAME.INPUT`` trigger: fire that event input at the next frame."""
        parts = param_name.split(".")
        if len(parts) != 3 or parts[0] != "layer":
            return False
        layer, key = parts[1], parts[2]
        name = key[4:] if key.startswith("isf_") and key[4:] in ("opacity", "blend") else key
        self._pending.setdefault(layer, set()).add(name)
        return True

    # ------------------------------------------------------------------ per frame
    def _target(self, attribute: str, size: tuple[int, int]) -> Target:
        target = getattr(self, attribute)
        if target is None or target.size != size:
            if target is not None:
                target.release()
            target = Target(self.ctx, size)
            setattr(self, attribute, target)
        return target

    def _audio(self, shader: isf.IsfShader):
        if not any(isinstance(item, isf.AudioInput) for item in shader.inputs):
            return None
        scope = self.audio
        out = self._audio_values
        for item in shader.inputs:
            if isinstance(item, isf.AudioInput):
                if scope is None:
                    out.pop(item.name, None)
                else:
                    out[item.name] = (scope.spectrum if isinstance(item, isf.AudioFFTInput)
                                      else scope.waveform)
        return out

    def render(self, picture: Target, neural: Target, controls, dt: float,
               stack: list[Target]) -> Target:
        """Draw the scene's layers over ``picture``; returns the new top of the stack."""
        if self.updates:
            self.take_updates()
        self.time_s = self.compositor.show_s  # ISF TIME: show time (the same on every node)
        self.frame_index += 1
        layers = self.layers
        if not layers:
            self._pending.clear()
            return picture
        size = picture.size
        for spec in layers:
            key = (spec.name, spec.path)
            entry = self._entries.get(key)
            if entry is None or entry.spec is not spec:
                # a scene (re)loaded: its parse is the file's newest, unless the library has
                # read the file again since (a scene parsed before an edit, brought in after)
                if spec.shader is not self._newest.get(spec.path) and \
                        library().is_current(spec.shader):
                    self._newest[spec.path] = spec.shader
            entry = self._entry(key, spec.shader)
            if entry is None:
                continue  # never compiled: the stack goes on without it
            binding = entry.binding if entry.spec is spec else self._bind(entry, spec, controls)
            slot, fallback = binding.opacity
            opacity = float(controls.value[slot]) if slot >= 0 else fallback
            if opacity <= 1e-3:
                continue
            slot, fallback = binding.blend
            mode = int(controls.value[slot] if slot >= 0 else fallback)
            self._read(binding, controls)
            events = self._pending.get(spec.name)
            if events:
                for name in events:
                    entry.renderer.trigger(name)
            images = self._images
            images.clear()
            source = neural if spec.input == "neural" else picture
            for item in entry.shader.inputs:
                if type(item) is isf.ImageInput:
                    images[item.name] = (source if item.name == "inputImage" else neural).texture
            out = stack[0] if picture is not stack[0] else stack[1]
            direct = entry.shader.kind == "filter" and mode == 0 and opacity >= 0.999
            into = out if direct else self._target("_layer_target", size)
            entry.renderer.view = self.compositor.view  # a tile's part of the canvas
            entry.renderer.render(into.framebuffer, size, binding.values, images, self.time_s,
                                  dt, self.frame_index, self._audio(entry.shader))
            if not direct:
                self.compositor.blend_layer(picture, into, out, opacity, mode,
                                            alpha=entry.shader.kind != "filter")
            picture = out
        if self._pending:  # events of layers not drawn this frame do not wait for them
            self._pending.clear()
        return picture

    # ------------------------------------------------------------------ transitions
    def start(self, transition: TransitionSpec | None) -> None:
        """The next fade uses ``transition`` (None: the output pass's crossfade)."""
        self.transition = transition
        if transition is None:
            return
        key = ("", transition.shader.path)  # "" is never a layer name
        entry = self._entry(key, transition.shader)
        self._transition_entry = entry
        if entry is not None and entry.spec is not transition:
            values = isf.default_values(entry.shader)
            values.update(transition.values)
            entry.binding = _Binding(values=values)
            entry.spec = transition

    def transition_picture(self, held: Target, picture: Target, progress: float,
                           dt: float) -> Target | None:
        """The transition's frame at ``progress`` (None when no transition shader runs)."""
        entry = self._transition_entry
        if self.transition is None or entry is None:
            return None
        values = entry.binding.values
        values["progress"] = progress
        images = self._images
        images.clear()
        for item in entry.shader.inputs:
            if type(item) is isf.ImageInput:
                images[item.name] = (held if item.name == "startImage" else picture).texture
        out = self._target("_transition_target", picture.size)
        entry.renderer.view = self.compositor.view
        entry.renderer.render(out.framebuffer, picture.size, values, images, self.time_s, dt,
                              self.frame_index, self._audio(entry.shader))
        return out

    def release(self) -> None:
        for entry in self._entries.values():
            entry.renderer.release()
        self._entries.clear()
        for target in (self._layer_target, self._transition_target):
            if target is not None:
                target.release()


def describe_layer(spec: LayerSpec) -> str:
    """``glow: bloom (filter on stack)`` for logs and the HUD."""
    what = spec.shader.kind + (f" on {spec.input}" if spec.shader.kind == "filter" else "")
    return f"{spec.name}: {spec.shader.name} ({what})"


__all__ = ["IsfStack", "TEXTURE_SOURCE", "describe_layer", "input_key"]

"""ISF shaders as scene layers and transitions, and each shader input as a registry parameter.

A scene stacks layers over the neural one with ``[[layer]]`` tables::

    [[layer]]
    name = "glow"            # OSC: /live/layer/glow/<input>, /live/layer/glow/opacity
    shader = "bloom"         # a .fs by name (the scene's folder first), or a path to one
    input = "stack"          # a filter's inputImage: "stack" (every layer below) or "neural"
    opacity = 1.0
    blend = "normal"         # normal, add, screen, multiply, difference
    threshold = 0.45         # any other key sets the shader input of that name

and may bring itself in with an ISF transition: ``transition_shader = "luma_wipe"``.

Every input becomes a parameter ``layer.<name>.<input>`` with the header's range, default
and label (a colour ``.r .g .b .a``, a point ``.x .y``, a menu an enum of its LABELS, an
event a trigger), beside ``layer.<name>.opacity`` and ``layer.<name>.blend``; a shader input
itself called ``opacity`` or ``blend`` is ``isf_opacity`` / ``isf_blend`` there. The registry
of a show is the fixed one plus these, built once at start from every scene in the scenes
folder (``show_registry``), so OSC, OSCQuery, the TouchOSC layout, MIDI learn, ``[[map]]``
and the HUD know them. Layer names are show-wide: two scenes with a layer ``glow`` share
its faders. A layer added while the show runs (a scene saved with a new one) is drawn with
the scene's values and defaults; its faders appear at the next start (logged).

Shader files are read and parsed here, off the render thread (scene loads, the library's
watcher); the render thread only compiles (live/render/isf/stack.py).
"""

from __future__ import annotations

import logging
import re
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from live.params import BLEND_MODES, REGISTRY, Param, Registry
from live.render import isf

log = logging.getLogger(__name__)

LAYER_NAME = re.compile(r"[a-z][a-z0-9_]{0,23}\Z")
LAYER_INPUTS = ("stack", "neural")
LAYER_KEYS = ("name", "shader", "input", "opacity", "blend")
"""Keys of a ``[[layer]]`` table that are the layer's own; every other key is a shader input."""
MAX_LAYERS = 8
"""Layers per scene (each is one or two passes over the picture per frame)."""
RESERVED_INPUTS = ("opacity", "blend")


class LayerError(ValueError):
    """A layer or transition that cannot be used; the message starts with ``file:line``."""


@dataclass(frozen=True)
class LayerSpec:
    """One ``[[layer]]`` of a scene, checked: its shader parsed, its values in range."""

    name: str
    shader: isf.IsfShader = field(repr=False)
    input: str = "stack"
    values: dict[str, Any] = field(default_factory=dict)
    """Registry name (``layer.glow.threshold``) -> the scene's value, opacity and blend too."""

    @property
    def path(self) -> Path:
        return self.shader.path


@dataclass(frozen=True)
class TransitionSpec:
    shader: isf.IsfShader = field(repr=False)
    values: dict[str, Any] = field(default_factory=dict)
    """Input name -> value (``progress``, ``startImage`` and ``endImage`` are the host's)."""


# ---------------------------------------------------------------------------------- library
class ShaderLibrary:
    """Finds shaders by name and keeps each file parsed, read again when it changes.

    ``folders`` are searched in order after the scene's own folder (``[paths] shaders``,
    ``[paths] isf``, the standard ISF locations: live.render.isf.library.shader_folders).
    ``load`` may be called from any thread but the render thread; ``changed`` (the watcher
    thread) re-parses files whose (mtime, size, inode) moved and held still for one poll, and
    hands the new description, or the error, to ``on_change``.
    """

    def __init__(self, folders: list[Path]) -> None:
        self.folders = list(folders)
        self._cache: dict[Path, tuple[tuple, isf.IsfShader]] = {}
        self._moving: dict[Path, tuple] = {}
        self._lock = threading.Lock()

    def resolve(self, name: str, scene_dir: Path | None = None) -> Path:
        """The file for ``name`` (a stem such as ``bloom``, or a path ending ``.fs``)."""
        if name.endswith(".fs"):
            path = Path(name).expanduser()
            if not path.is_absolute() and scene_dir is not None:
                path = scene_dir / path
            if path.is_file():
                return path
            raise LayerError(f"shader file {name!r} not found")
        if not re.fullmatch(r"[A-Za-z0-9_. -]{1,64}", name) or ".." in name:
            raise LayerError(f"shader {name!r}: a name (letters, digits, _ - . and spaces) "
                             "or a path ending in .fs")
        folders = ([scene_dir] if scene_dir is not None else []) + self.folders
        for folder in folders:
            path = folder / f"{name}.fs"
            if path.is_file():
                return path
        searched = ", ".join(str(f) for f in folders) or "no folder"
        raise LayerError(f"no shader {name!r} in {searched}")

    def load(self, path: Path) -> isf.IsfShader:
        """The parsed shader (``IsfError`` when it cannot be used), re-read only when the
        file changed."""
        key = _stat_key(path)
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        shader = isf.load_isf(path)
        with self._lock:
            self._cache[path] = (key, shader)
        return shader

    def is_current(self, shader: isf.IsfShader) -> bool:
        """False only when this library has parsed ``shader``'s file again since (a newer
        description exists); True for its newest, and for files it never read."""
        with self._lock:
            cached = self._cache.get(shader.path)
        return cached is None or cached[1] is shader

    def changed(self) -> list[tuple[Path, isf.IsfShader | None, str]]:
        """Files loaded before that changed on disk since: ``(path, shader, "")`` or
        ``(path, None, error)``; a file is read once its key held for one call."""
        with self._lock:
            known = {path: key for path, (key, _) in self._cache.items()}
        out = []
        for path, key in known.items():
            now = _stat_key(path)
            if now == key:
                self._moving.pop(path, None)
                continue
            if self._moving.get(path) != now:  # still being written: look again next poll
                self._moving[path] = now
                continue
            self._moving.pop(path, None)
            try:
                out.append((path, self.load(path), ""))
            except isf.IsfError as exc:
                with self._lock:  # report it once, not every poll
                    self._cache[path] = (now, self._cache[path][1])
                out.append((path, None, str(exc)))
        return out


def _stat_key(path: Path) -> tuple:
    """What tells a changed shader: (mtime, size, inode) of the ``.fs`` and of a ``.vs``
    beside it (a vertex shader edited alone reloads too)."""
    key: tuple = ()
    for file in (path, path.with_suffix(".vs")):
        try:
            info = file.stat()
        except OSError:
            key += ((0,),)
            continue
        key += ((info.st_mtime_ns, info.st_size, info.st_ino),)
    return key


_LIBRARY: ShaderLibrary | None = None


def library() -> ShaderLibrary:
    """The show's shader library (``use_library``); the project's ``shaders/`` and the
    standard ISF folders until a configuration says otherwise."""
    global _LIBRARY
    if _LIBRARY is None:
        from live.config import PROJECT_DIR
        from live.render.isf.library import shader_folders

        _LIBRARY = ShaderLibrary(shader_folders(PROJECT_DIR / "shaders"))
    return _LIBRARY


def use_library(cfg) -> ShaderLibrary:
    """Make the configured folders the show's library (``live run``, ``live bench``); the
    library already in use when they are the same, so what it parsed is not parsed again
    and every part of the show holds the same descriptions of a file."""
    global _LIBRARY
    from live.render.isf.library import shader_folders

    folders = shader_folders(cfg.path("shaders"), cfg.paths.isf)
    if _LIBRARY is None or _LIBRARY.folders != folders:
        _LIBRARY = ShaderLibrary(folders)
    return _LIBRARY


# ---------------------------------------------------------------------------------- params
def _channel_range(item, index: int, lo: float, hi: float) -> tuple[float, float]:
    minimum, maximum = getattr(item, "minimum", None), getattr(item, "maximum", None)
    return (minimum[index] if minimum else lo), (maximum[index] if maximum else hi)


def input_key(name: str) -> str:
    """The registry key of a shader input inside its layer (``opacity`` -> ``isf_opacity``)."""
    return f"isf_{name}" if name in RESERVED_INPUTS else name


def input_params(layer: str, shader: isf.IsfShader) -> list[tuple[Param, str, int]]:
    """``(param, input name, channel)`` for each controllable input (channel -1: the whole
    value; 0..3 a colour's or point's component)."""
    out: list[tuple[Param, str, int]] = []
    prefix = f"layer.{layer}."
    for item in shader.inputs:
        name = prefix + input_key(item.name)
        label = item.label or item.name
        what = f"{label} ({shader.name} on layer {layer})"
        if isinstance(item, isf.FloatInput):
            out.append((Param(name, "float", item.default, item.minimum, item.maximum, "", 0.15,
                              what), item.name, -1))
        elif isinstance(item, isf.LongInput):
            if item.values:
                choices = tuple(_choice_names(item))
                default = choices[item.values.index(item.default)] \
                    if item.default in item.values else choices[0]
                out.append((Param(name, "enum", default, 0, len(choices) - 1, "", 0.0, what,
                                  choices), item.name, -1))
            else:
                out.append((Param(name, "int", item.default, item.minimum, item.maximum, "",
                                  0.0, what), item.name, -1))
        elif isinstance(item, isf.BoolInput):
            out.append((Param(name, "bool", item.default, 0, 1, "", 0.0, what), item.name, -1))
        elif isinstance(item, isf.EventInput):
            out.append((Param(name, "trigger", 0.0, 0.0, 1.0, "", 0.0, what + ": fire"),
                        item.name, -1))
        elif isinstance(item, (isf.ColorInput, isf.Point2DInput)):
            channels = "rgba" if isinstance(item, isf.ColorInput) else "xy"
            for index, channel in enumerate(channels):
                if isinstance(item, isf.ColorInput):
                    lo, hi = _channel_range(item, index, 0.0, 1.0)
                else:
                    value = item.default[index]
                    # a point without a range: pixels or 0..1, whichever its default suggests
                    span = 1.0 if abs(value) <= 1.0 else 2.0 * abs(value)
                    lo, hi = _channel_range(item, index, min(0.0, value), max(span, value))
                default = min(max(item.default[index], lo), hi)
                out.append((Param(f"{name}.{channel}", "float", default, lo, hi, "", 0.15,
                                  f"{what} {channel}"), item.name, index))
    return out


def _choice_names(item: isf.LongInput) -> list[str]:
    """Menu entries as enum choices: the LABELS, made unique, else the VALUES as text."""
    names = []
    for i, value in enumerate(item.values):
        label = item.labels[i] if i < len(item.labels) and item.labels[i] else str(value)
        while label in names:
            label += "'"
        names.append(label)
    return names


def layer_params(spec_name: str, shader: isf.IsfShader) -> list[Param]:
    """Every parameter of a layer: its opacity and blend, then its shader's inputs."""
    return [
        Param(f"layer.{spec_name}.opacity", "float", 1.0, 0.0, 1.0, "", 0.2,
              f"opacity of layer {spec_name} ({shader.name})"),
        Param(f"layer.{spec_name}.blend", "enum", "normal", 0, len(BLEND_MODES) - 1, "", 0.0,
              f"how layer {spec_name} combines with the layers below it", BLEND_MODES),
        *(param for param, _, _ in input_params(spec_name, shader)),
    ]


def transition_params(shader: isf.IsfShader) -> dict[str, Param]:
    """A transition's own inputs (not progress) as checkable params, by input name."""
    return {name: param for param, name, channel in input_params("transition", shader)
            if name != "progress" and channel < 0}


# ---------------------------------------------------------------------------------- scenes
def parse_layers(raw: Any, text: str, path: Path, shaders: ShaderLibrary | None = None,
                 check_value=None) -> tuple[LayerSpec, ...]:
    """The ``[[layer]]`` tables of a scene; every problem a ``LayerError`` at its line."""
    shaders = shaders or library()
    headers = [n for n, line in enumerate(text.splitlines(), start=1)
               if re.match(r"^\s*\[\[\s*layer\s*\]\]", line)]
    if not isinstance(raw, list) or not all(isinstance(v, dict) for v in raw):
        raise LayerError(f"{path}:{headers[0] if headers else 1}: layer must be "
                         "[[layer]] tables")
    if len(raw) > MAX_LAYERS:
        raise LayerError(f"{path}:{headers[MAX_LAYERS] if len(headers) > MAX_LAYERS else 1}: "
                         f"at most {MAX_LAYERS} layers in a scene")
    specs: list[LayerSpec] = []
    for i, table in enumerate(raw):
        line = headers[i] if i < len(headers) else 1
        where = f"{path}:{line}"
        specs.append(_parse_layer(table, where, path, shaders, check_value))
        if [s.name for s in specs].count(specs[-1].name) > 1:
            raise LayerError(f"{where}: a second layer named {specs[-1].name!r}")
    return tuple(specs)


def _parse_layer(table: dict, where: str, path: Path, shaders: ShaderLibrary,
                 check_value) -> LayerSpec:
    name = table.get("name")
    if not isinstance(name, str) or not LAYER_NAME.match(name):
        raise LayerError(f"{where}: layer name must be 1-24 of a-z 0-9 _ starting with a "
                         f"letter (it is the OSC address /live/layer/NAME), got {name!r}")
    shader = _load_shader(table.get("shader"), path, shaders, f"{where}: layer {name}: ",
                          "shader")
    if shader.kind == "transition":
        raise LayerError(f"{where}: layer {name}: {shader.name} is a transition; use it as "
                         "the scene's transition_shader")
    source = table.get("input", "stack")
    if source not in LAYER_INPUTS:
        raise LayerError(f"{where}: layer {name}: input must be one of "
                         f"{', '.join(LAYER_INPUTS)}, got {source!r}")
    params = {p.name: p for p in layer_params(name, shader)}
    by_key = {input_key(item.name): item for item in shader.inputs}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in ("name", "shader", "input"):
            continue
        full = f"layer.{name}.{key}"
        item = by_key.get(key)
        if isinstance(item, (isf.ColorInput, isf.Point2DInput)):
            channels = "rgba" if isinstance(item, isf.ColorInput) else "xy"
            if not isinstance(value, list) or not 1 <= len(value) <= len(channels):
                raise LayerError(f"{where}: layer {name}: {key} must be a list of up to "
                                 f"{len(channels)} numbers ({', '.join(channels)})")
            for channel, number in zip(channels, value, strict=False):  # up to all of them
                values[f"{full}.{channel}"] = _checked(params[f"{full}.{channel}"], number,
                                                       where, check_value)
            continue
        if full not in params:
            known = [k for k in (*LAYER_KEYS, *by_key) if k not in ("name", "shader")]
            raise LayerError(f"{where}: layer {name}: {shader.name} has no input {key!r} "
                             f"(known: {', '.join(known)})")
        values[full] = _checked(params[full], value, where, check_value)
    return LayerSpec(name, shader, source, values)


def _checked(param: Param, value: Any, where: str, check_value) -> Any:
    if param.kind == "trigger":
        raise LayerError(f"{where}: {param.name} is an event and has no value to set")
    if check_value is None:
        try:
            param.clamp(value)
        except ValueError as exc:
            raise LayerError(f"{where}: {exc}") from None
        return value
    try:
        return check_value(param, value, where)
    except ValueError as exc:  # SceneError: already file:line
        raise LayerError(str(exc)) from None


def _load_shader(name: Any, scene: Path, shaders: ShaderLibrary, where: str,
                 key: str) -> isf.IsfShader:
    """The shader a scene names (found from the scene's folder), or ``LayerError`` starting
    with ``where`` (``key`` names the scene's key in the message)."""
    if not isinstance(name, str):
        raise LayerError(f"{where}{key} must be a shader name or .fs path")
    try:
        return shaders.load(shaders.resolve(name, scene.parent))
    except (LayerError, isf.IsfError) as exc:
        raise LayerError(f"{where}{': ' if not key else ''}{exc}") from None


def parse_transition(name: Any, raw_values: Any, line: int, path: Path,
                     shaders: ShaderLibrary | None = None) -> TransitionSpec:
    """A scene's ``transition_shader`` (and ``transition_inputs``, an inline table)."""
    shaders = shaders or library()
    where = f"{path}:{line}"
    shader = _load_shader(name, path, shaders, f"{where}: transition_shader", "")
    if shader.kind != "transition":
        raise LayerError(f"{where}: transition_shader: {shader.name} is a {shader.kind}, not "
                         "a transition (startImage, endImage and progress)")
    params = transition_params(shader)
    channels = {(name, channel): param for param, name, channel
                in input_params("transition", shader) if channel >= 0}
    known = sorted({*params, *(name for name, _ in channels)})
    values: dict[str, Any] = {}
    for key, value in (raw_values or {}).items():
        item = shader.input(key)
        if isinstance(item, (isf.ColorInput, isf.Point2DInput)):
            size = 4 if isinstance(item, isf.ColorInput) else 2
            if not isinstance(value, list) or not 1 <= len(value) <= size:
                raise LayerError(f"{where}: transition_inputs: {key} must be a list of up to "
                                 f"{size} numbers")
            checked = [_transition_value(channels[(key, i)], item, v, where)
                       for i, v in enumerate(value)]
            values[key] = tuple(float(v) for v in checked) + tuple(item.default[len(checked):])
            continue
        if key not in params:
            raise LayerError(f"{where}: transition_inputs: {shader.name} has no input {key!r} "
                             f"(known: {', '.join(known) or 'none'})")
        values[key] = _transition_value(params[key], item, value, where)
    return TransitionSpec(shader, values)


def _transition_value(param: Param, item: isf.IsfInput, value: Any, where: str) -> Any:
    """A ``transition_inputs`` value checked as a scene's values are (the right kind, inside
    the range: it reaches the uniform as written), as its uniform takes it: a menu's label
    or index becomes the entry of its VALUES."""
    from dataclasses import replace

    from live.scenes import check_value

    shown = replace(param, name="transition_inputs." + param.name.split(".", 2)[2])
    value = _checked(shown, value, where, check_value)
    if param.kind == "enum" and isinstance(item, isf.LongInput):
        return item.values[int(shown.clamp(value))]
    return value


# ---------------------------------------------------------------------------------- registry
def scan_scene_layers(scenes_dir: Path, shaders: ShaderLibrary | None = None
                      ) -> list[tuple[str, isf.IsfShader]]:
    """``(layer name, shader)`` of every layer in every scene file, in file order, and
    ``("", shader)`` for each ``transition_shader``: the show's registry and the
    programs compiled at warm-up. A scene whose layers cannot be read is skipped here
    (loading it later reports why)."""
    from live.safeio import SCENE_MAX_BYTES, FileReadError, read_text

    found: list[tuple[str, isf.IsfShader]] = []
    if not scenes_dir.is_dir():
        return found
    for path in sorted(scenes_dir.glob("*.toml")):
        try:
            text = read_text(path, SCENE_MAX_BYTES)
            raw = tomllib.loads(text)
            specs = parse_layers(raw["layer"], text, path, shaders) if "layer" in raw else ()
            found.extend((spec.name, spec.shader) for spec in specs)
            if "transition_shader" in raw:
                spec = parse_transition(raw["transition_shader"], raw.get("transition_inputs"),
                                        1, path, shaders)
                found.append(("", spec.shader))
        except (FileReadError, tomllib.TOMLDecodeError, LayerError) as exc:
            log.debug("layers of %s not scanned: %s", path, exc)
    return found


def show_registry(scenes_dir: Path, shaders: ShaderLibrary | None = None,
                  extra: list[tuple[str, isf.IsfShader]] = ()) -> Registry:
    """The fixed registry plus the parameters of every scene's layers (and ``extra``).
    The first scene to define a parameter sets its range: a layer name used with another
    shader elsewhere adds the inputs that one has, and a differing range is logged."""
    params: dict[str, Param] = {p.name: p for p in REGISTRY}
    found = [*scan_scene_layers(scenes_dir, shaders), *extra]
    for name, shader in found:
        if shader.kind == "transition":
            continue
        for param in layer_params(name, shader):
            known = params.get(param.name)
            if known is None:
                params[param.name] = param
            elif (known.kind, known.lo, known.hi, known.choices) != \
                    (param.kind, param.lo, param.hi, param.choices):
                log.warning("%s: %s on layer %s differs from an earlier scene's; the first "
                            "one's range is used", shader.path, param.name, name)
    return Registry(params.values(), found)

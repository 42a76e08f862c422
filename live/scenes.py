"""Scene files: a look (model + base values of registry parameters) in ``scenes/*.toml``.

A scene names its model and sets parameters by section, the section being the parameter's
prefix::

    model = "default-gan"
    description = "slow loop, warm colours"

    [walk]
    mode = "loop"
    speed = 0.5

    [fx]
    hue = 20.0

Every key is checked against the parameter registry; an error names ``file:line`` and the key.
"""

from __future__ import annotations

import logging
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from live.params import Registry
from live.safeio import SCENE_MAX_BYTES, FileReadError, read_text

log = logging.getLogger(__name__)

TOP_LEVEL_KEYS = {"model": str, "description": str, "text_model": str, "transition": float,
                  "transition_beats": int, "quantize": bool, "transition_shader": str}
"""Keys outside any table, with their types."""


class SceneError(ValueError):
    """A scene that cannot be used; the message starts with ``file:line``."""


@dataclass(frozen=True)
class Scene:
    name: str
    path: Path | None
    model: str = "default-gan"
    description: str = ""
    text_model: str = "default-rnn"
    """The char-RNN that types the live text (``text.visible`` shows it)."""
    values: dict[str, Any] = field(default_factory=dict)
    """Registry parameter name -> base value."""
    midi_maps: tuple[str, ...] = ()
    """MIDI maps of this scene (``[midi] maps = [...]``), checked when the mapper loads them."""
    maps: tuple = ()
    """Modulation maps (``[[map]]`` tables): sources moving parameters (live.modulation)."""
    transition: float = 2.0
    """Seconds the picture crossfades when this scene comes in."""
    transition_beats: int = 0
    """When above 0: the crossfade lasts this many beats at the current tempo instead."""
    quantize: bool = True
    """Wait for the next bar before switching, while a tempo source (audio, Link) is active."""
    layers: tuple = ()
    """ISF layers over the neural one, bottom first (``[[layer]]``: live.layers.LayerSpec)."""
    transition_spec: Any = None
    """The ISF transition this scene comes in with (``transition_shader``), or None: a
    crossfade."""

    def transition_s(self, bpm: float) -> float:
        if self.transition_beats > 0 and bpm > 0:
            return self.transition_beats * 60.0 / bpm
        return self.transition


def list_scenes(scenes_dir: Path) -> list[str]:
    return sorted(p.stem for p in scenes_dir.glob("*.toml")) if scenes_dir.is_dir() else []


def _line_of(text: str, section: str | None, key: str) -> int:
    """Best-effort 1-based line of ``key`` (inside ``[section]``) in the TOML ``text``."""
    lines = text.splitlines()
    in_section = section is None
    key_pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
    for number, line in enumerate(lines, start=1):
        header = re.match(r"^\s*\[([^\]]+)\]", line)
        if header:
            in_section = header.group(1).strip() == section
            if section is not None and in_section and key == "":
                return number
            continue
        if in_section and key_pattern.match(line):
            return number
    return 1


def _error_line(message: str, text: str) -> int:
    """The line a ``tomllib`` error points at; "at end of document" (a file cut mid-token)
    is the last line of the text, not line 1."""
    match = re.search(r"line (\d+)", message)
    if match:
        return int(match.group(1))
    if "end of document" in message:
        return max(1, len(text.splitlines()))
    return 1


def read_scene_text(path: Path) -> str:
    """A scene file's text through the capped reader (``SceneError`` with ``file:1``)."""
    try:
        return read_text(path, SCENE_MAX_BYTES)
    except FileReadError as exc:
        raise SceneError(f"{path}:1: cannot read: {exc.reason}") from None


def check_value(param, value: Any, where: str) -> Any:
    """``value`` if a scene (or ``--set``) may set ``param`` to it, else ``SceneError``
    starting with ``where``: the right kind, a known choice, inside the range, finite."""
    name = param.name
    if param.kind == "trigger":
        raise SceneError(f"{where}: {name} is a trigger and has no value to set")
    if isinstance(value, bool) != (param.kind == "bool"):
        raise SceneError(f"{where}: {name} expects a {param.kind}, got {value!r}")
    try:
        param.clamp(value)
    except ValueError as exc:
        raise SceneError(f"{where}: {exc}") from None
    if param.kind in ("float", "int") and not param.lo <= value <= param.hi:  # NaN fails too
        unit = f" {param.unit}" if param.unit else ""
        raise SceneError(f"{where}: {name} = {value!r} is outside its range "
                         f"{param.lo:g} to {param.hi:g}{unit}")
    return value


def parse_scene(text: str, path: Path, registry: Registry) -> Scene:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SceneError(f"{path}:{_error_line(str(exc), text)}: invalid TOML: {exc}") from None
    values: dict[str, Any] = {}
    top: dict[str, Any] = {}
    midi_maps: tuple[str, ...] = ()
    maps: tuple = ()
    layers: tuple = ()
    transition_spec = None
    from live import layers as layers_mod

    for key, value in raw.items():
        if key == "map":
            maps = _parse_maps(value, text, path, registry)
            continue
        if key == "layer":
            try:
                layers = layers_mod.parse_layers(value, text, path, check_value=check_value)
            except layers_mod.LayerError as exc:
                raise SceneError(str(exc)) from None
            for spec in layers:  # set on the bus where the show has the layer's faders
                values.update(spec.values)
            continue
        if key == "transition_inputs":
            if not isinstance(value, dict):
                raise SceneError(f"{path}:{_line_of(text, None, key)}: transition_inputs must "
                                 "be a table of the transition shader's inputs")
            continue
        if not isinstance(value, dict):
            if key not in TOP_LEVEL_KEYS:
                raise SceneError(f"{path}:{_line_of(text, None, key)}: unknown key {key!r} "
                                 f"(top-level keys: {', '.join(TOP_LEVEL_KEYS)})")
            kind = TOP_LEVEL_KEYS[key]
            ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value, ok = float(value), True
            if not ok or (kind in (int, float) and value < 0):
                name = {str: "a string", float: "seconds (a number >= 0)",
                        int: "a whole number >= 0", bool: "true or false"}[kind]
                raise SceneError(f"{path}:{_line_of(text, None, key)}: {key} must be {name}, "
                                 f"got {value!r}")
            top[key] = value
            continue
        if key == "midi":
            maps = value.get("maps", [])
            extra = sorted(set(value) - {"maps"})
            where = f"{path}:{_line_of(text, key, extra[0] if extra else 'maps')}"
            if extra:
                raise SceneError(f"{where}: unknown key midi.{extra[0]} (known: maps)")
            if not isinstance(maps, list) or not all(isinstance(m, str) for m in maps):
                raise SceneError(f"{where}: midi.maps must be a list of strings")
            from live.control.midi import MidiMapError, parse_maps

            try:
                parse_maps(maps, registry)
            except MidiMapError as exc:
                raise SceneError(f"{where}: {exc}") from None
            midi_maps = tuple(maps)
            continue
        for sub, sub_value in value.items():
            name = f"{key}.{sub}"
            where = f"{path}:{_line_of(text, key, sub)}"
            if name not in registry:
                raise SceneError(f"{where}: unknown parameter {name!r}")
            values[name] = check_value(registry[name], sub_value, where)
    if "transition_shader" in top or "transition_inputs" in raw:
        line = _line_of(text, None, "transition_shader" if "transition_shader" in top
                        else "transition_inputs")
        if "transition_shader" not in top:
            raise SceneError(f"{path}:{line}: transition_inputs without transition_shader")
        try:
            transition_spec = layers_mod.parse_transition(
                top["transition_shader"], raw.get("transition_inputs"), line, path)
        except layers_mod.LayerError as exc:
            raise SceneError(str(exc)) from None
    return Scene(path.stem, path, top.get("model", "default-gan"), top.get("description", ""),
                 top.get("text_model", "default-rnn"), values, midi_maps, maps,
                 top.get("transition", 2.0), top.get("transition_beats", 0),
                 top.get("quantize", True), layers, transition_spec)


def _parse_maps(value: Any, text: str, path: Path, registry: Registry) -> tuple:
    """The ``[[map]]`` tables; an error names the line of the offending table's header."""
    from live.modulation import ModulationError, parse_map

    headers = [n for n, line in enumerate(text.splitlines(), start=1)
               if re.match(r"^\s*\[\[\s*map\s*\]\]", line)]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise SceneError(f"{path}:{headers[0] if headers else 1}: map must be [[map]] tables")
    maps = []
    for i, table in enumerate(value):
        line = headers[i] if i < len(headers) else 1
        try:
            maps.append(parse_map(table, registry))
        except ModulationError as exc:
            raise SceneError(f"{path}:{line}: {exc}") from None
    return tuple(maps)


def load_scene(name: str, scenes_dir: Path, registry: Registry) -> Scene:
    """A scene by name (``scenes_dir/<name>.toml``) or path; unknown names list the known ones."""
    path = Path(name)
    if not (path.suffix == ".toml" and path.exists()):
        path = scenes_dir / f"{name}.toml"
    if not path.exists():
        known = ", ".join(list_scenes(scenes_dir)) or "none"
        raise SceneError(f"unknown scene {name!r} in {scenes_dir.resolve()} (known: {known})")
    return parse_scene(read_scene_text(path), path, registry)


SCENE_TRIGGERS = ("scene.next", "scene.prev", "scene.go")
KEEP_ON_SWITCH = ("show.", "tempo.", "midi.")
"""Parameter prefixes a scene switch leaves alone (recording, tempo, learn state)."""


class SceneDeck:
    """Switches scenes from triggers, on a worker thread, so the render loop never reads files.

    ``scene.next`` / ``scene.prev`` step through the scene files in alphabetical order;
    ``scene.go`` takes a name or a number. Only names of files that exist in the scenes folder
    are accepted, so a message can never point the loader anywhere else (no paths, no ``..``).
    A switch publishes the scene's values to the bus (parameters the scene leaves out return to
    their defaults, except ``show.*``, ``tempo.*`` and ``midi.*``); float parameters then glide
    there with their smoothing. A scene that fails to load leaves the current one running and
    its ``file:line`` error is logged and kept in ``last_error``.
    """

    def __init__(self, scenes_dir: Path, bus, current: Scene, on_switch=None, apply=None,
                 watch_s: float = 0.2) -> None:
        import queue
        import threading

        self.scenes_dir = scenes_dir
        self.bus = bus
        self.registry = bus.registry
        self.current = current
        self.on_switch = on_switch
        self.apply = apply
        """``apply(scene, values, reload, at_s)`` takes a loaded scene to the show (the control
        surface hands it to the engine, with its model; ``at_s``: the show time the switch was
        stamped for, or None); without it values go to the bus."""
        self.watch_s = watch_s
        self.pollers: list = []
        """Callables run on this thread every poll (the shader library's watcher)."""
        self.reloads = 0
        self._file_key = _stat_key(current.path)
        self._changing: tuple = ()
        self.last_error = ""
        self.dropped = 0
        self._requests: queue.Queue = queue.Queue(maxsize=8)
        self._thread = threading.Thread(target=self._run, name="scenes", daemon=True)
        self._thread.start()

    def handle(self, event) -> None:
        """Engine thread: queue a switch (never blocks; a full queue drops and counts)."""
        if event.name not in SCENE_TRIGGERS:
            return
        try:
            at_s = getattr(event, "at_s", math.nan)
            self._requests.put_nowait((event.name, event.text,
                                       at_s if math.isfinite(at_s) else None))
        except Exception:
            self.dropped += 1

    def close(self) -> None:
        try:
            self._requests.put_nowait(None)
        except Exception:
            pass
        self._thread.join(timeout=2.0)

    def target(self, kind: str, text: str) -> str:
        """The scene name a request points at; ``SceneError`` when there is none."""
        names = list_scenes(self.scenes_dir)
        if not names:
            raise SceneError(f"no scene files in {self.scenes_dir}")
        here = names.index(self.current.name) if self.current.name in names else -1
        if kind == "scene.next":
            return names[(here + 1) % len(names)]
        if kind == "scene.prev":
            return names[(here - 1) % len(names)] if here >= 0 else names[-1]
        text = text.strip()
        # ASCII digits only: str.isdigit() also takes "²", which int() then refuses
        if re.fullmatch(r"-?[0-9]{1,9}", text):
            index = int(text)
            if not 0 <= index < len(names):
                raise SceneError(f"scene number {index} out of range (0-{len(names) - 1})")
            return names[index]
        if text not in names:
            shown = text if len(text) <= 64 else text[:64] + "..."
            raise SceneError(f"unknown scene {shown!r} (known: {', '.join(names)})")
        return text

    def switch(self, name: str, at_s: float | None = None) -> Scene:
        """Load ``name`` and take it to the show (worker thread, or tests); ``at_s``: the
        show time the switch was stamped for (a cluster's, live/showclock.py)."""
        scene = load_scene(name, self.scenes_dir, self.registry)
        self._take(scene, reload=False, at_s=at_s)
        return scene

    def _take(self, scene: Scene, reload: bool, at_s: float | None = None) -> None:
        values = scene_values(scene, self.registry)
        if self.apply is not None:
            self.apply(scene, values, reload, at_s)
        else:
            for param_name, value in values.items():
                self.bus.set(param_name, value)
        self.current = scene
        self._file_key = _stat_key(scene.path)
        self.last_error = ""
        log.info("scene %s: %s", "reloaded" if reload else "switched to", scene.name)
        if self.on_switch is not None:
            self.on_switch(scene)

    def check_reload(self) -> bool:
        """Apply the current scene's file again if it changed on disk; a broken file keeps
        the running scene and reports ``file:line``. Returns True when it reloaded."""
        path = self.current.path
        key = _stat_key(path)
        if path is None or key == self._file_key:
            return False
        if key != self._changing:
            # an editor's save is a truncate and a write, often inside one tick of the file
            # system's clock: read the file only once it has looked the same for a whole poll
            self._changing = key
            return False
        self._file_key = key
        try:
            scene = parse_scene(read_scene_text(path), path, self.registry)
        except SceneError as exc:
            self.last_error = str(exc)
            log.error("scene not reloaded, the old one keeps running: %s", exc)
            return False
        self.reloads += 1
        dropped = sorted(set(self.current.values) - set(scene.values))
        self._take(scene, reload=True)
        if dropped:
            # a save cut at a line boundary is valid TOML that has simply lost lines: say so
            # (the HUD shows it like an error, so a half-written save is noticed)
            self.last_error = (f"{path}: no longer sets {', '.join(dropped)}; "
                               "back to their defaults")
            log.warning("scene %s reloaded: %s", scene.name, self.last_error)
        return True

    def _run(self) -> None:
        import queue

        while True:
            try:
                request = self._requests.get(timeout=self.watch_s)
            except queue.Empty:
                try:
                    self.check_reload()
                except Exception:
                    log.exception("scene reload failed")
                for poll in self.pollers:
                    try:
                        poll()
                    except Exception:
                        log.exception("watching files failed")
                continue
            if request is None:
                return
            try:
                kind, text, at_s = request
                self.switch(self.target(kind, text), at_s)
            except SceneError as exc:
                self.last_error = str(exc)
                log.error("scene not switched: %s", exc)
            except Exception as exc:  # never lose the scenes thread
                self.last_error = str(exc)
                log.exception("scene switch failed")


def scene_values(scene: Scene, registry: Registry) -> dict[str, Any]:
    """Every parameter a scene sets when it comes in: its own values, and the defaults for
    what it leaves out (except ``show.*``, ``tempo.*`` and ``midi.*``)."""
    return {param.name: scene.values.get(param.name, param.default) for param in registry
            if param.kind != "trigger" and not param.name.startswith(KEEP_ON_SWITCH)}


def _stat_key(path: Path | None) -> tuple:
    """What tells a changed file: modification time, size and inode (a save that truncates
    and writes within one clock tick keeps the time but not the size; a rename-over save
    keeps neither the inode)."""
    try:
        info = path.stat() if path is not None else None
    except OSError:
        return (0,)
    return (0,) if info is None else (info.st_mtime_ns, info.st_size, info.st_ino)


def check_scene(path: Path, registry: Registry, models_dir: Path) -> list[str]:
    """Problems with one scene file as ``file:line: ...`` lines (empty when it is fine): its
    syntax, keys, values and maps (a ``SceneError`` for the first of those), then whether
    the models it names exist."""
    text = read_scene_text(path)
    scene = parse_scene(text, path, registry)
    problems = []
    from live.store import ModelError, read_meta, resolve

    for key, name, kinds in (("model", scene.model, ("gan", "vae")),
                             ("text_model", scene.text_model, ("char-rnn",))):
        try:
            kind = read_meta(resolve(name, models_dir)).get("kind")
        except ModelError as exc:
            problems.append(f"{path}:{_line_of(text, None, key)}: {key}: {exc}")
            continue
        if kind not in kinds:
            problems.append(f"{path}:{_line_of(text, None, key)}: {key}: {name} is a {kind} "
                            f"model, not {' or '.join(kinds)}")
    return problems

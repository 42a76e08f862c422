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
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from live.params import Registry

log = logging.getLogger(__name__)

TOP_LEVEL_KEYS = ("model", "description", "text_model")


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


def parse_scene(text: str, path: Path, registry: Registry) -> Scene:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise SceneError(f"{path}:{match.group(1) if match else 1}: invalid TOML: {exc}") from None
    values: dict[str, Any] = {}
    top: dict[str, str] = {}
    midi_maps: tuple[str, ...] = ()
    maps: tuple = ()
    for key, value in raw.items():
        if key == "map":
            maps = _parse_maps(value, text, path, registry)
            continue
        if not isinstance(value, dict):
            if key not in TOP_LEVEL_KEYS:
                raise SceneError(f"{path}:{_line_of(text, None, key)}: unknown key {key!r} "
                                 f"(top-level keys: {', '.join(TOP_LEVEL_KEYS)})")
            if not isinstance(value, str):
                raise SceneError(f"{path}:{_line_of(text, None, key)}: {key} must be a string")
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
            param = registry[name]
            if param.kind == "trigger":
                raise SceneError(f"{where}: {name} is a trigger and has no value to set")
            if isinstance(sub_value, bool) != (param.kind == "bool"):
                raise SceneError(f"{where}: {name} expects a {param.kind}, got {sub_value!r}")
            try:
                param.clamp(sub_value)
            except ValueError as exc:
                raise SceneError(f"{where}: {exc}") from None
            values[name] = sub_value
    return Scene(path.stem, path, top.get("model", "default-gan"), top.get("description", ""),
                 top.get("text_model", "default-rnn"), values, midi_maps, maps)


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
        raise SceneError(f"unknown scene {name!r} in {scenes_dir} (known: {known})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SceneError(f"{path}:1: cannot read: {exc}") from None
    return parse_scene(text, path, registry)


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

    def __init__(self, scenes_dir: Path, bus, current: Scene, model: str = "",
                 on_switch=None) -> None:
        import queue
        import threading

        self.scenes_dir = scenes_dir
        self.bus = bus
        self.registry = bus.registry
        self.current = current
        self.model = model or current.model
        self.on_switch = on_switch
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
            self._requests.put_nowait((event.name, event.text))
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
        if text.lstrip("-").isdigit():
            index = int(text)
            if not 0 <= index < len(names):
                raise SceneError(f"scene number {index} out of range (0-{len(names) - 1})")
            return names[index]
        if text not in names:
            shown = text if len(text) <= 64 else text[:64] + "..."
            raise SceneError(f"unknown scene {shown!r} (known: {', '.join(names)})")
        return text

    def switch(self, name: str) -> Scene:
        """Load ``name`` and publish its values (worker thread, or tests)."""
        scene = load_scene(name, self.scenes_dir, self.registry)
        if scene.model != self.model:
            log.warning("scene %s uses model %s; this show runs %s and switching models "
                        "while running is not supported yet: its values apply to %s",
                        scene.name, scene.model, self.model, self.model)
        for param in self.registry:
            if param.kind == "trigger" or param.name.startswith(KEEP_ON_SWITCH):
                continue
            self.bus.set(param.name, scene.values.get(param.name, param.default))
        self.current = scene
        self.last_error = ""
        log.info("scene: %s", scene.name)
        if self.on_switch is not None:
            self.on_switch(scene)
        return scene

    def _run(self) -> None:
        while True:
            request = self._requests.get()
            if request is None:
                return
            try:
                self.switch(self.target(*request))
            except SceneError as exc:
                self.last_error = str(exc)
                log.error("scene not switched: %s", exc)
            except Exception as exc:  # never lose the scenes thread
                self.last_error = str(exc)
                log.exception("scene switch failed")

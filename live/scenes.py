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

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from live.params import Registry

TOP_LEVEL_KEYS = ("model", "description")


class SceneError(ValueError):
    """A scene that cannot be used; the message starts with ``file:line``."""


@dataclass(frozen=True)
class Scene:
    name: str
    path: Path | None
    model: str = "default-gan"
    description: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    """Registry parameter name -> base value."""


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
    for key, value in raw.items():
        if not isinstance(value, dict):
            if key not in TOP_LEVEL_KEYS:
                raise SceneError(f"{path}:{_line_of(text, None, key)}: unknown key {key!r} "
                                 f"(top-level keys: {', '.join(TOP_LEVEL_KEYS)})")
            if not isinstance(value, str):
                raise SceneError(f"{path}:{_line_of(text, None, key)}: {key} must be a string")
            top[key] = value
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
                 values)


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

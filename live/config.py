"""Machine and venue settings: config.toml loaded into frozen dataclasses.

Every section is a frozen dataclass whose fields carry their defaults; the TOML file may leave
any key out. A key the dataclass does not declare, a wrong type, or a value outside a field's
allowed choices is a ``ConfigError`` naming the file, the key and what was expected, so a typo
in a venue's config never silently falls back to a default. ``--set section.key=value``
overrides are applied to the parsed TOML before validation and go through the same checks.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names file and key."""


@dataclass(frozen=True)
class DisplayConfig:
    size: tuple[int, int] = (1280, 720)
    fullscreen: bool = False
    display: int = 0
    vsync: bool = True
    fit: Literal["fit", "fill"] = "fill"
    title: str = "live"
    hud: bool = False


@dataclass(frozen=True)
class EngineConfig:
    device: str = "auto"
    precision: Literal["auto", "fp32", "fp16"] = "auto"
    threads: int = 0
    render_scale: Literal["auto"] | float = "auto"
    """The compositor's internal size as a fraction of the output: "auto" or a number."""
    render_scale_min: float = 0.5
    pipeline: Literal["auto", "on", "off"] = "auto"
    max_fps: float = 0.0
    compile: Literal["auto", "on", "off"] = "auto"


@dataclass(frozen=True)
class ShowConfig:
    scene: str = "default"
    model: str = ""
    seed: int = 0
    watchdog_s: float = 10.0


@dataclass(frozen=True)
class PathsConfig:
    models: str = "models"
    scenes: str = "scenes"
    snapshots: str = "snapshots"
    recordings: str = "recordings"
    state: str = "state.json"
    cluster_state: str = "cluster-state.json"
    shaders: str = "shaders"
    isf: tuple[str, ...] = ()
    """More folders of ISF shaders (beside shaders/ and the standard ISF locations)."""


@dataclass(frozen=True)
class RecordConfig:
    fps: float = 60.0
    codec: str = "libx264"
    quality: int = 18
    queue_frames: int = 8


PRIVATE_NETWORKS = (
    "127.0.0.0/8", "::1/128",  # this machine
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # private IPv4 (RFC 1918)
    "169.254.0.0/16", "fc00::/7", "fe80::/10",  # link-local, unique-local IPv6
)


@dataclass(frozen=True)
class OscConfig:
    enabled: bool = True
    host: str = "0.0.0.0"
    port: int = 8000
    feedback_port: int = 9000
    feedback_targets: tuple[str, ...] = ()
    feedback_hz: float = 30.0
    client_timeout_s: float = 300.0
    allow: tuple[str, ...] = PRIVATE_NETWORKS
    max_string: int = 256
    allow_quit: bool = False


@dataclass(frozen=True)
class OscQueryConfig:
    enabled: bool = True
    port: int = 8001
    zeroconf: bool = True


@dataclass(frozen=True)
class OutputConfig:
    ndi: bool = False
    ndi_name: str = "live"
    syphon: bool = False
    spout: bool = False
    fps: float = 60.0
    queue_frames: int = 3
    canvas: tuple[int, int] = (0, 0)
    tile: tuple[int, int, int, int] = (0, 0, 0, 0)
    blend: tuple[int, int, int, int] = (0, 0, 0, 0)
    blend_gamma: float = 2.2
    guard: int = 64
    """A tile's guard band, canvas pixels: rendered around it where the canvas goes on, then
    cropped off (live/render/tile.py); larger keeps trails and filters continuous further."""


@dataclass(frozen=True)
class RemoteConfig:
    enabled: bool = True
    pin: str = ""
    preview_fps: float = 5.0
    preview_width: int = 480
    preview_quality: int = 70
    max_clients: int = 8
    listen_hz: float = 30.0


@dataclass(frozen=True)
class ClusterConfig:
    role: Literal["solo", "leader", "follower"] = "solo"
    leader: str = ""
    port: int = 8010
    delay_frames: int = 2
    frame_rate: float = 60.0
    zeroconf: bool = True
    save_s: float = 1.0


@dataclass(frozen=True)
class MidiConfig:
    enabled: bool = True
    device: str = ""
    maps: tuple[str, ...] = ()
    pickup: bool = True


@dataclass(frozen=True)
class AudioConfig:
    enabled: bool = True
    device: str = ""
    samplerate: int = 48000
    blocksize: int = 256
    latency: str = "low"
    osc_out: str = ""


@dataclass(frozen=True)
class TempoConfig:
    follow_audio: bool = True
    link: bool = False
    link_quantum: int = 4


@dataclass(frozen=True)
class Config:
    display: DisplayConfig = field(default_factory=DisplayConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    show: ShowConfig = field(default_factory=ShowConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    record: RecordConfig = field(default_factory=RecordConfig)
    osc: OscConfig = field(default_factory=OscConfig)
    oscquery: OscQueryConfig = field(default_factory=OscQueryConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    remote: RemoteConfig = field(default_factory=RemoteConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    tempo: TempoConfig = field(default_factory=TempoConfig)
    midi: MidiConfig = field(default_factory=MidiConfig)
    source: str = "<defaults>"
    """Where this config came from (a file path), for messages; not a TOML key."""
    params: tuple[tuple[str, Any], ...] = ()
    """Show parameters set with ``--set walk.speed=2`` for this run (name, value), checked
    against the registry; they go over the starting scene's values. Not a TOML key."""

    def path(self, kind: Literal["models", "scenes", "snapshots", "recordings", "state",
                                 "cluster_state", "shaders"]) -> Path:
        """A configured folder: relative paths are resolved against the config file's folder;
        without a config file, against the current folder when it has the folder, else the
        project's own folder (so the shipped scenes and models are found from anywhere)."""
        p = Path(getattr(self.paths, kind))
        if p.is_absolute():
            return p
        if self.source not in ("<defaults>", "--set"):
            return Path(self.source).resolve().parent / p
        here = Path.cwd() / p
        if (kind in ("models", "scenes", "shaders") and not here.exists()
                and (PROJECT_DIR / p).is_dir()):
            return PROJECT_DIR / p
        return here


PROJECT_DIR = Path(__file__).resolve().parent.parent
"""The folder that holds the ``live`` package: the checkout, with the shipped ``config.toml``,
``scenes/`` and ``models/``, for an editable install (the README's)."""

SECTIONS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in dataclasses.fields(Config)
    if f.name not in ("source", "params")
}

_SIZE = re.compile(r"^\s*(\d{1,6})\s*[xX×]\s*(\d{1,6})\s*$")


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}s"
        return f"a list of {len(args)} {_type_name(args[0])}s"
    return {bool: "bool", int: "integer", float: "number", str: "string"}.get(tp, str(tp))


RANGES: dict[str, tuple[float, float]] = {
    "engine.render_scale": (0.1, 2.0),
    "engine.render_scale_min": (0.1, 1.0),
    "output.fps": (1.0, 240.0),
    "remote.preview_fps": (0.0, 30.0),
    "remote.listen_hz": (1.0, 120.0),
    "output.queue_frames": (2, 16),
    "remote.preview_width": (64, 1920),
    "remote.preview_quality": (10, 95),
    "remote.max_clients": (1, 64),
    "output.blend_gamma": (0.5, 4.0),
    "output.guard": (0, 512),
    "cluster.delay_frames": (0, 30),
    "cluster.frame_rate": (1.0, 240.0),
    "cluster.save_s": (0.0, 3600.0),
}
"""Numeric keys with a range (section.key: (lowest, highest))."""


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the field type ``tp``; return it in the field's Python type."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        members = typing.get_args(tp)
        for member in members:
            try:
                return _coerce(value, member, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected "
                          f"{' or '.join(_type_name(m) for m in members)}, got {value!r}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            if not isinstance(value, list | tuple):
                raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
            return tuple(_coerce(v, args[0], where) for v in value)
        if isinstance(value, str) and args == (int, int) and _SIZE.match(value):
            value = [int(v) for v in _SIZE.match(value).groups()]  # "1920x1080", as --size
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise ConfigError(f"{where}: expected {_type_name(tp)} or WIDTHxHEIGHT, got {value!r}"
                              if args == (int, int) else
                              f"{where}: expected {_type_name(tp)}, got {value!r}")
        return tuple(_coerce(v, a, where) for v, a in zip(value, args, strict=True))
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[tp]
    if not ok:
        raise ConfigError(
            f"{where}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}"
        )
    return float(value) if tp is float else value


def _build_section(cls: type, raw: Any, source: str, section: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [{section}] must be a table, got {raw!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in raw.items():
        where = f"{source}: {section}.{key}"
        if key not in known:
            raise ConfigError(f"{where}: unknown key (known: {', '.join(sorted(known))})")
        kwargs[key] = _coerce(value, hints[key], where)
        bounds = RANGES.get(f"{section}.{key}")
        if (bounds and isinstance(kwargs[key], int | float) and not isinstance(kwargs[key], bool)
                and not bounds[0] <= kwargs[key] <= bounds[1]):
            raise ConfigError(f"{where}: expected {bounds[0]:g} to {bounds[1]:g}, "
                              f"got {kwargs[key]!r}")
    return cls(**kwargs)


def parse_override(text: str) -> tuple[str, str, Any]:
    """Split ``section.key=value``; the value is read as a TOML value, else kept as a string."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(f"--set {text}: expected section.key=value")
    dotted, raw_value = text.split("=", 1)
    section, key = dotted.strip().split(".", 1)
    try:
        value = tomllib.loads(f"v = {raw_value}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw_value
    if not isinstance(value, str) and _declared_type(section, key) is str:
        value = raw_value.strip()  # a string key given digits: --set remote.pin=2468
    return section, key, value


def _declared_type(section: str, key: str) -> Any:
    """The type a config key is declared with (None for an unknown section or key)."""
    cls = SECTIONS.get(section)
    if cls is None:
        return None
    return typing.get_type_hints(cls).get(key)


def from_dict(raw: dict[str, Any], source: str = "<defaults>") -> Config:
    kwargs: dict[str, Any] = {}
    for section, body in raw.items():
        if section not in SECTIONS:
            raise ConfigError(
                f"{source}: unknown section [{section}] (known: {', '.join(SECTIONS)})"
            )
        kwargs[section] = _build_section(SECTIONS[section], body, source, section)
    return Config(**kwargs, source=source)


def _param_override(text: str, section: str, key: str, value: Any,
                    registry) -> tuple[str, Any]:
    """``--set walk.speed=2``: a show parameter for this run, checked like a scene value;
    a name that is neither a config key nor a parameter says where each kind lives."""
    from live.scenes import SceneError, check_value

    name = f"{section}.{key}"
    if name not in registry:
        raise ConfigError(
            f"--set {text}: [{section}] is not a config section (config sections: "
            f"{', '.join(SECTIONS)}), and {name} is not a show parameter (`live osc` lists "
            "them; scenes/*.toml set them per scene)")
    try:
        return name, check_value(registry[name], value, f"--set {text}")
    except SceneError as exc:
        raise ConfigError(str(exc)) from None


def load(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load ``path`` (or only defaults when None) and apply ``--set`` overrides: config keys
    (``display.size=1920x1080``) or show parameters for this run (``walk.speed=2``)."""
    from live.safeio import CONFIG_MAX_BYTES, FileReadError, read_text

    raw: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        try:
            text = read_text(path, CONFIG_MAX_BYTES)
        except FileReadError as exc:
            raise ConfigError(f"{source}: {exc.reason}") from None
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    wanted: list[tuple] = []
    for text in overrides:
        section, key, value = parse_override(text)
        if section not in SECTIONS:
            wanted.append((text, section, key, value))
            continue
        body = raw.setdefault(section, {})
        if not isinstance(body, dict):
            raise ConfigError(f"--set {text}: [{section}] is not a table")
        body[key] = value
    if overrides and source == "<defaults>":
        source = "--set"
    cfg = from_dict(raw, source)
    if not wanted:
        return cfg
    registry = _show_registry(cfg, any(section == "layer" for _, section, _, _ in wanted))
    params = dict(_param_override(*item, registry) for item in wanted)
    return dataclasses.replace(cfg, params=tuple(params.items()))


def _show_registry(cfg: Config, with_layers: bool):
    """The registry ``--set`` names are checked against: with the scenes' ISF layer inputs
    (``layer.glow.threshold``) when one is named, as ``live run`` will build it."""
    from live.params import Registry

    if not with_layers:
        return Registry()
    from live.layers import show_registry, use_library

    return show_registry(cfg.path("scenes"), use_library(cfg))

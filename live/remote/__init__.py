"""The browser remote: a phone page served by the OSCQuery server at ``/remote``.

The page itself is plain HTML, CSS and JavaScript in ``static/`` (no build step, nothing
fetched from elsewhere at run time). It reads ``/remote/layout.json`` (made here from the
parameter registry and the scenes folder), the OSCQuery namespace ``/`` for the values at
start, and then follows the show over the OSCQuery WebSocket on the same port: it LISTENs on
the controls of the page on screen and on ``/live/scene/current``, sends OSC messages as
binary frames when a control moves, and shows the preview JPEGs the server pushes.

Layout
    The pages follow the TouchOSC layout (``live.control.touchosc.plan``): the same curated
    pages and cells, the same parameters left off, the same grouping of the rest. A browser
    page scrolls, so the pages TouchOSC splits at ten cells are joined again, the cue slot
    buttons become two pads, scene buttons carry the scene names, and every scene layer's
    controls gather on one ``layers`` page where the page shows the current scene's layers
    only (each scene's layer names are in the layout). A colour input's four channels
    (``.r .g .b .a``) become one colour control with a swatch.

    Each control has a ``kind``:

    * ``fader``: ``address`` is the parameter's ``/live/norm/...`` address (0-1, the server
      maps it onto the native range), ``native`` its own address; ``lo``, ``hi``, ``unit``,
      ``int`` and ``default`` (0-1) let the page print the native value;
    * ``choice``: one button per choice, sending the choice's name to ``address``; values
      arrive as names;
    * ``buttons``: a row of ``push`` buttons (send 1.0 on press) and ``toggle`` buttons
      (send 1 / 0, follow the show's value);
    * ``pads``: a grid of push buttons (cue slots);
    * ``color``: four faders (``channels``) under one label and swatch.

``serve(path, query, context)`` answers the ``/remote`` paths for the HTTP server; anything
else is None (the server's 404).
"""

from __future__ import annotations

import json
import re
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from live.params import Param, Registry

STATIC = Path(__file__).resolve().parent / "static"
"""The page's files, shipped as package data."""

LAYOUT_VERSION = 1
SCENE_ADDRESS = "/live/scene/current"
"""Read-only string node: the current scene's name (streamed over the WebSocket)."""
MAX_CHOICE_BUTTONS = 12
"""Enums with more choices get a fader on the norm address instead of a button row."""

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

PAGE_COLORS = {
    "walk": "#1fb5ad",
    "colour": "#f08c2e",
    "space": "#9a6cf0",
    "layers": "#e0527e",
    "cues": "#3d7cf0",
    "scenes": "#e6c229",
    "audio": "#3fbf5f",
    "text": "#5ab4f0",
    "model": "#c98ef5",
    "show": "#d9a43a",
}
OTHER_COLOR = "#8c99a6"
PAGE_ORDER = ("walk", "colour", "space", "layers", "cues", "scenes", "audio", "text",
              "model", "show")
"""Tabs in this order; any other page follows, in the order the TouchOSC plan gives."""


@dataclass
class RemoteContext:
    """What ``serve`` needs to answer: the show's registry and its scenes folder.

    ``scene_layers`` (optional) returns each scene's layer names as the running show knows
    them; without it they are read from the scene files on each layout request.
    ``pin_required`` is a hint for the page's first paint (the WebSocket's LIVE_STATUS is
    what counts).
    """

    registry: Registry
    scenes_dir: Path
    scene_layers: Callable[[], dict[str, list[str]]] | None = None
    pin_required: bool = False
    _pages: list[dict] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def pages(self) -> list[dict]:
        """The pages of the layout (built once: the registry does not change in a run)."""
        with self._lock:
            if self._pages is None:
                self._pages = build_pages(self.registry)
            return self._pages

    def layout(self) -> dict:
        """The whole layout: pages, scenes with their layer names, hints."""
        scenes = scene_table(Path(self.scenes_dir))
        if self.scene_layers is not None:
            known = self.scene_layers()
            for scene in scenes:
                if scene["name"] in known:
                    scene["layers"] = list(known[scene["name"]])
        return {
            "version": LAYOUT_VERSION,
            "name": "live",
            "pin_required": bool(self.pin_required),
            "scene_address": SCENE_ADDRESS,
            "scene_go": "/live/scene/go",
            "scenes": scenes,
            "pages": self.pages(),
        }


# ---------------------------------------------------------------------------------------------
# serving


def serve(path: str, query: str, context: RemoteContext | None
          ) -> tuple[int, str, bytes] | None:
    """The reply to a GET of ``path`` under ``/remote``: ``(status, content type, body)``,
    or None when there is nothing there (or no context: the remote is off)."""
    if context is None:
        return None
    path = path.rstrip("/")
    if path == "/remote":
        return _static("index.html")
    if path == "/remote/layout.json":
        body = json.dumps(context.layout(), separators=(",", ":")).encode()
        return 200, CONTENT_TYPES[".json"], body
    prefix = "/remote/static/"
    if path.startswith(prefix):
        return _static(path[len(prefix):])
    return None


def static_files() -> list[str]:
    """Names of the page's files (the only names ``/remote/static/`` answers)."""
    return sorted(p.name for p in STATIC.iterdir() if p.is_file()) if STATIC.is_dir() else []


def _static(name: str) -> tuple[int, str, bytes] | None:
    # only a name listed in the folder: no separators, no dot-dot, no other file
    if name not in static_files():
        return None
    kind = CONTENT_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")
    return 200, kind, (STATIC / name).read_bytes()


# ---------------------------------------------------------------------------------------------
# scenes


def scene_table(scenes_dir: Path) -> list[dict]:
    """Every scene of the folder: its name, description and layer names (file order).

    Read without parsing the shaders: a scene that cannot be read keeps its place with no
    layers (loading it reports why)."""
    from live.safeio import SCENE_MAX_BYTES, FileReadError, read_text
    from live.scenes import list_scenes

    out = []
    for name in list_scenes(scenes_dir):
        entry: dict = {"name": name, "description": "", "layers": []}
        try:
            raw = tomllib.loads(read_text(scenes_dir / f"{name}.toml", SCENE_MAX_BYTES))
        except (FileReadError, tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
            out.append(entry)
            continue
        if isinstance(raw.get("description"), str):
            entry["description"] = raw["description"][:200]
        layers = raw.get("layer")
        if isinstance(layers, list):
            entry["layers"] = [t["name"] for t in layers
                               if isinstance(t, dict) and isinstance(t.get("name"), str)]
        out.append(entry)
    return out


# ---------------------------------------------------------------------------------------------
# pages


def words(text: str) -> str:
    """A parameter's last part as words: ``bloomAmount`` -> ``bloom amount``."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text.replace("_", " "))
    return text.lower()


def _label(param: Param, prefix: str) -> str:
    """The label of a control inside its section: the name without the section's prefix
    (``layer.def_tone.``), or else without its group (``fx.hue`` -> ``hue``)."""
    if prefix and param.name.startswith(prefix):
        name = param.name[len(prefix):]
    else:
        name = param.name.split(".", 1)[-1]
    return words(name.replace(".", " "))


def fader(param: Param, label: str) -> dict:
    return {
        "kind": "fader", "name": param.name, "label": label,
        "address": param.norm_address, "native": param.address,
        "lo": param.lo, "hi": param.hi, "unit": param.unit,
        "int": param.kind in ("int", "enum"),
        "default": round(param.to_norm(param.default_number()), 6),
        "description": param.description,
    }


def control(param: Param, label: str) -> dict:
    """The control of one parameter (not a slot trigger)."""
    if param.kind == "enum" and len(param.choices) <= MAX_CHOICE_BUTTONS:
        return {"kind": "choice", "name": param.name, "label": label,
                "address": param.address, "choices": list(param.choices),
                "default": str(param.default), "description": param.description}
    if param.kind in ("bool", "trigger"):
        return {"kind": "buttons", "label": label, "buttons": [_button(param, label)]}
    return fader(param, label)


def _button(param: Param, label: str) -> dict:
    kind = "toggle" if param.kind == "bool" else "push"
    return {"label": label, "address": param.address, "kind": kind, "name": param.name,
            "description": param.description}


def _section_prefix(title: str) -> str:
    """The name prefix a generic page's labels drop: ``layer def_tone`` -> ``layer.def_tone.``."""
    return title.replace(" ", ".") + "."


def _cells_to_controls(cells, registry: Registry, prefix: str) -> list[dict]:
    from live.control.touchosc import ButtonCell, FaderCell

    out: list[dict] = []
    pads: dict[str, dict] = {}
    for cell in cells:
        if isinstance(cell, FaderCell):
            param = cell.param
            out.append(control(param, _label(param, prefix)))
            continue
        assert isinstance(cell, ButtonCell)
        base = cell.key.split("/")[0]
        if "/" in cell.key and base in registry and registry[base].kind == "trigger":
            # slot buttons (cue.recall/0-3, 4-7, ...) gather into one pad grid per trigger
            pad = pads.get(base)
            if pad is None:
                verb = cell.title.split(" ")[0] if cell.title else base
                pad = {"kind": "pads", "name": base, "label": verb,
                       "danger": base.endswith(".store"),
                       "description": registry[base].description, "buttons": []}
                pads[base] = pad
                out.append(pad)
            pad["buttons"] += [{"label": b.text, "address": b.address, "kind": "push"}
                               for b in cell.buttons]
            continue
        if len(cell.buttons) > 1 and all(b.kind == "send" for b in cell.buttons) \
                and cell.key in registry:
            param = registry[cell.key]
            out.append(control(param, _label(param, prefix)))
            continue
        buttons = []
        for b in cell.buttons:
            name = b.address.removeprefix("/live/").replace("/", ".")
            param = registry[name] if name in registry else None
            label = words(b.text)
            if param is not None and prefix and param.name.startswith(prefix):
                label = _label(param, prefix)
            entry = {"label": label, "address": b.address,
                     "kind": "toggle" if b.kind == "toggle" else "push"}
            if param is not None:
                entry["name"] = param.name
                entry["description"] = param.description
            buttons.append(entry)
        title = cell.title.split("   ")[-1] if "   " in cell.title else ""
        out.append({"kind": "buttons", "label": title, "buttons": buttons})
    return _colors(out)


def _colors(controls: list[dict]) -> list[dict]:
    """Four faders ``X.r X.g X.b X.a`` in a row become one colour control."""
    out: list[dict] = []
    i = 0
    while i < len(controls):
        group = controls[i:i + 4]
        names = [c.get("name", "") for c in group]
        if (len(group) == 4 and all(c["kind"] == "fader" for c in group)
                and all(n.endswith("." + ch) for n, ch in zip(names, "rgba", strict=True))
                and len({n[:-2] for n in names}) == 1):
            base = names[0][:-2]
            out.append({"kind": "color", "name": base,
                        "label": words(base.rsplit(".", 1)[-1]),
                        "channels": [dict(c, label=ch) for c, ch in zip(group, "rgba",
                                                                          strict=True)]})
            i += 4
            continue
        out.append(controls[i])
        i += 1
    return out


def _page_id(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "page"


def build_pages(registry: Registry) -> list[dict]:
    """The layout's pages from the TouchOSC plan of ``registry`` (see the module's doc)."""
    from live.control.touchosc import plan

    shaders = {name: shader.name for name, shader in getattr(registry, "shaders", ())
               if name}
    raw = plan(registry)
    # TouchOSC splits a long group into "text" and "text 2": join them again
    joined: dict[str, list] = {}
    for page in raw:
        match = re.fullmatch(r"(.+) (\d+)", page.title)
        title = match.group(1) if match and match.group(1) in joined else page.title
        joined.setdefault(title, []).extend(page.cells)

    pages: dict[str, dict] = {}

    def page(title: str) -> dict:
        if title not in pages:
            pages[title] = {"id": _page_id(title), "title": title,
                            "color": PAGE_COLORS.get(title, OTHER_COLOR), "sections": []}
        return pages[title]

    def section(title: str, controls: list[dict], **extra) -> dict:
        return {"title": title, "controls": controls, **extra}

    for title, cells in joined.items():
        if title == "walk":
            page("walk")["sections"].insert(0, section("walk", _cells_to_controls(
                cells, registry, "walk.")))
        elif title == "loop":
            page("walk")["sections"].append(section("loop", _cells_to_controls(
                cells, registry, "")))
        elif title == "cues":
            page("cues")["sections"].append(section("cues", _cells_to_controls(
                cells, registry, "cue.")))
        elif title == "show":
            controls = _cells_to_controls(cells, registry, "")
            scene = [c for c in controls if _is_scene_control(c)]
            rest = [c for c in controls if not _is_scene_control(c)]
            # the scene buttons themselves come from the scenes folder (named, lit)
            step = [c for c in scene if c["kind"] == "buttons"]
            page("scenes")["sections"].append(section("scenes", step, scenes=True))
            page("show")["sections"].append(section("show", rest))
        elif title.startswith("layer ") or re.fullmatch(r"layer\d+", title):
            name = title[len("layer "):] if title.startswith("layer ") else ""
            if name:
                head = f"{name} · {shaders[name]}" if name in shaders else name
                extra = {"layer": name}
                prefix = f"layer.{name}."
            else:
                head, extra, prefix = f"{title} (slot)", {}, f"{title}."
            page("layers")["sections"].append(section(
                head, _cells_to_controls(cells, registry, prefix), **extra))
        else:
            page(title)["sections"].append(section(title, _cells_to_controls(
                cells, registry, _section_prefix(title))))
    if "scenes" not in pages:
        page("scenes")["sections"].append(section("scenes", [], scenes=True))
    # the fixed slots (layer1, layer2) after the scene's own layers
    if "layers" in pages:
        sections = pages["layers"]["sections"]
        sections.sort(key=lambda s: "layer" not in s)
    order = {title: i for i, title in enumerate(PAGE_ORDER)}
    ranked = sorted(pages.values(), key=lambda p: order.get(p["title"], len(order)))
    return [p for p in ranked if any(s["controls"] or s.get("scenes") for s in p["sections"])]


def _is_scene_control(control: dict) -> bool:
    buttons = control.get("buttons", [])
    return bool(buttons) and all(b["address"].startswith("/live/scene/") for b in buttons)


def addresses(layout: dict) -> list[str]:
    """Every address a control of ``layout`` sends to or follows, each once (tests, docs)."""
    seen: dict[str, None] = {}

    def walk(item: dict) -> None:
        if "address" in item:
            seen.setdefault(item["address"], None)
        for key in ("buttons", "channels"):
            for child in item.get(key, []):
                walk(child)

    for page in layout["pages"]:
        for sec in page["sections"]:
            for ctl in sec["controls"]:
                walk(ctl)
    return list(seen)

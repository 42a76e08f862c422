"""A TouchOSC layout generated from the parameter registry (``live layout``).

The phone layout is not drawn by hand: it is derived from ``live.params.REGISTRY`` like the
OSC addresses are, so adding a parameter and regenerating puts it on a page. The shipped file
``live/layouts/live.tosc`` is a build product that a test compares with a fresh build, so it
can never go stale silently.

Format
    A ``.tosc`` file (TouchOSC by hexler, 2021 and later; not TouchOSC Mk1's ``.touchosc``)
    is zlib-compressed XML: a ``lexml`` root holding one ``node`` tree. Every node has a
    ``type`` (GROUP, PAGER, FADER, BUTTON, TEXT, ...), a ``properties`` list of typed
    key/value pairs (``b`` bool, ``i`` int, ``f`` float, ``s`` string, ``c`` colour, ``r``
    frame), a ``values`` list (the control's state variables: ``x``, ``touch``, ``text``,
    ``page``), optional ``messages`` (``osc`` entries: flags, a connection mask, triggers, an
    address built from ``partial`` pieces and arguments built the same way) and optional
    ``children``. We write the shape of the files the TouchOSC editor saves (lexml version 3,
    keys and strings in CDATA, properties sorted by key) and only the properties seen in
    such files; anything we are unsure of is left out so the app falls back to its default.
    docs/touchosc.md lists what was checked here and what could not be.

Layout
    One document of 1280x720 (a phone in landscape; TouchOSC scales it to the screen) holding
    a PAGER whose tabs are the pages. Every page is a grid of 2 columns x 5 rows of cells,
    each cell a labelled fader, a row of choice buttons or a row of buttons. Known groups get
    curated pages (walk, loop, colour, space, cues, show); every other parameter lands on a
    page named after its group, split into more pages when it has more than ten cells.

    * float / int -> a horizontal fader on ``param.norm_address`` (0-1, the server maps it onto
      the native range and rounds ints), receiving feedback so it follows the show; the label
      above it gives the name, the native range and the unit.
    * enum -> one button per choice sending the choice index (an int) to ``param.address`` on
      press; enums with many choices get a fader on the norm address instead.
    * bool -> a toggle button on ``param.address`` (0/1), receiving feedback.
    * trigger -> a momentary button (1 on press, 0 on release, which the server ignores);
      slot triggers get one button per slot on the per-slot addresses
      (``/live/cue/recall/3``); ``scene.go`` gets buttons sending the scene numbers 0-7.
    * string triggers other than ``scene.go`` (``text.prime``, ``midi.learn``) and
      ``show.quit`` are left off on purpose: TouchOSC has no plain text entry that sends a
      string without scripting, and a stray tap must not end the show. ``left_off()`` says why.

Determinism
    Node IDs are uuid5 of the node's place in the layout, numbers are printed in one fixed
    format and zlib runs at a fixed level, so the same registry gives the same bytes.
"""

from __future__ import annotations

import argparse
import uuid
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from live.params import Param, Registry

SHIPPED = Path(__file__).resolve().parent.parent / "layouts" / "live.tosc"
"""The layout shipped with the package (``live layout`` rewrites it)."""

WIDTH, HEIGHT = 1280, 720
TABBAR = 64
COLUMNS, ROWS = 2, 5
CELLS_PER_PAGE = COLUMNS * ROWS
MARGIN, GUTTER = 16, 16
ROW_PITCH = 124
CELL_H = 112
LABEL_H = 30
LABEL_TEXT, BUTTON_TEXT, TAB_TEXT = 20, 22, 22
MAX_CHOICE_BUTTONS = 6
BUTTONS_PER_CELL = 4
SCENE_BUTTONS = 8
CONNECTIONS = "11111"
"""OSC connections a message uses: all of the first five, so connection 1 works whichever end
of the mask the app reads as connection 1."""
LEXML_VERSION = "3"

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/live/touchosc-layout")

RGBA = tuple[float, float, float, float]
WHITE: RGBA = (1.0, 1.0, 1.0, 1.0)
BLACK: RGBA = (0.0, 0.0, 0.0, 1.0)
LABEL_GREY: RGBA = (0.78, 0.78, 0.78, 1.0)
TAB_OFF: RGBA = (0.2, 0.2, 0.2, 1.0)
TEAL: RGBA = (0.0, 0.6, 0.6, 1.0)
GREEN: RGBA = (0.25, 0.65, 0.3, 1.0)
ORANGE: RGBA = (0.9, 0.5, 0.1, 1.0)
PURPLE: RGBA = (0.55, 0.35, 0.85, 1.0)
BLUE: RGBA = (0.2, 0.45, 0.9, 1.0)
RED: RGBA = (0.8, 0.15, 0.15, 1.0)
YELLOW: RGBA = (0.85, 0.7, 0.1, 1.0)
GREY: RGBA = (0.45, 0.5, 0.55, 1.0)

LEFT_OFF_REASONS = {
    "show.quit": "a stray tap would end the show; quit from the keyboard (q / escape)",
    "midi.learn": "MIDI learn is armed from the machine, not from the phone",
}
TEXT_REASON = "takes a string: TouchOSC has no text entry that sends one without scripting"


# ---------------------------------------------------------------------------------------------
# what goes on the pages


@dataclass(frozen=True)
class Button:
    """One button: ``push`` (momentary), ``toggle`` (0/1, follows feedback) or ``send`` (sends
    the int ``value`` once on press)."""

    text: str
    address: str
    kind: str = "push"
    value: int = 0
    color: RGBA | None = None


@dataclass(frozen=True)
class FaderCell:
    param: Param


@dataclass(frozen=True)
class ButtonCell:
    title: str
    buttons: tuple[Button, ...]
    key: str


Cell = FaderCell | ButtonCell


@dataclass
class Page:
    title: str
    color: RGBA
    cells: list[Cell] = field(default_factory=list)


def _group(param: Param) -> str:
    """The page a parameter without a curated place goes to: its prefix, and for a scene's
    ISF layer (``layer.glow.threshold``) a page of that layer's own (``layer glow``)."""
    parts = param.name.split(".")
    if parts[0] == "layer" and len(parts) > 2:
        return f"layer {parts[1]}"
    return parts[0]


def default_registry() -> Registry:
    """The registry the shipped layout is built from: the fixed parameters and the ISF
    layers of the shipped scenes (live/layers.py), as ``live run`` builds it."""
    from live.config import PROJECT_DIR
    from live.layers import show_registry

    return show_registry(PROJECT_DIR / "scenes")


def _short(param: Param) -> str:
    return param.name.split(".", 1)[-1].replace("_", " ")


def _num(value: float) -> str:
    """Numbers as the file and the labels print them: no trailing zeros, no exponent noise."""
    value = float(value)
    if value == int(value):
        return str(int(value))
    return f"{value:.6g}"


def fader_label(param: Param) -> str:
    """``walk.speed   0 to 8 x``: the name, the native range and the unit."""
    text = f"{param.name}   {_num(param.lo)} to {_num(param.hi)}"
    return f"{text} {param.unit}" if param.unit else text


def left_off(registry: Registry) -> dict[str, str]:
    """Parameters deliberately not on the layout, with the reason (for the CLI and docs)."""
    out = {}
    for param in registry:
        if param.name in LEFT_OFF_REASONS:
            out[param.name] = LEFT_OFF_REASONS[param.name]
        elif param.kind == "trigger" and param.text and param.name != "scene.go":
            out[param.name] = TEXT_REASON
    return out


class _Planner:
    """Hands out registry parameters to pages, each at most once."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.placed: set[str] = set(left_off(registry))

    def take(self, name: str) -> Param | None:
        if name in self.placed or name not in self.registry:
            return None
        self.placed.add(name)
        return self.registry[name]

    def cell(self, name: str) -> Cell | None:
        param = self.take(name)
        return None if param is None else _param_cell(param)

    def buttons(self, title: str, names: Sequence[str], key: str) -> Cell | None:
        buttons = [_param_button(p) for p in map(self.take, names) if p is not None]
        return ButtonCell(title, tuple(buttons), key) if buttons else None


def _param_cell(param: Param) -> Cell:
    if param.kind == "enum" and len(param.choices) <= MAX_CHOICE_BUTTONS:
        buttons = tuple(Button(choice, param.address, "send", index)
                        for index, choice in enumerate(param.choices))
        return ButtonCell(f"{param.name}   choose one", buttons, param.name)
    if param.kind in ("bool", "trigger"):
        return ButtonCell(param.name, (_param_button(param),), param.name)
    return FaderCell(param)


def _param_button(param: Param) -> Button:
    if param.kind == "bool":
        return Button(_short(param), param.address, "toggle")
    if param.kind == "trigger":
        return Button(_short(param), param.address, "push")
    raise ValueError(f"{param.name} is a {param.kind}, not a button")


def _is_slot_trigger(param: Param) -> bool:
    """A trigger whose argument picks a slot (``cue.recall`` 0-15): the server also answers a
    per-slot address for each slot."""
    return param.kind == "trigger" and not param.text and param.hi > 1


def _slot_cells(planner: _Planner, name: str, verb: str, color: RGBA) -> list[Cell]:
    """Per-slot buttons of a slot trigger (``/live/cue/recall/3``), four to a cell."""
    param = planner.take(name)
    return [] if param is None else _slot_buttons(param, verb, color)


def _slot_buttons(param: Param, verb: str, color: RGBA | None = None) -> list[Cell]:
    slots = list(range(int(param.lo), int(param.hi) + 1))
    cells: list[Cell] = []
    for start in range(0, len(slots), BUTTONS_PER_CELL):
        chunk = slots[start:start + BUTTONS_PER_CELL]
        buttons = tuple(
            Button(str(slot), f"{param.address}/{slot}", "push", color=color) for slot in chunk
        )
        cells.append(ButtonCell(f"{verb} {chunk[0]}-{chunk[-1]}", buttons,
                                f"{param.name}/{start}"))
    return cells


def _scene_cells(planner: _Planner) -> list[Cell]:
    cells: list[Cell] = []
    steps = [p for p in map(planner.take, ("scene.prev", "scene.next")) if p is not None]
    if steps:
        buttons = tuple(Button(_short(p), p.address, "push") for p in steps)
        cells.append(ButtonCell("scene   previous / next (alphabetical)", buttons, "scene.step"))
    go = planner.take("scene.go")
    if go is not None:
        half = SCENE_BUTTONS // 2
        for start in (0, half):
            numbers = range(start, start + half)
            buttons = tuple(Button(str(n), go.address, "send", n) for n in numbers)
            cells.append(ButtonCell(f"scene go   {start}-{start + half - 1}", buttons,
                                    f"scene.go/{start}"))
    return cells


def plan(registry: Registry | None = None) -> list[Page]:
    """The pages and their cells for ``registry`` (``default_registry()`` if None)."""
    registry = default_registry() if registry is None else registry
    planner = _Planner(registry)
    cell, buttons = planner.cell, planner.buttons
    pages = [
        Page("walk", TEAL, [
            cell("walk.mode"), cell("walk.speed"), cell("walk.energy"), cell("walk.truncation"),
            cell("walk.glide"), buttons("walk   new keyframes / tap tempo",
                                        ("walk.reseed", "tempo.tap"), "walk.buttons"),
            cell("walk.pc1"), cell("walk.pc2"), cell("walk.pc3"), cell("walk.pc4"),
        ]),
        Page("loop", GREEN, [
            cell("walk.period"), cell("walk.period_unit"), cell("walk.keyframes"),
            cell("tempo.bpm"),
        ]),
        Page("colour", ORANGE, [
            cell("fx.master"), buttons("fx.flash   flash to white", ("fx.flash",), "fx.flash"),
            cell("fx.brightness"), cell("fx.contrast"), cell("fx.saturation"), cell("fx.hue"),
            cell("fx.flash_decay"), cell("fx.crossfade"),
        ]),
        Page("space", PURPLE, [
            cell("fx.zoom"), cell("fx.rotate"), cell("fx.spin"), cell("fx.mirror"),
            cell("fx.kaleido"), cell("fx.feedback"), cell("fx.feedback_zoom"),
            cell("fx.feedback_rotate"),
        ]),
    ]
    # cues: recall on the left, store (red: it overwrites the slot) on the right
    recall = _slot_cells(planner, "cue.recall", "recall", BLUE)
    store = _slot_cells(planner, "cue.store", "store (overwrites)", RED)
    cues: list[Cell | None] = []
    for index in range(max(len(recall), len(store))):
        cues += [recall[index] if index < len(recall) else None,
                 store[index] if index < len(store) else None]
    cues.append(buttons("cue   next / release the held cue", ("cue.next", "cue.release"),
                        "cue.buttons"))
    pages.append(Page("cues", BLUE, cues))
    show: list[Cell | None] = [*_scene_cells(planner)]
    show.append(buttons("show   snapshot (PNG) / of every node (a wall) / record (on-off)",
                        ("show.snapshot", "output.snapshot", "show.record"), "show.a"))
    show.append(buttons("display   HUD / fullscreen (each tap toggles)",
                        ("show.hud", "show.fullscreen"), "show.b"))
    show.append(buttons("text   forget the text so far", ("text.reset",), "text.buttons"))
    if any(c is not None for c in show):
        show.append(ButtonCell("osc   ask the show for every value", (
            Button("sync", "/live/sync", "push"),), "osc.sync"))
    pages.append(Page("show", YELLOW, show))
    for page in pages:
        page.cells = [c for c in page.cells if c is not None]
    pages = [p for p in pages if p.cells]
    pages += _generic_pages(registry, planner, {p.title for p in pages})
    return _split(pages)


def _generic_pages(registry: Registry, planner: _Planner, titles: set[str]) -> list[Page]:
    """Pages for every parameter no curated page took, one set of pages per group."""
    groups: dict[str, list[Param]] = {}
    for param in registry:
        if param.name not in planner.placed:
            groups.setdefault(_group(param), []).append(param)
    pages = []
    for group, params in groups.items():
        cells: list[Cell] = []
        pending: list[Button] = []
        for param in params:
            planner.placed.add(param.name)
            if _is_slot_trigger(param):
                if pending:
                    cells.append(_button_row(group, pending, len(cells)))
                    pending = []
                cells += _slot_buttons(param, param.name)
                continue
            if param.kind in ("bool", "trigger"):
                pending.append(_param_button(param))
                if len(pending) == BUTTONS_PER_CELL:
                    cells.append(_button_row(group, pending, len(cells)))
                    pending = []
                continue
            if pending:
                cells.append(_button_row(group, pending, len(cells)))
                pending = []
            cells.append(_param_cell(param))
        if pending:
            cells.append(_button_row(group, pending, len(cells)))
        title = group if group not in titles else f"{group} more"
        pages.append(Page(title, GREY, cells))
    return pages


def _button_row(group: str, buttons: list[Button], index: int) -> ButtonCell:
    return ButtonCell(group, tuple(buttons), f"{group}.buttons/{index}")


def _split(pages: Iterable[Page]) -> list[Page]:
    """Pages with more cells than fit become ``title``, ``title 2``, ..."""
    out = []
    for page in pages:
        chunks = [page.cells[i:i + CELLS_PER_PAGE]
                  for i in range(0, len(page.cells), CELLS_PER_PAGE)]
        for number, chunk in enumerate(chunks, start=1):
            title = page.title if number == 1 else f"{page.title} {number}"
            out.append(Page(title, page.color, chunk))
    return out


# ---------------------------------------------------------------------------------------------
# the node tree


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


@dataclass
class _Node:
    kind: str
    key: str
    """Where the node sits in the layout; its ID is derived from this."""
    props: dict[str, tuple[str, object]]
    values: list[tuple[str, str, bool]] = field(default_factory=list)
    """(variable, default, lockedDefaultCurrent) per value object."""
    messages: list[str] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)

    def write(self, out: list[str]) -> None:
        node_id = uuid.uuid5(_NAMESPACE, self.key)
        out.append(f"<node ID='{node_id}' type='{self.kind}'><properties>")
        for name in sorted(self.props):
            kind, value = self.props[name]
            out.append(f"<property type='{kind}'><key>{_cdata(name)}</key><value>")
            out.append(_property_value(kind, value))
            out.append("</value></property>")
        out.append("</properties><values>")
        for var, default, lock in self.values:
            out.append(
                f"<value><key>{_cdata(var)}</key><locked>0</locked>"
                f"<lockedDefaultCurrent>{int(lock)}</lockedDefaultCurrent>"
                f"<default>{_cdata(default)}</default><defaultPull>0</defaultPull></value>"
            )
        out.append("</values>")
        if self.messages:
            out.append("<messages>" + "".join(self.messages) + "</messages>")
        if self.children:
            out.append("<children>")
            for child in self.children:
                child.write(out)
            out.append("</children>")
        out.append("</node>")


def _property_value(kind: str, value: object) -> str:
    if kind == "b":
        return "1" if value else "0"
    if kind in ("i", "f"):
        return _num(value)  # type: ignore[arg-type]
    if kind == "s":
        return _cdata(str(value))
    if kind == "c":
        r, g, b, a = value  # type: ignore[misc]
        return f"<r>{_num(r)}</r><g>{_num(g)}</g><b>{_num(b)}</b><a>{_num(a)}</a>"
    if kind == "r":
        x, y, w, h = value  # type: ignore[misc]
        return f"<x>{int(x)}</x><y>{int(y)}</y><w>{int(w)}</w><h>{int(h)}</h>"
    raise ValueError(f"unknown property type {kind!r}")


def _common(name: str, frame: tuple[int, int, int, int], color: RGBA, *, interactive: bool,
            background: bool, outline: bool, grab: bool) -> dict[str, tuple[str, object]]:
    """The properties every control type carries in saved files."""
    return {
        "background": ("b", background),
        "color": ("c", color),
        "cornerRadius": ("f", 1),
        "frame": ("r", frame),
        "grabFocus": ("b", grab),
        "interactive": ("b", interactive),
        "locked": ("b", False),
        "name": ("s", name),
        "orientation": ("i", 0),
        "outline": ("b", outline),
        "outlineStyle": ("i", 0),
        "pointerPriority": ("i", 0),
        "shape": ("i", 1),
        "visible": ("b", True),
    }


def _partial(kind: str, conversion: str, value: str) -> str:
    return (f"<partial><type>{kind}</type><conversion>{conversion}</conversion>"
            f"<value>{_cdata(value)}</value><scaleMin>0</scaleMin><scaleMax>1</scaleMax>"
            "</partial>")


def _osc(address: str, argument: str, *, receive: bool, condition: str) -> str:
    """One OSC message: sent when ``x`` changes as ``condition`` says (ANY or RISE)."""
    return (
        f"<osc><enabled>1</enabled><send>1</send><receive>{int(receive)}</receive>"
        f"<feedback>0</feedback><connections>{CONNECTIONS}</connections>"
        f"<triggers><trigger><var>{_cdata('x')}</var><condition>{condition}</condition>"
        "</trigger></triggers>"
        f"<path>{_partial('CONSTANT', 'STRING', address)}</path>"
        f"<arguments>{argument}</arguments></osc>"
    )


def _value_x() -> str:
    return _partial("VALUE", "FLOAT", "x")


def _text(key: str, name: str, text: str, frame: tuple[int, int, int, int], size: int,
          color: RGBA, align: int = 2) -> _Node:
    """A read-only TEXT node; touches pass through it to a control underneath."""
    props = _common(name, frame, BLACK, interactive=False, background=False, outline=False,
                    grab=True)
    props.update({
        "font": ("i", 0),
        "textAlignH": ("i", align),
        "textColor": ("c", color),
        "textSize": ("i", size),
    })
    return _Node("TEXT", key, props, [("text", text, True), ("touch", "false", False)])


def _fader(key: str, param: Param, frame: tuple[int, int, int, int], color: RGBA) -> _Node:
    props = _common(param.name.replace(".", "_"), frame, color, interactive=True,
                    background=True, outline=True, grab=True)
    steps = int(param.hi - param.lo) if param.kind in ("int", "enum") else 10
    props.update({
        "bar": ("b", True),
        "barDisplay": ("i", 0),
        "cursor": ("b", True),
        "cursorDisplay": ("i", 0),
        "grid": ("b", True),
        "gridSteps": ("i", steps if 1 <= steps <= 24 else 10),
        "orientation": ("i", 1),  # east: a horizontal fader growing to the right
        "response": ("i", 1),  # relative: touching does not make the value jump
        "responseFactor": ("i", 100),
    })
    default = _num(param.to_norm(param.default_number()))
    osc = _osc(param.norm_address, _value_x(), receive=True, condition="ANY")
    return _Node("FADER", key, props, [("x", default, False), ("touch", "false", False)], [osc])


def _button(key: str, button: Button, frame: tuple[int, int, int, int], color: RGBA) -> _Node:
    props = _common(_node_name(button), frame, button.color or color, interactive=True,
                    background=True, outline=True, grab=True)
    toggle = button.kind == "toggle"
    props.update({
        "buttonType": ("i", 1 if toggle else 0),  # 0 momentary, 1 toggle (on release)
        "press": ("b", True),
        "release": ("b", True),
        "valuePosition": ("b", False),
    })
    if button.kind == "send":
        osc = _osc(button.address, _partial("CONSTANT", "INTEGER", str(button.value)),
                   receive=False, condition="RISE")
    else:
        osc = _osc(button.address, _value_x(), receive=toggle, condition="ANY")
    return _Node("BUTTON", key, props, [("x", "0", False), ("touch", "false", False)], [osc])


def _cell_nodes(cell: Cell, page: Page, frame: tuple[int, int, int, int]) -> list[_Node]:
    x, y, w, h = frame
    if isinstance(cell, FaderCell):
        param = cell.param
        key = f"{page.title}/{param.name}"
        return [
            _text(f"{key}/label", param.name.replace(".", "_") + "_label", fader_label(param),
                  (x, y, w, LABEL_H), LABEL_TEXT, LABEL_GREY, align=1),
            _fader(f"{key}/fader", param, (x, y + LABEL_H, w, h - LABEL_H), page.color),
        ]
    key = f"{page.title}/{cell.key}"
    nodes = []
    top, height = y, h
    if cell.title:
        nodes.append(_text(f"{key}/label", cell.key.replace(".", "_") + "_label", cell.title,
                           (x, y, w, LABEL_H), LABEL_TEXT, LABEL_GREY, align=1))
        top, height = y + LABEL_H, h - LABEL_H
    count = len(cell.buttons)
    gap = 8
    width = (w - gap * (count - 1)) // count
    for index, button in enumerate(cell.buttons):
        bx = x + index * (width + gap)
        bkey = f"{key}/{index}"
        box = (bx, top, width, height)
        nodes.append(_button(f"{bkey}/button", button, box, page.color))
        nodes.append(_text(f"{bkey}/text", f"{_node_name(button)}_text", button.text, box,
                           BUTTON_TEXT, WHITE))
    return nodes


def _node_name(button: Button) -> str:
    name = button.address.strip("/").replace("/", "_")
    return f"{name}_{button.value}" if button.kind == "send" else name


def cell_frame(index: int) -> tuple[int, int, int, int]:
    """Frame of cell ``index`` (row by row) inside a page."""
    column, row = index % COLUMNS, index // COLUMNS
    width = (WIDTH - 2 * MARGIN - (COLUMNS - 1) * GUTTER) // COLUMNS
    return (MARGIN + column * (width + GUTTER), MARGIN + row * ROW_PITCH, width, CELL_H)


def _page_node(page: Page) -> _Node:
    frame = (0, TABBAR, WIDTH, HEIGHT - TABBAR)
    props = _common(page.title, frame, BLACK, interactive=False, background=True, outline=False,
                    grab=False)
    props.update({
        "tabColorOff": ("c", TAB_OFF),
        "tabColorOn": ("c", page.color),
        "tabLabel": ("s", page.title),
        "textColorOff": ("c", WHITE),
        "textColorOn": ("c", BLACK),
    })
    children = []
    for index, cell in enumerate(page.cells):
        children += _cell_nodes(cell, page, cell_frame(index))
    return _Node("GROUP", f"page/{page.title}", props, [("touch", "false", False)],
                 children=children)


def _document(pages: list[Page]) -> _Node:
    pager_props = _common("pages", (0, 0, WIDTH, HEIGHT), BLACK, interactive=True,
                          background=True, outline=False, grab=False)
    pager_props.update({
        "tabLabels": ("b", True),
        "tabbar": ("b", True),
        "tabbarDoubleTap": ("b", False),
        "tabbarSize": ("i", TABBAR),
        "textSizeOff": ("i", TAB_TEXT),
        "textSizeOn": ("i", TAB_TEXT),
    })
    pager = _Node("PAGER", "pager", pager_props,
                  [("page", "0", False), ("touch", "false", False)],
                  children=[_page_node(p) for p in pages])
    root_props = _common("live", (0, 0, WIDTH, HEIGHT), BLACK, interactive=False,
                         background=True, outline=False, grab=False)
    return _Node("GROUP", "root", root_props, [("touch", "false", False)], children=[pager])


def layout_xml(registry: Registry | None = None) -> str:
    """The layout as the XML text inside a ``.tosc`` file."""
    out = ["<?xml version='1.0' encoding='UTF-8'?>", f"<lexml version='{LEXML_VERSION}'>"]
    _document(plan(registry)).write(out)
    out.append("</lexml>")
    return "".join(out)


def build_layout(registry: Registry | None = None) -> bytes:
    """The ``.tosc`` file contents: the XML, zlib-compressed; same registry, same bytes."""
    return zlib.compress(layout_xml(registry).encode("utf-8"), 9)


def write_layout(path: Path | str = SHIPPED, registry: Registry | None = None) -> Path:
    """Write the layout to ``path`` (the shipped file by default); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(build_layout(registry))
    return path


# ---------------------------------------------------------------------------------------------
# reading a layout back (tests, ``live layout --check``)


@dataclass(frozen=True)
class OscMessage:
    """One OSC message of one control in a ``.tosc`` file."""

    control: str
    """The node type: FADER, BUTTON, ..."""
    name: str
    address: str
    """CONSTANT path pieces joined; other pieces appear as ``{TYPE:value}``."""
    send: bool
    receive: bool
    arguments: tuple[tuple[str, str, str], ...]
    """(type, conversion, value) per argument piece."""
    triggers: tuple[tuple[str, str], ...]
    """(variable, condition) per trigger."""


def parse_layout(data: bytes) -> ElementTree.Element:
    """Decompress and parse ``.tosc`` bytes; returns the ``lexml`` root element."""
    root = ElementTree.fromstring(zlib.decompress(data))
    if root.tag != "lexml":
        raise ValueError(f"not a TouchOSC layout: the root element is <{root.tag}>")
    return root


def _props(node: ElementTree.Element) -> dict[str, str]:
    out = {}
    for prop in node.findall("properties/property"):
        out[prop.findtext("key", "")] = prop.findtext("value", "")
    return out


def read_messages(source: Path | str | bytes) -> list[OscMessage]:
    """Every OSC message of every control in a layout (a path or the file's bytes)."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    messages = []
    for node in parse_layout(data).iter("node"):
        for osc in node.findall("messages/osc"):
            if osc.findtext("enabled") != "1":
                continue
            pieces = []
            for partial in osc.findall("path/partial"):
                kind, value = partial.findtext("type", ""), partial.findtext("value", "")
                pieces.append(value if kind == "CONSTANT" else f"{{{kind}:{value}}}")
            arguments = tuple(
                (p.findtext("type", ""), p.findtext("conversion", ""), p.findtext("value", ""))
                for p in osc.findall("arguments/partial")
            )
            triggers = tuple(
                (t.findtext("var", ""), t.findtext("condition", ""))
                for t in osc.findall("triggers/trigger")
            )
            messages.append(OscMessage(
                node.get("type", ""), _props(node).get("name", ""), "".join(pieces),
                osc.findtext("send") == "1", osc.findtext("receive") == "1", arguments, triggers,
            ))
    return messages


def read_layout(source: Path | str | bytes = SHIPPED) -> list[str]:
    """Every OSC address the controls of a layout send, in document order, each once.

    ``source`` is a path to a ``.tosc`` file or the file's bytes.
    """
    seen: dict[str, None] = {}
    for message in read_messages(source):
        if message.send:
            seen.setdefault(message.address, None)
    return list(seen)


def page_titles(source: Path | str | bytes) -> list[str]:
    """The tab labels of a layout's pages, in order."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    titles = []
    for pager in parse_layout(data).iter("node"):
        if pager.get("type") == "PAGER":
            for page in pager.findall("children/node"):
                titles.append(_props(page).get("tabLabel", ""))
    return titles


# ---------------------------------------------------------------------------------------------
# command line: ``live layout [--out PATH] [--check]``


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=SHIPPED,
                        help="where to write the .tosc file (default: the shipped "
                             "live/layouts/live.tosc)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when --out differs from a fresh build")


def run(args: argparse.Namespace) -> int:
    data = build_layout()
    out: Path = args.out
    if args.check:
        current = out.read_bytes() if out.exists() else b""
        if current != data:
            print(f"{out} is stale: run `live layout --out {out}`")
            return 1
        print(f"{out} is up to date")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    pages = page_titles(data)
    addresses = read_layout(data)
    print(f"wrote {out}: {len(pages)} pages ({', '.join(pages)}), {len(addresses)} addresses")
    for name, reason in left_off(default_registry()).items():
        print(f"  not on the layout: {name} ({reason})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="live layout", description="Write the TouchOSC layout generated from the registry.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

"""The TouchOSC layout: the shipped file is current, parses, and covers the registry."""

from __future__ import annotations

import zlib
from xml.etree import ElementTree

import pytest

from live.control import touchosc
from live.params import REGISTRY, Param, Registry

PROPERTY_TYPES = {"b", "i", "f", "s", "c", "r"}


@pytest.fixture(scope="module")
def shipped() -> bytes:
    assert touchosc.SHIPPED.exists(), "run `live layout` to write live/layouts/live.tosc"
    return touchosc.SHIPPED.read_bytes()


def _frame(node: ElementTree.Element) -> tuple[int, int, int, int]:
    for prop in node.findall("properties/property"):
        if prop.findtext("key") == "frame":
            value = prop.find("value")
            return tuple(int(value.findtext(k)) for k in "xywh")  # type: ignore[return-value]
    raise AssertionError(f"{node.get('type')} node without a frame")


def test_shipped_file_is_zlib_xml_with_a_pager(shipped):
    xml = zlib.decompress(shipped).decode("utf-8")
    assert xml.startswith("<?xml version='1.0' encoding='UTF-8'?><lexml version='3'>")
    root = touchosc.parse_layout(shipped)
    top = root.findall("node")
    assert len(top) == 1 and top[0].get("type") == "GROUP"
    assert _frame(top[0]) == (0, 0, touchosc.WIDTH, touchosc.HEIGHT)
    pagers = [n for n in root.iter("node") if n.get("type") == "PAGER"]
    assert len(pagers) == 1
    titles = touchosc.page_titles(shipped)
    assert titles[:6] == ["walk", "loop", "colour", "space", "cues", "show"]
    assert len(titles) == len(set(titles))


def test_shipped_file_equals_a_fresh_build(shipped):
    assert shipped == touchosc.build_layout(), (
        "live/layouts/live.tosc is stale: run `live layout` (python -m live.control.touchosc)"
    )


def test_build_is_deterministic():
    assert touchosc.build_layout() == touchosc.build_layout()
    assert touchosc.layout_xml(touchosc.default_registry()) == touchosc.layout_xml()


def test_each_isf_layer_of_the_shipped_scenes_gets_a_page_of_its_inputs(shipped):
    registry = touchosc.default_registry()
    layer_params = [p for p in registry if p.name.startswith("layer.")]
    assert layer_params, "the shipped scenes have ISF layers"
    addresses = set(touchosc.read_layout(touchosc.SHIPPED))
    titles = touchosc.page_titles(shipped)
    for param in layer_params:
        layer = param.name.split(".")[1]
        assert any(t.startswith(f"layer {layer}") for t in titles), layer
        address = param.norm_address if param.kind in ("float", "int") else param.address
        assert any(a.startswith(address) for a in addresses), param.name


def test_every_parameter_is_on_the_layout_or_left_off_on_purpose(shipped):
    registry = Registry()
    addresses = set(touchosc.read_layout(touchosc.SHIPPED))
    left_off = touchosc.left_off(registry)
    assert set(left_off) == {"show.quit", "midi.learn", "text.prime"}
    for param in registry:
        if param.name in left_off:
            continue
        if param.kind == "trigger":
            slots = [a for a in addresses if a.startswith(param.address + "/")]
            assert param.address in addresses or slots, param.name
        else:
            assert {param.norm_address, param.address} & addresses, param.name
    # the slot triggers have one button per slot
    for name in ("cue.recall", "cue.store"):
        param = registry[name]
        for slot in range(int(param.lo), int(param.hi) + 1):
            assert f"{param.address}/{slot}" in addresses


def test_controls_send_what_the_server_expects(shipped):
    registry = Registry()
    by_address: dict[str, list[touchosc.OscMessage]] = {}
    for message in touchosc.read_messages(shipped):
        by_address.setdefault(message.address, []).append(message)
    for param in registry:
        if param.kind in ("float", "int"):
            (fader,) = by_address[param.norm_address]
            assert fader.control == "FADER"
            assert fader.send and fader.receive, "faders follow the show's feedback"
            assert fader.arguments == (("VALUE", "FLOAT", "x"),)
        elif param.kind == "bool":
            (toggle,) = by_address[param.address]
            assert toggle.control == "BUTTON" and toggle.receive
        elif param.kind == "enum":
            sent = sorted(int(m.arguments[0][2]) for m in by_address[param.address])
            assert sent == list(range(len(param.choices)))
            for message in by_address[param.address]:
                assert message.arguments[0][:2] == ("CONSTANT", "INTEGER")
                assert message.triggers == (("x", "RISE"),) and not message.receive
    scene_go = by_address[registry["scene.go"].address]
    assert sorted(int(m.arguments[0][2]) for m in scene_go) == list(range(8))
    assert all(m.triggers == (("x", "RISE"),) for m in scene_go)
    for message in by_address[registry["walk.reseed"].address]:
        assert message.arguments == (("VALUE", "FLOAT", "x"),)  # 1 on press, 0 on release


def test_every_fader_has_a_label_with_name_range_and_unit(shipped):
    root = touchosc.parse_layout(shipped)
    texts = set()
    for node in root.iter("node"):
        if node.get("type") == "TEXT":
            for value in node.findall("values/value"):
                if value.findtext("key") == "text":
                    texts.add(value.findtext("default"))
    for param in Registry():
        if param.kind in ("float", "int"):
            label = touchosc.fader_label(param)
            assert label in texts
            assert param.name in label and (param.unit in label)
    assert touchosc.fader_label(Registry()["walk.speed"]) == "walk.speed   0 to 8 x"


def test_node_structure_ids_and_frames(shipped):
    root = touchosc.parse_layout(shipped)
    ids = [node.get("ID") for node in root.iter("node")]
    assert len(ids) == len(set(ids)), "node IDs are unique"
    for node in root.iter("node"):
        keys = [p.findtext("key") for p in node.findall("properties/property")]
        assert keys == sorted(keys) and "name" in keys and "frame" in keys
        assert {p.get("type") for p in node.findall("properties/property")} <= PROPERTY_TYPES
        assert node.findall("values/value"), "every node has at least its touch value"
        _, _, width, height = _frame(node)
        for child in node.findall("children/node"):
            x, y, w, h = _frame(child)
            assert x >= 0 and y >= 0 and x + w <= width and y + h <= height, child.get("type")


def test_interactive_controls_on_a_page_do_not_overlap(shipped):
    root = touchosc.parse_layout(shipped)
    pager = next(n for n in root.iter("node") if n.get("type") == "PAGER")
    for page in pager.findall("children/node"):
        boxes = [_frame(n) for n in page.findall("children/node")
                 if n.get("type") in ("FADER", "BUTTON")]
        assert boxes
        for i, (x1, y1, w1, h1) in enumerate(boxes):
            assert w1 >= 60 and h1 >= 60, "big enough for a finger"
            for x2, y2, w2, h2 in boxes[i + 1:]:
                assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1


def test_a_new_group_gets_its_own_pages():
    extra = (
        Param("lfo.gain", "float", 1.0, 0.0, 4.0, "x", 0.1, "input gain"),
        Param("lfo.band", "enum", "low", 0, 2, "", 0.0, "band", ("low", "mid", "high")),
        Param("lfo.gate", "bool", False, 0, 1),
        Param("lfo.reset", "trigger", 0.0, 0, 1),
        Param("lfo.say", "trigger", 0.0, 0, 1, text=True),
        Param("lfo.pad", "trigger", 0.0, 0, 5),
        *(Param(f"lfo.lfo{i}", "float", 0.0, 0.0, 1.0) for i in range(12)),
    )
    data = touchosc.build_layout(Registry(REGISTRY + extra))
    titles = touchosc.page_titles(data)
    assert titles[-2:] == ["lfo", "lfo 2"]
    addresses = set(touchosc.read_layout(data))
    assert {"/live/norm/lfo/gain", "/live/lfo/band", "/live/lfo/gate",
            "/live/lfo/reset"} <= addresses
    assert "/live/lfo/say" not in addresses  # a string trigger: left off, with the reason
    assert "lfo.say" in touchosc.left_off(Registry(REGISTRY + extra))
    assert all(f"/live/norm/lfo/lfo{i}" in addresses for i in range(12))
    assert {f"/live/lfo/pad/{slot}" for slot in range(6)} <= addresses  # a slot trigger
    # the shipped pages are unchanged by the extra group
    assert titles[:6] == touchosc.page_titles(touchosc.build_layout())[:6]


def test_a_param_of_a_curated_group_without_a_place_still_appears():
    extra = (Param("fx.blur", "float", 0.0, 0.0, 1.0, "", 0.1, "blur"),)
    data = touchosc.build_layout(Registry(REGISTRY + extra))
    assert "fx" in touchosc.page_titles(data)
    assert "/live/norm/fx/blur" in touchosc.read_layout(data)


def test_a_registry_without_the_usual_groups():
    only = Registry((Param("audio.gain", "float", 1.0, 0.0, 4.0),))
    data = touchosc.build_layout(only)
    assert touchosc.page_titles(data) == ["audio"]
    assert touchosc.read_layout(data) == ["/live/norm/audio/gain"]


def test_write_read_and_cli(tmp_path, capsys):
    path = touchosc.write_layout(tmp_path / "a" / "live.tosc")
    assert path.read_bytes() == touchosc.build_layout()
    assert touchosc.read_layout(path) == touchosc.read_layout(touchosc.SHIPPED)
    out = tmp_path / "cli.tosc"
    assert touchosc.main(["--out", str(out)]) == 0
    assert out.read_bytes() == touchosc.build_layout()
    assert "not on the layout: show.quit" in capsys.readouterr().out
    assert touchosc.main(["--out", str(out), "--check"]) == 0
    out.write_bytes(b"stale")
    assert touchosc.main(["--out", str(out), "--check"]) == 1
    assert out.read_bytes() == b"stale", "--check writes nothing"


def test_rejects_a_file_that_is_not_a_layout():
    with pytest.raises(ValueError):
        touchosc.parse_layout(zlib.compress(b"<html/>"))


def test_every_address_sent_is_one_the_osc_server_answers(shipped):
    osc = pytest.importorskip("live.control.osc")
    routes = osc.build_routes(touchosc.default_registry())  # with the scenes' ISF layers
    for address in touchosc.read_layout(shipped):
        assert address in routes, address

"""OSC in, feedback out and OSCQuery, over real UDP and HTTP sockets on loopback."""

from __future__ import annotations

import json
import random
import socket
import struct
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pythonosc.osc_message_builder import build_msg
from pythonosc.osc_packet import OscPacket
from pythonosc.parsing import osc_types

from live.config import OscConfig, OscQueryConfig
from live.control.osc import Feedback, OscInput, OscServer, build_routes
from live.control.oscquery import OscQueryServer
from live.params import Bus, Controls, Registry
from live.scenes import SceneDeck, SceneError, load_scene
from tests.conftest import wait_for

LOCAL = ("127.0.0.1", 50000)


def packet(address: str, *args) -> bytes:
    return build_msg(address, list(args)).dgram


def bundle(timetag: float | bytes, *messages: bytes) -> bytes:
    tag = timetag if isinstance(timetag, bytes) else osc_types.write_date(timetag)
    parts = [b"#bundle\0", tag]
    for message in messages:
        parts += [struct.pack(">i", len(message)), message]
    return b"".join(parts)


def make_input(**cfg) -> tuple[Bus, OscInput]:
    bus = Bus(Registry())
    return bus, OscInput(bus, OscConfig(**cfg))


def triggers(bus: Bus) -> list:
    controls = Controls(bus.registry)
    bus.drain(controls)
    return list(controls.triggers)


def receiver() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    return sock


def collect(sock: socket.socket, seconds: float) -> dict[str, list]:
    """Last value seen per address within ``seconds``."""
    seen: dict[str, list] = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data, _ = sock.recvfrom(65536)
        except TimeoutError:
            continue
        for timed in OscPacket(data).messages:
            seen[timed.message.address] = timed.message.params
    return seen


# ---------------------------------------------------------------- the input path
def test_native_and_norm_addresses_cover_the_range():
    bus, osc = make_input()
    osc.handle_packet(packet("/live/walk/speed", 2.5), LOCAL)
    assert bus.get("walk.speed") == pytest.approx(2.5)
    osc.handle_packet(packet("/live/norm/walk/speed", 0.5), LOCAL)
    assert bus.get("walk.speed") == pytest.approx(4.0)  # half of 0-8
    osc.handle_packet(packet("/live/norm/fx/mirror", 1.0), LOCAL)
    assert bus.get("fx.mirror") == 3  # last choice
    osc.handle_packet(packet("/live/fx/mirror", "vertical"), LOCAL)
    assert bus.get("fx.mirror") == 2
    osc.handle_packet(packet("/live/fx/kaleido", 6), LOCAL)
    assert bus.get("fx.kaleido") == 6
    osc.handle_packet(packet("/live/show/hud", 1.0), LOCAL)  # a trigger
    assert osc.stats.applied == 6 and sum(osc.stats.bad.values()) == 0


def test_every_registry_parameter_has_an_address():
    registry = Registry()
    routes = build_routes(registry)
    for param in registry:
        assert param.address in routes
        if param.kind != "trigger":
            assert param.norm_address in routes
    assert "/live/cue/recall/15" in routes and "/live/cue/store/0" in routes


def test_triggers_fire_on_press_not_release():
    bus, osc = make_input()
    osc.handle_packet(packet("/live/cue/next", 1.0), LOCAL)
    osc.handle_packet(packet("/live/cue/next", 0.0), LOCAL)  # button release
    osc.handle_packet(packet("/live/cue/next"), LOCAL)  # no argument
    osc.handle_packet(packet("/live/cue/recall", 3), LOCAL)  # slot as the argument
    osc.handle_packet(packet("/live/cue/recall/0"), LOCAL)  # slot 0 as a button
    osc.handle_packet(packet("/live/cue/store/5", 0.0), LOCAL)  # its release
    osc.handle_packet(packet("/live/fx/flash", 0.6), LOCAL)
    osc.handle_packet(packet("/live/text/prime", "to be or not"), LOCAL)
    osc.handle_packet(packet("/live/scene/go", 2), LOCAL)
    events = [(e.name, e.arg, e.text) for e in triggers(bus)]
    assert events == [
        ("cue.next", 1.0, ""), ("cue.next", 1.0, ""), ("cue.recall", 3.0, ""),
        ("cue.recall", 0.0, ""), ("fx.flash", pytest.approx(0.6), ""),
        ("text.prime", 1.0, "to be or not"), ("scene.go", 1.0, "2"),
    ]


def test_bad_input_is_dropped_clamped_and_counted(caplog):
    bus, osc = make_input(max_string=16)
    cases = [
        (packet("/live/walk/speed", float("nan")), "not_finite"),
        (packet("/live/walk/speed", float("inf")), "not_finite"),
        (packet("/live/walk/speed", 1.0, 2.0), "wrong_count"),
        (packet("/live/walk/speed"), "wrong_count"),
        (packet("/live/walk/speed", "fast"), "wrong_type"),
        (packet("/live/fx/mirror", "sideways"), "wrong_type"),
        (packet("/live/walk/speed", b"\x00\x01"), "wrong_type"),  # a blob
        (packet("/live/nothing/here", 1.0), "unknown_address"),
        (packet("/live/cue/recall"), "wrong_count"),
        (packet("/live/text/prime", 3.5), "wrong_type"),
        (b"\x00\x01garbage", "malformed"),
        (b"/live/walk/speed\0\0\0\0,f\0\0\x3f", "malformed"),  # cut short
        (b"#bundle\0\0\0", "malformed"),
    ]
    for data, kind in cases:
        before = osc.stats.bad[kind]
        osc.handle_packet(data, LOCAL)
        assert osc.stats.bad[kind] == before + 1, (data, kind, osc.stats.bad)
    assert bus.get("walk.speed") == 1.0  # nothing above changed it
    osc.handle_packet(packet("/live/walk/speed", 99.0), LOCAL)
    assert bus.get("walk.speed") == 8.0 and osc.stats.bad["clamped"] == 1
    osc.handle_packet(packet("/live/norm/fx/hue", -2.0), LOCAL)
    assert bus.get("fx.hue") == -180.0 and osc.stats.bad["clamped"] == 2
    osc.handle_packet(packet("/live/text/prime", "x" * 40), LOCAL)
    assert osc.stats.bad["too_long"] == 1
    assert [e.text for e in triggers(bus)] == ["x" * 16]
    # logged, but at most once a second per kind
    caplog.clear()
    for _ in range(50):
        osc.handle_packet(packet("/live/nowhere"), LOCAL)
    assert len([r for r in caplog.records if "unknown address" in r.getMessage()]) <= 1


def test_future_bundles_apply_at_once_and_are_counted():
    bus, osc = make_input()
    started = time.monotonic()
    osc.handle_packet(bundle(time.time() + 60, packet("/live/fx/zoom", 2.0)), LOCAL)
    assert time.monotonic() - started < 1.0  # no sleeping on the timetag
    assert bus.get("fx.zoom") == 2.0
    assert osc.stats.bad["future_timetag"] == 1
    osc.handle_packet(bundle(osc_types.IMMEDIATELY, packet("/live/fx/zoom", 3.0),
                             packet("/live/fx/rotate", 45.0)), LOCAL)
    assert (bus.get("fx.zoom"), bus.get("fx.rotate")) == (3.0, 45.0)
    assert osc.stats.bad["future_timetag"] == 1


def test_wildcards_reach_every_matching_address():
    bus, osc = make_input()
    osc.handle_packet(packet("/live/walk/pc[1-2]", 1.5), LOCAL)
    assert bus.get("walk.pc1") == 1.5 and bus.get("walk.pc2") == 1.5
    assert bus.get("walk.pc3") == 0.0


def test_seeded_fuzz_of_the_packet_path(caplog):
    """Random bytes, mutated valid packets, random type tags and bundles (the bench's fuzz):
    never an exception, and never python-osc's own per-packet warnings on the root logger."""
    bus, osc = make_input()
    from live.control.oscload import fuzz_packets

    for data in fuzz_packets(20000, seed=1234):
        osc.handle_packet(data, LOCAL)
    assert osc.stats.packets == 20000
    assert sum(osc.stats.bad.values()) > 0 and osc.stats.applied > 0
    assert not [r for r in caplog.records if r.name == "root"]
    for param in bus.registry:  # whatever got through is inside its range
        if param.kind not in ("trigger", "enum"):
            assert param.lo <= bus.get(param.name) <= param.hi


# ---------------------------------------------------------------- real sockets
@pytest.fixture
def server():
    """An OSC server with feedback on free loopback ports; yields (bus, server, rx socket)."""
    rx = receiver()
    cfg = OscConfig(host="127.0.0.1", port=0, feedback_port=rx.getsockname()[1],
                    feedback_hz=30.0)
    bus = Bus(Registry())
    feedback = Feedback(bus, cfg)
    osc = OscServer(bus, cfg, feedback)
    osc.start()
    feedback.start()
    yield bus, osc, rx
    osc.close()
    feedback.close()
    rx.close()


def send(port: int, data: bytes, source: socket.socket | None = None) -> None:
    sock = source or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.sendto(data, ("127.0.0.1", port))
    if source is None:
        sock.close()




def test_round_trip_over_udp_with_feedback(server):
    bus, osc, rx = server
    send(osc.port, packet("/live/norm/fx/hue", 0.75))
    assert wait_for(lambda: bus.get("fx.hue") == 90.0)
    seen = collect(rx, 0.5)
    # a new client gets the whole state, on both the native and the 0-1 address
    assert seen["/live/fx/hue"] == [pytest.approx(90.0)]
    assert seen["/live/norm/fx/hue"] == [pytest.approx(0.75)]
    assert seen["/live/walk/speed"] == [pytest.approx(1.0)]
    assert seen["/live/fx/mirror"] == [0]
    # then only changes: a value set elsewhere (a scene, audio, another client) comes back
    bus.set("walk.speed", 3.0)
    seen = collect(rx, 0.4)
    assert seen == {"/live/walk/speed": [pytest.approx(3.0)],
                    "/live/norm/walk/speed": [pytest.approx(0.375)]}
    # a clamped value is echoed as the show holds it
    send(osc.port, packet("/live/fx/zoom", 100.0))
    seen = collect(rx, 0.4)
    assert seen["/live/fx/zoom"] == [pytest.approx(4.0)]
    # /live/sync asks for everything again
    send(osc.port, packet("/live/sync"))
    assert len(collect(rx, 0.4)) == 2 * len([p for p in bus.registry if p.kind != "trigger"])


def test_feedback_is_rate_limited_per_address(server):
    import threading

    bus, osc, rx = server
    send(osc.port, packet("/live/sync"))
    collect(rx, 0.3)
    changes = []

    def change_fast() -> None:  # about 1 kHz of changes for a second
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            bus.set("fx.rotate", (len(changes) % 100) - 50.0)
            changes.append(1)
            time.sleep(0.001)

    setter = threading.Thread(target=change_fast)
    count = 0
    setter.start()
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        try:
            data, _ = rx.recvfrom(65536)
        except TimeoutError:
            continue
        count += sum(m.message.address == "/live/fx/rotate" for m in OscPacket(data).messages)
    setter.join()
    assert len(changes) > 200
    assert 5 <= count <= 33  # about 30 a second, never one per change


def test_feedback_goes_to_configured_targets():
    rx = receiver()
    cfg = OscConfig(feedback_targets=(f"127.0.0.1:{rx.getsockname()[1]}",))
    bus = Bus(Registry())
    feedback = Feedback(bus, cfg)
    feedback.tick()  # the first round sends the whole state to targets
    assert "/live/fx/master" in collect(rx, 0.3)
    bus.set("fx.master", 0.5)
    feedback.tick()
    assert collect(rx, 0.3) == {"/live/fx/master": [0.5], "/live/norm/fx/master": [0.5]}
    feedback.close()
    rx.close()


def test_allowlist_drops_and_counts_other_sources():
    cfg = OscConfig(host="127.0.0.1", port=0, allow=("10.0.0.0/8",))
    bus = Bus(Registry())
    osc = OscServer(bus, cfg)
    osc.start()
    try:
        send(osc.port, packet("/live/walk/speed", 4.0))
        assert wait_for(lambda: osc.stats.bad["blocked"] == 1)
        assert bus.get("walk.speed") == 1.0 and osc.stats.packets == 0
    finally:
        osc.close()
    _, inp = make_input(allow=("192.168.1.0/24", "::1/128"))
    assert inp.allowed("192.168.1.7") and not inp.allowed("192.168.2.7")
    assert inp.allowed("::1") and inp.allowed("::ffff:192.168.1.9")
    assert not inp.allowed("8.8.8.8") and not inp.allowed("not an address")


def test_port_in_use_is_a_clear_error():
    from live.control.osc import OscError

    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    try:
        osc = OscServer(Bus(Registry()), OscConfig(host="127.0.0.1",
                                                   port=taken.getsockname()[1]))
        with pytest.raises(OscError, match="cannot listen on 127.0.0.1"):
            osc.start()
    finally:
        taken.close()


def test_oscquery_serves_the_namespace_and_current_values(server):
    bus, osc, _ = server
    query = OscQueryServer(bus, OscQueryConfig(port=0, zeroconf=False),
                           OscConfig(host="127.0.0.1"), osc.port)
    query.start()
    base = f"http://127.0.0.1:{query.port}"

    def get(path: str):
        with urllib.request.urlopen(base + path, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")

    try:
        send(osc.port, packet("/live/walk/speed", 2.0))
        assert wait_for(lambda: bus.get("walk.speed") == 2.0)
        status, node = get("/live/walk/speed")
        assert status == 200
        assert node["FULL_PATH"] == "/live/walk/speed" and node["TYPE"] == "f"
        assert node["RANGE"] == [{"MIN": 0.0, "MAX": 8.0}] and node["ACCESS"] == 3
        assert node["VALUE"] == [2.0] and "speed" in node["DESCRIPTION"]
        assert get("/live/norm/walk/speed?VALUE") == (200, {"VALUE": [0.25]})
        assert get("/live/fx/mirror")[1]["RANGE"] == [{"VALS": ["off", "horizontal",
                                                                "vertical", "quad"]}]
        assert get("/live/show/snapshot")[1]["ACCESS"] == 2
        _, root = get("/")
        assert set(root["CONTENTS"]) == {"live"}
        walk = root["CONTENTS"]["live"]["CONTENTS"]["walk"]
        assert walk["FULL_PATH"] == "/live/walk" and "speed" in walk["CONTENTS"]
        _, info = get("/?HOST_INFO")
        assert info["OSC_PORT"] == osc.port and info["OSC_TRANSPORT"] == "UDP"
        assert info["EXTENSIONS"]["VALUE"] is True
        # every address in the namespace answers
        for param in bus.registry:
            assert get(param.address)[0] == 200
        with pytest.raises(urllib.error.HTTPError) as missing:
            get("/live/nothing")
        assert missing.value.code == 404
        with pytest.raises(urllib.error.HTTPError) as bad:
            get("/live/walk/speed?NOPE")
        assert bad.value.code == 400
    finally:
        query.close()


# ---------------------------------------------------------------- scene names
def test_scene_names_from_osc_cannot_leave_the_scenes_folder(tmp_path: Path, repo: Path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "a.toml").write_text('[fx]\nhue = 30.0\n')
    (scenes / "b.toml").write_text('[fx]\nhue = 60.0\n')
    (tmp_path / "secret.toml").write_text('[fx]\nhue = 99.0\n')
    bus = Bus(Registry())
    deck = SceneDeck(scenes, bus, load_scene("a", scenes, bus.registry))
    try:
        for name in ("../secret", "../secret.toml", str(tmp_path / "secret.toml"),
                     "/etc/passwd", "a/../../secret", "", "b.toml"):
            with pytest.raises(SceneError, match="unknown scene"):
                deck.target("scene.go", name)
        with pytest.raises(SceneError, match="out of range"):
            deck.target("scene.go", "7")
        assert deck.target("scene.go", "1") == "b"
        assert deck.target("scene.next", "") == "b"
        assert deck.target("scene.prev", "") == "b"
        deck.switch("b")
        assert bus.get("fx.hue") == 60.0 and deck.current.name == "b"
    finally:
        deck.close()


def test_scene_switch_over_osc_through_the_deck(tmp_path: Path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "a.toml").write_text('[fx]\nhue = 30.0\n')
    (scenes / "b.toml").write_text('[fx]\nhue = 60.0\nzoom = 2.0\n')
    (scenes / "c.toml").write_text('[fx]\nhue = "red"\n')  # broken
    bus, osc = make_input()
    bus.set("tempo.bpm", 140.0)
    deck = SceneDeck(scenes, bus, load_scene("a", scenes, bus.registry))
    try:
        osc.handle_packet(packet("/live/scene/go", "b"), LOCAL)
        for event in triggers(bus):
            deck.handle(event)
        assert wait_for(lambda: deck.current.name == "b")
        assert bus.get("fx.hue") == 60.0 and bus.get("fx.zoom") == 2.0
        assert bus.get("tempo.bpm") == 140.0  # tempo is not a scene's
        osc.handle_packet(packet("/live/scene/next"), LOCAL)
        for event in triggers(bus):
            deck.handle(event)
        assert wait_for(lambda: deck.last_error != "")
        assert "c.toml:2" in deck.last_error  # file:line, and b keeps running
        assert deck.current.name == "b" and bus.get("fx.hue") == 60.0
    finally:
        deck.close()


def test_docs_osc_md_is_current(repo: Path):
    from live.control.namespace_doc import markdown

    shipped = (repo / "docs" / "osc.md").read_text(encoding="utf-8")
    assert shipped == markdown(), "docs/osc.md is stale: run `live osc --out docs/osc.md`"
    for param in Registry():
        assert f"`{param.address}`" in shipped


def test_oscquery_is_advertised_over_zeroconf():
    zeroconf = pytest.importorskip("zeroconf")
    query = OscQueryServer(Bus(Registry()), OscQueryConfig(port=0, zeroconf=True),
                           OscConfig(), 8000)
    query.start()
    try:
        if not wait_for(lambda: query._zeroconf is not None, timeout=10.0):
            pytest.skip("zeroconf could not register here (no multicast interface)")
        browser = zeroconf.Zeroconf()
        try:
            name = query.service_names[0]
            assert name.startswith("live on ")
            info = browser.get_service_info("_oscjson._tcp.local.", name, timeout=3000)
        finally:
            browser.close()
        assert info is not None and info.port == query.port
    finally:
        query.close()


def test_fast_path_agrees_with_python_osc():
    from pythonosc.osc_message import OscMessage

    from live.control.osc import simple_message

    rng = random.Random(5)
    for address in ["/a", "/abc", "/live/walk/speed", "/live/norm/fx/feedback_zoom"]:
        for args in ([], [rng.uniform(-1e6, 1e6)], [rng.randrange(-2**31, 2**31)]):
            data = packet(address, *args)
            parsed = OscMessage(data)
            assert simple_message(data) == (parsed.address, parsed.params)
    for other in (packet("/a", "text"), packet("/a", 1.0, 2.0), packet("/a", True),
                  b"/a\0\0,f\0\0\0\0", b"#bundle\0"):
        assert simple_message(other) is None


def test_quit_over_osc_needs_allow_quit():
    bus, osc = make_input()
    osc.handle_packet(packet("/live/show/quit"), LOCAL)
    assert triggers(bus) == [] and osc.stats.bad["refused"] == 1
    bus, osc = make_input(allow_quit=True)
    osc.handle_packet(packet("/live/show/quit"), LOCAL)
    assert [e.name for e in triggers(bus)] == ["show.quit"]

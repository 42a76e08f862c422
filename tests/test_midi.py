"""MIDI control: map strings, the mapper (pickup, 14-bit, encoders, buttons, learn), the ports.

Everything but the port tests feeds real ``mido.Message`` objects to ``MidiMapper.handle``;
no MIDI hardware or backend is needed.
"""

from __future__ import annotations

import logging
import os
import time

import mido
import pytest

from live.config import MidiConfig
from live.control import midi
from live.control.midi import MidiInput, MidiMap, MidiMapError, MidiMapper, parse_map
from live.params import Bus, Controls, Registry, TriggerEvent

WAIT_S = 3.0
"""Longest a thread test waits for something that normally happens in milliseconds."""


@pytest.fixture
def registry():
    return Registry()


@pytest.fixture
def bus(registry):
    return Bus(registry)


def cc(control: int, value: int, channel: int = 1) -> mido.Message:
    """A control change; ``channel`` counted 1-16 as in map strings."""
    return mido.Message("control_change", channel=channel - 1, control=control, value=value)


def note_on(note: int, velocity: int = 100, channel: int = 1) -> mido.Message:
    return mido.Message("note_on", channel=channel - 1, note=note, velocity=velocity)


def note_off(note: int, channel: int = 1) -> mido.Message:
    return mido.Message("note_off", channel=channel - 1, note=note)


def send(mapper: MidiMapper, *messages: mido.Message) -> None:
    for message in messages:
        mapper.handle(message)


def triggers(bus: Bus, registry: Registry) -> list[tuple[str, float]]:
    controls = Controls(registry)
    bus.drain(controls)
    return [(event.name, event.arg) for event in controls.triggers]


def wait_for(condition, timeout_s: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


# --------------------------------------------------------------------------- map strings


@pytest.mark.parametrize("text, expected", [
    ("cc 1 -> fx.hue", MidiMap("cc", 1, "fx.hue")),
    ("ch 2 cc 74 -> walk.speed", MidiMap("cc", 74, "walk.speed", channel=2)),
    ("cc 16 relative -> fx.rotate", MidiMap("cc", 16, "fx.rotate", "twos")),
    ("cc 16 relative offset -> fx.rotate", MidiMap("cc", 16, "fx.rotate", "offset")),
    ("cc 16 relative signed x4 -> fx.rotate", MidiMap("cc", 16, "fx.rotate", "signed", scale=4)),
    ("cc 7+39 -> fx.master", MidiMap("cc14", 7, "fx.master", lsb=39)),
    ("note 36 -> fx.flash", MidiMap("note", 36, "fx.flash", "press")),
    ("note 40 -> cue.recall 3", MidiMap("note", 40, "cue.recall", "press", value=3)),
    ("note 41 -> show.record", MidiMap("note", 41, "show.record", "toggle")),
    ("note 37 -> walk.mode orbit", MidiMap("note", 37, "walk.mode", "press", value="orbit")),
    ("cc 64 -> cue.next", MidiMap("cc", 64, "cue.next", "press")),
    ("cc 65 toggle -> show.record", MidiMap("cc", 65, "show.record", "toggle")),
])
def test_map_strings_parse_and_print_back(text, expected, registry):
    parsed = parse_map(text, registry)
    assert parsed == expected
    assert str(parsed) == text
    assert parse_map(str(parsed), registry) == parsed


def test_map_strings_forgive_spacing_case_and_short_mode_names(registry):
    assert parse_map("  CH 3  CC 7 + 39->fx.master ", registry) == MidiMap(
        "cc14", 7, "fx.master", channel=3, lsb=39)
    assert parse_map("cc 16 offset -> fx.rotate", registry).mode == "offset"
    assert parse_map("cc 16 signed -> fx.rotate", registry).mode == "signed"
    assert parse_map("note 38 -> walk.mode 2", registry).value == "orbit"


@pytest.mark.parametrize("text, says", [
    ("cc 1 fx.hue", 'expected "<control> -> <parameter>"'),
    ("cc 1 -> fx.hu", "unknown parameter 'fx.hu' (did you mean fx.hue?)"),
    ("cc one -> fx.hue", "CC 'one' is not a whole number"),
    ("cc \u00b2 -> fx.hue", "CC '\u00b2' is not a whole number"),  # isdigit() but not int()
    ("note 36 -> walk.mode \u00b2", "is not one of walk.mode's choices"),
    ("cc 128 -> fx.hue", "CC 128 is outside 0-127"),
    ("ch 17 cc 1 -> fx.hue", "channel 17 is outside 1-16"),
    ("ch 0 cc 1 -> fx.hue", "channel 0 is outside 1-16"),
    ("note 200 -> fx.flash", "note 200 is outside 0-127"),
    ("knob 1 -> fx.hue", 'expected "cc <number>" or "note <number>"'),
    ("cc 7+39 -> fx.flash", "a 14-bit pair is an absolute fader and cannot fire the trigger"),
    ("cc 7+7 -> fx.master", "a 14-bit pair needs two different CCs"),
    ("cc 7+39 relative -> fx.master", "a 14-bit pair is always absolute"),
    ("cc 1 -> scene.go", "scene.go takes text"),
    ("note 36 -> midi.learn", "midi.learn takes text"),
    ("note 36 -> fx.hue", "a note can fire a trigger, toggle an on/off parameter"),
    ("note 36 relative -> fx.hue", "a note cannot be a relative encoder"),
    ("cc 16 relative -> cue.next", "a relative encoder cannot fire the trigger cue.next"),
    ("cc 16 x4 -> fx.rotate", "a step multiplier (x4) is for relative encoders"),
    ("cc 16 relative x0 -> fx.rotate", "must be above 0"),
    ("cc 16 relative xfast -> fx.rotate", "step multiplier 'fast' is not a number"),
    ("cc 16 toggle -> fx.hue", '"toggle" flips an on/off parameter; fx.hue is a float'),
    ("cc 16 sideways -> fx.hue", "unexpected 'sideways'"),
    ("note 40 -> cue.recall", "cue.recall takes an argument 0-15"),
    ("note 40 -> cue.recall 16", "value 16 is outside cue.recall's range 0-15"),
    ("note 40 -> walk.mode spiral", "'spiral' is not one of walk.mode's choices"),
    ("note 40 -> fx.kaleido 2.5", "fx.kaleido takes whole numbers"),
    ("cc 1 ->", 'no parameter after "->"'),
])
def test_bad_map_lines_quote_the_line_and_say_what_is_wrong(text, says, registry):
    with pytest.raises(MidiMapError) as caught:
        parse_map(text, registry)
    message = str(caught.value)
    assert repr(text) in message
    assert says in message


def test_a_bad_config_map_names_every_bad_line(registry, bus):
    with pytest.raises(MidiMapError) as caught:
        MidiMapper(registry, bus, ["cc 1 -> fx.hue", "cc 300 -> fx.hue", "note 1 -> nope"])
    lines = str(caught.value).splitlines()
    assert len(lines) == 2 and "cc 300" in lines[0] and "nope" in lines[1]


# --------------------------------------------------------------------------- absolute CCs


def test_absolute_cc_covers_the_whole_native_range(registry, bus):
    mapper = MidiMapper(registry, bus, [
        "cc 1 -> fx.hue", "cc 2 -> walk.mode", "cc 3 -> fx.kaleido", "cc 4 -> show.record",
    ], pickup=False)
    send(mapper, cc(1, 0))
    assert bus.get("fx.hue") == -180.0
    send(mapper, cc(1, 127))
    assert bus.get("fx.hue") == 180.0
    send(mapper, cc(2, 127))
    assert bus.get("walk.mode") == 2.0  # enums step through their choices
    send(mapper, cc(3, 64))
    assert bus.get("fx.kaleido") == 12.0  # ints round to a step
    send(mapper, cc(4, 63))
    assert bus.get("show.record") == 0.0
    send(mapper, cc(4, 64))
    assert bus.get("show.record") == 1.0  # bools: on from the middle up


def test_a_map_with_a_channel_ignores_other_channels(registry, bus):
    mapper = MidiMapper(registry, bus, ["ch 2 cc 74 -> walk.speed"], pickup=False)
    send(mapper, cc(74, 0, channel=1), cc(74, 0, channel=3))
    assert bus.get("walk.speed") == 1.0
    assert mapper.stats["unmapped"] == 2
    send(mapper, cc(74, 0, channel=2))
    assert bus.get("walk.speed") == 0.0


def test_a_map_naming_the_channel_wins_over_one_for_any_channel(registry, bus):
    mapper = MidiMapper(registry, bus, ["cc 1 -> fx.zoom", "ch 5 cc 1 -> fx.hue"],
                        pickup=False)
    send(mapper, cc(1, 0, channel=5))
    assert bus.get("fx.hue") == -180.0 and bus.get("fx.zoom") == 1.0
    send(mapper, cc(1, 0, channel=1))
    assert bus.get("fx.zoom") == 0.25


def test_fourteen_bit_pair_combines_msb_and_lsb(registry, bus):
    mapper = MidiMapper(registry, bus, ["cc 7+39 -> fx.master"], pickup=False)
    send(mapper, cc(39, 5))
    assert bus.get("fx.master") == 1.0  # an LSB before any MSB means nothing
    send(mapper, cc(7, 64), cc(39, 3))
    assert bus.get("fx.master") == pytest.approx((64 << 7 | 3) / 16383)
    send(mapper, cc(7, 10))  # MSB alone: combined with the last LSB
    assert bus.get("fx.master") == pytest.approx((10 << 7 | 3) / 16383)
    send(mapper, cc(7, 127), cc(39, 127))
    assert bus.get("fx.master") == 1.0


def test_fourteen_bit_map_from_a_controller_that_sends_only_msb_reaches_the_top(registry, bus):
    mapper = MidiMapper(registry, bus, ["cc 7+39 -> fx.master"], pickup=False)
    send(mapper, cc(7, 127))
    assert bus.get("fx.master") == 1.0
    send(mapper, cc(7, 0))
    assert bus.get("fx.master") == 0.0


# --------------------------------------------------------------------------- relative encoders


@pytest.mark.parametrize("mode, up, two_up, down", [
    ("relative", 1, 2, 127),
    ("relative offset", 65, 66, 63),
    ("relative signed", 1, 2, 65),
])
def test_each_relative_encoding_steps_a_128th_of_the_range(mode, up, two_up, down, registry,
                                                           bus):
    mapper = MidiMapper(registry, bus, [f"cc 16 {mode} -> fx.rotate"])
    step = 360 / 128
    send(mapper, cc(16, up))
    assert bus.get("fx.rotate") == pytest.approx(step)
    send(mapper, cc(16, two_up))
    assert bus.get("fx.rotate") == pytest.approx(3 * step)
    send(mapper, cc(16, down), cc(16, down))
    assert bus.get("fx.rotate") == pytest.approx(step)


def test_relative_multiplier_ints_and_enums(registry, bus):
    mapper = MidiMapper(registry, bus, [
        "cc 16 relative x4 -> fx.rotate", "cc 17 relative -> fx.kaleido",
        "cc 18 relative -> walk.mode",
    ])
    send(mapper, cc(16, 1))
    assert bus.get("fx.rotate") == pytest.approx(4 * 360 / 128)
    send(mapper, cc(17, 1), cc(17, 1), cc(17, 127))
    assert bus.get("fx.kaleido") == 1.0  # one unit per click
    send(mapper, cc(18, 1), cc(18, 1), cc(18, 1))
    assert bus.get("walk.mode") == 2.0  # stops at the last choice
    send(mapper, cc(16, 100))  # 28 clicks down, x4: far below -180, so clamped
    assert bus.get("fx.rotate") == -180.0


def test_relative_encoder_continues_from_a_value_set_elsewhere(registry, bus):
    mapper = MidiMapper(registry, bus, ["cc 16 relative -> fx.rotate"])
    bus.set("fx.rotate", 90.0)  # say, from OSC: an encoder needs no pickup
    send(mapper, cc(16, 1))
    assert bus.get("fx.rotate") == pytest.approx(90 + 360 / 128)


# --------------------------------------------------------------------------- pickup


def test_pickup_fader_far_from_the_value_does_nothing_until_it_crosses(registry, bus):
    mapper = MidiMapper(registry, bus, ["cc 1 -> fx.hue"])  # hue 0 = the middle of its range
    send(mapper, cc(1, 0), cc(1, 30))
    assert bus.get("fx.hue") == 0.0
    assert mapper.stats["waiting"] == 2 and mapper.ignored == 2
    send(mapper, cc(1, 80))  # crossed the middle: takes over
    assert bus.get("fx.hue") == pytest.approx(-180 + 360 * 80 / 127)
    send(mapper, cc(1, 20))  # and follows from now on
    assert bus.get("fx.hue") == pytest.approx(-180 + 360 * 20 / 127)


def test_pickup_fader_close_to_the_value_takes_over_at_once(registry, bus):
    mapper = MidiMapper(registry, bus, ["cc 1 -> fx.hue"])
    send(mapper, cc(1, 64))  # 64/127 is within the tolerance of the middle
    assert bus.get("fx.hue") == pytest.approx(-180 + 360 * 64 / 127)


def test_pickup_engages_again_after_someone_else_sets_the_parameter(registry, bus):
    mapper = MidiMapper(registry, bus, ["cc 1 -> fx.hue"])
    send(mapper, cc(1, 64), cc(1, 100))
    following = bus.get("fx.hue")
    assert following == pytest.approx(-180 + 360 * 100 / 127)
    bus.set("fx.hue", -90.0)  # an OSC client, a scene, the keyboard
    send(mapper, cc(1, 101), cc(1, 90))
    assert bus.get("fx.hue") == -90.0
    send(mapper, cc(1, 20))  # crossed -90 (norm 0.25) on the way down
    assert bus.get("fx.hue") == pytest.approx(-180 + 360 * 20 / 127)


def test_pickup_of_an_enum_engages_on_the_fader_position_that_gives_its_value(registry, bus):
    mapper = MidiMapper(registry, bus, ["cc 2 -> walk.mode"])
    bus.set("walk.mode", "noise")  # index 1 of 3: the middle
    send(mapper, cc(2, 127))
    assert bus.get("walk.mode") == 1.0
    send(mapper, cc(2, 60))  # still "noise": picked up
    send(mapper, cc(2, 0))
    assert bus.get("walk.mode") == 0.0


def test_pickup_off_jumps_at_once(registry, bus):
    mapper = MidiMapper(registry, bus, ["cc 1 -> fx.hue"], pickup=False)
    send(mapper, cc(1, 0))
    assert bus.get("fx.hue") == -180.0


# --------------------------------------------------------------------------- buttons


def test_note_fires_a_trigger_with_velocity_or_a_fixed_argument(registry, bus):
    mapper = MidiMapper(registry, bus, ["note 36 -> fx.flash", "note 40 -> cue.recall 3"])
    send(mapper, note_on(36, 127), note_off(36), note_on(36, 0), note_on(36, 64))
    send(mapper, note_on(40, 10))
    assert triggers(bus, registry) == [
        ("fx.flash", 1.0), ("fx.flash", pytest.approx(64 / 127)), ("cue.recall", 3.0),
    ]
    assert mapper.stats["other"] == 2  # the note-off and the velocity-0 note-on


def test_note_toggles_an_on_off_parameter_and_sets_a_fixed_value(registry, bus):
    mapper = MidiMapper(registry, bus, ["note 41 -> show.record", "note 37 -> walk.mode orbit"])
    send(mapper, note_on(41), note_off(41))
    assert bus.get("show.record") == 1.0
    send(mapper, note_on(41), note_off(41))
    assert bus.get("show.record") == 0.0
    send(mapper, note_on(37))
    assert bus.get("walk.mode") == 2.0


def test_cc_trigger_fires_on_the_rising_edge_like_a_button(registry, bus):
    mapper = MidiMapper(registry, bus, ["cc 64 -> cue.next", "cc 65 -> fx.flash 0.5"])
    send(mapper, *(cc(64, v) for v in (0, 127, 127, 100, 0, 63, 64)))
    send(mapper, cc(65, 127))
    assert triggers(bus, registry) == [("cue.next", 1.0), ("cue.next", pytest.approx(64 / 127)),
                                       ("fx.flash", 0.5)]


def test_cc_toggle_flips_on_each_press(registry, bus):
    mapper = MidiMapper(registry, bus, ["cc 20 toggle -> show.record"])
    send(mapper, cc(20, 127), cc(20, 0))
    assert bus.get("show.record") == 1.0
    send(mapper, cc(20, 127), cc(20, 0))
    assert bus.get("show.record") == 0.0


# --------------------------------------------------------------------------- layers


def test_scene_maps_win_over_config_maps_and_can_be_replaced(registry, bus):
    mapper = MidiMapper(registry, bus, ["cc 1 -> fx.hue", "cc 2 -> fx.zoom"], pickup=False)
    mapper.set_scene_maps(["cc 1 -> fx.saturation"])
    send(mapper, cc(1, 0), cc(2, 0))
    assert bus.get("fx.saturation") == 0.0 and bus.get("fx.hue") == 0.0
    assert bus.get("fx.zoom") == 0.25  # config maps on other controls stay
    with pytest.raises(MidiMapError):
        mapper.set_scene_maps(["cc 1 -> fx.contrast", "cc 999 -> fx.hue"])
    assert "cc 1 -> fx.saturation" in mapper.maps  # a bad scene keeps the old maps
    mapper.set_scene_maps([])
    send(mapper, cc(1, 0))
    assert bus.get("fx.hue") == -180.0


# --------------------------------------------------------------------------- learn


def test_learn_maps_the_next_fader_moved_and_it_then_works(registry, bus, caplog):
    mapper = MidiMapper(registry, bus)
    assert mapper.arm("fx.hue") == "fx.hue" and mapper.armed == "fx.hue"
    with caplog.at_level(logging.INFO, logger="live.control.midi"):
        send(mapper, cc(21, 40, channel=3), cc(21, 41, channel=3), cc(21, 43, channel=3))
    assert mapper.learned == ["ch 3 cc 21 -> fx.hue"]
    assert mapper.armed is None
    learned_lines = [r.getMessage() for r in caplog.records if "ch 3 cc 21" in r.getMessage()]
    assert len(learned_lines) == 1
    assert bus.get("fx.hue") == 0.0  # the learning messages themselves moved nothing
    send(mapper, cc(21, 64, channel=3))  # pickup: near the current value, so it follows
    send(mapper, cc(21, 127, channel=3))
    assert bus.get("fx.hue") == 180.0


def test_learn_with_an_empty_name_arms_the_last_changed_parameter(registry, bus):
    mapper = MidiMapper(registry, bus)
    with pytest.raises(ValueError, match="nothing has been changed yet"):
        mapper.arm("")
    bus.set("fx.zoom", 2.0)
    assert mapper.arm("") == "fx.zoom"
    assert mapper.armed == "fx.zoom"


def test_learn_off_cancels_and_bad_names_are_errors(registry, bus):
    mapper = MidiMapper(registry, bus, ["cc 1 -> fx.hue"], pickup=False)
    mapper.arm("fx.zoom")
    assert mapper.arm("off") is None and mapper.armed is None
    send(mapper, cc(1, 0))  # not consumed by learn
    assert bus.get("fx.hue") == -180.0 and mapper.learned == []
    with pytest.raises(ValueError, match="unknown parameter 'fx.zom'"):
        mapper.arm("fx.zom")
    with pytest.raises(ValueError, match="takes text"):
        mapper.arm("scene.go")


def test_learn_trigger_from_midi_learn_event_logs_instead_of_raising(registry, bus, caplog):
    mapper = MidiMapper(registry, bus)
    with caplog.at_level(logging.WARNING, logger="live.control.midi"):
        mapper.handle_trigger(TriggerEvent("midi.learn", 1.0, 0, "no.such"))
    assert "unknown parameter 'no.such'" in caplog.text
    mapper.handle_trigger(TriggerEvent("midi.learn", 1.0, 0, "fx.flash"))
    assert mapper.armed == "fx.flash"
    mapper.handle_trigger(TriggerEvent("cue.next", 1.0, 0))
    assert mapper.armed == "fx.flash"


def test_learn_a_14_bit_pair(registry, bus):
    mapper = MidiMapper(registry, bus)
    mapper.arm("fx.master")
    send(mapper, cc(7, 20), cc(39, 5))
    assert mapper.learned == ["ch 1 cc 7+39 -> fx.master"]


@pytest.mark.parametrize("values, learned", [
    ((1, 1, 1), "ch 1 cc 16 relative -> fx.rotate"),
    ((127, 127, 126), "ch 1 cc 16 relative -> fx.rotate"),
    ((65, 65, 66), "ch 1 cc 16 relative offset -> fx.rotate"),
    ((63, 62, 61), "ch 1 cc 16 -> fx.rotate"),  # a fader never repeats a value
])
def test_learn_tells_an_encoder_from_a_fader(values, learned, registry, bus):
    mapper = MidiMapper(registry, bus)
    mapper.arm("fx.rotate")
    send(mapper, *(cc(16, v) for v in values))
    assert mapper.learned == [learned]


def test_learn_notes_and_buttons(registry, bus, caplog):
    mapper = MidiMapper(registry, bus)
    mapper.arm("fx.flash")
    send(mapper, note_on(36, channel=10))
    mapper.arm("show.record")
    send(mapper, note_on(41))
    mapper.arm("cue.next")
    send(mapper, cc(64, 127))
    assert mapper.learned == ["ch 10 note 36 -> fx.flash", "ch 1 note 41 -> show.record",
                              "ch 1 cc 64 -> cue.next"]
    mapper.arm("fx.hue")
    with caplog.at_level(logging.WARNING, logger="live.control.midi"):
        send(mapper, note_on(50))  # a note cannot drive a float: stay armed
    assert "still armed for fx.hue" in caplog.text and mapper.armed == "fx.hue"


def test_learn_maps_a_single_cc_after_it_goes_quiet(registry, bus, monkeypatch):
    monkeypatch.setattr(midi, "LEARN_SETTLE_S", 0.01)
    mapper = MidiMapper(registry, bus)
    mapper.arm("fx.zoom")
    send(mapper, cc(30, 5))
    assert wait_for(lambda: mapper.learned == ["ch 1 cc 30 -> fx.zoom"])
    assert mapper.armed is None


def test_learned_map_replaces_the_old_map_of_that_control_and_wins_over_config(registry, bus):
    mapper = MidiMapper(registry, bus, ["ch 1 cc 1 -> fx.hue"], pickup=False)
    mapper.arm("fx.zoom")
    send(mapper, cc(1, 5), cc(1, 6), cc(1, 7))
    mapper.arm("fx.contrast")
    send(mapper, cc(1, 8), cc(1, 9), cc(1, 10))
    assert mapper.learned == ["ch 1 cc 1 -> fx.contrast"]
    send(mapper, cc(1, 0))
    assert bus.get("fx.contrast") == 0.0
    assert bus.get("fx.hue") == 0.0 and bus.get("fx.zoom") == 1.0


def test_another_control_during_learn_settles_the_first_and_drives_its_own_map(registry, bus):
    mapper = MidiMapper(registry, bus, ["cc 2 -> fx.zoom"], pickup=False)
    mapper.arm("fx.hue")
    send(mapper, cc(1, 5), cc(2, 0))
    assert mapper.learned == ["ch 1 cc 1 -> fx.hue"]
    assert bus.get("fx.zoom") == 0.25


# --------------------------------------------------------------------------- ports


def test_input_start_on_this_machine_warns_instead_of_raising_and_closes_fast(
        registry, bus, caplog):
    midi_in = MidiInput(MidiConfig(), MidiMapper(registry, bus))
    with caplog.at_level(logging.WARNING, logger="live.control.midi"):
        midi_in.start()
    try:
        if not midi_in.port_names:  # a machine without controllers (or without MIDI at all)
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1
            assert "MIDI input not available" in warnings[0].getMessage()
    finally:
        started = time.monotonic()
        midi_in.close()
        assert time.monotonic() - started < 20  # returns, never hangs (speed: not a test's job)


@pytest.mark.skipif(os.path.exists("/dev/snd/seq"), reason="this machine has an ALSA sequencer")
def test_the_real_backend_error_is_one_warning_with_its_reason(registry, bus, caplog,
                                                               monkeypatch):
    monkeypatch.setattr(midi, "_backend_problem", lambda: None)  # ask rtmidi for real
    midi_in = MidiInput(MidiConfig(device="nano"), MidiMapper(registry, bus))
    with caplog.at_level(logging.WARNING, logger="live.control.midi"):
        midi_in.start()
    midi_in.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Error" in warnings[0]


class FakePort:
    """Stands in for a mido input port: keeps the callback, records close()."""

    def __init__(self, name: str, callback) -> None:
        self.name = name
        self.callback = callback
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_watcher_opens_a_device_plugged_in_later_and_notices_it_vanish(
        registry, bus, monkeypatch, caplog):
    present: list[str] = ["Midi Through Port-0"]
    opened: list[FakePort] = []

    def open_input(name, callback=None):
        opened.append(FakePort(name, callback))
        return opened[-1]

    monkeypatch.setattr(midi, "_backend_problem", lambda: None)
    monkeypatch.setattr(midi.mido, "get_input_names", lambda: list(present))
    monkeypatch.setattr(midi.mido, "open_input", open_input)
    mapper = MidiMapper(registry, bus, ["cc 1 -> fx.hue"], pickup=False)
    midi_in = MidiInput(MidiConfig(device="NANO"), mapper, watch_interval_s=0.01)
    with caplog.at_level(logging.INFO, logger="live.control.midi"):
        midi_in.start()
        assert "no input port matches 'NANO'" in caplog.text
        assert "Midi Through Port-0" in caplog.text  # the warning lists what exists
        try:
            present.append("nanoKONTROL2:nanoKONTROL2 MIDI 1 20:0")
            assert wait_for(lambda: midi_in.port_names == ["nanoKONTROL2:nanoKONTROL2 MIDI 1 20:0"])
            opened[0].callback(cc(1, 0))  # what rtmidi's thread does with a message
            assert bus.get("fx.hue") == -180.0
            present.pop()
            assert wait_for(lambda: not midi_in.port_names)
            assert opened[0].closed
            assert wait_for(lambda: "MIDI input gone" in caplog.text)
        finally:
            midi_in.close()
    assert [p.name for p in opened] == ["nanoKONTROL2:nanoKONTROL2 MIDI 1 20:0"]


def test_an_exception_while_handling_a_message_is_counted_not_raised(registry, bus, caplog):
    midi_in = MidiInput(MidiConfig(), MidiMapper(registry, bus))
    with caplog.at_level(logging.ERROR, logger="live.control.midi"):
        midi_in._on_message("not a message")  # what a broken message could do
        midi_in._on_message(None)
    assert midi_in.errors == 2
    assert len(caplog.records) == 1  # logged once, not per message


def test_disabled_midi_opens_nothing(registry, bus, monkeypatch):
    def refuse():
        raise AssertionError("MIDI disabled, yet the backend was asked")

    monkeypatch.setattr(midi.mido, "get_input_names", refuse)
    midi_in = MidiInput(MidiConfig(enabled=False), MidiMapper(registry, bus))
    midi_in.start()
    midi_in.close()
    assert midi_in.port_names == []

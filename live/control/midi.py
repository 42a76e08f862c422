"""Direct MIDI control: map strings, the mapper that turns messages into bus calls, the ports.

Three parts, each usable (and tested) on its own:

``parse_map(text) -> MidiMap``
    One map string, e.g. ``"ch 2 cc 74 relative x4 -> fx.rotate"``, becomes a frozen
    ``MidiMap``; ``str(map)`` gives the canonical string back. A line that cannot work raises
    ``MidiMapError`` quoting the line and saying what is wrong. The grammar (docs/midi.md)::

        [ch N] cc N [relative [offset|signed] | offset | signed | toggle] [xM] -> param [value]
        [ch N] cc MSB+LSB -> param
        [ch N] note N [toggle] -> param [value]

``MidiMapper``
    Turns ``mido.Message`` objects into ``bus.set`` / ``bus.trigger`` calls. Maps come in three
    layers, config < scene < learned: for one control the highest layer that maps it wins, and
    within a layer a map that names a channel wins over one that does not. Each map keeps a
    few numbers of state (``_State``): what it last wrote and whether it has picked up the
    parameter (soft takeover), the halves of a 14-bit pair, whether a CC button is held. The
    state dict is rebuilt with the maps, so it never grows beyond them. MIDI learn lives here
    too: ``arm(name)``, then the next control moved becomes a map.

``MidiInput``
    Opens input ports with mido (rtmidi backend) whose callbacks call ``mapper.handle``, and a
    daemon watcher that looks for a controller plugged in (or pulled out) later. A missing
    backend, no matching port or a port that will not open is one warning, never an exception:
    the show goes on without MIDI.

Threads: each open port calls ``handle`` from its own rtmidi thread; ``arm`` comes from the
engine (a ``midi.learn`` trigger) and ``set_scene_maps`` from the scene loader. One lock guards
the maps, the per-map state and the learn state; it is held for a dictionary look-up and a bus
call (microseconds) and never while logging or touching a port.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import re
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import mido

from live.config import MidiConfig
from live.params import Bus, Param, Registry, TriggerEvent

log = logging.getLogger(__name__)

Kind = Literal["cc", "cc14", "note"]
Mode = Literal["absolute", "twos", "offset", "signed", "press", "toggle"]
"""absolute: the control's position covers the whole range; twos / offset / signed: a relative
encoder in that encoding; press: fire a trigger or set a fixed value on press; toggle: flip an
on/off parameter on press."""

RELATIVE_MODES = ("twos", "offset", "signed")
_RELATIVE_TEXT = {"twos": "relative", "offset": "relative offset", "signed": "relative signed"}

RELATIVE_STEPS = 128
"""A relative step moves a float parameter by 1/128 of its range (ints and enums: one unit)."""
MAX_STEP_SCALE = 64.0
PICKUP_TOLERANCE = 2 / 127
"""An absolute control picks up a parameter once it is this close (0-1) or crosses it."""
PRESS_THRESHOLD = 64
"""A CC button counts as pressed at this value and above (the usual 127 on / 0 off)."""
PAIR_WINDOW_S = 0.05
"""Learn: CC n and n+32 arriving this close together are one 14-bit control."""
LEARN_SAMPLES = 3
"""Learn: values of a CC looked at to tell a fader from a relative encoder."""
LEARN_SETTLE_S = 0.3
"""Learn: a CC that sends fewer than LEARN_SAMPLES values is mapped after this quiet time."""
WATCH_INTERVAL_S = 2.0
MAX_RETRY_S = 60.0
"""Backend errors are retried with a doubling delay up to this (each try may print on stderr)."""
ERROR_LOG_INTERVAL_S = 5.0

STAT_KINDS = ("published", "unmapped", "waiting", "other")
"""published: changed the bus; unmapped: no map for the control; waiting: an absolute control
has not picked up its parameter yet; other: nothing to do (note-off, button release, clock)."""


# --------------------------------------------------------------------------- map strings


class MidiMapError(ValueError):
    """A map string that cannot be used; the message quotes it and says what is wrong."""


@dataclass(frozen=True)
class MidiMap:
    """One control -> parameter map. ``str(m)`` is its canonical map string.

    ``number`` is the CC number, the MSB CC of a 14-bit pair, or the note number (0-127);
    ``lsb`` the LSB CC of a pair; ``channel`` 1-16 as printed on controllers (None = any);
    ``value`` the trigger argument or the value set on press (a number in the parameter's
    native range, or an enum's choice name), None when the control supplies it; ``scale`` the
    step multiplier of a relative encoder.
    """

    kind: Kind
    number: int
    param: str
    mode: Mode = "absolute"
    channel: int | None = None
    lsb: int | None = None
    value: float | str | None = None
    scale: float = 1.0

    @property
    def keys(self) -> tuple[tuple[str, int | None, int], ...]:
        """The (message kind, channel, number) slots this map listens on."""
        if self.kind == "cc14":
            return (("cc", self.channel, self.number), ("cc", self.channel, self.lsb))
        return ((self.kind, self.channel, self.number),)

    def __str__(self) -> str:
        words = [] if self.channel is None else ["ch", str(self.channel)]
        if self.kind == "note":
            words += ["note", str(self.number)]
        elif self.kind == "cc14":
            words += ["cc", f"{self.number}+{self.lsb}"]
        else:
            words += ["cc", str(self.number)]
        if self.mode in RELATIVE_MODES:
            words.append(_RELATIVE_TEXT[self.mode])
            if self.scale != 1.0:
                words.append(f"x{self.scale:g}")
        elif self.mode == "toggle" and self.kind == "cc":
            words.append("toggle")  # a note on an on/off parameter toggles without saying so
        words += ["->", self.param]
        if self.value is not None:
            words.append(self.value if isinstance(self.value, str) else f"{self.value:g}")
        return " ".join(words)


_DEFAULT_REGISTRY: Registry | None = None


def _default_registry() -> Registry:
    global _DEFAULT_REGISTRY
    if _DEFAULT_REGISTRY is None:
        _DEFAULT_REGISTRY = Registry()
    return _DEFAULT_REGISTRY


def parse_map(text: str, registry: Registry | None = None) -> MidiMap:
    """Parse one map string (grammar in the module docstring); ``MidiMapError`` if it is bad."""
    registry = registry or _default_registry()

    def error(why: str) -> MidiMapError:
        return MidiMapError(f"MIDI map {text!r}: {why}")

    source, arrow, target = text.partition("->")
    if not arrow:
        raise error('expected "<control> -> <parameter>", e.g. "cc 1 -> fx.hue"')
    # "7 + 39" and "7+39" are the same pair
    words = re.sub(r"\s*\+\s*", "+", source.strip().lower()).split()

    channel = None
    if words[:1] == ["ch"]:
        if len(words) < 2:
            raise error('"ch" needs a channel number 1-16')
        channel = _whole(words[1], "channel", 1, 16, error)
        words = words[2:]
    if not words or words[0] not in ("cc", "note"):
        raise error('expected "cc <number>" or "note <number>" before "->"')
    if len(words) < 2:
        raise error(f'"{words[0]}" needs a number 0-127')
    control, spec, rest = words[0], words[1], words[2:]

    lsb = None
    if control == "note":
        kind: Kind = "note"
        number = _whole(spec, "note", 0, 127, error)
    elif "+" in spec:
        kind = "cc14"
        msb_text, _, lsb_text = spec.partition("+")
        number = _whole(msb_text, "CC", 0, 127, error)
        lsb = _whole(lsb_text, "CC", 0, 127, error)
        if lsb == number:
            raise error(f"a 14-bit pair needs two different CCs (MSB+LSB, usually {number}+"
                        f"{number + 32}), not {number}+{lsb}")
    else:
        kind = "cc"
        number = _whole(spec, "CC", 0, 127, error)

    # mode words between the control and the arrow
    mode_word: str | None = None
    scale = None
    while rest:
        word = rest.pop(0)
        if word in ("relative", "offset", "signed", "toggle"):
            if mode_word is not None:
                raise error(f'"{word}" after "{mode_word}": a control has one mode')
            mode_word = word
            if word == "relative" and rest and rest[0] in ("twos", "offset", "signed"):
                mode_word = rest.pop(0)
            elif word == "relative":
                mode_word = "twos"
        elif word.startswith("x") and len(word) > 1 and scale is None:
            scale = _number(word[1:], "step multiplier", error)
            if not 0 < scale <= MAX_STEP_SCALE:
                raise error(f"step multiplier {word!r} must be above 0 and at most "
                            f"{MAX_STEP_SCALE:g}")
        else:
            raise error(f'unexpected {word!r}; after the control come only "relative", '
                        '"relative offset", "relative signed", "toggle" or a step multiplier '
                        'like "x4"')

    # the parameter, and maybe a fixed value
    target_words = target.split()
    if not target_words:
        raise error('no parameter after "->"')
    if len(target_words) > 2:
        raise error(f"expected a parameter and at most one value after \"->\", got "
                    f"{target.strip()!r}")
    name = target_words[0]
    if name not in registry:
        close = difflib.get_close_matches(name, registry.index, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise error(f"unknown parameter {name!r}{hint}")
    param = registry[name]
    if param.text:
        raise error(f"{name} takes text (a name or words), which a MIDI control cannot send; "
                    "use OSC for it")
    value = _value(param, target_words[1], error) if len(target_words) == 2 else None

    # which combinations make sense
    relative = mode_word in RELATIVE_MODES
    if scale is not None and not relative:
        raise error("a step multiplier (x4) is for relative encoders: write "
                    '"cc N relative x4 -> ..."')
    if kind == "cc14":
        if param.kind == "trigger":
            raise error(f"a 14-bit pair is an absolute fader and cannot fire the trigger "
                        f"{name}; map a single CC or a note to it")
        if relative or mode_word == "toggle":
            raise error(f'a 14-bit pair is always absolute; "{mode_word}" needs a single CC')
        if value is not None:
            raise error("a 14-bit pair sets the parameter from its position and takes no value")
        mode: Mode = "absolute"
    elif relative:
        if kind == "note":
            raise error("a note cannot be a relative encoder; relative modes need a CC")
        if param.kind == "trigger":
            raise error(f"a relative encoder cannot fire the trigger {name}; map a button (a "
                        "note, or a CC without \"relative\") to it")
        if value is not None:
            raise error("a relative encoder moves the parameter and takes no value")
        mode = mode_word  # type: ignore[assignment]
    elif mode_word == "toggle":
        if param.kind != "bool":
            raise error(f'"toggle" flips an on/off parameter; {name} is a {param.kind} '
                        'parameter')
        if value is not None:
            raise error('"toggle" takes no value')
        mode = "toggle"
    elif param.kind == "trigger" or value is not None:
        mode = "press"
    elif kind == "note" and param.kind == "bool":
        mode = "toggle"
    elif kind == "note":
        raise error(f"a note can fire a trigger, toggle an on/off parameter or set a fixed "
                    f"value; {name} is a {param.kind} parameter, so give the value to set "
                    f"(e.g. \"note {number} -> {name} {_example(param)}\") or map a CC to it")
    else:
        mode = "absolute"
    if param.kind == "trigger" and value is None and (param.lo, param.hi) != (0.0, 1.0):
        raise error(f"{name} takes an argument {param.lo:g}-{param.hi:g}: write it after the "
                    f"name, e.g. \"... -> {name} {_example(param)}\"")

    return MidiMap(kind, number, name, mode, channel, lsb, value,
                   1.0 if scale is None else scale)


def parse_maps(texts: Iterable[str | MidiMap], registry: Registry | None = None
               ) -> tuple[MidiMap, ...]:
    """Parse many map strings; one ``MidiMapError`` names every bad line (one per line)."""
    maps, problems = [], []
    for text in texts:
        if isinstance(text, MidiMap):
            maps.append(text)
            continue
        try:
            maps.append(parse_map(text, registry))
        except MidiMapError as exc:
            problems.append(str(exc))
    if problems:
        raise MidiMapError("\n".join(problems))
    return tuple(maps)


def _number(word: str, what: str, error) -> float:
    try:
        number = float(word)
    except ValueError:
        raise error(f"{what} {word!r} is not a number") from None
    if not math.isfinite(number):
        raise error(f"{what} {word!r} is not a finite number")
    return number


def _whole(word: str, what: str, lo: int, hi: int, error) -> int:
    if not (word.isascii() and word.isdigit()) or len(word) > 9:  # "²".isdigit() is True
        raise error(f"{what} {word!r} is not a whole number")
    number = int(word)
    if not lo <= number <= hi:
        raise error(f"{what} {number} is outside {lo}-{hi}")
    return number


def _value(param: Param, word: str, error) -> float | str:
    """A fixed value or trigger argument, checked against the parameter."""
    if param.kind == "enum":
        if word in param.choices:
            return word
        if word.isascii() and word.isdigit() and int(word) < len(param.choices):
            return param.choices[int(word)]
        raise error(f"{word!r} is not one of {param.name}'s choices: {', '.join(param.choices)}")
    number = _number(word, "value", error)
    if not param.lo <= number <= param.hi:
        raise error(f"value {word} is outside {param.name}'s range {param.lo:g}-{param.hi:g}")
    if param.kind in ("int", "bool") and number != round(number):
        raise error(f"{param.name} takes whole numbers, not {word}")
    return number


def _example(param: Param) -> str:
    if param.kind == "enum":
        return param.choices[-1]
    if param.kind == "trigger":
        return f"{min(param.lo + 3, param.hi):g}"
    return f"{param.hi:g}"


# --------------------------------------------------------------------------- the mapper


@dataclass(slots=True)
class _State:
    """What one map remembers between messages: a handful of numbers, never a history."""

    written: float | None = None
    """The value this map last published (pickup: a different bus value was set elsewhere)."""
    engaged: bool = False
    """The control has picked up the parameter and moves it."""
    position: float | None = None
    """The control's last position 0-1 (pickup: to see it cross the parameter's value)."""
    msb: int | None = None
    lsb: int | None = None
    pressed: bool = False
    """A CC button is held (value >= PRESS_THRESHOLD); presses act on the rising edge."""


@dataclass(slots=True)
class _PendingLearn:
    """A CC heard while learn is armed, before we know whether it is a fader or an encoder."""

    channel: int
    number: int
    started_s: float
    values: list[int]


class MidiMapper:
    """Publishes MIDI messages to the bus through maps; holds MIDI learn.

    ``maps`` are the config maps (strings or ``MidiMap``); a bad one raises ``MidiMapError``
    naming every bad line. ``pickup`` turns soft takeover on for absolute controls.
    """

    def __init__(self, registry: Registry, bus: Bus, maps: Iterable[str | MidiMap] = (),
                 pickup: bool = True) -> None:
        self.registry = registry
        self.bus = bus
        self.pickup = pickup
        self._lock = threading.Lock()
        self._config = parse_maps(maps, registry)
        self._scene: tuple[MidiMap, ...] = ()
        self._learned: list[MidiMap] = []
        # (kind, channel or None, number) -> (layer rank, maps); rank 0 = learned, the highest
        self._table: dict[tuple[str, int | None, int], tuple[int, tuple[MidiMap, ...]]] = {}
        self._state: dict[MidiMap, _State] = {}
        self._armed: str | None = None
        self._pending: _PendingLearn | None = None
        self._settle_timer: threading.Timer | None = None
        self._stats = dict.fromkeys(STAT_KINDS, 0)
        self._rebuild()

    # ---- what the HUD, the CLI and tests read

    @property
    def armed(self) -> str | None:
        """The parameter MIDI learn is armed for, or None."""
        return self._armed

    @property
    def learned(self) -> list[str]:
        """Maps made by MIDI learn this session, as map strings for config.toml."""
        with self._lock:
            return [str(m) for m in self._learned]

    @property
    def ignored(self) -> int:
        """Messages that changed nothing (unmapped, waiting for pickup, releases, clock...)."""
        with self._lock:
            return sum(n for kind, n in self._stats.items() if kind != "published")

    @property
    def stats(self) -> dict[str, int]:
        """Messages by outcome (``STAT_KINDS``), a copy."""
        with self._lock:
            return dict(self._stats)

    @property
    def maps(self) -> list[str]:
        """Every map in effect (learned, scene, config), shadowed ones left out."""
        with self._lock:
            seen: dict[MidiMap, None] = {}
            for _, maps in sorted(self._table.values(), key=lambda entry: entry[0]):
                seen.update(dict.fromkeys(maps))
            return [str(m) for m in seen]

    # ---- layers

    def set_scene_maps(self, maps: Iterable[str | MidiMap]) -> None:
        """Replace the scene's maps (config maps stay; a scene map wins for the same control).

        All or nothing: a bad map raises ``MidiMapError`` and the old scene maps stay.
        """
        parsed = parse_maps(maps, self.registry)
        with self._lock:
            self._scene = parsed
            self._rebuild()

    def restore_learned(self, maps: Iterable[str | MidiMap]) -> None:
        """Put back maps learned in an earlier run (the gallery state); all or nothing."""
        parsed = parse_maps(maps, self.registry)
        with self._lock:
            self._learned = list(parsed)
            self._rebuild()

    def _rebuild(self) -> None:
        """Rebuild the look-up table and keep the state of maps that survive (lock held)."""
        table: dict[tuple[str, int | None, int], tuple[int, tuple[MidiMap, ...]]] = {}
        for rank, layer in enumerate((self._learned, self._scene, self._config)):
            by_key: dict[tuple[str, int | None, int], list[MidiMap]] = {}
            for m in layer:
                for key in m.keys:
                    by_key.setdefault(key, []).append(m)
            for key, maps in by_key.items():
                table.setdefault(key, (rank, tuple(maps)))
        self._table = table
        old = self._state
        self._state = {m: old.get(m) or _State() for _, maps in table.values() for m in maps}

    def _lookup(self, kind: str, channel: int, number: int) -> tuple[MidiMap, ...]:
        """Maps for one control: the highest layer wins, then a channel-specific map."""
        specific = self._table.get((kind, channel, number))
        any_channel = self._table.get((kind, None, number))
        if specific is None:
            return any_channel[1] if any_channel else ()
        if any_channel is None or specific[0] <= any_channel[0]:
            return specific[1]
        return any_channel[1]

    # ---- messages

    def handle(self, msg: mido.Message, stamp_ns: int | None = None) -> None:
        """Publish what one message means to the bus (called from mido's callback threads)."""
        if msg.type == "control_change":
            source, number, data = "cc", msg.control, msg.value
        elif msg.type == "note_on" and msg.velocity > 0:
            source, number, data = "note", msg.note, msg.velocity
        else:  # note-off (or note-on with velocity 0), clock, program change, sysex...
            with self._lock:
                self._stats["other"] += 1
            return
        channel = msg.channel + 1
        stamp = time.perf_counter_ns() if stamp_ns is None else stamp_ns
        report = None
        with self._lock:
            consumed = False
            if self._armed is not None:
                consumed, report = self._learn(source, channel, number, data)
            if not consumed:
                outcome = "unmapped"
                for m in self._lookup(source, channel, number):
                    result = self._apply(m, number, data, stamp)
                    if outcome != "published":
                        outcome = result
                self._stats[outcome] += 1
        if report is not None:
            _log_report(report)

    def _apply(self, m: MidiMap, number: int, data: int, stamp: int) -> str:
        """Publish one map's effect; returns the outcome for ``stats`` (lock held)."""
        param = self.registry[m.param]
        state = self._state[m]
        if m.mode in ("press", "toggle"):
            if m.kind == "cc":  # a button: act on the rising edge only
                pressed = data >= PRESS_THRESHOLD
                rising = pressed and not state.pressed
                state.pressed = pressed
                if not rising:
                    return "other"
            if m.mode == "toggle":
                self.bus.set(m.param, 0.0 if self.bus.get(m.param) >= 0.5 else 1.0, stamp)
            elif param.kind == "trigger":
                # a 0-1 trigger without a fixed argument gets the velocity (or CC value)
                arg = data / 127 if m.value is None else float(m.value)
                self.bus.trigger(m.param, arg, stamp)
            else:
                self.bus.set(m.param, m.value, stamp)
            return "published"

        if m.mode in RELATIVE_MODES:
            steps = _relative_steps(m.mode, data)
            if steps == 0:
                return "other"
            if param.kind == "float":
                delta = steps * m.scale * (param.hi - param.lo) / RELATIVE_STEPS
            else:  # ints, enums, bools: whole units, at least one per click
                delta = math.copysign(max(1, round(abs(steps) * m.scale)), steps)
            self.bus.set(m.param, self.bus.get(m.param) + delta, stamp)
            return "published"

        if m.kind == "cc14":
            if number == m.number:
                state.msb = data
            else:
                state.lsb = data
            if state.msb is None:
                return "other"  # an LSB means nothing until we have heard its MSB
            # A controller that never sends the LSB is a 7-bit fader and must reach the top.
            position = ((state.msb << 7 | state.lsb) / 16383 if state.lsb is not None
                        else state.msb / 127)
        else:
            position = data / 127
        return self._absolute(m, param, state, position, stamp)

    def _absolute(self, m: MidiMap, param: Param, state: _State, position: float,
                  stamp: int) -> str:
        """An absolute control at ``position`` (0-1), with soft takeover (lock held)."""
        value = param.clamp(param.from_norm(position))
        if self.pickup:
            current = self.bus.get(m.param)
            if state.engaged and current != state.written:
                state.engaged = False  # moved by someone else: pick it up again first
            if not state.engaged:
                target = param.to_norm(current)
                reached = value == current or abs(position - target) <= PICKUP_TOLERANCE
                # the control was already at the value (e.g. the move that learned it), or
                # this move reached or crossed it
                crossed = (state.position is not None
                           and ((state.position - target) * (position - target) <= 0
                                or abs(state.position - target) <= PICKUP_TOLERANCE))
                state.position = position
                if not (reached or crossed):
                    return "waiting"
                state.engaged = True
        state.position = position
        state.written = self.bus.set(m.param, value, stamp)
        return "published"

    # ---- MIDI learn

    def arm(self, name: str) -> str | None:
        """Arm learn for ``name``; ``""`` = the last parameter changed, ``"off"`` = cancel.

        Returns the armed name (None after "off"). An unknown name, or a parameter MIDI cannot
        drive, is a ``ValueError`` with a message for the user.
        """
        name = name.strip()
        if name.lower() == "off":
            with self._lock:
                was = self._armed
                self._disarm()
            if was is not None:
                log.info("MIDI learn for %s cancelled", was)
            return None
        if not name:
            name = self.bus.last_changed() or ""
            if not name:
                raise ValueError('MIDI learn: nothing has been changed yet, so there is no '
                                 '"last changed" parameter; name one, e.g. "fx.hue"')
        if name not in self.registry:
            close = difflib.get_close_matches(name, self.registry.index, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"MIDI learn: unknown parameter {name!r}{hint}")
        param = self.registry[name]
        if param.text:
            raise ValueError(f"MIDI learn: {name} takes text, which a MIDI control cannot send")
        with self._lock:
            self._disarm()
            self._armed = name
        log.info("MIDI learn armed for %s: move a control (\"off\" cancels)", name)
        return name

    def handle_trigger(self, event: TriggerEvent) -> None:
        """Act on a ``midi.learn`` trigger (OSC, keyboard); a bad name is logged, not raised."""
        if event.name != "midi.learn":
            return
        try:
            self.arm(event.text)
        except ValueError as exc:
            log.warning("%s", exc)

    def _disarm(self) -> None:
        """Forget the armed parameter and any half-heard control (lock held)."""
        self._armed = None
        self._pending = None
        if self._settle_timer is not None:
            self._settle_timer.cancel()
            self._settle_timer = None

    def _learn(self, source: str, channel: int, number: int, data: int
               ) -> tuple[bool, tuple[str, str] | None]:
        """Feed one message to learn (lock held).

        Returns (consumed, report): a consumed message does not also drive its old map; the
        report is (level, message) to log once the lock is released.
        """
        name = self._armed
        assert name is not None
        pending = self._pending
        if pending is not None:
            same_channel_cc = source == "cc" and channel == pending.channel
            if (same_channel_cc and abs(number - pending.number) == 32
                    and min(number, pending.number) < 32
                    and time.monotonic() - pending.started_s <= PAIR_WINDOW_S):
                msb, lsb = sorted((number, pending.number))
                return True, self._finish(f"ch {channel} cc {msb}+{lsb} -> {name}")
            if same_channel_cc and number == pending.number:
                pending.values.append(data)
                if len(pending.values) < LEARN_SAMPLES:
                    return True, None
                return True, self._finish_pending()
            # another control: settle the one we heard, then this message drives its own map
            return False, self._finish_pending()

        param = self.registry[name]
        if source == "note" or param.kind == "trigger":
            # a note, or a button for a trigger: one message says all there is to know
            return True, self._finish(f"ch {channel} {source} {number} -> {name}")
        self._pending = _PendingLearn(channel, number, time.monotonic(), [data])
        timer = threading.Timer(LEARN_SETTLE_S, self._settle, args=(self._pending,))
        timer.daemon = True
        self._settle_timer = timer
        timer.start()
        return True, None

    def _settle(self, pending: _PendingLearn) -> None:
        """Timer thread: map a CC that went quiet before sending LEARN_SAMPLES values."""
        with self._lock:
            if self._pending is not pending:
                return  # already mapped, cancelled or re-armed
            report = self._finish_pending()
        _log_report(report)

    def _finish_pending(self) -> tuple[str, str]:
        pending = self._pending
        assert pending is not None and self._armed is not None
        mode = _guess_mode(pending.values)
        words = f" {_RELATIVE_TEXT[mode]}" if mode in RELATIVE_MODES else ""
        report = self._finish(f"ch {pending.channel} cc {pending.number}{words} -> "
                              f"{self._armed}")
        # the learning moves tell where the control is, so pickup can see the next move
        # reach or cross the parameter's value
        for m in self._lookup("cc", pending.channel, pending.number):
            if m.kind == "cc" and m.mode == "absolute":
                self._state[m].position = pending.values[-1] / 127
        return report

    def _finish(self, text: str) -> tuple[str, str]:
        """Add a learned map, replacing learned maps on the same control (lock held)."""
        name = self._armed
        try:
            new = parse_map(text, self.registry)
        except MidiMapError as exc:
            # e.g. a note for a float parameter: stay armed so the user can move a fader
            self._pending = None
            return "warning", f"{exc}; still armed for {name}, move another control"
        keys = set(new.keys)
        self._learned = [m for m in self._learned if not keys & set(m.keys)] + [new]
        self._disarm()
        self._rebuild()
        return "info", f"MIDI learn: {new}    (add it to [midi] maps in config.toml to keep it)"


def _log_report(report: tuple[str, str]) -> None:
    level, message = report
    log.log(logging.WARNING if level == "warning" else logging.INFO, "%s", message)


def _relative_steps(mode: str, data: int) -> int:
    """Signed steps of one relative-encoder message."""
    if mode == "twos":  # two's complement: 1..63 up, 127..65 down (127 = -1)
        return data - 128 if data >= 64 else data
    if mode == "offset":  # binary offset: 64 = no change, 65 = +1, 63 = -1
        return data - 64
    # sign-magnitude: 1..63 up, 65..127 down (65 = -1); 0 and 64 mean no change
    return -(data - 64) if data >= 64 else data


def _guess_mode(values: list[int]) -> str:
    """Fader or encoder, from the first few values of a CC heard during learn.

    A fader or knob sends a value only when its position changes, so it never repeats one;
    an encoder turned one way repeats its step (1, 1, 1 or 65, 65, 65). Repeats near 64 mean
    binary offset, near 0/127 two's complement. Sign-magnitude cannot be told from these two
    by its first values; it is configured by hand.
    """
    if not any(a == b for a, b in zip(values, values[1:], strict=False)):
        return "absolute"
    if all(0 < abs(v - 64) <= 16 for v in values):
        return "offset"
    if all(1 <= v <= 16 or v >= 112 for v in values):
        return "twos"
    return "absolute"


# --------------------------------------------------------------------------- the ports


def _backend_problem() -> str | None:
    """A reason MIDI input cannot work here that is known without asking the backend.

    Asking rtmidi's ALSA backend without a sequencer fails, and ALSA also prints its own
    error lines on stderr every time; the watcher asks this (a file check) first instead.
    """
    backend = mido.backend
    if (sys.platform.startswith("linux") and backend.name == "mido.backends.rtmidi"
            and backend.api in (None, "LINUX_ALSA") and not os.path.exists("/dev/snd/seq")):
        return ("no ALSA sequencer (/dev/snd/seq does not exist; in a container pass the "
                "host's /dev/snd into it, on a host load the snd-seq kernel module)")
    return None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().rstrip('.')}"


class MidiInput:
    """Opens the configured MIDI input ports and keeps looking for them.

    ``start()`` never raises for MIDI trouble and never blocks for long: what cannot be opened
    is one warning, and a watcher thread (every ``watch_interval_s``) opens a matching port
    plugged in later and closes one that vanished, logging each once.
    """

    def __init__(self, cfg: MidiConfig, mapper: MidiMapper,
                 watch_interval_s: float = WATCH_INTERVAL_S) -> None:
        self.cfg = cfg
        self.mapper = mapper
        self.watch_interval_s = watch_interval_s
        self.errors = 0
        """Messages whose handling raised (counted, logged at most every few seconds)."""
        self._ports: dict[str, mido.ports.BaseInput] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._problem: str | None = None  # the backend problem reported last (logged once)
        self._refused: dict[str, str] = {}  # ports that would not open, and why
        self._last_error_log = -math.inf

    @property
    def port_names(self) -> list[str]:
        """Names of the ports open now."""
        with self._lock:
            return list(self._ports)

    def start(self) -> None:
        """Open the matching ports and start the watcher; MIDI trouble is one warning."""
        if not self.cfg.enabled or self._watcher is not None:
            return
        opened, _, problem, available = self._scan()
        self._problem = problem
        if opened:
            log.info("MIDI input: %s", ", ".join(opened))
        else:
            if problem is not None:
                why = problem
            elif self._refused:
                why = "; ".join(f"{n} would not open ({e})" for n, e in self._refused.items())
            elif self.cfg.device:
                why = f"no input port matches {self.cfg.device!r}"
            else:
                why = "no input ports found"
            found = ", ".join(available) if available else "none"
            listed = "" if problem is not None else f" (ports found: {found})"
            log.warning("MIDI input not available: %s%s; the show goes on without MIDI, "
                        "looking again every %g s", why, listed, self.watch_interval_s)
        self._watcher = threading.Thread(target=self._watch, name="midi-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        """Stop the watcher and close the ports (returns within about a second)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=1.0)
        with self._lock:
            ports = list(self._ports.values())
            self._ports.clear()
        for port in ports:
            _close_quietly(port)

    def _matches(self, name: str) -> bool:
        return self.cfg.device.lower() in name.lower()

    def _scan(self) -> tuple[list[str], list[str], str | None, list[str]]:
        """One look at the ports: open new matching ones, close vanished ones.

        Returns (opened, gone, backend problem or None, names of the input ports found).
        """
        problem = _backend_problem()
        if problem is not None:
            return [], [], problem, []
        try:
            available = mido.get_input_names()
        except Exception as exc:  # rtmidi's SystemError, a missing backend module, ...
            return [], [], _describe(exc), []
        with self._lock:
            gone = [name for name in self._ports if name not in available]
            closing = [self._ports.pop(name) for name in gone]
        for port in closing:
            _close_quietly(port)
        # a refused port that went away may be plugged in again and work
        self._refused = {n: e for n, e in self._refused.items() if n in available}
        opened = []
        for name in available:
            if not self._matches(name) or name in self._refused or name in self.port_names:
                continue
            try:
                port = mido.open_input(name, callback=self._on_message)
            except Exception as exc:
                self._refused[name] = _describe(exc)
                continue
            with self._lock:
                if self._stop.is_set():  # close() ran meanwhile: do not leak the port
                    _close_quietly(port)
                    break
                self._ports[name] = port
            opened.append(name)
        return opened, gone, None, available

    def _watch(self) -> None:
        delay = self.watch_interval_s
        while not self._stop.wait(delay):
            refused_before = set(self._refused)
            opened, gone, problem, _ = self._scan()
            if problem != self._problem:
                if problem is not None:
                    log.warning("MIDI input not available: %s", problem)
                else:
                    log.info("MIDI backend available again")
                self._problem = problem
            for name in opened:
                log.info("MIDI input opened: %s", name)
            for name in gone:
                log.warning("MIDI input gone: %s (it is opened again when it comes back)", name)
            for name in self._refused.keys() - refused_before:
                log.warning("MIDI input %s would not open: %s", name, self._refused[name])
            # a backend that fails may print on stderr at each try: back off; a missing
            # sequencer is a file check, so keep looking at the normal pace
            backend_failing = problem is not None and _backend_problem() is None
            delay = min(delay * 2, MAX_RETRY_S) if backend_failing else self.watch_interval_s

    def _on_message(self, msg: mido.Message) -> None:
        """mido's callback (an rtmidi thread): nothing raised here may end the input."""
        stamp = time.perf_counter_ns()
        try:
            self.mapper.handle(msg, stamp)
        except Exception:
            self.errors += 1
            now = time.monotonic()
            if now - self._last_error_log >= ERROR_LOG_INTERVAL_S:
                self._last_error_log = now
                log.exception("MIDI message %s could not be handled (%d so far); input goes on",
                              msg, self.errors)


def _close_quietly(port) -> None:
    try:
        port.close()
    except Exception as exc:  # a port whose device vanished may fail to close
        log.debug("closing MIDI port %s: %s", getattr(port, "name", port), exc)

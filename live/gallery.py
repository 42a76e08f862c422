"""Unattended shows: playlists with a daily schedule, the state kept across restarts, and a
watchdog.

A playlist file (``live run --playlist FILE``)::

    shuffle = false             # play the scenes in order (true: a shuffled order each round)

    [[scene]]
    name = "gallery-calm"
    minutes = 20                # or seconds = ...

    [[scene]]
    name = "vae-drift"
    minutes = 15

    [schedule]                  # optional: the hours the show is on, every day
    on = "09:30"
    off = "18:00"
    off_scene = ""              # "" = black out of hours; or a (calm) scene name

``Playlist`` runs on its own thread and only publishes ``scene.go`` triggers and, out of hours,
``fx.master`` = 0 to the bus, like any other control source; the scenes thread does the loading
and the engine the crossfades.

``StateKeeper`` writes the show's state (scene, playlist position, cues, learned MIDI maps) to a
JSON file every few seconds when it changed, atomically (a temporary file, flushed and synced,
then renamed over the old one), so a crash or power cut mid-write leaves the previous state
intact; ``live run`` reads it back at start. The state file is input like a scene file: it is
read through ``live.safeio`` and checked entry by entry (``read_state``), and an entry that is
wrong is dropped with a warning, so a damaged or hostile state can cost the show its place but
never its start.

``Watchdog`` watches the render loop: while frames keep coming it tells systemd (when run as a
``Type=notify`` service with ``WatchdogSec``); when the loop has shown nothing for
``stall_s`` it saves the state and ends the process with status 70, and systemd
(``Restart=always``) starts it again, back where it was.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as clock_time
from pathlib import Path

import numpy as np

from live.safeio import PLAYLIST_MAX_BYTES, STATE_MAX_BYTES, read_text
from live.walk import CUE_SLOTS, finite_latent

log = logging.getLogger(__name__)

EXIT_STALLED = 70


class _Background:
    """A part with one daemon thread running ``_run`` until ``close`` sets ``_stop``."""

    thread_name = "background"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        raise NotImplementedError


class PlaylistError(ValueError):
    """A playlist that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Entry:
    scene: str
    seconds: float


@dataclass(frozen=True)
class Schedule:
    on: clock_time
    off: clock_time
    off_scene: str = ""

    def is_on(self, now: datetime) -> bool:
        t = now.time()
        if self.on <= self.off:
            return self.on <= t < self.off
        return t >= self.on or t < self.off  # through midnight (e.g. 18:00 to 02:00)


@dataclass(frozen=True)
class PlaylistFile:
    entries: tuple[Entry, ...]
    shuffle: bool = False
    schedule: Schedule | None = None
    path: Path | None = None


def _clock(text, where: str) -> clock_time:
    try:
        hours, minutes = (int(v) for v in str(text).split(":"))
        return clock_time(hours, minutes)
    except (ValueError, TypeError):
        raise PlaylistError(f"{where}: expected a time like \"09:30\", got {text!r}") from None


def load_playlist(path: Path, known_scenes: list[str]) -> PlaylistFile:
    try:
        text = read_text(path, PLAYLIST_MAX_BYTES)
    except OSError as exc:  # safeio's message names the file and the reason
        raise PlaylistError(str(exc)) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlaylistError(f"{path}: {exc}") from None
    extra = sorted(set(raw) - {"shuffle", "scene", "schedule"})
    if extra:
        raise PlaylistError(f"{path}: unknown key {extra[0]!r} (known: shuffle, scene, "
                            "schedule)")
    scenes = raw.get("scene", [])
    if not isinstance(scenes, list) or not scenes:
        raise PlaylistError(f"{path}: needs at least one [[scene]] with a name and minutes")
    entries = []
    for i, item in enumerate(scenes, start=1):
        where = f"{path}: scene {i}"
        if not isinstance(item, dict) or "name" not in item:
            raise PlaylistError(f"{where}: needs name = \"...\"")
        name = item["name"]
        if name not in known_scenes:
            raise PlaylistError(f"{where}: unknown scene {name!r} (known: "
                                f"{', '.join(known_scenes)})")
        seconds = item.get("seconds", 60.0 * item.get("minutes", 0))
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 5:
            raise PlaylistError(f"{where}: give minutes or seconds (at least 5 s)")
        extra = sorted(set(item) - {"name", "minutes", "seconds"})
        if extra:
            raise PlaylistError(f"{where}: unknown key {extra[0]!r}")
        entries.append(Entry(name, float(seconds)))
    schedule = None
    if "schedule" in raw:
        table = raw["schedule"]
        where = f"{path}: [schedule]"
        if not isinstance(table, dict) or "on" not in table or "off" not in table:
            raise PlaylistError(f"{where}: needs on = \"HH:MM\" and off = \"HH:MM\"")
        off_scene = table.get("off_scene", "")
        if off_scene and off_scene not in known_scenes:
            raise PlaylistError(f"{where}: unknown off_scene {off_scene!r}")
        schedule = Schedule(_clock(table["on"], where), _clock(table["off"], where), off_scene)
    shuffle = raw.get("shuffle", False)
    if not isinstance(shuffle, bool):
        raise PlaylistError(f"{path}: shuffle must be true or false")
    return PlaylistFile(tuple(entries), shuffle, schedule, path)


class Playlist(_Background):
    """Rotates scenes on a timer and keeps the schedule (its own thread; publishes only)."""

    thread_name = "playlist"

    def __init__(self, playlist: PlaylistFile, bus, clock=datetime.now, index: int = 0,
                 seed: int | None = None) -> None:
        super().__init__()
        self.playlist = playlist
        self.bus = bus
        self.clock = clock
        self.order = list(range(len(playlist.entries)))
        self._rng = random.Random(seed)
        if playlist.shuffle:
            self._rng.shuffle(self.order)
        self.index = index % len(self.order)
        self.state = ""
        """"playing" | "off" (out of hours)."""
        self._entered = time.monotonic()

    @property
    def current(self) -> Entry:
        return self.playlist.entries[self.order[self.index]]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("playlist step failed")
            self._stop.wait(0.5)

    def tick(self, now_s: float | None = None) -> None:
        """One look at the clock: switch on or off, or move on when the scene's time is up."""
        now_s = time.monotonic() if now_s is None else now_s
        schedule = self.playlist.schedule
        if schedule is not None and not schedule.is_on(self.clock()):
            if self.state != "off":
                self.state = "off"
                if schedule.off_scene:
                    log.info("playlist: out of hours, %s", schedule.off_scene)
                    self.bus.trigger("scene.go", text=schedule.off_scene)
                else:
                    log.info("playlist: out of hours, black")
                    self.bus.set("fx.master", 0.0)
            return
        if self.state != "playing":  # starting, or back in hours
            self.state = "playing"
            self._go(now_s)
            return
        if now_s - self._entered >= self.current.seconds:
            self.index += 1
            if self.index >= len(self.order):
                self.index = 0
                if self.playlist.shuffle:
                    self._rng.shuffle(self.order)
            self._go(now_s)

    def _go(self, now_s: float) -> None:
        self._entered = now_s
        log.info("playlist: %s for %.0f s", self.current.scene, self.current.seconds)
        self.bus.trigger("scene.go", text=self.current.scene)


# ---------------------------------------------------------------------------- state


@dataclass
class ShowState:
    scene: str = ""
    playlist_index: int = 0
    cues: list = field(default_factory=list)
    """One entry per cue slot: a list of floats, or None."""
    latent_dim: int = 0
    midi_learned: list = field(default_factory=list)
    saved_at: str = ""


STATE_ENTRIES = tuple(ShowState.__dataclass_fields__)
MAX_LATENT_DIM = 1 << 16
MAX_LEARNED = 256
"""Learned MIDI maps kept in a state: far more than a controller has controls."""
MAX_TEXT_CHARS = 200
"""Longest scene name, learned map or time stamp a state may hold."""


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a reader sees the old or the new file, never a
    mix, whatever happens in between (the rename is atomic on POSIX filesystems)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _show(value: object) -> str:
    """A value as a warning quotes it: short, whatever was in the file."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _whole_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def scene_name_problem(name: object, scenes: Collection[str] | None) -> str | None:
    """Why ``name`` cannot be the saved scene (None when it can).

    The state may only choose among the scene files in the scenes folder: a plain name, never
    a path, and (when ``scenes`` is given) one of those files' names.
    """
    if not isinstance(name, str):
        return f"expected a scene name, got {_show(name)}"
    if len(name) > MAX_TEXT_CHARS:
        return f"a name of {len(name)} characters is not a scene name"
    if ("/" in name or "\\" in name or "\0" in name or ".." in name
            or os.path.isabs(name) or name.endswith(".toml") or name.strip() != name):
        return (f"{_show(name)} is not a plain scene name: the state only chooses among the "
                "files in the scenes folder")
    if scenes is not None and name not in scenes:
        return f"no scene {name!r} in the scenes folder (deleted or renamed?)"
    return None


def read_state(path: Path, scenes: Collection[str] | None = None,
               playlist_length: int | None = None) -> ShowState | None:
    """The saved state with every usable entry, or None (no file, or nothing readable in it).

    The file is read like any other the show takes from a user (``live.safeio``: a regular
    file of at most ``STATE_MAX_BYTES``) and each entry is checked for type and range. An
    entry that fails is dropped with one warning naming it and why, and the show starts
    without it, so a damaged, stale or hostile state never stops the show from starting.
    ``scenes``: the names of the scene files (the saved scene must be one of them);
    ``playlist_length``: how many entries the playlist has (the saved position must be one).
    """
    if not os.path.lexists(path):
        return None
    try:
        text = read_text(path, STATE_MAX_BYTES)
    except OSError as exc:
        log.warning("state not used: %s", exc)
        return None
    try:
        # Nesting is bounded by the parser: past the interpreter's recursion limit (about
        # 1,000 levels) it raises RecursionError. A state is three levels deep, and nothing
        # below recurses into what was parsed, so deeper (but parseable) input is only ever
        # a wrong type for its entry.
        raw = json.loads(text)
    except Exception as exc:  # whatever the parser raises (RecursionError too): unreadable
        log.warning("state %s unreadable, not used: %s", path,
                    str(exc)[:200] or type(exc).__name__)
        return None
    if not isinstance(raw, dict):
        log.warning("state %s not used: expected a JSON object of entries, got %s", path,
                    _show(raw))
        return None
    return check_state(raw, path, scenes, playlist_length)


def check_state(raw: dict, path: Path | str, scenes: Collection[str] | None = None,
                playlist_length: int | None = None) -> ShowState:
    """The entries of a parsed state that are usable (see ``read_state``); the others are
    dropped with one warning each."""
    state = ShowState()

    def drop(entry: str, why: str) -> None:
        log.warning("state %s: %s dropped: %s", path, entry, why)

    unknown = [key for key in raw if key not in STATE_ENTRIES]
    if unknown:  # one warning however many: a hostile file may hold thousands
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        drop(", ".join(_show(key) for key in unknown[:3]) + more,
             f"unknown entry (known: {', '.join(STATE_ENTRIES)})")

    scene = raw.get("scene", "")
    if scene != "":
        why = scene_name_problem(scene, scenes)
        if why:
            drop("scene", why)
        else:
            state.scene = scene

    if "playlist_index" in raw:
        index = raw["playlist_index"]
        if not _whole_number(index):
            drop("playlist_index", f"expected a whole number, got {_show(index)}")
        elif index < 0 or (playlist_length is not None and index >= playlist_length):
            drop("playlist_index", f"{index} is outside the playlist"
                 + (f" ({playlist_length} entries)" if playlist_length is not None else ""))
        else:
            state.playlist_index = index

    if "latent_dim" in raw:
        dim = raw["latent_dim"]
        if not _whole_number(dim) or not 0 <= dim <= MAX_LATENT_DIM:
            drop("latent_dim", f"expected a latent size 1-{MAX_LATENT_DIM}, got {_show(dim)}")
        else:
            state.latent_dim = dim

    if "cues" in raw:
        state.cues = _check_cues(raw["cues"], state.latent_dim, drop)

    if "midi_learned" in raw:
        learned = raw["midi_learned"]
        if not isinstance(learned, list):
            drop("midi_learned", f"expected a list of map strings, got {_show(learned)}")
        else:
            if len(learned) > MAX_LEARNED:
                drop(f"midi_learned[{MAX_LEARNED}:]", f"more than {MAX_LEARNED} maps")
            for i, text in enumerate(learned[:MAX_LEARNED]):
                if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
                    drop(f"midi_learned[{i}]", f"expected a map string, got {_show(text)}")
                else:
                    state.midi_learned.append(text)

    saved_at = raw.get("saved_at", "")
    if isinstance(saved_at, str) and len(saved_at) <= MAX_TEXT_CHARS:
        state.saved_at = saved_at
    else:
        drop("saved_at", f"expected a time stamp, got {_show(saved_at)}")
    return state


def _check_cues(cues: object, dim: int, drop) -> list:
    """The saved cue slots, each a list of ``dim`` finite floats or None."""
    if not isinstance(cues, list):
        drop("cues", f"expected a list of cue slots, got {_show(cues)}")
        return []
    if len(cues) > CUE_SLOTS:
        drop(f"cues[{CUE_SLOTS}:]", f"there are only {CUE_SLOTS} cue slots")
        cues = cues[:CUE_SLOTS]
    if dim == 0 and any(cue is not None for cue in cues):
        drop("cues", "no valid latent_dim to check them against")
        return []
    kept: list = []
    for slot, cue in enumerate(cues):
        if cue is None:
            kept.append(None)
            continue
        try:
            kept.append(finite_latent(cue, dim).tolist())
        except ValueError as exc:
            drop(f"cues[{slot}]", str(exc))
            kept.append(None)
    return kept


class StateKeeper(_Background):
    """Saves the show's state when it changes (every ``every_s``) and when closed."""

    thread_name = "state"

    def __init__(self, path: Path, engine, surface=None, playlist: Playlist | None = None,
                 every_s: float = 5.0) -> None:
        super().__init__()
        self.path = path
        self.engine = engine
        self.surface = surface
        self.playlist = playlist
        self.every_s = every_s
        self.writes = 0
        self._last = b""

    def snapshot(self) -> ShowState:
        walk = self.engine.walk
        mapper = getattr(self.surface, "midi", None)
        return ShowState(
            scene=self.engine.scene.name,
            playlist_index=self.playlist.index if self.playlist else 0,
            # a cue that is not finite is never written back: it would come back at every start
            cues=[None if cue is None or not np.isfinite(cue).all()
                  else [round(float(v), 6) for v in cue] for cue in walk.cues],
            latent_dim=walk.dim,
            midi_learned=list(mapper.learned) if mapper is not None else [],
        )

    def save(self) -> bool:
        """Write the state if it changed; True when it wrote."""
        state = self.snapshot()
        body = json.dumps({**state.__dict__, "saved_at": ""}, sort_keys=True,
                          allow_nan=False).encode()
        if body == self._last:
            return False
        state.saved_at = datetime.now().isoformat(timespec="seconds")
        write_atomically(self.path, json.dumps(state.__dict__, indent=1,
                                               allow_nan=False).encode())
        self._last = body
        self.writes += 1
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.save()
            except Exception as exc:  # a full disk must not stop the show
                log.error("state not saved: %s", exc)

    def close(self) -> None:
        super().close()
        try:
            self.save()
        except Exception as exc:
            log.error("state not saved: %s", exc)


def restore(state: ShowState, engine, surface=None) -> None:
    """Put saved cues and learned MIDI maps back (before the first frame).

    Checked again here, against this model's latent size and this registry, whoever built
    ``state``: a cue that is not a finite latent of the right size, or a map that does not
    parse, is left out with a warning; the rest is restored.
    """
    walk = engine.walk
    if any(cue is not None for cue in state.cues) and state.latent_dim != walk.dim:
        log.info("state: cues saved for latent size %d, this model has %d: not restored",
                 state.latent_dim, walk.dim)
    elif state.latent_dim == walk.dim:
        for slot, cue in enumerate(state.cues[: len(walk.cues)]):
            if cue is None:
                continue
            try:
                walk.cues[slot] = finite_latent(cue, walk.dim)
            except ValueError as exc:
                log.warning("state: cues[%d] not restored: %s", slot, exc)
    mapper = getattr(surface, "midi", None)
    if mapper is not None and state.midi_learned:
        from live.control.midi import parse_map

        maps = []
        for i, text in enumerate(state.midi_learned):
            if not isinstance(text, str):
                log.warning("state: midi_learned[%d] not restored: not a map string", i)
                continue
            try:
                maps.append(parse_map(text, mapper.registry))
            except ValueError as exc:
                log.warning("state: midi_learned[%d] not restored: %s", i, exc)
        if maps:
            mapper.restore_learned(maps)


# ---------------------------------------------------------------------------- watchdog


class Watchdog(_Background):
    """Keeps systemd's watchdog fed while frames come; ends a stalled process (status 70)."""

    thread_name = "watchdog"

    def __init__(self, engine, stall_s: float = 10.0, on_stall=None, exit=os._exit) -> None:
        super().__init__()
        self.engine = engine
        self.stall_s = stall_s
        self.on_stall = on_stall
        self._exit = exit
        self._notify = os.environ.get("NOTIFY_SOCKET", "")
        self.notified = 0

    def start(self) -> None:
        self._notify_systemd(b"READY=1")
        super().start()

    def _run(self) -> None:
        last_count, last_change = -1, time.monotonic()
        while not self._stop.wait(1.0):
            count = self.engine.frames.count
            now = time.monotonic()
            if count != last_count:
                last_count, last_change = count, now
                self._notify_systemd(b"WATCHDOG=1")
            elif now - last_change > self.stall_s and not self.engine.stop.is_set():
                log.critical("the render loop has shown nothing for %.0f s: saving the state "
                             "and exiting (status %d) to be restarted", now - last_change,
                             EXIT_STALLED)
                if self.on_stall is not None:
                    try:
                        self.on_stall()
                    except Exception:
                        log.exception("saving the state before the restart failed")
                self._exit(EXIT_STALLED)
                return

    def _notify_systemd(self, message: bytes) -> None:
        if not self._notify:
            return
        address = self._notify
        if address.startswith("@"):
            address = "\0" + address[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message, address)
            self.notified += 1
        except OSError:
            pass

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
intact; ``live run`` reads it back at start.

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
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as clock_time
from pathlib import Path

import numpy as np

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
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlaylistError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
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


def read_state(path: Path) -> ShowState | None:
    """The saved state, or None (missing or unreadable: then the show starts fresh)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return ShowState(**{k: raw[k] for k in ShowState.__dataclass_fields__ if k in raw})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        log.warning("state %s not used: %s", path, exc)
        return None


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
            cues=[None if cue is None else [round(float(v), 6) for v in cue]
                  for cue in walk.cues],
            latent_dim=walk.dim,
            midi_learned=list(mapper.learned) if mapper is not None else [],
        )

    def save(self) -> bool:
        """Write the state if it changed; True when it wrote."""
        state = self.snapshot()
        body = json.dumps({**state.__dict__, "saved_at": ""}, sort_keys=True).encode()
        if body == self._last:
            return False
        state.saved_at = datetime.now().isoformat(timespec="seconds")
        write_atomically(self.path, json.dumps(state.__dict__, indent=1).encode())
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
    """Put saved cues and learned MIDI maps back (before the first frame)."""
    if state.latent_dim == engine.walk.dim:
        for slot, cue in enumerate(state.cues[: len(engine.walk.cues)]):
            if cue is not None and len(cue) == engine.walk.dim:
                engine.walk.cues[slot] = np.asarray(cue, dtype=np.float64)
    mapper = getattr(surface, "midi", None)
    if mapper is not None and state.midi_learned:
        try:
            mapper.restore_learned(state.midi_learned)
        except ValueError as exc:
            log.warning("learned MIDI maps not restored: %s", exc)


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

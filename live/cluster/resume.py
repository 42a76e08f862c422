"""A leader's saved show: restarted, it goes on where it was, and its followers re-sync to it.

Every ``[cluster] save_s`` seconds a leader captures its show on the render thread at a
stamped show time (the same moment it would give a joining follower): the walk's whole state
with the controls' targets, smoothers and integrals (``relay.walk_state``), the values, the
stored cues, the scene, the last text prime, the text on its screen, and that moment as show
time and as wall-clock time. A saver thread writes it to ``[paths] cluster_state`` (JSON,
written to a temporary file and renamed over the old one, so a crash mid-write leaves the last
good file).

A leader that starts and finds the file goes on from it: its show clock starts at the saved
show time plus the wall-clock time since the save (so it is where its followers are, who kept
showing on their own clocks meanwhile), the saved scene is brought up, the values, cues, prime
and the screen's text restored, and at the first frame the walk is set where it was and
stepped on over the gap, exactly as a joining follower takes a leader's walk. It is a new
session: followers re-sync (clock, then the full state), and as their clocks already agree
with the resumed one, they do not hold or jump. Changes made after the last save (at most
``save_s`` old) are lost on the leader and the followers take the leader's state.

The file is input like any other (``live.safeio``: a regular file of at most
``STATE_MAX_BYTES``); a damaged, foreign or stale one (another model's latent size, a scene
no longer there) is refused with a warning naming the reason, and the leader starts fresh.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from live.safeio import MIB, read_text

log = logging.getLogger(__name__)

STATE_MAX_BYTES = 16 * MIB
"""A 512-wide latent's walk state is about 100 KB, 16 cues 45 KB: far below."""
VERSION = 1
MAX_VALUES = 10_000
MAX_TEXT = 4000


@dataclass
class SavedShow:
    """A leader's show at one moment (see the module doc)."""

    show_s: float
    wall_s: float
    """``time.time()`` at ``show_s``."""
    scene: str = ""
    prime: str = ""
    values: dict[str, float] = field(default_factory=dict)
    cues: dict[int, np.ndarray] = field(default_factory=dict)
    walk: bytes = b""
    text: str = ""
    """The text typed since the last reset (the screen's), at most ``MAX_TEXT`` characters."""

    def resume_s(self, wall_now: float | None = None) -> float:
        """The show time to go on from now: the saved one plus the wall-clock time since
        (none when the wall clock went back)."""
        now = time.time() if wall_now is None else wall_now
        return self.show_s + max(now - self.wall_s, 0.0)

    def to_json(self) -> str:
        return json.dumps({
            "version": VERSION, "show_s": self.show_s, "wall_s": self.wall_s,
            "scene": self.scene, "prime": self.prime, "values": self.values,
            "cues": {str(slot): base64.b64encode(np.asarray(cue, "<f4").tobytes()).decode()
                     for slot, cue in self.cues.items()},
            "walk": base64.b64encode(self.walk).decode(), "text": self.text})


def parse(text: str, scenes: Collection[str] | None = None) -> SavedShow:
    """A ``SavedShow`` from the file's text; ``ValueError`` naming what is wrong."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON ({str(exc)[:100]})") from None
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        raise ValueError(f"not a version {VERSION} cluster state")
    show_s, wall_s = raw.get("show_s"), raw.get("wall_s")
    for name, number in (("show_s", show_s), ("wall_s", wall_s)):
        if isinstance(number, bool) or not isinstance(number, int | float) or \
                not math.isfinite(number) or number < 0:
            raise ValueError(f"{name} is not a time: {str(number)[:40]}")
    scene, prime = raw.get("scene", ""), raw.get("prime", "")
    if not isinstance(scene, str) or not isinstance(prime, str) or len(prime) > 200:
        raise ValueError("scene or prime is not a short string")
    text = raw.get("text", "")
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise ValueError(f"text is not a string of at most {MAX_TEXT} characters")
    if scene and scenes is not None and scene not in scenes:
        raise ValueError(f"no scene {scene!r} in the scenes folder")
    values = raw.get("values", {})
    if not isinstance(values, dict) or len(values) > MAX_VALUES or not all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
            and math.isfinite(v) for k, v in values.items()):
        raise ValueError("values are not names with finite numbers")
    cues = {}
    raw_cues = raw.get("cues", {})
    if not isinstance(raw_cues, dict) or len(raw_cues) > 64:
        raise ValueError("cues are not a table of slots")
    try:
        for slot, blob in raw_cues.items():
            cue = np.frombuffer(base64.b64decode(blob, validate=True), "<f4").astype(np.float64)
            cues[int(slot)] = cue
        walk = base64.b64decode(raw.get("walk", ""), validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"a cue or the walk is not base64 ({exc})") from None
    return SavedShow(float(show_s), float(wall_s), scene, prime,
                     {k: float(v) for k, v in values.items()}, cues, walk, text)


def read(path: Path, scenes: Collection[str] | None = None) -> SavedShow | None:
    """The saved show at ``path``, or None: no file, or one refused (a warning says why)."""
    if not os.path.lexists(path):
        return None
    try:
        saved = parse(read_text(path, STATE_MAX_BYTES), scenes)
    except (OSError, ValueError) as exc:
        log.warning("cluster: the saved show %s is not used, starting fresh: %s", path, exc)
        return None
    log.info("cluster: resuming the show saved in %s at show time %.1f s (%s)", path,
             saved.show_s, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(saved.wall_s)))
    return saved


def write(path: Path, saved: SavedShow) -> None:
    """Write ``saved`` to ``path`` whole or not at all (a temporary file renamed over it)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(saved.to_json())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


class Saver:
    """Captures a leader's show every ``every_s`` seconds and writes it on its own thread.

    ``due(now)`` is asked by the leader's thread; ``capture`` runs on the render thread (a
    timeline call at the stamp: copies only), ``close`` writes the last capture and stops."""

    def __init__(self, path: Path, every_s: float = 1.0) -> None:
        self.path = Path(path)
        self.every_s = max(every_s, 0.1)
        self.saved = 0
        self.errors = 0
        self._next = 0.0
        self._pending: SavedShow | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="cluster-save", daemon=True)
        self._thread.start()

    def due(self, now: float) -> bool:
        if now < self._next:
            return False
        self._next = now + self.every_s
        return True

    def capture(self, show_s: float, walk_blob: bytes, values: dict[str, float],
                cues: dict[int, np.ndarray], scene: str, prime: str, text: str = "") -> None:
        saved = SavedShow(show_s, time.time(), scene, prime, values, cues, walk_blob, text)
        with self._lock:
            self._pending = saved
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            saved, self._pending = self._pending, None
        if saved is None:
            return
        try:
            write(self.path, saved)
            self.saved += 1
        except OSError as exc:
            self.errors += 1
            if self.errors == 1 or self.errors % 100 == 0:
                log.warning("cluster: cannot save the show to %s (%d times): %s", self.path,
                            self.errors, exc)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5.0)
        self._flush()

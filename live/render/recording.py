"""Recording as the show sees it: ``show.record`` turns it on and off, ffmpeg is started and
finished on short-lived threads, and the render loop only pushes read-back frames.

The frames come from the compositor's asynchronous read-back (``Display.frame``, one frame
late, output size, without the HUD); a recorder that failed (disk full, ffmpeg gone) turns
``show.record`` off and the file is finished off the render thread while the show goes on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np

from live.config import Config
from live.render.record import CLOSE_TIMEOUT_S, Recorder

log = logging.getLogger(__name__)


class Recording:
    """The current recorder (if any) and the switch that starts and stops it."""

    def __init__(self, cfg: Config, bus, output_size: Callable[[], tuple[int, int]],
                 offline: bool) -> None:
        self.cfg = cfg
        self.bus = bus
        self.output_size = output_size
        self.offline = offline
        """Every frame must reach the file (a headless render with a fixed frame time)."""
        self.recorder: Recorder | None = None
        self.error = ""
        self._pending: Recorder | None = None
        self._threads: list[threading.Thread] = []
        self._wanted = False

    def start(self, path: Path) -> None:
        """Start now (``--record`` at start-up; raises ``RecordError`` for a bad target)."""
        self.recorder = self._new(path)
        self.bus.set("show.record", True)
        self._wanted = True

    def _new(self, path: Path) -> Recorder:
        return Recorder(path, self.output_size(), self.cfg.record.fps,
                        codec=self.cfg.record.codec, quality=self.cfg.record.quality,
                        queue_frames=self.cfg.record.queue_frames,
                        drop_when_behind=not self.offline)

    @property
    def active(self) -> bool:
        """A recorder is taking frames (the display then reads every frame back)."""
        return self.recorder is not None

    def follow(self, wanted: bool) -> None:
        """Render thread, once per frame: ``show.record`` turned on or off."""
        if self._pending is not None:
            self.recorder, self._pending = self._pending, None
        if wanted == self._wanted:
            return
        self._wanted = wanted
        if wanted:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            path = self.cfg.path("recordings") / f"live-{stamp}.mp4"
            thread = threading.Thread(target=self._open, args=(path,), name="recorder-open",
                                      daemon=True)
        else:
            recorder, self.recorder = self.recorder, None
            if recorder is None:
                return
            thread = threading.Thread(target=recorder.close, name="recorder-close", daemon=True)
            log.info("recording stopped: %s", recorder.path)
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)

    def _open(self, path: Path) -> None:
        try:
            recorder = self._new(path)
        except Exception as exc:  # no ffmpeg, no disk: the show goes on
            self.error = str(exc)
            log.error("recording could not start: %s", exc)
            self.bus.set("show.record", False)
            return
        log.info("recording to %s", path)
        if self._wanted:
            self._pending = recorder
        else:  # switched off again while ffmpeg was starting
            recorder.close()

    def push(self, frame: np.ndarray | None) -> None:
        """Render thread: hand one read-back frame to the recorder (never blocks a live show)."""
        recorder = self.recorder
        if recorder is None or frame is None:
            return
        if frame.shape[1::-1] != recorder.frame_size:
            return  # the window changed size mid-recording: the file keeps its size
        if not recorder.push(frame) and recorder.error is not None:
            # disk full, ffmpeg gone: finish the file off this thread, the show goes on
            self.error = recorder.error
            self.bus.set("show.record", False)

    def close(self) -> None:
        for thread in self._threads:
            thread.join(timeout=CLOSE_TIMEOUT_S)
        if self._pending is not None:
            self._pending.close()
            self._pending = None
        if self.recorder is not None:
            self.recorder.close()
            self.error = self.recorder.error or self.error


def save_png_async(surface, path: Path) -> threading.Thread:
    """Write a PNG on a short-lived thread so the render loop never waits on the disk."""
    import pygame

    path.parent.mkdir(parents=True, exist_ok=True)

    def write() -> None:
        try:
            pygame.image.save(surface, str(path))
            log.info("snapshot written to %s", path)
        except (pygame.error, OSError) as exc:
            log.error("snapshot %s failed: %s", path, exc)

    thread = threading.Thread(target=write, name="snapshot", daemon=True)
    thread.start()
    return thread

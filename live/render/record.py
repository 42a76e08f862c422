"""Recording to mp4 through imageio-ffmpeg, on a writer thread, and PNG snapshots.

The render loop hands over a frame by copying it into one of a fixed ring of buffers and
queueing the slot number; the writer thread feeds ffmpeg. When the writer falls behind, a live
show drops the frame (and counts it) rather than stall; an offline render (``--headless
--frames N``) waits, so the file has every frame. ``close`` flushes and finalises the file, so
the mp4 is playable after Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

import imageio_ffmpeg
import numpy as np

log = logging.getLogger(__name__)


class Recorder:
    def __init__(self, path: Path, frame_size: tuple[int, int], fps: float,
                 output_size: tuple[int, int] | None = None, codec: str = "libx264",
                 quality: int = 18, queue_frames: int = 8, drop_when_behind: bool = True):
        width, height = frame_size
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        params = ["-preset", "veryfast", "-crf", str(quality)] if codec == "libx264" else []
        if output_size and tuple(output_size) != tuple(frame_size):
            params += ["-vf", f"scale={output_size[0]}:{output_size[1]}:flags=lanczos"]
        self._writer = imageio_ffmpeg.write_frames(
            str(path), frame_size, fps=fps, codec=codec, quality=None,
            macro_block_size=1, output_params=params, ffmpeg_log_level="error",
        )
        self._writer.send(None)  # starts ffmpeg
        self._ring = [np.empty((height, width, 3), dtype=np.uint8) for _ in range(queue_frames)]
        self._free: queue.Queue[int] = queue.Queue()
        for slot in range(queue_frames):
            self._free.put(slot)
        self._ready: queue.Queue[int | None] = queue.Queue()
        self._drop = drop_when_behind
        self.frames_written = 0
        self.frames_dropped = 0
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    def push(self, frame: np.ndarray) -> bool:
        """Queue a copy of ``frame``; False when it was dropped because the writer is behind."""
        if self.error is not None:
            return False
        try:
            slot = self._free.get(block=not self._drop)
        except queue.Empty:
            self.frames_dropped += 1
            return False
        np.copyto(self._ring[slot], frame)
        self._ready.put(slot)
        return True

    def _run(self) -> None:
        while True:
            slot = self._ready.get()
            if slot is None:
                break
            try:
                if self.error is None:
                    self._writer.send(self._ring[slot])
                    self.frames_written += 1
            except (OSError, RuntimeError, StopIteration) as exc:
                self.error = exc
                log.error("recording to %s failed: %s", self.path, exc)
            finally:
                self._free.put(slot)

    def close(self) -> None:
        """Flush queued frames and finalise the file (idempotent)."""
        if self._thread.is_alive():
            self._ready.put(None)
            self._thread.join()
            self._writer.close()
            if self.frames_written == 0:
                self.path.unlink(missing_ok=True)  # ffmpeg leaves an unplayable stub
                log.info("nothing was recorded to %s", self.path)
                return
            log.info("recorded %d frames to %s (%d dropped)", self.frames_written, self.path,
                     self.frames_dropped)


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

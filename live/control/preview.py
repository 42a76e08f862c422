"""The remote's live preview: small JPEGs of the output, encoded off the render thread.

A ``FrameTap`` (live/render/tap.py) reads the finished picture, without the HUD, at
``[remote] preview_fps``; this thread scales it to ``preview_width`` and encodes a JPEG
(pygame's SDL_image, no extra package) for the OSCQuery server to send to the pages that asked
for it (``OscQueryServer.broadcast_preview``). With no page watching the tap is switched off
and costs the render loop nothing. Each frame's encode is timed, so the HUD and the bench can
say what the preview costs.
"""

from __future__ import annotations

import io
import logging
import threading
import time

from live.render.tap import FrameTap

log = logging.getLogger(__name__)

WATCH_POLL_S = 0.25
"""How often an idle encoder looks whether a page started watching."""


def encode_jpeg(pixels, width: int, quality: int, out: io.BytesIO) -> bytes:
    """RGB(A) rows top down -> a JPEG ``width`` pixels wide (height keeps the shape)."""
    import pygame

    height_in, width_in = pixels.shape[:2]
    height = max(1, round(height_in * width / width_in))
    fmt = "RGBA" if pixels.shape[2] == 4 else "RGB"
    if not pixels.flags.c_contiguous:
        pixels = pixels.copy()  # a window's frame, rows flipped: one copy on this thread
    surface = pygame.image.frombuffer(pixels, (width_in, height_in), fmt)
    small = pygame.transform.smoothscale(surface, (width, height))
    out.seek(0)
    out.truncate()
    try:
        pygame.image.save(small, out, "preview.jpg", quality=quality)
    except TypeError:  # pygame-ce before 2.5.3 takes no quality
        pygame.image.save(small, out, "preview.jpg")
    return out.getvalue()


class PreviewEncoder:
    """The preview thread: tap -> JPEG -> ``sink(jpeg)`` while ``watchers()`` > 0."""

    def __init__(self, sink, watchers, fps: float = 5.0, width: int = 480,
                 quality: int = 70) -> None:
        self.sink = sink
        self.watchers = watchers
        self.width = width
        self.quality = quality
        self.tap = FrameTap("preview", components=3, rate=fps, slots=2)
        self.tap.active = False
        self.encoded = 0
        self.encode_ms = 0.0
        """Mean encode time of the last frames (exponential average)."""
        self.last_bytes = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="preview", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        buffer = io.BytesIO()
        while not self._stop.is_set():
            watching = self.watchers() > 0
            self.tap.active = watching
            if not watching:
                self._stop.wait(WATCH_POLL_S)
                continue
            frame = self.tap.get(timeout=WATCH_POLL_S)
            if frame is None:
                continue
            started = time.perf_counter()
            try:
                jpeg = encode_jpeg(frame.top_down(), self.width, self.quality, buffer)
            except Exception as exc:  # a bad frame or a pygame without JPEG: say it, go on
                self.errors += 1
                if self.errors == 1:
                    log.error("preview: JPEG encoding failed: %s", exc)
                continue
            finally:
                self.tap.release(frame)
            ms = (time.perf_counter() - started) * 1e3
            self.encode_ms = ms if not self.encoded else 0.8 * self.encode_ms + 0.2 * ms
            self.encoded += 1
            self.last_bytes = len(jpeg)
            self.sink(jpeg)

    def hud_line(self) -> str:
        if not self.tap.active:
            return ""
        return (f"preview {self.encoded} frames, {self.last_bytes // 1024} KB, "
                f"{self.encode_ms:.1f} ms to encode")

    def close(self) -> None:
        self._stop.set()
        self.tap.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

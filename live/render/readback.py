"""Asynchronous read-back of the finished picture through pixel buffer objects.

``request`` queues a copy of the output framebuffer into one of two GL buffers and returns at
once (the GPU fills it while the next frame renders); ``collect`` maps the buffer filled one
frame earlier into a host array reused every frame. Recording, snapshots and video out read
frames one frame late and the render loop never waits for the GPU to finish a frame.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


class Readback:
    """Double-buffered PBO read-back of ``size`` (w, h) RGB frames, row 0 at the top."""

    def __init__(self, ctx, size: tuple[int, int]) -> None:
        width, height = size
        self.size = size
        self._buffers = [ctx.buffer(reserve=width * height * 3) for _ in range(2)]
        self._filled: list[bool | None] = [None, None]
        """Per buffer: None when empty, else whether its rows go up."""
        self._next = 0
        self.frame = np.empty((height, width, 3), np.uint8)
        """The last collected frame; rewritten by every ``collect`` (copy it to keep it)."""
        self.requests = 0
        self.failures = 0
        """Read-backs the driver could not map (each a frame lost to the recording)."""
        self.direct = False
        """After a failed mapping: frames are read with a blocking read instead."""
        self._direct_flip: bool | None = None

    def request(self, framebuffer, flip: bool = False) -> None:
        """Queue a copy of ``framebuffer``'s colour (no wait). ``flip``: the window's
        framebuffer, whose rows go up (``collect`` then returns a flipped view)."""
        if self.direct:  # the fallback: a blocking read straight into the host frame
            framebuffer.read_into(self.frame, components=3, alignment=1)
            self._direct_flip = flip
            self.requests += 1
            return
        index = self._next
        framebuffer.read_into(self._buffers[index], components=3, alignment=1)
        self._filled[index] = flip
        self._next ^= 1
        self.requests += 1

    def collect(self) -> np.ndarray | None:
        """The frame requested before the newest one (None until two were requested). The
        mapping waits only if the GPU has not finished that older frame yet."""
        if self.direct:
            return self._take_direct()
        return self._read(self._next)

    def drain(self) -> np.ndarray | None:
        """The newest requested frame, not yet collected (the last frame of a recording)."""
        if self.direct:
            return self._take_direct()
        return self._read(self._next ^ 1)

    def _take_direct(self) -> np.ndarray | None:
        flip, self._direct_flip = self._direct_flip, None
        if flip is None:
            return None
        return self.frame[::-1] if flip else self.frame

    def latest(self, framebuffer, flip: bool = False) -> np.ndarray:
        """Copy this frame now and wait for it (snapshots; not for every frame)."""
        index = self._next
        self.request(framebuffer, flip)
        return self._take_direct() if self.direct else self._read(index)

    def _read(self, index: int) -> np.ndarray | None:
        import moderngl

        flip = self._filled[index]
        if flip is None:
            return None
        self._filled[index] = None
        try:
            self._buffers[index].read_into(self.frame)  # maps the buffer: a GPU sync point
        except moderngl.Error as exc:
            # seen on llvmpipe in a long test process: once a buffer cannot be mapped, none
            # can; that frame is lost and later frames are read synchronously (a sync point
            # per frame, but the recording goes on)
            self.failures += 1
            self.direct = True
            log.warning("read-back through pixel buffers failed (%s): reading frames "
                        "synchronously from now on", exc)
            return None
        return self.frame[::-1] if flip else self.frame

    def release(self) -> None:
        for buffer in self._buffers:
            buffer.release()

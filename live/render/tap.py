"""Frames for consumers off the render thread: video out (NDI, Syphon, Spout) and the remote's
preview.

A ``FrameTap`` reads the finished picture (before the HUD) back through its own pair of pixel
buffer objects, one frame late, like a recording (live/render/readback.py), and hands it to
one consumer thread through a fixed ring of preallocated frames:

* render thread, once a frame (``Display`` calls ``capture``): when the tap is due (its rate)
  it queues a copy of the framebuffer into a GL buffer and returns; the buffer queued one
  frame earlier is mapped straight into a free slot of the ring, which becomes the newest
  frame. Nothing is allocated per frame and nothing waits on the consumer.
* consumer thread: ``get`` waits for the newest frame, ``release`` gives its slot back.

When the consumer falls behind the newest frame replaces the one it has not taken (counted
in ``dropped``); when it holds every slot the frame is not read at all (also counted). The
ring never grows: a slow network costs frames, never memory or the show's frame time.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

log = logging.getLogger(__name__)


class TapFrame:
    """One slot of the ring: a preallocated picture and what is known of it."""

    __slots__ = ("pixels", "flipped", "seq", "stamp_ns", "wall_ns", "generation")

    def __init__(self, size: tuple[int, int], components: int, generation: int) -> None:
        width, height = size
        self.pixels = np.zeros((height, width, components), np.uint8)
        """Rows as read from the framebuffer: bottom row first when ``flipped``."""
        self.flipped = False
        self.seq = 0
        """The tap's frame number (counts every frame captured, sent or not)."""
        self.stamp_ns = 0
        """``time.perf_counter_ns()`` when the frame was composed."""
        self.wall_ns = 0
        """``time.time_ns()`` when the frame was composed (for latency across processes)."""
        self.generation = generation

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]

    def top_down(self) -> np.ndarray:
        """The picture with row 0 at the top (a view; flipped rows when read from a window)."""
        return self.pixels[::-1] if self.flipped else self.pixels


class FrameTap:
    """Read-back frames at up to ``rate`` per second for one consumer thread.

    ``components``: 4 gives RGBA (what NDI, Syphon and Spout take without a conversion pass),
    3 gives RGB. ``rate`` 0 takes every frame. ``active`` off (no one watching) costs the
    render thread nothing.
    """

    def __init__(self, name: str, components: int = 4, rate: float = 0.0, slots: int = 3,
                 clock=time.perf_counter_ns) -> None:
        if components not in (3, 4):
            raise ValueError("components must be 3 (RGB) or 4 (RGBA)")
        self.name = name
        self.components = components
        self.rate = rate
        self.slots = max(2, slots)
        self.clock = clock
        self.active = True
        self.size: tuple[int, int] | None = None
        self.captured = 0
        """Frames read back into the ring."""
        self.taken = 0
        """Frames the consumer took."""
        self.dropped = 0
        """Frames lost: replaced before the consumer took them, or no free slot to read into."""
        self.failures = 0
        """Read-backs the driver could not map."""
        self._cond = threading.Condition()
        self._free: list[TapFrame] = []
        self._newest: TapFrame | None = None
        self._closed = False
        self._generation = 0
        self._buffers: list = []
        self._pending: list[tuple[int, bool, int, int] | None] = [None, None]
        """Per GL buffer: (seq, flipped, stamp_ns, wall_ns) of the copy it holds, or None."""
        self._next = 0
        self._seq = 0
        self._due_ns: int | None = None
        """When the next frame is due (``rate`` > 0), on the clock's nanoseconds."""

    # ------------------------------------------------------------------ render thread
    def capture(self, ctx, framebuffer, size: tuple[int, int], flip: bool) -> None:
        """Once a frame, after the picture is drawn and before the HUD."""
        if not self.active or self._closed:
            if any(self._pending):
                self._pending = [None, None]
            return
        if size != self.size:
            self._resize(ctx, size)
        older = self._next ^ 1
        if self._pending[older] is not None:
            self._collect(older)
        now = self.clock()
        if self.rate > 0:
            # due on a grid of 1/rate: a frame late for one slot does not push the next one
            # later, so 5 a second from a 23 fps show is 5, not 4.4 (2 ms of slack lets a
            # 60 Hz tap follow a 60 Hz show); a stall restarts the grid instead of bursting
            period = int(1e9 / self.rate)
            if self._due_ns is not None and now < self._due_ns - 2_000_000:
                return
            on_grid = self._due_ns is not None and now - self._due_ns < period
            self._due_ns = (self._due_ns if on_grid else now) + period
        self._seq += 1
        framebuffer.read_into(self._buffers[self._next], components=self.components,
                              alignment=1)
        self._pending[self._next] = (self._seq, flip, now, time.time_ns())
        self._next ^= 1

    def _resize(self, ctx, size: tuple[int, int]) -> None:
        """New buffers and slots for a new output size (a resize, never per frame)."""
        width, height = size
        for buffer in self._buffers:
            buffer.release()
        self._buffers = [ctx.buffer(reserve=width * height * self.components)
                         for _ in range(2)]
        self._pending = [None, None]
        with self._cond:
            self._generation += 1
            self._free = [TapFrame(size, self.components, self._generation)
                          for _ in range(self.slots)]
            self._newest = None
        self.size = size

    def _collect(self, index: int) -> None:
        import moderngl

        seq, flip, stamp_ns, wall_ns = self._pending[index]
        self._pending[index] = None
        with self._cond:
            if self._free:
                slot = self._free.pop()
            else:  # the consumer holds the others: the frame it has not taken makes way
                slot, self._newest = self._newest, None
                if slot is not None:
                    self.dropped += 1
        if slot is None:  # the consumer holds every slot: this frame is lost
            self.dropped += 1
            return
        try:
            self._buffers[index].read_into(slot.pixels)  # maps the buffer: a GPU sync point
        except moderngl.Error as exc:
            self.failures += 1
            log.warning("%s: read-back failed (%s): frame dropped", self.name, exc)
            with self._cond:
                self._free.append(slot)
            return
        slot.flipped, slot.seq, slot.stamp_ns, slot.wall_ns = flip, seq, stamp_ns, wall_ns
        self.captured += 1
        with self._cond:
            replaced, self._newest = self._newest, slot
            if replaced is not None:
                self._free.append(replaced)
                self.dropped += 1
            self._cond.notify()

    def release_gl(self) -> None:
        """Render thread, when the display closes: free the GL buffers."""
        for buffer in self._buffers:
            buffer.release()
        self._buffers = []
        self._pending = [None, None]
        self.size = None

    # ------------------------------------------------------------------ consumer thread
    def get(self, timeout: float | None = None) -> TapFrame | None:
        """The newest frame not taken yet; None after ``timeout`` seconds or once closed.
        Give it back with ``release`` when done with its pixels."""
        with self._cond:
            if self._newest is None and not self._closed:
                self._cond.wait(timeout)
            frame, self._newest = self._newest, None
            if frame is not None:
                self.taken += 1
            return frame

    def release(self, frame: TapFrame) -> None:
        with self._cond:
            if frame.generation == self._generation and len(self._free) < self.slots:
                self._free.append(frame)

    def close(self) -> None:
        """Wake the consumer (``get`` returns None from now on)."""
        with self._cond:
            self._closed = True
            self._newest = None
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def stats(self) -> dict:
        return {"captured": self.captured, "taken": self.taken, "dropped": self.dropped,
                "failures": self.failures}

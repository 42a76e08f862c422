"""NDI out with the runtime cyndilib bundles (MIT wheels with the NDI runtime inside):
``pip install 'live[ndi]'``.

The source is advertised as "HOST (name)". Frames go out as RGBX: the tap reads RGBA back
from the framebuffer and NDI takes those bytes as they are, with the alpha byte marked
unused, so there is no conversion pass on our side, the runtime's encoder skips the alpha
plane (about a quarter less CPU than RGBA here) and mixers see an opaque picture.

Two ways to drive the runtime, the same frames on the wire:

* ``runtime`` (the default): the NDI C API through ctypes (live/output/ndiruntime.py says
  why). A headless frame goes out straight from the tap's slot, which is held until the
  runtime is done with it (the next send); a window's frame (rows bottom-up) is flipped into
  one of two buffers kept for that. Each frame carries its own size, so a new output size
  changes the frames and the source stays: connected mixers just see the new size.
* ``cyndilib``: cyndilib's ``Sender``; it copies each frame into its own send buffer, and a
  new output size re-creates the source (receivers have to find it again).

Each video frame carries a stamp a receiver on the same clock can measure latency with: the
frame's metadata ``<live_frame seq="N" wall_ns="T"/>`` (the tap's frame number, and
``time.time_ns()`` when the picture was composed), and with the runtime backend also the
NDI timecode (the same moment, in the 100 ns units since 1970 NDI uses). Receivers that do
not know the tag ignore it.

While no receiver is connected the tap is switched off: the render thread reads nothing
back until a mixer connects (the sender looks every ``CONNECTION_POLL_S``).

For tests and benches NDI can be held to this machine with ``loopback_config`` (an
``NDI_CONFIG_DIR`` whose ndi-config.v1.json looks for sources at 127.0.0.1 only, no mDNS).
"""

from __future__ import annotations

import ctypes
import json
import logging
import time
from pathlib import Path

import numpy as np

from live.config import OutputConfig
from live.output import VideoOutput, frame_rate, require

log = logging.getLogger(__name__)

CONNECTION_POLL_S = 0.5
"""How often the sender asks the runtime how many receivers are connected."""
NAME_TRIES = 4
"""A name another program on this machine already sends under gets " 2", " 3", ..."""
BACKENDS = ("runtime", "cyndilib")


def _cyndilib():
    return require("cyndilib", "'live[ndi]'")[0]


def loopback_config(folder: Path) -> Path:
    """Write an NDI config that looks for sources at 127.0.0.1 only (no mDNS) into
    ``folder``; point ``NDI_CONFIG_DIR`` at it before the first NDI sender or receiver.
    Several NDI programs on one machine share the port a finder asks, so a finder reaches
    one of them at a time (live/output/ndiprobe.py looks again until it finds its source)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"ndi": {"networks": {"ips": "127.0.0.1", "discovery": ""}}}
    path = folder / "ndi-config.v1.json"
    path.write_text(json.dumps(config, indent=2))
    return path


class NameRefused(RuntimeError):
    """The runtime would not create a sender under this name."""


class RuntimeSender:
    """One NDI source through the C API; frames of any size, sent asynchronously."""

    per_frame_size = True
    copies = False

    def __init__(self, name: str, fps: float) -> None:
        from live.output import ndiruntime as rt

        self._rt = rt
        self.lib = rt.load()
        create = rt.SendCreate(name.encode("utf-8"), None, False, False)
        self._ptr = self.lib.NDIlib_send_create(ctypes.byref(create))
        if not self._ptr:
            raise NameRefused(name)
        source = self.lib.NDIlib_send_get_source_name(self._ptr)
        self.name = source.contents.p_ndi_name.decode("utf-8", "replace") if source else name
        rate = frame_rate(fps)
        video = rt.VideoFrame()
        video.FourCC = rt.fourcc("RGBX")
        video.frame_rate_N, video.frame_rate_D = rate.numerator, rate.denominator
        video.picture_aspect_ratio = 0.0  # square pixels
        video.frame_format_type = rt.FORMAT_PROGRESSIVE
        self._video = video
        self._kept = None
        """The previous frame's metadata: the runtime may read it until the next send."""

    def send(self, pixels: np.ndarray, metadata: bytes, timecode: int) -> bool:
        """Queue ``pixels`` (H x W x 4, C-contiguous) for sending; they must stay untouched
        until the next ``send`` or ``close`` returned."""
        video = self._video
        video.yres, video.xres = pixels.shape[:2]
        video.line_stride_in_bytes = video.xres * 4
        video.p_data = pixels.ctypes.data
        video.timecode = timecode
        previous = self._kept  # alive until the call below returned
        video.p_metadata = metadata
        self.lib.NDIlib_send_send_video_async_v2(self._ptr, ctypes.byref(video))
        self._kept = metadata
        del previous
        return True

    def connections(self) -> int:
        return int(self.lib.NDIlib_send_get_no_connections(self._ptr, 0))

    def close(self) -> None:
        if self._ptr:
            self.lib.NDIlib_send_send_video_async_v2(self._ptr, None)  # done with our pixels
            self.lib.NDIlib_send_destroy(self._ptr)
            self._ptr = None


class CyndilibSender:
    """One NDI source through cyndilib's ``Sender``: a fixed frame size, frames copied."""

    per_frame_size = False
    copies = True

    def __init__(self, name: str, fps: float, size: tuple[int, int]) -> None:
        ndi = _cyndilib()
        video = ndi.VideoSendFrame()
        video.set_resolution(*size)
        video.set_fourcc(ndi.FourCC.RGBX)
        video.set_frame_rate(frame_rate(fps))
        # the frames are paced by the show (and the tap's rate), not by the runtime
        sender = ndi.Sender(name, clock_video=False, clock_audio=False)
        sender.set_video_frame(video)
        # never sent; attached because cyndilib 0.1.3 crashes the process (a method called
        # on None) instead of raising when the runtime refuses a sender without one
        sender.set_audio_frame(ndi.AudioSendFrame(max_num_samples=16))
        try:
            sender.open()
        except MemoryError:  # what cyndilib raises when the runtime refuses the sender
            raise NameRefused(name) from None
        self._sender, self._video = sender, video
        self.name = sender.name
        self._kept = b""

    def send(self, pixels: np.ndarray, metadata: bytes, timecode: int) -> bool:
        self._video.set_metadata(metadata)
        ok = bool(self._sender.write_video_async(pixels.reshape(-1)))
        self._kept = metadata  # the runtime may read it until the next send returned
        return ok

    def connections(self) -> int:
        return int(self._sender.get_num_connections(0))

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None


class NdiOutput(VideoOutput):
    """The show's output as an NDI source."""

    kind = "NDI"

    def __init__(self, name: str, cfg: OutputConfig, backend: str = "runtime") -> None:
        if backend not in BACKENDS:
            raise ValueError(f"NDI backend must be one of {BACKENDS}")
        _cyndilib()
        if backend == "runtime":
            try:
                from live.output import ndiruntime

                ndiruntime.load()
            except (OSError, AttributeError) as exc:
                log.info("NDI: the runtime's C API is not reachable (%s): using cyndilib's "
                         "Sender", exc)
                backend = "cyndilib"
        super().__init__(name, cfg)
        self.backend = backend
        self.source_name = name
        """The name receivers list ("HOST (name)") once the sender is open."""
        self.receivers = 0
        self._sender = None
        self._flip: list[np.ndarray] = []
        self._retired: list[np.ndarray] = []
        self._flips = 0
        self._polled = 0.0

    def _open_sender(self, frame) -> None:
        for attempt in range(NAME_TRIES):
            name = self.name if attempt == 0 else f"{self.name} {attempt + 1}"
            try:
                if self.backend == "runtime":
                    sender = RuntimeSender(name, self.fps)
                else:
                    sender = CyndilibSender(name, self.fps, frame.size)
                break
            except NameRefused:
                if attempt == NAME_TRIES - 1:
                    raise RuntimeError(f"the NDI runtime refused a sender named {name!r}"
                                       ) from None
                log.warning("NDI: the runtime refused the name %r (another program on this "
                            "machine sends under it?): trying %r", name,
                            f"{self.name} {attempt + 2}")
        self._sender = sender
        self.source_name = sender.name
        self._polled = 0.0
        self._size_buffers(frame.size)
        log.info("NDI source %r: %dx%d RGBX at %s fps (%s)", self.source_name, *frame.size,
                 frame_rate(self.fps), self.backend)

    def _size_buffers(self, size: tuple[int, int]) -> None:
        width, height = size
        # the sender reads a flipped frame until the next send: two, used in turn (and the
        # old ones kept until then, one of them may still be read)
        count = 1 if self._sender.copies else 2
        self._retired = self._flip
        self._flip = [np.empty((height, width, 4), np.uint8) for _ in range(count)]

    def _resize(self, frame) -> None:
        if not self._sender.per_frame_size:
            super()._resize(frame)
            return
        self._size_buffers(frame.size)  # same source, the next frames carry the new size
        log.info("NDI source %r: now %dx%d", self.source_name, *frame.size)

    def _watched(self) -> bool:
        now = time.monotonic()
        if now - self._polled >= CONNECTION_POLL_S:
            self._polled = now
            self.receivers = self._sender.connections()
        return self.receivers > 0

    def _send(self, frame) -> bool:
        if frame.flipped:
            pixels = self._flip[self._flips % len(self._flip)]
            self._flips += 1
            np.copyto(pixels, frame.pixels[::-1])
        else:
            pixels = frame.pixels
        stamp = b'<live_frame seq="%d" wall_ns="%d"/>' % (frame.seq, frame.wall_ns)
        ok = self._sender.send(pixels, stamp, frame.wall_ns // 100)
        self._retired = []
        # the runtime reads an unflipped slot itself until the next send: hold it till then
        # (and let the one held before go)
        self._held = frame if ok and not frame.flipped and not self._sender.copies else None
        return ok

    def _close_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.close()
        self.receivers = 0

    def stats(self) -> dict:
        result = super().stats()
        result.update(source=self.source_name, receivers=self.receivers, fourcc="RGBX",
                      backend=self.backend)
        return result

    def hud_line(self) -> str:
        line = super().hud_line().replace(f"NDI {self.name}", f"NDI {self.source_name}", 1)
        if self.receivers > 0 and not self.idle and self.size is not None:
            line += f", {self.receivers} receiver{'s' if self.receivers != 1 else ''}"
        return line

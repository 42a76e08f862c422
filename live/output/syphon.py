"""Syphon out (macOS) through syphon-python (``pip install syphon-python``): UNTESTED HERE.

This project's machines run Linux, where Syphon does not exist, so this module has never
run; it follows syphon-python 0.2's documented API (a ``SyphonMetalServer`` publishing a
Metal texture). What it does, on the output's own thread like every video out: the tap's
RGBA frame is copied into one Metal texture (``replaceRegion``, no conversion), and the
server publishes it, flipped by Syphon itself when the frame came from a window (rows
bottom-up); ``publish_frame_texture`` waits for the GPU, so the texture is free to overwrite
on the next frame. A new output size gets a new texture; the server (the name clients see)
stays. While no client is connected the tap is switched off.
"""

from __future__ import annotations

import time

from live.config import OutputConfig
from live.output import VideoOutput, require

CLIENT_POLL_S = 0.5


class SyphonOutput(VideoOutput):
    """The show's output as a Syphon server (Metal)."""

    kind = "Syphon"

    def __init__(self, name: str, cfg: OutputConfig) -> None:
        # Metal: pyobjc-framework-metal, a syphon-python dependency
        require("syphon-python", "syphon-python", "Metal", "syphon",
                only_on=("Syphon", "darwin", "macOS"))
        super().__init__(name, cfg)
        self._server = None
        self._texture = None
        self._region = None
        self._clients = False
        self._polled = 0.0

    def _open_sender(self, frame) -> None:
        import syphon

        self._server = syphon.SyphonMetalServer(self.name)
        self._new_texture(frame.size)

    def _new_texture(self, size: tuple[int, int]) -> None:
        import Metal
        from syphon.utils.raw import create_mtl_texture

        width, height = size
        self._texture = create_mtl_texture(self._server.device, width, height,
                                           Metal.MTLPixelFormatRGBA8Unorm)
        self._region = Metal.MTLRegionMake2D(0, 0, width, height)

    def _resize(self, frame) -> None:
        self._new_texture(frame.size)

    def _watched(self) -> bool:
        now = time.monotonic()
        if now - self._polled >= CLIENT_POLL_S:
            self._polled = now
            self._clients = bool(self._server.has_clients)
        return self._clients

    def _send(self, frame) -> bool:
        import objc

        width = frame.size[0]
        with objc.autorelease_pool():  # this is not the main thread: no pool of its own
            # the slot's bytes as they are (a buffer, no copy on our side)
            self._texture.replaceRegion_mipmapLevel_withBytes_bytesPerRow_(
                self._region, 0, memoryview(frame.pixels).cast("B"), width * 4)
            self._server.publish_frame_texture(self._texture, is_flipped=frame.flipped)
        return True

    def _close_sender(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        self._texture = None

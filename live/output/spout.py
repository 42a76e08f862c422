"""Spout out (Windows) through SpoutGL (``pip install SpoutGL``): UNTESTED HERE.

This project's machines run Linux, where Spout does not exist, so this module has never
run; it follows SpoutGL 0.1's API (a pybind11 wrapper of the Spout 2 SDK's
``SpoutSender``). What it does, on the output's own thread like every video out: Spout's
``SendImage`` uploads the tap's RGBA frame into the shared texture (it needs an OpenGL
context on the calling thread, so the thread makes a hidden one with ``createOpenGL``) and
flips it on the way when the frame came from a window (rows bottom-up); Spout follows a new
output size by itself. The sender's name is the one Spout receivers list.
"""

from __future__ import annotations

from live.config import OutputConfig
from live.output import VideoOutput, require

GL_RGBA = 0x1908


class SpoutOutput(VideoOutput):
    """The show's output as a Spout sender."""

    kind = "Spout"

    def __init__(self, name: str, cfg: OutputConfig) -> None:
        require("SpoutGL", "SpoutGL", only_on=("Spout", "win32", "Windows"))
        super().__init__(name, cfg)
        self._sender = None
        self._gl = False

    def _open_sender(self, frame) -> None:
        import SpoutGL

        sender = SpoutGL.SpoutSender()
        # SendImage goes through OpenGL: this thread needs a (hidden) context of its own
        self._gl = bool(sender.createOpenGL())
        sender.setSenderName(self.name)
        self._sender = sender

    def _resize(self, frame) -> None:
        pass  # SendImage takes the size with each frame; Spout re-makes its texture

    def _send(self, frame) -> bool:
        width, height = frame.size
        ok = self._sender.sendImage(frame.pixels, width, height, GL_RGBA, frame.flipped, 0)
        if ok:
            self._sender.setFrameSync(self.name)  # receivers that wait for frames wake up
        return bool(ok)

    def _close_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.releaseSender()
            if self._gl:
                sender.closeOpenGL()

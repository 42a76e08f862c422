"""Video out: the finished picture (without the HUD) sent to a mixer as NDI, Syphon or Spout.

Every output has the same shape: a ``FrameTap`` (live/render/tap.py) that the render thread
feeds once a frame (``Display.taps``), and a sender thread of its own that takes the newest
frame, hands it to the library and gives the slot back. The render loop never waits on the
sender or the network: a frame the sender has not taken when the next one is read is
replaced (newest wins) and counted, and the tap's ring never grows.

The engine's side (``Engine.start_outputs``)::

    for output in open_outputs(cfg.output, ndi_name):
        output.start()
        display.taps.append(output.tap)     # fed every frame, before the HUD
        status_lines.append(output.hud_line)
    ...
    output.close()                          # when the show ends, before the display closes

``open_outputs`` gives one output per kind the config (or ``live run --ndi NAME``) asks
for; a kind whose package is not installed is one warning and no output, and the show goes
on. See docs/video-out.md.
"""

from __future__ import annotations

import logging
import threading
import time
from fractions import Fraction

import numpy as np

from live.config import OutputConfig
from live.render.tap import FrameTap

log = logging.getLogger(__name__)

LATENCY_SAMPLES = 1024
"""Frames whose compose-to-handed-over latency ``stats`` summarises (the most recent)."""
RATE_SAMPLES = 64
"""Send times kept for the send rate (the rate over the last this many frames)."""
WAIT_S = 0.25
"""How long the sender thread waits for a frame before it looks at its stop flag again."""


class MissingPackage(RuntimeError):
    """The package (or runtime) an output needs is not there: one warning, no output."""


def require(package: str, install: str, *modules: str,
            only_on: tuple[str, str, str] | None = None) -> list:
    """Import ``modules`` (default: ``package``) of an output's optional package, or raise
    ``MissingPackage`` saying how to install it. ``only_on``: (the output's kind, the
    ``sys.platform`` it exists on, that system's name)."""
    import importlib
    import sys

    if only_on is not None and sys.platform != only_on[1]:
        raise MissingPackage(f"{only_on[0]} runs on {only_on[2]} only")
    try:
        return [importlib.import_module(m) for m in modules or (package,)]
    except (ImportError, OSError) as exc:
        detail = "" if isinstance(exc, ModuleNotFoundError) else f" ({exc})"
        raise MissingPackage(f"{package} is not installed or cannot load{detail}: "
                             f"pip install {install}") from None


def frame_rate(fps: float) -> Fraction:
    """``fps`` as the fraction video gear expects: 60 -> 60/1, 59.94 -> 60000/1001,
    29.97 -> 30000/1001, 23.976 -> 24000/1001, anything else to within 1/1000."""
    if fps <= 0:
        raise ValueError("frame rate must be positive")
    if abs(fps - round(fps)) < 1e-6:
        return Fraction(round(fps), 1)
    ntsc = fps * 1001 / 1000
    if abs(ntsc - round(ntsc)) < 0.005:
        return Fraction(round(ntsc) * 1000, 1001)
    return Fraction(fps).limit_denominator(1000)


class VideoOutput:
    """A tap and a sender thread; subclasses say how one frame is sent.

    Subclass hooks, all called on the sender thread: ``_open_sender(frame)`` before the
    first frame; ``_resize(frame)`` when the frame size changes (by default the sender is
    closed and opened again); ``_send(frame) -> bool`` (False: counted as a failure, the
    frame is dropped); ``_watched() -> bool`` (False: nobody receives, the tap is switched
    off so the render thread reads nothing back); ``_close_sender()``. A ``_send`` that
    hands the library the slot's own pixels without copying sets ``self._held = frame``:
    the slot goes back to the tap only after the next send (or the close).
    """

    kind = "video out"

    def __init__(self, name: str, cfg: OutputConfig) -> None:
        self.name = name
        self.fps = cfg.fps
        self.tap = FrameTap(f"{self.kind} out", components=4, rate=cfg.fps,
                            slots=cfg.queue_frames)
        self.size: tuple[int, int] | None = None
        self.sent = 0
        self.failures = 0
        """Frames the library refused or raised on (dropped, counted)."""
        self.error: str | None = None
        """The last failure, for the HUD."""
        self.idle = False
        """True while nobody receives (the tap is off)."""
        self._held = None
        self._latency_ms = np.zeros(LATENCY_SAMPLES)
        self._send_ns = np.zeros(RATE_SAMPLES, np.int64)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{self.kind}-out", daemon=True)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop the sender thread (it closes the library's sender) and wake it if it waits."""
        self._stop.set()
        self.tap.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10.0)
            if self._thread.is_alive():
                log.warning("%s %r: the sender thread did not stop", self.kind, self.name)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # ------------------------------------------------------------------ sender thread
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self.size is not None and not self._watched():
                    if not self.idle:
                        self.idle = True
                        self.tap.active = False
                    self._stop.wait(WAIT_S)
                    continue
                if self.idle:
                    self.idle = False
                    self.tap.active = True
                frame = self.tap.get(timeout=WAIT_S)
                if frame is None:
                    continue
                held = self._held
                try:
                    self._handle(frame)
                finally:
                    if self._held is not frame:
                        self.tap.release(frame)
                    if held is not None and held is not self._held:
                        self.tap.release(held)
        except Exception as exc:  # the library failed for good: no more frames, the show goes on
            self.error = str(exc) or type(exc).__name__
            log.error("%s %r stopped: %s", self.kind, self.name, self.error)
            self.tap.active = False
        finally:
            self.tap.active = False
            if self.size is not None:
                try:
                    self._close_sender()
                except Exception:
                    log.exception("%s %r: closing the sender failed", self.kind, self.name)
            if self._held is not None:
                self.tap.release(self._held)
                self._held = None

    def _handle(self, frame) -> None:
        if frame.size != self.size:
            if self.size is None:
                self._open_sender(frame)
            else:
                self._resize(frame)
            self.size = frame.size
        try:
            ok = self._send(frame)
        except Exception as exc:
            ok = False
            if self.failures == 0 or str(exc) != self.error:
                log.warning("%s %r: a frame could not be sent: %s", self.kind, self.name, exc)
            self.error = str(exc) or type(exc).__name__
        if not ok:
            self.failures += 1
            return
        now_wall = time.time_ns()
        self._latency_ms[self.sent % LATENCY_SAMPLES] = (now_wall - frame.wall_ns) / 1e6
        self._send_ns[self.sent % RATE_SAMPLES] = time.perf_counter_ns()
        self.sent += 1

    # ------------------------------------------------------------------ hooks
    def _open_sender(self, frame) -> None:
        raise NotImplementedError

    def _resize(self, frame) -> None:
        self._close_sender()
        self.size = None
        self._open_sender(frame)

    def _send(self, frame) -> bool:
        raise NotImplementedError

    def _watched(self) -> bool:
        return True

    def _close_sender(self) -> None:
        pass

    # ------------------------------------------------------------------ reporting
    def send_fps(self) -> float:
        """Frames sent per second over the last ``RATE_SAMPLES`` frames (0 when idle)."""
        count = min(self.sent, RATE_SAMPLES)
        if count < 2 or self.idle:
            return 0.0
        newest = self._send_ns[(self.sent - 1) % RATE_SAMPLES]
        oldest = self._send_ns[(self.sent - count) % RATE_SAMPLES]
        if time.perf_counter_ns() - newest > 2e9:  # nothing sent lately
            return 0.0
        return (count - 1) * 1e9 / max(newest - oldest, 1)

    def latency_ms(self) -> tuple[float, float] | None:
        """p50 and p99 of composed -> handed to the library, over the recent frames."""
        count = min(self.sent, LATENCY_SAMPLES)
        if count == 0:
            return None
        recent = self._latency_ms[:count]
        return float(np.percentile(recent, 50)), float(np.percentile(recent, 99))

    def dropped(self) -> int:
        """Frames read back but never sent: replaced in the tap, failed read-backs, sends
        the library refused."""
        return self.tap.dropped + self.tap.failures + self.failures

    def stats(self) -> dict:
        dropped = self.dropped()
        latency = self.latency_ms()
        return {
            "kind": self.kind, "name": self.name,
            "size": list(self.size) if self.size else None,
            "fps": round(self.send_fps(), 2), "advertised_fps": str(frame_rate(self.fps)),
            "sent": self.sent, "dropped": dropped,
            "dropped_pct": round(100.0 * dropped / max(self.sent + dropped, 1), 3),
            "dropped_in_tap": self.tap.dropped, "readback_failures": self.tap.failures,
            "send_failures": self.failures, "idle": self.idle,
            "latency_ms_p50": round(latency[0], 3) if latency else None,
            "latency_ms_p99": round(latency[1], 3) if latency else None,
            "latency_from": "composed -> handed to the sender library",
            "error": self.error,
        }

    def hud_line(self) -> str:
        label = f"{self.kind} {self.name}"
        if not self.running and self.error:
            return f"{label}: off ({self.error})"
        if self.size is None:
            return f"{label}: waiting for the first frame"
        if self.idle:
            return f"{label}: no receivers"
        dropped = self.dropped()
        pct = 100.0 * dropped / max(self.sent + dropped, 1)
        latency = self.latency_ms()
        tail = f", {latency[0]:.0f} ms" if latency else ""
        return (f"{label}: {self.size[0]}x{self.size[1]} {self.send_fps():.1f} fps, "
                f"{dropped} dropped ({pct:.1f}%){tail}")


_warned: set[str] = set()


def _warn_once(kind: str, message: str) -> None:
    if kind not in _warned:
        _warned.add(kind)
        log.warning("%s", message)


def open_outputs(cfg: OutputConfig, ndi_name: str | None = None) -> list[VideoOutput]:
    """The outputs ``cfg`` asks for, not started. ``ndi_name`` (``live run --ndi NAME``)
    turns NDI on under that name ("" = ``cfg.ndi_name``). A kind whose package or runtime is
    missing, or that this system cannot run, is one warning and no output."""
    wanted = []
    if cfg.ndi or ndi_name is not None:
        wanted.append(("NDI", ndi_name or cfg.ndi_name))
    if cfg.syphon:
        wanted.append(("Syphon", cfg.ndi_name))
    if cfg.spout:
        wanted.append(("Spout", cfg.ndi_name))
    outputs: list[VideoOutput] = []
    for kind, name in wanted:
        try:
            outputs.append(_make(kind, name, cfg))
        except MissingPackage as exc:
            _warn_once(kind, f"{kind} out is off: {exc}")
    return outputs


def _make(kind: str, name: str, cfg: OutputConfig) -> VideoOutput:
    if kind == "NDI":
        from live.output.ndi import NdiOutput

        return NdiOutput(name, cfg)
    if kind == "Syphon":
        from live.output.syphon import SyphonOutput

        return SyphonOutput(name, cfg)
    from live.output.spout import SpoutOutput

    return SpoutOutput(name, cfg)

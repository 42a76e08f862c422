"""``live bench --remote``: what the browser remote costs a running show, and how fast it is.

A headless show with its whole control surface (OSC, OSCQuery with the WebSocket, ``/remote``,
the preview encoder) on free loopback ports renders while a driver thread goes through phases
of ``frames`` frames each:

1. ``off``: nobody watches (the preview tap is off);
2. ``preview``: a WebSocket client (the ``websockets`` library) asks for the preview and counts
   the JPEGs it receives;
3. ``off_again``: nobody watches again (a drifting machine shows in the two baselines);
4. ``page``: the remote page in headless Chromium, preview on, while ~``changes`` values are
   sent over UDP and each is timed to the page's fader (``live.remote.measure``).

The frame time of each phase comes from the engine's own frame log, so the comparison is the
same show, the same scene, in the same run.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import numpy as np

from live.framelog import percentile

SKIP_FRAMES = 60
"""Frames left out at the start (warm-up, first compiles)."""


class _Show:
    """What ``measure_latency`` needs of a running show: the page's URL and a UDP sender."""

    def __init__(self, surface) -> None:
        from pythonosc.udp_client import SimpleUDPClient

        self.url = f"http://127.0.0.1:{surface.oscquery.port}/remote/"
        self._client = SimpleUDPClient("127.0.0.1", surface.osc.port)

    def send(self, address: str, value) -> None:
        self._client.send_message(address, value)


class _Watcher(threading.Thread):
    """A WebSocket client that asks for the preview and counts the JPEGs."""

    def __init__(self, port: int) -> None:
        super().__init__(name="bench-preview-client", daemon=True)
        self.port = port
        self.stamps: list[float] = []
        self.sizes: list[int] = []
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        from websockets.sync.client import connect

        try:
            with connect(f"ws://127.0.0.1:{self.port}/", open_timeout=30,
                         proxy=None) as client:
                client.send(json.dumps({"COMMAND": "LIVE_PREVIEW", "DATA": True}))
                self.ready.set()
                while not self.stop.is_set():
                    try:
                        data = client.recv(timeout=0.5)
                    except TimeoutError:
                        continue
                    if isinstance(data, bytes) and data[:2] == b"\xff\xd8":
                        self.stamps.append(time.monotonic())
                        self.sizes.append(len(data))
        except BaseException as exc:  # reported by the bench
            self.error = exc
            self.ready.set()


def run_remote_bench(cfg, model, choice, scene, frames: int, size: tuple[int, int],
                     changes: int = 300) -> dict:
    from live.config import OscConfig, OscQueryConfig
    from live.control.surface import ControlSurface
    from live.engine import Engine
    from live.remote.measure import browser_paths, measure_latency

    cfg = replace(cfg, display=replace(cfg.display, size=size, vsync=False, hud=False),
                  engine=replace(cfg.engine, max_fps=0.0),
                  osc=OscConfig(host="127.0.0.1", port=0, feedback_port=9,
                                allow=("127.0.0.0/8",)),
                  oscquery=OscQueryConfig(port=0, zeroconf=False),
                  remote=replace(cfg.remote, enabled=True),
                  midi=replace(cfg.midi, enabled=False),
                  audio=replace(cfg.audio, enabled=False))
    engine = Engine(cfg, model, choice, scene, headless=True,
                    log_capacity=SKIP_FRAMES + 5 * frames + 20000)
    surface = ControlSurface(cfg, engine)
    surface.start()
    windows: dict[str, tuple[int, int]] = {}
    result: dict = {}
    errors: list[BaseException] = []

    def frames_shown() -> int:
        return engine.frames.count

    def phase(name: str) -> None:
        begin = frames_shown()
        while frames_shown() < begin + frames and not engine.stop.is_set():
            time.sleep(0.01)
        windows[name] = (begin, frames_shown())

    def drive() -> None:
        try:
            while frames_shown() < SKIP_FRAMES and not engine.stop.is_set():
                time.sleep(0.05)
            phase("off")
            watcher = _Watcher(surface.oscquery.port)
            watcher.start()
            watcher.ready.wait(60)
            if watcher.error is not None:
                raise watcher.error
            # the first JPEG shows the encoder is on; time from there
            end = time.monotonic() + 60
            while not watcher.stamps and time.monotonic() < end:
                time.sleep(0.01)
            first = len(watcher.stamps)
            t0 = time.monotonic()
            phase("preview")
            t1 = time.monotonic()
            got = len(watcher.stamps) - first
            watcher.stop.set()
            watcher.join(timeout=30)
            inside = [t for t in watcher.stamps[first:] if t <= t1]
            span = inside[-1] - inside[0] if len(inside) > 1 else 0.0
            result["preview"] = {
                # frames over the time between the first and last of them (window edges
                # would otherwise count against the rate)
                "fps_received": round((len(inside) - 1) / span, 2) if span else 0.0,
                "window_s": round(t1 - t0, 2),
                "frames_received": got,
                "jpeg_kb_mean": round(float(np.mean(watcher.sizes)) / 1024, 1)
                if watcher.sizes else 0.0,
                "encode_ms": round(surface.preview.encode_ms, 2),
                "dropped": surface.oscquery.preview_dropped,
                "preview_fps_setting": cfg.remote.preview_fps,
                "width": cfg.remote.preview_width,
            }
            while surface.preview.tap.active and not engine.stop.is_set():
                time.sleep(0.01)  # the encoder has seen that nobody watches
            phase("off_again")
            paths = browser_paths()
            if isinstance(paths, str):
                result["page"] = {"skipped": paths}
            else:
                begin = frames_shown()
                result["page"] = measure_latency(changes, cfg.remote.listen_hz,
                                                 target=_Show(surface))
                windows["page"] = (begin, frames_shown())
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.stop.set()

    driver = threading.Thread(target=drive, name="bench-remote", daemon=True)
    driver.start()
    try:
        engine.run(None)
    finally:
        driver.join(timeout=120)
        surface.close()
    if errors:
        raise errors[0]
    log = engine.frames
    frame_ms = log.chronological(log.frame_ms)
    first = max(0, log.count - len(frame_ms))
    phases = {}
    for name, (begin, end) in windows.items():
        chunk = frame_ms[max(begin - first, 0): max(end - first, 0)]
        if len(chunk):
            phases[name] = {"frames": int(len(chunk)),
                            "fps": round(1000.0 / float(np.mean(chunk)), 2),
                            "frame_ms_p50": round(percentile(chunk, 50), 2),
                            "frame_ms_p99": round(percentile(chunk, 99), 2)}
    result["phases"] = phases
    if "off" in phases and "preview" in phases:
        base = (phases["off"]["frame_ms_p99"]
                + phases.get("off_again", phases["off"])["frame_ms_p99"]) / 2.0
        result["preview_p99_change_pct"] = round(
            100.0 * (phases["preview"]["frame_ms_p99"] / base - 1.0), 1)
    result["output"] = list(engine.display.output_size)
    result["render_scale"] = engine.display.render_scale
    result["scene"] = scene.name
    return result

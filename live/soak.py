"""`live soak`: the whole show fast-forwarded for a long time, watching memory and handles.

A headless engine at a small output size runs with a fixed frame time and, to fast-forward,
decodes only every ``decode_every``-th frame (everything else runs every frame: controls,
modulation, walk, the compositor's passes, the text layer and present). Around it run the
parts of a real show: the OSC server with a sender thread moving faders, the audio input playing a
synthesised groove through the real analysis, the live text typing, and scene switches every
``switch_every`` frames (through the scenes thread, models swapped, crossfades).

Resident memory, open file descriptors and threads are read after a settling period (the
first ``settle`` frames: caches, allocator pools and prepared models fill up there) and at the
end; the figures go to docs/performance.md.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from live.config import Config, OscConfig, OscQueryConfig


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def write_groove(path: Path, seconds: float = 20.0, bpm: float = 124.0, rate: int = 48000):
    """Kicks on the beat, hats between, over a hum: something for the analysis to follow."""
    import soundfile

    t = np.arange(int(rate * seconds)) / rate
    x = 0.1 * np.sin(2 * np.pi * 110 * t)
    rng = np.random.default_rng(0)
    beat = 60.0 / bpm
    tail = np.arange(int(0.25 * rate)) / rate
    kick = 0.9 * np.sin(2 * np.pi * (50 + 80 * np.exp(-tail * 30)) * tail) * np.exp(-tail * 9)
    hat_n = int(0.05 * rate)
    hat = 0.25 * rng.standard_normal(hat_n) * np.exp(-np.arange(hat_n) / rate * 80)
    for k in range(int(seconds / beat)):
        for start, sound in ((k * beat, kick), ((k + 0.5) * beat, hat)):
            i = int(start * rate)
            n = min(len(sound), len(x) - i)
            x[i:i + n] += sound[:n]
    soundfile.write(path, x.astype(np.float32), rate)


class OscSender(threading.Thread):
    """Moves a few faders over OSC, about ``rate`` messages a second, until stopped."""

    def __init__(self, port: int, rate: float = 200.0) -> None:
        super().__init__(name="soak-osc", daemon=True)
        self.port, self.rate = port, rate
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        from pythonosc.osc_message_builder import build_msg

        rng = np.random.default_rng(1)
        addresses = ["/live/norm/fx/hue", "/live/norm/walk/pc1", "/live/norm/fx/saturation",
                     "/live/tempo/tap", "/live/cue/store/1", "/live/cue/recall/1"]
        buttons = {"/live/tempo/tap", "/live/cue/store/1", "/live/cue/recall/1"}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while not self.stop.wait(1.0 / self.rate):
                address = addresses[self.sent % len(addresses)]
                args = [] if address in buttons else [float(rng.random())]
                sock.sendto(build_msg(address, args).dgram, ("127.0.0.1", self.port))
                self.sent += 1


def run_soak(cfg: Config, model, choice, scene, frames: int, size: tuple[int, int],
             decode_every: int, switch_every: int, settle: int, text_model=None) -> dict:
    from live.control.surface import ControlSurface
    from live.engine import Engine

    cfg = replace(cfg, display=replace(cfg.display, size=size, vsync=False, hud=False),
                  engine=replace(cfg.engine, max_fps=0.0),
                  osc=OscConfig(host="127.0.0.1", port=0, feedback_port=9,
                                allow=("127.0.0.0/8",)),
                  oscquery=OscQueryConfig(enabled=False),
                  midi=replace(cfg.midi, enabled=False))
    engine = Engine(cfg, model, choice, scene, headless=True, fixed_dt=1 / 60,
                    log_capacity=4096, text_model=text_model)
    engine.decode_every = max(1, decode_every)
    if text_model is not None:
        engine.bus.set("text.visible", True)
    with tempfile.TemporaryDirectory() as tmp:
        groove = Path(tmp) / "groove.wav"
        write_groove(groove)
        surface = ControlSurface(cfg, engine, audio_file=groove)
        surface.start()
        surface.prefetched.wait(timeout=300)
        sender = OscSender(surface.osc.port)
        sender.start()
        marks: dict = {}

        def conduct() -> None:
            next_switch = switch_every
            while not engine.stop.wait(0.05):
                count = engine.frames.count
                if "settled" not in marks and count >= settle:
                    marks["settled"] = (rss_mb(), open_fds(), threading.active_count(),
                                        time.perf_counter(), count)
                if switch_every and count >= next_switch:
                    engine.bus.trigger("scene.next")
                    next_switch += switch_every

        conductor = threading.Thread(target=conduct, name="soak", daemon=True)
        conductor.start()
        start_rss, start_fds, start_threads = rss_mb(), open_fds(), threading.active_count()
        started = time.perf_counter()
        try:
            shown = engine.run(frames)
        finally:
            end = (rss_mb(), open_fds(), threading.active_count(), time.perf_counter())
            sender.stop.set()
            sender.join()
            engine.stop.set()
            conductor.join()
            surface.close()
    settled_rss, settled_fds, settled_threads, settled_at, settled_frame = marks.get(
        "settled", (start_rss, start_fds, start_threads, started, 0))
    return {
        "frames": shown,
        "output_size": list(size),
        "decode_every": engine.decode_every,
        "wall_s": round(end[3] - started, 1),
        "fps": round(shown / (end[3] - started), 1),
        "switches": engine.switches,
        "osc_messages": surface.osc.stats.messages if surface.osc else 0,
        "audio_blocks": surface.audio.blocks if surface.audio else 0,
        "text_chars": engine.text.typed if engine.text else 0,
        "settle_frames": settled_frame,
        "rss_mb_start": round(start_rss, 1),
        "rss_mb_settled": round(settled_rss, 1),
        "rss_mb_end": round(end[0], 1),
        "rss_growth_pct": round(100 * (end[0] - settled_rss) / settled_rss, 2),
        "fds_settled": settled_fds,
        "fds_end": end[1],
        "threads_settled": settled_threads,
        "threads_end": end[2],
    }

"""`live bench`: the real engine path, headless and uncapped, measured against a bare decode.

Everything the show runs runs here: drain, walk, decode (pipelined as configured), fx, upload to
the texture, present through the SDL renderer at the output size. Control events are injected
at random times from another thread through the same bus a control source uses; a frame's
control-to-photon latency is from the arrival stamp of the event to the end of the present of
the first frame whose decode consumed it (the slowest path: through the generator).
The bare decode loop uses the same generator, size, device, precision, thread and thread
count as the engine's decode; ``decode_fps_all_cores`` is the same loop on the main thread
with every core, which differs only when the pipeline gives the decode fewer cores.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import replace

import numpy as np
import torch

from live.config import Config
from live.device import DeviceChoice, synchronize, torch_threads
from live.engine import STAGES, Engine, percentile
from live.scenes import Scene
from live.store import LoadedGenerator

SKIP_FRAMES = 10
"""Frames at the start of the run left out of the statistics (caches settling)."""


class Injector(threading.Thread):
    """Publishes ``walk.truncation`` changes at random intervals; keeps every stamp."""

    def __init__(self, engine: Engine, mean_interval_s: float = 0.03, seed: int = 0):
        super().__init__(name="bench-injector", daemon=True)
        self.engine = engine
        self.mean_interval_s = mean_interval_s
        self.rng = random.Random(seed)
        self.stamps: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.rng.expovariate(1.0 / self.mean_interval_s)):
            stamp = time.perf_counter_ns()
            self.engine.bus.set("walk.truncation", self.rng.uniform(0.7, 0.9), stamp_ns=stamp)
            self.stamps.append(stamp)


def latencies_ms(event_stamps: np.ndarray, frame_stamps: np.ndarray,
                 present_ns: np.ndarray) -> np.ndarray:
    """For each event, the present time of the first frame that consumed it, minus its stamp."""
    consumed = np.maximum.accumulate(frame_stamps)
    idx = np.searchsorted(consumed, event_stamps, side="left")
    ok = idx < len(consumed)
    return (present_ns[idx[ok]] - event_stamps[ok]) / 1e6


@torch.inference_mode()
def bare_decode_ms(engine: Engine, frames: int) -> np.ndarray:
    """Per-frame ms of a plain decode loop, synchronised each frame like the engine's."""
    truncation = engine.controls["walk.truncation"]
    times = np.zeros(frames)
    for i in range(-5, frames):
        start = time.perf_counter()
        image = engine._decode(truncation)
        synchronize(engine.choice.device)
        if i >= 0:
            times[i] = (time.perf_counter() - start) * 1e3
    del image
    return times


def bare_decode(engine: Engine, frames: int) -> np.ndarray:
    if not engine.pipelined:
        return bare_decode_ms(engine, frames)
    result: list[np.ndarray] = []

    def work() -> None:
        torch.set_num_threads(engine.decode_threads)
        result.append(bare_decode_ms(engine, frames))

    thread = threading.Thread(target=work, name="bench-decode")
    thread.start()
    thread.join()
    return result[0]


def run_bench(cfg: Config, model: LoadedGenerator, choice: DeviceChoice, scene: Scene,
              frames: int, size: tuple[int, int]) -> dict:
    cfg = replace(cfg, display=replace(cfg.display, size=size, vsync=False, hud=False),
                  engine=replace(cfg.engine, max_fps=0.0))
    engine = Engine(cfg, model, choice, scene, headless=True, log_capacity=frames + 1)
    bare_before = bare_decode(engine, min(frames, 300))
    injector = Injector(engine)
    injector.start()
    started = time.perf_counter()
    try:
        shown = engine.run(frames)
    finally:
        injector.stop.set()
        injector.join()
    wall_s = time.perf_counter() - started
    # bare decode loops before and after the run (drift on a shared machine hits both)
    bare = np.concatenate([bare_before, bare_decode(engine, min(frames, 300))])
    # what the model does with every core on the main thread, for comparison when the
    # pipeline gives the decode fewer cores than the machine has
    bare_all = bare
    if engine.pipelined:
        with torch_threads(os.cpu_count() or 1):
            bare_all = bare_decode_ms(engine, min(frames, 300))

    log = engine.frames
    frame_ms = log.chronological(log.frame_ms)[SKIP_FRAMES:]
    stage_ms = log.chronological(log.stage_ms)[SKIP_FRAMES:]
    stamps = log.chronological(log.stamp_ns)
    presents = log.chronological(log.present_ns)
    events = np.array(injector.stamps, dtype=np.int64)
    events = events[events > presents[min(SKIP_FRAMES, len(presents) - 1)]]
    latency = latencies_ms(events, stamps, presents)

    fps = 1000.0 / float(np.mean(frame_ms))
    decode_fps = 1000.0 / float(np.mean(bare))
    decode_fps_all_cores = 1000.0 / float(np.mean(bare_all))
    return {
        "fps": round(fps, 2),
        "frame_ms_p50": round(percentile(frame_ms, 50), 3),
        "frame_ms_p99": round(percentile(frame_ms, 99), 3),
        "decode_fps": round(decode_fps, 2),
        "loop_efficiency": round(fps / decode_fps, 3),
        "decode_fps_all_cores": round(decode_fps_all_cores, 2),
        "loop_efficiency_all_cores": round(fps / decode_fps_all_cores, 3),
        "control_to_photon_ms_p50": round(percentile(latency, 50), 3),
        "control_to_photon_ms_p99": round(percentile(latency, 99), 3),
        "control_events": int(len(latency)),
        "stage_ms": {name: round(float(np.median(stage_ms[:, i])), 3)
                     for i, name in enumerate(STAGES)},
        "device": choice.label,
        "model": engine.model_name,
        "output_size": list(size),
        "canvas_size": list(engine.fx.canvas_size),
        "decode_size": [engine.source_res, engine.source_res],
        "pipeline": engine.pipelined,
        "decode_threads": engine.decode_threads,
        "traced": engine.traced,
        "frames": shown,
        "wall_s": round(wall_s, 2),
        "torch": torch.__version__,
    }

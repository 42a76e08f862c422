"""`live bench`: the real engine path, headless and uncapped, measured against a bare decode.

Everything the show runs runs here: drain, walk, decode (pipelined as configured), upload, the
compositor's shader passes at the output size (on an EGL context: Mesa's llvmpipe on a machine
without a GPU), with the dynamic render scale as configured, with the OSC server and its
feedback thread running. Control events are real OSC messages sent over loopback UDP at random
times; a frame's control-to-photon latency is from the moment the message was sent to the end
of the present of the first frame whose decode consumed it (the slowest path: through the
generator).

Three phases share one engine: quiet (only the control events), flood (a second process sends
valid fader messages at ``--osc-flood-rate`` per second) and fuzz (the same process sends
``--osc-fuzz`` seeded garbage packets). The headline figures are the quiet phase's.
The bare decode loop uses the same generator, size, device, precision, thread and thread
count as the engine's decode; ``decode_fps_all_cores`` is the same loop on the main thread
with every core, which differs only when the pipeline gives the decode fewer cores.
"""

from __future__ import annotations

import math
import os
import random
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from live.config import Config, OscConfig
from live.control import oscload
from live.control.osc import Feedback, OscServer
from live.device import DeviceChoice, synchronize, torch_threads
from live.engine import Engine
from live.framelog import STAGES, percentile
from live.scenes import Scene
from live.store import LoadedGenerator

SKIP_FRAMES = 10
"""Frames at the start of the run left out of the statistics (caches settling)."""
FUZZ_RATE = 20000.0
"""Fuzz packets per second: steady, so the fuzz overlaps enough frames to judge them."""


class Injector(threading.Thread):
    """Sends ``/live/walk/truncation`` over UDP at random intervals; keeps each send time."""

    def __init__(self, port: int, mean_interval_s: float = 0.03, seed: int = 0):
        super().__init__(name="bench-injector", daemon=True)
        self.port = port
        self.mean_interval_s = mean_interval_s
        self.rng = random.Random(seed)
        self.stamps: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        from pythonosc.osc_message_builder import build_msg

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while not self.stop.wait(self.rng.expovariate(1.0 / self.mean_interval_s)):
                data = build_msg("/live/walk/truncation", [self.rng.uniform(0.7, 0.9)]).dgram
                stamp = time.perf_counter_ns()
                sock.sendto(data, ("127.0.0.1", self.port))
                self.stamps.append(stamp)


class LoadPhases(threading.Thread):
    """After the quiet phase's ``frames`` frames, runs the flood phase (as long as the quiet
    one took) and the fuzz phase, then stops the engine. The senders are spawned processes,
    started before the engine so their start-up is not inside a phase; each phase's window is
    kept in perf_counter_ns for slicing the frame log."""

    def __init__(self, engine: Engine, osc: OscServer, frames: int, flood_rate: float,
                 fuzz_count: int, switches: int = 0) -> None:
        super().__init__(name="bench-phases", daemon=True)
        import multiprocessing

        self.engine, self.osc, self.frames = engine, osc, frames
        self.switches = switches
        ctx = multiprocessing.get_context("spawn")
        self.procs: dict[str, tuple] = {}
        for mode, rate, on in (("flood", flood_rate, flood_rate > 0),
                               ("fuzz", FUZZ_RATE, fuzz_count > 0)):
            if on:
                ready, go, done = ctx.Event(), ctx.Event(), ctx.Event()
                seconds, result = ctx.Value("d", 0.0), ctx.Queue()
                proc = ctx.Process(target=oscload.load_process, name=f"bench-{mode}",
                                   daemon=True, args=(osc.port, mode, rate, seconds, fuzz_count,
                                                      ready, go, done, result))
                proc.start()
                self.procs[mode] = (proc, go, done, seconds, result)
                ready.wait(timeout=120)  # packets built before any frame is measured
        self.windows: dict[str, tuple[int, int]] = {}
        self.sent: dict[str, tuple[int, float]] = {}
        self.ingested: dict[str, int] = {}

    def run(self) -> None:
        try:
            started = time.perf_counter_ns()
            while self.engine.frames.count < SKIP_FRAMES + self.frames:
                if self.engine.stop.wait(0.005):
                    return
            self.windows["quiet"] = (started, time.perf_counter_ns())
            quiet_s = (self.windows["quiet"][1] - started) / 1e9
            if self.switches:
                self._switch_phase()
            for mode in self.procs:
                self._phase(mode, max(quiet_s, 2.0))
        finally:
            self.engine.stop.set()

    def _switch_phase(self) -> None:
        """``switches`` scene switches in a row (scene.next, through the scenes thread, models
        loaded in the background), each followed by its crossfade."""
        engine = self.engine
        start = time.perf_counter_ns()
        for _ in range(self.switches):
            before = engine.switches
            engine.bus.trigger("scene.next")
            deadline = time.monotonic() + 30
            while engine.switches == before and time.monotonic() < deadline:
                if engine.stop.wait(0.01):
                    return
            time.sleep(1.5)
        self.windows["switch"] = (start, time.perf_counter_ns())

    def _phase(self, mode: str, seconds: float) -> None:
        _, go, done, duration, result = self.procs[mode]
        counter = "messages" if mode == "flood" else "packets"
        before = getattr(self.osc.stats, counter)
        duration.value = seconds
        start = time.perf_counter_ns()
        go.set()
        done.wait(timeout=600)
        time.sleep(0.05)  # what is still in the socket buffer
        end = time.perf_counter_ns()
        self.windows[mode] = (start, end)
        self.ingested[mode] = getattr(self.osc.stats, counter) - before
        self.sent[mode] = result.get(timeout=10)

    def close(self) -> None:
        for proc, *_ in self.procs.values():
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()


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


def sharpness(rgb: np.ndarray) -> float:
    """Visible detail of a frame: the mean absolute Laplacian of its luma (0-255 scale) over
    the interior pixels. A soft, upscaled picture scores low; crisp edges score high."""
    luma = rgb[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    laplacian = (4 * luma[1:-1, 1:-1] - luma[:-2, 1:-1] - luma[2:, 1:-1]
                 - luma[1:-1, :-2] - luma[1:-1, 2:])
    return float(np.abs(laplacian).mean())


class SharpnessProbe(threading.Thread):
    """Captures the output a few times a second during the quiet phase (through the engine's
    snapshot path, without the HUD) and keeps each frame's ``sharpness``."""

    def __init__(self, engine: Engine, phases: LoadPhases, every_s: float = 0.2) -> None:
        super().__init__(name="bench-sharpness", daemon=True)
        self.engine, self.phases, self.every_s = engine, phases, every_s
        self.values: list[float] = []
        self.stop = threading.Event()
        engine.capture_hook = self._measure

    def _measure(self, captured) -> None:
        if isinstance(captured, np.ndarray):
            frame = captured
        else:  # a pygame surface
            import pygame

            frame = pygame.surfarray.array3d(captured).transpose(1, 0, 2)
        self.values.append(sharpness(frame))

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            if "quiet" in self.phases.windows:  # the quiet phase is over
                return
            if self.engine.frames.count > SKIP_FRAMES:
                self.engine.snapshot()


def _window(presents: np.ndarray, window: tuple[int, int] | None) -> np.ndarray:
    """Indices of the frames presented inside ``window`` (all frames when None)."""
    if window is None:
        return np.arange(len(presents))
    return np.flatnonzero((presents >= window[0]) & (presents < window[1]))


def run_bench(cfg: Config, model: LoadedGenerator, choice: DeviceChoice, scene: Scene,
              frames: int, size: tuple[int, int], flood_rate: float = 20000.0,
              fuzz_count: int = 100_000, text_model=None, switches: int = 0,
              ndi: bool = False) -> dict:
    """``ndi``: the show's output also goes out as NDI (the engine's own video out, as
    ``live run --ndi`` does) to a receiver process on loopback; the result gains "ndi"."""
    import tempfile

    # snapshots and recordings that the fuzz may ask for go to a folder that goes away
    scratch = tempfile.TemporaryDirectory(prefix="live-bench-")
    cfg = replace(cfg, display=replace(cfg.display, size=size, vsync=False, hud=False),
                  engine=replace(cfg.engine, max_fps=0.0),
                  paths=replace(cfg.paths, snapshots=scratch.name, recordings=scratch.name))
    engine = Engine(cfg, model, choice, scene, headless=True,
                    log_capacity=SKIP_FRAMES + 3 * frames + 5000, text_model=text_model)
    if text_model is not None:
        engine.bus.set("text.visible", True)
        engine.bus.set("text.rate", 30.0)
    ndi_loopback = receiver = None
    if ndi:
        ndi_loopback = _NdiLoopback()
        ndi_loopback.__enter__()
        ndi_name = f"{NDI_BENCH_NAME}-{os.getpid()}"
        engine.start_outputs(ndi_name)
        if not engine.outputs:
            ndi_loopback.__exit__()
            raise RuntimeError("--ndi: no NDI out (is cyndilib installed? pip install "
                               "'live[ndi]')")
        receiver = NdiReceiver(ndi_name, 600.0, scratch.name)
    wall_offset_ns = time.time_ns() - time.perf_counter_ns()
    osc_cfg = OscConfig(host="127.0.0.1", port=0, feedback_port=9, allow=("127.0.0.0/8",))
    feedback = Feedback(engine.bus, osc_cfg)
    osc = OscServer(engine.bus, osc_cfg, feedback)
    osc.start()
    feedback.start()
    surface = None
    if switches:
        from live.control.surface import ControlSurface

        quiet_cfg = replace(cfg, osc=replace(cfg.osc, enabled=False),
                            midi=replace(cfg.midi, enabled=False),
                            audio=replace(cfg.audio, enabled=False))
        surface = ControlSurface(quiet_cfg, engine)
        surface.start()
        surface.prefetched.wait(timeout=300)  # other scenes' models, before measuring
    phases = LoadPhases(engine, osc, frames, flood_rate, fuzz_count, switches)
    bare_before = bare_decode(engine, min(frames, 300))
    injector = Injector(osc.port)
    injector.start()
    probe = SharpnessProbe(engine, phases)
    probe.start()
    started = time.perf_counter()
    ran = False
    try:
        phases.start()
        shown = engine.run(None)
        server_alive = osc._thread is not None and osc._thread.is_alive()
        ran = True
    finally:
        injector.stop.set()
        injector.join()
        probe.stop.set()
        probe.join()
        phases.join(timeout=30)
        phases.close()
        if surface is not None:
            surface.close()
        ndi_seen = None
        if receiver is not None:
            if ran:
                ndi_seen = receiver.finish()
            else:
                receiver.proc.kill()
                receiver.proc.communicate()
        if ndi_loopback is not None:
            ndi_loopback.__exit__()
        scratch.cleanup()
        osc.close()
        feedback.close()
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
    all_frame_ms = log.chronological(log.frame_ms)
    all_stage_ms = log.chronological(log.stage_ms)
    stamps = log.chronological(log.stamp_ns)
    presents = log.chronological(log.present_ns)
    quiet = _window(presents, phases.windows.get("quiet"))
    quiet = quiet[quiet >= SKIP_FRAMES]
    frame_ms, stage_ms = all_frame_ms[quiet], all_stage_ms[quiet]
    compositor_ms = log.chronological(log.compositor_ms)[quiet]
    compositor_ms = compositor_ms[np.isfinite(compositor_ms)]
    events = np.array(injector.stamps, dtype=np.int64)

    def control_latency(window: tuple[int, int] | None) -> np.ndarray:
        chosen = events[events > presents[min(SKIP_FRAMES, len(presents) - 1)]]
        if window is not None:
            chosen = chosen[(chosen >= window[0]) & (chosen < window[1])]
        return latencies_ms(chosen, stamps, presents)

    latency = control_latency(phases.windows.get("quiet"))
    fps = 1000.0 / float(np.mean(frame_ms))
    decode_fps = 1000.0 / float(np.mean(bare))
    decode_fps_all_cores = 1000.0 / float(np.mean(bare_all))
    result = {
        "fps": round(fps, 2),
        "frame_ms_p50": round(percentile(frame_ms, 50), 3),
        "frame_ms_p99": round(percentile(frame_ms, 99), 3),
        "frame_ms_max": round(float(frame_ms.max()), 3),
        "decode_fps": round(decode_fps, 2),
        "loop_efficiency": round(fps / decode_fps, 3),
        "decode_fps_all_cores": round(decode_fps_all_cores, 2),
        "loop_efficiency_all_cores": round(fps / decode_fps_all_cores, 3),
        "control_to_photon_ms_p50": round(percentile(latency, 50), 3),
        "control_to_photon_ms_p99": round(percentile(latency, 99), 3),
        "control_events": int(len(latency)),
        "control_path": "OSC over loopback UDP",
        "text": None if engine.text is None else {
            "model": engine.text.gen.name, "chars_typed": engine.text.typed,
            "line_renders": getattr(engine.text.layer, "renders", None)},
        "sharpness": round(float(np.mean(probe.values)), 3) if probe.values else None,
        "sharpness_frames": len(probe.values),
        "stage_ms": {name: round(float(np.median(stage_ms[:, i])), 3)
                     for i, name in enumerate(STAGES)},
    }
    if "switch" in phases.windows:
        window = _window(presents, phases.windows["switch"])
        worst = float(all_frame_ms[window].max()) if len(window) else math.nan
        result["scene_switch"] = {
            "switches": engine.switches, "frames": int(len(window)),
            "frame_ms_p50": round(percentile(all_frame_ms[window], 50), 3),
            "frame_ms_p99": round(percentile(all_frame_ms[window], 99), 3),
        }
        result["switch_max_frame_ms"] = round(worst, 3)
        if len(window):  # where the worst frame's time went
            worst_at = window[int(np.argmax(all_frame_ms[window]))]
            result["switch_max_stage_ms"] = {name: round(float(all_stage_ms[worst_at, i]), 3)
                                             for i, name in enumerate(STAGES)}
        result["switch_max_vs_p50"] = round(worst / result["frame_ms_p50"], 3)
    if "flood" in phases.windows:
        flood = _window(presents, phases.windows["flood"])
        start, end = phases.windows["flood"]
        sent, send_wall = phases.sent["flood"]
        flood_latency = control_latency(phases.windows["flood"])
        flood_p99 = percentile(all_frame_ms[flood], 99)
        result["osc_flood"] = {
            "sent_per_s": round(sent / send_wall),
            "ingested_per_s": round(phases.ingested["flood"] / ((end - start) / 1e9)),
            "ingested_fraction": round(phases.ingested["flood"] / max(sent, 1), 4),
            "frames": int(len(flood)),
            "fps": round(1000.0 / float(np.mean(all_frame_ms[flood])), 2),
            "frame_ms_p50": round(percentile(all_frame_ms[flood], 50), 3),
            "frame_ms_p99": round(flood_p99, 3),
            "frame_ms_p99_vs_quiet": round(flood_p99 / result["frame_ms_p99"], 3),
            "control_to_photon_ms_p99": round(percentile(flood_latency, 99), 3),
        }
    if "fuzz" in phases.windows:
        fuzz = _window(presents, phases.windows["fuzz"])
        sent, send_wall = phases.sent["fuzz"]
        fuzz_ms = all_frame_ms[fuzz]
        result["osc_fuzz"] = {
            "packets_sent": sent,
            "packets_ingested": phases.ingested["fuzz"],
            "frames": int(len(fuzz)),
            "frame_ms_max": round(float(fuzz_ms.max()) if len(fuzz_ms) else math.nan, 3),
            "frame_ms_p50": round(percentile(fuzz_ms, 50), 3),
            "max_over_median": round(float(fuzz_ms.max() / np.median(fuzz_ms))
                                     if len(fuzz_ms) else math.nan, 3),
            "server_alive": bool(server_alive),
        }
    if ndi_seen is not None:
        quiet_wall = tuple(t + wall_offset_ns for t in phases.windows["quiet"])
        figures = ndi_figures(engine.outputs[0], ndi_seen[0], ndi_seen[1], quiet_wall, None)
        figures["window"] = "the quiet phase (send_fps: frames received per second)"
        result["ndi"] = figures
    result["osc_counts"] = osc.stats.as_dict()
    result.update({
        "device": choice.label,
        "model": engine.model_name,
        "output_size": list(size),
        "render_scale": engine.display.render_scale,
        "render_scale_mode": "auto" if engine.display.scale.auto else "fixed",
        "render_size": list(engine.compositor.render_size),
        "scene": engine.scene.name,
        "isf_layers": [f"{spec.name}:{spec.shader.name}" for spec in engine.scene.layers],
        "isf_programs_compiled": engine.compositor.isf.compiles,
        "compositor_ms_p50": round(percentile(compositor_ms, 50), 3) if len(compositor_ms)
        else None,
        "gl_renderer": engine.display.gl_renderer,
        "gl_timer": engine.display.timer.kind,
        "decode_size": [engine.source_res, engine.source_res],
        "pipeline": engine.pipelined,
        "decode_threads": engine.decode_threads,
        "traced": engine.traced and not engine._imported,  # imported StyleGANs run eagerly
        "frames": shown,
        "wall_s": round(wall_s, 2),
        "torch": torch.__version__,
    })
    return result


# ---------------------------------------------------------------------- NDI out (--ndi)
NDI_BENCH_NAME = "live-bench"


class NdiReceiver:
    """The measuring receiver (live/output/ndiprobe.py) in its own process, on this machine:
    every frame it gets is a row (stamp, send and arrival times); ``summary`` gives counts,
    drops and composed -> received latency. It asks the runtime for its cheapest picture
    format (the pixels are not looked at) so its decoding weighs on the machine as little as
    it can."""

    def __init__(self, name: str, seconds: float, folder: str) -> None:
        import subprocess
        import sys

        self.rows_path = os.path.join(folder, "ndi-rows.npy")
        command = [sys.executable, "-m", "live.output.ndiprobe", "--source", name,
                   "--colour", "fastest", "--rows", self.rows_path, "--idle-end", "5",
                   "--seconds", str(seconds + 300), "--find-timeout", "300"]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.started = os.times()

    def finish(self) -> tuple[dict, np.ndarray]:
        """Wait for the receiver (it stops once frames stop coming); its summary and rows."""
        import json

        out, err = self.proc.communicate(timeout=600)
        if self.proc.returncode != 0:
            raise RuntimeError(f"the NDI receiver failed: {err.strip()[-2000:]}")
        summary = json.loads(out.strip().splitlines()[-1])
        ended = os.times()
        summary["cpu_s"] = round(ended.children_user + ended.children_system
                                 - self.started.children_user - self.started.children_system, 2)
        return summary, np.load(self.rows_path)


class _NdiLoopback:
    """NDI held to this machine for the bench: a temporary NDI_CONFIG_DIR that looks for
    sources at 127.0.0.1 only (set before the first NDI object of the process is made)."""

    def __enter__(self) -> str:
        import tempfile

        from live.output.ndi import loopback_config

        self._folder = tempfile.TemporaryDirectory(prefix="live-ndi-")
        loopback_config(Path(self._folder.name))
        self._before = os.environ.get("NDI_CONFIG_DIR")
        os.environ["NDI_CONFIG_DIR"] = self._folder.name
        return self._folder.name

    def __exit__(self, *exc) -> None:
        if self._before is None:
            os.environ.pop("NDI_CONFIG_DIR", None)
        else:
            os.environ["NDI_CONFIG_DIR"] = self._before
        self._folder.cleanup()


def ndi_figures(output, receiver: dict, rows: np.ndarray,
                window_wall_ns: tuple[int, int] | None, send_fps: float | None) -> dict:
    """What ``--ndi`` reports: the receiver's view of the frames composed inside the window
    (counts, drops anywhere on the way, latency) and the sender's own counters."""
    from live.output.ndiprobe import summary

    seen = summary(rows, window_wall_ns)
    stats = output.stats()
    return {
        "source": stats.get("source"), "backend": stats.get("backend"),
        "size": stats["size"], "fourcc": stats.get("fourcc"),
        "advertised_fps": stats["advertised_fps"],
        "send_fps": round(send_fps, 2) if send_fps is not None else seen.get("receive_fps"),
        "frames_composed": seen.get("frames_expected", 0),
        "frames_received": seen.get("frames_received", 0),
        "frames_dropped": seen.get("frames_dropped", 0),
        "dropped_pct": seen.get("dropped_pct"),
        "latency_ms_p50": seen.get("latency_ms_p50"),
        "latency_ms_p99": seen.get("latency_ms_p99"),
        "latency_ms_max": seen.get("latency_ms_max"),
        "latency_from": seen.get("latency_from"),
        "transport_ms_p50": seen.get("transport_ms_p50"),
        "transport_ms_p99": seen.get("transport_ms_p99"),
        "receiver_fps": seen.get("receive_fps"),
        "receiver_connects": receiver.get("connects"),
        "receiver_cpu_s": receiver.get("cpu_s"),
        "sender": {key: stats[key] for key in ("sent", "dropped", "dropped_in_tap",
                                               "send_failures", "readback_failures",
                                               "latency_ms_p50", "latency_ms_p99")},
    }


_PATTERN_VS = """
#version 330
out vec2 uv;
void main() {
    vec2 p = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);
    uv = p;
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
"""
_PATTERN_FS = """
#version 330
in vec2 uv;
uniform float t;
out vec4 color;
void main() {
    color = vec4(fract(uv.x + 0.25 * t), uv.y, 0.5 + 0.5 * sin(3.0 * t + 6.0 * uv.x), 1.0);
}
"""


def run_ndi_bench(cfg: Config, size: tuple[int, int], seconds: float = 60.0,
                  fps: float | None = None, backend: str = "runtime") -> dict:
    """``live bench --ndi alone``: the send path on its own. A real framebuffer of ``size``
    redrawn every frame (a moving gradient, one cheap shader pass) at ``fps`` (default
    ``[output] fps``) through the real frame tap and NDI sender, to a receiver process on
    loopback, for ``seconds`` once the receiver gets frames."""
    import tempfile

    from live.config import OutputConfig
    from live.output.ndi import NdiOutput
    from live.render import glcontext

    fps = fps or cfg.output.fps
    name = f"{NDI_BENCH_NAME}-{os.getpid()}"
    out_cfg = OutputConfig(ndi=True, ndi_name=name, fps=fps,
                           queue_frames=cfg.output.queue_frames)
    ctx = glcontext.standalone()
    program = ctx.program(vertex_shader=_PATTERN_VS, fragment_shader=_PATTERN_FS)
    vao = ctx.vertex_array(program, [])
    texture = ctx.texture(size, 4)
    framebuffer = ctx.framebuffer(color_attachments=[texture])
    capture_ms: list[float] = []
    late = 0
    with _NdiLoopback(), tempfile.TemporaryDirectory(prefix="live-bench-ndi-") as folder:
        output = NdiOutput(name, out_cfg, backend=backend)
        output.start()
        receiver = NdiReceiver(name, seconds, folder)
        cpu_before = None
        window = None
        start = time.perf_counter()
        tick = 0
        try:
            while True:
                now = time.perf_counter()
                if window is None and output.receivers > 0 and output.sent > fps:
                    cpu_before = os.times()
                    window = [time.time_ns(), None, now, tick, output.sent]
                if window is not None and now - window[2] >= seconds:
                    window[1] = time.time_ns()
                    sent = output.sent - window[4]
                    break
                if now - start > seconds + 300:
                    raise RuntimeError("the NDI receiver never connected")
                framebuffer.use()
                program["t"].value = tick / fps
                vao.render(vertices=3)
                began = time.perf_counter()
                output.tap.capture(ctx, framebuffer, size, flip=False)
                if window is not None:
                    capture_ms.append((time.perf_counter() - began) * 1e3)
                tick += 1
                delay = start + tick / fps - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                elif window is not None:
                    late += 1
            produced = tick - window[3]
            cpu_after = os.times()
        finally:
            output.close()
            output.tap.release_gl()
            for item in (framebuffer, texture, vao, program):
                item.release()
            ctx.release()
        seen, rows = receiver.finish()
    result = {"mode": "NDI send path alone", "seconds": seconds, "target_fps": fps,
              "frames_drawn": produced, "drawn_fps": round(produced / seconds, 2),
              "late_ticks": late,
              "capture_ms_p50": round(percentile(np.array(capture_ms), 50), 3),
              "capture_ms_p99": round(percentile(np.array(capture_ms), 99), 3),
              "process_cpu_s": round(cpu_after.user + cpu_after.system
                                     - cpu_before.user - cpu_before.system, 2),
              "load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    result["ndi"] = ndi_figures(output, seen, rows, (window[0], window[1]), sent / seconds)
    return result

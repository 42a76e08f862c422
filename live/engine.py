"""The render loop: controls -> walk -> decode -> fx -> present, once per frame.

The main thread owns pygame and this loop. With the decode pipeline on (the default on a CPU),
a worker thread decodes frame N+1 while the main thread runs fx and presents frame N; the
latency this costs is what ``live bench`` reports as control-to-photon. Everything the loop
touches per frame is allocated before the first frame: the latent buffers, the fx buffers,
the host frame the texture is uploaded from. The loop never waits on I/O: snapshots are
written by a thread, recording is handed to a writer thread through a fixed ring.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pygame
import torch

from live.config import Config
from live.control.keyboard import handle_events
from live.control.tempo import TapTempo
from live.device import DeviceChoice, synchronize
from live.modulation import Modulation, SourceTable
from live.params import PC_PARAMS, Bus, Controls, Registry
from live.render.display import Display
from live.render.fx import FxChain
from live.render.hud import Hud
from live.render.record import CLOSE_TIMEOUT_S, Recorder, save_png_async
from live.scenes import Scene
from live.store import LoadedGenerator
from live.walk import Walk

log = logging.getLogger(__name__)
# TorchScript is deprecated in favour of torch.compile, but it is what releases the GIL for a
# whole decode today (docs/performance.md); models are traced on background threads too, where
# a catch_warnings block would not be safe, so the filters are set once here
warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated")

STAGES = ("controls", "walk", "decode", "fx", "present")
RESIZE_EVENTS = (pygame.WINDOWRESIZED, pygame.WINDOWSIZECHANGED)
MAX_DT_S = 0.1
"""A stall longer than this is not replayed as a jump in the walk."""
BEATS_PER_BAR = 4
QUANTIZE_MAX_S = 8.0
"""A bar-quantised scene switch never waits longer than this."""
DECODE_WAIT_S = 0.5
"""How long the loop waits for a decode before re-presenting the last frame."""


def canvas_size_for(output: tuple[int, int], fit: str, source_res: int, canvas_height: int,
                    device: torch.device) -> tuple[int, int]:
    """The fx canvas: the output's aspect (fill) or square (fit), at a device-dependent height.

    On a CPU the canvas is the decoded resolution (the texture path does the upscale, and fx
    at that size keep the present short enough for one-frame control latency);
    on a GPU it is the output height. Sizes are even so any video encoder takes them.
    """
    out_w, out_h = output
    height = canvas_height or (out_h if device.type != "cpu" else min(out_h, source_res))
    width = height if fit == "fit" else round(height * out_w / out_h)
    return width + width % 2, height + height % 2


@dataclass
class FrameLog:
    """Per-frame timings in preallocated rings (the last ``capacity`` frames)."""

    capacity: int

    def __post_init__(self) -> None:
        self.frame_ms = np.zeros(self.capacity)
        self.stage_ms = np.zeros((self.capacity, len(STAGES)))
        self.stamp_ns = np.zeros(self.capacity, dtype=np.int64)
        self.present_ns = np.zeros(self.capacity, dtype=np.int64)
        self.count = 0

    def add(self, frame_ms: float, stages: np.ndarray, stamp_ns: int, present_ns: int) -> None:
        i = self.count % self.capacity
        self.frame_ms[i] = frame_ms
        self.stage_ms[i] = stages
        self.stamp_ns[i] = stamp_ns
        self.present_ns[i] = present_ns
        self.count += 1

    def chronological(self, array: np.ndarray) -> np.ndarray:
        n = min(self.count, self.capacity)
        if self.count <= self.capacity:
            return array[:n]
        start = self.count % self.capacity
        return np.concatenate([array[start:], array[:start]])


class DecodeWorker:
    """Decodes on its own thread, one request in flight, results handed back with their stamp."""

    def __init__(self, decode, threads: int) -> None:
        self._decode = decode
        self._threads = threads
        self._request = threading.Event()
        self._done = threading.Event()
        self._done.set()
        self._stop = False
        self._args: tuple = ()
        self.result: tuple[torch.Tensor | None, int, float] = (None, 0, 0.0)
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="decode", daemon=True)
        self._thread.start()

    def submit(self, truncation: float, stamp_ns: int) -> None:
        self._args = (truncation, stamp_ns)
        self._done.clear()
        self._request.set()

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    def _run(self) -> None:
        if self._threads > 0:
            torch.set_num_threads(self._threads)
        while True:
            self._request.wait()
            self._request.clear()
            if self._stop:
                return
            truncation, stamp = self._args
            start = time.perf_counter()
            try:
                image = self._decode(truncation)
                self.result = (image, stamp, (time.perf_counter() - start) * 1e3)
            except Exception as exc:  # a failed decode must not kill the show
                self.error = exc
            self._done.set()

    def close(self) -> None:
        self._stop = True
        self._request.set()
        self._thread.join(timeout=2.0)


class _Decode(torch.nn.Module):
    """Decode with an offset along the model's PCA directions, as one traceable forward.

    A GAN's directions live in w (after the mapping network), a VAE's in z.
    """

    def __init__(self, module: torch.nn.Module, offset_in_w: bool) -> None:
        super().__init__()
        self.module = module
        self.offset_in_w = offset_in_w

    def forward(self, z: torch.Tensor, truncation: torch.Tensor,
                offset: torch.Tensor) -> torch.Tensor:
        if self.offset_in_w:
            return self.module.decode(z, truncation, offset)
        return self.module.decode(z + offset, truncation)


class Engine:
    """One show: a generator, a walk, an fx chain and a display, driven by a bus."""

    def __init__(self, cfg: Config, model: LoadedGenerator, choice: DeviceChoice,
                 scene: Scene, headless: bool = False, record: Path | None = None,
                 registry: Registry | None = None, bus: Bus | None = None,
                 fixed_dt: float | None = None, log_capacity: int = 1200,
                 stop: threading.Event | None = None, text_model=None) -> None:
        self.cfg = cfg
        self.choice = choice
        self.scene = scene
        self.model_name = model.name
        self.registry = registry or Registry()
        self.bus = bus or Bus(self.registry)
        self.controls = Controls(self.registry)
        self.fixed_dt = fixed_dt
        self.decode_every = 1
        """Decode every n-th frame only (``live soak`` fast-forwards with it); 1 = always."""
        device, dtype = choice.device, choice.dtype

        self.traced = cfg.engine.compile == "on" or (
            cfg.engine.compile == "auto" and device.type == "cpu")
        self._adopt(self._prepare_model(model, warm=0))

        self.display = Display(cfg.display, headless=headless)
        output = self.display.output_size
        canvas = canvas_size_for(output, cfg.display.fit, self.source_res,
                                 cfg.engine.canvas_height, device)
        self.host = torch.empty((canvas[1], canvas[0], 3), dtype=torch.uint8,
                                pin_memory=device.type == "cuda")
        self.display.attach(self.host.numpy())
        self.fx = FxChain(canvas, device, dtype)
        if device.type == "cpu":
            self.fx.frame = self.host  # fx writes straight into the uploaded buffer
        self.hud = Hud(self.display.renderer)
        self.hud.visible = cfg.display.hud

        self.walk = Walk(self.latent_dim, seed=cfg.show.seed,
                         keyframes=int(self.registry["walk.keyframes"].default))
        self.model_cache: dict[str, dict] = {}
        """Prepared models by name (see ``_prepare_model``), filled by the control surface's
        prefetch and by every swap (the outgoing model), so going back is instant."""
        self._pending_scene: tuple | None = None
        self._beats = 0
        self._last_phase = 0.0
        self._on_bar = False
        self.switches = 0

        self.recorder: Recorder | None = None
        self._pending_recorder: Recorder | None = None
        self._recorder_threads: list[threading.Thread] = []
        self.recording_error = ""
        if record is not None:
            self.recorder = self._new_recorder(record)
            self.bus.set("show.record", True)
        self._recording = record is not None
        self.listeners: list = []
        """Objects with ``handle(event)`` that see every trigger after the engine (scene
        switches, MIDI learn, the text layer, the audio tempo); called on this thread, so they
        must only queue or store."""
        self.tap_tempo = TapTempo()
        self.sources = SourceTable()
        """Audio features and the tempo clock, read by the scene's modulation maps."""
        self.modulation = Modulation(scene.maps, self.registry)
        self._beat_phase = 0.0
        self.external_tempo_phase = False
        """True while another clock (Ableton Link) writes the tempo.phase source."""
        self.capture_hook = None
        """When set, captured frames (``snapshot``) go to this callable, not to a PNG."""
        self.status_lines: list = []
        """Callables returning an extra HUD line (OSC, MIDI), each cheap to call."""
        pipeline = cfg.engine.pipeline
        # "auto" is off: on this project's 2-core reference CPU the sequential loop gives
        # more fps and less latency than the pipeline (docs/performance.md)
        self.pipelined = pipeline == "on"
        cores = os.cpu_count() or 1
        if device.type == "cpu" and self.pipelined:
            # one core (or what the config says) decodes; the main thread keeps one for fx,
            # upload and present, single-threaded so the two never fight over cores
            self.decode_threads = cfg.engine.threads or max(1, cores - 1)
            torch.set_num_threads(1)
        else:
            self.decode_threads = cfg.engine.threads or cores
        self.worker: DecodeWorker | None = None
        self.stop = stop or threading.Event()
        """Set (by a signal handler, another thread, the quit key) to end the show."""
        self.frames = FrameLog(log_capacity)
        self._stages = np.zeros(len(STAGES))
        self._last_image: torch.Tensor | None = None
        self._snapshot_threads: list[threading.Thread] = []
        self._last_shown_stamp_ns = 0
        self.last_control_to_photon_ms = 0.0
        self.text = None
        """The live text (live/textgen.py): a sampler thread and the layer drawing it."""
        if text_model is not None:
            self.set_text_model(text_model)
        self._beat_index = self.sources.index["audio.beat"]
        self.apply_scene(scene)

    # ------------------------------------------------------------------ set-up
    def set_text_model(self, text_model) -> None:
        """Use ``text_model`` (a loaded char-RNN) for the live text; any thread (the sampler
        thread starts here, the swap is one reference store)."""
        from live.textgen import TextGen, TextShow

        gen = TextGen(text_model.module, text_model.name, seed=self.cfg.show.seed)
        gen.start()
        if self.text is None:
            from live.render.text import TextLayer

            self.text = TextShow(gen, TextLayer(self.display.renderer,
                                                self.display.output_size))
            self.listeners.append(self.text)
        else:
            old, self.text.gen = self.text.gen, gen
            old.close()

    def _new_recorder(self, path: Path) -> Recorder:
        output = self.display.output_size
        return Recorder(
            path, self.fx.canvas_size, self.cfg.record.fps,
            output_size=output if self.cfg.record.size == "output" else None,
            codec=self.cfg.record.codec, quality=self.cfg.record.quality,
            queue_frames=self.cfg.record.queue_frames,
            drop_when_behind=self.fixed_dt is None,
        )

    def _follow_record_switch(self) -> None:
        """``show.record`` turned on or off: start or finish a recording off this thread."""
        if self._pending_recorder is not None:
            self.recorder, self._pending_recorder = self._pending_recorder, None
        wanted = self.controls["show.record"] >= 0.5
        if wanted == self._recording:
            return
        self._recording = wanted
        if wanted:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            path = self.cfg.path("recordings") / f"live-{stamp}.mp4"
            thread = threading.Thread(target=self._open_recorder, args=(path,),
                                      name="recorder-open", daemon=True)
        else:
            recorder, self.recorder = self.recorder, None
            if recorder is None:
                return
            thread = threading.Thread(target=recorder.close, name="recorder-close",
                                      daemon=True)
            log.info("recording stopped: %s", recorder.path)
        thread.start()
        self._recorder_threads = [t for t in self._recorder_threads if t.is_alive()]
        self._recorder_threads.append(thread)

    def _open_recorder(self, path: Path) -> None:
        try:
            recorder = self._new_recorder(path)
        except Exception as exc:  # no ffmpeg, no disk: the show goes on
            self.recording_error = str(exc)
            log.error("recording could not start: %s", exc)
            self.bus.set("show.record", False)
            return
        log.info("recording to %s", path)
        if self._recording:
            self._pending_recorder = recorder
        else:  # switched off again while ffmpeg was starting
            recorder.close()

    def apply_scene(self, scene: Scene) -> None:
        for name, value in scene.values.items():
            self.bus.set(name, value)
        self.use_scene(scene)

    def use_scene(self, scene: Scene) -> None:
        """Adopt a scene whose values are already on the bus (any thread: two reference
        stores, read by the loop at its next frame)."""
        self.modulation = Modulation(scene.maps, self.registry)
        self.scene = scene

    @torch.inference_mode()
    def _decode(self, truncation: float) -> torch.Tensor:
        self._truncation.fill_(truncation)
        return self._decoder(self._z, self._truncation, self._offset)

    @torch.inference_mode()
    def _update_offset(self) -> None:
        """offset = sum_i pc_i * spread_i * direction_i, for the model's PCA faders."""
        if self._directions is None:
            return
        for i, name in enumerate(PC_PARAMS[: len(self._pc_host)]):
            self._pc_host[i] = self.controls[name]
        self._pc.copy_(self._pc_host, non_blocking=True)
        torch.mv(self._directions.t(), self._pc, out=self._offset)

    @torch.inference_mode()
    def _prepare_model(self, model: LoadedGenerator, warm: int = 3) -> dict:
        """Everything that depends on the model, built without touching the running show:
        on the device, baked, traced and warmed. ``_adopt`` puts it in place (render thread).
        """
        device, dtype = self.choice.device, self.choice.dtype
        pin = device.type == "cuda"
        gen = model.module.to(device=device, dtype=dtype)
        if self.choice.channels_last:
            gen = gen.to(memory_format=torch.channels_last)
        gen = gen.eval().bake()
        state = {
            "model_name": model.name, "generator": gen, "source_res": gen.resolution,
            "latent_dim": gen.latent_dim, "offset_in_w": model.kind == "gan",
            "_z_host": torch.zeros(1, gen.latent_dim, pin_memory=pin),
            "_z": torch.randn(1, gen.latent_dim).to(device, dtype),
            "_truncation": torch.ones((), device=device, dtype=dtype),
            "_directions": None, "_pc_host": None, "_pc": None,
        }
        # PCA faders (walk.pc1..4): directions scaled by their spread, in w (GAN) or z (VAE)
        offset_dim = gen.cfg.w_dim if state["offset_in_w"] else gen.latent_dim
        state["_offset"] = torch.zeros(offset_dim, device=device, dtype=dtype)
        directions = model.extra.get("directions")
        if directions is not None and directions.shape[-1] == offset_dim:
            count = min(len(PC_PARAMS), len(directions))
            spread = model.extra.get("direction_std", torch.ones(len(directions)))[:count]
            state["_directions"] = (directions[:count] * spread[:, None]).to(device, dtype)
            state["_pc_host"] = torch.zeros(count, pin_memory=pin)
            state["_pc"] = torch.zeros(count, device=device, dtype=dtype)
        decoder = _Decode(gen, state["offset_in_w"])
        inputs = (state["_z"], state["_truncation"], state["_offset"])
        if self.traced:
            decoder = self._trace(decoder, inputs)
        for _ in range(warm):  # first calls of a traced graph optimise it: not on stage
            decoder(*inputs)
        synchronize(device)
        state["_decoder"] = decoder
        return state

    def _adopt(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    @staticmethod
    def _trace(decoder: torch.nn.Module, inputs: tuple):
        """A TorchScript trace of the batch-1 decode.

        A traced decode runs as one call into C++ that releases the GIL for its whole length,
        so a decode worker and the main thread (fx, present) truly overlap; eager decoding
        takes the GIL between every op and stalls behind the present.
        """
        traced = torch.jit.trace(decoder, inputs, check_trace=False)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))

    def prepare_in_background(self, model: LoadedGenerator) -> dict:
        """``_prepare_model`` for a thread other than the render thread, warmed with the
        decode's own thread count: oneDNN builds its kernels per thread count, and a graph
        warmed on another count spends seconds rebuilding them on its first calls on stage
        (measured: 0.4-0.8 s per call for six calls)."""
        from live.device import torch_threads

        with torch_threads(self.decode_threads):
            return self._prepare_model(model)

    def request_scene(self, scene: Scene, values: dict, model_state: dict | None = None,
                      fade_s: float = 2.0, quantize: bool = True) -> None:
        """Have the loop bring ``scene`` in (any thread): its values, its maps, its model when
        ``model_state`` (from ``_prepare_model``) is given, and a crossfade of ``fade_s``.
        With ``quantize`` and an active tempo source (confident audio, Link) it waits for
        the next bar (at most ``QUANTIZE_MAX_S``)."""
        self._pending_scene = (scene, values, model_state, fade_s, quantize,
                               time.perf_counter())

    def tempo_active(self) -> bool:
        return self.external_tempo_phase or self.sources["audio.confidence"] >= 0.5

    def _bring_in_pending_scene(self) -> None:
        """Render thread, with no decode in flight: a requested scene, when its time came."""
        scene, values, model_state, fade_s, quantize, asked = self._pending_scene
        waited = time.perf_counter() - asked
        if quantize and self.tempo_active() and not self._on_bar and waited < QUANTIZE_MAX_S:
            return
        self._pending_scene = None
        for name, value in values.items():
            self.bus.set(name, value)
        self.use_scene(scene)
        if model_state is not None:
            self._swap_in_model(model_state)
        self.fx.start_fade(fade_s)
        self.switches += 1

    def _swap_in_model(self, state: dict) -> None:
        """Render thread, with no decode in flight: put a prepared model in place (the
        outgoing one is kept in ``model_cache``)."""
        old_dim = self.latent_dim
        self.model_cache[self.model_name] = {name: getattr(self, name) for name in state}
        self._adopt(state)
        if self.latent_dim != old_dim:  # another latent space: a new walk through it
            self.walk = Walk(self.latent_dim, seed=self.cfg.show.seed,
                             keyframes=int(self.controls["walk.keyframes"]),
                             mode=self.controls.choice("walk.mode"))
        log.info("model: %s", self.model_name)

    @torch.inference_mode()
    def warm_up(self, frames: int = 8) -> None:
        """Run the whole path a few times before the first shown frame (kernels, caches)."""
        self.bus.drain(self.controls, triggers=False)  # triggers are for the first frame
        self.controls.jump()
        # the scene's walk is where the show starts: no glide in from the built-in defaults
        # (cues stored before, e.g. restored from a saved state, are kept)
        cues = self.walk.cues
        self.walk = Walk(self.walk.dim, seed=self.cfg.show.seed,
                         keyframes=int(self.controls["walk.keyframes"]),
                         mode=self.controls.choice("walk.mode"))
        self.walk.cues = cues
        for _ in range(frames):
            image = self._decode(self.controls["walk.truncation"])
            self.fx.apply(image, self.controls, 0.0)
        synchronize(self.choice.device)
        self._last_image = image

    def _load_latent(self, z: np.ndarray) -> None:
        self._z_host[0].copy_(torch.from_numpy(z))
        self._z.copy_(self._z_host, non_blocking=True)

    # ------------------------------------------------------------------ triggers
    def _handle_triggers(self) -> None:
        for event in self.controls.triggers:
            name = event.name
            if name.startswith(("cue.", "walk.")):
                self.walk.handle(event)
            elif name == "fx.flash":
                self.fx.flash(event.arg or 1.0)
            elif name == "show.hud":
                self.hud.toggle()
            elif name == "show.fullscreen":
                self.display.toggle_fullscreen()
                if self.text is not None:
                    self.text.layer.resize(self.display.output_size)
            elif name == "show.snapshot":
                self.snapshot()
            elif name == "show.quit":
                self.stop.set()
            elif name == "tempo.tap":
                bpm = self.tap_tempo.tap(event.stamp_ns / 1e9)
                if bpm is not None:
                    self.bus.set("tempo.bpm", bpm)
            for listener in self.listeners:
                try:
                    listener.handle(event)
                except Exception:  # a control add-on must not stop the show
                    log.exception("trigger %s failed in %s", name, type(listener).__name__)

    def snapshot(self) -> None:
        """Capture the output at the next present; it is written by ``_write_snapshot``."""
        self.display.request_capture()

    def _write_snapshot(self) -> None:
        surface, self.display.captured = self.display.captured, None
        if self.capture_hook is not None:  # live bench measures the picture instead
            self.capture_hook(surface)
            return
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3]
        path = self.cfg.path("snapshots") / f"live-{stamp}.png"
        self._snapshot_threads.append(save_png_async(surface, path))

    # ------------------------------------------------------------------ the loop
    @torch.inference_mode()
    def run(self, frames: int | None = None) -> int:
        """Render until quit (or ``frames`` frames); returns the number of frames shown."""
        self.warm_up()
        if self.pipelined:
            self.worker = DecodeWorker(self._decode, self.decode_threads)
        shown = 0
        last = time.perf_counter()
        frame_start = last
        max_fps = self.cfg.engine.max_fps
        try:
            while not self.stop.is_set() and (frames is None or shown < frames):
                # pipelined: first collect frame N from the worker, so the controls drained
                # next are as fresh as possible when frame N+1 starts decoding
                decoded_in_time = self.worker.wait(DECODE_WAIT_S) if self.worker else True
                if decoded_in_time and self._pending_scene is not None:
                    self._bring_in_pending_scene()
                now = time.perf_counter()
                dt = self.fixed_dt if self.fixed_dt is not None else min(now - last, MAX_DT_S)
                last = now
                stages = self._stages
                t0 = now

                events = self.display.poll()
                handle_events(events, self.bus)
                if self.text is not None and any(e.type in RESIZE_EVENTS for e in events):
                    self.text.layer.resize(self.display.output_size)
                self.bus.drain(self.controls)
                self.controls.step(dt)
                if not self.external_tempo_phase:
                    if self.sources["audio.confidence"] >= 0.5:  # locked to the music
                        self._beat_phase = self.sources["audio.phase"]
                    else:
                        self._beat_phase = (self._beat_phase
                                            + dt * self.controls["tempo.bpm"] / 60.0) % 1.0
                    self.sources.set("tempo.phase", self._beat_phase)
                self.sources.step(dt)
                phase = self.sources["tempo.phase"]
                self._on_bar = False
                if phase < self._last_phase - 0.5:  # the phase wrapped: a new beat
                    self._beats += 1
                    self._on_bar = self._beats % BEATS_PER_BAR == 0
                self._last_phase = phase
                self.modulation.apply(self.controls, self.sources, dt)
                self._handle_triggers()
                if self.text is not None:
                    self.text.frame(dt, self.controls, bool(self.sources.fired[self._beat_index]))
                self._follow_record_switch()
                stamp = self.controls.newest_stamp_ns
                t1 = time.perf_counter()
                stages[0] = (t1 - t0) * 1e3

                z = self.walk.step(dt, self.controls)
                truncation = self.controls["walk.truncation"]
                self._update_offset()
                t2 = time.perf_counter()
                stages[1] = (t2 - t1) * 1e3

                if self.worker is None and shown % self.decode_every:
                    image, image_stamp = None, 0  # fast-forward (live soak): the last picture
                    t3 = time.perf_counter()
                    stages[2] = 0.0
                elif self.worker is None:
                    self._load_latent(z)
                    image = self._decode(truncation)
                    image_stamp = stamp
                    t3 = time.perf_counter()
                    stages[2] = (t3 - t2) * 1e3
                elif decoded_in_time:
                    image, image_stamp, stages[2] = self.worker.result
                    if self.worker.error is not None:
                        log.error("decode failed: %s", self.worker.error)
                        self.worker.error = None
                    self._load_latent(z)
                    self.worker.submit(truncation, stamp)
                    t3 = time.perf_counter()
                else:
                    log.warning("decode is late (> %.1f s): showing the last frame again",
                                DECODE_WAIT_S)
                    image, image_stamp, stages[2] = None, 0, 0.0
                    t3 = time.perf_counter()
                if image is None:
                    image = self._last_image
                self._last_image = image

                frame = self.fx.apply(image, self.controls, dt)
                if frame.data_ptr() != self.host.data_ptr():
                    self.host.copy_(frame)  # device -> host: the frame's sync point
                t4 = time.perf_counter()
                stages[3] = (t4 - t3) * 1e3

                overlays = self.text.layer.update(dt, self.controls) if self.text else []
                self.display.set_overlays(overlays, self.hud.update(dt, self.hud_lines()))
                self.display.present()
                present_ns = time.perf_counter_ns()
                if self.display.captured is not None:
                    self._write_snapshot()
                if (self.recorder is not None and not self.recorder.push(self.display.host)
                        and self.recorder.error is not None):
                    # disk full, ffmpeg gone: finish the file off this thread, the show goes on
                    self.recording_error = self.recorder.error
                    self.bus.set("show.record", False)
                t5 = time.perf_counter()
                stages[4] = (t5 - t4) * 1e3

                self.frames.add((t5 - frame_start) * 1e3, stages, image_stamp, present_ns)
                if image_stamp > self._last_shown_stamp_ns:
                    # the first frame showing a new control: its latency, for the HUD
                    self.last_control_to_photon_ms = (present_ns - image_stamp) / 1e6
                    self._last_shown_stamp_ns = image_stamp
                frame_start = t5
                shown += 1
                if max_fps > 0:
                    delay = 1.0 / max_fps - (time.perf_counter() - now)
                    if delay > 0:
                        time.sleep(delay)
                    frame_start = time.perf_counter()
        finally:
            self.close()
        return shown

    def hud_lines(self) -> list[str]:
        n = min(self.frames.count, 120)
        if not self.hud.visible:
            return []
        recent = self.frames.chronological(self.frames.frame_ms)[-n:] if n else np.zeros(1)
        stages = self.frames.chronological(self.frames.stage_ms)[-n:] if n else np.zeros((1, 5))
        frame_ms = float(np.median(recent)) if n else 0.0
        latency = self.last_control_to_photon_ms
        held = "" if self.walk.held_cue is None else f" (cue {self.walk.held_cue + 1})"
        recording = "   REC" if self.recorder is not None else ""
        extra = [line() for line in self.status_lines]
        return [
            f"{1000 / frame_ms if frame_ms else 0:5.1f} fps   frame {frame_ms:5.2f} ms   "
            f"decode {float(np.median(stages[:, 2])):5.2f} ms   "
            f"control->photon {latency:5.1f} ms",
            f"device {self.choice.label}   model {self.model_name}   scene {self.scene.name}",
            f"walk {self.walk.mode}{held}   speed {self.controls['walk.speed']:.2f}   "
            f"bpm {self.controls['tempo.bpm']:.1f}{recording}",
            *[line for line in extra if line],
        ]

    def close(self) -> None:
        if self.text is not None:
            self.text.gen.close()
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        for thread in self._recorder_threads:
            thread.join(timeout=CLOSE_TIMEOUT_S)
        if self._pending_recorder is not None:
            self._pending_recorder.close()
            self._pending_recorder = None
        if self.recorder is not None:
            self.recorder.close()
            self.recording_error = self.recorder.error or self.recording_error
        for thread in self._snapshot_threads:
            thread.join(timeout=5.0)
        self.display.close()


def percentile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else math.nan

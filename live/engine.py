"""The render loop: controls -> walk -> decode -> compositor -> present, once per frame.

The main thread owns pygame, the OpenGL context and this loop. With the decode pipeline on, a
worker thread decodes frame N+1 while the main thread composes and presents frame N; the
latency this costs is what ``live bench`` reports as control-to-photon. Everything the loop
touches per frame is allocated before the first frame: the latent buffers, the host buffer
the decoded frame is uploaded from, the compositor's textures. The loop never waits on I/O:
snapshots are written by a thread, recordings get read-back frames through a fixed ring.
Model preparation lives in live/decode.py, recording in live/render/recording.py, the HUD's
lines in live/render/hud.py.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pygame
import torch

from live.config import Config
from live.control.keyboard import handle_events
from live.control.tempo import BeatClock, TapTempo
from live.decode import DecodeWorker
from live.device import DeviceChoice, synchronize
from live.framelog import STAGES, FrameLog
from live.layers import show_registry, use_library
from live.modulation import Modulation, SourceTable
from live.params import PC_PARAMS, Bus, Controls, Registry
from live.render.display import Display
from live.render.hud import Hud, status_lines
from live.render.recording import Recording, save_png_async
from live.scenes import Scene
from live.showclock import LocalClock, SteppedClock, Timeline
from live.store import LoadedGenerator
from live.switching import Switching
from live.walk import Walk

log = logging.getLogger(__name__)
# TorchScript is deprecated in favour of torch.compile, but it is what releases the GIL for a
# whole decode today (docs/performance.md); models are traced on background threads too, where
# a catch_warnings block would not be safe, so the filters are set once here
warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated")

RESIZE_EVENTS = (pygame.WINDOWRESIZED, pygame.WINDOWSIZECHANGED)
MAX_DT_S = 0.1
"""A stall longer than this is not replayed as a jump in the walk."""
DECODE_WAIT_S = 0.5
"""How long the loop waits for a decode before re-presenting the last frame."""


class Engine(Switching):
    """One show: a generator, a walk and the compositor's display, driven by a bus."""

    def __init__(self, cfg: Config, model: LoadedGenerator, choice: DeviceChoice,
                 scene: Scene, headless: bool = False, record: Path | None = None,
                 registry: Registry | None = None, bus: Bus | None = None,
                 fixed_dt: float | None = None, log_capacity: int = 1200,
                 stop: threading.Event | None = None, text_model=None, clock=None) -> None:
        self.cfg = cfg
        self.choice = choice
        self.scene = scene
        self.model_name = model.name
        # the fixed parameters and every scene's ISF layer inputs (live/layers.py)
        self.registry = registry or show_registry(cfg.path("scenes"), use_library(cfg))
        self.bus = bus or Bus(self.registry)
        self.key_bus = self.bus
        """Where the keyboard writes (a cluster follower forwards it to its leader)."""
        self.scene_values_from_leader = False
        """A cluster follower: a scene brought in leaves its values to the leader's stamps."""
        self._snapshot_name: str | None = None
        """The next snapshot's file name (``output.snapshot``), or None: a time stamp."""
        self.beat_at = None
        """Ableton Link (live/control/link.py) when on: ``beat_at(mono_s, show_s)`` gives the
        session's beat phase at the frame's clock reading (taken at local ``time.monotonic``
        ``mono_s``; None: keep the last), written to ``tempo.phase`` once a frame."""
        self.controls = Controls(self.registry)
        self.fixed_dt = fixed_dt
        self.show_clock = clock or (SteppedClock(fixed_dt) if fixed_dt is not None
                                    else LocalClock(MAX_DT_S))
        """Read once per frame: every time-based state is a function of its readings
        (live/showclock.py); ``clock`` injects another (a leader's, Link's, a test's)."""
        self.timeline = Timeline()
        """Changes and triggers stamped with the show time at which they apply."""
        self.decode_every = 1
        """Decode every n-th frame only (``live soak`` fast-forwards with it); 1 = always."""
        device = choice.device

        self.traced = cfg.engine.compile == "on" or (
            cfg.engine.compile == "auto" and device.type == "cpu")
        self._adopt(self._prepare_model(model, warm=0))

        self.display = Display(cfg.display, headless=headless, output=cfg.output,
                               render_scale=cfg.engine.render_scale,
                               render_scale_min=cfg.engine.render_scale_min)
        self.compositor = self.display.compositor
        self.hud = Hud(self.display.sprites)
        self.hud.visible = cfg.display.hud

        self.walk = Walk(self.latent_dim, seed=cfg.show.seed,
                         keyframes=int(self.registry["walk.keyframes"].default))
        self.model_cache: dict[str, dict] = {}
        """Prepared models by name (see ``_prepare_model``), filled by the control surface's
        prefetch and by every swap (the outgoing model), so going back is instant."""
        self._pending_scene: tuple | None = None
        self.switches = 0

        self.recording = Recording(cfg, self.bus, lambda: self.display.output_size,
                                   offline=fixed_dt is not None)
        if record is not None:
            try:
                self.recording.start(record)
            except Exception:
                self.display.close()
                raise
        self.listeners: list = []
        """Objects with ``handle(event)`` that see every trigger after the engine (scene
        switches, MIDI learn, the text layer, the audio tempo); called on this thread, so they
        must only queue or store."""
        self.tap_tempo = TapTempo()
        self.sources = SourceTable()
        """Audio features and the tempo clock, read by the scene's modulation maps."""
        self.modulation = Modulation(scene.maps, self.registry)
        self.show_layers: list = list(self.registry.shaders)
        """``(layer name, shader)`` of every scene's layers (``("", shader)`` for
        its transition), compiled at warm-up so a scene switch never waits for a compiler
        (from the show's registry: live.layers.show_registry)."""
        self.clock = BeatClock()
        """The beat phase and bar line (``clock.external`` while Ableton Link writes it)."""
        self.capture_hook = None
        """When set, captured frames (``snapshot``) go to this callable, not to a PNG."""
        self.status_lines: list = []
        """Callables returning an extra HUD line (OSC, MIDI), each cheap to call."""
        self.outputs: list = []
        """Video outs and the remote's preview: each reads frames through its ``tap``."""
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
        self._uploaded: torch.Tensor | None = None
        self._snapshot_threads: list[threading.Thread] = []
        self._last_shown_stamp_ns = 0
        self.last_control_to_photon_ms = 0.0
        self.last_control_shown_ns = 0
        """When the newest control event first reached the picture (0: never)."""
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

            self.text = TextShow(gen, TextLayer(self.display.sprites,
                                                self.display.output_size))
            self.listeners.append(self.text)
        else:
            old, self.text.gen = self.text.gen, gen
            old.close()

    def add_output(self, output) -> None:
        """Feed ``output`` (``tap``, ``hud_line()``, ``close()``; live/output) every frame."""
        self.outputs.append(output)
        self.display.taps.append(output.tap)
        self.status_lines.append(output.hud_line)

    def start_outputs(self, ndi_name: str | None = None) -> None:
        """The video outs the config (or ``--ndi NAME``) asks for; a missing package is a
        warning, the show goes on without that output."""
        from live.output import open_outputs

        for output in open_outputs(self.cfg.output, ndi_name):
            output.start()
            self.add_output(output)

    @property
    def recorder(self):
        """The running recorder (live/render/record.py), or None."""
        return self.recording.recorder

    @property
    def recording_error(self) -> str:
        return self.recording.error

    @torch.inference_mode()
    def _decode(self, truncation: float) -> torch.Tensor:
        self._truncation.fill_(truncation)
        return self._decoder(self._z, self._truncation, self._offset)

    @torch.inference_mode()
    def _update_offset(self) -> None:
        """offset = sum_i pc_i * spread_i * direction_i, for the model's PCA faders."""
        if self._imported:
            self._update_model_controls()
        if self._directions is None:
            return
        for i, name in enumerate(PC_PARAMS[: len(self._pc_host)]):
            self._pc_host[i] = self.controls[name]
        self._pc.copy_(self._pc_host, non_blocking=True)
        torch.mv(self._directions.t(), self._pc, out=self._offset)

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
        self.compositor.precompile()  # every shader variant a switch can reach, now
        isf = self.compositor.isf  # and every scene's ISF layers and transition
        spec = self.scene.transition_spec
        isf.precompile([*((layer.name, layer.shader) for layer in self.scene.layers),
                        *([("", spec.shader)] if spec is not None else []),
                        *self.show_layers])
        for _ in range(frames):
            image = self._decode(self.controls["walk.truncation"])
            self._upload_frame(image)
            self.display.compose(self.controls, 0.0)
        synchronize(self.choice.device)
        self._last_image = image

    def _upload_frame(self, image: torch.Tensor) -> None:
        """The decoded (1, 3, R, R) frame to the compositor's texture, through the host buffer
        prepared with the model: on CUDA this copy is the frame's one device -> host sync."""
        # -1..1 -> 0..255 (+0.5: the cast truncates) on the device, then one small copy
        scaled = self._to_bytes
        torch.mul(image[0].permute(1, 2, 0), 127.5, out=scaled)
        scaled.add_(128.0).clamp_(0.0, 255.0)
        self._upload[..., :3].copy_(scaled)
        self.display.upload(self._upload.numpy())

    def _load_latent(self, z: np.ndarray) -> None:
        self._z_host[0].copy_(torch.from_numpy(z))
        self._z.copy_(self._z_host, non_blocking=True)

    # ------------------------------------------------------------------ triggers
    def _handle_triggers(self) -> None:
        for event in self.controls.triggers:
            name = event.name
            if name.startswith(("cue.", "walk.")):
                self.walk.handle(event)
            elif name == "fx.flash":  # from its stamped time, or this frame's
                self.compositor.flash(event.arg or 1.0, event.at_s)
            elif name.startswith("layer."):  # an ISF event input
                self.compositor.isf.trigger(name)
            elif name == "show.hud":
                self.hud.toggle()
            elif name == "show.fullscreen":
                self.display.toggle_fullscreen()
                if self.text is not None:
                    self.text.layer.resize(self.display.output_size)
            elif name == "output.snapshot":
                # named by the frame's show time: the stamp itself on every node of a show
                # that saw it in time (the frame is cut there), so the tiles pair up
                self._snapshot_name = f"live-show-{self.timeline.now_s:011.3f}s"
                self.snapshot()
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
        frame, self.display.captured = self.display.captured, None
        if self.capture_hook is not None:  # live bench measures the picture instead
            self.capture_hook(frame)
            return
        surface = pygame.image.frombuffer(frame.tobytes(), frame.shape[1::-1], "RGB")
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3]
        name, self._snapshot_name = self._snapshot_name or f"live-{stamp}", None
        path = self.cfg.path("snapshots") / f"{name}.png"
        self._snapshot_threads.append(save_png_async(surface, path))

    # ------------------------------------------------------------------ the loop
    @torch.inference_mode()
    def run(self, frames: int | None = None) -> int:
        """Render until quit (or ``frames`` frames); returns the number of frames shown."""
        self.warm_up()
        if self.pipelined:
            self.worker = DecodeWorker(self._decode, self.decode_threads)
        shown = 0
        last_s = self.show_clock.read()
        if last_s > 0.0:  # a clock already running (a leader's, Link's): catch up from 0
            self.timeline.advance(0.0, last_s, self.controls, self.walk, self.clock,
                                  self.sources, self.bus)
        frame_start = time.perf_counter()
        max_fps = self.cfg.engine.max_fps
        try:
            while not self.stop.is_set() and (frames is None or shown < frames):
                # pipelined: first collect frame N from the worker, so the controls drained
                # next are as fresh as possible when frame N+1 starts decoding
                decoded_in_time = self.worker.wait(DECODE_WAIT_S) if self.worker else True
                if decoded_in_time and self._pending_scene is not None:
                    self._bring_in_pending_scene()
                now = time.perf_counter()
                prev_s, last_s = last_s, self.show_clock.read()
                read_mono = time.monotonic()
                cut = self.timeline.cut_at(prev_s, last_s)
                if cut is not None:  # a frame at a stamped snapshot's exact show time
                    read_mono -= last_s - cut
                    last_s = cut
                dt = last_s - prev_s
                stages = self._stages
                t0 = now

                events = self.display.poll()
                handle_events(events, self.key_bus)
                if self.text is not None and any(e.type in RESIZE_EVENTS for e in events):
                    self.text.layer.resize(self.display.output_size)
                self.bus.drain(self.controls)
                self.timeline.advance(prev_s, last_s, self.controls, self.walk, self.clock,
                                      self.sources, self.bus)
                if self.beat_at is not None:  # Link's phase at this frame's reading
                    phase = self.beat_at(read_mono, last_s)
                    if phase is not None:
                        self.sources.set("tempo.phase", phase)  # step() makes it current
                self.sources.step(dt)
                self.clock.count(self.sources["tempo.phase"])
                self.modulation.apply(self.controls, self.sources, dt)
                self._handle_triggers()
                if self.text is not None:
                    self.text.frame(dt, self.controls, bool(self.sources.fired[self._beat_index]))
                self.recording.follow(self.controls["show.record"] >= 0.5)
                stamp = self.controls.newest_stamp_ns
                t1 = time.perf_counter()
                stages[0] = (t1 - t0) * 1e3

                z = self.walk.render(self.controls)
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
                    if cut is not None and self.worker.wait(DECODE_WAIT_S):
                        # a frame at a stamped show time shows that time's latent, not the
                        # last frame's (the pipeline's one frame of latency), on every node
                        image, image_stamp, stages[2] = self.worker.result
                    t3 = time.perf_counter()
                else:
                    log.warning("decode is late (> %.1f s): showing the last frame again",
                                DECODE_WAIT_S)
                    image, image_stamp, stages[2] = None, 0, 0.0
                    t3 = time.perf_counter()
                if image is None:
                    image = self._last_image
                self._last_image = image

                if image is not self._uploaded:
                    self._upload_frame(image)
                    self._uploaded = image
                overlays = self.text.layer.update(dt, self.controls) if self.text else []
                hud = self.hud.update(dt, self.hud_lines())
                self.display.reading = self.recording.active
                self.display.compose(self.controls, dt, overlays, hud, show_s=last_s)
                t4 = time.perf_counter()
                stages[3] = (t4 - t3) * 1e3

                self.display.present()
                present_ns = time.perf_counter_ns()
                if self.display.captured is not None:
                    self._write_snapshot()
                self.recording.push(self.display.frame)
                t5 = time.perf_counter()
                stages[4] = (t5 - t4) * 1e3

                self.frames.add((t5 - frame_start) * 1e3, stages, image_stamp, present_ns,
                                self.display.compositor_ms)
                if image_stamp > self._last_shown_stamp_ns:
                    # the first frame showing a new control: its latency, for the HUD
                    self.last_control_to_photon_ms = (present_ns - image_stamp) / 1e6
                    self.last_control_shown_ns = present_ns
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
        return status_lines(self) if self.hud.visible else []

    def close(self) -> None:
        if self.text is not None:
            self.text.gen.close()
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        if self.recording.active:
            self.recording.push(self.display.drain())  # read back one frame late: the last
        self.recording.close()
        for thread in self._snapshot_threads:
            thread.join(timeout=5.0)
        for output in self.outputs:
            try:
                output.close()
            except Exception:
                log.exception("closing %s failed", type(output).__name__)
        self.display.close()

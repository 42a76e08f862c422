"""Scene and model switches, brought in by the render loop at a frame boundary.

Any thread may ask for a scene (``request_scene``) with a model prepared off the render
thread (``prepare_in_background``); the loop brings it in when no decode is in flight, on the
next bar while a tempo source is active, and crossfades. The outgoing model is kept, so going
back is a swap too. A mixin of ``live.engine.Engine``: it works on the engine's state.
"""

from __future__ import annotations

import logging
import time

from live.decode import prepare_model
from live.modulation import Modulation
from live.scenes import Scene
from live.store import LoadedGenerator
from live.walk import Walk

log = logging.getLogger("live.engine")

QUANTIZE_MAX_S = 8.0
"""A bar-quantised scene switch never waits longer than this."""


class Switching:
    def apply_scene(self, scene: Scene) -> None:
        for name, value in scene.values.items():
            if name in self.registry:  # a layer added since the show started has no fader
                self.bus.set(name, value)
        self.use_scene(scene)

    def use_scene(self, scene: Scene) -> None:
        """Adopt a scene whose values are already on the bus (any thread: two reference
        stores, read by the loop at its next frame)."""
        self.modulation = Modulation(scene.maps, self.registry)
        self.compositor.isf.layers = scene.layers
        self.scene = scene

    def _update_model_controls(self) -> None:
        """``model.*`` for an imported StyleGAN, between decodes: the StyleGAN3 input
        transform (written only when it moved) and the noise mode."""
        gen = self.generator
        if hasattr(gen, "set_transform"):
            key = (self.controls["model.rotate"], self.controls["model.translate_x"],
                   self.controls["model.translate_y"])
            if key != getattr(self, "_transform_key", None):
                self._transform_key = key
                gen.set_transform(*key)
        if hasattr(gen, "noise_mode"):
            gen.noise_mode = self.controls.choice("model.noise")

    def _prepare_model(self, model: LoadedGenerator, warm: int = 3) -> dict:
        """Everything that depends on the model, built without touching the running show
        (live/decode.py); ``_adopt`` puts it in place on the render thread."""
        return prepare_model(model, self.choice, self.traced, warm)

    def _adopt(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def prepare_in_background(self, model: LoadedGenerator) -> dict:
        """``_prepare_model`` for a thread other than the render thread, warmed with the
        decode's own thread count: oneDNN builds its kernels per thread count, and a graph
        warmed on another count spends seconds rebuilding them on its first calls on stage
        (measured: 0.4-0.8 s per call for six calls)."""
        from live.device import torch_threads

        with torch_threads(self.decode_threads):
            return self._prepare_model(model)

    def request_scene(self, scene: Scene, values: dict, model_state: dict | None = None,
                      fade_s: float = 2.0, quantize: bool = True,
                      at_s: float | None = None) -> None:
        """Have the loop bring ``scene`` in (any thread): its values, its maps, its model when
        ``model_state`` (from ``_prepare_model``) is given, and a crossfade of ``fade_s``.
        With ``quantize`` and an active tempo source (confident audio, Link) it waits for
        the next bar (at most ``QUANTIZE_MAX_S``).

        ``at_s``: the show time the switch was stamped for (a cluster leader's, relayed to
        every node): the crossfade runs from that time on every node, however long each took
        to load the scene (one that loads late joins the fade where it has got to)."""
        self._pending_scene = (scene, values, model_state, fade_s, quantize,
                               time.perf_counter(), at_s)

    def tempo_active(self) -> bool:
        return self.clock.external or self.sources["audio.confidence"] >= 0.5

    def _bring_in_pending_scene(self) -> None:
        """Render thread, with no decode in flight: a requested scene, when its time came."""
        scene, values, model_state, fade_s, quantize, asked, at_s = self._pending_scene
        waited = time.perf_counter() - asked
        quantized = quantize and self.tempo_active()
        if quantized and not self.clock.on_bar and waited < QUANTIZE_MAX_S:
            return
        self._pending_scene = None
        if not self.scene_values_from_leader:  # a follower gets them stamped by its leader
            for name, value in values.items():
                self.bus.set(name, value)
        self.use_scene(scene)
        if model_state is not None:
            self._swap_in_model(model_state)
        self.compositor.start_fade(fade_s, scene.transition_spec,
                                   None if quantized else at_s)
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


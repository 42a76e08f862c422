"""Every control source of a show, started and stopped together: OSC in and feedback, OSCQuery,
MIDI and scene switching.

Each part runs on its own thread and only publishes to the bus; the engine hands the triggers
it does not handle itself (``scene.*``, ``midi.learn``) to the parts through its listener
list. A part that cannot start (a port already taken, no MIDI backend) is logged, shown on the
HUD, and the show goes on without it: a VJ would rather have a picture and a keyboard than no
show at all.
"""

from __future__ import annotations

import logging

from live.config import Config
from live.control.osc import Feedback, OscError, OscServer
from live.control.oscquery import OscQueryServer
from live.scenes import SceneDeck

log = logging.getLogger(__name__)


class ControlSurface:
    def __init__(self, cfg: Config, engine) -> None:
        self.cfg = cfg
        self.engine = engine
        bus = engine.bus
        self.problems: list[str] = []
        self.feedback: Feedback | None = None
        self.osc: OscServer | None = None
        self.oscquery: OscQueryServer | None = None
        self.midi = None
        self.midi_input = None
        if cfg.osc.enabled:
            self.feedback = Feedback(bus, cfg.osc)
            self.osc = OscServer(bus, cfg.osc, self.feedback)
        self.deck = SceneDeck(cfg.path("scenes"), bus, engine.scene, model=engine.model_name,
                              on_switch=self._scene_switched)
        engine.listeners.append(self.deck)
        if cfg.midi.enabled:
            from live.control.midi import MidiInput, MidiMapper

            self.midi = MidiMapper(bus.registry, bus, cfg.midi.maps, pickup=cfg.midi.pickup)
            if engine.scene.midi_maps:
                self.midi.set_scene_maps(engine.scene.midi_maps)
            self.midi_input = MidiInput(cfg.midi, self.midi)
            engine.listeners.append(_MidiLearn(self.midi))
        engine.status_lines.append(self.hud_line)

    def start(self) -> None:
        if self.osc is not None:
            try:
                self.osc.start()
                self.feedback.start()
            except OscError as exc:
                self._problem(str(exc))
                self.osc = None
            if self.osc is not None and self.cfg.oscquery.enabled:
                self.oscquery = OscQueryServer(self.engine.bus, self.cfg.oscquery,
                                               self.cfg.osc, self.osc.port)
                try:
                    self.oscquery.start()
                except OscError as exc:
                    self._problem(str(exc))
                    self.oscquery = None
        if self.midi_input is not None:
            self.midi_input.start()

    def _problem(self, text: str) -> None:
        log.error("%s; the show goes on without it", text)
        self.problems.append(text)

    def _scene_switched(self, scene) -> None:
        self.engine.use_scene(scene)
        if self.midi is not None:
            try:
                self.midi.set_scene_maps(scene.midi_maps)
            except ValueError as exc:
                log.error("scene %s: MIDI maps not used: %s", scene.name, exc)

    def hud_line(self) -> str:
        parts = []
        if self.osc is not None:
            stats = self.osc.stats
            bad = sum(stats.bad.values()) - stats.bad["clamped"]
            clients = len(self.feedback.clients()) if self.feedback else 0
            parts.append(f"OSC :{self.osc.port} {stats.messages} msgs, {bad} dropped, "
                         f"{clients} clients")
        elif self.cfg.osc.enabled:
            parts.append("OSC off (port taken?)")
        if self.midi is not None and self.midi.armed:
            parts.append(f"MIDI learn: move a control for {self.midi.armed}")
        if self.deck.last_error:
            parts.append("scene error: " + self.deck.last_error[-60:])
        return "   ".join(parts)

    def close(self) -> None:
        for part in (self.midi_input, self.oscquery, self.osc, self.feedback):
            if part is not None:
                try:
                    part.close()
                except Exception:
                    log.exception("closing %s failed", type(part).__name__)
        self.deck.close()


class _MidiLearn:
    """Hands ``midi.learn`` triggers to the mapper (the engine's listener interface)."""

    def __init__(self, mapper) -> None:
        self.mapper = mapper

    def handle(self, event) -> None:
        if event.name == "midi.learn":
            self.mapper.handle_trigger(event)

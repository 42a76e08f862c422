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
import threading

from live.config import Config
from live.control.osc import Feedback, OscError, OscServer
from live.control.oscquery import OscQueryServer
from live.scenes import SceneDeck

log = logging.getLogger(__name__)

PREFETCH_JOIN_S = 60.0
"""How long closing waits for a model that is being prepared (seconds)."""


class ControlSurface:
    def __init__(self, cfg: Config, engine, audio_file=None, audio_play: bool = False,
                 cluster=None) -> None:
        self.cfg = cfg
        self.engine = engine
        bus = engine.bus
        self.cluster = cluster
        """A cluster node (live/cluster/relay.py Leader or Follower), or None (solo)."""
        if cluster is not None:
            cluster.attach(engine)  # a leader stamps and relays every bus write from here on
        self.problems: list[str] = []
        self.feedback: Feedback | None = None
        self.osc: OscServer | None = None
        self.oscquery: OscQueryServer | None = None
        self.preview = None
        """The remote's preview encoder (live/control/preview.py), an engine output."""
        self.remote_url = ""
        self.midi = None
        self.midi_input = None
        if cfg.osc.enabled:
            self.feedback = Feedback(bus, cfg.osc)
            self.osc = OscServer(bus, cfg.osc, self.feedback)
        self.deck = SceneDeck(cfg.path("scenes"), bus, engine.scene,
                              on_switch=self._scene_switched, apply=self._bring_in)
        self.deck.pollers.append(self._watch_shaders)
        engine.listeners.append(self.deck)
        if cfg.midi.enabled:
            from live.control.midi import MidiInput, MidiMapper

            self.midi = MidiMapper(bus.registry, bus, cfg.midi.maps, pickup=cfg.midi.pickup)
            if engine.scene.midi_maps:
                self.midi.set_scene_maps(engine.scene.midi_maps)
            self.midi_input = MidiInput(cfg.midi, self.midi)
            engine.listeners.append(_MidiLearn(self.midi))
        self.audio = None
        self.analyzer = None
        self._tempo_hint: float | None = None
        self.publisher = None
        self.scope = None
        if cfg.audio.enabled or audio_file is not None:
            from live.control.audio import AudioInput, Publisher
            from live.control.scope import AudioScope

            self.scope = AudioScope()
            engine.compositor.isf.audio = self.scope

            self.publisher = Publisher(engine.sources, bus, cfg.tempo.follow_audio,
                                       cfg.audio.osc_out)
            if cluster is not None and cluster.role == "leader":
                self.publisher.sources = cluster.source_proxy()  # stamped and relayed
            self.audio = AudioInput(cfg.audio, self._make_analyzer, self.publisher,
                                    file=audio_file, play=audio_play)
            engine.listeners.append(_TapHoldsTempo(self))
        self.prefetched = threading.Event()
        """Set once the models of the other scenes are prepared."""
        self._closing = threading.Event()
        self.link = None
        if cfg.tempo.link:
            from live.control.link import LinkClock

            follower = cluster is not None and cluster.role == "follower"
            self.link = LinkClock(bus, engine.sources, cfg.tempo.link_quantum, per_frame=True,
                                  tempo=not follower)  # a follower's tempo comes stamped
        engine.status_lines.append(self.hud_line)
        if cluster is not None:
            cluster.scene_name = lambda: self.deck.current.name
            engine.status_lines.append(cluster.hud_line)
            if self.osc is not None:  # the leader answers /live/cluster/*, a follower ignores
                self.osc.input.handle_message = cluster.wrap_osc(self.osc.input.handle_message)

    def start(self) -> None:
        if self.cluster is not None:
            try:
                self.cluster.start()
            except OSError as exc:
                self._problem(f"cluster: cannot start the {self.cluster.role}: {exc}")
        if self.osc is not None:
            try:
                self.osc.start()
                self.feedback.start()
            except OscError as exc:
                self._problem(str(exc))
                self.osc = None
            if self.osc is not None and self.cfg.oscquery.enabled:
                self._start_oscquery()
        if self.midi_input is not None:
            self.midi_input.start()
        if self.audio is not None:
            self.audio.start()
        if self.link is not None and self.link.start():
            self.engine.clock.external = True
            self.engine.beat_at = self.link.phase_at  # Link's phase at each frame's reading
        self._prefetcher = threading.Thread(target=self._prefetch, name="prefetch", daemon=True)
        self._prefetcher.start()

    def _start_oscquery(self) -> None:
        """OSCQuery over HTTP, with the WebSocket, the browser remote and its preview when
        ``[remote] enabled`` (docs/remote.md)."""
        remote = self.cfg.remote if self.cfg.remote.enabled else None
        context = None
        if remote is not None:
            from live.remote import RemoteContext

            context = RemoteContext(self.engine.registry, self.cfg.path("scenes"),
                                    pin_required=bool(remote.pin))
        self.oscquery = OscQueryServer(self.engine.bus, self.cfg.oscquery, self.cfg.osc,
                                       self.osc.port, remote=remote, osc_input=self.osc.input,
                                       scene_name=lambda: self.deck.current.name,
                                       context=context)
        try:
            self.oscquery.start()
        except OscError as exc:
            self._problem(str(exc))
            self.oscquery = None
            return
        if remote is not None:
            from live.control.oscquery import _local_ip

            host = self.oscquery.osc_ip or _local_ip()
            self.remote_url = f"http://{host}:{self.oscquery.port}/remote"
            pin = f" (PIN {remote.pin} for phones)" if remote.pin else ""
            log.info("remote: %s%s", self.remote_url, pin)
            if remote.preview_fps > 0:
                from live.control.preview import PreviewEncoder

                self.preview = PreviewEncoder(self.oscquery.broadcast_preview,
                                              self.oscquery.preview_watchers,
                                              remote.preview_fps, remote.preview_width,
                                              remote.preview_quality)
                self.preview.start()
                self.engine.add_output(self.preview)

    def _make_analyzer(self, samplerate: int, blocksize: int):
        from live.control.audio_analysis import Analyzer

        analyzer = self.analyzer = Analyzer(samplerate, blocksize)
        scope = self.scope

        def process(block):
            hint, self._tempo_hint = self._tempo_hint, None
            if hint is not None:  # a tap, handed over to this (the analysis) thread
                analyzer.set_tempo_hint(hint)
            features = analyzer.process(block)
            samples, power = analyzer.latest_frame()
            scope.update(samples, power, samplerate)  # for ISF audio inputs
            return features

        return process

    def _watch_shaders(self) -> None:
        """Scenes thread, every poll: ISF files of the show changed on disk are parsed here
        and handed to the render thread, which compiles them (a broken one keeps the old
        program; its file:line goes to the HUD and the log)."""
        from live.layers import library

        isf = self.engine.compositor.isf
        for path, shader, error in library().changed():
            if shader is None:
                isf.errors[path] = error
                self.engine.compositor.shader_error = error
                log.error("ISF shader not reloaded, the old one keeps running: %s", error)
            else:
                isf.updates[path] = shader

    def _problem(self, text: str) -> None:
        log.error("%s; the show goes on without it", text)
        self.problems.append(text)

    def _bring_in(self, scene, values: dict, reload: bool, at_s: float | None = None) -> None:
        """On the scenes thread: load and prepare the scene's model if it is another one
        (the picture keeps running meanwhile), then hand everything to the engine, which
        brings it in at its next frame (or bar) with a crossfade (from ``at_s``, the show
        time a cluster's switch was stamped for)."""
        engine = self.engine
        state = None
        if scene.model != engine.model_name:
            state = self._prepared(scene.model)
            if state is None:
                log.error("scene %s: the picture stays on %s", scene.name, engine.model_name)
        fade = 0.5 if reload else scene.transition_s(engine.bus.get("tempo.bpm"))
        engine.request_scene(scene, values, state, fade, quantize=scene.quantize and not reload,
                             at_s=at_s)

    def _prepared(self, name: str) -> dict | None:
        """A prepared model from the engine's cache, or loaded and prepared now (this thread).
        """
        state = self.engine.model_cache.get(name)
        if state is not None:
            return state
        from live.store import ModelError, load_generator

        try:
            loaded = load_generator(name, self.cfg.path("models"), seed=self.cfg.show.seed)
            state = self.engine.prepare_in_background(loaded)
        except ModelError as exc:
            log.error("model %s not loaded: %s", name, exc)
            return None
        except Exception as exc:  # passed the checks, failed to prepare: the show goes on
            log.error("model %s not loaded: %s: %s", name, type(exc).__name__, exc)
            log.debug("preparing model %s failed", name, exc_info=True)
            return None
        self.engine.model_cache.setdefault(name, state)
        return state

    def _prefetch(self) -> None:
        """Prepare the models of every scene in the folder, so switches only swap."""
        from live.scenes import SceneError, list_scenes, load_scene

        folder = self.cfg.path("scenes")
        names = []
        try:
            for scene_name in list_scenes(folder):
                try:
                    model = load_scene(scene_name, folder, self.engine.registry).model
                except (SceneError, OSError, ValueError):
                    continue  # reported when someone switches to it
                if model != self.engine.model_name and model not in names:
                    names.append(model)
            ready = []
            for name in names:  # _prepared catches and logs every failure, per model
                if self._closing.is_set():
                    return
                if self._prepared(name) is not None:
                    ready.append(name)
            if ready:
                log.info("models ready for scene switches: %s", ", ".join(ready))
        finally:
            self.prefetched.set()  # waiters (bench, soak, tests) never hang on a bad model

    def _scene_switched(self, scene) -> None:
        """On the scenes thread: load the scene's text model if it changed."""
        text = self.engine.text
        if text is not None and scene.text_model != text.gen.name:
            from live.store import ModelError, load_model

            try:
                model = load_model(scene.text_model, self.cfg.path("models"),
                                   kinds=("char-rnn",))
            except ModelError as exc:
                log.error("scene %s: text model not changed: %s", scene.name, exc)
            else:
                self.engine.set_text_model(model)
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
        if self.remote_url:
            query = self.oscquery
            pin = f" PIN {self.cfg.remote.pin}" if self.cfg.remote.pin else ""
            parts.append(f"remote {self.remote_url}{pin}, {query.ws_clients} connected"
                         if query is not None else "remote off")
        if self.midi is not None and self.midi.armed:
            parts.append(f"MIDI learn: move a control for {self.midi.armed}")
        if self.audio is not None:
            latest = self.publisher.latest
            if latest is not None and self.audio.state in ("running", "file"):
                bpm = f"{latest.bpm:5.1f} bpm" if latest.bpm > 0 else "no beat yet"
                parts.append(f"audio {_bar(latest.level)} {bpm}")
            else:
                parts.append(f"audio {self.audio.state}")
        if self.link is not None and self.link.link is not None:
            parts.append(f"Link {self.link.peers} peers")
        if self.deck.last_error:
            parts.append("scene error: " + self.deck.last_error[-60:])
        return "   ".join(parts)

    def close(self) -> None:
        self._closing.set()
        for part in (self.link, self.audio, self.publisher, self.midi_input, self.oscquery,
                     self.osc, self.feedback, self.cluster):
            if part is not None:
                try:
                    part.close()
                except Exception:
                    log.exception("closing %s failed", type(part).__name__)
        self.deck.close()
        prefetcher = getattr(self, "_prefetcher", None)
        if prefetcher is not None:
            # it stops between models; one still loading must finish before the interpreter
            # exits, or torch's worker threads are torn down under it (abort, exit 134)
            prefetcher.join(timeout=PREFETCH_JOIN_S)
            if prefetcher.is_alive():
                log.warning("model preparation still running after %.0f s; exiting anyway",
                            PREFETCH_JOIN_S)


class _MidiLearn:
    """Hands ``midi.learn`` triggers to the mapper (the engine's listener interface)."""

    def __init__(self, mapper) -> None:
        self.mapper = mapper

    def handle(self, event) -> None:
        if event.name == "midi.learn":
            self.mapper.handle_trigger(event)


class _TapHoldsTempo:
    """A tap on the tempo wins over the beat tracker for a while, and seeds it."""

    def __init__(self, surface: ControlSurface) -> None:
        self.surface = surface

    def handle(self, event) -> None:
        if event.name != "tempo.tap":
            return
        import time

        self.surface.publisher.tapped_at = time.monotonic()
        self.surface._tempo_hint = self.surface.engine.bus.get("tempo.bpm")


def _bar(level: float, width: int = 8) -> str:
    filled = int(round(min(max(level, 0.0), 1.0) * width))
    return "[" + "#" * filled + "." * (width - filled) + "]"

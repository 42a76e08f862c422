"""Leader and followers: every control change of the leader, applied on every node at the same
show time.

Roles (``live run --leader`` / ``live run --follow HOST[:PORT]``, ``[cluster]`` in config.toml):

* The **leader** takes every control: OSC, the browser remote, MIDI, its keyboard, audio
  analysis. Instead of applying a change at once, it stamps it with its show time plus
  ``delay_frames / frame_rate`` (2 frames at 60 fps: 33 ms), schedules it on its own
  ``engine.timeline`` at that time and sends it to every follower. Audio features are sent
  the same way, at most ``frame_rate`` times a second, and so are the characters its text
  layer types (the RNN samples on the leader only; every node's layer gets the same text at
  the same show time).
* A **follower** applies what the leader sends with ``engine.timeline.at(...)`` at the same
  show time, so all nodes apply it on the frame whose step contains that time. Its show clock
  is the leader's, estimated over the same UDP path (live/cluster/sync.py). Controller OSC sent
  to a follower is ignored (counted); its OSC port stays open for ``/live/sync`` and OSCQuery.
  Its keyboard is forwarded to the leader as controller OSC (``KeyForward``).

The wire (OSC 1.0 over UDP; times are doubles, ``d``)::

    follower -> leader's OSC port (osc.port, default 8000)
      /live/cluster/hello  port                 register; the leader answers with the state
      /live/cluster/ping   t1 port              t1: follower monotonic s; also a keep-alive
    leader -> follower's relay port ([cluster] port, default 8010)
      /live/cluster/pong   t1 t2 t3 session     t2, t3: leader show time in and out
      bundles of changes, each message's FIRST ARGUMENT the show time at which to apply it
      (the bundle's OSC timetag is "immediately": show time is not NTP time):
      /live/cluster/set    at name value        a value (a number, or an enum's choice)
      /live/cluster/trig   at name arg text     a trigger (scene.go, cue.*, text.prime, ...)
      /live/cluster/src    at name value        an audio feature (audio.level, ...)
      /live/cluster/evt    at name strength     an audio event (audio.onset, audio.beat)
      /live/cluster/type   at chars             characters the leader's text layer typed
      /live/cluster/state  at session scene seed prime   a full state follows (a join)
      /live/cluster/text   at chars             the text on the leader's screen (a join)
      /live/cluster/cue    at slot blob         a stored cue (float32 latent)
      /live/cluster/ready  at session           the end of a full state
      /live/cluster/walk   at session part count blob   the walk's state at ``at`` (in parts)

A follower joining (or a leader restarting, a new ``session``) gets the full state: the scene,
every value, the cues, the walk's seed, the last text prime and the text typed since the last
reset (its last ``TEXT_TAIL_CHARS``), stamped like any change. Then
the walk's time state: the leader's render thread takes it at exactly the stamp (the step cut
there, after the stamped values; ``walk_state``): the clocks (phase, noise laps, jitter time),
the glide, the held cue, the keyframes, orbit and noise tables, the random generator, and the
controls' targets, smoothers and integrals. It reaches the follower after its time, so the
follower sets it at the start of its next frame and steps it on from the stamp to there
(``set_walk_state``):
from then on both walks are the same function of show time. The follower is in step when both
are applied, and says hello until both have come. The leader drops a follower it has not heard
from for ``FOLLOWER_TIMEOUT_S``. A follower that has not heard from the leader for ``LOST_S``
shows on, on its own clock and last state, and keeps saying hello; when the leader answers
again it re-syncs. Discovery (live/cluster/discovery.py): a leader advertises
``_live-cluster._udp`` with its OSC port; a follower given no address browses for it.

Observation: with ``LIVE_CLUSTER_TRACE=FILE`` in the environment every node appends JSON lines
to FILE: the clock (``{"clock": show, "mono_ns": ...}`` ten times a second) and every stamped
change when its frame applies it (``{"applied": name, "at": .., "t0": .., "t1": ..,
"mono_ns": .., "late": ..}``), the walk at every whole show second (``{"walk_at": ..,
"phase": .., "latent": [first 8], ..}``), plus events (joined, lost, ...). ``python -m
live.cluster.clusterbench`` reads them.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import logging
import math
import os
import secrets
import socket
import struct
import threading
import time
from collections import deque

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from live.cluster import discovery, resume
from live.cluster.sync import MIN_SAMPLES, LeaderClock, OffsetEstimator, SteeredClock
from live.params import TriggerEvent
from live.showclock import FRAME_TRIGGERS, Timeline
from live.walk import STATE_ARRAYS

log = logging.getLogger(__name__)

PREFIX = "/live/cluster/"
FOLLOWER_TIMEOUT_S = 5.0
"""A follower silent this long is dropped by the leader."""
LOST_S = 2.0
"""A follower that has heard nothing from the leader this long considers it lost."""
PING_S = 0.2
"""Ping interval once locked (and keep-alive)."""
FAST_PING_S = 0.02
"""Ping interval while the clock is not yet locked."""
HELLO_S = 0.5
"""Hello interval while no full state has arrived."""
MAX_DATAGRAM = 8000
"""Bundles of changes are cut below this size."""
TRACE_CLOCK_S = 0.1
TRACE_WALK_S = 1.0
"""With a trace, the walk is written down at every multiple of this show time (exactly)."""
DISCOVER_S = 10.0
"""A follower looking for its leader with zeroconf says so after this long (and looks on)."""
LOCAL_TRIGGERS = ("show.", "midi.learn", "tempo.tap")
"""Triggers that stay on the node where they happen (never relayed, applied at once)."""
LOCAL_VALUES = ("show.",)
"""Values that stay local (``show.record``)."""


def parse_leader(text: str, default_port: int = 8000) -> tuple[str, int]:
    """``HOST[:PORT]`` (PORT: the leader's OSC port) -> (host, port)."""
    text = text.strip()
    if not text:
        raise ValueError("the leader's address is empty (HOST or HOST:PORT)")
    if text.startswith("["):  # [v6]:port
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"bad port in leader address {text!r}")
        return host, int(port)
    return host, default_port


# --------------------------------------------------------------------------- wire
def message(address: str, args: list) -> bytes:
    """One OSC message: floats as doubles (times need them), ints, strings, bytes as blobs."""
    builder = OscMessageBuilder(address)
    for arg in args:
        if isinstance(arg, bool):
            builder.add_arg(int(arg), "i")
        elif isinstance(arg, int):
            builder.add_arg(arg, "i")
        elif isinstance(arg, float):
            builder.add_arg(arg, "d")
        elif isinstance(arg, str):
            builder.add_arg(arg, "s")
        elif isinstance(arg, bytes):
            builder.add_arg(arg, "b")
        else:
            raise TypeError(f"cannot send {type(arg).__name__} over OSC")
    return builder.build().dgram


def bundles(messages: list[bytes], limit: int = MAX_DATAGRAM) -> list[bytes]:
    """Messages packed in as few bundles (timetag: immediately) as fit in ``limit`` bytes."""
    out, current, size = [], [], 16
    for dgram in messages:
        if current and size + 4 + len(dgram) > limit:
            out.append(_bundle(current))
            current, size = [], 16
        current.append(dgram)
        size += 4 + len(dgram)
    if current:
        out.append(_bundle(current))
    return out


def _bundle(messages: list[bytes]) -> bytes:
    parts = [b"#bundle\0", struct.pack(">Q", 1)]
    for dgram in messages:
        parts.append(struct.pack(">i", len(dgram)))
        parts.append(dgram)
    return b"".join(parts)


def parse(data: bytes) -> list[tuple[str, list]]:
    """(address, args) of every message of a packet; [] for garbage."""
    try:
        return [(m.message.address, list(m.message.params)) for m in OscPacket(data).messages]
    except Exception:
        return []


# --------------------------------------------------------------------------- trace
class Trace:
    """JSON lines for the tests and the bench (``LIVE_CLUSTER_TRACE``); no-op when off."""

    def __init__(self, path: str | None, role: str) -> None:
        self.path = path
        self.role = role
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._file = open(path, "a", buffering=1) if path else None  # noqa: SIM115

    @property
    def on(self) -> bool:
        return self._file is not None

    def write(self, **fields) -> None:
        if self._file is None:
            return
        fields.setdefault("mono_ns", time.monotonic_ns())
        fields["role"] = self.role
        fields["pid"] = os.getpid()
        line = json.dumps(fields)
        with self._lock:
            self._lines.append(line)

    def flush(self) -> None:
        if self._file is None:
            return
        with self._lock:
            lines, self._lines = self._lines, []
        if lines:
            self._file.write("\n".join(lines) + "\n")
            self._file.flush()

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None


# --------------------------------------------------------------------------- timeline
class RelayTimeline(Timeline):
    """The engine's timeline, plus what a cluster node schedules besides control changes:
    audio features and calls (a cue, the walk's seed) at a show time, and the trace of every
    stamped change when it applies (values reach the bus through ``Bus.publish``, past the
    leader's relay, so applying a change does not relay it again)."""

    def __init__(self, trace: Trace | None = None) -> None:
        super().__init__()
        self._extra: list = []  # (at, seq, kind, name, value)
        self._marks: list = []  # (at, seq, name, value): stamped changes, for the trace
        self._extra_seq = itertools.count()
        self._extra_lock = threading.Lock()
        self.trace = trace
        self.frames = 0
        self.applied = 0
        """Stamped changes applied so far (relayed or local)."""
        self.late_marks = 0
        self.on_new_walk = None
        """``on_new_walk(t)``: called on the render thread when the engine's walk is another
        object than at the last frame (a model with another latent size came in)."""
        self._walk = None
        self._calls: list = []
        self.applied_at: dict[str, float] = {}
        """Per control: the stamp of the last stamped change applied to it."""
        self._extra_due: list = []
        self._marks_due: list = []

    def at(self, at_s: float, name: str, value: float | str = 1.0, text: str = "") -> bool:
        ok = super().at(at_s, name, value, text)
        if ok:
            with self._extra_lock:
                heapq.heappush(self._marks, (float(at_s), next(self._extra_seq), name, value))
        return ok

    def at_source(self, at_s: float, kind: str, name: str, value: float) -> bool:
        """An audio feature (``kind`` "src") or event ("evt") written at ``at_s``."""
        return self._push(at_s, kind, name, value)

    def at_call(self, at_s: float, fn) -> bool:
        """``fn(walk, controls, t)`` on the render thread at show time ``at_s``: inside the
        frame's step, with everything stepped exactly up to ``at_s`` and the changes stamped
        up to it applied (``t == at_s``); a call that comes late runs at the start of the
        frame's step (``t`` is that time, after ``at_s``)."""
        return self._push(at_s, "call", "", fn)

    def _push(self, at_s: float, kind: str, name: str, value) -> bool:
        if not math.isfinite(at_s):
            return False
        with self._extra_lock:
            if len(self._extra) >= 4096:
                self.dropped += 1
                return False
            heapq.heappush(self._extra, (float(at_s), next(self._extra_seq), kind, name, value))
        return True

    def _trace_walk(self, walk, controls, t: float) -> None:
        latent = walk._now(np.empty(walk.dim))
        self.trace.write(walk_at=t, phase=walk.phase, noise_laps=walk.noise_laps,
                         jitter_s=walk.jitter_s, held_cue=walk.held_cue, seed=walk.seed,
                         latent=[float(v) for v in latent[:8]],
                         norm=float(np.linalg.norm(latent)))

    def _pop(self, heap: list, until_s: float, due: list) -> list:
        """The items of ``heap`` due by ``until_s`` into ``due`` (cleared first, kept from
        frame to frame: nothing is allocated per frame)."""
        due.clear()
        with self._extra_lock:
            while heap and heap[0][0] <= until_s:
                due.append(heapq.heappop(heap))
        return due

    def advance(self, t0, t1, controls, walk, beat, sources, bus=None) -> None:
        mono_ns = time.monotonic_ns()
        if walk is not self._walk:
            if self._walk is not None and self.on_new_walk is not None:
                self.on_new_walk(t0)
            self._walk = walk
        calls = self._calls
        calls.clear()
        for at_s, _, kind, name, value in self._pop(self._extra, t1, self._extra_due):
            if kind == "src":
                sources.set(name, value)
            elif kind == "evt":
                sources.event(name, value)
            else:
                calls.append((at_s, value))
        marks = self._pop(self._marks, t1, self._marks_due)
        if self.trace is not None and self.trace.on:  # the walk at whole show seconds
            k = math.floor(t0 / TRACE_WALK_S) + 1
            while k * TRACE_WALK_S <= t1 and len(calls) < 64:
                calls.append((k * TRACE_WALK_S, self._trace_walk))
                k += 1
            calls.sort(key=lambda call: call[0])
        t = t0
        for at_s, fn in calls:  # the step is cut at each call's time (exact, see Timeline)
            if at_s > t:
                super().advance(t, at_s, controls, walk, beat, sources, bus)
                t = at_s
            try:
                fn(walk, controls, t)
            except Exception:
                log.exception("cluster: a scheduled call failed")
        super().advance(t, t1, controls, walk, beat, sources, bus)
        if self.frames == 0 and self.trace is not None:
            self.trace.write(event="first_frame", t1=t1, mono_ns=mono_ns)
        self.frames += 1
        self.applied += len(marks)
        for at_s, _, name, _ in marks:
            if at_s > self.applied_at.get(name, -math.inf):
                self.applied_at[name] = at_s
        if marks and self.trace is not None and self.trace.on:
            for at_s, _, name, value in marks:
                late = at_s < t0
                self.late_marks += late
                self.trace.write(applied=name, value=value if isinstance(value, str) else
                                 float(value), at=at_s, t0=t0, t1=t1, late=late,
                                 mono_ns=mono_ns)


# --------------------------------------------------------------------------- the walk's state
WALK_PART = 6000
"""Bytes of a walk state per ``/live/cluster/walk`` message."""
FRAME_LEAD_S = 0.5
"""A trigger that gets a frame of its own on every node (a snapshot of every tile) is stamped
this far ahead: it must reach every node before its time, and it needs no low latency."""
TEXT_TAIL_CHARS = 800
"""A joining follower gets the leader's last this many typed characters (its screen's text)."""
WALK_WAIT_S = 10.0
"""A follower holds a walk state of another latent size this long for its own model swap."""
MAX_WALK_PARTS = 512
"""At most this many parts (3 MB) make a walk state; a message saying more is dropped."""
CONTROL_ARRAYS = ("target", "smoothed", "total")
"""The controls' arrays a walk state carries after the walk's own."""


def walk_state(walk, controls) -> bytes:
    """Everything a walk needs to be where ``walk`` is now, and to go on from there as it
    would (``Walk.state``: its clocks, glide, held cue, keyframes, orbit, noise and jitter
    tables, the state of its random generator), plus the controls' targets, smoothers and
    integrals since the show started (the walk integrates the smoothed speed; the
    compositor's spin and layer phases are integrals): a JSON head, then the float64 arrays
    it names."""
    head, arrays = walk.state()
    arrays += [np.asarray(getattr(controls, name), "<f8") for name in CONTROL_ARRAYS]
    head["shapes"] = [list(a.shape) for a in arrays]
    text = json.dumps(head).encode()
    return b"".join([struct.pack("<I", len(text)), text] + [a.tobytes() for a in arrays])


def _read_walk_state(blob: bytes) -> tuple[dict, list[np.ndarray]]:
    """The JSON head and the arrays of a ``walk_state`` blob (raises on a garbled one)."""
    size = struct.unpack_from("<I", blob)[0]
    if not 0 < size <= len(blob) - 4:
        raise ValueError("bad head size")
    head = json.loads(blob[4:4 + size])
    shapes = head["shapes"]
    if not isinstance(shapes, list) or len(shapes) != len(STATE_ARRAYS) + 2 + len(CONTROL_ARRAYS):
        raise ValueError("wrong number of arrays")
    offset, arrays = 4 + size, []
    for shape in shapes:
        if not (isinstance(shape, list) and 1 <= len(shape) <= 2
                and all(isinstance(n, int) and 0 <= n <= 1 << 20 for n in shape)):
            raise ValueError(f"bad shape {shape!r}")
        count = int(np.prod(shape))
        arrays.append(np.frombuffer(blob, "<f8", count, offset).reshape(shape).copy())
        offset += 8 * count
    return head, arrays


def set_walk_state(walk, controls, blob: bytes, dt: float = 0.0,
                   keep: np.ndarray | None = None) -> bool:
    """Put ``walk`` (and the controls' targets, smoothers and integrals, except the local
    ones) where ``walk_state`` found the leader's, then step both on by ``dt`` seconds: a
    state stamped ``dt`` ago lands where the leader's walk is now. ``keep``: a mask of the
    controls this node changed at a stamped time after the state's (their targets are kept,
    from the end of the step; None: none). False (nothing changed) when the blob does not fit
    this walk (another latent size, another registry)."""
    try:
        head, arrays = _read_walk_state(blob)
    except (ValueError, KeyError, TypeError, struct.error) as exc:  # garbled: not taken
        log.warning("cluster: a walk state that cannot be read (%s): not taken", exc)
        return False
    mine = arrays[-len(CONTROL_ARRAYS):]
    if any(a.shape != controls.target.shape or not np.isfinite(a).all() for a in mine):
        log.warning("cluster: the leader's controls do not fit these (%d controls, this "
                    "node has %d): not taken", mine[0].size, controls.target.size)
        return False
    why = walk.set_state(head, arrays[:-len(CONTROL_ARRAYS)], controls)
    if why is not None:
        log.warning("cluster: the leader's walk does not fit this one (%s): not taken", why)
        return False
    shared = _shared_mask(controls.registry)
    # the changes stamped after the state that this node already applied
    applied = controls.target.copy() if keep is not None else None
    target, smoothed, total = mine
    np.copyto(controls.target, target, where=shared)
    np.copyto(controls.smoothed, smoothed, where=shared)
    np.copyto(controls.value, smoothed, where=shared)  # what the walk reads until a step
    np.copyto(controls.total, total, where=shared)
    if dt > 0.0:
        controls.step(dt)
        speed = controls.registry.index["walk.speed"]
        walk.advance(dt, controls, float(controls.integral[speed]))
    if keep is not None:
        np.copyto(controls.target, applied, where=shared & keep)
    return True


def _shared(param) -> bool:
    """A value every node of a show has (not a trigger, not a local ``show.*`` value)."""
    return param.kind != "trigger" and not param.name.startswith(LOCAL_VALUES)


@functools.lru_cache(maxsize=8)
def _shared_mask(registry) -> np.ndarray:
    """``_shared`` for each of ``registry``'s controls (computed once per registry; read
    only)."""
    mask = np.array([_shared(p) for p in registry.params])
    mask.setflags(write=False)
    return mask


# --------------------------------------------------------------------------- leader
class Leader:
    """Stamps, schedules and relays every change of this node's bus (see the module doc)."""

    role = "leader"

    def __init__(self, delay_frames: int = 2, frame_rate: float = 60.0,
                 clock: LeaderClock | None = None, trace: Trace | None = None,
                 osc_port: int | None = None, zeroconf_interfaces=None,
                 saver: resume.Saver | None = None,
                 resume_from: resume.SavedShow | None = None) -> None:
        self.clock = clock or LeaderClock()
        self.saver = saver
        """Saves the show every ``[cluster] save_s`` (live/cluster/resume.py), or None."""
        self.resume_from = resume_from
        """The saved show this leader goes on from (its clock starts at its time), or None."""
        if resume_from is not None:
            self.clock.origin -= resume_from.resume_s()
        self.advertiser = (discovery.Advertiser(osc_port, zeroconf_interfaces)
                           if osc_port else None)
        """Advertises ``_live-cluster._udp`` with ``osc_port`` (None: not advertised)."""
        self.delay_s = max(delay_frames, 0) / max(frame_rate, 1.0)
        self.frame_rate = frame_rate
        self.session = secrets.randbits(31)
        self.trace = trace or Trace(os.environ.get("LIVE_CLUSTER_TRACE"), "leader")
        self.followers: dict[tuple[str, int], float] = {}
        """(host, relay port) -> when last heard (monotonic s)."""
        self.engine = None
        self.scene_name = lambda: ""
        self.timeline: RelayTimeline | None = None
        self.sent = 0
        self.send_errors = 0
        self.last_prime = ""
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sources: dict[str, float] = {}
        self._events: list[tuple[str, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bus = None
        self._raw_set = None
        self._raw_trigger = None
        self._capturing: set[tuple[str, int]] = set()
        """Followers whose walk state is scheduled to be taken (at the state's stamp)."""
        self._type_out: deque[tuple[float, str]] = deque(maxlen=512)
        """Typed characters stamped, for the leader's thread to send."""
        self._text_tail: deque[str] = deque(maxlen=TEXT_TAIL_CHARS)
        """The last characters typed since the last ``text.reset`` (a joiner's text)."""

    # ------------------------------------------------------------------ wiring
    def attach(self, engine) -> None:
        """Take over the engine's bus writes and timeline (before the controls start)."""
        self.engine = engine
        bus = self._bus = engine.bus
        self._raw_set, self._raw_trigger = bus.publish, bus.publish_trigger
        self.timeline = RelayTimeline(self.trace)
        engine.timeline = self.timeline
        self.timeline.on_new_walk = self._walk_rebuilt
        bus.relay = self  # every write now comes to set / trigger below
        if getattr(engine, "text", None) is not None:
            engine.text.out = self._typed  # the typed text goes to every node, stamped
        if self.resume_from is not None:
            self._resume(engine, self.resume_from)

    def _resume(self, engine, saved: resume.SavedShow) -> None:
        """Restore a saved show before the first frame: values, cues and prime now, the walk
        (with the controls' smoothers and integrals) at the first frame, stepped on over the
        time since the save."""
        registry = engine.registry
        for name, value in saved.values.items():
            if name in registry and _shared(registry[name]):
                self._raw_set(name, value)
        for slot, cue in saved.cues.items():
            if 0 <= slot < len(engine.walk.cues) and not engine.walk.set_cue(slot, cue):
                log.warning("cluster: saved cue %d does not fit this walk: not restored", slot)
        if saved.prime:
            self.last_prime = saved.prime
            self._raw_trigger("text.prime", 1.0, None, saved.prime)
        if saved.text:  # the screen's text, on this layer and in what joiners get
            self._text_tail.extend(saved.text[-TEXT_TAIL_CHARS:])
            if getattr(engine, "text", None) is not None:
                engine.text.layer.push(saved.text[-TEXT_TAIL_CHARS:])

        def take(walk, controls, t):
            taken = bool(saved.walk) and set_walk_state(walk, controls, saved.walk,
                                                        t - saved.show_s)
            self.trace.write(event="resumed", saved_at=saved.show_s, t=t, taken=taken,
                             phase=walk.phase)
        self.timeline.at_call(self.clock.now(), take)

    def _typed(self, chars: str) -> None:
        """Characters the text typed here (render thread): onto this node's layer and every
        follower's at one show time; the leader's thread sends them."""
        at = self.clock.now() + self.delay_s
        layer = self.engine.text.layer
        self.timeline.at_call(at, lambda *_: layer.push(chars))
        with self._lock:
            self._type_out.append((at, chars))
            self._text_tail.extend(chars)

    def _save(self, walk, controls, t: float) -> None:
        """The show at ``t`` (on the render thread, copies only) to the saver's thread."""
        params = controls.registry.params
        values = {params[i].name: float(controls.target[i])
                  for i in np.flatnonzero(_shared_mask(controls.registry))}
        cues = {slot: cue.copy() for slot, cue in enumerate(walk.cues) if cue is not None}
        with self._lock:
            text = "".join(self._text_tail)
        self.saver.capture(t, walk_state(walk, controls), values, cues,
                           str(self.scene_name()), self.last_prime, text)

    def source_proxy(self):
        """What the audio Publisher writes its features to on a leader."""
        return _SourceRelay(self)

    def wrap_osc(self, handle_message):
        """``OscInput.handle_message`` that answers ``/live/cluster/*`` itself."""
        def handle(address, args, client, stamp_ns):
            if address.startswith(PREFIX):
                self.handle(address, args, client)
                return
            handle_message(address, args, client, stamp_ns)
        return handle

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cluster-leader", daemon=True)
        self._thread.start()
        self.trace.write(event="leader_start", session=self.session)
        if self.advertiser is not None:  # multicast set-up may take a moment: not in the way
            threading.Thread(target=self.advertiser.start, name="cluster-zeroconf",
                             daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        if self._bus is not None and self._bus.relay is self:
            self._bus.relay = None  # writes after the show are this machine's again
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self.advertiser is not None:
            self.advertiser.close()
        if self.saver is not None:
            self.saver.close()  # the last capture written
        self._sock.close()
        self.trace.close()

    # ------------------------------------------------------------------ the bus
    def set(self, name, value, stamp_ns=None):
        """A value written to the leader's bus (``Bus.set`` hands triggers to ``trigger``)."""
        bus = self._bus
        param = bus.registry[name]
        if name.startswith(LOCAL_VALUES):
            return self._raw_set(name, value, stamp_ns)
        if isinstance(value, float | np.floating) and not math.isfinite(value):
            bus.non_finite += 1
            return bus.get(name)
        try:
            number = param.clamp(value)
        except ValueError:
            bus.rejected += 1
            raise
        at = self.clock.now() + self.delay_s
        self.timeline.at(at, name, number)
        self._send([message(PREFIX + "set", [at, name, float(number)])])
        return number

    def trigger(self, name, arg=1.0, stamp_ns=None, text=""):
        bus = self._bus
        param = bus.registry[name]
        if name.startswith(LOCAL_TRIGGERS):
            return self._raw_trigger(name, arg, stamp_ns, text)
        if param.kind != "trigger":
            raise ValueError(f"{name} is a {param.kind} parameter, not a trigger")
        if isinstance(arg, float | np.floating) and not math.isfinite(arg):
            bus.non_finite += 1
            return False
        arg = min(max(float(arg), param.lo), param.hi)
        text = text[:200]
        if name == "text.prime":
            self.last_prime = text
        elif name == "text.reset":
            with self._lock:
                self._text_tail.clear()
        at = self.clock.now() + (max(self.delay_s, FRAME_LEAD_S) if name in FRAME_TRIGGERS
                                 else self.delay_s)
        self.timeline.at(at, name, arg, text)
        self._send([message(PREFIX + "trig", [at, name, arg, text])])
        return True

    # ------------------------------------------------------------------ network
    def _send(self, messages: list[bytes], to: list | None = None) -> None:
        with self._lock:
            targets = list(self.followers) if to is None else to
        for packet in bundles(messages):
            for target in targets:
                try:
                    self._sock.sendto(packet, target)
                    self.sent += 1
                except OSError:
                    self.send_errors += 1

    def handle(self, address: str, args: list, client: tuple) -> None:
        """A ``/live/cluster/*`` message that reached the leader's OSC port."""
        t2 = self.clock.now()
        kind = address[len(PREFIX):]
        try:
            if kind == "ping" and len(args) == 2:
                target = (client[0], int(args[1]))
                new = self._heard(target)
                t3 = self.clock.now()
                self._sock.sendto(message(PREFIX + "pong", [float(args[0]), t2, t3,
                                                            self.session]), target)
                if new:
                    self.send_state(target)
            elif kind == "hello" and len(args) == 1:
                target = (client[0], int(args[0]))
                self._heard(target)
                self.send_state(target)
        except (ValueError, TypeError, OSError) as exc:
            log.debug("cluster: %s from %s dropped: %s", address, client[0], exc)

    def _heard(self, target: tuple[str, int]) -> bool:
        with self._lock:
            new = target not in self.followers
            self.followers[target] = time.monotonic()
        if new:
            log.info("cluster: follower %s:%d joined", *target)
            self.trace.write(event="follower_joined", follower=f"{target[0]}:{target[1]}")
        return new

    def send_state(self, target: tuple[str, int]) -> None:
        """The full state to one follower, stamped like a change."""
        engine = self.engine
        if engine is None:
            return
        at = self.clock.now() + self.delay_s
        values = np.empty(len(engine.registry.params))
        self._bus.snapshot(values)
        walk = engine.walk
        with self._lock:
            tail = "".join(self._text_tail)
        messages = [message(PREFIX + "state", [at, self.session, str(self.scene_name()),
                                               int(walk.seed), self.last_prime]),
                    message(PREFIX + "text", [at, tail])]
        for param, value in zip(engine.registry.params, values, strict=True):
            if _shared(param):
                messages.append(message(PREFIX + "set", [at, param.name, float(value)]))
        for slot, cue in enumerate(list(walk.cues)):
            if cue is not None:
                messages.append(message(PREFIX + "cue", [at, slot,
                                                         np.asarray(cue, "<f4").tobytes()]))
        messages.append(message(PREFIX + "ready", [at, self.session]))
        self._send(messages, [target])
        self.trace.write(event="state_sent", follower=f"{target[0]}:{target[1]}", at=at)
        with self._lock:
            capture = target not in self._capturing and self.timeline is not None
            self._capturing.add(target)
        if capture:  # the walk where it is at the stamp, after the values: the render thread
            self.timeline.at_call(at, lambda walk, controls, t: self._send_walk(
                walk, controls, t, target))

    def _send_walk(self, walk, controls, t: float, target: tuple[str, int] | None) -> None:
        """The walk's state at show time ``t`` (now, on the render thread) to one follower
        (None: to every follower)."""
        if target is not None:
            with self._lock:
                self._capturing.discard(target)
        blob = walk_state(walk, controls)
        parts = [blob[i:i + WALK_PART] for i in range(0, len(blob), WALK_PART)]
        self._send([message(PREFIX + "walk", [t, self.session, i, len(parts), part])
                    for i, part in enumerate(parts)], None if target is None else [target])
        self.trace.write(event="walk_sent", follower=f"{target[0]}:{target[1]}" if target
                         else "all", at=t, phase=walk.phase, bytes=len(blob))

    def _walk_rebuilt(self, t: float) -> None:
        """A model with another latent size came in here, with a new walk: every follower
        gets it, stamped a few frames on (a follower whose own swap is not in yet takes it
        when it is, see ``Follower._walk_part``)."""
        self.timeline.at_call(t + self.delay_s, lambda walk, controls, at: self._send_walk(
            walk, controls, at, None))

    def publish_sources(self) -> None:
        """Audio features written since the last call, stamped and relayed (one bundle)."""
        with self._lock:
            sources, self._sources = self._sources, {}
            events, self._events = self._events, []
            typed = list(self._type_out)
            self._type_out.clear()
        messages = [message(PREFIX + "type", [at, chars]) for at, chars in typed]
        if not sources and not events and not messages:
            return
        at = self.clock.now() + self.delay_s
        for name, value in sources.items():
            self.timeline.at_source(at, "src", name, value)
            messages.append(message(PREFIX + "src", [at, name, float(value)]))
        for name, strength in events:
            self.timeline.at_source(at, "evt", name, strength)
            messages.append(message(PREFIX + "evt", [at, name, float(strength)]))
        self._send(messages)

    def _run(self) -> None:
        period = 1.0 / max(self.frame_rate, 1.0)
        next_clock = 0.0
        while not self._stop.wait(period):
            if self.timeline is not None:
                self.publish_sources()
            now = time.monotonic()
            if self.saver is not None and self.timeline is not None and self.saver.due(now):
                self.timeline.at_call(self.clock.now() + self.delay_s, self._save)
            with self._lock:
                gone = [t for t, seen in self.followers.items()
                        if now - seen > FOLLOWER_TIMEOUT_S]
                for target in gone:
                    del self.followers[target]
            for target in gone:
                log.info("cluster: follower %s:%d silent, dropped", *target)
                self.trace.write(event="follower_dropped", follower=f"{target[0]}:{target[1]}")
            if self.trace.on and now >= next_clock:
                next_clock = now + TRACE_CLOCK_S
                self.trace.write(clock=self.clock.now(), followers=len(self.followers))
                self.trace.flush()

    def hud_line(self) -> str:
        return f"leader, {len(self.followers)} followers, session {self.session:08x}"

    def status(self) -> dict:
        timeline = self.timeline
        return {"role": "leader", "session": self.session, "show_s": self.clock.now(),
                "followers": [f"{h}:{p}" for h, p in self.followers], "sent": self.sent,
                "late": timeline.late if timeline else 0}


class _SourceRelay:
    """Stands in for the engine's source table in the audio Publisher on a leader."""

    def __init__(self, leader: Leader) -> None:
        self.leader = leader

    def set(self, name: str, value: float) -> None:
        if math.isfinite(value):
            with self.leader._lock:
                self.leader._sources[name] = float(value)

    def event(self, name: str, strength: float = 1.0) -> None:
        if math.isfinite(strength):
            with self.leader._lock:
                self.leader._events.append((name, float(strength)))


# --------------------------------------------------------------------------- follower
class Follower:
    """Follows a leader's clock and applies its stamped changes (see the module doc)."""

    role = "follower"

    def __init__(self, leader: tuple[str, int] | None, port: int = 8010,
                 host: str = "0.0.0.0", clock: SteeredClock | None = None,
                 trace: Trace | None = None, zeroconf_interfaces=None) -> None:
        self.leader = leader
        """(host, OSC port); None: found with zeroconf once started."""
        self.zeroconf_interfaces = zeroconf_interfaces
        self.port = port
        self.host = host
        self.clock = clock or SteeredClock()
        self.estimator = OffsetEstimator()
        self.trace = trace or Trace(os.environ.get("LIVE_CLUSTER_TRACE"), "follower")
        self.timeline = RelayTimeline(trace=self.trace)
        self.engine = None
        self.session: int | None = None
        self.state_session: int | None = None
        """The session whose full state has been scheduled."""
        self.walk_session: int | None = None
        """The session whose walk state has been scheduled."""
        self._walk_parts: dict = {}
        self._walk_key: tuple | None = None
        self._applied = {"ready": None, "walk": None, "in_step": None}
        """Session of the last full state / walk state applied, and in step."""
        self.last_heard = -math.inf
        """Monotonic seconds of the last message from the leader."""
        self.lost = False
        self.received = 0
        self.ignored = 0
        """Controller OSC messages sent to this follower and dropped."""
        self.rtt = math.nan
        self._pong_session: int | None = None
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def attach(self, engine) -> None:
        self.engine = engine
        engine.timeline = self.timeline
        engine.key_bus = KeyForward(engine.bus, self)  # its keyboard steers the leader
        if getattr(engine, "text", None) is not None:
            engine.text.follow = True  # it types what the leader typed, when it did
        engine.scene_values_from_leader = True  # a scene's values come stamped, as the leader's

    def wrap_osc(self, handle_message):
        """``OscInput.handle_message`` that drops controller messages (the leader's job)."""
        def handle(address, args, client, stamp_ns):
            if address == "/live/sync":
                handle_message(address, args, client, stamp_ns)
                return
            self.ignored += 1
        return handle

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        sock.bind((self.host, self.port))
        sock.settimeout(0.1)
        self._sock = sock
        self.port = sock.getsockname()[1]
        parts = [(self._receive, "cluster-rx"), (self._keep, "cluster-tx")]
        if self.leader is None:
            parts.append((self._discover, "cluster-zeroconf"))
        for target, name in parts:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.leader is not None:
            log.info("cluster: following %s:%d, relay port %d", *self.leader, self.port)
        else:
            log.info("cluster: looking for a leader (zeroconf %s), relay port %d",
                     discovery.SERVICE, self.port)

    def _discover(self) -> None:
        """Browse for a leader until one is found (saying so every ``DISCOVER_S``)."""
        waited = 0.0
        while not self._stop.is_set():
            found = discovery.browse(DISCOVER_S, self._stop, self.zeroconf_interfaces)
            if found is not None:
                host, port, name = found
                self.leader = (host, port)
                log.info("cluster: following %r at %s:%d (found with zeroconf), relay port %d",
                         name, host, port, self.port)
                self.trace.write(event="discovered", leader=f"{host}:{port}", name=name)
                return
            if self._stop.is_set():
                return
            waited += DISCOVER_S
            log.warning("cluster: no leader found with zeroconf (%s) in %.0f s; still "
                        "looking (give its address: --follow HOST[:PORT] or [cluster] leader)",
                        discovery.SERVICE, waited)
            self.trace.write(event="discover_timeout", waited=waited)
            self._stop.wait(0.5)  # no zeroconf at all: browse returns at once; do not spin

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2.0)
        if self._sock is not None:
            self._sock.close()
        self.trace.close()

    # ------------------------------------------------------------------ sending
    def _send(self, address: str, args: list) -> None:
        if self.leader is None:
            return  # not found yet
        try:
            self._sock.sendto(message(address, args), self.leader)
        except OSError:
            pass  # the leader's host is unreachable: keep trying

    def _keep(self) -> None:
        """Hello until the state came, pings (fast until locked), the lost flag, the trace."""
        next_hello = next_ping = next_clock = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if self.state_session != self.session or self.walk_session != self.session:
                if now >= next_hello:
                    self._send(PREFIX + "hello", [self.port])
                    self.trace.write(event="hello")
                    next_hello = now + HELLO_S
            if now >= next_ping:
                self._send(PREFIX + "ping", [time.monotonic(), self.port])
                next_ping = now + (PING_S if self.locked else FAST_PING_S)
            if not self.lost and now - self.last_heard > LOST_S and self.session is not None:
                self.lost = True
                log.warning("cluster: leader %s:%d lost; showing on", *self.leader)
                self.trace.write(event="lost")
            if self.trace.on and now >= next_clock:
                next_clock = now + TRACE_CLOCK_S
                self.trace.write(clock=self.clock.now(), leader_est=self.clock.leader_now(),
                                 error=self.clock.error, rtt=self.rtt, locked=self.locked)
                self.trace.flush()
            self._stop.wait(0.01)

    # ------------------------------------------------------------------ receiving
    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self._sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            t4 = time.monotonic()
            for address, args in parse(data):
                try:
                    self.handle(address, args, t4)
                except (ValueError, TypeError, IndexError) as exc:
                    log.debug("cluster: %s dropped: %s", address, exc)

    @property
    def locked(self) -> bool:
        return (self.clock.steered and self.estimator.count >= MIN_SAMPLES
                and abs(self.clock.error) < 0.001)

    def handle(self, address: str, args: list, t4: float) -> None:
        kind = address[len(PREFIX):] if address.startswith(PREFIX) else ""
        self.last_heard = t4
        self.received += 1
        if self.lost:
            self.lost = False
            log.info("cluster: leader %s:%d back", *self.leader)
            self.trace.write(event="back")
        if kind == "pong":
            t1, t2, t3, session = float(args[0]), float(args[1]), float(args[2]), int(args[3])
            if session != self._pong_session:  # a new leader session: its own samples
                self.estimator.clear()
                self._pong_session = session
            sample = self.estimator.add(t1, t2, t3, t4)
            if sample is None:
                return
            self.rtt = sample[0]
            if self.estimator.count < MIN_SAMPLES:
                return
            offset = self.estimator.best()[1]
            if session != self.session:
                first = self.session is None
                (self.clock.steer if first else self.clock.rebase)(offset)
                self.session = session
                log.info("cluster: clock of leader session %08x taken, base %.3f s",
                         session, self.clock.base)
                self.trace.write(event="session", session=session, base=self.clock.base)
            else:
                self.clock.steer(offset)
            return
        if self.session is None:
            return  # no clock yet: the state comes again once the clock is taken
        base = self.clock.base
        if kind == "set":
            self.timeline.at(float(args[0]) + base, str(args[1]), _value(args[2]))
        elif kind == "trig":
            self.timeline.at(float(args[0]) + base, str(args[1]), float(args[2]), str(args[3]))
        elif kind == "src":
            self.timeline.at_source(float(args[0]) + base, "src", str(args[1]), float(args[2]))
        elif kind == "evt":
            self.timeline.at_source(float(args[0]) + base, "evt", str(args[1]), float(args[2]))
        elif kind == "state":
            self._state(float(args[0]) + base, int(args[1]), str(args[2]), int(args[3]),
                        str(args[4]))
        elif kind in ("type", "text"):
            self._text(kind, float(args[0]) + base, str(args[1])[:TEXT_TAIL_CHARS])
        elif kind == "cue":
            at, slot, blob = float(args[0]) + base, int(args[1]), bytes(args[2])
            cue = np.frombuffer(blob, "<f4").astype(np.float64)
            self.timeline.at_call(at, lambda walk, *_: walk.set_cue(slot, cue))
        elif kind == "ready":
            at, session = float(args[0]) + base, int(args[1])
            if session == self.session:
                self.state_session = session
                self.timeline.at_call(at, lambda *_: self._arrived("ready", session))
        elif kind == "walk":
            self._walk_part(float(args[0]) + base, int(args[1]), int(args[2]), int(args[3]),
                            bytes(args[4]))

    def _text(self, kind: str, at: float, chars: str) -> None:
        """Characters the leader typed (``type``), or the text on its screen when this node
        joins (``text``: the layer starts again from it), onto this node's layer at ``at``."""
        text = getattr(self.engine, "text", None)
        if text is None:
            return
        layer = text.layer

        def put(*_):
            if kind == "text":
                layer.clear()
            layer.push(chars)
        self.timeline.at_call(at, put)

    def _state(self, at: float, session: int, scene: str, seed: int, prime: str) -> None:
        """The head of a full state: the scene (when another), the walk's seed, the prime."""
        if session != self.session:
            return
        deck_scene = self._scene_name()
        if scene and scene != deck_scene:
            self.timeline.at(at, "scene.go", 1.0, scene)
        if prime:
            self.timeline.at(at, "text.prime", 1.0, prime)

        def reseed(walk, *_, seed=seed):
            if walk.seed != seed:  # walk.reseed on the walk: seed + 1, new keyframes
                walk.seed = seed - 1
                walk.handle(TriggerEvent("walk.reseed", 1.0, 0, ""))
        self.timeline.at_call(at, reseed)
        self.trace.write(event="state", session=session, at=at)

    def _walk_part(self, at: float, session: int, part: int, count: int, blob: bytes) -> None:
        """One piece of the leader's walk state; the whole is set at ``at`` (show time here),
        stepped on to the frame's time when it comes late, as it does."""
        if session != self.session or not 0 <= part < count or count > MAX_WALK_PARTS:
            return
        key = (session, at, count)
        if key != self._walk_key:
            self._walk_key, self._walk_parts = key, {}
        self._walk_parts[part] = blob
        if len(self._walk_parts) < count:
            return
        whole = b"".join(self._walk_parts[i] for i in range(count))
        self._walk_key, self._walk_parts = None, {}
        self.walk_session = session
        try:
            dim = _read_walk_state(whole)[0].get("dim")
        except (ValueError, KeyError, TypeError, struct.error):
            dim = None  # garbled: ``set_walk_state`` says so

        def take(walk, controls, t):
            if dim is not None and dim != walk.dim and t - at < WALK_WAIT_S:
                # the leader's walk is of a model this node is still bringing in (a scene
                # switch loads it in the background): try again next frame
                self.timeline.at_call(t, take)
                return
            registry = controls.registry
            stamps = self.timeline.applied_at
            keep = np.array([stamps.get(p.name, -math.inf) > at for p in registry.params])
            taken = set_walk_state(walk, controls, whole, t - at, keep)
            if taken and self.engine is not None:  # the bus too: the next drain keeps them
                bus = self.engine.bus
                for i in np.flatnonzero(_shared_mask(registry)):
                    bus.publish(registry.params[i].name, float(controls.target[i]))
            self.trace.write(event="walk_in", session=session, at=at, t=t, taken=taken,
                             phase=walk.phase)
            self._arrived("walk", session)  # not taken (another model): as close as it gets
        self.timeline.at_call(at, take)

    def _arrived(self, what: str, session: int) -> None:
        """The full state or the walk state of ``session`` applied; both: in step."""
        self._applied[what] = session
        if (self._applied["ready"] == self._applied["walk"] == session
                and self._applied["in_step"] != session):
            self._applied["in_step"] = session
            self.trace.write(event="in_step", session=session, locked=self.locked)

    @property
    def in_step(self) -> bool:
        """The leader's full state and walk state of the current session are applied."""
        return self.session is not None and self._applied["in_step"] == self.session

    def _scene_name(self) -> str:
        return getattr(self, "scene_name", lambda: "")()

    def hud_line(self) -> str:
        if self.leader is None:
            return "follower: looking for a leader (zeroconf)"
        if self.session is None:
            return f"follower of {self.leader[0]}:{self.leader[1]}: waiting"
        age = time.monotonic() - self.last_heard
        state = "LOST" if self.lost else ("locked" if self.locked else "locking")
        return (f"follower of {self.leader[0]}:{self.leader[1]} {state}, offset err "
                f"{self.clock.error * 1e3:+.2f} ms, rtt {self.rtt * 1e3:.2f} ms, "
                f"last msg {age:.1f} s ago, ignored {self.ignored}")

    def status(self) -> dict:
        return {"role": "follower", "session": self.session, "show_s": self.clock.now(),
                "leader": f"{self.leader[0]}:{self.leader[1]}" if self.leader else None,
                "in_step": self.in_step, "locked": self.locked, "lost": self.lost,
                "base": self.clock.base,
                "rtt": self.rtt, "received": self.received, "ignored": self.ignored,
                "late": self.timeline.late}


class KeyForward:
    """A follower's keyboard: what stays on a node (``show.*``: HUD, fullscreen, snapshot,
    recording, quit; MIDI learn) goes to this node's bus; every other change is sent to the
    leader as the controller OSC a phone would send, and comes back stamped to every node,
    this one included (so a key pressed on any machine of a wall moves the whole show; a tap
    tempo is timed on the leader). While no leader is known the key does nothing."""

    def __init__(self, bus, follower: Follower) -> None:
        self.bus = bus
        self.follower = follower
        self.forwarded = 0

    def get(self, name: str):
        return self.bus.get(name)

    def set(self, name: str, value, stamp_ns=None):
        if name.startswith(LOCAL_VALUES):
            return self.bus.set(name, value, stamp_ns)
        param = self.bus.registry[name]
        number = float(param.clamp(value))
        self._forward(param.address, [number])
        return number

    def trigger(self, name: str, arg: float = 1.0, stamp_ns=None, text: str = "") -> bool:
        if name.startswith(LOCAL_TRIGGERS) and name != "tempo.tap":
            return self.bus.trigger(name, arg, stamp_ns, text)
        param = self.bus.registry[name]
        self._forward(param.address, [text[:200]] if param.text else [float(arg)])
        return True

    def _forward(self, address: str, args: list) -> None:
        self.forwarded += 1
        self.follower._send(address, args)


def _value(arg):
    return arg if isinstance(arg, str) else float(arg)


def make_node(cluster_cfg, osc_port: int = 8000, leader: bool = False,
              follow: str | None = None, state_path=None, scenes=None):
    """The node the config and flags ask for (``--leader``, ``--follow``, ``[cluster] role``),
    or None for a solo show. A leader with ``state_path`` and ``[cluster] save_s`` > 0 saves
    its show there and goes on from what it finds there (``scenes``: the scene names a saved
    show may name)."""
    role = "leader" if leader else ("follower" if follow is not None else cluster_cfg.role)
    zeroconf = getattr(cluster_cfg, "zeroconf", True)
    if role == "leader":
        save_s = getattr(cluster_cfg, "save_s", 0.0)
        saved = saver = None
        if state_path is not None and save_s > 0:
            saved = resume.read(state_path, scenes)
            saver = resume.Saver(state_path, save_s)
        return Leader(cluster_cfg.delay_frames, cluster_cfg.frame_rate,
                      osc_port=osc_port if zeroconf else None, saver=saver, resume_from=saved)
    if role == "follower":
        address = follow if follow else cluster_cfg.leader
        if not address:
            if zeroconf:
                return Follower(None, cluster_cfg.port)  # found with zeroconf
            raise ValueError("a follower needs the leader's address (--follow HOST[:PORT] or "
                             "[cluster] leader), or [cluster] zeroconf = true to find it")
        return Follower(parse_leader(address, osc_port), cluster_cfg.port)
    return None

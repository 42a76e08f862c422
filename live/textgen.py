"""Live text: a char-RNN sampler thread, and the show side that types its output on screen.

``TextGen`` is the sampler thread. It keeps the network's hidden state between characters and
keeps a bounded buffer of characters ready a little ahead of the typing (``LOOKAHEAD``), so
the render loop only ever takes what is there. It samples in small batches with a pause in
between, so a refill never holds the interpreter long enough to delay a frame. Requests from
the show (prime with words, reset, new sampling settings) reach it through a small queue and
are handled between batches.

``TextShow`` runs on the render thread once per frame: it turns ``text.rate`` (characters per
second), ``text.beat_chars`` (characters per detected beat) and ``text.burst`` triggers into a
number of characters, takes them from the buffer and hands them to the text layer
(live/render/text.py), which draws them.

Priming continues the text from the performer's words: the words are typed first, then the
network carries on from them. Characters the model has never seen are mapped to the nearest
ones it knows (accents dropped, curly quotes straightened, letter case swapped) or dropped; a
prime longer than ``MAX_PRIME`` keeps its end.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import unicodedata
from collections import deque

import torch

from live.nets.char_rnn import CharRNN, Sampler

log = logging.getLogger(__name__)

LOOKAHEAD = 192
"""Characters kept ready: more than two seconds at the fastest rate."""
BATCH = 8
"""Characters sampled between pauses while refilling."""
MAX_PRIME = 200
BURST_CHARS = 24
REPLACEMENTS = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                "\u2014": "-", "\u2026": "...", "\u00a0": " ", "\t": " ", "\r": "\n"}


def fit_to_vocab(text: str, vocab: str, limit: int = MAX_PRIME) -> str:
    """``text`` in characters the model knows: mapped where there is a near one, else dropped;
    only the last ``limit`` characters are kept."""
    known = set(vocab)
    out = []
    for ch in text:
        if ch in known:
            out.append(ch)
            continue
        ch = REPLACEMENTS.get(ch, ch)
        if all(c in known for c in ch):
            out.append(ch)
            continue
        plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
        for candidate in (plain, ch.swapcase(), plain.swapcase()):
            if candidate and all(c in known for c in candidate):
                out.append(candidate)
                break
    return "".join(out)[-limit:]


class TextGen:
    """The sampler thread and its buffer of characters ready to be typed."""

    def __init__(self, model: CharRNN, name: str = "", seed: int = 0,
                 temperature: float = 0.8, top_k: int = 0, top_p: float = 1.0) -> None:
        self.name = name
        self.sampler = Sampler(model, temperature, top_k, seed, top_p)
        self.vocab = model.cfg.vocab
        self.ready: deque[str] = deque()
        self._requests: queue.Queue = queue.Queue(maxsize=16)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.generated = 0
        self.dropped_requests = 0

    # ---------------------------------------------------------------- any thread
    def request(self, kind: str, value=None) -> None:
        """Queue ``("prime", text)``, ``("reset", None)`` or ``("sampling", (t, k, p))``."""
        try:
            self._requests.put_nowait((kind, value))
        except queue.Full:
            self.dropped_requests += 1
        self._wake.set()

    def take(self, n: int) -> str:
        """Up to ``n`` characters from the buffer (never waits); wakes the sampler to refill."""
        if n <= 0:
            return ""
        out = []
        ready = self.ready
        for _ in range(n):
            try:
                out.append(ready.popleft())
            except IndexError:
                break
        if len(ready) < LOOKAHEAD // 2:
            self._wake.set()
        return "".join(out)

    # ---------------------------------------------------------------- the thread
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="textgen", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        torch.set_num_threads(1)  # batch-1 steps gain nothing from more; the decode needs them
        while not self._stop.is_set():
            self._handle_requests()
            if len(self.ready) >= LOOKAHEAD:
                self._wake.wait(0.1)
                self._wake.clear()
                continue
            try:
                chars = self.sampler.generate(BATCH)
            except Exception:  # never let the text take the show down
                log.exception("text sampling failed")
                self._stop.wait(1.0)
                continue
            self.ready.extend(chars)
            self.generated += len(chars)
            time.sleep(0.001)  # let the render thread have the interpreter

    def _handle_requests(self) -> None:
        while True:
            try:
                kind, value = self._requests.get_nowait()
            except queue.Empty:
                return
            if kind == "prime":
                text = fit_to_vocab(value, self.vocab)
                if not text:
                    log.info("text prime %r has no character this model knows", value[:40])
                    continue
                self.ready.clear()  # what was sampled ahead belongs to the old thread of text
                self.sampler.feed(text)
                self.ready.extend(("\n" if "\n" in self.vocab else " ") + text)
            elif kind == "reset":
                self.ready.clear()
                self.sampler.reset()
            elif kind == "sampling":
                self.sampler.temperature, self.sampler.top_k, self.sampler.top_p = value


class TextShow:
    """Once per frame on the render thread: how many characters to type, and typing them."""

    def __init__(self, gen: TextGen, layer) -> None:
        self.gen = gen
        self.layer = layer
        self._credit = 0.0
        self._burst = 0
        self._sampling = (gen.sampler.temperature, gen.sampler.top_k, gen.sampler.top_p)
        self.typed = 0
        self.out = None
        """A cluster leader's ``out(chars)``: typed characters go to every node (this one
        included) at a stamped show time instead of straight onto the layer."""
        self.follow = False
        """A cluster follower: it types only what its leader relays (``layer.push``)."""

    def handle(self, event) -> None:
        """Engine listener: text.prime / text.reset / text.burst."""
        if self.follow and event.name != "text.reset":
            return  # the leader samples and types; its characters come relayed
        if event.name == "text.prime":
            self.gen.request("prime", event.text)
        elif event.name == "text.reset":
            self.gen.request("reset")
            self.layer.clear()
            self._credit = 0.0
        elif event.name == "text.burst":
            self._burst += max(1, round(event.arg * BURST_CHARS))

    def frame(self, dt: float, controls, beat: bool) -> None:
        if self.follow:
            return
        if controls["text.visible"] < 0.5:
            self._credit = 0.0
            self._burst = 0
            return
        sampling = (controls["text.temperature"], int(controls["text.top_k"]),
                    controls["text.top_p"])
        if sampling != self._sampling:
            self._sampling = sampling
            self.gen.request("sampling", sampling)
        self._credit = min(self._credit + dt * controls["text.rate"], 8.0)
        count = int(self._credit)
        self._credit -= count
        if beat:
            count += int(controls["text.beat_chars"])
        count += self._burst
        self._burst = 0
        if count:
            chars = self.gen.take(count)
            if chars:
                (self.out or self.layer.push)(chars)
                self.typed += len(chars)

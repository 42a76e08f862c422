"""Sound card (or file) input: PortAudio callback -> ring buffer -> analysis thread -> bus.

The PortAudio callback does one thing: it copies the block (channels averaged into a
preallocated buffer) into a preallocated ring and bumps the write counter. It never
allocates, logs, locks or touches a file. An analysis thread takes whole blocks out of the
ring in order, runs the streaming analyser on each and hands the features to ``publish``.

Faults never stop the show:

* no input device (or no PortAudio at all, with what to install): one clear message, the
  show runs silent, and the thread keeps looking for a device with a backoff;
* an input the analysis cannot use (a sample rate or block size out of range; a file that is
  not a regular file, has no samples or an odd rate): one clear message, the show runs silent;
* any samples at all (NaN, inf, 1e20, DC): the analysis sanitises them; should it still fail on
  a block, it is rebuilt and the failure logged at most every 10 s;
* the stream raises, stops delivering (a USB interface pulled out) or reports an error: the
  features decay to zero (the analyser is fed silence at the real-time rate), the stream is
  closed, PortAudio is terminated and initialised again (the only way it sees a device plugged
  in later) and the stream reopened with a backoff of 0.5 s doubling to 10 s; the recovery is
  logged.

``--audio-file`` plays a wav/flac file through exactly the same path, paced in real time
(and, if asked, out of the default output device), for rehearsals and installations. The file
is streamed block by block into one reused buffer: memory does not depend on its length.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from live.config import AudioConfig
from live.control.audio_analysis import (
    AudioFileError,
    file_blocks,
    open_audio_file,
    stream_problem,
)

log = logging.getLogger(__name__)

RING_SECONDS = 2.0
STALL_S = 1.5
"""No callback for this long while the stream should run: treat the device as gone."""
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 10.0)
FAILURE_LOG_EVERY_S = 10.0
"""An analysis that keeps failing is logged at most this often (the first time in full)."""
PORTAUDIO_HINT = ("install the PortAudio library: Debian/Ubuntu `sudo apt install "
                  "libportaudio2`, Fedora `sudo dnf install portaudio`, macOS `brew install "
                  "portaudio` (Windows: it comes with the sounddevice wheel)")


class Ring:
    """A single-producer, single-consumer ring of float32 mono samples.

    The producer (the audio callback) only writes samples and then the counter; the consumer
    (the analysis thread) only reads samples the counter says are complete. A consumer that
    falls more than the ring's length behind skips ahead and counts the lost samples.
    """

    def __init__(self, capacity: int) -> None:
        self.data = np.zeros(capacity, dtype=np.float32)
        self.capacity = capacity
        self.written = 0
        self.read = 0
        self.lost = 0

    def push(self, samples: np.ndarray) -> None:
        n = len(samples)
        if n > self.capacity:  # only the newest fit; the counter still moves by all of them
            self.written += n - self.capacity
            samples, n = samples[-self.capacity:], self.capacity
        start = self.written % self.capacity
        first = min(n, self.capacity - start)
        self.data[start:start + first] = samples[:first]
        if first < n:
            self.data[:n - first] = samples[first:]
        self.written += n

    def available(self) -> int:
        return self.written - self.read

    def pull(self, out: np.ndarray) -> bool:
        """Copy the next ``len(out)`` samples into ``out``; False when not yet written."""
        n = len(out)
        behind = self.written - self.read
        if behind > self.capacity:  # overrun: the oldest audio was overwritten
            skip = behind - self.capacity
            self.read += skip
            self.lost += skip
        if self.written - self.read < n:
            return False
        start = self.read % self.capacity
        first = min(n, self.capacity - start)
        out[:first] = self.data[start:start + first]
        if first < n:
            out[first:] = self.data[:n - first]
        self.read += n
        return True


class AudioInput:
    """Runs the input (a device or a file) and the analysis thread.

    ``analyser(samplerate, blocksize)`` makes the streaming analyser, a callable taking one
    block and returning its features; ``publish(features)`` takes them to the show. Both run
    on the analysis thread only.
    """

    def __init__(self, cfg: AudioConfig, analyser: Callable[[int, int], Callable],
                 publish: Callable[[Any], None], file: Path | None = None,
                 play: bool = False, loop: bool = True) -> None:
        self.cfg = cfg
        self.make_analyser = analyser
        self.process: Callable[[np.ndarray], Any] | None = None
        self.publish = publish
        self.file = file
        self.play = play
        self.loop = loop
        self.samplerate = cfg.samplerate
        self.blocksize = cfg.blocksize
        self.ring = Ring(1 << int(np.ceil(np.log2(RING_SECONDS * 192000))))
        # PortAudio delivers the asked block size; 8192 also covers a host that varies it
        self._mono = np.zeros(max(8192, self.blocksize), dtype=np.float32)
        self._block = np.zeros(self.blocksize, dtype=np.float32)
        self._silence = np.zeros(self.blocksize, dtype=np.float32)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._stream = None
        self._last_callback = 0.0
        self._stream_failed = ""
        self.status_flags = 0
        """Callbacks that reported an over- or underflow (counted, never logged there)."""
        self.callbacks = 0
        self.blocks = 0
        self.recoveries = 0
        self.failures = 0
        """Blocks the analysis raised on (it is rebuilt after each)."""
        self._failure_logged = -1e9
        self.state = "off"
        """"off" | "running" | "silent" (no device) | "recovering" | "file" | "ended"."""
        self.device_name = ""

    # ------------------------------------------------------------------ the callback
    def _callback(self, indata, frames, _time, status) -> None:
        if status:
            self.status_flags += 1
        mono = self._mono[:frames]
        if indata.shape[1] == 1:
            mono[:] = indata[:, 0]
        else:
            np.mean(indata, axis=1, out=mono)
        self.ring.push(mono)
        self.callbacks += 1
        self._last_callback = time.monotonic()
        self._wake.set()

    # ------------------------------------------------------------------ life cycle
    def start(self) -> None:
        if not self.cfg.enabled and self.file is None:
            return
        problem = None
        if self.file is not None:
            try:
                with open_audio_file(self.file) as sound:
                    self.samplerate = sound.samplerate
            except (AudioFileError, OSError, RuntimeError) as exc:
                problem = f"cannot play {self.file}: {exc}"
        problem = problem or stream_problem(self.samplerate, self.blocksize)
        if problem:
            # the picture does not need the sound: refuse the input, keep the show
            log.error("audio: %s; the show runs silent", problem)
            self.state = "silent"
            return
        self.process = self.make_analyser(self.samplerate, self.blocksize)
        target = self._run_file if self.file is not None else self._run_device
        self._threads = [threading.Thread(target=target, name="audio-in", daemon=True),
                         threading.Thread(target=self._analyse, name="audio-analysis",
                                          daemon=True)]
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=3.0)
        self._close_stream()

    # ------------------------------------------------------------------ devices
    def _device(self):
        device = self.cfg.device.strip()
        if device == "":
            return None
        return int(device) if device.isdigit() else device

    def _open_stream(self) -> None:
        import sounddevice as sd

        info = sd.query_devices(self._device(), "input")
        self.device_name = info["name"]
        channels = max(1, min(2, int(info["max_input_channels"])))
        stream = sd.InputStream(device=self._device(), samplerate=self.samplerate,
                                blocksize=self.blocksize, channels=channels,
                                dtype="float32", latency=_latency(self.cfg.latency),
                                callback=self._callback,
                                finished_callback=self._finished)
        stream.start()
        self._stream = stream
        self._last_callback = time.monotonic()

    def _finished(self) -> None:
        if not self._stop.is_set():
            self._stream_failed = "the stream stopped"

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort(ignore_errors=True)
                stream.close(ignore_errors=True)
            except Exception:
                pass

    @staticmethod
    def _reinitialise() -> None:
        """Terminate and initialise PortAudio: the only way it notices new devices."""
        try:
            import sounddevice as sd

            sd._terminate()
            sd._initialize()
        except Exception as exc:
            log.debug("PortAudio re-initialisation failed: %s", exc)

    def _run_device(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                self._open_stream()
            except Exception as exc:  # no device, no PortAudio, a busy device
                if attempt == 0:
                    log.warning("audio: no input (%s); the show runs silent and keeps "
                                "looking for a device", _reason(exc))
                self.state = "silent"
                delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
                attempt += 1
                if self._stop.wait(delay):
                    return
                self._reinitialise()
                continue
            if attempt > 0:
                self.recoveries += 1
                log.info("audio: input back on %s after %d attempt(s)", self.device_name,
                         attempt)
            else:
                log.info("audio: listening to %s (%d Hz, blocks of %d)", self.device_name,
                         self.samplerate, self.blocksize)
            attempt = 0
            self.state = "running"
            self._stream_failed = ""
            # watch the stream: a vanished device stops calling back
            while not self._stop.wait(0.25):
                stalled = time.monotonic() - self._last_callback > STALL_S
                if self._stream_failed or stalled or not self._stream.active:
                    reason = self._stream_failed or (f"no audio for {STALL_S:.1f} s"
                                                     if stalled else "the stream stopped")
                    log.warning("audio: input lost (%s); features fade out, reopening",
                                reason)
                    self.state = "recovering"
                    break
            self._close_stream()
            if self._stop.is_set():
                return
            attempt = 1
            if self._stop.wait(BACKOFF_S[0]):
                return
            self._reinitialise()

    # ------------------------------------------------------------------ files
    def _run_file(self) -> None:
        try:
            sound = open_audio_file(self.file)
        except (AudioFileError, OSError, RuntimeError) as exc:  # replaced since start()
            log.error("audio: cannot play %s: %s; the show runs silent", self.file,
                      _reason(exc))
            self.state = "silent"
            return
        with sound:
            self._play_file(sound)

    def _play_file(self, sound) -> None:
        """Feed ``sound`` through the callback block by block, paced in real time, looping."""
        self.samplerate = sound.samplerate
        self.state = "file"
        output = None
        if self.play:
            try:
                import sounddevice as sd

                output = sd.OutputStream(samplerate=sound.samplerate, channels=sound.channels,
                                         blocksize=self.blocksize, dtype="float32")
                output.start()
            except Exception as exc:
                log.warning("audio: cannot play %s out loud (%s); analysing it silently",
                            self.file, _reason(exc))
                output = None
        log.info("audio: playing %s (%.1f s, %d Hz) through the analysis", self.file,
                 sound.frames / sound.samplerate, sound.samplerate)
        period = self.blocksize / sound.samplerate
        try:
            while not self._stop.is_set():
                start = time.monotonic()
                count = 0
                sound.seek(0)
                for block in file_blocks(sound, self.blocksize, pad=True):
                    if self._stop.is_set():
                        return
                    if output is not None:
                        output.write(block)  # paces by itself
                    else:
                        delay = start + count * period - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                    self._callback(block, len(block), None, None)
                    count += 1
                if not self.loop or count == 0:  # a file emptied under us would spin
                    break
        except (OSError, RuntimeError) as exc:  # the file vanished or was cut while playing
            log.error("audio: reading %s failed (%s); the show runs silent", self.file,
                      _reason(exc))
        finally:
            if output is not None:
                output.close(ignore_errors=True)
        self.state = "ended"

    # ------------------------------------------------------------------ analysis
    def _analyse(self) -> None:
        block = self._block
        silent_since = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(0.05)
            self._wake.clear()
            got = False
            while self.ring.pull(block):
                got = True
                self._step(block)
            now = time.monotonic()
            if got:
                silent_since = now
            elif self.state in ("silent", "recovering", "ended") and \
                    now - silent_since >= self.blocksize / self.samplerate:
                # no input: feed silence at the real-time rate so every feature fades out
                steps = int((now - silent_since) * self.samplerate / self.blocksize)
                for _ in range(min(steps, 64)):
                    self._step(self._silence)
                silent_since = now

    def _step(self, block: np.ndarray) -> None:
        try:
            features = self.process(block)
            self.publish(features)
            self.blocks += 1
        except Exception:  # the analysis must never die with the show running
            self.failures += 1
            now = time.monotonic()
            if self.failures == 1:
                log.exception("audio analysis failed on a block; starting it afresh")
                self._failure_logged = now
            elif now - self._failure_logged >= FAILURE_LOG_EVERY_S:
                log.warning("audio analysis failed again (%d blocks so far); starting it "
                            "afresh", self.failures)
                self._failure_logged = now
            try:  # whatever state made it fail goes with the old analyser
                self.process = self.make_analyser(self.samplerate, self.blocksize)
            except Exception:
                pass  # keep the old one: the next block tries again


def _latency(text: str) -> str | float:
    """``[audio] latency``: "low" / "high" as PortAudio names them, or seconds."""
    try:
        return float(text)
    except ValueError:
        return text if text in ("low", "high") else "low"


def callback_cost_us(blocks: Iterable[np.ndarray], samplerate: int = 48000,
                     blocksize: int = 256) -> np.ndarray:
    """Microseconds the real PortAudio callback takes on each of ``blocks`` (``live
    analyze`` reports it against the block's duration). ``blocks`` may be a stream that
    reuses one buffer: each is used before the next is taken."""
    audio = AudioInput(AudioConfig(samplerate=samplerate, blocksize=blocksize),
                       lambda *_: None, lambda _: None)
    times: list[float] = []
    for block in blocks:
        start = time.perf_counter_ns()
        audio._callback(block, len(block), None, None)
        times.append((time.perf_counter_ns() - start) / 1e3)
    return np.array(times)


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    if "querying device -1" in text:
        return "this machine has no default input device"
    if "PortAudio library not found" in text:  # sounddevice's OSError at import
        return f"PortAudio library not found: {PORTAUDIO_HINT}"
    return text.splitlines()[0][:200]


class Publisher:
    """Takes each block's features to the show: sources for modulation, and the tempo.

    Runs on the analysis thread. Continuous features go into the source table's slots,
    onsets and beats are counted there as events; a confident tempo estimate is published to
    ``tempo.bpm`` (what beat-based walk periods follow) at most twice a second and only when
    it moved, unless ``follow_tempo`` is off or someone tapped a tempo in the last
    ``TAP_HOLD_S`` seconds.
    """

    TAP_HOLD_S = 15.0
    MIN_CONFIDENCE = 0.5

    def __init__(self, sources, bus=None, follow_tempo: bool = True,
                 osc_out: str = "") -> None:
        self.sources = sources
        self.bus = bus
        self.follow_tempo = follow_tempo and bus is not None
        self.latest = None
        self._out = None
        if osc_out:
            import socket

            from live.control.osc import parse_target

            self._target = parse_target(osc_out)
            family = socket.AF_INET6 if ":" in self._target[0] else socket.AF_INET
            self._out = socket.socket(family, socket.SOCK_DGRAM)
            self._out.setblocking(False)
        self._last_bpm_publish = 0.0
        self._published_bpm = 0.0
        self.tapped_at = -1e9

    def __call__(self, features) -> None:
        table = self.sources
        table.set("audio.level", features.level)
        table.set("audio.bass", features.bass)
        table.set("audio.mid", features.mid)
        table.set("audio.high", features.high)
        table.set("audio.phase", features.phase)
        table.set("audio.bpm", features.bpm)
        table.set("audio.confidence", features.confidence)
        if features.onset:
            table.event("audio.onset", features.onset_strength)
        if features.beat:
            table.event("audio.beat", 1.0)
        self.latest = features
        if self._out is not None:
            self._send(features)
        if not self.follow_tempo or features.bpm <= 0 or \
                features.confidence < self.MIN_CONFIDENCE:
            return
        now = time.monotonic()
        if now - self.tapped_at < self.TAP_HOLD_S or now - self._last_bpm_publish < 0.5:
            return
        if abs(features.bpm - self._published_bpm) >= 0.5:
            self.bus.set("tempo.bpm", features.bpm)
            self._published_bpm = features.bpm
            self._last_bpm_publish = now

    def _send(self, features) -> None:
        """One OSC bundle with this block's features (``[audio] osc_out``)."""
        from pythonosc.osc_message_builder import build_msg

        from live.control.osc import _bundle

        messages = [build_msg(f"/live/audio/{name}", [float(getattr(features, name))]).dgram
                    for name in ("level", "bass", "mid", "high", "phase", "bpm")]
        if features.onset:
            messages.append(build_msg("/live/audio/onset",
                                      [float(features.onset_strength)]).dgram)
        if features.beat:
            messages.append(build_msg("/live/audio/beat", [1.0]).dgram)
        try:
            self._out.sendto(_bundle(messages), self._target)
        except OSError:
            pass  # nobody listening, a full buffer: the show does not care

    def close(self) -> None:
        if self._out is not None:
            self._out.close()

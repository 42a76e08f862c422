"""Streaming audio analysis: levels, onsets, tempo and beat phase, one block at a time.

The input thread hands every sound-card block to :meth:`Analyzer.process` in order; the
analyzer returns a :class:`Features` record describing the stream up to the end of that block.
Nothing here touches a device, a thread or a clock: time is counted in samples, so the same
code runs live and over a file (:func:`analyze_file`) and gives the same answers.

How it works (details and measured figures in docs/audio.md):

- **Framing.** Samples go into a mirrored ring buffer (every sample is written twice, so the
  newest ``window`` samples are always one contiguous slice). Every ``hop`` samples (the block
  size when it is about 5 ms, otherwise a divisor/multiple of it near 5 ms) one analysis frame
  runs on the newest ``window`` (~21 ms) samples. The window is asymmetric: a long rise and a
  short fall, so the newest samples carry weight and a transient shows up in the first frame
  that contains it, not half a window later.
- **Spectrum.** The frame's power spectrum is summed into ~3-per-octave log-spaced bands (so a
  kick's two octaves count as much as a hi-hat's two octaves) plus three level bands (bass,
  mid, high). Band magnitudes are log-compressed (``log1p(gain * magnitude)``), which makes the
  flux below nearly independent of the input gain and ignores anything under the noise floor.
- **Onsets.** Spectral flux = mean over bands of how far each log magnitude rose above the
  loudest of the previous ~20 ms of frames, widened by one band (SuperFlux's idea: decays,
  glides and beating partials are not new energy). An onset fires on the first frame whose
  flux exceeds an adaptive threshold (mean of the last ~0.2 s of flux, each frame clipped at
  its threshold, times a ratio plus an absolute delta, plus a decaying mask after each hit), at
  least ``min_onset_gap_s`` after the previous one, and only after the flux fell back below
  the threshold (re-arm). The decision needs no future frame, which is what keeps latency at
  about one hop. The time the onset happened is then located to ~0.7 ms inside the last two
  hops by the largest jump of high-passed energy between short segments; a hit seen for less
  than ``onset_min_seen_s`` is published one hop later so that its strength is not a sliver.
- **Tempo.** The onset envelope (flux plus extra weight for the low bands, so kicks outweigh
  hats) of the last ``tempo_window_s`` seconds is autocorrelated by FFT every
  ``tempo_every_s``. Each candidate beat period in [min_bpm, max_bpm] is scored by the mean
  autocorrelation at all its multiples up to ``comb_span_s`` times a log-Gaussian prior around
  ``prior_bpm``; the best is refined to a fraction of a frame. Octave errors are settled on
  the onsets folded at the slower period: when the off-beat half is nearly as strong as the
  beat (every pulse equally strong, or a kick on every beat) the faster tempo wins; otherwise
  accented beats keep the slower one, so 90 BPM with loud eighth-note hats stays 90. Nothing
  is published before ``first_estimate_after_s`` of music; the published tempo is smoothed
  when a new estimate agrees within a few percent, and switches only after a different
  estimate has persisted for ``switch_after_s`` (hysteresis).
- **Beats.** A flywheel predicts the next beat time from the tempo; ``phase`` is the position
  between the last and next predicted beat and a beat is published in the block where the
  prediction falls. The prediction is pulled towards (a) each onset near an expected beat and
  (b) at every tempo update, the strongest phase of a weighted histogram of recent onset times
  folded by the beat period. Without onsets for a while no beats are published; after
  ``forget_after_s`` the tempo is forgotten (bpm 0).
- **Levels.** Level and band energies in dB go through an automatic gain: a peak tracker that
  jumps up and sinks slowly, never below ``noise_floor_db + min_range_db``; values map the
  ``range_db`` below the peak to 0-1 and anything under ``noise_floor_db`` reads 0. Then
  per-source attack/release smoothing.

Cost: one 1024-point real FFT and a small matrix product per frame, all into preallocated
arrays; the tempo update (a 4096-point FFT and a few small arrays) runs every
``tempo_every_s`` and is the only place that allocates.

Any input is survivable (a sound card or a file is not trusted): every block is sanitised
where it enters (NaN and inf become 0, samples are clipped to ``INPUT_LIMIT`` times full scale
so no square or sum can overflow float32, denormals are flushed to 0), every published feature
is finite and inside its documented range, and a state that went non-finite anyway is
discarded for a fresh one (the stream clock and a tempo hint are kept). Files are streamed
block by block (:func:`file_blocks`): memory does not grow with their length.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import soundfile

__all__ = ["AnalyzerConfig", "Analyzer", "AudioFileError", "Features", "analyze_file",
           "file_blocks", "open_audio_file", "stream_problem"]

log = logging.getLogger(__name__)

INPUT_LIMIT = 2.0
"""Samples are clipped to this many times full scale (+6 dBFS): a float interface running a
little hot passes untouched, while a sample of 1e20 can no longer overflow a power sum."""
DENORMAL_BELOW = 1e-20
"""Samples smaller than this (-400 dBFS) are set to 0: denormal arithmetic is slow."""
MIN_SAMPLERATE_HZ = 8000
MAX_SAMPLERATE_HZ = 384000
"""The bands reach 4 kHz and above (so at least 8 kHz); 384 kHz is the fastest interfaces."""
MIN_BLOCKSIZE = 16
MAX_BLOCKSIZE = 65536
"""Frames per block: below 16 the per-block overhead dominates; 65536 is over a second."""


def stream_problem(samplerate: int, blocksize: int) -> str | None:
    """Why the analysis cannot run at this sample rate and block size, or None when it can."""
    if not MIN_SAMPLERATE_HZ <= samplerate <= MAX_SAMPLERATE_HZ:
        return (f"sample rate {samplerate} Hz is outside {MIN_SAMPLERATE_HZ}.."
                f"{MAX_SAMPLERATE_HZ} Hz (the analysis needs at least 8 kHz for its bands "
                "and does not resample a live input)")
    if not MIN_BLOCKSIZE <= blocksize <= MAX_BLOCKSIZE:
        return f"block size {blocksize} is outside {MIN_BLOCKSIZE}..{MAX_BLOCKSIZE} frames"
    return None


class AudioFileError(ValueError):
    """An audio file that cannot be analysed; ``str()`` is the reason (callers name the file)."""


@dataclass(frozen=True)
class AnalyzerConfig:
    """Tuning of :class:`Analyzer`. Times in seconds, levels in dBFS, tempi in BPM."""

    window_s: float = 0.021
    """Analysis window, rounded up to a power of two in samples (1024 at 48 kHz)."""
    hop_s: float = 0.0053
    """Target hop between analysis frames; the actual hop is tied to the block size."""
    # onset detection
    flux_gain: float = 1000.0
    """Magnitude gain inside log1p: amplitudes below ~1/flux_gain (-60 dBFS) barely count."""
    threshold_window_s: float = 0.2
    threshold_ratio: float = 1.5
    threshold_delta: float = 0.08
    min_onset_gap_s: float = 0.045
    onset_min_seen_s: float = 0.0016
    """An onset seen for less than this at the end of a frame is published one hop later."""
    mask_ratio: float = 0.5
    mask_s: float = 0.04
    """After an onset the threshold is raised by mask_ratio * its flux, decaying with mask_s."""
    # tempo
    min_bpm: float = 80.0
    max_bpm: float = 180.0
    prior_bpm: float = 120.0
    prior_octaves: float = 1.0
    """Standard deviation of the log-Gaussian tempo prior, in octaves."""
    tempo_window_s: float = 6.0
    comb_span_s: float = 3.0
    """Autocorrelation lags up to this are summed per tempo candidate (all beat multiples)."""
    tempo_every_s: float = 0.25
    octave_ratio: float = 0.75
    """Onsets folded at the slower period: the faster tempo wins when the off-beat half is at
    least this strong relative to the beat."""
    agree_ratio: float = 0.04
    switch_after_s: float = 1.5
    first_estimate_after_s: float = 3.0
    """No tempo is published before this much music (after start or a silence)."""
    min_confidence: float = 0.2
    """Below this no first tempo is published and no beats are emitted (random hits, speech)."""
    # beat tracking
    onset_pull: float = 0.25
    histogram_pull: float = 0.3
    period_trim_pull: float = 0.05
    """Fraction of each onset's relative phase error added to the beat period (max ±3%)."""
    phase_window_s: float = 4.0
    beat_hold_s: float = 2.5
    """No beats are published when the last onset is older than this."""
    forget_after_s: float = 10.0
    # levels
    noise_floor_db: float = -72.0
    range_db: float = 36.0
    min_range_db: float = 24.0
    peak_release_db_per_s: float = 3.0
    attack_s: float = 0.005
    release_s: float = 0.15
    bass_hz: float = 250.0
    high_hz: float = 4000.0


@dataclass(slots=True)
class Features:
    """What the analyzer knows at ``time_s`` (end of the latest block).

    ``process`` returns the same instance every call, updated in place; take ``copy()`` to
    keep or publish a snapshot.
    """

    time_s: float = 0.0
    """Stream time at the end of the block (samples so far / sample rate)."""
    level: float = 0.0
    """Overall loudness, 0-1 after automatic gain, smoothed."""
    bass: float = 0.0
    """Energy below ``bass_hz``, 0-1, smoothed."""
    mid: float = 0.0
    high: float = 0.0
    onset: bool = False
    """An onset was detected in this block."""
    onset_strength: float = 0.0
    """0-1 strength of this block's onset (0 when none)."""
    onset_time_s: float = 0.0
    """Estimated time the latest onset happened in the signal (valid when ``onset``)."""
    beat: bool = False
    """A beat fell in this block."""
    beat_time_s: float = 0.0
    """Predicted time of the latest beat (valid when ``beat``)."""
    bpm: float = 0.0
    """Tempo estimate; 0 when unknown."""
    phase: float = 0.0
    """Position in the current beat in [0, 1): 0 on the beat, advancing every block."""
    confidence: float = 0.0
    """0-1 confidence of the tempo estimate."""

    def copy(self) -> Features:
        return dataclasses.replace(self)


def _pow2_at_least(n: float) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1.0, n))))


def _asymmetric_window(size: int, fall: int) -> np.ndarray:
    """Long Hann rise, short Hann fall: the newest samples weigh almost fully."""
    rise = size - fall
    up = np.sin(0.5 * np.pi * (np.arange(rise) + 0.5) / rise) ** 2
    down = np.cos(0.5 * np.pi * (np.arange(fall) + 0.5) / fall) ** 2
    return np.concatenate([up, down]).astype(np.float32)


def _band_matrix(samplerate: int, size: int, bass_hz: float, high_hz: float):
    """Rows: log-spaced flux bands (>= 1 bin each) then the bass, mid and high level bands."""
    freqs = np.fft.rfftfreq(size, 1.0 / samplerate)
    nbins = len(freqs)
    edges = [30.0]
    while edges[-1] < min(16000.0, samplerate / 2):
        edges.append(edges[-1] * 2 ** (1 / 3))
    rows: list[np.ndarray] = []
    low_rows = 0
    lo = edges[0]
    for hi in edges[1:]:
        sel = (freqs >= lo) & (freqs < hi)
        if sel.sum() == 0:
            continue  # too narrow for the FFT resolution: merge into the next band
        rows.append(sel)
        if hi <= 200.0:
            low_rows += 1
        lo = hi
    flux_rows = len(rows)
    for a, b in ((20.0, bass_hz), (bass_hz, high_hz), (high_hz, samplerate / 2 + 1)):
        rows.append((freqs >= a) & (freqs < b))
    matrix = np.zeros((len(rows), nbins), np.float32)
    for i, sel in enumerate(rows):
        matrix[i, sel] = 1.0
    counts = matrix.sum(axis=1)
    return matrix, counts, flux_rows, max(low_rows, 1)


class _AutoGain:
    """dB value -> 0-1 with a peak that jumps up and sinks slowly, plus attack/release."""

    def __init__(self, cfg: AnalyzerConfig, frame_dt: float) -> None:
        self.floor = cfg.noise_floor_db
        self.range = cfg.range_db
        self.min_peak = cfg.noise_floor_db + cfg.min_range_db
        self.peak = self.min_peak
        self.sink = cfg.peak_release_db_per_s * frame_dt
        self.attack = 1.0 - math.exp(-frame_dt / cfg.attack_s)
        self.release = 1.0 - math.exp(-frame_dt / cfg.release_s)
        self.value = 0.0

    def update(self, db: float) -> float:
        self.peak = max(db, self.peak - self.sink, self.min_peak)
        low = max(self.peak - self.range, self.floor)
        x = min(max((db - low) / (self.peak - low), 0.0), 1.0)
        k = self.attack if x > self.value else self.release
        self.value += k * (x - self.value)
        return self.value


class _Mirror:
    """Ring buffer written twice so that the newest ``size`` items are one contiguous view."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data = np.zeros(2 * size, np.float32)
        self.pos = 0  # index of the oldest item == next write position

    def push(self, values: np.ndarray) -> None:
        n, size = len(values), self.size
        if n >= size:
            values = values[-size:]
            n = size
        first = min(n, size - self.pos)
        self.data[self.pos:self.pos + first] = values[:first]
        self.data[self.pos + size:self.pos + size + first] = values[:first]
        rest = n - first
        if rest:
            self.data[:rest] = values[first:]
            self.data[size:size + rest] = values[first:]
        self.pos = (self.pos + n) % size

    def push_one(self, value: float) -> None:
        self.data[self.pos] = value
        self.data[self.pos + self.size] = value
        self.pos = (self.pos + 1) % self.size

    def view(self) -> np.ndarray:
        """Oldest to newest, ``size`` items (a view: valid until the next push)."""
        return self.data[self.pos:self.pos + self.size]


class Analyzer:
    """Streaming analysis of one mono or multichannel input; call :meth:`process` per block."""

    def __init__(self, samplerate: int = 48000, blocksize: int = 256,
                 config: AnalyzerConfig | None = None) -> None:
        problem = stream_problem(int(samplerate), int(blocksize))
        if problem:
            raise ValueError(problem)
        cfg = self.config = config or AnalyzerConfig()
        self.samplerate = int(samplerate)
        self.blocksize = int(blocksize)
        target = max(1, round(cfg.hop_s * samplerate))
        if blocksize >= target:
            hop = math.ceil(blocksize / round(blocksize / target))
        else:
            hop = blocksize * max(1, round(target / blocksize))
        self.hop = hop
        self.frame_dt = hop / samplerate
        self.window = max(_pow2_at_least(cfg.window_s * samplerate), 2 * hop)
        self._win = _asymmetric_window(self.window, max(8, self.window // 16))
        self._win_norm = 2.0 / float(self._win.sum())
        self._matrix, counts, self._nflux, self._nlow = _band_matrix(
            self.samplerate, self.window, cfg.bass_hz, cfg.high_hz)
        # flux bands: mean power per bin; level bands: total power of the band
        self._inv_counts = (1.0 / counts).astype(np.float32)
        self._inv_counts[self._nflux:] = 1.0
        # preallocated frame buffers
        self._samples = _Mirror(self.window)
        self._mono = np.zeros(max(blocksize, 1) * 4, np.float32)
        self._magnitude = np.zeros_like(self._mono)
        self._tiny = np.zeros(len(self._mono), bool)
        self._frame = np.zeros(self.window, np.float32)
        self._spec = np.zeros(self.window // 2 + 1, np.complex64)
        self._power = np.zeros(self.window // 2 + 1, np.float32)
        self._bands = np.zeros(len(self._matrix), np.float32)
        self._logb = np.zeros(self._nflux, np.float32)
        reference_frames = max(2, round(0.02 * samplerate / hop))
        self._past_logb = np.zeros((reference_frames, self._nflux), np.float32)
        self._past_row = 0
        self._ref = np.zeros(self._nflux, np.float32)
        self._ref_wide = np.zeros(self._nflux, np.float32)
        self._diff = np.zeros(self._nflux, np.float32)
        seg = max(1, hop // 8)
        self._seg = seg
        self._nseg = (2 * hop) // seg
        self._hp = np.zeros(self._nseg * seg, np.float32)
        self._seg_energy = np.zeros(self._nseg, np.float32)
        # onset state
        nthr = max(4, round(cfg.threshold_window_s / self.frame_dt))
        self._flux_hist = np.zeros(nthr, np.float32)
        self._flux_pos = 0
        self._flux_sum = 0.0
        self._armed = True
        self._last_onset_s = -1e9
        self._last_detection_s = -1e9
        self._active_since_s = 0.0
        self._last_flux = 0.0
        self._deferred_onset_s: float | None = None
        self._deferred_low = 0.0
        self._flux_peak = 0.1
        self._onset_times = np.full(128, -1e9)
        self._onset_weights = np.zeros(128)
        self._onset_low = np.zeros(128)
        self._onset_pos = 0
        self._grow_after_onset = max(1, round(0.011 * samplerate / hop))
        self._grow_frames = 0
        # tempo state
        self.frame_rate = samplerate / hop
        self._env = _Mirror(max(64, round(cfg.tempo_window_s * self.frame_rate)))
        self._nfft = _pow2_at_least(2 * self._env.size)
        self._env_centered = np.zeros(self._env.size, np.float32)
        self._env_spec = np.zeros(self._nfft // 2 + 1, np.complex64)
        self._acf = np.zeros(self._nfft, np.float32)
        self._unbias = (self._env.size / np.maximum(
            self._env.size - np.arange(self._nfft), 1)).astype(np.float32)
        self._tempo_every = max(1, round(cfg.tempo_every_s / self.frame_dt))
        self._frames = 0
        self._lag_lo = max(2, math.floor(60.0 * self.frame_rate / cfg.max_bpm))
        self._lag_hi = math.ceil(60.0 * self.frame_rate / cfg.min_bpm)
        self._comb_span = cfg.comb_span_s * self.frame_rate
        self._multiples = np.arange(1, int(self._comb_span // self._lag_lo) + 1)
        self._lag_axis = np.arange(self._nfft, dtype=np.float64)
        self._lag_grid = np.arange(self._lag_lo, self._lag_hi + 0.01, 0.25)
        self._hint_bpm: float | None = None
        self._bpm = 0.0
        self._pending_bpm = 0.0
        self._pending_count = 0
        self._switch_count = max(1, round(cfg.switch_after_s / cfg.tempo_every_s))
        self._confidence = 0.0
        # beat state
        self._period_s = 0.0
        self._trim = 0.0  # relative correction of the beat period from onset timing
        self._next_beat_s = 0.0
        self._locked = False
        # levels
        self._gains = [_AutoGain(cfg, self.frame_dt) for _ in range(4)]
        self._pending = 0  # samples since the last frame
        self._samples_seen = 0
        self.features = Features()
        self.resets = 0
        """Times a non-finite state was discarded for a fresh one (should stay 0)."""
        self._reset_logged_s = -1e9

    # ------------------------------------------------------------------ public
    def process(self, block: np.ndarray) -> Features:
        """Analyse the next block (float, shape (n,) or (n, channels)); returns ``features``."""
        block = np.asarray(block)
        n = block.shape[0]
        if len(self._mono) < n:  # rare: an unusually large block
            self._mono = np.zeros(2 * n, np.float32)
            self._magnitude = np.zeros_like(self._mono)
            self._tiny = np.zeros(len(self._mono), bool)
        mono = self._mono[:n]
        if (block.ndim == 2 and block.shape[1] > 1) or block.dtype != np.float32:
            with np.errstate(over="ignore", invalid="ignore"):  # inf - inf, 1e300 -> float32
                if block.ndim == 2 and block.shape[1] > 1:
                    np.mean(block, axis=1, out=mono)
                else:
                    np.copyto(mono, block.reshape(n), casting="unsafe")
        else:  # what the live input hands over: nothing to overflow in a copy
            np.copyto(mono, block.reshape(n))
        self._sanitise(mono)
        f = self.features
        f.onset = False
        f.beat = False
        f.onset_strength = 0.0
        pos = 0
        while pos < n:
            take = min(self.hop - self._pending, n - pos)
            self._samples.push(mono[pos:pos + take])
            pos += take
            self._pending += take
            self._samples_seen += take
            if self._pending == self.hop:
                self._pending = 0
                self._analyse_frame(self._samples_seen / self.samplerate)
        f.time_s = self._samples_seen / self.samplerate
        self._advance_beats(f.time_s)
        if not self._state_is_finite():
            self._reset()
        return self._clamp_features()

    def _sanitise(self, mono: np.ndarray) -> None:
        """Make any block safe to analyse, in place and without allocating.

        A non-finite sample carries no level, so it becomes silence; clipping bounds every
        power and sum below float32 overflow; denormals would only slow the FFT down.
        """
        n = len(mono)
        magnitude, tiny = self._magnitude[:n], self._tiny[:n]
        np.abs(mono, out=magnitude)
        # plain ufuncs, no np.clip / np.nan_to_num (each costs more than the rest together);
        # a NaN fails the comparison too, so an ordinary block takes one reduction here
        if not float(np.maximum.reduce(magnitude, initial=0.0)) <= INPUT_LIMIT:
            np.nan_to_num(mono, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            np.minimum(mono, INPUT_LIMIT, out=mono)
            np.maximum(mono, -INPUT_LIMIT, out=mono)
            np.abs(mono, out=magnitude)
        np.less(magnitude, DENORMAL_BELOW, out=tiny)
        np.putmask(mono, tiny, 0.0)

    def _state_is_finite(self) -> bool:
        """True while every running value is finite.

        Sanitised input keeps them so; this is the second line of defence: each array of
        history feeds one of these scalars (the flux history its sum, the onset envelope the
        confidence), so a NaN anywhere shows up here within a frame or a tempo update.
        """
        f = self.features
        values = (f.level, f.bass, f.mid, f.high, f.onset_strength, f.onset_time_s, f.beat_time_s,
                  f.bpm, f.phase, f.confidence, self._flux_sum, self._last_flux,
                  self._flux_peak, self._deferred_low, self._confidence, self._bpm,
                  self._pending_bpm, self._period_s, self._trim, self._next_beat_s)
        return all(map(math.isfinite, values)) and all(
            math.isfinite(g.peak) and math.isfinite(g.value) for g in self._gains)

    def _reset(self) -> None:
        """Start afresh after a state went non-finite: a NaN would otherwise stay for good.

        Takes every field of a newly built analyser (so none can be forgotten here), keeping
        the stream clock, the tempo hint and the ``features`` object callers hold.
        """
        fresh = Analyzer(self.samplerate, self.blocksize, self.config)
        features, seen, hint = self.features, self._samples_seen, self._hint_bpm
        resets, logged = self.resets + 1, self._reset_logged_s
        self.__dict__.update(fresh.__dict__)
        self._samples_seen, self.resets = seen, resets
        for field in dataclasses.fields(Features):
            setattr(features, field.name, getattr(fresh.features, field.name))
        features.time_s = seen / self.samplerate
        self.features = features
        if hint is not None:
            self.set_tempo_hint(hint)
            features.bpm, features.confidence = self._bpm, self._confidence
        if features.time_s - logged >= 10.0:  # never a message per block
            log.warning("audio analysis: a value went non-finite; the analysis was reset "
                        "(%d time(s) so far)", resets)
            logged = features.time_s
        self._reset_logged_s = logged

    def _clamp_features(self) -> Features:
        """Hold every published feature to its documented range (rounding included)."""
        f = self.features
        f.level = min(max(f.level, 0.0), 1.0)
        f.bass = min(max(f.bass, 0.0), 1.0)
        f.mid = min(max(f.mid, 0.0), 1.0)
        f.high = min(max(f.high, 0.0), 1.0)
        f.onset_strength = min(max(f.onset_strength, 0.0), 1.0)
        f.confidence = min(max(f.confidence, 0.0), 1.0)
        f.phase = min(max(f.phase, 0.0), 0.999999)
        f.bpm = max(f.bpm, 0.0)
        return f

    def latest_frame(self) -> tuple[np.ndarray, np.ndarray]:
        """The newest analysis window (samples) and its power spectrum, views into this
        analyser's buffers (valid until the next ``process``): what an AudioScope shows."""
        return self._samples.view(), self._power

    def set_tempo_hint(self, bpm: float | None) -> None:
        """Seed the tracker with an external tempo (tap, Link); ``None`` drops the hint.

        The tempo jumps to ``bpm`` at once and the tempo search narrows to within a few
        percent of it (no octave jumps) until the hint is dropped.
        """
        if bpm is None or bpm <= 0:
            self._hint_bpm = None
            return
        self._hint_bpm = float(bpm)
        self._set_tempo(float(bpm))
        self._pending_count = 0
        self._confidence = max(self._confidence, 0.5)

    # ------------------------------------------------------------------ frames
    def _analyse_frame(self, t_end: float) -> None:
        cfg, f = self.config, self.features
        x = self._samples.view()
        np.multiply(x, self._win, out=self._frame)
        np.fft.rfft(self._frame, out=self._spec)
        np.abs(self._spec, out=self._power)
        np.multiply(self._power, self._win_norm, out=self._power)
        np.square(self._power, out=self._power)
        np.matmul(self._matrix, self._power, out=self._bands)
        np.multiply(self._bands, self._inv_counts, out=self._bands)
        # levels: time-domain RMS of the newest hop, band powers from the spectrum
        newest = x[-self.hop:]
        rms_db = 10.0 * math.log10(float(np.dot(newest, newest)) / self.hop + 1e-12)
        f.level = self._gains[0].update(rms_db)
        nb = self._nflux
        f.bass = self._gains[1].update(10.0 * math.log10(float(self._bands[nb]) + 1e-12))
        f.mid = self._gains[2].update(10.0 * math.log10(float(self._bands[nb + 1]) + 1e-12))
        f.high = self._gains[3].update(10.0 * math.log10(float(self._bands[nb + 2]) + 1e-12))
        # spectral flux on log band magnitudes
        logb = self._logb
        np.sqrt(self._bands[:nb], out=logb)
        np.multiply(logb, cfg.flux_gain, out=logb)
        np.log1p(logb, out=logb)
        # reference: the loudest of the previous ~20 ms of frames, widened by one band each
        # side, so decays, pitch glides, vibrato and the beating of close partials (a full
        # cycle at 50 Hz) do not count as new energy (the idea of SuperFlux)
        ref, wide = self._ref, self._ref_wide
        np.max(self._past_logb, axis=0, out=ref)
        wide[:] = ref
        np.maximum(wide[1:], ref[:-1], out=wide[1:])
        np.maximum(wide[:-1], ref[1:], out=wide[:-1])
        np.subtract(logb, wide, out=self._diff)
        np.maximum(self._diff, 0.0, out=self._diff)
        self._past_logb[self._past_row] = logb
        self._past_row = (self._past_row + 1) % len(self._past_logb)
        flux = float(self._diff.sum()) / nb
        low_flux = float(self._diff[:self._nlow].sum()) / nb
        # adaptive threshold from the recent past only (no look-ahead); the history keeps
        # each frame clipped at its threshold so one big hit does not mask the next 0.2 s
        hist = self._flux_hist
        threshold = cfg.threshold_ratio * self._flux_sum / len(hist) + cfg.threshold_delta
        kept = min(flux, threshold)
        # temporal masking: right after a hit, its own ringing needs to be much stronger
        since = t_end - self._last_detection_s
        threshold += cfg.mask_ratio * self._last_flux * math.exp(-since / cfg.mask_s)
        self._flux_sum += kept - float(hist[self._flux_pos])
        hist[self._flux_pos] = kept
        self._flux_pos = (self._flux_pos + 1) % len(hist)
        if self._grow_frames:
            # an onset caught in its first few samples has only a sliver of its flux: let its
            # weight for the tempo and phase search grow over the next frames
            self._grow_frames -= 1
            last = (self._onset_pos - 1) % len(self._onset_times)
            self._onset_weights[last] = max(self._onset_weights[last], flux + 2.0 * low_flux)
            self._onset_low[last] = max(self._onset_low[last], low_flux)
        if self._deferred_onset_s is not None:
            onset_s, self._deferred_onset_s = self._deferred_onset_s, None
            flux, low_flux = max(flux, self._last_flux), max(low_flux, self._deferred_low)
            self._last_flux = flux
            self._on_onset(onset_s, flux, low_flux)
        elif flux <= threshold:
            self._armed = True
        elif self._armed and t_end - self._last_detection_s >= cfg.min_onset_gap_s:
            self._armed = False
            self._last_detection_s = t_end
            self._last_flux = flux
            onset_s = self._locate_onset(t_end)
            if t_end - onset_s < cfg.onset_min_seen_s:
                # only the first samples of the hit are in this frame: its strength would be
                # a sliver of the real one, so publish it with the next frame
                self._deferred_onset_s, self._deferred_low = onset_s, low_flux
            else:
                self._on_onset(onset_s, flux, low_flux)
        # envelope for the tempo search; low bands count double so kicks outweigh hats
        self._env.push_one(flux + low_flux)
        self._frames += 1
        if self._frames % self._tempo_every == 0:
            self._update_tempo(t_end)

    def _on_onset(self, onset_s: float, flux: float, low_flux: float) -> None:
        f = self.features
        if onset_s - self._last_onset_s > self.config.beat_hold_s:
            self._active_since_s = onset_s  # music (re)starts after a silence
        self._last_onset_s = onset_s
        self._flux_peak = max(flux, 0.995 * self._flux_peak, 0.05)
        f.onset = True
        f.onset_strength = min(1.0, flux / self._flux_peak)
        f.onset_time_s = onset_s
        weight = flux + 2.0 * low_flux
        self._onset_times[self._onset_pos] = onset_s
        self._onset_weights[self._onset_pos] = weight
        self._onset_low[self._onset_pos] = low_flux
        self._onset_pos = (self._onset_pos + 1) % len(self._onset_times)
        self._grow_frames = self._grow_after_onset
        if self._locked and self._period_s > 0:
            # nudge the beat prediction towards an onset that is close to an expected beat;
            # the period trim integrates the same errors (a second-order loop), so a tempo
            # that drifts faster than the 6 s autocorrelation follows does not leave the beat
            # lagging
            period = self._beat_period_s()
            last = self._next_beat_s - period
            target = last if abs(onset_s - last) < abs(onset_s - self._next_beat_s) else (
                self._next_beat_s)
            error = onset_s - target
            if abs(error) < 0.15 * period:
                share = min(1.0, 0.3 + 2.0 * low_flux / max(flux, 1e-9))
                self._next_beat_s += self.config.onset_pull * share * error
                trim = self._trim + self.config.period_trim_pull * share * error / period
                self._trim = min(max(trim, -0.03), 0.03)

    def _locate_onset(self, t_end: float) -> float:
        """Time of the largest jump of high-passed energy within the last two hops."""
        span = len(self._hp)
        x = self._samples.view()[-span - 1:]
        np.subtract(x[1:], x[:-1], out=self._hp)
        np.square(self._hp, out=self._hp)
        e = self._seg_energy
        np.sum(self._hp.reshape(self._nseg, self._seg), axis=1, out=e)
        floor = 1e-9 * self._seg + 1e-3 * float(e.max())
        best, best_ratio = self._nseg - 1, 0.0
        before = float(e[0])
        for i in range(1, self._nseg):
            ratio = float(e[i]) / (before + floor)
            if ratio > best_ratio:
                best, best_ratio = i, ratio
            before = max(float(e[i]), 0.5 * before)
        return t_end - (span - best * self._seg) / self.samplerate

    # ------------------------------------------------------------------- tempo
    def _update_tempo(self, t_end: float) -> None:
        cfg = self.config
        silent = t_end - self._last_onset_s > cfg.beat_hold_s
        if t_end - self._last_onset_s > cfg.forget_after_s and self._hint_bpm is None:
            self._bpm = 0.0
            self._locked = False
        env = self._env.view()
        np.subtract(env, env.mean(), out=self._env_centered)
        np.fft.rfft(self._env_centered, n=self._nfft, out=self._env_spec)
        np.multiply(self._env_spec, self._env_spec.conj(), out=self._env_spec)
        np.fft.irfft(self._env_spec, n=self._nfft, out=self._acf)
        np.multiply(self._acf, self._unbias, out=self._acf)
        r0 = float(self._acf[0])
        if silent or r0 <= 1e-9:
            self._confidence *= 0.8
            return
        acf = self._acf / r0
        acf[1:-1] = 0.25 * acf[:-2] + 0.5 * acf[1:-1] + 0.25 * acf[2:]
        # quarter-frame steps: at the 7th multiple an integer lag is already frames off
        lags = self._lag_grid
        score = self._comb(acf, lags)
        bpms = 60.0 * self.frame_rate / lags
        centre, width = cfg.prior_bpm, cfg.prior_octaves
        if self._hint_bpm is not None:
            centre, width = self._hint_bpm, 0.03
        prior = np.exp(-0.5 * (np.log2(bpms / centre) / width) ** 2)
        best = int(np.argmax(score * prior))
        lag = float(lags[best])
        # octave check on the onsets folded at the slower of the two periods: when what falls
        # half-way between its beats is nearly as strong as what falls on them, the pulse is
        # the faster tempo (a click train); accented beats keep the slower one (kick and snare
        # with eighth-note hats). The autocorrelation alone cannot tell: r(T/2) ~ 2kh/(k²+h²)
        # is already 0.8 for hats half as strong as the kick.
        if self._hint_bpm is None:
            half, double = lag / 2, lag * 2
            if half >= self._lag_lo:
                if self._offbeat_ratio(lag / self.frame_rate, t_end) >= cfg.octave_ratio:
                    lag = half
            elif double <= self._lag_hi:
                if self._offbeat_ratio(double / self.frame_rate, t_end) < cfg.octave_ratio:
                    lag = double
        lag, peak = self._refine(acf, lag)
        bpm = 60.0 * self.frame_rate / lag
        # a clean periodic envelope scores ~0.45-0.5 above the typical lag; noise ~0.02
        contrast = peak - max(float(np.median(score)), 0.0)
        confidence = min(1.0, max(0.0, contrast / 0.5))
        self._confidence += 0.3 * (confidence - self._confidence)
        if self._bpm == 0.0 and (self._confidence < cfg.min_confidence
                                 or t_end - self._active_since_s < cfg.first_estimate_after_s):
            return  # a first guess from a second of music sticks: wait for a few bars
        self._propose(bpm)
        if self._bpm > 0:
            self._lock_phase(t_end)

    def _comb(self, acf: np.ndarray, lags: np.ndarray) -> np.ndarray:
        """Mean autocorrelation at every multiple of each (fractional) lag up to the comb span.

        A fixed span rather than a fixed number of multiples: a period 1.5 times the beat
        then cannot win on the strong bar-length lags alone.
        """
        positions = self._multiples[:, None] * lags[None, :]
        inside = positions <= self._comb_span
        inside[0] = True
        values = np.interp(np.minimum(positions, self._env.size - 1), self._lag_axis, acf)
        return (values * inside).sum(axis=0) / inside.sum(axis=0)

    def _refine(self, acf: np.ndarray, lag: float) -> tuple[float, float]:
        """Best fractional lag within half a frame of ``lag`` and its score."""
        grid = lag + np.linspace(-0.5, 0.5, 51)
        scores = self._comb(acf, grid)
        i = int(np.argmax(scores))
        return float(grid[i]), float(scores[i])

    def _propose(self, bpm: float) -> None:
        cfg = self.config
        if self._bpm == 0.0:
            self._set_tempo(bpm)
            return
        if abs(bpm / self._bpm - 1.0) <= cfg.agree_ratio:
            self._set_tempo(self._bpm + 0.3 * (bpm - self._bpm), keep_trim=True)
            self._pending_count = 0
            return
        if self._pending_count and abs(bpm / self._pending_bpm - 1.0) <= cfg.agree_ratio:
            self._pending_count += 1
            self._pending_bpm += 0.5 * (bpm - self._pending_bpm)
        else:
            self._pending_bpm, self._pending_count = bpm, 1
        if self._pending_count >= self._switch_count:
            self._set_tempo(self._pending_bpm)
            self._pending_count = 0
            self._locked = False  # new tempo: take the phase from the onset histogram

    def _set_tempo(self, bpm: float, keep_trim: bool = False) -> None:
        self._bpm = bpm
        self._period_s = 60.0 / bpm
        if not keep_trim:
            self._trim = 0.0

    def _beat_period_s(self) -> float:
        return self._period_s * (1.0 + self._trim)

    def _fold(self, period_s: float, t_end: float, window_s: float, low: bool = False):
        """Recent onsets folded at ``period_s``: (phases, weights, smoothed 24-bin histogram).

        ``low`` weighs each onset by its low-band flux only (where the kick is).
        """
        recent = self._onset_times > t_end - window_s
        if recent.sum() < 3:
            return None
        times = self._onset_times[recent]
        strength = (self._onset_low if low else self._onset_weights)[recent]
        weights = strength * (1.0 - 0.5 * (t_end - times) / window_s)
        phases = np.mod(times, period_s) / period_s
        hist = np.bincount((phases * 24).astype(int) % 24, weights, 24)
        return phases, weights, hist + 0.5 * (np.roll(hist, 1) + np.roll(hist, -1))

    def _offbeat_ratio(self, period_s: float, t_end: float) -> float:
        """How strong the opposite phase is relative to the strongest phase, in all bands or
        in the low bands alone (a kick on every beat under a kick-snare accent pattern)."""
        ratios = [0.0]
        for low in (False, True):
            folded = self._fold(period_s, t_end, self.config.tempo_window_s, low)
            if folded is None:
                continue
            hist = folded[2]
            peak = int(np.argmax(hist))
            if hist[peak] <= 1e-6:
                continue
            opposite = max(float(hist[(peak + 12 + d) % 24]) for d in (-1, 0, 1))
            ratios.append(opposite / max(float(hist[peak]), 1e-9))
        return max(ratios)

    def _lock_phase(self, t_end: float) -> None:
        """Pull the beat prediction towards the strongest phase of recent onsets."""
        cfg, period = self.config, self._beat_period_s()
        folded = self._fold(period, t_end, cfg.phase_window_s)
        if folded is None:
            return
        phases, weights, smooth = folded
        bins = len(smooth)
        centre = (int(np.argmax(smooth)) + 0.5) / bins
        offset = (phases - centre + 0.5) % 1.0 - 0.5
        near = np.abs(offset) < 0.1
        centre += float(np.sum(offset[near] * weights[near]) / max(weights[near].sum(), 1e-9))
        beat_ref = centre * period
        if not self._locked:
            self._next_beat_s = beat_ref + math.ceil((t_end - beat_ref) / period) * period
            self._locked = True
            return
        error = (self._next_beat_s - beat_ref + 0.5 * period) % period - 0.5 * period
        self._next_beat_s -= cfg.histogram_pull * error

    # ------------------------------------------------------------------- beats
    def _advance_beats(self, t_end: float) -> None:
        f, cfg = self.features, self.config
        f.bpm = self._bpm
        f.confidence = self._confidence
        if not self._locked or self._period_s <= 0:
            f.phase = 0.0
            return
        period = self._beat_period_s()
        active = t_end - self._last_onset_s <= cfg.beat_hold_s and (
            self._confidence >= cfg.min_confidence or self._hint_bpm is not None)
        if self._next_beat_s < t_end - 4 * period:  # after a long gap: skip, do not burst
            self._next_beat_s += math.floor((t_end - self._next_beat_s) / period) * period
        while self._next_beat_s <= t_end:
            if active:
                f.beat = True
                f.beat_time_s = self._next_beat_s
            self._next_beat_s += period
        f.phase = min(max(1.0 - (self._next_beat_s - t_end) / period, 0.0), 0.999999)


def open_audio_file(path: str | Path) -> soundfile.SoundFile:
    """Open a wav/flac/... file for streaming, or :class:`AudioFileError` saying why not.

    Only a regular file (``live.safeio``: a FIFO would block, a device never end); it must hold
    samples, at a rate the analysis can use. The caller closes it (a context manager).
    """
    import soundfile

    from live.safeio import check_regular

    check_regular(path)
    try:
        sound = soundfile.SoundFile(str(path))
    except (RuntimeError, soundfile.SoundFileError) as exc:
        raise AudioFileError(f"not a readable audio file ({exc})") from None
    problem = None
    if sound.frames <= 0:
        problem = "no samples (the file has a header and no audio)"
    elif not MIN_SAMPLERATE_HZ <= sound.samplerate <= MAX_SAMPLERATE_HZ:
        problem = (f"sample rate {sound.samplerate} Hz is outside {MIN_SAMPLERATE_HZ}.."
                   f"{MAX_SAMPLERATE_HZ} Hz; convert it first (e.g. ffmpeg -i IN -ar 48000 "
                   "OUT.wav)")
    if problem:
        sound.close()
        raise AudioFileError(problem)
    return sound


def file_blocks(sound: soundfile.SoundFile, blocksize: int, samplerate: int | None = None,
                pad: bool = False) -> Iterator[np.ndarray]:
    """The file from its current position in blocks of ``blocksize`` frames, float32 of shape
    (frames, channels), resampled to ``samplerate`` if given. The last block is shorter, or
    with ``pad`` filled up with silence (a sound card only delivers whole blocks).

    Every block is a view into one reused buffer, valid until the next one: copy it to keep
    it. Memory stays the same however long the file is.
    """
    if samplerate is None or samplerate == sound.samplerate:
        # several blocks per read: each read is a call into libsndfile that costs about
        # as much as the callback itself
        chunk = np.zeros((blocksize * max(1, 8192 // blocksize), sound.channels), np.float32)
        while True:
            got = len(sound.read(dtype="float32", always_2d=True, out=chunk))
            for start in range(0, got, blocksize):
                end = start + blocksize
                if end > got and pad:
                    chunk[got:end] = 0.0
                yield chunk[start:min(end, got) if not pad else end]
            if got < len(chunk):
                return
    buffer = np.zeros((blocksize, sound.channels), np.float32)
    filled = 0
    for chunk in _resampled(sound, samplerate):
        pos = 0
        while pos < len(chunk):
            take = min(blocksize - filled, len(chunk) - pos)
            buffer[filled:filled + take] = chunk[pos:pos + take]
            filled, pos = filled + take, pos + take
            if filled == blocksize:
                yield buffer
                filled = 0
    if filled:
        if pad:
            buffer[filled:] = 0.0
        yield buffer if pad else buffer[:filled]


def _resampled(sound: soundfile.SoundFile, target_rate: int,
               chunk_frames: int = 4096) -> Iterator[np.ndarray]:
    """Linear-interpolation resampling (good enough for analysis, not for listening), read
    and produced in chunks. Output frame k sits at input position k * source / target; the
    last input frame of each chunk is carried into the next so no position falls between."""
    ratio = sound.samplerate / target_rate
    remaining = sound.frames - sound.tell()
    total = round(remaining / ratio)
    carried: np.ndarray | None = None
    first = 0  # input index (from the start position) of the first frame in ``data``
    done = 0  # output frames produced
    while done < total:
        data = sound.read(chunk_frames, dtype="float32", always_2d=True)
        at_end = len(data) < chunk_frames
        if carried is not None:
            data = np.concatenate([carried, data])
        if len(data) == 0:
            return
        last_index = first + len(data) - 1
        if at_end:  # the frames really read, not what a (possibly lying) header claimed
            total = min(total, round((last_index + 1) / ratio))
        # past the last input frame (the final output frames) the last sample holds
        end = total if at_end else min(total, math.floor(last_index / ratio) + 1)
        positions = np.arange(done, end) * ratio - first
        axis = np.arange(len(data))
        yield np.stack([np.interp(positions, axis, data[:, c]) for c in range(data.shape[1])],
                       axis=1).astype(np.float32)
        done = end
        if at_end:
            return
        carried = data[-1:]
        first = last_index


class _Quantiles:
    """Quantiles of a stream of positive values from a log-spaced histogram: fixed memory
    however many values, each quantile within ``relative_step`` of the exact one."""

    def __init__(self, low: float, high: float, relative_step: float) -> None:
        self.low = low
        self.log_step = math.log1p(relative_step)
        self.counts = np.zeros(math.ceil(math.log(high / low) / self.log_step) + 1, np.int64)
        self.n = 0

    def add(self, value: float) -> None:
        index = 0 if value <= self.low else int(math.log(value / self.low) / self.log_step)
        self.counts[min(index, len(self.counts) - 1)] += 1
        self.n += 1

    def quantile(self, q: float) -> float:
        """As ``np.percentile(values, 100 * q)`` (linear between the two nearest ranks)."""
        cumulative = np.cumsum(self.counts)
        position = (self.n - 1) * q
        below, above = (self._value(cumulative, k) for k in (math.floor(position),
                                                             math.ceil(position)))
        return below + (position - math.floor(position)) * (above - below)

    def _value(self, cumulative: np.ndarray, k: int) -> float:
        """The k-th smallest value (from 0), to the histogram's resolution."""
        index = int(np.searchsorted(cumulative, k + 1))
        return self.low * math.exp((index + 0.5) * self.log_step)


def analyze_file(path: str | Path, samplerate: int | None = None, blocksize: int = 256,
                 config: AnalyzerConfig | None = None) -> dict:
    """Run the streaming :class:`Analyzer` over a wav/flac file block by block.

    ``samplerate`` resamples the file first (linear interpolation) when it differs from the
    file's rate. Returns bpm (final), bpm_median (median of the non-zero estimates over the
    second half), confidence, onsets and beats in seconds, the onset latency p50 (end of the
    publishing block minus the estimated onset time) and the measured cost per block (p50 and
    p99: the blocks that run a tempo update are the expensive ones). The file is streamed:
    memory is the same for a minute or ten hours (only the onset and beat lists grow).
    Refuses (``AudioFileError``, ``FileReadError``, a ``ValueError``) a file without samples,
    a rate or block size the analysis cannot use, and anything that is not a regular file.
    """
    if not MIN_BLOCKSIZE <= blocksize <= MAX_BLOCKSIZE:
        raise AudioFileError(
            f"block size {blocksize} is outside {MIN_BLOCKSIZE}..{MAX_BLOCKSIZE} frames")
    with open_audio_file(path) as sound:
        rate = int(samplerate or sound.samplerate)
        analyzer = Analyzer(rate, blocksize, config)  # refuses a rate it cannot use
        total = round(sound.frames * rate / sound.samplerate)
        onsets: list[float] = []
        beats: list[float] = []
        latencies_ms = _Quantiles(1e-3, 1e5, 1e-3)
        bpms = _Quantiles(10.0, 1000.0, 1e-4)
        cost_ns = _Quantiles(10.0, 1e11, 1e-3)
        blocks = 0
        start = 0
        for block in file_blocks(sound, blocksize, rate):
            t0 = time.perf_counter_ns()
            f = analyzer.process(block)
            cost_ns.add(time.perf_counter_ns() - t0)
            blocks += 1
            if f.onset:
                onsets.append(round(f.onset_time_s, 5))
                latencies_ms.add(1000.0 * (f.time_s - f.onset_time_s))
            if f.beat:
                beats.append(round(f.beat_time_s, 5))
            if start >= total // 2 and f.bpm > 0:
                bpms.add(f.bpm)
            start += len(block)
    f = analyzer.features
    return {
        "bpm": round(f.bpm, 2),
        "bpm_median": round(bpms.quantile(0.5), 2) if bpms.n else 0.0,
        "confidence": round(f.confidence, 3),
        "onsets": onsets,
        "beats": beats,
        "onset_latency_ms_p50": round(latencies_ms.quantile(0.5), 2) if latencies_ms.n
        else None,
        "blocks": blocks,
        "ms_per_block_p50": round(cost_ns.quantile(0.5) / 1e6, 4),
        "ms_per_block_p99": round(cost_ns.quantile(0.99) / 1e6, 4),
        "samplerate": rate,
        "duration_s": round(start / rate, 3),
    }

"""The live waveform and spectrum, for shaders that draw the sound (ISF audio inputs).

The analysis thread (live/control/audio_analysis.py) hands each analysed frame's samples and
power spectrum to ``update``; the render thread reads ``waveform`` and ``spectrum`` and
uploads them as textures (live/render/isf/host.py). Two buffers take turns, so the renderer
reads a whole frame while the next one is written; nothing is allocated after the first
update.

- ``waveform``: the newest ``samples`` samples, -1..1.
- ``spectrum``: ``bins`` magnitudes, 0..1, on a logarithmic frequency axis from
  ``LOW_HZ`` to the Nyquist frequency (a bass drum and a hi-hat get room alike), as
  ``DB_FLOOR``..``DB_CEILING`` dB of power mapped to 0..1.
"""

from __future__ import annotations

import numpy as np

LOW_HZ = 30.0
DB_FLOOR = -80.0
DB_CEILING = -10.0


class AudioScope:
    def __init__(self, samples: int = 512, bins: int = 256) -> None:
        self._waves = np.zeros((2, samples), np.float32)
        self._spectra = np.zeros((2, bins), np.float32)
        self._front = 0
        self._bin_index: np.ndarray | None = None
        self._bin_key: tuple[int, int] | None = None
        """(spectrum length, samplerate) that ``_bin_index`` was made for."""
        self._picked = np.zeros(bins, np.float32)
        self.updates = 0

    @property
    def waveform(self) -> np.ndarray:
        return self._waves[self._front]

    @property
    def spectrum(self) -> np.ndarray:
        return self._spectra[self._front]

    def _bins(self, length: int, samplerate: int) -> np.ndarray:
        """FFT bin per output bin (log-spaced), made when the spectrum's length or the
        samplerate changes (a stream reopened at another rate, another analysis window)."""
        if self._bin_index is None or self._bin_key != (length, samplerate):
            self._bin_key = (length, samplerate)
            nyquist = samplerate / 2.0
            bins = len(self._picked)
            hz = LOW_HZ * (nyquist / LOW_HZ) ** (np.arange(bins) / max(bins - 1, 1))
            self._bin_index = np.clip(np.round(hz / nyquist * (length - 1)), 0,
                                      length - 1).astype(np.intp)
        return self._bin_index

    def update(self, samples: np.ndarray, power: np.ndarray, samplerate: int) -> None:
        """Analysis thread: ``samples`` the newest window (mono), ``power`` its power
        spectrum (rfft bins, normalised so a full-scale sine is about 1)."""
        back = 1 - self._front
        wave = self._waves[back]
        n = min(len(wave), len(samples))
        wave[:len(wave) - n] = 0.0
        wave[len(wave) - n:] = samples[len(samples) - n:]
        np.clip(wave, -1.0, 1.0, out=wave)
        spectrum = self._spectra[back]
        np.take(power, self._bins(len(power), samplerate), out=self._picked)
        np.maximum(self._picked, 1e-12, out=self._picked)
        np.log10(self._picked, out=spectrum)
        spectrum *= 10.0
        spectrum -= DB_FLOOR
        spectrum *= 1.0 / (DB_CEILING - DB_FLOOR)
        np.clip(spectrum, 0.0, 1.0, out=spectrum)
        np.nan_to_num(spectrum, copy=False)
        self._front = back
        self.updates += 1

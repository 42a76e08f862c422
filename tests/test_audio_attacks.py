"""Attacks on the audio input (issue 11, hole 6, and the PortAudio first run).

Hostile samples (1e20, inf, NaN, a huge DC, denormals) must leave every feature finite and in
range and the analysis working afterwards, through the analyser and through a running show;
``live analyze`` refuses files and sizes it cannot use with one line and exit 2 and streams
the file in blocks; without the PortAudio library the show says what to install.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile

from live.control.audio_analysis import INPUT_LIMIT, Analyzer, analyze_file
from tests.test_audio_analysis import (
    BEAT_TOLERANCE_S,
    BLOCK,
    ONSET_TOLERANCE_S,
    SR,
    TEMPO_TOLERANCE,
    beat_errors,
    drum_pattern,
    f_measure,
)

RANGES = {"level": (0.0, 1.0), "bass": (0.0, 1.0), "mid": (0.0, 1.0), "high": (0.0, 1.0),
          "onset_strength": (0.0, 1.0), "phase": (0.0, 1.0), "confidence": (0.0, 1.0),
          "bpm": (0.0, 1000.0)}
"""Every published feature and its documented range (bpm: 0 when unknown)."""


def assert_features_sane(f, after: str = "") -> None:
    for name, (low, high) in RANGES.items():
        value = getattr(f, name)
        assert math.isfinite(value) and low <= value <= high, (name, value, f.time_s, after)
    assert math.isfinite(f.time_s) and math.isfinite(f.onset_time_s)
    assert math.isfinite(f.beat_time_s)


def hostile_blocks() -> list[tuple[str, np.ndarray]]:
    """Blocks a broken driver, a bad cable or a crafted file could deliver."""
    rng = np.random.default_rng(5)
    music = (0.1 * rng.standard_normal(BLOCK)).astype(np.float32)
    attacks = []
    for name, value in (("1e20", 1e20), ("-1e20", -1e20), ("inf", np.inf),
                        ("-inf", -np.inf), ("nan", np.nan), ("max float32", 3.4e38)):
        block = music.copy()
        block[17] = value
        attacks.append((f"one sample of {name}", block))
    attacks.append(("a block of inf", np.full(BLOCK, np.inf, np.float32)))
    attacks.append(("a block of NaN", np.full(BLOCK, np.nan, np.float32)))
    attacks.append(("inf and -inf in two channels",
                    np.stack([np.full(BLOCK, np.inf), np.full(BLOCK, -np.inf)], axis=1)))
    attacks.append(("float64 1e300", np.full(BLOCK, 1e300)))
    attacks += [("huge DC", np.full(BLOCK, 1e6, np.float32))] * 200  # ~1 s
    attacks += [("denormals", np.full(BLOCK, 1e-41, np.float32))] * 200
    attacks += [("alternating +-1e30", np.tile(np.float32([1e30, -1e30]), BLOCK // 2))] * 20
    return attacks


def test_any_input_keeps_features_finite_and_the_analysis_recovers():
    """Music, every hostile block, then music again: features stay finite and in range
    throughout, and onsets, tempo and beats work again on the music after the attack."""
    first, _, _ = drum_pattern(124.0, 6.0, seed=21)
    after, truth, beats_truth = drum_pattern(124.0, 14.0, seed=22)
    analyzer = Analyzer(SR, BLOCK)
    for start in range(0, len(first), BLOCK):
        assert_features_sane(analyzer.process(first[start:start + BLOCK]))
    for name, block in hostile_blocks():
        assert_features_sane(analyzer.process(block), after=name)
    attack_end = analyzer.features.time_s
    onsets, beats, levels = [], [], []
    for start in range(0, len(after), BLOCK):
        f = analyzer.process(after[start:start + BLOCK])
        assert_features_sane(f)
        levels.append(f.level)
        if f.onset:
            onsets.append(f.onset_time_s - attack_end)
        if f.beat:
            beats.append(f.beat_time_s - attack_end)
    assert analyzer.resets == 0  # sanitised at the door: no state ever went non-finite
    assert f_measure(np.array(onsets), truth, ONSET_TOLERANCE_S) >= 0.85
    assert f.bpm == pytest.approx(124.0, rel=TEMPO_TOLERANCE)
    late = np.array([b for b in beats if b > 8.0])
    assert len(late) >= 8
    assert np.median(beat_errors(late, beats_truth)) < BEAT_TOLERANCE_S
    # the levels came back too (the clipped DC had pushed the automatic gain's peak up)
    assert max(levels[-3 * SR // BLOCK:]) > 0.5


def test_samples_are_clipped_and_non_finite_ones_silenced():
    analyzer = Analyzer(SR, BLOCK)
    block = np.float32([1e20, -1e20, np.inf, -np.inf, np.nan, 0.5, 1e-41, -3.0] * 32)
    mono = block.copy()
    analyzer._sanitise(mono)
    assert mono[:8].tolist() == [INPUT_LIMIT, -INPUT_LIMIT, 0.0, 0.0, 0.0, 0.5, 0.0,
                                 -INPUT_LIMIT]


def test_a_state_gone_non_finite_is_reset_and_works_again(caplog):
    """The second line of defence: whatever made a running value NaN, it does not stay."""
    signal, truth, _ = drum_pattern(124.0, 10.0, seed=23)
    analyzer = Analyzer(SR, BLOCK)
    analyzer.set_tempo_hint(124.0)
    held = analyzer.features
    for start in range(0, 2 * SR, BLOCK):
        analyzer.process(signal[start:start + BLOCK])
    analyzer._flux_sum = math.nan
    analyzer._gains[1].peak = math.inf
    analyzer._next_beat_s = math.nan
    f = analyzer.process(signal[2 * SR:2 * SR + BLOCK])
    assert f is held  # callers keep the same features object
    assert_features_sane(f)
    assert analyzer.resets == 1
    assert f.time_s == pytest.approx((2 * SR + BLOCK) / SR)  # the clock goes on
    assert f.bpm == 124.0  # the tempo hint survives the reset
    assert any("non-finite" in r.getMessage() for r in caplog.records)
    onsets = []
    for start in range(2 * SR + BLOCK, len(signal), BLOCK):
        f = analyzer.process(signal[start:start + BLOCK])
        assert_features_sane(f)
        if f.onset:
            onsets.append(f.onset_time_s)
    later = truth[truth > 2.2]
    assert f_measure(np.array(onsets), later, ONSET_TOLERANCE_S) >= 0.85
    assert analyzer.resets == 1


def attack_file(path: Path, seconds: float = 16.0, attack_s: float = 4.0) -> None:
    """A 124 BPM groove, float WAV, with hostile samples and a DC burst at ``attack_s``."""
    from live.soak import write_groove

    write_groove(path, seconds=seconds, bpm=124.0)
    data, rate = soundfile.read(path, dtype="float32")
    i = int(attack_s * rate)
    data[i:i + 6] = [1e20, -1e20, np.inf, -np.inf, np.nan, 3.4e38]
    data[i + rate // 10:i + rate // 2] = 1e6  # 0.4 s of a huge DC
    data[i + rate // 2:i + rate] = 1e-41  # 0.5 s of denormals
    soundfile.write(path, data, rate, subtype="FLOAT")


def test_a_running_show_survives_hostile_samples_in_its_audio_input(small_config, tmp_path):
    """The attack that ended the show (NaN into the walk): the file input, the analysis
    thread, the publisher, the modulation and the render loop all run through it, and the
    tempo follows the music again afterwards."""
    from tests.conftest import quiet_show, run_while, wait_for

    path = tmp_path / "attack.wav"
    attack_file(path, seconds=40.0, attack_s=3.0)  # the test stops once the tempo is back
    engine, surface = quiet_show(small_config, audio_file=path)
    seen: list = []
    frames_before = []

    def recovered():
        latest = surface.publisher.latest
        if latest is None:
            return False
        seen.append(latest.copy())
        return (latest.time_s > 9.0 and latest.bpm > 0
                and abs(engine.bus.get("tempo.bpm") - 124.0) < 2.5)

    def actions():
        assert wait_for(lambda: surface.publisher.latest is not None
                        and surface.publisher.latest.time_s > 3.5, timeout=60)
        frames_before.append(engine.frames.count)
        assert wait_for(recovered, timeout=80, step=0.01)
        assert wait_for(lambda: engine.frames.count > frames_before[0] + 10, timeout=30)

    try:
        run_while(engine, actions, timeout=150)
    finally:
        surface.close()
    for f in seen:
        assert_features_sane(f)
    for name in ("audio.level", "audio.bass", "audio.phase", "audio.bpm"):
        assert math.isfinite(engine.sources[name])
    assert math.isfinite(engine.bus.get("tempo.bpm"))
    assert surface.audio.failures == 0 and surface.analyzer.resets == 0


# ------------------------------------------------------------------------ live analyze
def analyze(capsys, *args: str) -> tuple[int, str]:
    from live.cli import main

    code = main(["analyze", *args])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def test_analyze_refuses_what_it_cannot_use_with_one_line(tmp_path, capsys):
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros((0, 1), np.float32), 48000)
    slow = tmp_path / "one-hertz.wav"
    soundfile.write(slow, np.zeros((100, 1), np.float32), 1)
    fine = tmp_path / "fine.wav"
    soundfile.write(fine, np.zeros((4800, 1), np.float32), 48000)
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all\n")
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)  # would block a reader for ever
    cases = [
        ((f"--audio-file={empty}",), "no samples"),
        ((f"--audio-file={slow}",), "sample rate 1 Hz is outside 8000..384000 Hz"),
        ((f"--audio-file={fine}", "--blocksize", "-5"), "--blocksize -5: expected 16..65536"),
        ((f"--audio-file={fine}", "--blocksize", "10000000"), "--blocksize 10000000"),
        ((f"--audio-file={fine}", "--blocksize", "0"), "--blocksize 0"),
        ((f"--audio-file={text}",), "not a readable audio file"),
        ((f"--audio-file={fifo}",), "FIFO"),
        ((f"--audio-file={tmp_path / 'none.wav'}",), "no such file"),
        ((f"--audio-file={tmp_path}",), "a directory"),
    ]
    for args, expected in cases:
        code, output = analyze(capsys, *args)
        assert code == 2, (args, output)
        assert expected in output, (args, output)
        assert "Traceback" not in output and "Warning" not in output
        assert len(output.strip().splitlines()) == 1, output
    code, output = analyze(capsys, f"--audio-file={fine}", "--blocksize", "16", "--json")
    assert code == 0, output
    code, output = analyze(capsys, f"--audio-file={fine}", "--blocksize", "65536", "--json")
    assert code == 0, output


def traced_peak(run) -> int:
    """Peak bytes Python and numpy allocated while ``run()`` ran."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_analyze_streams_the_file_in_blocks(tmp_path, capsys):
    """Six times more audio costs no more memory: the analysis, its resampling and the
    callback measurement hold a block at a time (reading it whole took 924 MB an hour)."""
    from live.soak import write_groove

    paths = {}
    for seconds in (1, 4, 24):
        path = paths[seconds] = tmp_path / f"{seconds}s.wav"
        write_groove(path, seconds=float(seconds), bpm=124.0)
        mono, rate = soundfile.read(path, dtype="float32")
        soundfile.write(path, np.stack([mono, mono], axis=1), rate, subtype="FLOAT")
    decoded_growth = 2 * 4 * (24 - 4) * rate  # what reading the files whole would add
    assert analyze(capsys, f"--audio-file={paths[1]}")[0] == 0  # imports and caches
    outputs = {}

    def cli(seconds):
        outputs[seconds] = analyze(capsys, f"--audio-file={paths[seconds]}", "--json")

    short, long = traced_peak(lambda: cli(4)), traced_peak(lambda: cli(24))
    assert outputs[4][0] == 0 and outputs[24][0] == 0, outputs
    assert '"bpm": 12' in outputs[24][1]
    assert long - short < decoded_growth / 10, (short, long, decoded_growth)
    short = traced_peak(lambda: analyze_file(paths[4], samplerate=32000))
    long = traced_peak(lambda: analyze_file(paths[24], samplerate=32000))
    assert long - short < decoded_growth / 10, (short, long, decoded_growth)


# ------------------------------------------------------------------------ PortAudio absent
FAKE_SOUNDDEVICE = """raise OSError("PortAudio library not found")  # as sounddevice does\n"""


def without_portaudio(tmp_path: Path, repo: Path) -> dict[str, str]:
    """An environment whose ``import sounddevice`` fails exactly as it does on a machine
    without the library (sounddevice raises this OSError at import)."""
    shadow = tmp_path / "no-portaudio"
    shadow.mkdir()
    (shadow / "sounddevice.py").write_text(FAKE_SOUNDDEVICE)
    return {**os.environ, "PYTHONPATH": f"{shadow}{os.pathsep}{repo}",
            "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}


def test_without_portaudio_the_show_runs_silent_and_says_what_to_install(tmp_path, repo):
    script = textwrap.dedent("""
        import logging, time
        from live.config import AudioConfig
        from live.control.audio import AudioInput
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        audio = AudioInput(AudioConfig(), lambda rate, size: (lambda block: 0.0),
                           lambda features: None)
        audio.start()
        deadline = time.monotonic() + 30
        while audio.state != "silent" and time.monotonic() < deadline:
            time.sleep(0.02)
        audio.close()
        print("state", audio.state)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=without_portaudio(tmp_path, repo), cwd=repo, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "state silent" in proc.stdout
    assert "PortAudio library not found" in proc.stderr
    assert "sudo apt install libportaudio2" in proc.stderr
    assert "dnf install portaudio" in proc.stderr and "brew install portaudio" in proc.stderr


def test_portaudio_stream_test_skips_when_the_library_is_absent(tmp_path, repo):
    test = "tests/test_audio_input.py::test_real_portaudio_stream_through_alsa_file_plugin"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p",
                           "no:cacheprovider", test], capture_output=True, text=True,
                          env=without_portaudio(tmp_path, repo), cwd=repo, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 skipped" in proc.stdout, proc.stdout
    assert "PortAudio library not found" in proc.stdout
    assert "libportaudio2" in proc.stdout

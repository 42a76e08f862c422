"""Audio input: the ring buffer, a real PortAudio stream fed by ALSA's file plugin, recovery
when the stream fails, file input, and a missing device."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from live.config import AudioConfig
from live.control.audio import AudioInput, Ring
from tests.conftest import wait_for

RATE = 48000


def test_ring_wraps_and_counts_overruns():
    ring = Ring(16)
    out = np.zeros(4, dtype=np.float32)
    assert not ring.pull(out)
    ring.push(np.arange(10, dtype=np.float32))
    assert ring.pull(out) and out.tolist() == [0, 1, 2, 3]
    ring.push(np.arange(10, 20, dtype=np.float32))  # wraps around the end
    got = []
    while ring.pull(out):
        got += out.tolist()
    assert got == list(range(4, 20)) and ring.lost == 0
    ring.push(np.arange(100, 140, dtype=np.float32))  # far more than fits: the oldest go
    assert ring.pull(out) and out.tolist() == [124, 125, 126, 127]
    assert ring.lost > 0


def collector():
    blocks: list[np.ndarray] = []

    def make(samplerate, blocksize):
        def process(block):
            blocks.append(block.copy())
            return float(np.abs(block).max())
        return process

    return blocks, make




def test_file_input_goes_through_the_same_path(tmp_path: Path):
    soundfile = pytest.importorskip("soundfile")
    t = np.arange(RATE // 2) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    path = tmp_path / "tone.wav"
    soundfile.write(path, np.stack([tone, tone], axis=1), RATE, subtype="FLOAT")
    blocks, make = collector()
    published = []
    audio = AudioInput(AudioConfig(blocksize=256), make, published.append, file=path,
                       loop=False)
    started = time.monotonic()
    audio.start()
    try:
        assert wait_for(lambda: audio.state == "ended", timeout=20)
        elapsed = time.monotonic() - started
    finally:
        audio.close()
    got = np.concatenate(blocks)[: len(tone)]
    np.testing.assert_allclose(got, tone, atol=1e-6)  # stereo averaged to mono, in order
    assert elapsed >= 0.4  # paced in real time (0.5 s of audio), not as fast as possible
    assert max(published) == pytest.approx(0.5, abs=1e-3)


def test_missing_device_runs_silent_and_features_fade(caplog):
    blocks, make = collector()
    published = []
    audio = AudioInput(AudioConfig(device="no such sound card 1234"), make, published.append)
    audio.start()
    try:
        assert wait_for(lambda: audio.state == "silent")
        assert wait_for(lambda: len(published) > 20)  # silence, at the real-time rate
    finally:
        audio.close()
    assert all(value == 0.0 for value in published)
    assert any("no input" in r.getMessage() for r in caplog.records)


ALSA_SCRIPT = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from live.config import AudioConfig
    from live.control.audio import AudioInput

    blocks, fail = [], {"armed": False, "done": False}

    def make(samplerate, blocksize):
        def process(block):
            blocks.append(block.copy())
            return 0.0
        return process

    audio = AudioInput(AudioConfig(blocksize=256), make, lambda f: None)
    original = audio._callback

    def flaky(indata, frames, t, status):
        if fail["armed"] and not fail["done"]:
            fail["done"] = True
            raise RuntimeError("simulated device error")
        original(indata, frames, t, status)

    audio._callback = flaky
    audio.start()
    deadline = time.monotonic() + 20
    while len(blocks) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    first = np.concatenate(blocks[:10]).tolist()
    fail["armed"] = True
    while audio.recoveries < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    seen = len(blocks)
    while len(blocks) < seen + 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    audio.close()
    print(json.dumps({"first": first, "device": audio.device_name,
                      "recoveries": audio.recoveries, "after": len(blocks) - seen}))
""")


def portaudio_missing() -> str | None:
    """Why no real PortAudio stream can run here, or None.

    sounddevice raises ``OSError("PortAudio library not found")`` at import when the system
    library is absent (``importorskip`` only skips an ImportError, so it would fail).
    """
    try:
        import sounddevice  # noqa: F401
    except ImportError:
        return "the sounddevice package is not installed"
    except OSError as exc:
        return (f"{exc}: install the system library (Debian/Ubuntu: apt install "
                "libportaudio2; Fedora: dnf install portaudio; macOS: brew install portaudio)")
    return None


def test_real_portaudio_stream_through_alsa_file_plugin(tmp_path: Path, repo: Path):
    """A real InputStream on ALSA's default device, which reads a raw file (design.md)."""
    missing = portaudio_missing()
    if missing:
        pytest.skip(missing)
    ramp = (np.arange(RATE * 2) % 20000).astype("<i2")
    raw = tmp_path / "in.raw"
    ramp.tofile(raw)
    (tmp_path / ".asoundrc").write_text(
        'pcm.!default { type asym; capture.pcm "plugfeed"; playback.pcm "null" }\n'
        'pcm.plugfeed { type plug; slave { pcm "feed"; format S16_LE; rate 48000; '
        'channels 1 } }\n'
        f'pcm.feed {{ type file; slave.pcm "null"; file "/dev/null"; infile "{raw}"; '
        'format "raw" }\n')
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo)}
    proc = subprocess.run([sys.executable, "-c", ALSA_SCRIPT], capture_output=True, text=True,
                          env=env, timeout=60, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # the right samples: the file's ramp, scaled from int16. The null slave does not pace in
    # real time and ALSA skips whole periods, so: the first block sample by sample, then every
    # sample a ramp value and the stream always moving forward through the file
    scaled = np.array(result["first"]) * 32768
    first = np.round(scaled).astype(int)
    assert first[:256].tolist() == list(range(256))
    np.testing.assert_allclose(scaled, first, atol=1e-3)
    assert (np.diff(first) > 0).all()
    # the stream raised once: it was closed, PortAudio re-initialised, the stream reopened
    assert result["recoveries"] == 1 and result["after"] >= 40


def features(**overrides):
    from types import SimpleNamespace

    values = dict(level=0.5, bass=0.7, mid=0.2, high=0.1, phase=0.25, bpm=128.0,
                  confidence=0.9, onset=False, onset_strength=0.0, beat=False)
    values.update(overrides)
    return SimpleNamespace(**values)


def test_publisher_feeds_sources_tempo_and_osc_out():
    import socket

    from pythonosc.osc_packet import OscPacket

    from live.control.audio import Publisher
    from live.modulation import SourceTable
    from live.params import Bus, Registry

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(2.0)
    bus, sources = Bus(Registry()), SourceTable()
    publish = Publisher(sources, bus, follow_tempo=True,
                        osc_out=f"127.0.0.1:{rx.getsockname()[1]}")
    publish(features(onset=True, onset_strength=0.6, beat=True))
    sources.step(0.0)
    assert sources["audio.bass"] == 0.7 and sources["audio.onset"] == 0.6
    assert sources.fired[sources.index["audio.beat"]]
    assert bus.get("tempo.bpm") == 128.0  # confident: the tempo follows
    data, _ = rx.recvfrom(65536)
    sent = {m.message.address: m.message.params for m in OscPacket(data).messages}
    assert sent["/live/audio/bass"] == [pytest.approx(0.7)]
    assert sent["/live/audio/onset"] == [pytest.approx(0.6)] and "/live/audio/beat" in sent
    # unsure, or just tapped: the tempo stays where it is
    publish.tapped_at = -1e9
    publish._last_bpm_publish = -1e9
    publish(features(bpm=90.0, confidence=0.2))
    assert bus.get("tempo.bpm") == 128.0
    publish.tapped_at = time.monotonic()
    publish(features(bpm=90.0))
    assert bus.get("tempo.bpm") == 128.0
    publish.close()
    rx.close()


def test_tap_tempo_follows_taps_and_forgets_after_a_pause():
    from live.control.tempo import TapTempo

    tap = TapTempo()
    assert tap.tap(10.0) is None  # one tap says nothing yet
    assert tap.tap(10.5) == pytest.approx(120.0)
    assert tap.tap(11.0) == pytest.approx(120.0)
    assert tap.tap(11.52) == pytest.approx(120.0)  # one late tap: the median holds
    assert tap.tap(20.0) is None  # a long pause starts afresh
    assert tap.tap(20.4) == pytest.approx(150.0)


def test_live_analyze_prints_json(tmp_path: Path, capsys):
    from live.cli import main
    from tests.test_surface import groove

    path = tmp_path / "groove.wav"
    groove(path, bpm=124.0, seconds=8.0)
    assert main(["analyze", "--audio-file", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert abs(result["bpm"] - 124.0) < 2.5
    assert len(result["onsets"]) >= 28 and len(result["beats"]) >= 6
    assert result["onset_latency_ms_p50"] <= 12.0
    assert result["callback_share_of_block_p99"] < 0.1
    assert main(["analyze", "--audio-file", str(tmp_path / "none.wav")]) == 2

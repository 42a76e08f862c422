"""NDI out for real, on loopback: our sender fed by a real frame tap on a real OpenGL context,
received by another process (live/output/ndiprobe.py on the NDI runtime cyndilib bundles).
The receiver gets the right size and nearly every frame, and the picture it gets is the
framebuffer's; a size change re-sets the format; a stuck or absent receiver never holds the
producer up; close() returns; a missing cyndilib is one warning and no output.

NDI is held to this machine by an NDI_CONFIG_DIR whose config looks for sources on 127.0.0.1
only (no mDNS). Every source name carries this process's id, so runs side by side do not
see each other's sources. Skipped where cyndilib or its runtime cannot load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from live.config import OutputConfig
from tests.conftest import REPO

SIZE = (96, 54)
OTHER_SIZE = (64, 48)
PROBE_TIMEOUT = 180.0
_names = iter(range(1000))


@pytest.fixture(scope="module")
def ndi(tmp_path_factory):
    """cyndilib, with NDI held to loopback for this process and the receivers it starts."""
    pytest.importorskip("cyndilib", reason="cyndilib (pip install 'live[ndi]') is not here")
    from live.output.ndi import loopback_config

    folder = tmp_path_factory.mktemp("ndi-config")
    loopback_config(folder)
    before = os.environ.get("NDI_CONFIG_DIR")
    os.environ["NDI_CONFIG_DIR"] = str(folder)
    try:
        from live.output import ndiruntime

        ndiruntime.load()
    except OSError as exc:
        pytest.skip(f"the NDI runtime cannot load here: {exc}")
    yield folder
    if before is None:
        os.environ.pop("NDI_CONFIG_DIR", None)
    else:
        os.environ["NDI_CONFIG_DIR"] = before


def _name() -> str:
    return f"live-test-{os.getpid()}-{next(_names)}"


def _output(name: str, fps: float = 30.0, queue: int = 3, backend: str = "runtime"):
    from live.output.ndi import NdiOutput

    cfg = OutputConfig(ndi=True, ndi_name=name, fps=fps, queue_frames=queue)
    return NdiOutput(name, cfg, backend=backend)


def _probe(name: str, tmp_path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "live.output.ndiprobe", "--source", name,
               "--seconds", str(PROBE_TIMEOUT), "--find-timeout", str(PROBE_TIMEOUT), *args]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=os.environ.copy())


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=PROBE_TIMEOUT + 60)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


class Picture:
    """A texture-backed framebuffer holding a picture that tells rows and columns apart."""

    def __init__(self, ctx, size: tuple[int, int]) -> None:
        width, height = size
        y, x = np.mgrid[0:height, 0:width]
        self.pixels = np.zeros((height, width, 4), np.uint8)
        self.pixels[..., 0] = 30 + x * 190 // max(width - 1, 1)   # red grows to the right
        self.pixels[..., 1] = 40 + y * 180 // max(height - 1, 1)  # green grows down
        self.pixels[..., 2] = 120
        self.pixels[..., 3] = 255
        self.size = size
        self.texture = ctx.texture(size, 4)
        self.framebuffer = ctx.framebuffer(color_attachments=[self.texture])

    def draw(self, gl_rows_bottom_up: bool) -> None:
        """Write the picture; ``gl_rows_bottom_up``: as a window holds it (GL row 0 is the
        bottom row), so the tap must flip it; otherwise row 0 on top as headless."""
        rows = self.pixels[::-1] if gl_rows_bottom_up else self.pixels
        self.texture.write(np.ascontiguousarray(rows).tobytes())

    def release(self) -> None:
        self.framebuffer.release()
        self.texture.release()


def _feed(ctx, output, picture: Picture, until, flip: bool = False, fps: float = 30.0,
          limit: float = PROBE_TIMEOUT) -> int:
    """The render thread's part: draw, capture, paced at ``fps`` until ``until()``."""
    frames = 0
    deadline = time.monotonic() + limit
    while not until() and time.monotonic() < deadline:
        picture.draw(gl_rows_bottom_up=flip)
        output.tap.capture(ctx, picture.framebuffer, picture.size, flip=flip)
        frames += 1
        time.sleep(1.0 / fps)
    return frames


@pytest.mark.parametrize("backend", ["runtime", "cyndilib"])
@pytest.mark.parametrize("flip", [False, True], ids=["headless", "window"])
def test_a_receiver_in_another_process_gets_the_framebuffer(ndi, ctx, tmp_path, flip, backend):
    name = _name()
    picture = Picture(ctx, SIZE)
    output = _output(name, backend=backend)
    output.start()
    proc = _probe(name, tmp_path, "--frames", "60", "--picture", str(tmp_path / "got.npy"),
                  "--rows", str(tmp_path / "rows.npy"))
    try:
        _feed(ctx, output, picture, until=lambda: proc.poll() is not None, flip=flip)
        result = _result(proc)
    finally:
        output.close()
        output.tap.release_gl()
        picture.release()
    assert result["error"] is None
    assert result["sizes"] == {f"{SIZE[0]}x{SIZE[1]}": result["frames"]}
    assert result["counted"] == 60
    assert result["fourcc"] == ["RGBX"] and result["frame_rates"] == ["30/1"]
    # nearly every frame composed while connected arrived (count within tolerance)
    assert result["frames_expected"] >= 60
    assert result["frames_received"] >= 0.9 * result["frames_expected"]
    got = np.load(tmp_path / "got.npy")
    assert got.shape == (SIZE[1], SIZE[0], 4)
    # NDI compresses (4:2:2, lossy): close, not equal; rows top down in both cases
    diff = np.abs(got[..., :3].astype(int) - picture.pixels[..., :3].astype(int))
    assert diff.mean() < 4.0, diff.mean()
    upside_down = np.abs(got[::-1, :, :3].astype(int) - picture.pixels[..., :3]).mean()
    assert upside_down > 10 * max(diff.mean(), 0.5)
    # every received frame carried its stamp: seq and composition time
    rows = np.load(tmp_path / "rows.npy")
    assert (rows[:, 0] >= 1).all() and (rows[:, 3] >= rows[:, 1]).all()
    stats = output.stats()
    assert stats["sent"] >= 60 and stats["source"].endswith(f"({name})")
    assert stats["latency_ms_p50"] is not None and stats["backend"] == backend


@pytest.mark.parametrize("backend", ["runtime", "cyndilib"])
def test_a_size_change_sets_the_new_format(ndi, ctx, tmp_path, backend):
    """The runtime backend keeps the source (the receiver stays connected); cyndilib's
    Sender has to be made again, and the receiver finds it again."""
    name = _name()
    first, second = Picture(ctx, SIZE), Picture(ctx, OTHER_SIZE)
    output = _output(name, backend=backend)
    output.start()
    proc = _probe(name, tmp_path, "--size", f"{OTHER_SIZE[0]}x{OTHER_SIZE[1]}",
                  "--frames", "20", "--picture", str(tmp_path / "got.npy"), "--idle-end", "60",
                  "--reconnect-after", "2")
    try:
        # the first size until the receiver has frames of it, then the second
        _feed(ctx, output, first, until=lambda: output.receivers > 0 and output.sent > 30)
        # (as a window gives it: rows bottom-up, flipped by the sender)
        _feed(ctx, output, second, until=lambda: proc.poll() is not None, flip=True)
        result = _result(proc)
    finally:
        output.close()
        output.tap.release_gl()
        first.release()
        second.release()
    assert result["counted"] == 20, result
    assert result["connects"] == 1 if backend == "runtime" else result["connects"] >= 1
    assert set(result["sizes"]) == {f"{SIZE[0]}x{SIZE[1]}", f"{OTHER_SIZE[0]}x{OTHER_SIZE[1]}"}
    got = np.load(tmp_path / "got.npy")
    assert got.shape == (OTHER_SIZE[1], OTHER_SIZE[0], 4)
    assert np.abs(got[..., :3].astype(int) - second.pixels[..., :3]).mean() < 4.0
    assert output.stats()["size"] == list(OTHER_SIZE)


def test_no_receiver_switches_the_tap_off(ndi, ctx):
    output = _output(_name())
    picture = Picture(ctx, SIZE)
    output.start()
    try:
        # the first frame opens the sender; with nobody connected the tap goes quiet
        _feed(ctx, output, picture, until=lambda: output.idle, limit=60)
        assert output.idle and not output.tap.active
        captured = output.tap.captured
        for _ in range(50):  # the render thread's capture is a no-op now
            picture.draw(gl_rows_bottom_up=False)
            output.tap.capture(ctx, picture.framebuffer, SIZE, flip=False)
        assert output.tap.captured == captured
        assert "no receivers" in output.hud_line()
    finally:
        output.close()
        output.tap.release_gl()
        picture.release()
    assert not output.running


def test_a_stuck_receiver_never_holds_the_producer(ndi, ctx, tmp_path):
    """A receiver that connects and takes nothing: the producer goes on at its own pace, the
    losses are counted, the tap's ring does not grow, and close() returns."""
    name = _name()
    picture = Picture(ctx, SIZE)
    output = _output(name, fps=30.0, queue=2)
    ready = tmp_path / "ready"
    output.start()
    proc = _probe(name, tmp_path, "--stall", "30", "--frames", "1", "--ready", str(ready))
    try:
        _feed(ctx, output, picture, until=lambda: ready.exists() and output.receivers > 0)
        produced = 0
        for _ in range(300):  # as fast as the loop goes: faster than anything can send
            picture.draw(gl_rows_bottom_up=False)
            output.tap.capture(ctx, picture.framebuffer, SIZE, flip=False)
            produced += 1
        assert produced == 300
        assert len(output.tap._free) <= output.tap.slots
        closer = threading.Thread(target=output.close)
        closer.start()
        closer.join(timeout=30)
        assert not closer.is_alive() and not output.running
    finally:
        output.close()
        output.tap.release_gl()
        picture.release()
        proc.kill()
        proc.communicate(timeout=60)
    stats = output.stats()
    assert stats["sent"] + stats["dropped"] <= output.tap.captured
    assert stats["sent"] >= 1


def test_close_is_prompt_while_frames_flow(ndi, ctx, tmp_path):
    name = _name()
    picture = Picture(ctx, SIZE)
    output = _output(name)
    output.start()
    proc = _probe(name, tmp_path, "--idle-end", "2")
    try:
        _feed(ctx, output, picture, until=lambda: output.receivers > 0 and output.sent > 20)
        assert "receiver" in output.hud_line()
        closer = threading.Thread(target=output.close)
        closer.start()
        while closer.is_alive():  # the render thread keeps capturing meanwhile
            picture.draw(gl_rows_bottom_up=False)
            output.tap.capture(ctx, picture.framebuffer, SIZE, flip=False)
            closer.join(timeout=0.02)
        assert not output.running
        assert output.tap.get(timeout=0) is None  # closed: nothing more for a consumer
        result = _result(proc)  # the receiver sees the source go and stops
    finally:
        output.close()
        output.tap.release_gl()
        picture.release()
        if proc.poll() is None:
            proc.kill()
    assert result["frames"] >= 1


def test_missing_cyndilib_is_one_warning_and_no_output():
    script = (
        "import logging, sys\n"
        "sys.modules['cyndilib'] = None  # as if not installed\n"
        "logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(message)s')\n"
        "from live.config import OutputConfig\n"
        "from live.output import open_outputs\n"
        "cfg = OutputConfig(ndi=True)\n"
        "print(len(open_outputs(cfg)), len(open_outputs(cfg, 'other')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "0"]
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, done.stderr
    assert "NDI" in warnings[0] and "pip install 'live[ndi]'" in warnings[0]


def test_outputs_follow_the_config(ndi):
    from live.output import frame_rate, open_outputs

    assert open_outputs(OutputConfig()) == []
    outputs = open_outputs(OutputConfig(ndi_name="from-config", fps=50.0, queue_frames=4),
                           ndi_name="")
    assert [o.kind for o in outputs] == ["NDI"] and outputs[0].name == "from-config"
    tap = outputs[0].tap
    assert (tap.components, tap.rate, tap.slots) == (4, 50.0, 4)
    named = open_outputs(OutputConfig(ndi=True), ndi_name="stage")
    assert named[0].name == "stage"
    assert str(frame_rate(59.94)) == "60000/1001" and str(frame_rate(25)) == "25"
    assert str(frame_rate(29.97)) == "30000/1001" and str(frame_rate(12.5)) == "25/2"
    for output in outputs + named:  # never started: close is still fine
        output.close()


def test_syphon_and_spout_elsewhere_are_a_warning_each(caplog, monkeypatch):
    """This machine is neither macOS nor Windows (where the two would run, untested here)."""
    import live.output as outputs

    if sys.platform in ("darwin", "win32"):
        pytest.skip("Syphon or Spout may run here")
    monkeypatch.setattr(outputs, "_warned", set())
    with caplog.at_level("WARNING", logger="live.output"):
        assert outputs.open_outputs(OutputConfig(syphon=True, spout=True)) == []
        assert outputs.open_outputs(OutputConfig(syphon=True, spout=True)) == []
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["Syphon out is off: Syphon runs on macOS only",
                        "Spout out is off: Spout runs on Windows only"]

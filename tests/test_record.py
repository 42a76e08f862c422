"""Recording under attack, with the real ffmpeg that imageio-ffmpeg ships: bad targets, a full
disk (a small tmpfs), ffmpeg killed or stalled, the show killed. What must hold: a bad target is
one line and exit 2; a failure stops the recording and nothing else; the file that remains
plays; and the count the log reports is the count a full decode finds."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from live.cli import _prepare, main
from live.engine import Engine
from live.render.record import Recorder, RecordPathError, check_record_path, count_frames
from tests.conftest import run_while, wait_for

SMALL = ["--set", "display.size=[320, 180]"]
NOISE = np.random.default_rng(0).integers(0, 256, (4, 180, 320, 3), dtype=np.uint8)
"""Frames x264 cannot compress: a small disk fills in a few of them."""


def decoded_frames(path: Path) -> int:
    """Frames a full decode of ``path`` yields (no duplicates for a constant rate): the truth
    the recorder's count is checked against."""
    done = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "quiet", "-nostdin", "-i", str(path),
         "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "null", "-", "-progress", "pipe:1"],
        capture_output=True, text=True, timeout=120)
    counts = re.findall(r"^frame=(\d+)$", done.stdout, flags=re.MULTILINE)
    return int(counts[-1]) if counts else 0


def children(parent: int, writing: Path | None = None) -> list[int]:
    """Pids of the child processes of ``parent`` (only those whose command line names
    ``writing``, when given)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and (writing is None or str(writing).encode() in cmdline):
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def small_disk(tmp_path):
    """A 600 kB tmpfs (root can mount one; skip where it cannot)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


# ---------------------------------------------------------------------------- bad targets
def bad_targets(tmp_path: Path) -> dict[str, Path]:
    a_file = tmp_path / "hostname"
    a_file.write_text("host\n")
    (tmp_path / "folder.mp4").mkdir()
    os.mkfifo(tmp_path / "pipe.mp4")
    return {
        "under a file": a_file / "x.mp4",
        "a folder": tmp_path,
        "a folder named .mp4": tmp_path / "folder.mp4",
        "a FIFO": tmp_path / "pipe.mp4",
        "/proc": Path("/proc/x.mp4"),
        "no extension": tmp_path / "x",
        "not a container": tmp_path / "x.txt",
    }


@pytest.mark.parametrize("case", ["under a file", "a folder", "a folder named .mp4", "a FIFO",
                                  "/proc", "no extension", "not a container"])
def test_bad_record_target_is_one_line_and_exit_2(tmp_path, capsys, case):
    target = bad_targets(tmp_path)[case]
    before = sorted(tmp_path.rglob("*"))
    assert main(["run", "--headless", "--frames", "1", "--record", str(target), *SMALL]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"live: cannot record to {target}:"), err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert sorted(tmp_path.rglob("*")) == before  # nothing was written on the way


def test_the_issues_literal_targets_are_refused():
    for target in ("/etc/hostname/x.mp4", "/proc/x.mp4", "/sys/x.mp4"):
        if target.startswith("/etc") and not Path("/etc/hostname").is_file():
            continue
        with pytest.raises(RecordPathError, match=re.escape(f"cannot record to {target}:")):
            check_record_path(Path(target))


def test_a_disk_already_full_is_refused_before_the_show_starts(small_disk, capsys):
    (small_disk / "filler").write_bytes(b"\0" * 500_000)
    out = small_disk / "show.mp4"
    assert main(["run", "--headless", "--frames", "1", "--record", str(out), *SMALL]) == 2
    assert capsys.readouterr().err.strip() == (
        f"live: cannot record to {out}: no space left on the disk of {small_disk}")


def test_a_good_target_is_checked_without_leaving_a_file(tmp_path):
    target = tmp_path / "new" / "folder" / "show.MOV"
    check_record_path(target)
    assert target.parent.is_dir() and not target.exists()


def test_a_bad_recordings_folder_at_run_time_is_logged_and_the_show_goes_on(
        small_config, tmp_path, caplog):
    a_file = tmp_path / "recordings"
    a_file.write_text("not a folder\n")
    cfg = replace(small_config, paths=replace(small_config.paths, recordings=str(a_file)))
    scene, model, choice = _prepare(cfg, None, None)
    engine = Engine(cfg, model, choice, scene, headless=True)

    def actions():
        engine.bus.set("show.record", True)  # what /live/show/record 1 and the v key do
        assert wait_for(lambda: "recording could not start" in caplog.text, timeout=60)
        shown = engine.frames.count
        assert wait_for(lambda: engine.frames.count > shown + 5, timeout=60)

    with caplog.at_level(logging.INFO):
        run_while(engine, actions)
    assert f"cannot record to {a_file}/live-" in caplog.text
    assert engine.recorder is None and engine.bus.get("show.record") == 0.0


# ------------------------------------------------------------------------------ containers
@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_each_container_holds_every_frame_and_plays_when_cut(tmp_path, suffix):
    out = tmp_path / f"clip{suffix}"
    recorder = Recorder(out, (320, 180), 60.0, drop_when_behind=False)
    for i in range(150):
        assert recorder.push(NOISE[i % len(NOISE)])
    recorder.close()
    assert recorder.error is None
    assert recorder.frames_on_disk == decoded_frames(out) == 150
    # cut where a crash or a full disk would: what was written before still plays
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(out.read_bytes()[: out.stat().st_size * 2 // 3])
    assert 0 < count_frames(cut) == decoded_frames(cut) < 150


# --------------------------------------------------------------------------------- failures
def test_full_disk_keeps_a_playable_file_and_reports_what_is_on_it(small_disk, caplog):
    out = small_disk / "show.mp4"
    recorder = Recorder(out, (320, 180), 60.0, drop_when_behind=False)
    with caplog.at_level(logging.INFO):
        for i in range(400):  # 400 noise frames are ~10x the disk; pushes end, never block
            if not recorder.push(NOISE[i % len(NOISE)]):
                break
        recorder.close()
    assert recorder.error is not None and "No space left on device" in recorder.error
    assert recorder.frames_written < 400  # it stopped, rather than encode into nothing
    playable = decoded_frames(out)
    assert playable > 0 and recorder.frames_on_disk == playable
    assert f"recording failed: {recorder.error}; {out} holds {playable} frames" in caplog.text
    assert f"recorded {recorder.frames_written} frames" not in caplog.text


def test_full_disk_in_a_show_exits_1_with_the_true_count(small_disk, caplog):
    out = small_disk / "show.mp4"
    # lossless x264: ~10 kB a frame of the real show, so the 600 kB disk fills in ~60
    with caplog.at_level(logging.INFO):
        code = main(["run", "--headless", "--frames", "150", "--record", str(out),
                     "--set", "record.quality=0", *SMALL])
    assert code == 1
    playable = decoded_frames(out)
    assert playable > 0
    assert re.search(rf"recording failed: .*No space left on device.*; {re.escape(str(out))} "
                     rf"holds {playable} frames", caplog.text), caplog.text
    assert "stopped after 150 frames" in caplog.text  # the show went on to the end


def test_ffmpeg_killed_mid_show_stops_the_recording_and_the_show_goes_on(
        small_config, tmp_path, caplog):
    cfg = replace(small_config, paths=replace(small_config.paths,
                                              recordings=str(tmp_path / "rec")))
    scene, model, choice = _prepare(cfg, None, None)
    engine = Engine(cfg, model, choice, scene, headless=True)
    seen = {}

    def actions():
        engine.bus.set("show.record", True)
        assert wait_for(lambda: engine.recorder is not None, timeout=60)
        recorder = seen["recorder"] = engine.recorder
        # 150 frames read by ffmpeg: at least one 1 s fragment is on the disk
        assert wait_for(lambda: recorder.frames_written >= 150, timeout=300)
        (pid,) = children(os.getpid(), recorder.path)
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: engine.recorder is None, timeout=60)
        shown = engine.frames.count
        assert wait_for(lambda: engine.frames.count > shown + 10, timeout=60)

    with caplog.at_level(logging.INFO):
        run_while(engine, actions, timeout=600)
    recorder = seen["recorder"]
    assert recorder.error is not None and engine.recording_error == recorder.error
    assert engine.bus.get("show.record") == 0.0  # the toggle follows (and echoes to OSC)
    playable = decoded_frames(recorder.path)
    assert playable > 0 and recorder.frames_on_disk == playable
    assert f"{recorder.path} holds {playable} frames" in caplog.text


def test_a_stalled_ffmpeg_costs_the_show_dropped_frames_not_a_stall(tmp_path):
    out = tmp_path / "stalled.mp4"
    recorder = Recorder(out, (320, 180), 60.0, queue_frames=8, drop_when_behind=True)
    (pid,) = children(os.getpid(), out)
    os.kill(pid, signal.SIGSTOP)
    try:
        accepted = sum(recorder.push(NOISE[i % len(NOISE)]) for i in range(60))
    finally:
        os.kill(pid, signal.SIGCONT)
    # the ring (8) and the frame the writer was in: the rest dropped, counted, at once
    assert accepted <= 9 and recorder.frames_dropped == 60 - accepted
    recorder.close()
    assert recorder.error is None and recorder.frames_on_disk == decoded_frames(out) == accepted


# ------------------------------------------------------------------------------- the show
def test_sigkill_of_the_show_and_its_ffmpeg_leaves_a_playable_mp4(tmp_path):
    out = tmp_path / "live.mp4"
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "live", "run", "--headless", "--record", str(out), *SMALL],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        # a whole fragment on the disk, whatever the machine's speed
        assert wait_for(lambda: out.is_file() and (count_frames(out) or 0) > 0, timeout=300)
    finally:
        # the OOM killer's way: ffmpeg and the show, no chance to finish anything
        for pid in children(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait(timeout=60)
    playable = decoded_frames(out)
    assert playable > 0 and count_frames(out) == playable


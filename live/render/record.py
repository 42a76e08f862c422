"""Recording to mp4/mov/mkv through ffmpeg on a writer thread, and PNG snapshots.

The render loop hands over a frame by copying it into one of a fixed ring of buffers and
queueing the slot number; the writer thread feeds ffmpeg's stdin. When the writer falls behind,
a live show drops the frame (and counts it) rather than stall; an offline render (``--headless
--frames N``) waits, so the file has every frame.

What must survive: a full disk, an I/O error, ffmpeg dying, SIGKILL. So the file is written as
it goes (fragmented mp4/mov: a self-contained fragment at least every second; Matroska: a
cluster at least every second), and a file cut at any point plays up to where it was cut. A
failure stops the recording and nothing else; ``close`` then counts the frames that are really
in the file and says so, never the number that was merely sent.

The path is checked before ffmpeg starts (``check_record_path``) so a bad ``--record`` is a
one-line message, not a broken pipe.
"""

from __future__ import annotations

import collections
import logging
import os
import queue
import re
import signal
import stat
import subprocess
import threading
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import numpy as np

log = logging.getLogger(__name__)

FRAGMENT_US = 1_000_000
"""Longest stretch of video held in ffmpeg's memory before it reaches the disk: what a crash of
ffmpeg itself can lose."""

_MOV_FRAGMENTS = ["-movflags", "+frag_keyframe+empty_moov+default_base_moof",
                  "-frag_duration", str(FRAGMENT_US)]
CONTAINERS: dict[str, list[str]] = {
    ".mp4": _MOV_FRAGMENTS,
    ".mov": _MOV_FRAGMENTS,
    ".mkv": ["-cluster_time_limit", str(FRAGMENT_US // 1000)],
}
"""Supported file extensions and the muxer options that make each readable when cut short."""

KEYFRAME_INTERVAL_S = 1.0
"""A keyframe this often: a fragment can start on one, and an editor can cut or seek there."""

MIN_FREE_BYTES = 256 * 1024
"""Less free space than this and a recording is refused before it starts: it would hold
nothing playable."""

PSEUDO_FILESYSTEMS = frozenset({
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs",
    "securityfs", "configfs", "pstore", "bpf", "efivarfs", "fusectl", "mqueue", "hugetlbfs",
    "binfmt_misc", "autofs", "rpc_pipefs", "nsfs",
})
"""Kernel filesystems that are not storage: root may create files on some (/dev), none of
them is a place for a video."""

FINISH_TIMEOUT_S = 20.0
"""How long ``close`` waits for ffmpeg to encode the queued frames before killing it (the file
is fragmented, so a kill loses only the unfinished fragment)."""

PROBE_TIMEOUT_S = 30.0
"""How long counting the frames of the finished file may take (demuxing only: seconds even for
hours of video)."""

CLOSE_TIMEOUT_S = FINISH_TIMEOUT_S + PROBE_TIMEOUT_S + 10.0
"""An upper bound on ``Recorder.close``: what a caller joining a closing thread should wait."""


class RecordError(Exception):
    """A recording that cannot start; the message says why."""


class RecordPathError(RecordError):
    """A recording target that cannot work; the message names the path and the reason."""


def check_record_path(path: Path) -> None:
    """Refuse a recording target that cannot hold a video, before any frame is spent on it.

    Creates the parent folder when missing (as for ``recordings/``) and proves the file can
    be created by creating it (removed again when it did not exist before: ffmpeg makes it).
    """
    try:
        existing = path.stat()
    except (FileNotFoundError, NotADirectoryError):  # the folder checks below say which
        existing = None
    except OSError as exc:
        raise RecordPathError(f"cannot record to {path}: {_reason(exc)}") from None
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        raise RecordPathError(f"cannot record to {path}: it is a folder (name a file in it, "
                              f"e.g. {path / 'show.mp4'})")
    suffix = path.suffix.lower()
    if suffix not in CONTAINERS:
        what = (f"'{path.suffix}' is not a video container" if suffix
                else "the name has no extension")
        raise RecordPathError(f"cannot record to {path}: {what} "
                              f"(use {', '.join(CONTAINERS)})")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RecordPathError(f"cannot record to {path}: {parent} is not a folder") from None
    except OSError as exc:
        raise RecordPathError(f"cannot record to {path}: cannot create the folder "
                              f"{parent}: {_reason(exc)}") from None
    fstype = _filesystem_type(parent)
    if fstype in PSEUDO_FILESYSTEMS:
        raise RecordPathError(f"cannot record to {path}: {parent} is on the kernel's {fstype} "
                              "filesystem, not on a disk")
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        raise RecordPathError(f"cannot record to {path}: it exists and is not a regular file")
    try:
        disk = os.statvfs(parent)
    except OSError:
        disk = None
    if disk is not None and disk.f_bavail * disk.f_frsize < MIN_FREE_BYTES:
        raise RecordPathError(f"cannot record to {path}: no space left on the disk of {parent}")
    # the only sure test of writability is writing: open as ffmpeg will (never blocking on a
    # FIFO swapped in since the stat), and remove again a file that was not there before
    flags = os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if existing is None:
        flags |= os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise RecordPathError(f"cannot record to {path}: cannot create the file: "
                              f"{_reason(exc)}") from None
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
    if existing is None:
        path.unlink(missing_ok=True)
    if not regular:
        raise RecordPathError(f"cannot record to {path}: it is not a regular file")


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _filesystem_type(folder: Path) -> str | None:
    """The type of the filesystem holding ``folder`` (Linux's mountinfo; None elsewhere)."""
    try:
        target = str(folder.resolve())
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
            lines = mounts.read().splitlines()
    except OSError:
        return None
    best, best_type = "", None
    for line in lines:
        # "<id> <parent> <dev> <root> <mount point> <options> [optional...] - <type> <source> ..."
        fields, _, tail = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 5 or not tail:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), parts[4])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, tail.split()[0]
    return best_type


def count_frames(path: Path, timeout_s: float = PROBE_TIMEOUT_S) -> int | None:
    """Frames of the first video stream that are wholly in the file at ``path``: 0 when it
    holds none (or is no video), None when it could not be checked in ``timeout_s``.

    Demuxing only, with truncated packets discarded: on cut files this equals the count a full
    decode gives, at a fraction of the cost.
    """
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "quiet", "-nostdin", "-nostats",
           "-fflags", "+discardcorrupt", "-i", str(path), "-map", "0:v:0", "-c", "copy",
           "-f", "null", "-", "-progress", "pipe:1"]
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired):
        return None
    counts = re.findall(r"^frame=(\d+)$", done.stdout, flags=re.MULTILINE)
    return int(counts[-1]) if counts else 0


class Recorder:
    """One recording: ``push`` frames from the render loop, ``close`` to finish.

    Never raises into the render loop after it has started: a failure sets ``error`` and
    later pushes return False at once.
    """

    def __init__(self, path: Path, frame_size: tuple[int, int], fps: float,
                 output_size: tuple[int, int] | None = None, codec: str = "libx264",
                 quality: int = 18, queue_frames: int = 8, drop_when_behind: bool = True):
        check_record_path(path)
        width, height = frame_size
        self.frame_size = (width, height)
        self.path = path
        self.fps = fps
        try:
            command = self._command(path, frame_size, fps, output_size, codec, quality)
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                # unbuffered: close() may have to close the pipe while the writer is blocked
                # in it, and a buffered writer's lock would block close() too
                bufsize=0,
                # its own session: a Ctrl-C in the terminal reaches the show, which then
                # finishes the file, not ffmpeg, which would cut it
                start_new_session=True,
            )
        except (OSError, RuntimeError) as exc:  # RuntimeError: imageio-ffmpeg found no ffmpeg
            raise RecordError(f"cannot record to {path}: cannot start ffmpeg: {exc}") from None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=8)
        self._stderr_thread = threading.Thread(target=self._drain_stderr,
                                               name="recorder-stderr", daemon=True)
        self._stderr_thread.start()
        self._ring = [np.empty((height, width, 3), dtype=np.uint8) for _ in range(queue_frames)]
        self._free: queue.Queue[int] = queue.Queue()
        for slot in range(queue_frames):
            self._free.put(slot)
        self._ready: queue.Queue[int | None] = queue.Queue()
        self._drop = drop_when_behind
        self.frames_written = 0
        """Frames handed to ffmpeg (not all of them need reach the file: see frames_on_disk)."""
        self.frames_dropped = 0
        """Frames the render loop offered while the writer was behind, not recorded."""
        self.frames_on_disk: int | None = None
        """After ``close``: the frames really in the file (None if it could not be checked)."""
        self.error: str | None = None
        """Why the recording failed (ffmpeg's own words where it gave any), or None."""
        self._close_lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    @staticmethod
    def _command(path: Path, frame_size: tuple[int, int], fps: float,
                 output_size: tuple[int, int] | None, codec: str, quality: int) -> list[str]:
        rate = Fraction(fps).limit_denominator(1001)
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{frame_size[0]}x{frame_size[1]}",
               "-r", str(rate), "-i", "pipe:0", "-an", "-c:v", codec, "-pix_fmt", "yuv420p",
               "-g", str(max(1, round(fps * KEYFRAME_INTERVAL_S)))]
        if codec == "libx264":
            cmd += ["-preset", "veryfast", "-crf", str(quality)]
        if output_size and tuple(output_size) != tuple(frame_size):
            cmd += ["-vf", f"scale={output_size[0]}:{output_size[1]}:flags=lanczos"]
        # flush_packets: each finished fragment goes to the disk now, not when ffmpeg's 32 kB
        # write buffer happens to fill (minutes of a calm picture held in memory otherwise)
        return [*cmd, "-flush_packets", "1", *CONTAINERS[path.suffix.lower()], str(path)]

    def push(self, frame: np.ndarray) -> bool:
        """Queue a copy of ``frame``; False when it was not recorded (the writer is behind in a
        live show, or the recording has failed or finished)."""
        if self.error is not None or self._closed:
            return False
        if self._drop:
            try:
                slot = self._free.get_nowait()
            except queue.Empty:
                self.frames_dropped += 1
                return False
        else:  # offline render: wait for the writer, but never on a writer that has failed
            while True:
                try:
                    slot = self._free.get(timeout=0.5)
                    break
                except queue.Empty:
                    if self.error is not None or not self._thread.is_alive():
                        return False
        np.copyto(self._ring[slot], frame)
        self._ready.put(slot)
        return True

    def _run(self) -> None:
        stdin = self._process.stdin
        while True:
            slot = self._ready.get()
            if slot is None:
                break
            try:
                if self.error is None:
                    data = memoryview(self._ring[slot]).cast("B")
                    while data:  # a raw pipe write may be partial (a signal mid-write)
                        data = data[stdin.write(data):]
                    self.frames_written += 1
            except (OSError, ValueError) as exc:  # ffmpeg gone (disk full, killed) or closed
                self._fail(exc)
            finally:
                self._free.put(slot)

    def _fail(self, exc: BaseException) -> None:
        if self.error is not None:
            return
        try:  # ffmpeg says why it stopped (e.g. "No space left on device") as it exits
            self._process.wait(timeout=5.0)
            self._stderr_thread.join(timeout=2.0)
        except subprocess.TimeoutExpired:
            pass
        self.error = self._ffmpeg_reason() or self._exit_reason() or str(exc)
        log.error("recording to %s failed: %s", self.path, self.error)

    def _drain_stderr(self) -> None:
        for raw in self._process.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if line:
                self._stderr_tail.append(line)

    def _ffmpeg_reason(self) -> str:
        """ffmpeg's most telling last line (the OS error where it gave one), without its
        "[muxer @ 0x...]" prefixes."""
        lines = [re.sub(r"^(\[[^]]*\]\s*)+", "", line) for line in self._stderr_tail]
        lines = list(dict.fromkeys(line for line in lines if line))
        telling = [line for line in lines if re.search(
            r"space|error|denied|permission|read-only|quota|i/o", line, re.IGNORECASE)]
        return (telling or lines or [""])[-1]

    def _exit_reason(self) -> str:
        code = self._process.poll()
        if code is None or code == 0:
            return ""
        if code < 0:
            try:
                return f"ffmpeg was killed ({signal.Signals(-code).name})"
            except ValueError:
                return f"ffmpeg was killed (signal {-code})"
        return f"ffmpeg exited with status {code}"

    def close(self) -> None:
        """Finish the file, count what is in it and say so (idempotent, any thread)."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._ready.put(None)
            self._thread.join(timeout=FINISH_TIMEOUT_S)
            if self._thread.is_alive():  # blocked on an ffmpeg that no longer reads
                self._process.kill()
                self._thread.join(timeout=5.0)
                self.error = self.error or f"ffmpeg stopped reading for {FINISH_TIMEOUT_S:.0f} s"
            try:
                self._process.stdin.close()  # end of input: ffmpeg writes the last fragment
            except OSError as exc:
                self._fail(exc)
            try:
                returncode = self._process.wait(timeout=FINISH_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()  # a hung ffmpeg: the fragments on disk stay playable
                returncode = self._process.wait()
                self.error = self.error or f"ffmpeg did not finish in {FINISH_TIMEOUT_S:.0f} s"
            self._stderr_thread.join(timeout=2.0)
            if returncode != 0 and self.error is None:
                self.error = self._ffmpeg_reason() or self._exit_reason()
            self.frames_on_disk = count_frames(self.path) if self.path.is_file() else 0
            self._report()

    def _report(self) -> None:
        on_disk = self.frames_on_disk
        dropped = f", {self.frames_dropped} dropped" if self.frames_dropped else ""
        if on_disk == 0:
            self.path.unlink(missing_ok=True)  # a stub with no frame is no video
            if self.error is not None:
                log.error("recording failed: %s; nothing playable was written to %s",
                          self.error, self.path)
            else:
                log.info("nothing was recorded to %s", self.path)
            return
        if on_disk is None:
            held = "could not be checked"
        else:
            held = f"{on_disk} frames ({on_disk / self.fps:.1f} s)"
        if self.error is not None:
            log.error("recording failed: %s; %s holds %s%s", self.error, self.path,
                      held if on_disk is None else f"{held} of playable video", dropped)
        elif on_disk is None:
            log.warning("recorded to %s, %d frames sent to ffmpeg; the file %s%s", self.path,
                        self.frames_written, held, dropped)
        else:
            lost = self.frames_written - on_disk
            missing = f", {lost} frames sent did not reach the file" if lost > 0 else ""
            log.info("recorded %s to %s%s%s", held, self.path, dropped, missing)

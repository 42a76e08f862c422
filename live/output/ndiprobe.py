"""A measuring NDI receiver for the bench and the tests: ``python -m live.output.ndiprobe``.

It finds a source by name, receives every video frame and records, per frame, the stamp the
sender put in the frame's metadata (``<live_frame seq= wall_ns=/>``, live/output/ndi.py),
the runtime's own send timestamp and the moment the frame arrived, all on the wall clock
this machine shares with the sender. It writes a summary (JSON, on stdout) and optionally
the per-frame rows (.npy) and one received picture (.npy).

It talks to the NDI runtime that cyndilib bundles through ctypes (live/output/ndiruntime.py)
rather than through cyndilib's ``Receiver``, which sees only about half of the frames.
When the source goes away it looks for it again and reconnects.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

from live.output import ndiruntime as rt

FINDER_RENEW_S = 1.5
"""A finder that has not seen the source after this long is replaced (see ``Probe._find``)."""
STAMP = re.compile(rb'<live_frame seq="(\d+)" wall_ns="(\d+)"')
ROW_FIELDS = ("seq", "stamp_wall_ns", "ndi_timestamp_ns", "received_wall_ns", "width", "height")
"""Columns of the per-frame rows (int64); seq and stamp are -1 when a frame had no stamp."""


class Probe:
    """One receiver connected to the first source whose name ends with ``(name)``."""

    def __init__(self, name: str, colour: str = "rgba", find_timeout: float = 60.0) -> None:
        self.lib = rt.load()
        self.wanted = f"({name})"
        self.colour = colour
        self._finder = None
        self._recv = None
        self._video = rt.VideoFrame()
        self.picture: np.ndarray | None = None
        """The last picture captured with ``keep_picture`` (H x W x 4, rows top down)."""
        self.connects = 0
        self.connect(find_timeout)

    def connect(self, find_timeout: float) -> None:
        """(Re)connect to the source, looking for it for up to ``find_timeout`` seconds."""
        self.close()
        self.source = self._find(self.wanted, find_timeout)
        self.source_name = self.source.p_ndi_name.decode("utf-8", "replace")
        color = rt.COLOR_RGBX_RGBA if self.colour == "rgba" else rt.COLOR_FASTEST
        recv = rt.RecvCreate(self.source, color, rt.BANDWIDTH_HIGHEST, False, b"live-ndiprobe")
        self._recv = self.lib.NDIlib_recv_create_v3(ctypes.byref(recv))
        if not self._recv:
            raise OSError("NDI: could not create a receiver")
        self.connects += 1
        self.connected_at = time.monotonic()

    def _find(self, wanted: str, timeout: float):
        """The source whose name ends with ``wanted``. A finder that looks at an address (the
        loopback config) reaches ONE of the NDI programs running there each time it
        connects: several programs share the announcing port. So a finder that has not seen
        the source after a while is replaced by a new one, which may reach another."""
        lib = self.lib
        count = ctypes.c_uint32(0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            create = rt.FindCreate(True, None, None)
            self._finder = lib.NDIlib_find_create_v2(ctypes.byref(create))
            if not self._finder:
                raise OSError("NDI: could not create a finder")
            renew = time.monotonic() + FINDER_RENEW_S
            while time.monotonic() < min(renew, deadline):
                lib.NDIlib_find_wait_for_sources(self._finder, 200)
                sources = lib.NDIlib_find_get_current_sources(self._finder,
                                                              ctypes.byref(count))
                for i in range(count.value):
                    if sources[i].p_ndi_name.decode("utf-8", "replace").endswith(wanted):
                        return sources[i]
            lib.NDIlib_find_destroy(self._finder)
            self._finder = None
        raise TimeoutError(f"NDI source {wanted} not found in {timeout:.0f} s")

    def capture(self, timeout_ms: int, keep_picture: bool = False):
        """The next video frame's (row, fourcc, frame rate), or None after ``timeout_ms``;
        ``keep_picture`` copies its pixels into ``picture`` (4 bytes a pixel formats)."""
        video = self._video
        kind = self.lib.NDIlib_recv_capture_v3(self._recv, ctypes.byref(video), None, None,
                                               timeout_ms)
        if kind == rt.FRAME_ERROR:
            raise ConnectionError("NDI: the connection was lost")
        if kind != rt.FRAME_VIDEO:
            return None
        received = time.time_ns()
        try:
            seq, stamp = -1, -1
            if video.p_metadata:
                match = STAMP.search(video.p_metadata)
                if match:
                    seq, stamp = int(match.group(1)), int(match.group(2))
            # the runtime's timestamp: 100 ns units since the Unix epoch, set when sent
            row = (seq, stamp, video.timestamp * 100, received, video.xres, video.yres)
            fourcc = video.FourCC.to_bytes(4, "little").decode("ascii", "replace")
            rate = (video.frame_rate_N, video.frame_rate_D)
            if keep_picture:
                shape = (video.yres, video.xres, 4)
                if self.picture is None or self.picture.shape != shape:
                    self.picture = np.zeros(shape, np.uint8)
                stride = video.line_stride_in_bytes
                raw = (ctypes.c_uint8 * (stride * video.yres)).from_address(video.p_data)
                lines = np.frombuffer(raw, np.uint8).reshape(video.yres, stride)
                np.copyto(self.picture.reshape(video.yres, video.xres * 4),
                          lines[:, :video.xres * 4])
            return row, fourcc, rate
        finally:
            self.lib.NDIlib_recv_free_video_v2(self._recv, ctypes.byref(video))

    def close(self) -> None:
        if self._recv:
            self.lib.NDIlib_recv_destroy(self._recv)
            self._recv = None
        if self._finder:
            self.lib.NDIlib_find_destroy(self._finder)
            self._finder = None


def summary(rows: np.ndarray, window_wall_ns: tuple[int, int] | None = None) -> dict:
    """Counts and latencies of the stamped frames (those composed inside ``window_wall_ns``
    when given). ``expected`` is every tap frame from the first to the last stamp seen:
    frames dropped anywhere on the way (tap, sender, network, receiver) are the gap."""
    stamped = rows[rows[:, 0] >= 0]
    if window_wall_ns is not None:
        inside = (stamped[:, 1] >= window_wall_ns[0]) & (stamped[:, 1] < window_wall_ns[1])
        stamped = stamped[inside]
    if len(stamped) == 0:
        return {"frames_received": 0}
    seqs = np.unique(stamped[:, 0])
    expected = int(seqs[-1] - seqs[0] + 1)
    received = int(len(seqs))
    latency = (stamped[:, 3] - stamped[:, 1]) / 1e6
    transport = (stamped[:, 3] - stamped[:, 2]) / 1e6
    span_s = (stamped[-1, 3] - stamped[0, 3]) / 1e9
    return {
        "frames_received": received,
        "frames_expected": expected,
        "frames_dropped": expected - received,
        "dropped_pct": round(100.0 * (expected - received) / max(expected, 1), 3),
        "receive_fps": round((received - 1) / span_s, 2) if span_s > 0 else None,
        "latency_ms_p50": round(float(np.percentile(latency, 50)), 3),
        "latency_ms_p99": round(float(np.percentile(latency, 99)), 3),
        "latency_ms_max": round(float(latency.max()), 3),
        "latency_from": "composed (frame stamp) -> received by another process",
        "transport_ms_p50": round(float(np.percentile(transport, 50)), 3),
        "transport_ms_p99": round(float(np.percentile(transport, 99)), 3),
        "transport_from": "handed to NDI (runtime timestamp) -> received",
        "duplicates": int(len(stamped) - received),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m live.output.ndiprobe",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True, help="the source's name, without HOST")
    parser.add_argument("--frames", type=int, default=0,
                        help="stop after this many frames (of --size when given); 0 = no limit")
    parser.add_argument("--size", default="", help="WxH: count only frames of this size")
    parser.add_argument("--seconds", type=float, default=120.0, help="stop after this long")
    parser.add_argument("--idle-end", type=float, default=3.0, metavar="S",
                        help="stop when no frame came for S seconds after the first")
    parser.add_argument("--find-timeout", type=float, default=60.0)
    parser.add_argument("--reconnect-after", type=float, default=0.0, metavar="S",
                        help="no frame for S seconds after the first: look for the source "
                             "again and reconnect (0 = never)")
    parser.add_argument("--colour", choices=("rgba", "fastest"), default="rgba",
                        help="rgba: decode to RGBA (to compare pictures); fastest: the "
                             "runtime's cheapest format (for timing)")
    parser.add_argument("--stall", type=float, default=0.0, metavar="S",
                        help="connect, then take no frames for S seconds (a stuck receiver)")
    parser.add_argument("--rows", type=Path, default=None, help="write per-frame rows (.npy)")
    parser.add_argument("--picture", type=Path, default=None,
                        help="write the last counted picture (.npy, H x W x 4)")
    parser.add_argument("--ready", type=Path, default=None,
                        help="create this file once connected to the source")
    args = parser.parse_args(argv)
    want = tuple(int(v) for v in args.size.lower().split("x")) if args.size else None

    started = time.monotonic()
    probe = Probe(args.source, args.colour, args.find_timeout)
    if args.ready is not None:
        args.ready.touch()
    if args.stall > 0:
        time.sleep(args.stall)
    rows: list[tuple] = []
    sizes: dict[str, int] = {}
    fourccs: set[str] = set()
    rates: set[str] = set()
    counted = 0
    kept = None
    last_frame = None
    error = None
    try:
        while time.monotonic() - started < args.seconds:
            quiet = time.monotonic() - last_frame if last_frame is not None else 0.0
            if quiet > args.idle_end:
                break
            try:
                if (args.reconnect_after and quiet > args.reconnect_after
                        and time.monotonic() - probe.connected_at > args.reconnect_after):
                    probe.connect(max(args.idle_end - quiet, 1.0))
                got = probe.capture(100, keep_picture=args.picture is not None)
            except (ConnectionError, TimeoutError) as exc:
                error = str(exc)
                break
            if got is None:
                continue
            row, fourcc, rate = got
            last_frame = time.monotonic()
            rows.append(row)
            size = (row[4], row[5])
            sizes[f"{size[0]}x{size[1]}"] = sizes.get(f"{size[0]}x{size[1]}", 0) + 1
            fourccs.add(fourcc)
            rates.add(f"{rate[0]}/{rate[1]}")
            if want is None or size == want:
                counted += 1
                if args.picture is not None:
                    kept = probe.picture.copy()
                if args.frames and counted >= args.frames:
                    break
    finally:
        probe.close()
    table = np.array(rows, np.int64).reshape(-1, len(ROW_FIELDS))
    if args.rows is not None:
        np.save(args.rows, table)
    if args.picture is not None and kept is not None:
        np.save(args.picture, kept)
    result = {"source": probe.source_name, "frames": len(rows), "counted": counted,
              "connects": probe.connects,
              "sizes": sizes, "fourcc": sorted(fourccs), "frame_rates": sorted(rates),
              "error": error, "pid": os.getpid(), **summary(table)}
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

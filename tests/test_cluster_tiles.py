"""Two tiles of a wall rendered by two real nodes stitch into the picture a third node renders
of the whole canvas: a leader (``live run --headless --leader``, the whole 192x96 canvas) and
two followers (``--follow``, the left and the right 96x96 half) in network namespaces
(live/cluster/netns.py; root only, skipped with the reason elsewhere). The scene is set still
through the leader (walk frozen, no trails, no audio) with the geometry on (rotate, zoom,
mirror, kaleidoscope), so every node's frame is the same picture whatever its clock reading.

How a frame is taken from each node: a follower drops controller OSC and ``show.*`` triggers
are local to the node that gets them (docs/cluster.md), so nothing outside a follower can ask
it for a snapshot. Each node here runs ``live run`` through a small launcher that makes
SIGUSR1 call ``Engine.snapshot()`` (what ``show.snapshot`` does), writing the PNG into that
node's ``paths.snapshots``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO

CANVAS = (192, 96)
HALF = 96
SEAM_PX = 4

LAUNCHER = """\
import signal, sys
import live.engine as engine_mod

class SnapshotOnSignal(engine_mod.Engine):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        signal.signal(signal.SIGUSR1, lambda *_: self.snapshot())

engine_mod.Engine = SnapshotOnSignal
from live.cli import main
raise SystemExit(main(sys.argv[1:]))
"""

BASE_ARGS = ["--set", "midi.enabled=false", "--set", "audio.enabled=false",
             "--set", "remote.enabled=false", "--set", "oscquery.enabled=false",
             "--set", "engine.max_fps=30", "--set", f"output.canvas=[{CANVAS[0]},{CANVAS[1]}]"]

STILL = [  # through the leader: relayed, stamped, applied on every node at the same show time
    ("/live/walk/speed", 0.0), ("/live/walk/energy", 0.0), ("/live/fx/feedback", 0.0),
    ("/live/fx/spin", 0.0), ("/live/fx/rotate", 23.0), ("/live/fx/zoom", 1.4),
    ("/live/fx/mirror", "quad"), ("/live/fx/kaleido", 6),
]


def start(host, name: str, args: list[str], tmp: Path):
    snaps = tmp / f"{name}-snapshots"
    snaps.mkdir()
    log = open(tmp / f"{name}.log", "ab")  # noqa: SIM115 (the process owns it)
    cmd = [sys.executable, "-c", LAUNCHER, "run", "--headless", *BASE_ARGS,
           "--set", f"paths.snapshots={snaps}",
           "--set", f"paths.cluster_state={tmp / name}-state.json", *args]
    proc = host.popen(cmd, env={"LIVE_CLUSTER_TRACE": str(tmp / f"{name}.jsonl")},
                      cwd=str(REPO), stdout=log, stderr=subprocess.STDOUT,
                      stdin=subprocess.DEVNULL)
    return proc, snaps


def send(host, messages) -> None:
    code = ("from pythonosc.udp_client import SimpleUDPClient\n"
            "import time\n"
            "c = SimpleUDPClient('127.0.0.1', 8000)\n"
            f"for address, value in {messages!r}:\n"
            "    c.send_message(address, value); time.sleep(0.02)\n")
    done = host.run([sys.executable, "-c", code], cwd=str(REPO), timeout=60)
    assert done.returncode == 0, done.stderr


def read_png(path: Path) -> np.ndarray | None:
    import pygame

    try:
        surface = pygame.image.load(str(path))
    except (pygame.error, OSError):
        return None  # still being written
    return np.transpose(pygame.surfarray.array3d(surface), (1, 0, 2)).astype(np.float64)


def snapshot_all(nodes, count: int) -> list[np.ndarray]:
    """SIGUSR1 to every node, then its ``count``-th snapshot once it reads whole."""
    from live.cluster.clusterbench import wait_for

    for proc, _ in nodes:
        proc.send_signal(signal.SIGUSR1)
    frames = []
    for proc, snaps in nodes:
        def newest(snaps=snaps):
            files = sorted(snaps.glob("live-*.png"))
            return read_png(files[count - 1]) if len(files) >= count else None
        frame = wait_for(lambda newest=newest: newest() is not None, 60) and newest()
        assert frame is not None, f"no snapshot {count} in {snaps} (node alive: " \
                                  f"{proc.poll() is None})"
        frames.append(frame)
    return frames


def seam_figures(whole: np.ndarray, left: np.ndarray, right: np.ndarray) -> dict:
    stitched = np.concatenate([left, right], axis=1)
    diff = np.abs(stitched - whole)
    seam = diff[:, HALF - SEAM_PX:HALF + SEAM_PX]
    return {"mean": float(diff.mean()), "seam": float(seam.mean()), "max": float(diff.max()),
            "left": float(diff[:, :HALF].mean()), "right": float(diff[:, HALF:].mean())}


def test_two_tiles_from_two_nodes_stitch_into_the_whole_canvas(tmp_path):
    from live.cluster import clusterbench as cb
    from live.cluster.netns import Cluster, available

    reason = available()
    if reason:
        pytest.skip(reason)
    with Cluster(3) as cluster:
        addr = cluster[0].address
        nodes = [
            start(cluster[0], "leader", ["--set", f"display.size={CANVAS[0]}x{CANVAS[1]}",
                                         "--leader"], tmp_path),
            start(cluster[1], "left", ["--set", f"display.size={HALF}x{HALF}",
                                       "--set", f"output.tile=[0,0,{HALF},{HALF}]",
                                       "--follow", addr], tmp_path),
            start(cluster[2], "right", ["--set", f"display.size={HALF}x{HALF}",
                                        "--set", f"output.tile=[{HALF},0,{HALF},{HALF}]",
                                        "--follow", addr], tmp_path),
        ]
        for name in ("left", "right"):
            trace = tmp_path / f"{name}.jsonl"
            assert cb.wait_for(lambda trace=trace: any(
                r.get("event") == "in_step" for r in cb.read_trace(trace)), 150), \
                (tmp_path / f"{name}.log").read_text()[-2000:]
        send(cluster[0], STILL)
        time.sleep(4.0)  # the relay's delay, then the smoothed controls settle (tau <= 0.4 s)
        # rounds of snapshots until no node's picture moved since the round before
        rounds = [snapshot_all(nodes, 1)]
        for count in range(2, 7):
            time.sleep(1.0)
            rounds.append(snapshot_all(nodes, count))
            still = [float(np.abs(a - b).mean()) for a, b in zip(*rounds[-2:], strict=True)]
            if max(still) < 0.05:
                break
        for proc, _ in nodes:
            assert proc.poll() is None
    whole, left, right = rounds[-1]
    assert whole.shape == (CANVAS[1], CANVAS[0], 3) and left.shape == right.shape == (96, 96, 3)
    figures = seam_figures(whole, left, right)
    earlier = seam_figures(*rounds[0])
    print(f"\n{len(rounds)} rounds; each node's frame vs its own a second earlier "
          "(leader, left, right):", [round(v, 3) for v in still])
    print("stitched tiles vs whole canvas:", {k: round(v, 3) for k, v in figures.items()})
    print("the same, first round:", {k: round(v, 3) for k, v in earlier.items()})
    assert whole.std() > 10.0  # a picture, not a flat field
    assert max(still) < 1.0
    # the nodes' states drift apart a little with time (each snapshot is taken at its node's
    # own moment): the closest round says whether the tiles make the picture, and in every
    # round the seam must be no worse than the rest of the frame (a seam would show there)
    every = [seam_figures(*r) for r in rounds]
    best = min(every, key=lambda f: f["mean"])
    assert best["mean"] < 2.0 and best["seam"] < 2.0, every
    assert all(f["seam"] <= f["mean"] + 1.5 for f in every), every

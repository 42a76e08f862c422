"""Two tiles of a wall rendered by two real nodes stitch into the picture a third node renders
of the whole canvas: a leader (``live run --headless --leader``, the whole 192x96 canvas) and
two followers (``--follow``, the left and the right 96x96 half) in network namespaces
(live/cluster/netns.py; root only, skipped with the reason elsewhere). The scene is set still
through the leader (walk frozen, no trails, no audio) with the geometry on (rotate, zoom,
mirror, kaleidoscope), so every node's frame is the same picture whatever its clock reading.

How a frame is taken from each node: ``/live/output/snapshot`` sent to the leader is
relayed, stamped, to every node, and each renders a frame at exactly that show time
(``Timeline.cut_at``) and writes it into its ``paths.snapshots`` as ``live-show-<time>s.png``.
As every node's picture is a function of the shared state and that reading, the scene may
move: the walk runs, the picture spins and the default scene's ISF layers move with ``TIME``
(only per-frame feedback trails are off)."""

from __future__ import annotations

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

BASE_ARGS = ["--set", "midi.enabled=false", "--set", "audio.enabled=false",
             "--set", "remote.enabled=false", "--set", "oscquery.enabled=false",
             "--set", "engine.max_fps=30", "--set", f"output.canvas=[{CANVAS[0]},{CANVAS[1]}]"]

MOVING = [  # through the leader: relayed, stamped, applied on every node at the same show time
    ("/live/walk/speed", 2.0), ("/live/fx/feedback", 0.0), ("/live/fx/spin", 25.0),
    ("/live/fx/rotate", 23.0), ("/live/fx/zoom", 1.4), ("/live/fx/mirror", "quad"),
    ("/live/fx/kaleido", 6),
]


def start(host, name: str, args: list[str], tmp: Path):
    snaps = tmp / f"{name}-snapshots"
    snaps.mkdir()
    log = open(tmp / f"{name}.log", "ab")  # noqa: SIM115 (the process owns it)
    cmd = [sys.executable, "-m", "live", "run", "--headless", *BASE_ARGS,
           "--set", f"paths.snapshots={snaps}",
           "--set", f"paths.cluster_state={tmp / name}-state.json", *args]
    proc = host.popen(cmd, env={"LIVE_CLUSTER_TRACE": str(tmp / f"{name}.jsonl")},
                      cwd=str(REPO), stdout=log, stderr=subprocess.STDOUT,
                      stdin=subprocess.DEVNULL)
    return proc, snaps


def send(host, messages) -> None:
    from live.cluster.clusterbench import send_messages

    done = send_messages(host, messages)
    assert done.returncode == 0, done.stderr


def read_png(path: Path) -> np.ndarray | None:
    import pygame

    try:
        surface = pygame.image.load(str(path))
    except (pygame.error, OSError):
        return None  # still being written
    return np.transpose(pygame.surfarray.array3d(surface), (1, 0, 2)).astype(np.float64)


def snapshot_all(leader_host, nodes) -> list[np.ndarray]:
    """``/live/output/snapshot`` to the leader, then each node's frame of that show time."""
    from live.cluster.clusterbench import wait_for

    before = [set(snaps.glob("live-show-*.png")) for _, snaps in nodes]
    send(leader_host, [("/live/output/snapshot", 1.0)])
    frames, names = [], []
    for (proc, snaps), old in zip(nodes, before, strict=True):
        def new(snaps=snaps, old=old):
            files = sorted(set(snaps.glob("live-show-*.png")) - old)
            return (files[0], read_png(files[0])) if files else None
        found = wait_for(lambda new=new: (new() or (None, None))[1] is not None, 60) and new()
        assert found, f"no snapshot in {snaps} (node alive: {proc.poll() is None})"
        names.append(found[0].name)
        frames.append(found[1])
    assert len(set(names)) == 1, names  # the same show time on every node
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
        send(cluster[0], MOVING)
        time.sleep(2.0)  # the relay's delay, then the smoothed controls on their way
        rounds = [snapshot_all(cluster[0], nodes) for _ in range(3)]
        for proc, _ in nodes:
            assert proc.poll() is None
    every = [seam_figures(*r) for r in rounds]
    moved = [float(np.abs(a[0] - b[0]).mean()) for a, b in zip(rounds, rounds[1:], strict=False)]
    print("\nstitched tiles vs whole canvas, each round:",
          [{k: round(v, 3) for k, v in f.items()} for f in every],
          "\nthe leader's picture moved between rounds by", [round(m, 2) for m in moved])
    whole, left, right = rounds[-1]
    assert whole.shape == (CANVAS[1], CANVAS[0], 3) and left.shape == right.shape == (96, 96, 3)
    assert whole.std() > 10.0 and max(moved) > 1.0  # a picture, and one that moves
    # the same show time on every node gives the same picture: the tiles are its crop (equal
    # here, mean 0.000 and max 0 in every round; the bound leaves room for another GL)
    for figures in every:
        assert figures["mean"] < 0.1 and figures["seam"] < 0.2, every

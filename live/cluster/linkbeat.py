"""Link as the beat of a multi-node show: do the nodes' frames use the same beat?

``sudo python -m live.cluster.linkbeat --bench [--seconds 20]`` builds three hosts
(live/cluster/netns.py), starts ``live run --headless --leader`` on h0 and ``--follow`` on h1
and h2, all with ``tempo.link`` on, waits until both followers are in step with the leader and
every node's Link session sees the two others, records the nodes' traces for ``--seconds``
and prints a JSON report; exit 0 when p99 <= 2 ms.

Each node writes ``LIVE_LINK_TRACE`` (live/control/link.py): at most 20 times a second, the
frame's show-clock reading, its ``CLOCK_MONOTONIC`` reading and the Link beat the frame used.
What counts for the picture is the beat at the same *show* time (a follower's frame and the
leader's frame for the same show reading must use the same beat), so :func:`compare`
interpolates each node's beat against its show time, compares the nodes at common show
instants (every 10 ms of the overlap), wraps the difference to the quantum (peers share the
phase, not the beat count) and turns beats into milliseconds at the session tempo:
``at_show``. This adds three things up: Link's agreement between the peers, the relay's show
clock agreement, and each frame's gap between its show reading and its monotonic one.
``at_mono`` compares the same beats at common monotonic instants instead (one machine: one
clock), which leaves Link's agreement and the monotonic -> Link clock conversion alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from live.cluster import clusterbench as cb
from live.cluster.linkprobe import pair_spreads

TARGET_P99_MS = 2.0
LINK_ARGS = ["--set", "tempo.link=true"]


def start_node(host, role_args: list[str], link_trace: Path, cluster_trace: Path, log: Path):
    """``live run --headless`` with Link on in ``host``, writing both traces."""
    out = open(log, "ab")  # noqa: SIM115 (the process owns it)
    return host.popen(cb.node_cmd([*role_args, *LINK_ARGS]),
                      env={"LIVE_LINK_TRACE": str(link_trace),
                           "LIVE_CLUSTER_TRACE": str(cluster_trace)},
                      cwd=str(cb.ROOT), stdout=out, stderr=subprocess.STDOUT,
                      stdin=subprocess.DEVNULL)


def beats(trace: list[dict], since_mono: float = -np.inf) -> np.ndarray:
    """The trace's frame rows from ``since_mono`` on: columns show, mono, beat, bpm."""
    rows = [(r["show"], r["mono"], r["beat"], r["bpm"]) for r in trace
            if "beat" in r and r["mono"] >= since_mono]
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def peers(trace: list[dict]) -> int:
    """The last peer count the node's Link session reported (-1: none yet)."""
    counts = [r["peers"] for r in trace if r.get("event") == "peers"]
    return counts[-1] if counts else -1


def _on_grid(series: list[np.ndarray], axis: int, quantum: float, step: float) -> dict:
    lo = max(s[0, axis] for s in series)
    hi = min(s[-1, axis] for s in series)
    grid = np.arange(lo, hi, step)
    if grid.size == 0:
        return {"instants": 0}
    tempo = float(np.median(np.concatenate([s[:, 3] for s in series])))
    ms_per_beat = 60.0 / tempo * 1000.0
    lines = []
    for s in series:
        order = np.argsort(s[:, axis], kind="stable")
        lines.append(np.interp(grid, s[order, axis], s[order, 2]))
    pairs, spread = pair_spreads(lines, [f"h{i}" for i in range(len(lines))], quantum,
                                 ms_per_beat, cb.percentiles)
    return {"instants": int(grid.size), "bpm": tempo, "spread_ms": cb.percentiles(spread),
            "pairs": pairs}


def compare(series: list[np.ndarray], quantum: float = 4.0, step: float = 0.01) -> dict:
    """The nodes' beats compared at common show instants (``at_show``, what the picture sees)
    and at common monotonic instants (``at_mono``, Link alone); ``series`` from :func:`beats`."""
    if any(len(s) < 2 for s in series):
        return {"error": "a node traced fewer than 2 frames",
                "frames": [len(s) for s in series]}
    tempos = np.concatenate([s[:, 3] for s in series])
    return {"frames": [len(s) for s in series],
            "tempo_steady": bool(np.ptp(tempos) < 1e-6),
            "at_show": _on_grid(series, 0, quantum, step),
            "at_mono": _on_grid(series, 1, quantum, step)}


def run(cluster, workdir: Path, seconds: float = 5.0, join_timeout: float = 150.0,
        quantum: float = 4.0, min_frames: int = 5, more_s: float = 30.0) -> dict:
    """A leader on ``cluster[0]`` and followers on the other hosts, Link on: wait until they
    are in step and see each other on Link, trace ``seconds`` (longer, by up to ``more_s``,
    until every node traced ``min_frames`` frames: a loaded machine renders slowly), compare."""
    workdir.mkdir(parents=True, exist_ok=True)
    members = list(cluster)
    link_traces = [workdir / f"link-{h.name}.jsonl" for h in members]
    cluster_traces = [workdir / f"cluster-{h.name}.jsonl" for h in members]
    logs = [workdir / f"{h.name}.log" for h in members]
    for path in (*link_traces, *cluster_traces):
        path.unlink(missing_ok=True)
    started = time.monotonic()
    leader = members[0].address
    for host, link_trace, cluster_trace, log in zip(members, link_traces, cluster_traces, logs,
                                                    strict=True):
        role = ["--leader"] if host is members[0] else ["--follow", leader]
        start_node(host, role, link_trace, cluster_trace, log)
    want = len(members) - 1

    def ready() -> bool:
        in_step = all(any(r.get("event") == "in_step" for r in cb.read_trace(path))
                      for path in cluster_traces[1:])
        return in_step and all(peers(cb.read_trace(path)) == want for path in link_traces)

    if not cb.wait_for(ready, join_timeout):
        return {"error": "the nodes did not get in step and see each other on Link",
                "peers": [peers(cb.read_trace(p)) for p in link_traces],
                "logs": {log.name: log.read_text()[-1500:] if log.exists() else ""
                         for log in logs}}
    ready_s = time.monotonic() - started
    time.sleep(0.5)  # past the join's first slewed frames
    since = time.monotonic()
    time.sleep(seconds)
    cb.wait_for(lambda: all(len(beats(cb.read_trace(path), since)) >= min_frames
                            for path in link_traces), more_s)
    time.sleep(2 * 0.25 + 0.1)  # the poll threads write their rows at most every 0.25 s
    data = [cb.read_trace(path) for path in link_traces]
    report = {"hosts": len(members), "seconds": round(time.monotonic() - since, 2),
              "ready_s": round(ready_s, 2),
              "peers_end": [peers(d) for d in data]}
    report.update(compare([beats(d, since) for d in data], quantum))
    return report


def bench(seconds: float, workdir: Path) -> dict:
    from live.cluster.netns import Cluster

    with Cluster(3) as cluster:
        return run(cluster, workdir, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m live.cluster.linkbeat",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", action="store_true", required=True)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/live-linkbeat"))
    args = parser.parse_args(argv)
    from live.cluster.netns import link_bench_problem

    problem = link_bench_problem()
    if problem:
        print(json.dumps({"error": problem}))
        return 2
    report = bench(args.seconds, args.workdir)
    report["target_p99_ms"] = TARGET_P99_MS
    print(json.dumps(report, indent=2))
    p99 = report.get("at_show", {}).get("spread_ms", {}).get("p99")
    return 0 if p99 is not None and p99 <= TARGET_P99_MS else 1


if __name__ == "__main__":
    sys.exit(main())

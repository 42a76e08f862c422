"""A leader and followers as real ``live run --headless`` processes in network namespaces,
measured from their traces (``LIVE_CLUSTER_TRACE``, live/cluster/relay.py).

``sudo python -m live.cluster.clusterbench --bench [--controls 200] [--seconds 20]`` builds
three hosts (live/cluster/netns.py), starts a leader on h0 and a follower on h1, sends controls
to the leader from inside h0, starts a late follower on h2, and prints a JSON report:

* ``clock_ms``: |follower show time - leader show time| at the same ``CLOCK_MONOTONIC``
  instant (all processes of one machine share it), p50/p99/max over the locked samples;
* ``same_frame``: the fraction of controls that every node applied at their stamped show time
  (the frame whose step contains it) rather than late, and ``apply_spread_ms``, how far apart
  in real time the nodes' frames that applied the same control were read;
* ``late_join_s``: from the late follower's first rendered frame (or its first hello, if
  later) to the frame at which the full state applied with the clock locked, and
  ``join_s``: from its first hello to the clock taken and the state received (the network
  part, which a follower that starts before its engine is warm does while warming up).

The exit status is 0 when clock p99 <= 2 ms, same_frame >= 0.99 and late join <= 1 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
NODE_ARGS = ["--headless", "--set", "display.size=160x90", "--set", "midi.enabled=false",
             "--set", "audio.enabled=false", "--set", "remote.enabled=false",
             "--set", "oscquery.enabled=false", "--set", "engine.max_fps=30"]


def node_cmd(role_args: list[str]) -> list[str]:
    return [sys.executable, "-m", "live", "run", *NODE_ARGS, *role_args]


def start_node(host, role_args: list[str], trace: Path, log: Path):
    """``live run`` in ``host`` with its trace at ``trace``; stdout/stderr to ``log``; a
    leader saves its show beside the trace (``NAME.state.json``, resumed when restarted)."""
    out = open(log, "ab")  # noqa: SIM115 (the process owns it)
    state = ["--set", f"paths.cluster_state={trace.with_suffix('.state.json')}"]
    return host.popen(node_cmd([*state, *role_args]), env={"LIVE_CLUSTER_TRACE": str(trace)},
                      cwd=str(ROOT), stdout=out, stderr=subprocess.STDOUT,
                      stdin=subprocess.DEVNULL)


def read_trace(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines = []
    for line in path.read_text().splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            pass  # a line cut by a kill
    return lines


def wait_for(check, timeout: float, interval: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        result = check()
        if result:
            return result
        time.sleep(interval)
    return check()


def send_messages(host, messages: list[tuple[str, object]], gap_s: float = 0.02,
                  port: int = 8000) -> subprocess.CompletedProcess:
    """Send each ``(address, value)`` to the leader's OSC port, from inside ``host``, ``gap_s``
    apart."""
    code = ("import sys, time\n"
            "from pythonosc.udp_client import SimpleUDPClient\n"
            f"c = SimpleUDPClient('127.0.0.1', {port})\n"
            f"for address, value in {messages!r}:\n"
            f"    c.send_message(address, value); time.sleep({gap_s})\n")
    return host.run([sys.executable, "-c", code], timeout=60 + len(messages) * gap_s * 2,
                    cwd=str(ROOT))


def send_controls(host, values: list[float], address: str = "/live/fx/hue",
                  gap_s: float = 0.05, port: int = 8000) -> subprocess.CompletedProcess:
    """Send ``address value`` for each value to the leader's OSC port, from inside ``host``."""
    return send_messages(host, [(address, float(v)) for v in values], gap_s, port)


def applied(trace: list[dict], name: str) -> dict[float, dict]:
    """value -> the first record of ``name`` applied with that value (on time first)."""
    out: dict[float, dict] = {}
    for rec in trace:
        if rec.get("applied") == name:
            value = round(float(rec["value"]), 5)
            if value not in out:
                out[value] = rec
    return out


def clock_errors_ms(leader: list[dict], follower: list[dict]) -> np.ndarray:
    """|follower estimate of the leader's show time - the leader's show time| at the follower's
    locked samples (the leader's line interpolated at the same monotonic instant)."""
    lead = np.array([(r["mono_ns"], r["clock"]) for r in leader if "clock" in r])
    if len(lead) < 2:
        return np.array([])
    errors = []
    for rec in follower:
        if "clock" not in rec or not rec.get("locked"):
            continue
        mono = rec["mono_ns"]
        if not lead[0, 0] <= mono <= lead[-1, 0]:
            continue
        theirs = np.interp(mono, lead[:, 0], lead[:, 1])
        errors.append(abs(rec["leader_est"] - theirs) * 1e3)
    return np.array(errors)


def percentiles(values: np.ndarray) -> dict:
    if len(values) == 0:
        return {"n": 0}
    return {"n": int(len(values)), "p50": float(np.percentile(values, 50)),
            "p99": float(np.percentile(values, 99)), "max": float(values.max())}


def same_frame(traces: list[list[dict]], values: list[float], name: str = "fx.hue") -> dict:
    """Of ``values`` sent, the fraction every node applied on time, and the real-time spread of
    the frames that applied each."""
    per_node = [applied(trace, name) for trace in traces]
    on_time = 0
    seen = 0
    spreads = []
    for value in values:
        key = round(float(np.float32(value)), 5)
        recs = [node.get(key) for node in per_node]
        if any(rec is None for rec in recs):
            continue
        seen += 1
        if all(not rec["late"] for rec in recs) and len({rec["at"] for rec in recs}) == 1:
            on_time += 1
        monos = [rec["mono_ns"] for rec in recs]
        spreads.append((max(monos) - min(monos)) / 1e6)
    return {"sent": len(values), "seen_on_all": seen,
            "fraction": on_time / len(values) if values else 0.0,
            "apply_spread_ms": percentiles(np.array(spreads))}


def walk_agreement(leader: list[dict], follower: list[dict], after_s: float) -> dict:
    """The walk each node wrote down at the same whole show seconds after ``after_s``: the
    largest difference of phase (laps, wrapped) and of the first latent values."""
    lead = {r["walk_at"]: r for r in leader if "walk_at" in r}
    phase, latent, n = 0.0, 0.0, 0
    for rec in follower:
        ref = lead.get(rec.get("walk_at"))
        if ref is None or rec["walk_at"] <= after_s:
            continue
        d = abs(rec["phase"] - ref["phase"]) % 1.0
        phase = max(phase, min(d, 1.0 - d))
        latent = max(latent, float(np.abs(np.subtract(rec["latent"], ref["latent"])).max()))
        n += 1
    return {"seconds": n, "phase_max": phase, "latent_max": latent}


def late_join_s(trace: list[dict]) -> float | None:
    first_frame = next((r["mono_ns"] for r in trace if r.get("event") == "first_frame"), None)
    hello = next((r["mono_ns"] for r in trace if r.get("event") == "hello"), None)
    step = next((r["mono_ns"] for r in trace if r.get("event") == "in_step"
                 and r.get("locked")), None)
    if first_frame is None or hello is None or step is None:
        return None
    return (step - max(first_frame, hello)) / 1e9


def join_s(trace: list[dict]) -> float | None:
    hello = next((r["mono_ns"] for r in trace if r.get("event") == "hello"), None)
    state = next((r["mono_ns"] for r in trace if r.get("event") == "state"), None)
    if hello is None or state is None:
        return None
    return (state - hello) / 1e9


def bench(controls: int, seconds: float, workdir: Path, slow_fps: float = 4.0) -> dict:
    """A leader (h0), a follower (h1), a late joiner (h2) and a follower that cannot keep up
    (h3, ``slow_fps`` frames a second: its frames are longer than the leader's delay, so most
    changes reach it after their time); ``controls`` values of ``fx.hue`` over ``seconds``,
    then speed changes of the walk, then the walks compared at whole show seconds."""
    from live.cluster.netns import Cluster

    workdir.mkdir(parents=True, exist_ok=True)
    traces = [workdir / f"h{i}.jsonl" for i in range(4)]
    for path in traces:  # a fresh show: no trace, and no saved show to resume
        path.unlink(missing_ok=True)
        path.with_suffix(".state.json").unlink(missing_ok=True)
    rng = np.random.default_rng(7)
    values = [round(float(v), 4) for v in rng.uniform(0.01, 0.99, controls)]
    speeds = [round(float(v), 3) for v in rng.uniform(0.2, 3.0, 12)]
    with Cluster(4) as cluster:
        leader_addr = cluster[0].address
        start_node(cluster[0], ["--leader"], traces[0], workdir / "h0.log")
        start_node(cluster[1], ["--follow", leader_addr], traces[1], workdir / "h1.log")
        start_node(cluster[3], ["--set", f"engine.max_fps={slow_fps}", "--follow", leader_addr],
                   traces[3], workdir / "h3.log")
        for i in (1, 3):
            if not wait_for(lambda i=i: any(r.get("event") == "in_step"
                                            for r in read_trace(traces[i])), 120):
                raise RuntimeError(f"follower h{i} never got in step (see {workdir})")
        start_node(cluster[2], ["--follow", leader_addr], traces[2], workdir / "h2.log")
        wait_for(lambda: any(r.get("event") == "in_step" for r in read_trace(traces[2])), 120)
        time.sleep(1.0)
        gap = max(seconds / max(controls, 1), 0.01)
        send_controls(cluster[0], values, gap_s=gap)
        send_controls(cluster[0], speeds, address="/live/walk/speed", gap_s=0.25)
        settled = max(r.get("clock", 0.0) for r in read_trace(traces[0]))
        time.sleep(4.0)
        data = [read_trace(path) for path in traces]
    errors = np.concatenate([clock_errors_ms(data[0], data[i]) for i in (1, 2)])
    slow = data[3]
    slow_hue = applied(slow, "fx.hue")
    recs = [slow_hue.get(round(float(np.float32(v)), 5)) for v in values]
    seen = sum(1 for rec in recs if rec is not None)
    late = sum(1 for rec in recs if rec is not None and rec["late"])
    return {"clock_ms": percentiles(errors), "same_frame": same_frame(data[:3], values),
            "late_join_s": late_join_s(data[2]), "join_s": join_s(data[2]),
            "walk_after_speed_changes": {f"h{i}": walk_agreement(data[0], data[i], settled)
                                         for i in (1, 2, 3)},
            "slow_node": {"fps": slow_fps, "clock_ms": percentiles(clock_errors_ms(data[0], slow)),
                          "controls_seen": seen, "controls_late": late},
            "traces": str(workdir)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", action="store_true", required=True)
    parser.add_argument("--controls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/live-clusterbench"))
    args = parser.parse_args(argv)
    from live.cluster.netns import available

    reason = available()
    if reason:
        print(json.dumps({"error": reason}))
        return 2
    report = bench(args.controls, args.seconds, args.workdir)
    print(json.dumps(report, indent=2))
    walks = report["walk_after_speed_changes"].values()
    ok = (report["clock_ms"].get("p99", 1e9) <= 2.0
          and report["same_frame"]["fraction"] >= 0.99
          and report["late_join_s"] is not None and report["late_join_s"] <= 1.0
          and report["slow_node"]["clock_ms"].get("p99", 1e9) <= 2.0
          and all(w["seconds"] >= 2 and w["phase_max"] < 1e-6 for w in walks))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

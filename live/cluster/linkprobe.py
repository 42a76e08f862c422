"""Measure how closely Ableton Link's beat phase agrees between hosts (network namespaces).

``python -m live.cluster.linkprobe --bench`` builds N hosts (:mod:`live.cluster.netns`, needs root
and iproute2), starts one probe process in each, waits until every probe sees the N-1 others
(``numPeers``), lets them sample their Link session at agreed instants, and prints a JSON report.

How the instants are compared: processes in different network namespaces of one machine share
the kernel's clocks (network namespaces do not virtualise time), so each probe reads
``CLOCK_MONOTONIC`` on both sides of Link's own clock reading (``link.clock().micros()``) and
records the beat Link gives for that reading (``beatAtTime``), together with the midpoint of the two
monotonic readings. Readings whose bracket is wide (the process was preempted) are retaken. The
comparison interpolates each probe's beats at common instants (a beat line is straight between
samples 10 ms apart at a steady tempo), wraps the differences to the quantum (peers share phase,
not the beat count) and converts beats to milliseconds (``beats * 60 / bpm * 1000``).

The report: ``spread_ms`` (at each instant the largest difference between any two hosts; its
p50/p99/max over the run) and the same per pair, with the pair's mean (a steady offset) apart.

The probe itself (``--probe``) talks JSON lines: it prints ``{"event": "peers", "peers": n}``
whenever the count changes, and on a line ``{"sample": {"start_ns": T, "period_ns": P,
"count": K}}`` on stdin samples at ``T + k*P`` (monotonic ns) and prints ``{"event":
"samples", ...}``; end of input ends it.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from pathlib import Path

TARGET_P99_MS = 2.0
BRACKET_NS = 200_000  # a clock reading bracketed wider than this is retaken


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _read_clock(link) -> tuple[int, int, int]:
    """(monotonic ns at the middle, Link micros, bracket ns): the tightest of a few tries."""
    best = None
    for _ in range(8):
        before = time.monotonic_ns()
        micros = link.clock().micros()
        after = time.monotonic_ns()
        reading = ((before + after) // 2, micros, after - before)
        if best is None or reading[2] < best[2]:
            best = reading
        if reading[2] <= BRACKET_NS:
            break
    return best


def probe(bpm: float, quantum: float) -> int:
    """The probe process: join the Link session, report peers, sample on request."""
    import link as linkmod  # LinkPython-extern

    link = linkmod.Link(bpm)
    link.enabled = True
    link.startStopSyncEnabled = False
    commands: queue.Queue = queue.Queue()

    def read_stdin():
        for line in sys.stdin:
            line = line.strip()
            if line:
                commands.put(json.loads(line))
        commands.put(None)

    threading.Thread(target=read_stdin, daemon=True).start()
    _emit({"event": "ready", "bpm": bpm, "quantum": quantum})
    peers = -1
    try:
        while True:
            now = link.numPeers()
            if now != peers:
                peers = now
                _emit({"event": "peers", "peers": peers})
            try:
                command = commands.get(timeout=0.02)
            except queue.Empty:
                continue
            if command is None:
                return 0
            if "sample" in command:
                spec = command["sample"]
                _emit(_sample(link, quantum, int(spec["start_ns"]), int(spec["period_ns"]),
                              int(spec["count"])))
    finally:
        link.enabled = False


def _sample(link, quantum: float, start_ns: int, period_ns: int, count: int) -> dict:
    times, beats, tempos, brackets = [], [], [], []
    peers_min = None
    for k in range(count):
        wait = (start_ns + k * period_ns - time.monotonic_ns()) / 1e9
        if wait > 0:
            time.sleep(wait)
        mono, micros, bracket = _read_clock(link)
        state = link.captureSessionState()
        times.append(mono)
        beats.append(state.beatAtTime(micros, quantum))
        tempos.append(state.tempo())
        brackets.append(bracket)
        if k % 50 == 0:
            peers = link.numPeers()
            peers_min = peers if peers_min is None else min(peers_min, peers)
    return {"event": "samples", "t_ns": times, "beat": beats, "tempo": tempos,
            "bracket_ns": brackets, "peers_min": peers_min}


def _percentiles(values) -> dict:
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return {"p50": None, "p99": None, "max": None}
    return {"p50": round(float(np.percentile(values, 50)), 4),
            "p99": round(float(np.percentile(values, 99)), 4),
            "max": round(float(values.max()), 4)}


def compare(results: list[dict], names: list[str], quantum: float, start_ns: int,
            period_ns: int, count: int) -> dict:
    """Phase disagreement between the probes' sample sets, at the common instants."""
    import numpy as np

    series = []
    for result in results:
        t = (np.asarray(result["t_ns"], dtype=np.int64) - start_ns).astype(np.float64)
        series.append((t, np.asarray(result["beat"], dtype=np.float64)))
    grid = np.arange(count, dtype=np.float64) * period_ns
    lo = max(t[0] for t, _ in series)
    hi = min(t[-1] for t, _ in series)
    grid = grid[(grid >= lo) & (grid <= hi)]
    tempo = float(np.median(np.concatenate([np.asarray(r["tempo"]) for r in results])))
    ms_per_beat = 60.0 / tempo * 1000.0
    beats = [np.interp(grid, t, b) for t, b in series]
    pairs, spread = pair_spreads(beats, names, quantum, ms_per_beat, _percentiles)
    for stats in pairs.values():
        stats["mean"] = round(stats["mean"], 4)
    brackets = np.concatenate([np.asarray(r["bracket_ns"]) for r in results]) / 1000.0
    tempos = np.concatenate([np.asarray(r["tempo"]) for r in results])
    return {
        "instants": int(grid.size),
        "bpm": round(tempo, 4),
        "tempo_steady": bool(np.ptp(tempos) < 1e-6),
        "spread_ms": _percentiles(spread),
        "pairs": pairs,
        "clock_read_us": _percentiles(brackets),
    }


def pair_spreads(beats: list, names: list[str], quantum: float, ms_per_beat: float,
                 percentiles) -> tuple[dict, object]:
    """Every pair of beat series (sampled at the same instants) compared: the difference
    wrapped to the quantum (peers share the phase, not the beat count) in milliseconds, as
    ``percentiles`` of its size plus its signed ``mean`` per pair, and at each instant the
    largest difference between any two (the spread)."""
    import numpy as np

    pairs, diffs = {}, []
    for i in range(len(beats)):
        for j in range(i + 1, len(beats)):
            d = beats[i] - beats[j]
            ms = ((d + quantum / 2) % quantum - quantum / 2) * ms_per_beat
            diffs.append(np.abs(ms))
            stats = percentiles(np.abs(ms))
            stats["mean"] = float(ms.mean())
            pairs[f"{names[i]}-{names[j]}"] = stats
    return pairs, (np.max(np.stack(diffs), axis=0) if diffs else np.zeros(0))


class _Reader:
    """Collects one probe's JSON lines on a thread."""

    def __init__(self, proc) -> None:
        self.proc = proc
        self.peers = -1
        self.samples: dict | None = None
        self.lines: list[str] = []
        self.event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                self.lines.append(line.rstrip())
                continue
            if message.get("event") == "peers":
                self.peers = message["peers"]
            elif message.get("event") == "samples":
                self.samples = message
            self.event.set()


def _wait(check, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.02)
    return check()


def measure(hosts: int = 3, seconds: float = 20.0, rate: float = 100.0, bpm: float = 120.0,
            quantum: float = 4.0, settle: float = 1.0, join_timeout: float = 30.0,
            cluster=None) -> dict:
    """Start a probe in each of ``hosts`` network-namespace hosts (or in the hosts of the given
    ``cluster``), wait for them to join, sample ``seconds`` at ``rate`` Hz, compare."""
    from live.cluster.netns import Cluster

    if cluster is None:
        with Cluster(hosts) as own:
            return measure(hosts, seconds, rate, bpm, quantum, settle, join_timeout, own)
    import subprocess

    root = str(Path(__file__).resolve().parents[2])
    members = list(cluster)
    names = [host.name for host in members]
    readers = []
    procs = []
    try:
        started = time.monotonic()
        for host in members:
            proc = host.popen([sys.executable, "-m", "live.cluster.linkprobe", "--probe",
                               "--bpm", str(bpm), "--quantum", str(quantum)],
                              env={"PYTHONPATH": root}, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            procs.append(proc)
            readers.append(_Reader(proc))
        want = len(members) - 1
        joined = _wait(lambda: all(r.peers == want for r in readers), join_timeout)
        join_s = time.monotonic() - started
        if not joined:
            return {"error": "the probes did not all see each other",
                    "peers": {n: r.peers for n, r in zip(names, readers, strict=True)},
                    "stderr": {n: _stderr(p) for n, p in zip(names, procs, strict=True)}}
        time.sleep(settle)
        count = max(2, int(seconds * rate))
        period_ns = int(1e9 / rate)
        start_ns = time.monotonic_ns() + 500_000_000
        command = json.dumps({"sample": {"start_ns": start_ns, "period_ns": period_ns,
                                         "count": count}}) + "\n"
        for proc in procs:
            proc.stdin.write(command)
            proc.stdin.flush()
        done = _wait(lambda: all(r.samples is not None for r in readers),
                     seconds + 0.5 + 60.0)
        if not done:
            return {"error": "the probes did not return their samples",
                    "stderr": {n: _stderr(p) for n, p in zip(names, procs, strict=True)}}
        report = {"hosts": len(members), "seconds": seconds, "rate_hz": rate,
                  "quantum": quantum, "join_s": round(join_s, 3),
                  "peers_min": min(r.samples["peers_min"] for r in readers)}
        report.update(compare([r.samples for r in readers], names, quantum, start_ns,
                              period_ns, count))
        report["target_p99_ms"] = TARGET_P99_MS
        report["ok"] = (report["spread_ms"]["p99"] is not None
                        and report["spread_ms"]["p99"] <= TARGET_P99_MS
                        and report["peers_min"] == want)
        return report
    finally:
        for proc in procs:
            if proc.poll() is None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except Exception:
                proc.kill()
                proc.wait(timeout=5)


def _stderr(proc) -> str:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=5)
    try:
        return proc.stderr.read()[-2000:]
    except Exception:
        return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m live.cluster.linkprobe",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", action="store_true",
                        help="build the hosts, measure, print a JSON report")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=100.0, help="samples per second")
    parser.add_argument("--bpm", type=float, default=120.0)
    parser.add_argument("--quantum", type=float, default=4.0)
    args = parser.parse_args(argv)
    if args.probe:
        return probe(args.bpm, args.quantum)
    if not args.bench:
        parser.print_help()
        return 2
    from live.cluster.netns import link_bench_problem

    problem = link_bench_problem()
    if problem:
        print(json.dumps({"error": problem}))
        return 1
    report = measure(args.hosts, args.seconds, args.rate, args.bpm, args.quantum)
    print(json.dumps(report, indent=2))
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())

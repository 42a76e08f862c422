"""Measure the browser remote end to end: a value changed over UDP OSC -> the page's fader.

``measure_latency()`` starts the real parts on free ports of this machine (the bus, the OSC
server, the OSCQuery server with its WebSocket and ``/remote``), opens the page in headless
Chromium (Debian's ``chromium`` and ``chromedriver`` through Selenium; nothing is
downloaded), and sends ~300 values of ``walk.speed`` over UDP, one at a time. For each, the
send time (wall clock, ``time.time()``) is compared with ``window.liveRemote.lastApplied``,
the page's ``Date.now()`` when the streamed value reached the fader: both are this machine's
wall clock, so the difference is the whole path (UDP, the OSC thread, the bus, the
WebSocket's LISTEN stream at ``[remote] listen_hz``, the browser's message handling).

``python -m live.remote.measure [--changes N]`` prints p50 / p99; ``live bench --remote`` can
call ``measure_latency``. The same ``Rig`` and ``open_browser`` serve the browser tests.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from live.framelog import percentile

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
DRIVER = ("/usr/bin/chromedriver", "chromedriver")
ADDRESS = "/live/norm/walk/speed"


def _first(names: Sequence[str]) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def browser_paths() -> tuple[str, str] | str:
    """``(chromium, chromedriver)``, or a sentence saying what is missing."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install 'live[test]')"
    browser, driver = _first(CHROMIUM), _first(DRIVER)
    if browser is None:
        return "no Chromium (Debian: apt install chromium)"
    if driver is None:
        return "no chromedriver (Debian: apt install chromium-driver)"
    return browser, driver


def open_browser(width: int = 390, height: int = 844):
    """A headless Chromium driven by Selenium, with a fresh profile: returns the driver
    (``driver.quit()`` removes the profile as well)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = browser_paths()
    if isinstance(paths, str):
        raise RuntimeError(paths)
    browser, driver_path = paths
    profile = tempfile.mkdtemp(prefix="live-remote-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-extensions",
                "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows", "--mute-audio",
                f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # both paths given: Selenium Manager has nothing to find or download
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    quit_driver = driver.quit

    def quit_and_clean() -> None:
        try:
            quit_driver()
        finally:
            shutil.rmtree(profile, ignore_errors=True)

    driver.quit = quit_and_clean
    return driver


class Rig:
    """The show's control side on free ports of 127.0.0.1: a bus, the OSC server and the
    OSCQuery server with its WebSocket and the remote page. ``scene`` is what
    ``/live/scene/current`` says; ``send(address, value)`` is a UDP OSC message."""

    def __init__(self, registry=None, scenes_dir: Path | None = None, pin: str = "",
                 listen_hz: float = 30.0, local_networks: tuple[str, ...] | None = None,
                 scene: str = "default") -> None:
        from pythonosc.udp_client import SimpleUDPClient

        from live.config import OscConfig, OscQueryConfig, RemoteConfig
        from live.control.osc import OscServer
        from live.control.oscquery import OscQueryServer
        from live.params import Bus, Registry
        from live.remote import RemoteContext

        if scenes_dir is None:
            from live.config import PROJECT_DIR
            scenes_dir = PROJECT_DIR / "scenes"
        if registry is None:
            registry = Registry()
        self.registry = registry
        self.bus = Bus(registry)
        self.scene = scene
        osc_cfg = OscConfig(host="127.0.0.1", port=0)
        self.osc = OscServer(self.bus, osc_cfg)
        self.osc.start()
        extra = {} if local_networks is None else {"local_networks": local_networks}

        def query_server(port: int) -> OscQueryServer:
            return OscQueryServer(
                self.bus, OscQueryConfig(port=port, zeroconf=False), osc_cfg, self.osc.port,
                host="127.0.0.1", remote=RemoteConfig(pin=pin, listen_hz=listen_hz),
                osc_input=self.osc.input, scene_name=lambda: self.scene,
                context=RemoteContext(registry, scenes_dir, pin_required=bool(pin)), **extra)

        self._query_server = query_server
        try:
            self.query = query_server(0)
            self.query.start()
        except BaseException:
            self.osc.close()
            raise
        self.client = SimpleUDPClient("127.0.0.1", self.osc.port)

    def restart_query(self) -> None:
        """Close the OSCQuery server (every WebSocket drops) and start a new one on the same
        port, as a show restarting would."""
        port = self.query.port
        self.query.close()
        self.query = self._query_server(port)
        self.query.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.query.port}/remote/"

    def send(self, address: str, *values) -> None:
        self.client.send_message(address, list(values) if len(values) != 1 else values[0])

    def close(self) -> None:
        self.query.close()
        self.osc.close()

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


WAIT_APPLIED = """
const [address, value, done] = arguments;
const end = Date.now() + 5000;
(function check() {
  const r = window.liveRemote;
  const v = r.values[address];
  if (typeof v === "number" && Math.abs(v - value) < 1e-4 && r.lastApplied[address]) {
    done(r.lastApplied[address]);
  } else if (Date.now() > end) {
    done(null);
  } else {
    setTimeout(check, 1);
  }
})();
"""


def wait_page(driver, rig: Rig, address: str = ADDRESS, timeout: float = 60.0) -> None:
    """Wait until the page is connected and LISTENing on ``address``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready = driver.execute_script(
            "const r = window.liveRemote; return !!(r && r.connected && "
            "r.listening.includes(arguments[0]));", address)
        if ready:
            return
        time.sleep(0.05)
    raise TimeoutError(f"the remote page at {rig.url} did not connect and LISTEN on {address}")


def measure_latency(changes: int = 300, listen_hz: float = 30.0, gap_s: tuple[float, float] =
                    (0.02, 0.06), seed: int = 1, target=None) -> dict:
    """Value change over UDP -> page fader applied, ``changes`` times; milliseconds.
    ``target``: something with ``url`` and ``send(address, value)`` (a running show, for
    ``live bench --remote``); None starts a ``Rig`` of its own."""
    if target is not None:
        return _measure(target, changes, listen_hz, gap_s, seed)
    with Rig(listen_hz=listen_hz) as rig:
        return _measure(rig, changes, listen_hz, gap_s, seed)


def _measure(target, changes: int, listen_hz: float, gap_s: tuple[float, float],
             seed: int) -> dict:
    rng = random.Random(seed)
    samples: list[float] = []
    missed = 0
    driver = open_browser()
    try:
        driver.set_script_timeout(10)
        driver.get(target.url + "#walk")
        wait_page(driver, target)
        previous = -1.0
        for _ in range(changes):
            value = previous
            while abs(value - previous) < 0.01:
                value = round(rng.uniform(0.02, 0.98), 3)
            previous = value
            sent_ms = time.time() * 1000.0
            target.send(ADDRESS, value)
            applied = driver.execute_async_script(WAIT_APPLIED, ADDRESS, value)
            if applied is None:
                missed += 1
            else:
                samples.append(float(applied) - sent_ms)
            time.sleep(rng.uniform(*gap_s))  # off the stream's beat
        preview_frames = driver.execute_script(
            "return (window.liveRemote && window.liveRemote.previewFrames) || 0;")
    finally:
        driver.quit()
    return {
        "changes": changes,
        "received": len(samples),
        "missed": missed,
        "listen_hz": listen_hz,
        "p50_ms": percentile(samples, 50),
        "p90_ms": percentile(samples, 90),
        "p99_ms": percentile(samples, 99),
        "max_ms": max(samples) if samples else float("nan"),
        "mean_ms": sum(samples) / len(samples) if samples else float("nan"),
        "page_preview_frames": int(preview_frames),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m live.remote.measure",
        description="Latency of a value change over UDP OSC to the remote page's fader.")
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--listen-hz", type=float, default=30.0)
    args = parser.parse_args(argv)
    paths = browser_paths()
    if isinstance(paths, str):
        print(f"cannot measure: {paths}")
        return 2
    result = measure_latency(args.changes, args.listen_hz)
    print(f"remote: UDP value -> page fader over {result['received']}/{result['changes']} "
          f"changes (listen_hz {result['listen_hz']:g}): p50 {result['p50_ms']:.1f} ms, "
          f"p90 {result['p90_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
          f"max {result['max_ms']:.1f} ms")
    return 0 if result["missed"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

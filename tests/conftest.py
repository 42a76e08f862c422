"""Shared test set-up: no display, no sound card, small sizes."""

from __future__ import annotations

import os

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ["SDL_AUDIODRIVER"] = "dummy"
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (torchrun rendezvous)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check, timeout: float = 30.0, step: float = 0.02) -> bool:
    """Poll ``check`` until it is true (True) or ``timeout`` seconds pass (False)."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(step)
    return False


def run_while(engine, actions, timeout: float = 90.0) -> None:
    """Run ``engine`` on this thread while ``actions()`` runs on another; the engine stops
    when the actions return (or after ``timeout``), and their failure is raised here."""
    import threading

    errors = []

    def drive():
        try:
            actions()
        except BaseException as exc:  # reported on the test's thread
            errors.append(exc)
        finally:
            engine.stop.set()

    thread = threading.Thread(target=drive)
    thread.start()
    watchdog = threading.Timer(timeout, engine.stop.set)
    watchdog.start()
    engine.run(None)
    watchdog.cancel()
    thread.join()
    if errors:
        raise errors[0]


def bus_and_controls(**values):
    """A bus and settled controls with ``values`` set (``walk__speed=2`` sets walk.speed)."""
    from live.params import Bus, Controls, Registry

    registry = Registry()
    bus = Bus(registry)
    for name, value in values.items():
        bus.set(name.replace("__", "."), value)
    controls = Controls(registry)
    bus.drain(controls)
    controls.jump()
    return bus, controls


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def small_config(tmp_path: Path):
    """A config with a small output, the repo's scenes and models, snapshots in tmp."""
    from live import config

    return config.load(None, [
        "display.size=[320, 180]",
        f'paths.scenes="{REPO / "scenes"}"',
        f'paths.models="{REPO / "models"}"',
        f'paths.snapshots="{tmp_path / "snaps"}"',
    ])


def quiet_show(cfg, scene: str | None = None, scenes=None, audio_file=None):
    """A headless engine and its started control surface without network ports (OSC and
    OSCQuery off), optionally on another scenes folder or fed by an audio file."""
    from dataclasses import replace

    from live.cli import _prepare
    from live.config import OscConfig, OscQueryConfig
    from live.control.surface import ControlSurface
    from live.engine import Engine

    cfg = replace(cfg, osc=OscConfig(enabled=False), oscquery=OscQueryConfig(enabled=False))
    if scenes is not None:
        cfg = replace(cfg, paths=replace(cfg.paths, scenes=str(scenes)))
    scene_, model, choice = _prepare(cfg, scene, None)
    engine = Engine(cfg, model, choice, scene_, headless=True)
    surface = ControlSurface(cfg, engine, audio_file=audio_file)
    surface.start()
    return engine, surface


@pytest.fixture(scope="module")
def ctx():
    """A standalone OpenGL context (EGL; Mesa's llvmpipe without a GPU), one per test module;
    the module's tests are skipped where there is no OpenGL."""
    from live.render import glcontext

    try:
        context = glcontext.standalone()
    except glcontext.GLContextError as exc:
        pytest.skip(f"no OpenGL here: {exc}")
    yield context
    context.release()

"""The remote page in a real browser: headless Chromium (Debian's ``chromium`` and
``chromedriver`` through Selenium) against the real OSC and OSCQuery servers on free ports.

One browser for the module. Every check waits on the page's state (``window.liveRemote``, the
DOM) or the show's bus with a generous timeout; nothing is timed.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from live.remote import measure
from tests.conftest import wait_for

REPO = Path(__file__).resolve().parent.parent
SCENES = REPO / "scenes"
TIMEOUT = 60.0

_paths = measure.browser_paths()
pytestmark = pytest.mark.skipif(isinstance(_paths, str), reason=str(_paths))


@pytest.fixture(scope="module")
def rig():
    from live.layers import show_registry

    with measure.Rig(registry=show_registry(SCENES), scenes_dir=SCENES,
                     scene="default") as rig:
        yield rig


@pytest.fixture(scope="module")
def driver():
    driver = measure.open_browser(390, 844)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


def js(driver, script: str, *args):
    return driver.execute_script(script, *args)


def until(driver, script: str, *args, timeout: float = TIMEOUT) -> bool:
    return wait_for(lambda: bool(js(driver, script, *args)), timeout=timeout, step=0.05)


def open_page(driver, rig, page: str = "walk") -> None:
    driver.get(rig.url + "#" + page)
    assert until(driver, "return !!(window.liveRemote && window.liveRemote.connected && "
                         "window.liveRemote.page === arguments[0] && window.liveRemote"
                         ".listening.includes('/live/scene/current'))", page), \
        "the page did not connect"


def severe_logs(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def fader(driver, address: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'.fader[data-address="{address}"]')


def test_the_page_connects_and_shows_the_show(driver, rig):
    open_page(driver, rig)
    state = js(driver, "const r = window.liveRemote; return {pages: r.layout.pages.length,"
                       " tabs: document.querySelectorAll('.tab').length, page: r.page,"
                       " listening: r.listening};")
    assert state["pages"] == state["tabs"] >= 8
    assert state["page"] == "walk"
    assert "/live/scene/current" in state["listening"]
    assert "/live/norm/walk/speed" in state["listening"]
    # the namespace's values reached the controls (walk.speed 1 of 0-8)
    assert until(driver, "return document.querySelector('.fader[data-address=\"/live/norm/"
                         "walk/speed\"] .num').textContent === '1.00'")
    assert rig.query.ws_clients >= 1
    assert severe_logs(driver) == []


def test_dragging_a_fader_moves_the_show(driver, rig):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.interaction import POINTER_TOUCH
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    open_page(driver, rig)
    before = rig.bus.get("walk.speed")
    element = fader(driver, "/live/norm/walk/speed")
    width = element.size["width"]
    # a mouse: press, drag right by a third of the fader, let go
    (ActionChains(driver).click_and_hold(element).move_by_offset(10, 0)
     .move_by_offset(width // 3 - 10, 0).release().perform())
    expected = before + 8.0 / 3  # relative drag: a third of the width is a third of 0-8
    assert wait_for(lambda: abs(rig.bus.get("walk.speed") - expected) < 0.35, TIMEOUT), \
        (before, rig.bus.get("walk.speed"))
    assert rig.query.ws_messages_in > 0
    # a finger: drag left across a quarter of it
    moved = rig.bus.get("walk.speed")
    energy = fader(driver, "/live/norm/walk/energy")
    finger = ActionBuilder(driver, mouse=PointerInput(POINTER_TOUCH, "finger"))
    finger.pointer_action.move_to(energy).pointer_down()
    for _ in range(5):
        finger.pointer_action.move_by(-energy.size["width"] // 20, 0)
    finger.pointer_action.pointer_up()
    before_energy = rig.bus.get("walk.energy")
    finger.perform()
    assert wait_for(lambda: rig.bus.get("walk.energy") < before_energy - 0.1, TIMEOUT)
    assert rig.bus.get("walk.speed") == moved
    # the page shows what the show has
    assert until(driver, "return Math.abs(liveRemote.values['/live/norm/walk/speed'] - "
                         "arguments[0]) < 1e-3", moved / 8.0)


def test_a_value_sent_over_udp_moves_the_fader(driver, rig):
    open_page(driver, rig)
    rig.send("/live/walk/speed", 6.0)  # native: the page follows the norm address
    assert until(driver, "const f = document.querySelector('.fader[data-address=\"/live/"
                         "norm/walk/speed\"]'); return f.dataset.value === '0.7500' && "
                         "f.querySelector('.num').textContent === '6.00' && "
                         "liveRemote.lastApplied['/live/norm/walk/speed'] > 0")
    rig.send("/live/walk/mode", "orbit")
    assert until(driver, "const on = document.querySelectorAll('.opt.on[data-address=\"/live"
                         "/walk/mode\"]'); return on.length === 1 && "
                         "on[0].dataset.value === 'orbit'")
    rig.send("/live/norm/walk/energy", 0.5)
    assert until(driver, "return document.querySelector('.fader[data-address=\"/live/norm/"
                         "walk/energy\"]').dataset.value === '0.5000'")
    # an on/off parameter arrives as T/F and its toggle follows; a tap sends it back
    open_page(driver, rig, "text")
    toggle = "document.querySelector('.btn.toggle[data-address=\"/live/text/visible\"]')"
    rig.send("/live/text/visible", 1)
    assert until(driver, f"return {toggle}.classList.contains('on')")
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, '.btn.toggle[data-address="/live/text/visible"]'
                        ).click()
    assert wait_for(lambda: rig.bus.get("text.visible") == 0.0, TIMEOUT)
    assert until(driver, f"return !{toggle}.classList.contains('on')")


def test_the_current_scene_is_lit_and_its_layers_shown(driver, rig):
    open_page(driver, rig, "scenes")
    lit = ("return [...document.querySelectorAll('.scenes:not(.compact) .scene.on')]"
           ".map(b => b.dataset.scene).join(',') === arguments[0]")
    assert until(driver, lit, "default")
    rig.scene = "kaleido"
    assert until(driver, lit, "kaleido")
    assert js(driver, "return document.getElementById('scene-now').textContent") == "kaleido"
    driver.get(rig.url + "#layers")
    shown = ("return [...document.querySelectorAll('.sec[data-layer]:not([data-hidden])')]"
             ".map(s => s.dataset.layer).sort().join(',')")
    assert until(driver, shown + " === 'kal_neon,kal_palette'")
    assert until(driver, "return liveRemote.listening.includes("
                         "'/live/norm/layer/kal_palette/opacity') && !liveRemote.listening"
                         ".includes('/live/norm/layer/def_tone/opacity')")
    # a scene button sends the scene's name
    from selenium.webdriver.common.by import By

    driver.get(rig.url + "#scenes")
    button = driver.find_element(By.CSS_SELECTOR, '.scenes:not(.compact) .scene'
                                                  '[data-scene="strobe"]')
    applied = rig.osc.stats.applied
    button.click()
    assert wait_for(lambda: rig.osc.stats.applied > applied, TIMEOUT)
    rig.scene = "default"
    assert until(driver, lit, "default")


def test_the_preview_shows_the_frames_the_server_sends(driver, rig):
    import pygame

    open_page(driver, rig)
    assert wait_for(lambda: rig.query.preview_watchers() >= 1, TIMEOUT)
    frames = []
    for colour in ((200, 30, 90), (20, 160, 220)):
        surface = pygame.Surface((64, 36))
        surface.fill(colour)
        data = io.BytesIO()
        pygame.image.save(surface, data, "frame.jpg")
        frames.append(data.getvalue())
    assert frames[0][:2] == b"\xff\xd8"
    for frame in frames:
        start = js(driver, "return liveRemote.previewFrames")
        rig.query.broadcast_preview(frame)
        assert until(driver, "return liveRemote.previewFrames > arguments[0]", start)
    assert until(driver, "const img = document.getElementById('preview'); return img.complete"
                         " && img.naturalWidth === 64 && img.naturalHeight === 36 && "
                         "img.src.startsWith('blob:')")
    # the last frame is the one shown: its middle pixel is the second colour
    pixel = js(driver, "const img = document.getElementById('preview');"
                       "const c = document.createElement('canvas'); c.width = 64; c.height = 36;"
                       "const g = c.getContext('2d'); g.drawImage(img, 0, 0);"
                       "return Array.from(g.getImageData(32, 18, 1, 1).data);")
    assert all(abs(a - b) < 24 for a, b in zip(pixel[:3], (20, 160, 220), strict=True)), pixel
    # hiding the preview tells the server
    js(driver, "document.getElementById('preview-toggle').click()")
    assert wait_for(lambda: rig.query.preview_watchers() == 0, TIMEOUT)
    js(driver, "document.getElementById('preview-toggle').click()")
    assert wait_for(lambda: rig.query.preview_watchers() >= 1, TIMEOUT)


def test_the_page_reconnects_when_the_server_comes_back(driver, rig):
    open_page(driver, rig)
    reconnects = js(driver, "return liveRemote.reconnects")
    rig.restart_query()
    assert until(driver, "return liveRemote.reconnects > arguments[0] && liveRemote.connected"
                         " && liveRemote.listening.includes('/live/norm/walk/speed')",
                 reconnects)
    rig.send("/live/walk/speed", 2.0)
    assert until(driver, "return document.querySelector('.fader[data-address=\"/live/norm/"
                         "walk/speed\"]').dataset.value === '0.2500'")


def test_writes_need_the_pin(driver):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    # loopback counts as remote here, so this browser must give the PIN
    with measure.Rig(scenes_dir=SCENES, pin="4321", local_networks=()) as rig:
        driver.get(rig.url + "#walk")
        assert until(driver, "return liveRemote.connected && liveRemote.pinRequired && "
                             "!liveRemote.authorised")
        assert until(driver, "return !document.getElementById('pin').hidden")
        # a write is not sent while locked (and the server would drop it)
        js(driver, "document.getElementById('pin-later').click()")
        element = fader(driver, "/live/norm/walk/speed")
        ActionChains(driver).click_and_hold(element).move_by_offset(80, 0).release().perform()
        assert until(driver, "return !document.getElementById('pin').hidden")
        assert rig.bus.get("walk.speed") == 1.0
        box = driver.find_element(By.ID, "pin-input")
        box.send_keys("1111")
        driver.find_element(By.ID, "pin-submit").click()
        assert until(driver, "return document.getElementById('pin-error').textContent"
                             ".includes('wrong')")
        assert not js(driver, "return liveRemote.authorised")
        box.send_keys("4321")
        driver.find_element(By.ID, "pin-submit").click()
        assert until(driver, "return liveRemote.authorised && "
                             "document.getElementById('pin').hidden")
        ActionChains(driver).click_and_hold(element).move_by_offset(80, 0).release().perform()
        assert wait_for(lambda: rig.bus.get("walk.speed") > 1.5, TIMEOUT)
        assert rig.query.pin_failures == 1

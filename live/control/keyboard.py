"""Keyboard shortcuts: the first control source, publishing to the bus like any other.

=========================  ==========================================
key                        action
=========================  ==========================================
space, right arrow         next cue (or next keyframe when none stored)
up / down                  walk speed x1.25 / /1.25
1 / 2 / 3                  walk mode: loop / noise / orbit
F1..F8                     recall cue 1..8;  shift+F1..F8 stores it
0, backspace               release the held cue
r                          new keyframes (reseed), with a glide
m / k                      next mirror mode / more kaleidoscope segments
b                          flash
f                          fullscreen on/off
h                          HUD on/off
s                          snapshot (PNG)
v                          start / stop recording an mp4
n / p                      next / previous scene
t                          tap tempo
l                          MIDI learn: the next control moved drives the last changed parameter
x                          live text on / off
q, escape                  quit
=========================  ==========================================
"""

from __future__ import annotations

import pygame

from live.params import MIRROR_MODES, WALK_MODES, Bus

SPEED_STEP = 1.25
KALEIDO_STEPS = (0, 3, 4, 6, 8, 12)


def handle_key(event: pygame.event.Event, bus: Bus) -> None:
    """Publish the bus messages for one KEYDOWN event."""
    key, mods = event.key, event.mod
    if key in (pygame.K_SPACE, pygame.K_RIGHT):
        bus.trigger("cue.next")
    elif key == pygame.K_UP:
        bus.set("walk.speed", bus.get("walk.speed") * SPEED_STEP)
    elif key == pygame.K_DOWN:
        bus.set("walk.speed", bus.get("walk.speed") / SPEED_STEP)
    elif pygame.K_1 <= key <= pygame.K_3:
        bus.set("walk.mode", WALK_MODES[key - pygame.K_1])
    elif pygame.K_F1 <= key <= pygame.K_F8:
        slot = key - pygame.K_F1
        bus.trigger("cue.store" if mods & pygame.KMOD_SHIFT else "cue.recall", slot)
    elif key in (pygame.K_0, pygame.K_BACKSPACE):
        bus.trigger("cue.release")
    elif key == pygame.K_r:
        bus.trigger("walk.reseed")
    elif key == pygame.K_m:
        mirror = int(bus.get("fx.mirror"))
        bus.set("fx.mirror", MIRROR_MODES[(mirror + 1) % len(MIRROR_MODES)])
    elif key == pygame.K_k:
        current = int(bus.get("fx.kaleido"))
        later = [n for n in KALEIDO_STEPS if n > current]
        bus.set("fx.kaleido", later[0] if later else 0)
    elif key == pygame.K_b:
        bus.trigger("fx.flash")
    elif key == pygame.K_f:
        bus.trigger("show.fullscreen")
    elif key == pygame.K_h:
        bus.trigger("show.hud")
    elif key == pygame.K_s:
        bus.trigger("show.snapshot")
    elif key == pygame.K_v:
        bus.set("show.record", bus.get("show.record") < 0.5)
    elif key == pygame.K_n:
        bus.trigger("scene.next")
    elif key == pygame.K_p:
        bus.trigger("scene.prev")
    elif key == pygame.K_t:
        bus.trigger("tempo.tap")
    elif key == pygame.K_l:
        bus.trigger("midi.learn", text="")
    elif key == pygame.K_x:
        bus.set("text.visible", bus.get("text.visible") < 0.5)
    elif key in (pygame.K_q, pygame.K_ESCAPE):
        bus.trigger("show.quit")


def handle_events(events: list[pygame.event.Event], bus: Bus) -> None:
    for event in events:
        if event.type == pygame.KEYDOWN:
            handle_key(event, bus)
        elif event.type == pygame.QUIT:
            bus.trigger("show.quit")

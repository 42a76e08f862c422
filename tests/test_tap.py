"""Frame taps (video out, the remote's preview) on a real OpenGL context: frames reach a
consumer thread one frame late, in order, with the right pixels; a slow consumer costs
frames (counted), never memory or a wait on the render thread."""

from __future__ import annotations

import threading

from live.render.tap import FrameTap

SIZE = (32, 18)


def _target(ctx):
    return ctx.simple_framebuffer(SIZE, components=4)


def _paint(framebuffer, value: int) -> None:
    framebuffer.use()
    framebuffer.clear(value / 255.0, 0.5, 1.0 - value / 255.0, 1.0)


class Clock:
    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns


def test_frames_arrive_one_frame_late_with_their_pixels(ctx):
    fb = _target(ctx)
    tap = FrameTap("test", components=4)
    _paint(fb, 10)
    tap.capture(ctx, fb, SIZE, flip=False)
    assert tap.get(timeout=0) is None  # read one frame late
    _paint(fb, 200)
    tap.capture(ctx, fb, SIZE, flip=False)
    frame = tap.get(timeout=0)
    assert frame is not None and frame.seq == 1 and frame.size == SIZE
    assert frame.pixels.shape == (18, 32, 4)
    assert tuple(frame.pixels[0, 0]) == (10, 128, 245, 255)
    tap.release(frame)
    tap.capture(ctx, fb, SIZE, flip=False)
    frame = tap.get(timeout=0)
    assert frame.seq == 2 and frame.pixels[5, 5, 0] == 200
    tap.release_gl()
    fb.release()


def test_window_rows_are_flipped_for_the_consumer(ctx):
    fb = _target(ctx)
    fb.use()
    fb.clear(0, 0, 0, 1)
    ctx.scissor = (0, 0, SIZE[0], 1)  # GL row 0: the bottom row of a window
    fb.clear(1, 1, 1, 1)
    ctx.scissor = None
    tap = FrameTap("test", components=3)
    for _ in range(2):
        tap.capture(ctx, fb, SIZE, flip=True)
    frame = tap.get(timeout=0)
    assert frame.flipped
    picture = frame.top_down()
    assert picture[-1, 0, 0] == 255 and picture[0, 0, 0] == 0
    tap.release_gl()
    fb.release()


def test_a_slow_consumer_loses_frames_not_memory(ctx):
    fb = _target(ctx)
    tap = FrameTap("test", components=4, slots=3)
    held = []
    for value in range(40):
        _paint(fb, value)
        tap.capture(ctx, fb, SIZE, flip=False)
        if value in (5, 12):  # the consumer takes two frames and keeps them
            held.append(tap.get(timeout=0))
    assert all(frame is not None for frame in held)
    # 39 frames were read or skipped; two taken, one waiting, the rest dropped and counted
    newest = tap.get(timeout=0)
    assert newest.pixels[0, 0, 0] == 38
    assert tap.taken == 3
    assert tap.dropped == 39 - 3
    for frame in [*held, newest]:
        tap.release(frame)
    assert len(tap._free) == 3  # the ring never grew
    tap.release_gl()
    fb.release()


def test_the_rate_limits_frames_read(ctx):
    fb = _target(ctx)
    clock = Clock()
    tap = FrameTap("test", components=3, rate=5.0, clock=clock)
    for i in range(60):  # one second of a 60 Hz show
        clock.ns = int(i * 1e9 / 60)
        tap.capture(ctx, fb, SIZE, flip=False)
        frame = tap.get(timeout=0)
        if frame is not None:
            tap.release(frame)
    assert tap.captured == 5
    tap.release_gl()
    fb.release()


def test_inactive_tap_reads_nothing_and_close_wakes_the_consumer(ctx):
    fb = _target(ctx)
    tap = FrameTap("test")
    tap.active = False
    for _ in range(3):
        tap.capture(ctx, fb, SIZE, flip=False)
    assert tap.captured == 0 and tap.size is None
    got = []
    consumer = threading.Thread(target=lambda: got.append(tap.get(timeout=60)))
    consumer.start()
    tap.close()
    consumer.join(timeout=30)
    assert not consumer.is_alive() and got == [None]
    fb.release()


def test_a_resize_gives_new_slots_and_old_frames_are_discarded(ctx):
    fb = _target(ctx)
    tap = FrameTap("test", components=4)
    for _ in range(2):
        tap.capture(ctx, fb, SIZE, flip=False)
    old = tap.get(timeout=0)
    big = ctx.simple_framebuffer((64, 36), components=4)
    for _ in range(2):
        tap.capture(ctx, big, (64, 36), flip=False)
    frame = tap.get(timeout=0)
    assert frame.size == (64, 36)
    tap.release(old)  # from before the resize: not taken back into the ring
    assert all(slot.size == (64, 36) for slot in tap._free)
    assert frame.pixels.shape == (36, 64, 4)
    tap.release_gl()
    fb.release()
    big.release()


def test_the_preview_encodes_jpegs_only_while_someone_watches(ctx):
    import io

    import pygame

    from live.control.preview import PreviewEncoder
    from tests.conftest import wait_for

    fb = _target(ctx)
    _paint(fb, 250)
    sent = []
    watching = [0]
    preview = PreviewEncoder(sent.append, lambda: watching[0], fps=0, width=16, quality=80)
    preview.tap.rate = 0.0  # every frame this test renders
    preview.start()
    try:
        for _ in range(5):
            preview.tap.capture(ctx, fb, SIZE, flip=False)
        assert preview.tap.captured == 0 and not sent  # nobody watching: nothing read
        watching[0] = 1
        assert wait_for(lambda: preview.tap.active, timeout=30)

        def render_until_sent():
            preview.tap.capture(ctx, fb, SIZE, flip=False)
            return len(sent) >= 2

        assert wait_for(render_until_sent, timeout=60)
        jpeg = sent[-1]
        assert jpeg[:2] == b"\xff\xd8"
        picture = pygame.image.load(io.BytesIO(jpeg), "x.jpg")
        assert picture.get_size() == (16, 9)
        red, green, blue = picture.get_at((8, 4))[:3]
        assert red > 220 and 100 < green < 156 and blue < 40
        assert "preview" in preview.hud_line()
        watching[0] = 0
        assert wait_for(lambda: not preview.tap.active, timeout=30)
    finally:
        preview.close()
        preview.tap.release_gl()
        fb.release()


def test_the_rate_holds_when_show_frames_do_not_fall_on_its_grid(ctx):
    """5 a second from a 23 fps show is 5 a second (not one every fifth frame: 4.6)."""
    fb = _target(ctx)
    clock = Clock()
    tap = FrameTap("test", components=3, rate=5.0, clock=clock)
    for i in range(23 * 10 + 1):  # ten seconds
        clock.ns = int(i * 1e9 / 23)
        tap.capture(ctx, fb, SIZE, flip=False)
        frame = tap.get(timeout=0)
        if frame is not None:
            tap.release(frame)
    assert tap.captured == 50
    tap.release_gl()
    fb.release()

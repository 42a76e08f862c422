"""Procedural abstract compositions: a training set anyone can make without a dataset.

Each picture layers a handful of soft-edged elements over a gradient ground, coloured from a
harmonious palette (analogous, complementary, triadic or split-complementary around a random
hue): discs and rings, rotated bands, arcs, metaball blobs, stripe fields and glows, blended
normally or by screen/multiply. Pictures are drawn at twice the size and averaged down, so
edges are anti-aliased. Everything is vectorised numpy; a 128x128 picture takes milliseconds.

    live data procedural --out data/procedural --count 5000 --size 128
"""

from __future__ import annotations

import argparse
import colorsys
import logging
import math
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SCHEMES = {
    "analogous": (0.0, 0.08, -0.08, 0.16),
    "complementary": (0.0, 0.5, 0.04, 0.54),
    "triadic": (0.0, 1 / 3, 2 / 3, 0.04),
    "split": (0.0, 0.42, 0.58, 0.02),
}


def palette(rng: np.random.Generator, size: int = 5) -> np.ndarray:
    """``size`` RGB colours in [0, 1] from a colour scheme around a random hue."""
    base = rng.random()
    offsets = SCHEMES[rng.choice(list(SCHEMES))]
    colours = []
    for i in range(size):
        hue = (base + offsets[i % len(offsets)] + rng.normal(0, 0.015)) % 1.0
        sat = float(np.clip(rng.normal(0.65, 0.2), 0.15, 1.0))
        val = float(np.clip(rng.normal(0.7, 0.22), 0.12, 1.0))
        colours.append(colorsys.hsv_to_rgb(hue, sat, val))
    return np.array(colours)


def _smooth_edge(distance: np.ndarray, softness: float) -> np.ndarray:
    """1 inside (distance < 0), 0 outside, with a smoothstep ramp ``softness`` wide."""
    t = np.clip(0.5 - distance / max(softness, 1e-4), 0.0, 1.0)
    return t * t * (3 - 2 * t)


class Canvas:
    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.rng = rng
        coords = (np.arange(size) + 0.5) / size * 2 - 1
        self.y, self.x = np.meshgrid(coords, coords, indexing="ij")
        self.pixel = 2.0 / size
        self.image = np.zeros((size, size, 3))

    def blend(self, alpha: np.ndarray, colour: np.ndarray | np.ndarray, mode: str = "normal"):
        alpha = alpha[..., None]
        colour = np.broadcast_to(colour, self.image.shape)
        if mode == "screen":
            colour = 1 - (1 - self.image) * (1 - colour)
        elif mode == "multiply":
            colour = self.image * colour
        self.image = self.image * (1 - alpha) + colour * alpha

    def rotated(self, angle: float, cx: float = 0.0, cy: float = 0.0):
        c, s = math.cos(angle), math.sin(angle)
        dx, dy = self.x - cx, self.y - cy
        return c * dx + s * dy, -s * dx + c * dy


def ground(cv: Canvas, colours: np.ndarray) -> None:
    rng = cv.rng
    a, b = colours[rng.choice(len(colours), 2, replace=False)]
    if rng.random() < 0.5:
        u, _ = cv.rotated(rng.uniform(0, 2 * math.pi))
        t = np.clip(u * 0.5 + 0.5, 0, 1)
    else:
        cx, cy = rng.uniform(-0.8, 0.8, 2)
        t = np.clip(np.hypot(cv.x - cx, cv.y - cy) / rng.uniform(1.0, 2.2), 0, 1)
    t = t[..., None]
    dark = rng.uniform(0.35, 1.0)
    cv.image = (a * (1 - t) + b * t) * dark


def disc(cv: Canvas, colour: np.ndarray) -> np.ndarray:
    rng = cv.rng
    cx, cy = rng.uniform(-0.9, 0.9, 2)
    r = rng.uniform(0.1, 0.7)
    d = np.hypot(cv.x - cx, cv.y - cy) - r
    if rng.random() < 0.35:  # ring
        d = np.abs(d) - rng.uniform(0.01, 0.12)
    return _smooth_edge(d, cv.pixel * rng.choice([1.5, 4, 12, 40]))


def band(cv: Canvas, colour: np.ndarray) -> np.ndarray:
    rng = cv.rng
    u, v = cv.rotated(rng.uniform(0, math.pi), *rng.uniform(-0.6, 0.6, 2))
    half_w, half_h = rng.uniform(0.03, 0.35), rng.uniform(0.3, 2.0)
    d = np.maximum(np.abs(u) - half_w, np.abs(v) - half_h)
    return _smooth_edge(d, cv.pixel * rng.choice([1.5, 3, 10]))


def arc(cv: Canvas, colour: np.ndarray) -> np.ndarray:
    rng = cv.rng
    cx, cy = rng.uniform(-1, 1, 2)
    r = rng.uniform(0.3, 1.1)
    width = rng.uniform(0.02, 0.1)
    start, span = rng.uniform(0, 2 * math.pi), rng.uniform(0.6, 3.5)
    angle = (np.arctan2(cv.y - cy, cv.x - cx) - start) % (2 * math.pi)
    radial = np.abs(np.hypot(cv.x - cx, cv.y - cy) - r) - width
    angular = (angle - span) * r  # outside the span: positive distance along the circle
    d = np.maximum(radial, np.where(angle < span, -1.0, angular))
    return _smooth_edge(d, cv.pixel * 2)


def blobs(cv: Canvas, colour: np.ndarray) -> np.ndarray:
    rng = cv.rng
    field = np.zeros_like(cv.x)
    for _ in range(rng.integers(3, 8)):
        cx, cy = rng.uniform(-0.9, 0.9, 2)
        s = rng.uniform(0.08, 0.3)
        field += np.exp(-((cv.x - cx) ** 2 + (cv.y - cy) ** 2) / (2 * s * s))
    level = rng.uniform(0.4, 0.8)
    return _smooth_edge(level - field, 0.08)


def stripes(cv: Canvas, colour: np.ndarray) -> np.ndarray:
    rng = cv.rng
    u, v = cv.rotated(rng.uniform(0, math.pi))
    freq = rng.uniform(3, 14)
    warp = rng.uniform(0, 0.4) * np.sin(v * rng.uniform(1, 4) + rng.uniform(0, 6))
    wave = np.sin((u + warp) * freq * math.pi)
    mask = _smooth_edge(-wave + rng.uniform(-0.3, 0.5), 0.25)
    # confined to a soft region so stripes do not always fill the frame
    cx, cy = rng.uniform(-0.6, 0.6, 2)
    region = _smooth_edge(np.hypot(cv.x - cx, cv.y - cy) - rng.uniform(0.4, 1.4), 0.3)
    return mask * region


def glow(cv: Canvas, colour: np.ndarray) -> np.ndarray:
    rng = cv.rng
    cx, cy = rng.uniform(-0.8, 0.8, 2)
    s = rng.uniform(0.15, 0.6)
    return np.exp(-((cv.x - cx) ** 2 + (cv.y - cy) ** 2) / (2 * s * s)) * rng.uniform(0.4, 0.9)


ELEMENTS = (disc, band, arc, blobs, stripes, glow)
WEIGHTS = np.array([0.25, 0.17, 0.12, 0.18, 0.13, 0.15])


def composition(size: int, rng: np.random.Generator) -> np.ndarray:
    """One picture, (size, size, 3) uint8."""
    cv = Canvas(size * 2, rng)
    colours = palette(rng)
    ground(cv, colours)
    for _ in range(rng.integers(2, 7)):
        element = ELEMENTS[rng.choice(len(ELEMENTS), p=WEIGHTS)]
        colour = colours[rng.integers(len(colours))]
        alpha = element(cv, colour) * rng.uniform(0.55, 1.0)
        mode = rng.choice(["normal", "normal", "normal", "screen", "multiply"])
        cv.blend(alpha, colour, mode)
    grain = rng.normal(0, 0.012, cv.image.shape[:2])[..., None]
    image = np.clip(cv.image + grain, 0, 1)
    image = image.reshape(size, 2, size, 2, 3).mean(axis=(1, 3))  # 2x2 anti-aliasing
    return (image * 255 + 0.5).astype(np.uint8)


def generate(out: Path, count: int, size: int, seed: int = 0) -> int:
    """Write ``count`` PNGs into ``out``; returns how many were written."""
    import os

    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    out.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        image = composition(size, rng)
        surface = pygame.surfarray.make_surface(image.transpose(1, 0, 2))
        pygame.image.save(surface, str(out / f"proc-{seed:04d}-{i:06d}.png"))
    return count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    if args.count < 1 or args.size < 8:
        raise ValueError("--count must be >= 1 and --size >= 8")
    written = generate(args.out, args.count, args.size, args.seed)
    log.info("wrote %d %dx%d pictures to %s", written, args.size, args.size, args.out)
    return 0

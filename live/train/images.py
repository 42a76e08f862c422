"""Image folders for training: recursive png/jpg/webp/tif/bmp, decoded once into one uint8 tensor.

Nothing is dropped or changed silently. Unreadable or corrupt files are skipped and reported
in a single warning with their count (and the first few names), never a crash halfway through
a training run; files with other extensions are counted by extension in one warning; and one
line says how many pictures were cropped and resized, a warning when some were enlarged (a 64 px
picture trained at 128 px is blurred, and so are the model's pictures). Grayscale, palette and
RGBA pictures are converted to RGB (alpha composited on black); every picture is centre
cropped to a square and resized to ``size`` with antialiased resampling.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

log = logging.getLogger(__name__)

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
"""What pygame-ce's SDL_image decodes on every platform its wheels ship for."""


def find_images(root: Path) -> list[Path]:
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder of images")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())


def ignored_files(root: Path) -> Counter[str]:
    """Files under ``root`` that ``find_images`` leaves out, counted by extension (hidden
    files, such as .DS_Store, are not counted)."""
    return Counter(p.suffix.lower() or "(none)" for p in root.rglob("*")
                   if p.suffix.lower() not in EXTENSIONS and not p.name.startswith(".")
                   and p.is_file())


def load_picture(path: Path, size: int) -> np.ndarray:
    """One picture as (size, size, 3) uint8: RGB, centre-cropped square, resized."""
    return load_picture_sized(path, size)[0]


def load_picture_sized(path: Path, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """``load_picture`` and the picture's original (width, height)."""
    surface = pygame.image.load(str(path))
    width, height = surface.get_size()
    if width < 1 or height < 1:
        raise ValueError("empty picture")
    side = min(width, height)
    square = surface.subsurface(((width - side) // 2, (height - side) // 2, side, side))
    rgba = pygame.Surface((side, side), pygame.SRCALPHA, 32)
    rgba.fill((0, 0, 0, 255))
    rgba.blit(square, (0, 0))  # alpha composited on black, palettes and grey expanded
    rgb = pygame.Surface((side, side), 0, 24)
    rgb.blit(rgba, (0, 0))
    pixels = pygame.surfarray.array3d(rgb).transpose(1, 0, 2)
    if side == size:
        return pixels.copy(), (width, height)
    # antialiased resampling (area-like when shrinking); exact on flat colour
    image = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float()
    image = torch.nn.functional.interpolate(image, size=(size, size), mode="bilinear",
                                            antialias=True, align_corners=False)
    resized = image[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    return resized, (width, height)


def add_picture_arguments(parser: argparse.ArgumentParser, steps: int) -> None:
    """The options every trainer on an image folder takes (``live train gan|vae``)."""
    parser.add_argument("--images", type=Path, required=True,
                        help="folder of pictures, searched recursively "
                             f"({' '.join(e.lstrip('.') for e in EXTENSIONS)}); other files "
                             "are counted and reported")
    parser.add_argument("--out", type=Path, required=True,
                        help="model folder to write (created; model.toml, model.safetensors, "
                             "samples.png, loss.png)")
    parser.add_argument("--size", type=int, default=128,
                        help="resolution in pixels, a power of two from 8 to 1024; pictures "
                             "are centre-cropped square and resized to it (smaller ones are "
                             "enlarged, with a warning)")
    parser.add_argument("--steps", type=int, default=steps,
                        help="optimizer steps in all (a resumed run continues up to this)")
    parser.add_argument("--batch", type=int, default=16,
                        help="pictures per step and process")
    parser.add_argument("--val-fraction", type=float, default=0.05,
                        help="share of the pictures held out for validation")
    parser.add_argument("--limit", type=int, default=None,
                        help="use at most N pictures (default: all)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the weights, the split and the batches")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available) | cpu | cuda | cuda:N")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUT/checkpoint.safetensors")
    parser.add_argument("--description", default="",
                        help="one line for model.toml (default: one naming the folder)")


class ImageFolder(torch.utils.data.Dataset):
    """Every readable picture under ``root`` at ``size``x``size``; items are (3, S, S) in [-1, 1].

    ``pictures`` holds them all as one (N, 3, S, S) uint8 tensor (a 5,000-picture set at 128x128
    is 245 MB), so an epoch costs no decoding.
    """

    def __init__(self, root: Path, size: int, limit: int | None = None) -> None:
        self.root = Path(root)
        self.size = size
        paths = find_images(self.root)[:limit]
        pictures, skipped = [], []
        sides = []
        cropped = 0
        for path in paths:
            try:
                pixels, (width, height) = load_picture_sized(path, size)
            except (pygame.error, ValueError, OSError) as exc:
                skipped.append(f"{path.name} ({exc})")
                continue
            pictures.append(pixels)
            sides.append(min(width, height))
            cropped += width != height
        if skipped:
            log.warning("skipped %d unreadable of %d files in %s: %s%s", len(skipped),
                        len(paths), self.root, "; ".join(skipped[:3]),
                        " ..." if len(skipped) > 3 else "")
        self.skipped = len(skipped)
        self.ignored = ignored_files(self.root)
        """Files left out for their extension, by extension."""
        if self.ignored:
            log.warning("ignored %d files in %s that are not pictures this loader reads (%s); "
                        "it reads %s", sum(self.ignored.values()), self.root,
                        ", ".join(f"{ext} {n}" for ext, n in self.ignored.most_common()),
                        " ".join(EXTENSIONS))
        self.enlarged = sum(side < size for side in sides)
        """Pictures smaller than ``size`` (blurred by the enlargement)."""
        self.shrunk = sum(side > size for side in sides)
        self.cropped = cropped
        if self.enlarged or self.shrunk or self.cropped:
            report = log.warning if self.enlarged else log.info
            smallest = f" (the smallest {min(sides)} px)" if self.enlarged else ""
            report("resized %d of %d pictures to %dx%d: %d enlarged%s, %d shrunk; %d "
                   "non-square ones centre-cropped", self.enlarged + self.shrunk,
                   len(pictures), size, size, self.enlarged, smallest, self.shrunk, cropped)
        if not pictures:
            raise ValueError(f"{self.root}: no readable pictures "
                             f"({len(paths)} files found, {len(skipped)} unreadable, "
                             f"{sum(self.ignored.values())} with other extensions)")
        self.pictures = torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).contiguous()

    def __len__(self) -> int:
        return len(self.pictures)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.pictures[index].float() / 127.5 - 1.0

    def split(self, val_fraction: float = 0.05, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices of a seeded train/validation split (validation at least one picture)."""
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        n_val = max(1, int(round(len(self) * val_fraction))) if len(self) > 1 else 0
        return order[n_val:], order[:n_val]

    def batch(self, indices: torch.Tensor, device: torch.device) -> torch.Tensor:
        """A float batch in [-1, 1] on ``device`` (uint8 travels, the conversion happens there)."""
        return self.pictures[indices].to(device, non_blocking=True).float() / 127.5 - 1.0

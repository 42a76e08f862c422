"""Image folders for training: recursive png/jpg/webp, decoded once into one uint8 tensor.

Unreadable or corrupt files are skipped and reported in a single warning with their count
(and the first few names), never a crash halfway through a training run. Grayscale, palette
and RGBA pictures are converted to RGB (alpha composited on black); every picture is centre
cropped to a square and resized to ``size`` with antialiased resampling.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

log = logging.getLogger(__name__)

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")


def find_images(root: Path) -> list[Path]:
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder of images")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())


def load_picture(path: Path, size: int) -> np.ndarray:
    """One picture as (size, size, 3) uint8: RGB, centre-cropped square, resized."""
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
        return pixels.copy()
    # antialiased resampling (area-like when shrinking); exact on flat colour
    image = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float()
    image = torch.nn.functional.interpolate(image, size=(size, size), mode="bilinear",
                                            antialias=True, align_corners=False)
    return image[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def add_picture_arguments(parser: argparse.ArgumentParser, steps: int) -> None:
    """The options every trainer on an image folder takes (``live train gan|vae``)."""
    parser.add_argument("--images", type=Path, required=True, help="folder of png/jpg/webp")
    parser.add_argument("--out", type=Path, required=True, help="model folder to write")
    parser.add_argument("--size", type=int, default=128, help="resolution (power of two)")
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--batch", type=int, default=16, help="batch per process")
    parser.add_argument("--val-fraction", type=float, default=0.05)
    parser.add_argument("--limit", type=int, default=None, help="use at most N pictures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument("--description", default="", help="one line for model.toml")


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
        for path in paths:
            try:
                pictures.append(load_picture(path, size))
            except (pygame.error, ValueError, OSError) as exc:
                skipped.append(f"{path.name} ({exc})")
        if skipped:
            log.warning("skipped %d unreadable of %d files in %s: %s%s", len(skipped),
                        len(paths), self.root, "; ".join(skipped[:3]),
                        " ..." if len(skipped) > 3 else "")
        self.skipped = len(skipped)
        if not pictures:
            raise ValueError(f"{self.root}: no readable png/jpg/webp pictures "
                             f"({len(paths)} files found, {len(skipped)} unreadable)")
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

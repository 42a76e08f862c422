"""Checks shared by the network configs: every architecture value typed and bounded.

A config is built from a model folder's ``[arch]`` table, which is user-controlled text. A
value of the wrong type ends in a torch traceback deep inside a constructor, and an absurd
one (``z_dim = 4000000000``) asks for terabytes before anything can check the weights. The
caps below are far above any model this project trains or can render live, and low enough
that nothing built within them is an absurd allocation.
"""

from __future__ import annotations

import math

MAX_LATENT = 4096
"""z, w and VAE latent sizes."""
MAX_RESOLUTION = 1024
MIN_RESOLUTION = 8
MAX_CHANNELS = 4096
MAX_CHANNEL_BASE = 1 << 20
MAX_LAYERS = 16
MAX_HIDDEN = 8192
"""Hidden and embedding sizes of the char-RNN."""
MAX_VOCAB = 65536


def check_int(name: str, value: object, low: int, high: int) -> None:
    """``value`` is an int (not a bool, not a float) in ``[low, high]``, else ValueError."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")


def check_float(name: str, value: object, low: float, high: float) -> None:
    """``value`` is a finite real number (int or float, not a bool) in ``[low, high]``."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")


def check_resolution(name: str, value: object) -> None:
    """A power of two in [MIN_RESOLUTION, MAX_RESOLUTION]: the nets grow 4x4 by doubling."""
    check_int(name, value, MIN_RESOLUTION, MAX_RESOLUTION)
    if value & (value - 1):
        raise ValueError(f"{name} must be a power of two, got {value}")

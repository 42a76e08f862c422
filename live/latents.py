"""Reproducible renders: given latents in, the generator's raw pictures out (``live sample
MODEL --z Z.npy [--c C.npy] [--truncation PSI] [--noise const] --out OUT.npy``).

Any picture generator folder works: the project's own GANs and VAEs, and imported StyleGAN2/3
models (which take a class vector ``c`` and a noise mode). Latents are read from ``.npy`` files
with numpy's own reader and ``allow_pickle=False`` (an object array is refused), through the
capped reader; the output is the decoded float32 ``[N, 3, H, W]``, not clamped, or a PNG grid.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

LATENTS_MAX_BYTES = 256 << 20
NOISE_MODES = ("const", "random", "none")
BATCH = 16


class LatentsError(ValueError):
    """Latents that cannot be used; the message names the file."""


def read_latents(path: Path, width: int, what: str) -> np.ndarray:
    """An ``[N, width]`` float32 array from ``path`` (``.npy``), or ``LatentsError``."""
    from live.safeio import FileReadError, read_bytes

    try:
        data = read_bytes(path, LATENTS_MAX_BYTES)
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except FileReadError as exc:
        raise LatentsError(f"{path}: {exc.reason}") from None
    except (ValueError, OSError, EOFError) as exc:
        raise LatentsError(f"{path}: not a .npy array ({str(exc)[:120]})") from None
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != width or not np.issubdtype(array.dtype, np.number):
        raise LatentsError(f"{path}: {what} must be numbers of shape [N, {width}], got "
                           f"{array.dtype} {list(array.shape)}")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise LatentsError(f"{path}: {what} holds NaN or infinite values")
    return array


@torch.inference_mode()
def render(module: torch.nn.Module, z: np.ndarray, c: np.ndarray | None, truncation: float,
           noise: str = "const") -> torch.Tensor:
    """``[N, 3, H, W]`` float32 pictures of ``module`` for the rows of ``z`` (and ``c``)."""
    if noise not in NOISE_MODES:
        raise LatentsError(f"noise must be one of {', '.join(NOISE_MODES)}, got {noise!r}")
    c_dim = getattr(getattr(module, "cfg", None), "c_dim", 0) or 0
    if c is None and c_dim:
        raise LatentsError(f"the model is conditional (c_dim {c_dim}): give --c C.npy")
    if c is not None and not c_dim:
        raise LatentsError("the model takes no class vector (--c is for conditional models)")
    if c is not None and len(c) != len(z):
        raise LatentsError(f"--c has {len(c)} rows, --z has {len(z)}")
    out = []
    for start in range(0, len(z), BATCH):
        zb = torch.from_numpy(z[start:start + BATCH])
        if type(module).__module__.startswith("live.stylegan."):  # an imported StyleGAN
            cb = None if c is None else torch.from_numpy(c[start:start + BATCH])
            images = module(zb, cb, truncation_psi=truncation, noise_mode=noise)
        elif hasattr(module, "w_avg"):  # our GAN
            images = module(zb, truncation)
        else:  # our VAE: its decoder, z as given
            images = module.decode(zb, truncation)
        out.append(images.float().cpu())
    return torch.cat(out)


def run_sample(loaded, args) -> bool:
    """``live sample`` with ``--z``: True when it handled the request."""
    if getattr(args, "z", None) is None:
        if getattr(args, "c", None) is not None:
            raise LatentsError("--c needs --z")
        return False
    module = loaded.module.eval()
    z_dim = module.latent_dim
    z = read_latents(args.z, z_dim, "z")
    c_dim = getattr(getattr(module, "cfg", None), "c_dim", 0) or 0
    if args.c is not None and not c_dim:
        raise LatentsError("the model takes no class vector (--c is for conditional models)")
    c = read_latents(args.c, c_dim, "c") if args.c is not None else None
    images = render(module, z, c, args.truncation, args.noise)
    if args.out.suffix == ".npy":
        np.save(args.out, images.numpy())
    else:
        from live.train.common import write_image_grid

        write_image_grid(args.out, images.clamp(-1, 1))
    return True

"""What every training loop shares: progress bar, checkpoints, distributed set-up, PNG output.

Checkpoints are safetensors (weights, EMA copies, optimizer tensors) plus a TOML sidecar for
everything that is not a tensor (step, optimizer hyper-parameters, metrics history, the
weights' sha256): never pickle. They are written atomically (temporary file, then rename), so
an interrupted save leaves the previous checkpoint intact, and a resume refuses a weights file
that no longer matches its sha256.

Distributed runs use ``torchrun``: ``setup_distributed`` reads its environment, joins the
process group (NCCL on CUDA, gloo on the CPU) and tells each process its rank; only rank 0
writes files.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import time
import tomllib
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from live.safeio import MIB, read_text
from live.store import dump_toml, read_weights, write_weights

CHECKPOINT_TOML_MAX_BYTES = 64 * MIB
"""The sidecar holds the whole loss history: far larger than a model.toml may be."""

_COMMAND_LINE: list[str] | None = None


def remember_command(argv: list[str]) -> None:
    """Record the arguments ``live`` was called with (the CLI does this before dispatching)."""
    global _COMMAND_LINE
    _COMMAND_LINE = list(argv)


def training_command() -> str:
    """The command line that is running, as a user would type it (for model.toml)."""
    argv = _COMMAND_LINE if _COMMAND_LINE is not None else sys.argv[1:]
    return "live " + shlex.join(argv)


# ---------------------------------------------------------------------------- options
class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``live train * --help``: every option's help ends with its default, except flags,
    options with no default to show, and helps that already say what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or action.nargs == 0 or "default" in text
                or default is None or default is argparse.SUPPRESS
                or (isinstance(default, str | list) and not default)):
            return text
        return text + " (default: %(default)s)"


def describe_options(parser: argparse.ArgumentParser, description: str = "",
                     epilog: str = "") -> None:
    """Have ``parser`` show defaults (``HelpFormatter``), a description and an epilog."""
    parser.formatter_class = HelpFormatter
    parser.description = description or parser.description
    parser.epilog = epilog or parser.epilog


# ---------------------------------------------------------------------------- progress
def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


class Progress:
    """A one-line progress bar on stderr: step, bar, metrics, rate and ETA (4 redraws/s)."""

    def __init__(self, total_steps: int, start_step: int = 0, desc: str = "",
                 enabled: bool = True, stream=None) -> None:
        self.total = total_steps
        self.start_step = start_step
        self.desc = desc
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self._last_draw = 0.0
        self.metrics: dict[str, float] = {}
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def line(self, step: int) -> str:
        elapsed = time.perf_counter() - self.started
        done = step - self.start_step
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - step) / rate if rate > 0 else math.inf
        filled = int(20 * step / max(self.total, 1))
        bar = "#" * filled + "." * (20 - filled)
        metrics = "  ".join(f"{k} {v:.4g}" for k, v in self.metrics.items())
        return (f"{self.desc} {step}/{self.total} [{bar}] {metrics}  "
                f"{rate:.2f} it/s  ETA {_duration(eta)}")

    def update(self, step: int, **metrics: float) -> None:
        self.metrics.update(metrics)
        now = time.perf_counter()
        if not self.enabled or (now - self._last_draw < 0.25 and step < self.total):
            return
        if not self.tty and now - self._last_draw < 10.0 and step < self.total:
            return  # a log file gets a line every 10 s, not a redraw storm
        self._last_draw = now
        end = "\r" if self.tty else "\n"
        print(self.line(step), end=end, file=self.stream, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            print(file=self.stream, flush=True)


# ---------------------------------------------------------------------------- checkpoints
def _flatten_optimizer(name: str, optimizer: torch.optim.Optimizer,
                       tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    state = optimizer.state_dict()
    scalars: dict[str, Any] = {}
    for index, slots in state["state"].items():
        for key, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"{name}.state.{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{index}.{key}"] = value
    # None-valued options (foreach, fused) are left out: TOML has no null, and the
    # optimizer's __setstate__ restores their defaults
    groups = [{k: v for k, v in g.items() if k != "params" and v is not None}
              | {"params": list(g["params"])} for g in state["param_groups"]]
    return {"scalars": scalars, "param_groups": groups}


def _unflatten_optimizer(name: str, optimizer: torch.optim.Optimizer,
                         tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"{name}.state."
    for key, value in tensors.items():
        if key.startswith(prefix):
            index, slot = key[len(prefix):].split(".", 1)
            state.setdefault(int(index), {})[slot] = value
    for key, value in meta.get("scalars", {}).items():
        index, slot = key.split(".", 1)
        state.setdefault(int(index), {})[slot] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(path: Path, modules: dict[str, nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer], meta: dict[str, Any]) -> None:
    """Write ``path`` (.safetensors) and its ``.toml`` sidecar atomically.

    Module and optimizer names must be distinct and dot-free (``"g"``, ``"opt_g"``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"{name}.{key}"] = value.detach().contiguous().cpu()
    sidecar = {"meta": meta, "optimizers": {
        name: _flatten_optimizer(name, opt, tensors) for name, opt in optimizers.items()}}
    # weights first, then the sidecar naming their sha256: a crash between the two leaves a
    # checkpoint that a resume refuses with the reason instead of loading mismatched halves
    sidecar["sha256"] = write_weights(path, tensors)
    tmp_meta = path.with_suffix(".toml.tmp")
    tmp_meta.write_text(_toml_nested(sidecar), encoding="utf-8")
    os.replace(tmp_meta, path.with_suffix(".toml"))


def load_checkpoint(path: Path, modules: dict[str, nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, Any]:
    """Restore modules and optimizers from ``save_checkpoint`` output; returns its meta.

    A weights file that does not match the sidecar's sha256 is a ``ModelError``."""
    sidecar = tomllib.loads(read_text(path.with_suffix(".toml"), CHECKPOINT_TOML_MAX_BYTES))
    tensors = read_weights(path, sidecar.get("sha256"))
    for name, module in modules.items():
        prefix = f"{name}."
        module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items()
                                if k.startswith(prefix)})
    for name, optimizer in optimizers.items():
        _unflatten_optimizer(name, optimizer, tensors, sidecar["optimizers"][name])
    return sidecar["meta"]


def _toml_nested(data: dict[str, Any], prefix: str = "") -> str:
    """TOML for nested dicts of scalars, lists and lists of flat dicts (checkpoint sidecars)."""
    lines: list[str] = []
    tables: list[tuple[str, dict]] = []
    arrays: list[tuple[str, list]] = []
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            arrays.append((key, value))
        else:
            flat[key] = value
    if flat:
        lines.append(dump_toml(flat).rstrip("\n"))
    for key, value in tables:
        name = f"{prefix}{_key(key)}"
        lines.append(f"\n[{name}]")
        lines.append(_toml_nested(value, name + ".").rstrip("\n"))
    for key, items in arrays:
        for item in items:
            lines.append(f"\n[[{prefix}{_key(key)}]]")
            lines.append(dump_toml(item).rstrip("\n"))
    return "\n".join(line for line in lines if line) + "\n"


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else f'"{key}"'


# ---------------------------------------------------------------------------- distributed
@dataclass(frozen=True)
class Dist:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup_distributed(device_request: str = "auto") -> Dist:
    """Join the torchrun process group if there is one; pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    want = device_request
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want.startswith("cuda") and not torch.cuda.is_available():
        want = "cpu"
    device = torch.device(f"cuda:{local_rank}" if want.startswith("cuda") else want)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world_size > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend)
    return Dist(rank, world_size, local_rank, device)


def cleanup_distributed(dist: Dist) -> None:
    """Leave the process group together: every rank waits until rank 0 has written its files,
    so no rank tears its connections down under another that is still using them."""
    if dist.enabled and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def autocast(device: torch.device):
    """Mixed precision where it pays (CUDA, bf16); full precision on the CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


# ---------------------------------------------------------------------------- pictures
def _pygame():
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    return pygame


def write_image_grid(path: Path, images: torch.Tensor, columns: int | None = None,
                     pad: int = 2) -> None:
    """Save ``images`` (N, 3, H, W) in [-1, 1] as one PNG grid."""
    pygame = _pygame()
    images = images.detach().float().cpu().clamp(-1, 1)
    n, _, h, w = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.zeros((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), dtype=np.uint8)
    pixels = ((images.permute(0, 2, 3, 1).numpy() * 0.5 + 0.5) * 255 + 0.5).astype(np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y:y + h, x:x + w] = pixels[i]
    path.parent.mkdir(parents=True, exist_ok=True)
    pygame.image.save(pygame.surfarray.make_surface(grid.transpose(1, 0, 2)), str(path))


def write_loss_curve(path: Path, series: dict[str, list[tuple[int, float]]],
                     title: str = "", size: tuple[int, int] = (800, 400)) -> None:
    """Plot ``{name: [(step, value), ...]}`` as lines on one chart and save it as a PNG."""
    pygame = _pygame()
    pygame.font.init()
    width, height = size
    surface = pygame.Surface(size)
    surface.fill((250, 250, 250))
    margin_l, margin_r, margin_t, margin_b = 60, 20, 30, 30
    points = [p for values in series.values() for p in values if math.isfinite(p[1])]
    font = pygame.font.Font(None, 18)
    if points:
        steps = [p[0] for p in points]
        values = [p[1] for p in points]
        x0, x1 = min(steps), max(max(steps), min(steps) + 1)
        y0, y1 = min(values), max(values)
        if y1 - y0 < 1e-9:
            y0, y1 = y0 - 1, y1 + 1

        def to_px(step: float, value: float) -> tuple[int, int]:
            x = margin_l + (step - x0) / (x1 - x0) * (width - margin_l - margin_r)
            y = margin_t + (y1 - value) / (y1 - y0) * (height - margin_t - margin_b)
            return int(x), int(y)

        for i in range(5):
            value = y0 + (y1 - y0) * i / 4
            _, y = to_px(x0, value)
            pygame.draw.line(surface, (220, 220, 220), (margin_l, y), (width - margin_r, y))
            surface.blit(font.render(f"{value:.3g}", True, (80, 80, 80)), (4, y - 6))
        surface.blit(font.render(f"step {x0}", True, (80, 80, 80)), (margin_l, height - 20))
        last = font.render(f"step {x1}", True, (80, 80, 80))
        surface.blit(last, (width - margin_r - last.get_width(), height - 20))
        colours = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]
        for k, (name, values_) in enumerate(series.items()):
            colour = colours[k % len(colours)]
            pts = [to_px(s, v) for s, v in values_ if math.isfinite(v)]
            if len(pts) >= 2:
                pygame.draw.lines(surface, colour, False, pts, 2)
            elif pts:
                pygame.draw.circle(surface, colour, pts[0], 3)
            surface.blit(font.render(name, True, colour), (width - margin_r - 150, 8 + 16 * k))
    surface.blit(font.render(title, True, (0, 0, 0)), (margin_l, 8))
    path.parent.mkdir(parents=True, exist_ok=True)
    pygame.image.save(surface, str(path))


def average_gradients(module: nn.Module, dist: Dist) -> None:
    """Data-parallel step: average every gradient over the ranks (no-op on one process).

    The same arithmetic as DistributedDataParallel's reducer, done explicitly so it also
    covers passes DDP cannot wrap (a gradient penalty's double backward, for one).
    """
    if not dist.enabled:
        return
    for param in module.parameters():
        if param.grad is not None:
            torch.distributed.all_reduce(param.grad)
            param.grad /= dist.world_size


@torch.no_grad()
def pca_directions(samples: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
    """Principal directions of ``samples`` (N, D), GANSpace-style, for "meaningful" faders.

    Returns ``directions`` (k, D) unit vectors by decreasing variance, ``direction_std`` (k,)
    the spread of the samples along each, ``latent_mean`` and ``latent_std`` (D,).
    """
    samples = samples.detach().float().cpu()
    mean = samples.mean(dim=0)
    centred = samples - mean
    _, singular, v_t = torch.linalg.svd(centred, full_matrices=False)
    k = min(k, v_t.shape[0])
    return {
        "directions": v_t[:k].contiguous(),
        "direction_std": (singular[:k] / math.sqrt(max(len(samples) - 1, 1))).contiguous(),
        "latent_mean": mean,
        "latent_std": samples.std(dim=0),
    }

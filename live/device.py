"""Choosing where and how the generator runs: device, precision, memory format, threads."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceChoice:
    device: torch.device
    dtype: torch.dtype
    channels_last: bool

    @property
    def label(self) -> str:
        name = str(self.device)
        if self.device.type == "cuda":
            name = f"{name} ({torch.cuda.get_device_name(self.device)})"
        return f"{name} {str(self.dtype).removeprefix('torch.')}"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def pick_device(requested: str = "auto", precision: str = "auto", threads: int = 0) -> DeviceChoice:
    """Resolve ``requested`` (auto | cpu | cuda[:N] | mps) to what this machine has.

    Asking for a device that is not there warns and falls back to the CPU: the show goes on.
    fp16 is used on CUDA by default (``precision = "auto"``); the CPU always runs fp32, where
    half precision is slower than single.
    """
    if threads > 0:
        torch.set_num_threads(threads)
    elif requested in ("auto", "cpu"):
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    want = requested.lower()
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if want.startswith("cuda") and not torch.cuda.is_available():
        log.warning("device %r asked for but CUDA is not available: using the CPU", requested)
        want = "cpu"
    if want == "mps" and not _mps_available():
        log.warning("device 'mps' asked for but it is not available: using the CPU")
        want = "cpu"
    try:
        device = torch.device(want)
    except RuntimeError:
        log.warning("unknown device %r: using the CPU", requested)
        device = torch.device("cpu")
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    if device.type == "cuda" and device.index is not None and device.index >= gpus:
        log.warning("%s does not exist (%d GPUs): using cuda:0", device, gpus)
        device = torch.device("cuda:0")
    if precision == "fp16" and device.type == "cpu":
        log.warning("fp16 on the CPU is slower than fp32: using fp32")
    half = device.type != "cpu" and precision in ("auto", "fp16")
    dtype = torch.float16 if half else torch.float32
    return DeviceChoice(device, dtype, channels_last=True)


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block on ``threads`` torch CPU threads, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def synchronize(device: torch.device) -> None:
    """Wait for queued device work (a host<->device sync point; CPU: nothing to wait for)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()

"""The decode: a model prepared for the show (on the device, baked, traced, warmed), and the
optional worker thread that decodes frame N+1 while the render thread composes frame N.

Preparation builds everything that depends on the model without touching the running show,
so the scenes thread can prepare the next scene's model while the current one plays; the
render thread only swaps the prepared state in (``Engine._adopt``).
"""

from __future__ import annotations

import threading
import time

import torch

from live.device import DeviceChoice, synchronize
from live.params import PC_PARAMS
from live.store import STYLEGAN_KINDS, LoadedGenerator


class Decode(torch.nn.Module):
    """Decode with an offset along the model's PCA directions, as one traceable forward.

    A GAN's directions live in w (after the mapping network), a VAE's in z.
    """

    def __init__(self, module: torch.nn.Module, offset_in_w: bool) -> None:
        super().__init__()
        self.module = module
        self.offset_in_w = offset_in_w

    def forward(self, z: torch.Tensor, truncation: torch.Tensor,
                offset: torch.Tensor) -> torch.Tensor:
        if self.offset_in_w:
            return self.module.decode(z, truncation, offset)
        return self.module.decode(z + offset, truncation)


def trace(decoder: torch.nn.Module, inputs: tuple):
    """A TorchScript trace of the batch-1 decode.

    A traced decode runs as one call into C++ that releases the GIL for its whole length, so a
    decode worker and the render thread truly overlap; eager decoding takes the GIL between
    every op and stalls behind the compositor.
    """
    traced = torch.jit.trace(decoder, inputs, check_trace=False)
    return torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))


@torch.inference_mode()
def prepare_model(model: LoadedGenerator, choice: DeviceChoice, traced: bool,
                  warm: int = 3) -> dict:
    """The engine's per-model state: generator, latent buffers, PCA directions, the (traced)
    decoder and the host buffer its frames are uploaded from."""
    device, dtype = choice.device, choice.dtype
    pin = device.type == "cuda"
    gen = model.module.to(device=device, dtype=dtype)
    if choice.channels_last:
        gen = gen.to(memory_format=torch.channels_last)
    gen = gen.eval().bake()
    res = gen.resolution
    state = {
        "model_name": model.name, "generator": gen, "source_res": res,
        "latent_dim": gen.latent_dim,
        "_imported": model.kind in STYLEGAN_KINDS,
        "offset_in_w": model.kind == "gan" or model.kind in STYLEGAN_KINDS,
        "_z_host": torch.zeros(1, gen.latent_dim, pin_memory=pin),
        "_z": torch.randn(1, gen.latent_dim).to(device, dtype),
        "_truncation": torch.ones((), device=device, dtype=dtype),
        "_directions": None, "_pc_host": None, "_pc": None,
        # the decoded frame as the compositor uploads it: (R, R, 4) RGBA8, row 0 on top
        # (8-bit texels sample several times faster than float ones on Mesa's llvmpipe)
        "_upload": torch.full((res, res, 4), 255, dtype=torch.uint8, pin_memory=pin),
        "_to_bytes": torch.empty((res, res, 3), device=device, dtype=torch.float32),
    }
    # PCA faders (walk.pc1..4): directions scaled by their spread, in w (GAN) or z (VAE)
    offset_dim = gen.cfg.w_dim if state["offset_in_w"] else gen.latent_dim
    state["_offset"] = torch.zeros(offset_dim, device=device, dtype=dtype)
    directions = model.extra.get("directions")
    if directions is not None and directions.shape[-1] == offset_dim:
        count = min(len(PC_PARAMS), len(directions))
        spread = model.extra.get("direction_std", torch.ones(len(directions)))[:count]
        state["_directions"] = (directions[:count] * spread[:, None]).to(device, dtype)
        state["_pc_host"] = torch.zeros(count, pin_memory=pin)
        state["_pc"] = torch.zeros(count, device=device, dtype=dtype)
    decoder = Decode(gen, state["offset_in_w"])
    inputs = (state["_z"], state["_truncation"], state["_offset"])
    # imported StyleGANs decode eagerly: a frozen trace would bake in the StyleGAN3 transform
    # and the noise mode (live parameters), and measured no faster for them
    if traced and model.kind not in STYLEGAN_KINDS:
        decoder = trace(decoder, inputs)
    for _ in range(warm):  # first calls of a traced graph optimise it: not on stage
        decoder(*inputs)
    synchronize(device)
    state["_decoder"] = decoder
    return state


class DecodeWorker:
    """Decodes on its own thread, one request in flight, results handed back with their stamp."""

    def __init__(self, decode, threads: int) -> None:
        self._decode = decode
        self._threads = threads
        self._request = threading.Event()
        self._done = threading.Event()
        self._done.set()
        self._stop = False
        self._args: tuple = ()
        self.result: tuple[torch.Tensor | None, int, float] = (None, 0, 0.0)
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="decode", daemon=True)
        self._thread.start()

    def submit(self, truncation: float, stamp_ns: int) -> None:
        self._args = (truncation, stamp_ns)
        self._done.clear()
        self._request.set()

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    def _run(self) -> None:
        if self._threads > 0:
            torch.set_num_threads(self._threads)
        while True:
            self._request.wait()
            self._request.clear()
            if self._stop:
                return
            truncation, stamp = self._args
            start = time.perf_counter()
            try:
                image = self._decode(truncation)
                self.result = (image, stamp, (time.perf_counter() - start) * 1e3)
            except Exception as exc:  # a failed decode must not kill the show
                self.error = exc
            self._done.set()

    def close(self) -> None:
        self._stop = True
        self._request.set()
        self._thread.join(timeout=2.0)

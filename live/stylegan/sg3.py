"""StyleGAN3 (alias-free) generator, configurations T and R, in plain PyTorch.

Written from Karras et al. 2021, "Alias-Free Generative Adversarial Networks" (and the
StyleGAN2 paper for the mapping network and modulated convolutions), from the weight layout of
NVIDIA's network pickles (names, shapes, buffers, init kwargs) and checked against reference
outputs. Parameters and buffers carry NVIDIA's names, so ``load_state_dict(record.tensors())``
loads a snapshot read by :mod:`live.stylegan.snapshot`, and ``state_dict()`` saved to a file
reloads with the same init kwargs.

The network, as the paper describes it:

* **Mapping**: z normalised to unit second moment (a class embedding, normalised the same way,
  appended for conditional models), a few fully connected layers with leaky ReLU and a low
  learning-rate multiplier, w broadcast to ``num_ws`` copies; truncation lerps toward ``w_avg``.
* **Input**: Fourier features. Each channel is a sinusoid with its own frequency and phase
  (buffers ``freqs``, ``phases``), sampled on a grid of ``size`` pixels at ``sampling_rate``.
  The first w drives a rotation and translation of that grid (``affine``: four numbers, the
  first two normalised to a unit rotation), composed with a user transform (buffer
  ``transform``, identity in a snapshot); frequencies pushed past the band are faded out. A
  linear mix (``weight``) of the features follows.
* **Layers** ``L{i}_{size}_{channels}``: a modulated convolution (demodulated, with the input
  scaled by ``magnitude_ema ** -0.5``) computed as a "full" convolution (the picture grows by
  ``kernel - 1``), then a filtered leaky ReLU: bias, upsampling by ``up_factor`` with the
  windowed-sinc ``up_filter``, leaky ReLU with gain sqrt(2) and a clamp, downsampling by
  ``down_factor`` with ``down_filter`` (a 2D jinc filter in config R's non-critical layers),
  the paddings cropping the margin to ``out_size``. The last layer is the ToRGB: a 1x1
  modulated convolution without demodulation, bias, clamp; the result is scaled by
  ``output_scale``.

The geometry (sizes, sampling rates, cutoffs, filter lengths, factors, paddings) comes from
:func:`synthesis_geometry` for a network built from its init kwargs, or from the snapshot's
own records (:func:`geometry_from_record`) for an imported one; the two agree for NVIDIA's
snapshots (tests check it). StyleGAN3 has no noise inputs: ``noise_mode`` is accepted and has
no effect.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)


@dataclass(frozen=True)
class SG3Config:
    """The sizes the engine asks a generator for."""

    z_dim: int
    w_dim: int
    c_dim: int
    num_ws: int
    img_resolution: int
    img_channels: int


# ---------------------------------------------------------------------------------------------
# Geometry


def _kaiser_beta(numtaps: int, width: float) -> float:
    """Kaiser window shape for a filter of ``numtaps`` with a transition band ``width`` given as
    a fraction of the Nyquist frequency (Kaiser's empirical formulas)."""
    atten = 2.285 * (numtaps - 1) * math.pi * width + 7.95
    if atten > 50:
        return 0.1102 * (atten - 8.7)
    if atten > 21:
        return 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
    return 0.0


def lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float,
                   radial: bool = False) -> torch.Tensor | None:
    """A Kaiser-windowed low-pass FIR filter, normalised to unit DC gain.

    Separable (1D, windowed sinc) or radial (2D, windowed jinc, the paper's rotation-equivariant
    downsampling filter for config R). ``None`` for a single tap (no filtering)."""
    if numtaps == 1:
        return None
    nyquist = fs / 2
    beta = _kaiser_beta(numtaps, width / nyquist)
    window = np.kaiser(numtaps, beta)
    offsets = np.arange(numtaps, dtype=np.float64) - (numtaps - 1) / 2
    if not radial:
        taps = (cutoff / nyquist) * np.sinc((cutoff / nyquist) * offsets) * window
        return torch.as_tensor(taps / taps.sum(), dtype=torch.float32)
    pos = offsets / fs
    radius = torch.as_tensor(np.hypot(pos[None, :], pos[:, None]), dtype=torch.float64)
    arg = 2 * math.pi * cutoff * radius
    safe = torch.where(radius > 0, radius, torch.ones_like(radius))
    taps = torch.where(radius > 0, torch.special.bessel_j1(arg) / (math.pi * safe),
                       torch.full_like(radius, cutoff))  # the limit at r = 0
    taps = taps.numpy() * np.outer(window, window)
    return torch.as_tensor(taps / taps.sum(), dtype=torch.float32)


SYNTHESIS_DEFAULTS: dict[str, Any] = {
    "channel_base": 32768, "channel_max": 512, "num_layers": 14, "num_critical": 2,
    "first_cutoff": 2, "first_stopband": 2 ** 2.1, "last_stopband_rel": 2 ** 0.3,
    "margin_size": 10, "output_scale": 0.25, "num_fp16_res": 4,
    # per layer
    "conv_kernel": 3, "filter_size": 6, "lrelu_upsampling": 2, "use_radial_filters": False,
    "conv_clamp": 256, "magnitude_ema_beta": 0.999,
}
"""The class defaults of NVIDIA's StyleGAN3 synthesis network (config T when left alone)."""

MAPPING_DEFAULTS: dict[str, Any] = {"num_layers": 2, "lr_multiplier": 0.01, "w_avg_beta": 0.998}


def _layer_padding(in_size, out_size, conv_kernel, up_factor, down_factor, up_taps, down_taps):
    """Paddings [x0, x1, y0, y1] of the upsampled picture so that, after the two filters and the
    decimation, exactly ``out_size`` samples remain, centred on the input's centre."""
    pads = []
    for axis in (0, 1):
        total = (out_size[axis] - 1) * down_factor + 1
        total -= (in_size[axis] + conv_kernel - 1) * up_factor
        total += up_taps + down_taps - 2
        low = (total + up_factor) // 2
        pads.extend([low, total - low])
    return pads


def synthesis_geometry(w_dim: int, img_resolution: int, img_channels: int,
                       **kwargs: Any) -> dict[str, Any]:
    """Every layer's geometry from the synthesis init kwargs, as the paper lays it out.

    Cutoffs rise geometrically from ``first_cutoff`` to Nyquist of the output over all but the
    last ``num_critical`` layers (which stay critically sampled); stopbands likewise; a layer's
    sampling rate is the power of two just above twice its stopband (at most the output
    resolution); every layer holds a margin of ``margin_size`` pixels each side except the last
    two; channels are ``channel_base / 2 / cutoff`` capped at ``channel_max``. Inside a layer the
    nonlinearity runs at ``lrelu_upsampling`` times the larger of its two rates, the
    up/downsampling filters have ``filter_size`` taps per factor."""
    unknown = set(kwargs) - set(SYNTHESIS_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown StyleGAN3 synthesis arguments: {sorted(unknown)}")
    p = {**SYNTHESIS_DEFAULTS, **kwargs}
    n = int(p["num_layers"])
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * p["last_stopband_rel"]
    exponents = np.minimum(np.arange(n + 1) / (n - p["num_critical"]), 1)
    cutoffs = p["first_cutoff"] * (last_cutoff / p["first_cutoff"]) ** exponents
    stopbands = p["first_stopband"] * (last_stopband / p["first_stopband"]) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + p["margin_size"] * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((p["channel_base"] / 2) / cutoffs, p["channel_max"]))
    channels[-1] = img_channels

    layers = []
    for idx in range(n + 1):
        prev = max(idx - 1, 0)
        is_torgb = idx == n
        in_rate, out_rate = int(rates[prev]), int(rates[idx])
        tmp_rate = max(in_rate, out_rate) * (1 if is_torgb else p["lrelu_upsampling"])
        kernel = 1 if is_torgb else int(p["conv_kernel"])
        up = int(np.rint(tmp_rate / in_rate))
        down = int(np.rint(tmp_rate / out_rate))
        up_taps = p["filter_size"] * up if up > 1 and not is_torgb else 1
        down_taps = p["filter_size"] * down if down > 1 and not is_torgb else 1
        critical = idx >= n - p["num_critical"]
        in_size = [int(sizes[prev])] * 2
        out_size = [int(sizes[idx])] * 2
        layers.append({
            "name": f"L{idx}_{out_size[0]}_{int(channels[idx])}",
            "is_torgb": is_torgb, "is_critically_sampled": bool(critical),
            "use_fp16": bool(rates[idx] * 2 ** p["num_fp16_res"] > img_resolution),
            "in_channels": int(channels[prev]), "out_channels": int(channels[idx]),
            "in_size": in_size, "out_size": out_size,
            "in_sampling_rate": in_rate, "out_sampling_rate": out_rate,
            "tmp_sampling_rate": int(tmp_rate),
            "in_cutoff": float(cutoffs[prev]), "out_cutoff": float(cutoffs[idx]),
            "in_half_width": float(half_widths[prev]), "out_half_width": float(half_widths[idx]),
            "conv_kernel": kernel, "up_factor": up, "down_factor": down,
            "up_taps": int(up_taps), "down_taps": int(down_taps),
            "down_radial": bool(p["use_radial_filters"] and not critical),
            "padding": _layer_padding(in_size, out_size, kernel, up, down, up_taps, down_taps),
            "conv_clamp": p["conv_clamp"], "magnitude_ema_beta": p["magnitude_ema_beta"],
        })
    return {
        "w_dim": w_dim, "img_resolution": img_resolution, "img_channels": img_channels,
        "num_ws": n + 2, "output_scale": float(p["output_scale"]),
        "input": {"channels": int(channels[0]), "size": [int(sizes[0])] * 2,
                  "sampling_rate": float(rates[0]), "bandwidth": float(cutoffs[0])},
        "layers": layers,
    }


def _num(value: Any) -> Any:
    """numpy scalars and arrays from a record as plain Python values."""
    if isinstance(value, np.ndarray):
        return [_num(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_num(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


_LAYER_KEYS = ("is_torgb", "is_critically_sampled", "use_fp16", "in_channels", "out_channels",
               "in_size", "out_size", "in_sampling_rate", "out_sampling_rate",
               "tmp_sampling_rate", "in_cutoff", "out_cutoff", "in_half_width",
               "out_half_width", "conv_kernel", "up_factor", "down_factor", "up_taps",
               "down_taps", "down_radial", "padding", "conv_clamp", "magnitude_ema_beta")


def geometry_from_record(record) -> dict[str, Any]:
    """The geometry a snapshot's records hold (attributes of the synthesis network, its input
    and each layer), in the form :func:`synthesis_geometry` returns."""
    synthesis = record.modules["synthesis"]
    attrs = synthesis.attributes
    inp = synthesis.modules["input"].attributes
    size = _num(inp["size"])
    layers = []
    for name in attrs["layer_names"]:
        layer = synthesis.modules[name].attributes
        missing = [key for key in _LAYER_KEYS if key not in layer]
        if missing:
            raise ValueError(f"synthesis.{name}: the record lacks {missing}")
        entry = {"name": name, **{key: _num(layer[key]) for key in _LAYER_KEYS}}
        for key in ("in_size", "out_size"):
            entry[key] = [int(v) for v in np.broadcast_to(entry[key], [2])]
        entry["padding"] = [int(v) for v in entry["padding"]]
        for key in ("is_torgb", "is_critically_sampled", "use_fp16", "down_radial"):
            entry[key] = bool(entry[key])
        layers.append(entry)
    return {
        "w_dim": int(attrs["w_dim"]), "img_resolution": int(attrs["img_resolution"]),
        "img_channels": int(attrs["img_channels"]), "num_ws": int(attrs["num_ws"]),
        "output_scale": float(_num(attrs["output_scale"])),
        "input": {"channels": int(inp["channels"]),
                  "size": [int(v) for v in np.broadcast_to(size, [2])],
                  "sampling_rate": float(_num(inp["sampling_rate"])),
                  "bandwidth": float(_num(inp["bandwidth"]))},
        "layers": layers,
    }


# ---------------------------------------------------------------------------------------------
# Modules


def _normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(nn.Module):
    """``act((x @ (weight * weight_gain).T) + bias * bias_gain)``; leaky ReLU with gain sqrt(2)."""

    def __init__(self, in_features: int, out_features: int, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: Any = 0.0, weight_init: float = 1.0):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features)
                                   * (weight_init / lr_multiplier))
        bias = torch.broadcast_to(torch.as_tensor(bias_init, dtype=torch.float32),
                                  [out_features])
        self.bias = nn.Parameter(bias / lr_multiplier)
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain if self.bias_gain != 1 else self.bias
        if self.activation == "linear":
            return torch.addmm(b.unsqueeze(0), x, w.t())
        x = x.matmul(w.t()) + b.unsqueeze(0)
        return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN


class MappingNetwork(nn.Module):
    """z (and c) -> w, broadcast to ``num_ws``; ``w_avg`` the running mean of w."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 2,
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.998):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        embed = w_dim if c_dim > 0 else 0
        features = [z_dim + embed] + [w_dim] * num_layers
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed)
        for idx in range(num_layers):
            self.add_module(f"fc{idx}", FullyConnectedLayer(
                features[idx], features[idx + 1], activation="lrelu",
                lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None,
                truncation_psi: float | torch.Tensor = 1.0) -> torch.Tensor:
        x = _normalize_2nd_moment(z.to(self.w_avg.dtype)) if self.z_dim > 0 else None
        if self.c_dim > 0:
            y = _normalize_2nd_moment(self.embed(c.to(self.w_avg.dtype)))
            x = y if x is None else torch.cat([x, y], dim=1)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if not (isinstance(truncation_psi, (int, float)) and truncation_psi == 1):
            x = torch.lerp(self.w_avg.unsqueeze(0), x, truncation_psi)
        return x.unsqueeze(1).expand(-1, self.num_ws, -1)


class SynthesisInput(nn.Module):
    """Fourier features on a grid, turned and shifted by the first w and the user transform."""

    def __init__(self, w_dim: int, channels: int, size, sampling_rate: float, bandwidth: float):
        super().__init__()
        self.w_dim, self.channels = w_dim, channels
        self.size = [int(v) for v in np.broadcast_to(size, [2])]
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        # random frequencies, roughly uniform in a disc of radius `bandwidth` (fresh networks)
        freqs = torch.randn(channels, 2)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0.0, bias_init=[1, 0, 0, 0])
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)
        # sample positions (pixel centres) in the input's own units, x along width
        width, height = self.size
        self.register_buffer("grid_x", (torch.arange(width) + 0.5 - width / 2) / sampling_rate,
                             persistent=False)
        self.register_buffer("grid_y", (torch.arange(height) + 0.5 - height / 2) / sampling_rate,
                             persistent=False)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        n = w.shape[0]
        t = self.affine(w)                               # (cos, sin, tx, ty), unnormalised
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        cos, sin, tx, ty = t.unbind(1)
        zero, one = torch.zeros_like(cos), torch.ones_like(cos)
        rotate = torch.stack([cos, -sin, zero, sin, cos, zero, zero, zero, one], 1).view(n, 3, 3)
        shift = torch.stack([one, zero, -tx, zero, one, -ty, zero, zero, one], 1).view(n, 3, 3)
        m = rotate @ shift @ self.transform.unsqueeze(0)
        # a feature sin(2 pi (f . p + phase)) seen through p -> M p
        phases = self.phases.unsqueeze(0) + (self.freqs.unsqueeze(0) @ m[:, :2, 2:]).squeeze(2)
        freqs = self.freqs.unsqueeze(0) @ m[:, :2, :2]            # [N, C, 2]
        fade = 1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)
        amplitudes = fade.clamp(0, 1)                               # [N, C]
        fx, fy = freqs[..., 0].unsqueeze(2), freqs[..., 1].unsqueeze(2)     # [N, C, 1]
        x = (fx * self.grid_x.view(1, 1, -1)).unsqueeze(2) \
            + (fy * self.grid_y.view(1, 1, -1) + phases.unsqueeze(2)).unsqueeze(3)
        x = torch.sin(x * (2 * math.pi)) * amplitudes.view(n, -1, 1, 1)    # [N, C, H, W]
        mix = self.weight / math.sqrt(self.channels)
        return F.conv2d(x, mix.view(self.channels, self.channels, 1, 1))


def _pad_only(x: torch.Tensor, up: int, padding) -> torch.Tensor:
    """Zero insertion and padding without a filter (a layer with a single tap)."""
    if up > 1:
        n, c, h, w = x.shape
        z = x.new_zeros(n, c, h, up, w, up)
        z[:, :, :, 0, :, 0] = x
        x = z.view(n, c, h * up, w * up)
    return F.pad(x, [padding[0], padding[1], padding[2], padding[3]])


class SynthesisLayer(nn.Module):
    """Modulated convolution followed by the filtered leaky ReLU (or the ToRGB when last)."""

    def __init__(self, w_dim: int, geometry: dict[str, Any]):
        super().__init__()
        g = geometry
        self.w_dim = w_dim
        self.is_torgb = bool(g["is_torgb"])
        self.in_channels, self.out_channels = int(g["in_channels"]), int(g["out_channels"])
        self.conv_kernel = int(g["conv_kernel"])
        self.conv_clamp = None if g["conv_clamp"] is None else float(g["conv_clamp"])
        self.up_factor, self.down_factor = int(g["up_factor"]), int(g["down_factor"])
        self.up_taps, self.down_taps = int(g["up_taps"]), int(g["down_taps"])
        self.down_radial = bool(g["down_radial"])
        self.padding = [int(v) for v in g["padding"]]
        self.magnitude_ema_beta = g["magnitude_ema_beta"]
        self.gain = 1.0 if self.is_torgb else LRELU_GAIN
        self.slope = 1.0 if self.is_torgb else LRELU_SLOPE
        k = self.conv_kernel
        self.affine = FullyConnectedLayer(w_dim, self.in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(self.out_channels, self.in_channels, k, k))
        self.bias = nn.Parameter(torch.zeros(self.out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        up_filter = lowpass_filter(self.up_taps, g["in_cutoff"], g["in_half_width"] * 2,
                                   g["tmp_sampling_rate"])
        down_filter = lowpass_filter(self.down_taps, g["out_cutoff"], g["out_half_width"] * 2,
                                     g["tmp_sampling_rate"], radial=self.down_radial)
        self.register_buffer("up_filter", up_filter)
        self.register_buffer("down_filter", down_filter)
        self._baked: dict[str, torch.Tensor] | None = None

    # -- tensors that do not depend on the input (bake() keeps them)
    def _prepared(self) -> dict[str, torch.Tensor]:
        """The convolution weight (brought to unit RMS per output channel when demodulating:
        demodulation cancels that scale, which keeps half precision in range), the per
        (out, in) sum of its squares for demodulation, and the filters as depthwise
        convolution kernels: the upsampling filter times ``up`` per axis (zero insertion keeps
        one sample in ``up``) with the activation gain folded into the second pass (leaky ReLU
        commutes with a positive scale), the downsampling filter flipped (a convolution)."""
        if self._baked is not None:
            return self._baked
        out: dict[str, torch.Tensor] = {}
        w = self.weight
        if self.is_torgb:
            out["weight"] = w * (1 / math.sqrt(self.in_channels * self.conv_kernel ** 2))
        else:
            w = w * w.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()
            out["weight"], out["weight_sq"] = w, w.square().sum(dim=[2, 3])
        channels = self.out_channels
        if self.up_filter is not None:
            f, taps = self.up_filter, self.up_filter.shape[0]
            out["up_x"] = (f * self.up_factor).view(1, 1, 1, taps).expand(channels, -1, -1, -1)
            out["up_y"] = (f * (self.up_factor * self.gain)).view(1, 1, taps, 1) \
                .expand(channels, -1, -1, -1)
        if self.down_filter is not None:
            f = self.down_filter
            if f.dim() == 2:
                out["down_2d"] = f.flip([0, 1]).view(1, 1, *f.shape).expand(channels, -1, -1, -1)
            else:
                f, taps = f.flip([0]), f.shape[0]
                out["down_x"] = f.view(1, 1, 1, taps).expand(channels, -1, -1, -1)
                out["down_y"] = f.view(1, 1, taps, 1).expand(channels, -1, -1, -1)
        return out

    def bake(self) -> None:
        with torch.no_grad():
            self._baked = None
            self._baked = {key: value.detach().contiguous()
                           for key, value in self._prepared().items()}
            # the activations run channels-last: the same layout spares a reorder per call
            self._baked["weight"] = self._baked["weight"].contiguous(
                memory_format=torch.channels_last)

    def unbake(self) -> None:
        self._baked = None

    def _apply(self, fn, *args, **kwargs):  # .to()/.half() after bake(): bake again
        out = super()._apply(fn, *args, **kwargs)
        if self._baked is not None:
            self.bake()
        return out

    def _load_from_state_dict(self, *args, **kwargs):
        self._baked = None
        super()._load_from_state_dict(*args, **kwargs)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        prep = self._prepared()
        styles = self.affine(w)                                     # [N, in]
        weight_sq = prep.get("weight_sq")
        if weight_sq is not None:
            styles = styles * styles.square().mean(dim=1, keepdim=True).rsqrt()
            # demodulation: 1 / |weight * style| per output channel and sample
            demod = (styles.square() @ weight_sq.t() + 1e-8).rsqrt()      # [N, out]
        # modulation and magnitude normalisation scale the input; the convolution is "full"
        scale = (styles * self.magnitude_ema.rsqrt()).view(x.shape[0], -1, 1, 1)
        x = F.conv2d(x * scale, prep["weight"], padding=self.conv_kernel - 1)
        if weight_sq is not None:
            x = x * demod.view(x.shape[0], -1, 1, 1)
        return self._filtered_lrelu(x, prep)

    def _filtered_lrelu(self, x: torch.Tensor, prep: dict[str, torch.Tensor]) -> torch.Tensor:
        """Bias; upsample (zero insertion, padding/cropping, filter); leaky ReLU with gain and
        clamp; filter and decimate."""
        x = x + self.bias.view(1, -1, 1, 1)
        up, (px0, px1, py0, py1) = self.up_factor, self.padding
        channels = x.shape[1]
        if "up_x" in prep:
            taps = self.up_taps
            # zero insertion + convolution = a strided transposed convolution; then the
            # paddings, counted from its first full-support sample, crop or extend it
            x = F.conv_transpose2d(x, prep["up_x"], stride=(1, up), groups=channels)
            x = F.pad(x, [px0 - (taps - 1), up + px1 - taps, 0, 0])
            x = F.conv_transpose2d(x, prep["up_y"], stride=(up, 1), groups=channels)
            lo, hi = py0 - (taps - 1), up + py1 - taps
            if lo <= 0 and hi <= 0:  # a crop of rows: a view (no copy in channels-last)
                x = x.narrow(2, -lo, x.shape[2] + lo + hi)
            else:
                x = F.pad(x, [0, 0, lo, hi])
        else:
            x = _pad_only(x, up, self.padding) if up > 1 or any(self.padding) else x
            if self.gain != 1:
                x = x * self.gain
        # in place: x is this layer's own intermediate (from the bias addition on)
        if self.slope != 1:
            x = F.leaky_relu_(x, self.slope)
        if self.conv_clamp is not None:
            x = x.clamp_(-self.conv_clamp, self.conv_clamp)
        down = self.down_factor
        if "down_2d" in prep:
            x = F.conv2d(x, prep["down_2d"], stride=down, groups=channels)
        elif "down_x" in prep:
            x = F.conv2d(x, prep["down_x"], stride=(1, down), groups=channels)
            x = F.conv2d(x, prep["down_y"], stride=(down, 1), groups=channels)
        elif down > 1:
            x = x[:, :, ::down, ::down]
        return x


class SynthesisNetwork(nn.Module):
    """ws -> image: the Fourier input, then the layers, one w each; scaled by output_scale."""

    def __init__(self, geometry: dict[str, Any]):
        super().__init__()
        g = geometry
        self.w_dim, self.num_ws = int(g["w_dim"]), int(g["num_ws"])
        self.img_resolution, self.img_channels = int(g["img_resolution"]), int(g["img_channels"])
        self.output_scale = float(g["output_scale"])
        self.input = SynthesisInput(self.w_dim, **g["input"])
        self.layer_names = []
        for layer in g["layers"]:
            self.add_module(layer["name"], SynthesisLayer(self.w_dim, layer))
            self.layer_names.append(layer["name"])
        if len(self.layer_names) + 1 != self.num_ws:
            raise ValueError(f"{len(self.layer_names)} layers need {len(self.layer_names) + 1} "
                             f"ws, the network says {self.num_ws}")

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        ws = ws.to(self.input.freqs.dtype)
        # channels-last: the depthwise filters run several times faster so on the CPU
        x = self.input(ws[:, 0]).contiguous(memory_format=torch.channels_last)
        for idx, name in enumerate(self.layer_names):
            x = getattr(self, name)(x, ws[:, idx + 1])
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.contiguous()


# ---------------------------------------------------------------------------------------------
# The generator


class StyleGAN3Generator(nn.Module):
    """NVIDIA's StyleGAN3 ``Generator`` (configs T and R) from its init kwargs.

    ``StyleGAN3Generator(**record.init_kwargs)`` derives the geometry the way the paper does;
    :meth:`from_record` takes it from the snapshot's records instead and loads the weights.
    """

    def __init__(self, z_dim: int = 512, c_dim: int = 0, w_dim: int = 512,
                 img_resolution: int = 256, img_channels: int = 3,
                 mapping_kwargs: dict | None = None, *, _geometry: dict | None = None,
                 **synthesis_kwargs: Any):
        super().__init__()
        mapping_kwargs = {**MAPPING_DEFAULTS, **(mapping_kwargs or {})}
        unknown = set(mapping_kwargs) - set(MAPPING_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown StyleGAN3 mapping arguments: {sorted(unknown)}")
        if _geometry is None:
            _geometry = synthesis_geometry(w_dim, img_resolution, img_channels,
                                           **synthesis_kwargs)
        self.init_kwargs = {"z_dim": z_dim, "c_dim": c_dim, "w_dim": w_dim,
                            "img_resolution": img_resolution, "img_channels": img_channels,
                            "mapping_kwargs": dict(mapping_kwargs), **synthesis_kwargs}
        self.geometry = _geometry
        # registered under NVIDIA's names (state_dict keys mapping.*, synthesis.*) while the
        # methods mapping() and synthesis() keep the interface: reach them as *_net
        synthesis = SynthesisNetwork(_geometry)
        num_ws = synthesis.num_ws
        self.cfg = SG3Config(z_dim, w_dim, c_dim, num_ws, img_resolution, img_channels)
        self._modules["mapping"] = MappingNetwork(z_dim, c_dim, w_dim, num_ws, **mapping_kwargs)
        self._modules["synthesis"] = synthesis
        self.register_buffer("label", torch.zeros(1, c_dim), persistent=False)
        self.noise_mode = "const"  # StyleGAN3 has no noise inputs: kept for the engine's API

    @property
    def mapping_net(self) -> MappingNetwork:
        return self._modules["mapping"]

    @property
    def synthesis_net(self) -> SynthesisNetwork:
        return self._modules["synthesis"]

    @property
    def latent_dim(self) -> int:
        return self.cfg.z_dim

    @property
    def resolution(self) -> int:
        return self.cfg.img_resolution

    @classmethod
    def from_record(cls, record) -> StyleGAN3Generator:
        """Build from a snapshot's generator record (geometry as the file holds it) and load
        its tensors by name (strict)."""
        if record.init_args:
            raise ValueError("a StyleGAN3 generator record with positional init args")
        kwargs = dict(record.init_kwargs)
        gen = cls(**kwargs, _geometry=geometry_from_record(record))
        gen.load_state_dict(record.tensors(), strict=True)
        return gen

    def mapping(self, z: torch.Tensor, c: torch.Tensor | None = None,
                truncation_psi: float | torch.Tensor = 1.0) -> torch.Tensor:
        """ws [N, num_ws, w_dim]; a conditional model without ``c`` uses ``label``."""
        if c is None and self.cfg.c_dim > 0:
            c = self.label.expand(z.shape[0], -1)
        return self.mapping_net(z, c, truncation_psi)

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        return self.synthesis_net(ws)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None,
                truncation_psi: float | torch.Tensor = 1.0,
                noise_mode: str = "const") -> torch.Tensor:
        return self.synthesis(self.mapping(z, c, truncation_psi), noise_mode)

    def decode(self, z: torch.Tensor, truncation: torch.Tensor,
               w_offset: torch.Tensor | None = None) -> torch.Tensor:
        ws = self.mapping(z, None, truncation)
        if w_offset is not None:
            ws = ws + w_offset
        return self.synthesis(ws, self.noise_mode)

    def bake(self) -> StyleGAN3Generator:
        """Precompute the weight transforms that do not depend on the input (inference)."""
        for module in self.modules():
            if isinstance(module, SynthesisLayer):
                module.bake()
        return self

    @torch.no_grad()
    def set_transform(self, rotate_deg: float, translate_x: float, translate_y: float) -> None:
        """Turn and slide the picture: the input's user transform becomes the inverse of
        [[c, s, tx], [-s, c, ty], [0, 0, 1]] (c, s: cosine and sine of the angle), computed in
        double precision, written in place: a traced decode sees it unless it was frozen
        (torch.jit.freeze turns buffers into constants)."""
        angle = math.radians(rotate_deg)
        c, s = math.cos(angle), math.sin(angle)
        m = np.array([[c, s, translate_x], [-s, c, translate_y], [0, 0, 1]], dtype=np.float64)
        buf = self.synthesis_net.input.transform
        buf.copy_(torch.from_numpy(np.linalg.inv(m)).to(buf.dtype))


# ---------------------------------------------------------------------------------------------
# Speed


USUAL_CONFIGS: dict[str, dict[str, Any]] = {
    # train.py's --cfg=stylegan3-t / -r with its default --cbase=32768 --cmax=512 --map=2;
    # config R doubles both channel numbers and uses 1x1 convolutions with radial filters
    "stylegan3-t": {"channel_base": 32768, "channel_max": 512, "mapping_kwargs":
                    {"num_layers": 2}},
    "stylegan3-r": {"channel_base": 65536, "channel_max": 1024, "conv_kernel": 1,
                    "use_radial_filters": True, "mapping_kwargs": {"num_layers": 2}},
}


def decode_gflop(geometry: dict[str, Any]) -> float:
    """Approximate GFLOP of one picture: the modulated convolutions and the FIR filters
    (multiply-adds counted as two operations; elementwise work left out)."""
    total = 0.0
    for g in geometry["layers"]:
        k, up = g["conv_kernel"], g["up_factor"]
        conv = [s + k - 1 for s in g["in_size"]]
        total += 2 * g["in_channels"] * g["out_channels"] * k * k * conv[0] * conv[1]
        tmp = [c * up + p0 + p1 - g["up_taps"] + 1 for c, p0, p1 in
               zip(conv, g["padding"][0::2], g["padding"][1::2], strict=True)]
        channels = g["out_channels"]
        if g["up_taps"] > 1:  # per axis, taps / up multiplies per output sample
            total += 2 * channels * g["up_taps"] / up * (conv[1] * tmp[0] + tmp[0] * tmp[1])
        if g["down_taps"] > 1:
            out = g["out_size"]
            if g["down_radial"]:
                total += 2 * channels * g["down_taps"] ** 2 * out[0] * out[1]
            else:
                total += 2 * channels * g["down_taps"] * (tmp[1] * out[0] + out[0] * out[1])
    return total / 1e9


class _Decode(nn.Module):
    """``decode`` as a module's forward, for torch.jit.trace."""

    def __init__(self, gen: StyleGAN3Generator):
        super().__init__()
        self.gen = gen

    def forward(self, z: torch.Tensor, truncation: torch.Tensor,
                w_offset: torch.Tensor) -> torch.Tensor:
        return self.gen.decode(z, truncation, w_offset)


def trace_decode(gen: StyleGAN3Generator, freeze: bool = False, optimize: bool = False):
    """A TorchScript trace of the batch-1 ``decode(z, truncation, w_offset)``. With ``freeze``
    the buffers become constants (the user transform is then fixed); ``optimize`` adds
    ``torch.jit.optimize_for_inference``, which is slower for this network on the CPU (it
    moves every convolution's input into MKLDNN's blocked layout and back)."""
    inputs = (torch.zeros(1, gen.latent_dim), torch.ones(()), torch.zeros(gen.cfg.w_dim))
    dtype = gen.synthesis_net.input.freqs.dtype
    device = gen.synthesis_net.input.freqs.device
    inputs = tuple(t.to(device, dtype) for t in inputs)
    with torch.no_grad():
        traced = torch.jit.trace(_Decode(gen).eval(), inputs, check_trace=False)
    if freeze or optimize:
        traced = torch.jit.freeze(traced.eval())
    if optimize:
        traced = torch.jit.optimize_for_inference(traced)
    return traced


@torch.no_grad()
def benchmark_decode(resolution: int = 256, config: str = "stylegan3-t", calls: int = 10,
                     warmup: int = 3, traced: bool | None = None, seed: int = 0,
                     **overrides: Any) -> dict[str, Any]:
    """Median milliseconds of a batch-1 ``decode`` on the CPU for a network of ``config`` at
    ``resolution`` with random weights (eager and/or traced; ``traced=None``: both), after
    ``warmup`` calls. ``overrides`` replace init kwargs (e.g. ``channel_base=16384``).
    ``traced_ms``: torch.jit.trace + freeze; ``traced_optimized_ms`` (with ``traced=None``)
    adds torch.jit.optimize_for_inference as live/decode.py's trace() does."""
    torch.manual_seed(seed)
    kwargs = {"z_dim": 512, "w_dim": 512, "img_resolution": resolution, "img_channels": 3,
              **USUAL_CONFIGS[config], **overrides}
    gen = StyleGAN3Generator(**kwargs).eval().bake()
    z = torch.randn(1, gen.latent_dim)
    psi = torch.tensor(0.7)
    offset = torch.zeros(gen.cfg.w_dim)
    result: dict[str, Any] = {
        "config": config, "resolution": resolution, "init_kwargs": kwargs,
        "threads": torch.get_num_threads(), "calls": calls,
        "parameters": sum(p.numel() for p in gen.parameters()),
        "gflop": round(decode_gflop(gen.geometry), 2),
    }
    modes = ["eager", "traced", "traced_optimized"] if traced is None else \
        ["traced" if traced else "eager"]
    for mode in modes:
        fn = gen.decode if mode == "eager" else \
            trace_decode(gen, freeze=True, optimize=mode == "traced_optimized")
        for _ in range(warmup):
            fn(z, psi, offset)
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            fn(z, psi, offset)
            times.append((time.perf_counter() - start) * 1000)
        result[f"{mode}_ms"] = statistics.median(times)
    return result

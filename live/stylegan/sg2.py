"""StyleGAN2 generator (the StyleGAN2-ADA-PyTorch weight layout) in plain PyTorch.

Written from the papers (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN"; "Training GANs with Limited Data") and from the names, shapes and buffers found in
NVIDIA's network snapshots; no NVIDIA code is used. The module tree mirrors the snapshot, so
``state_dict()`` keys are NVIDIA's dotted names (``synthesis.b64.conv0.affine.weight``) and a
record read by :mod:`live.stylegan.snapshot` loads with ``strict=True``.

Shapes: z [N, z_dim], c [N, c_dim], ws [N, num_ws, w_dim], images [N, img_channels, R, R]
(float32, roughly [-1, 1], not clamped).

Structure, in short:

* mapping: z normalised to unit second moment (and, with a class, an embedding of c normalised
  the same way and concatenated), then ``num_layers`` equalised-lr fully connected layers
  (lr multiplier 0.01); w is broadcast to every layer and pulled toward ``w_avg`` by psi.
* synthesis: one block per resolution 4, 8, ..., R. A block's first layer upsamples (zeros
  between samples, the block's FIR filter, then the 3x3 modulated convolution), its second keeps
  the size. Weights are modulated by a per-layer style (an affine map of w) and demodulated
  (each output channel's weight rescaled to unit norm); noise (a constant map per layer in
  ``const`` mode) scaled by ``noise_strength`` is added before bias and leaky ReLU.
  ``skip``: every block adds its ToRGB output to the FIR-upsampled image so far; ``resnet``:
  a 1x1 up-sampling skip path around the two convolutions, both scaled by sqrt(1/2), RGB from
  the last block only; ``orig``: RGB from the last block only.
* ``conv_clamp`` clamps the activations of every layer (the resnet skip path excepted), as the
  snapshots' mixed precision did; layers NVIDIA ran in fp16 run in the module's dtype here.

Batch-1 speed (the engine decodes one frame at a time on the CPU): where the weights are
smaller than the activations, style and demodulation are folded into them (elsewhere, and for
batches, the activations are scaled instead, so one convolution serves the batch); the
upsampling convolution is a stride-2 transposed convolution followed by one depthwise FIR pass
that also adds the bias; the activation gain is folded into the weights, so after the
convolution a layer makes three in-place passes (noise, leaky ReLU, clamp). Activations are
channels-last. ``bake()`` caches the input-independent weight transforms.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

NOISE_MODES = ("const", "random", "none")

# activation -> (function, default gain that keeps the signal variance)
_ACTIVATIONS = {
    "linear": (lambda x: x, 1.0),
    "relu": (F.relu, math.sqrt(2)),
    "lrelu": (lambda x: F.leaky_relu(x, 0.2), math.sqrt(2)),
    "tanh": (torch.tanh, 1.0),
    "sigmoid": (torch.sigmoid, 1.0),
    "elu": (F.elu, 1.0),
    "selu": (F.selu, 1.0),
    "softplus": (F.softplus, 1.0),
    "swish": (lambda x: x * torch.sigmoid(x), math.sqrt(2)),
}

_MAPPING_KEYS = {"num_layers", "embed_features", "layer_features", "activation",
                 "lr_multiplier", "w_avg_beta"}
_SYNTHESIS_KEYS = {"channel_base", "channel_max", "num_fp16_res", "architecture",
                   "resample_filter", "conv_clamp", "fp16_channels_last",
                   "fused_modconv_default", "kernel_size", "use_noise", "activation"}
ARCHITECTURES = ("orig", "skip", "resnet")
_HOMOGENEOUS = ("linear", "relu", "lrelu")
_WEIGHT_FORMAT = torch.channels_last  # act(a * g) == act(a) * g for g > 0


def _activation(name: str):
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r} (known: {', '.join(_ACTIVATIONS)})")
    return _ACTIVATIONS[name]


def _normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def _fir_filter(taps=(1, 3, 3, 1)) -> torch.Tensor:
    """The separable 2-D low-pass filter of these taps, normalised to sum 1 ([L, L])."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim == 1:
        f = f[:, None] * f[None, :]
    return f / f.sum()


def _upsample_fir(x: torch.Tensor, f: torch.Tensor, taps: int) -> torch.Tensor:
    """2x upsampling of every channel: zeros between samples, then the FIR filter ``f`` [L, L]
    (a true convolution, gain 4 so the mean is kept), aligned so the output is [2H, 2W].

    Done as one depthwise stride-2 transposed convolution (a polyphase filter), which never
    touches the inserted zeros."""
    channels = x.shape[1]
    lead = (taps + 1) // 2  # zeros padded before the upsampled signal
    crop_lo, crop_hi = taps - 1 - lead, lead - 1
    kernel = (f * 4).to(x.dtype)[None, None].expand(channels, 1, taps, taps)
    if crop_lo == crop_hi:
        return F.conv_transpose2d(x, kernel, stride=2, padding=crop_lo, groups=channels)
    y = F.conv_transpose2d(x, kernel, stride=2, groups=channels)
    return F.pad(y, (-crop_lo, -crop_hi, -crop_lo, -crop_hi))


class FullyConnectedLayer(nn.Module):
    """Equalised-learning-rate linear layer: weights stored as N(0, 1)/lr_multiplier and
    scaled at run time by lr_multiplier/sqrt(fan_in); the bias by lr_multiplier."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 activation: str = "linear", lr_multiplier: float = 1.0,
                 bias_init: float = 0.0) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        self.act, self.act_gain = _activation(activation)
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self._baked: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def effective(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The weight and bias as applied (gains folded in)."""
        if self._baked is not None and not self.training:
            return self._baked
        bias = None if self.bias is None else self.bias * self.bias_gain
        return self.weight * self.weight_gain, bias

    def bake(self) -> None:
        self._baked = None
        weight, bias = self.effective()
        self._baked = (weight.detach(), None if bias is None else bias.detach())

    def _apply(self, fn, recurse=True):
        self._baked = None  # moved or cast: bake again
        return super()._apply(fn, recurse)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.effective()
        x = F.linear(x, weight, bias)
        if self.activation != "linear":
            x = self.act(x) * self.act_gain
        return x


class MappingNetwork(nn.Module):
    """z (and class c) -> w, broadcast to ``num_ws`` copies; truncation toward ``w_avg``."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None,
                 num_layers: int = 8, embed_features: int | None = None,
                 layer_features: int | None = None, activation: str = "lrelu",
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.998) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta  # training only; kept for the record
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(num_layers):
            self.add_module(f"fc{i}", FullyConnectedLayer(
                features[i], features[i + 1], activation=activation, lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def w(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """One w per sample, [N, w_dim], before broadcast and truncation."""
        parts = []
        if self.z_dim > 0:
            parts.append(_normalize_2nd_moment(z.to(self.w_avg.dtype)))
        if self.c_dim > 0:
            if c is None:
                raise ValueError(f"this model is conditional: give c [N, {self.c_dim}]")
            parts.append(_normalize_2nd_moment(self.embed(c.to(self.w_avg.dtype))))
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        return x

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None,
                truncation_psi: float | torch.Tensor = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        x = self.w(z, c)
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if not (isinstance(truncation_psi, (int, float)) and truncation_psi == 1):
            w_avg = self.w_avg.to(x.dtype)
            if self.num_ws is None or truncation_cutoff is None:
                x = torch.lerp(w_avg, x, truncation_psi)
            else:
                x = x.clone()
                x[:, :truncation_cutoff] = torch.lerp(w_avg, x[:, :truncation_cutoff],
                                                      truncation_psi)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (optionally 2x upsampling), noise, bias, activation, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 kernel_size: int = 3, up: int = 1, use_noise: bool = True,
                 activation: str = "lrelu", resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None, channels_last: bool = False) -> None:
        super().__init__()
        if up not in (1, 2):
            raise ValueError(f"up must be 1 or 2, got {up}")
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.activation, self.conv_clamp = activation, conv_clamp
        self.act, self.act_gain = _activation(activation)
        self.kernel_size, self.padding = kernel_size, kernel_size // 2
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.register_buffer("resample_filter", _fir_filter(resample_filter))
        self.taps = self.resample_filter.shape[-1]
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size,
                                               kernel_size))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        # at batch 1, fold style and demodulation into the weights where they are smaller
        # than the activations (the high-resolution layers)
        self.fold_weights = self.weight.numel() < (
            in_channels * (resolution // up) ** 2 + out_channels * resolution ** 2)
        self._tap_energy: torch.Tensor | None = None
        self._weight: torch.Tensor | None = None

    def bake(self) -> None:
        weight = self.weight.detach()
        self._tap_energy = weight.square().sum(dim=(2, 3)).t().contiguous()
        # stored as the convolution takes it ([in, out, k, k] for the transposed one) and in
        # the layout it wants: otherwise every frame copies the largest weights once more
        self._weight = self._conv_weight(weight).contiguous(memory_format=_WEIGHT_FORMAT)

    def _apply(self, fn, recurse=True):
        self._tap_energy = self._weight = None  # moved or cast: bake again
        return super()._apply(fn, recurse)

    def forward(self, x: torch.Tensor, styles: torch.Tensor, noise_mode: str = "const",
                gain: float = 1.0) -> torch.Tensor:
        """x [N, in, H, W], styles [N, in] -> [N, out, H*up, W*up]."""
        n = x.shape[0]
        # in-place passes save memory traffic; not where autograd needs the values
        in_place = not (torch.is_grad_enabled() and (x.requires_grad or styles.requires_grad
                                                      or self.weight.requires_grad))
        if self._tap_energy is not None and not self.training:
            tap_energy = self._tap_energy  # [in, out]: sum over the taps of weight^2
            conv_weight = self._weight
        else:
            tap_energy = self.weight.square().sum(dim=(2, 3)).t()
            conv_weight = self._conv_weight(self.weight)
        # act(a) * g == act(a * g) for g > 0 and these activations: the gain goes into the
        # demodulation, bias and noise, and the activation then runs in place
        folds = self.activation in _HOMOGENEOUS
        out_gain = self.act_gain * gain if folds else 1.0
        # demodulation: each output channel of the style-scaled weight to unit norm
        demod = (styles.square() @ tap_energy + 1e-8).rsqrt() * out_gain  # [N, out]
        bias = self.bias * out_gain
        if n == 1 and self.fold_weights:
            # one sample at high resolution: style and demodulation folded into the weights,
            # the bias into the convolution
            scale = demod[0][:, None] * styles[0][None, :]  # [out, in]
            if self.up != 1:
                scale = scale.t()
            x = self._conv(x, conv_weight * scale[..., None, None], bias)
        else:
            # a batch, or small maps under large weights: scale the activations, so one
            # convolution with the stored weights serves every sample
            x = self._conv(x * styles[:, :, None, None].to(x.dtype), conv_weight, None)
            x = torch.addcmul(bias.to(x.dtype)[:, None, None], x,
                              demod.to(x.dtype)[:, :, None, None])
        if self.use_noise and noise_mode != "none":
            if noise_mode == "const":
                noise = self.noise_const
            elif noise_mode == "random":
                noise = torch.randn(n, 1, self.resolution, self.resolution,
                                    dtype=x.dtype, device=x.device)
            else:
                raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
            noise = (noise * (self.noise_strength * out_gain)).to(x.dtype)
            x = x.add_(noise) if in_place else x + noise
        if folds:
            if self.activation == "lrelu":
                x = F.leaky_relu(x, 0.2, inplace=in_place)
            elif self.activation == "relu":
                x = F.relu(x, inplace=in_place)
        else:
            x = self.act(x) * (self.act_gain * gain)
        if self.conv_clamp is not None:
            limit = self.conv_clamp * gain
            x = x.clamp_(-limit, limit) if in_place else x.clamp(-limit, limit)
        return x

    def _conv_weight(self, weight: torch.Tensor) -> torch.Tensor:
        """The stored weight as ``_conv`` takes it: [in, out, k, k] when upsampling."""
        return weight if self.up == 1 else weight.transpose(0, 1)

    def _conv(self, x: torch.Tensor, weight: torch.Tensor,
              bias: torch.Tensor | None) -> torch.Tensor:
        """x [N, in, H, W] -> [N, out, H*up, W*up]; ``weight`` as from ``_conv_weight``."""
        if bias is not None:
            bias = bias.to(x.dtype)
        weight = weight.to(x.dtype)
        if self.up == 1:
            return F.conv2d(x, weight, bias, padding=self.padding)
        # Upsampling: zeros between samples, padded by p + (taps + 1)//2 in front, the FIR filter
        # (gain 4), then the kernel. The snapshots' upsampling layers apply the kernel as a
        # true convolution (flipped, unlike the same-size layers), which is exactly a stride-2
        # transposed convolution with the kernel as stored; it never touches the zeros. The FIR
        # filter then runs once on the output channels, the bias folded into it.
        k, taps = self.kernel_size, self.taps
        y = F.conv_transpose2d(x, weight, stride=2)
        pad_lo = self.padding + (taps + 1) // 2 - (k - 1)
        pad_hi = taps - k + 1 - pad_lo  # the rest, to reach 2H after the FIR pass
        fir = (self.resample_filter * 4).flip(0, 1).to(y.dtype)[None, None].expand(
            self.out_channels, 1, taps, taps)
        if pad_lo == pad_hi and pad_lo >= 0:
            return F.conv2d(y, fir, bias, padding=pad_lo, groups=self.out_channels)
        y = F.pad(y, (pad_lo, pad_hi, pad_lo, pad_hi))
        return F.conv2d(y, fir, bias, groups=self.out_channels)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution to the image channels (no demodulation), bias, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None, channels_last: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size,
                                               kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
        styles = (styles * self.weight_gain).to(x.dtype)
        bias = self.bias.to(x.dtype)
        if x.shape[0] == 1:
            weight = self.weight.to(x.dtype) * styles[0][None, :, None, None]
            y = F.conv2d(x, weight, bias, padding=self.padding)
        else:
            y = F.conv2d(x * styles[:, :, None, None], self.weight.to(x.dtype), bias,
                         padding=self.padding)
        if self.conv_clamp is not None:
            y = y.clamp_(-self.conv_clamp, self.conv_clamp)
        return y


class Conv2dLayer(nn.Module):
    """Plain equalised-lr convolution; here only the resnet skip path: 1x1, no bias, 2x up."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1,
                 bias: bool = False, up: int = 2, resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None, channels_last: bool = False) -> None:
        super().__init__()
        if kernel_size != 1 or up != 2 or bias:
            raise ValueError("only the 1x1 up-sampling skip convolution without bias is used")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.conv_clamp = conv_clamp
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.register_buffer("resample_filter", _fir_filter(resample_filter))
        self.taps = self.resample_filter.shape[-1]
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        # 1x1 convolution and FIR upsampling commute: convolve at the low resolution
        x = F.conv2d(x, (self.weight * (self.weight_gain * gain)).to(x.dtype))
        x = _upsample_fir(x, self.resample_filter, self.taps)
        if self.conv_clamp is not None:
            x = x.clamp_(-self.conv_clamp * gain, self.conv_clamp * gain)
        return x


class SynthesisBlock(nn.Module):
    """One resolution: [const | upsampling conv0], conv1, and per architecture ToRGB / skip."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 img_channels: int, is_last: bool, architecture: str = "skip",
                 resample_filter=(1, 3, 3, 1), conv_clamp: float | None = 256,
                 use_fp16: bool = False, fp16_channels_last: bool = False,
                 fused_modconv_default=True, **layer_kwargs) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {architecture!r} (known: "
                             f"{', '.join(ARCHITECTURES)})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.resolution, self.is_last = resolution, is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16  # NVIDIA's mixed precision; here every layer runs in one dtype
        self.register_buffer("resample_filter", _fir_filter(resample_filter))
        self.taps = self.resample_filter.shape[-1]
        self.num_conv = self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2,
                                        resample_filter=resample_filter,
                                        conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution,
                                    conv_clamp=conv_clamp, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, resample_filter=resample_filter)

    def layers(self) -> list[nn.Module]:
        """The style-taking layers in the order they use ws."""
        names = ["conv0", "conv1", "torgb"]
        return [getattr(self, n) for n in names if hasattr(self, n)]

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None,
                styles: list[torch.Tensor], noise_mode: str, batch: int):
        styles = iter(styles)
        if self.in_channels == 0:
            # channels-last activations: the CPU convolutions (oneDNN) and the depthwise FIR
            # passes run markedly faster in that layout; every later op keeps it
            x = self.const[None].expand(batch, -1, -1, -1).contiguous(
                memory_format=torch.channels_last)
            x = self.conv1(x, next(styles), noise_mode)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(styles), noise_mode)
            x = self.conv1(x, next(styles), noise_mode, gain=math.sqrt(0.5))
            x = y + x
        else:
            x = self.conv0(x, next(styles), noise_mode)
            x = self.conv1(x, next(styles), noise_mode)
        if img is not None:
            img = _upsample_fir(img, self.resample_filter, self.taps)
        if self.is_last or self.architecture == "skip":
            rgb = self.torgb(x, next(styles)).to(torch.float32)
            img = rgb if img is None else img + rgb
        return x, img


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, img_channels, R, R]."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int,
                 channel_base: int = 32768, channel_max: int = 512, num_fp16_res: int = 4,
                 **block_kwargs) -> None:
        super().__init__()
        log2 = int(math.log2(img_resolution)) if img_resolution > 0 else 0
        if img_resolution < 4 or 2 ** log2 != img_resolution:
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.num_fp16_res = num_fp16_res
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        # ws index of each block's first layer; a non-last block's ToRGB shares the next
        # block's first index
        self._first_w: list[int] = []
        for res in self.block_resolutions:
            block = SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim,
                                   res, img_channels, is_last=res == img_resolution,
                                   use_fp16=res >= fp16_resolution, **block_kwargs)
            self._first_w.append(self.num_ws)
            self.num_ws += block.num_conv
            if block.is_last:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def styles_from_ws(self, ws: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for block, first in zip(self.blocks(), self._first_w, strict=True):
            out.append([layer.affine(ws[:, first + i]) for i, layer in enumerate(block.layers())])
        return out

    def run(self, styles: list[list[torch.Tensor]], batch: int,
            noise_mode: str = "const") -> torch.Tensor:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        x = img = None
        for block, block_styles in zip(self.blocks(), styles, strict=True):
            x, img = block(x, img, block_styles, noise_mode, batch)
        return img.contiguous()

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        return self.run(self.styles_from_ws(ws), ws.shape[0], noise_mode)


class StyleGAN2Generator(nn.Module):
    """NVIDIA's StyleGAN2 ``Generator``: init kwargs as in its snapshots, weights by its names.

    ``decode`` is the engine's batch-1 entry point: the class (conditional models) comes from the
    non-persistent buffer ``label`` [1, c_dim], the noise from the attribute ``noise_mode``.
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int,
                 img_channels: int, mapping_kwargs: dict | None = None,
                 **synthesis_kwargs) -> None:
        super().__init__()
        mapping_kwargs = dict(mapping_kwargs or {})
        self.init_kwargs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim,
                                img_resolution=img_resolution, img_channels=img_channels,
                                mapping_kwargs=mapping_kwargs, **synthesis_kwargs)
        # StyleGAN2-ADA-PyTorch (training/networks.py) nests the synthesis settings in a dict
        # ``synthesis_kwargs``; the StyleGAN3 repository passes them flat
        nested = synthesis_kwargs.pop("synthesis_kwargs", None) or {}
        clash = sorted(set(nested) & set(synthesis_kwargs))
        synthesis_kwargs = {**synthesis_kwargs, **nested}
        unknown = sorted(set(mapping_kwargs) - _MAPPING_KEYS)
        unknown += sorted(set(synthesis_kwargs) - _SYNTHESIS_KEYS)
        if unknown:
            raise ValueError(f"unknown StyleGAN2 generator settings: {', '.join(unknown)}")
        if clash:
            raise ValueError(f"StyleGAN2 settings given twice: {', '.join(clash)}")
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels,
                                          **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, **mapping_kwargs)
        self.cfg = SimpleNamespace(z_dim=z_dim, w_dim=w_dim, c_dim=c_dim, num_ws=self.num_ws,
                                   img_resolution=img_resolution, img_channels=img_channels)
        label = torch.zeros(1, c_dim)
        if c_dim:
            label[0, 0] = 1
        self.register_buffer("label", label, persistent=False)
        self.noise_mode = "const"
        self._affine: tuple[torch.Tensor, torch.Tensor, list[int]] | None = None

    @classmethod
    def from_record(cls, record) -> StyleGAN2Generator:
        """Build from a snapshot record (:func:`live.stylegan.snapshot.generator`) and load its
        tensors by name, strictly."""
        if record.init_args:
            raise ValueError("StyleGAN2 generator records take keyword arguments only")
        gen = cls(**record.init_kwargs)
        tensors = {k: torch.as_tensor(v) for k, v in record.tensors().items()}
        gen.load_state_dict(tensors, strict=True)
        return gen.eval()

    @property
    def latent_dim(self) -> int:
        return self.z_dim

    @property
    def resolution(self) -> int:
        return self.img_resolution

    def set_class(self, index: int) -> None:
        """Generate class ``index`` (conditional models): a one-hot ``label``."""
        if not 0 <= index < self.c_dim:
            raise ValueError(f"class index must be in 0-{self.c_dim - 1}, got {index}")
        self.label.zero_()
        self.label[0, index] = 1

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None,
                truncation_psi: float | torch.Tensor = 1.0,
                noise_mode: str = "const") -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi)
        return self.synthesis(ws, noise_mode=noise_mode)

    def decode(self, z: torch.Tensor, truncation: torch.Tensor | float = 1.0,
               w_offset: torch.Tensor | None = None) -> torch.Tensor:
        """Images for latents z [N, z_dim]: psi ``truncation`` (a 0-d tensor when traced) pulls
        w toward ``mapping.w_avg``, then ``w_offset`` [w_dim] moves every w."""
        if torch.jit.is_tracing():
            # a trace fixes the batch size, and the layers branch on it: expected, not a risk
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
                return self._decode(z, truncation, w_offset)
        return self._decode(z, truncation, w_offset)

    def _decode(self, z: torch.Tensor, truncation: torch.Tensor | float,
                w_offset: torch.Tensor | None) -> torch.Tensor:
        n = z.shape[0]
        c = self.label.expand(n, -1) if self.c_dim else None
        w = torch.lerp(self.mapping.w_avg.to(z.dtype), self.mapping.w(z, c).to(z.dtype),
                       truncation)
        if w_offset is not None:
            w = w + w_offset
        if self._affine is not None and not self.training:
            # every layer sees the same w: all the styles in one matrix product
            weight, bias, sizes = self._affine
            flat = torch.split(F.linear(w, weight, bias), sizes, dim=1)
            styles, i = [], 0
            for block in self.synthesis.blocks():
                count = len(block.layers())
                styles.append(list(flat[i:i + count]))
                i += count
        else:
            styles = self.synthesis.styles_from_ws(w.unsqueeze(1).expand(-1, self.num_ws, -1))
        return self.synthesis.run(styles, n, self.noise_mode)

    @torch.no_grad()
    def bake(self) -> StyleGAN2Generator:
        """Precompute the input-independent weight transforms; call again after changing
        weights (moving or casting the module drops them)."""
        for module in self.modules():
            if isinstance(module, SynthesisLayer | FullyConnectedLayer):
                module.bake()
        pairs = [layer.affine.effective() for block in self.synthesis.blocks()
                 for layer in block.layers()]
        self._affine = (torch.cat([p[0] for p in pairs]).contiguous(),
                        torch.cat([p[1] for p in pairs]).contiguous(),
                        [p[0].shape[0] for p in pairs])
        return self

    def _apply(self, fn, recurse=True):
        self._affine = None
        return super()._apply(fn, recurse)


def decode_gflop(gen: StyleGAN2Generator) -> float:
    """Multiply-adds x 2 of one decoded frame's convolutions (the rest is small)."""
    macs = 0
    for block in gen.synthesis.blocks():
        for name in ("conv0", "conv1", "torgb", "skip"):
            layer = getattr(block, name, None)
            if layer is None:
                continue
            taps = layer.weight[0].numel()  # in x k x k
            res = block.resolution if name != "skip" else block.resolution // 2
            if name == "conv0":  # the transposed convolution runs at the input size
                res //= 2
            macs += layer.out_channels * taps * res * res
    return 2 * macs / 1e9


def benchmark_decode(resolution: int = 256, channel_base: int = 32768, channel_max: int = 512,
                     z_dim: int = 512, w_dim: int = 512, mapping_layers: int = 8,
                     architecture: str = "skip", calls: int = 10, warmup: int = 3,
                     threads: int | None = None, seed: int = 0) -> dict:
    """Milliseconds of one batch-1 ``decode`` on the CPU for a StyleGAN2 of this shape, built
    with random weights. Defaults: NVIDIA's ``train.py --cfg=stylegan2`` (cbase 32768, cmax
    512, 8 mapping layers, skip, num_fp16_res 4, conv_clamp 256); its older ``paper256`` /
    ``auto`` settings for 256 px use ``channel_base=16384``.

    Eager, traced as the engine does it (:func:`live.decode.trace`: freeze and
    optimize_for_inference) and traced + frozen only are timed in turn, call by call, so a
    busy machine slows all three alike. Returns medians (``*_ms``) and minima (``*_min_ms``)
    over ``calls`` after ``warmup``, the frame's GFLOP, the parameter count, the settings,
    and the 1-minute load average before and after."""
    import os

    from live.decode import Decode, trace  # the engine's trace (imported here: no cycle)

    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    gen = StyleGAN2Generator(z_dim=z_dim, c_dim=0, w_dim=w_dim, img_resolution=resolution,
                             img_channels=3, mapping_kwargs={"num_layers": mapping_layers},
                             channel_base=channel_base, channel_max=channel_max,
                             architecture=architecture)
    with torch.no_grad():  # weights that make every path do real work
        for name, p in gen.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.1)
            elif name.endswith("bias") and "affine" not in name:
                p.normal_(0, 0.1)
    gen = gen.eval().bake()
    inputs = (torch.randn(1, z_dim), torch.tensor(0.7), torch.zeros(w_dim))
    load_before = os.getloadavg()[0]
    with torch.inference_mode():
        decoder = Decode(gen, offset_in_w=True)
        frozen = torch.jit.freeze(torch.jit.trace(decoder, inputs, check_trace=False).eval())
        runs = {"eager": decoder, "traced": trace(decoder, inputs), "frozen": frozen}
        for fn in runs.values():
            for _ in range(warmup):
                fn(*inputs)
        times: dict[str, list[float]] = {key: [] for key in runs}
        for _ in range(calls):
            for key, fn in runs.items():
                start = time.perf_counter()
                fn(*inputs)
                times[key].append((time.perf_counter() - start) * 1e3)
    result = {"config": dict(resolution=resolution, channel_base=channel_base,
                             channel_max=channel_max, z_dim=z_dim, w_dim=w_dim,
                             mapping_layers=mapping_layers, architecture=architecture,
                             threads=torch.get_num_threads()),
              "params": sum(p.numel() for p in gen.parameters()),
              "gflop": round(decode_gflop(gen), 2),
              "loadavg_1min": (load_before, os.getloadavg()[0])}
    for key, values in times.items():
        result[f"{key}_ms"] = round(statistics.median(values), 1)
        result[f"{key}_min_ms"] = round(min(values), 1)
    return result

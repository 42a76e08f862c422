"""A style-based GAN small enough to decode 128x128 frames at well over 60 fps on two CPU cores.

The generator follows StyleGAN2's shape: a mapping network turns z into w (walks in w are
smoother than in z), a learned 4x4 constant is grown by blocks of (bilinear 2x upsample,
modulated 3x3 conv, modulated 3x3 conv), and a skip architecture sums per-resolution RGB.
Modulation is done as "scale the input channels, convolve, rescale the output channels", which
equals StyleGAN2's weight (de)modulation but needs no grouped convolution, so it is fast at
batch 1 on a CPU. There are no per-pixel noise inputs: a live walk must not shimmer.

The discriminator (training only) is StyleGAN2's residual design: 1x1 from-RGB, blocks of
two 3x3 convs with a 2x average-pool downsample and a scaled residual, minibatch standard
deviation, then a conv and two linear layers to one logit.

Shapes: z ``(B, z_dim)``, w ``(B, w_dim)``, images ``(B, 3, R, R)`` roughly in [-1, 1].
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from live.nets.limits import (
    MAX_CHANNEL_BASE,
    MAX_CHANNELS,
    MAX_LATENT,
    MAX_LAYERS,
    check_int,
    check_resolution,
)


@dataclass(frozen=True)
class GANConfig:
    z_dim: int = 128
    w_dim: int = 256
    mapping_layers: int = 4
    resolution: int = 128
    channel_base: int = 2048
    """Channels at resolution r are min(channel_max, channel_base // r)."""
    channel_max: int = 256
    d_channel_base: int = 4096
    d_channel_max: int = 256

    def __post_init__(self) -> None:
        """Refuse any value that would fail deep in a constructor or allocate absurdly."""
        check_int("z_dim", self.z_dim, 1, MAX_LATENT)
        check_int("w_dim", self.w_dim, 1, MAX_LATENT)
        check_int("mapping_layers", self.mapping_layers, 1, MAX_LAYERS)
        check_resolution("resolution", self.resolution)
        for prefix in ("", "d_"):
            check_int(f"{prefix}channel_base", getattr(self, f"{prefix}channel_base"), 1,
                      MAX_CHANNEL_BASE)
            check_int(f"{prefix}channel_max", getattr(self, f"{prefix}channel_max"), 1,
                      MAX_CHANNELS)
        if min(self.channels(self.resolution), self.d_channel_base // self.resolution) < 1:
            raise ValueError(f"channel_base / d_channel_base must be at least the resolution "
                             f"({self.resolution}): no channels are left at full resolution")

    def channels(self, res: int) -> int:
        return min(self.channel_max, self.channel_base // res)

    def to_dict(self) -> dict:
        return asdict(self)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (weights scaled at run time by 1/sqrt(fan_in))."""

    def __init__(self, fan_in: int, fan_out: int, bias_init: float = 0.0, lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((fan_out,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(fan_in)
        self.lr_mul = lr_mul
        self.baked: tuple[torch.Tensor, torch.Tensor] | None = None

    def bake(self) -> None:
        """Cache the scaled weights for inference (call again after the weights change)."""
        self.baked = (self.weight.detach() * self.scale, self.bias.detach() * self.lr_mul)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.baked is not None and not self.training:
            return F.linear(x, *self.baked)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class MappingNetwork(nn.Module):
    def __init__(self, cfg: GANConfig):
        super().__init__()
        dims = [cfg.z_dim] + [cfg.w_dim] * cfg.mapping_layers
        self.layers = nn.ModuleList(
            EqualLinear(a, b, lr_mul=0.01) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2) * math.sqrt(2)
        return x


class ModulatedConv(nn.Module):
    """3x3 (or 1x1) convolution whose input channels are scaled by a style from w."""

    def __init__(self, w_dim: int, c_in: int, c_out: int, kernel: int = 3, demodulate: bool = True):
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = 1.0 / math.sqrt(c_in * kernel * kernel)
        self.demodulate = demodulate
        self.padding = kernel // 2
        self.baked: tuple[torch.Tensor, torch.Tensor] | None = None

    def bake(self) -> None:
        """Cache the scaled weight and its squared tap sums for inference."""
        weight = self.weight.detach() * self.scale
        self.baked = (weight, weight.square().sum(dim=(2, 3)).t().contiguous())

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        style = self.affine(w)  # (B, c_in)
        if self.baked is not None and not self.training:
            weight, tap_energy = self.baked
        else:
            weight = self.weight * self.scale
            tap_energy = weight.square().sum(dim=(2, 3)).t()  # (c_in, c_out)
        if x.shape[0] == 1 and not self.training:
            # Batch 1 (live decoding): fold style and demodulation into the weights, which is
            # far cheaper than scaling a large activation map before and after the conv.
            gain = style  # (1, c_in) -> (c_out, c_in) below
            if self.demodulate:
                gain = torch.rsqrt(style.square() @ tap_energy + 1e-8).t() * style
            return F.conv2d(x, weight * gain[:, :, None, None], self.bias, padding=self.padding)
        x = x * style[:, :, None, None]
        x = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            # per (sample, out channel): 1/sqrt(sum over in, k of (weight * style)^2)
            energy = style.square() @ tap_energy  # (B, c_out)
            x = x * torch.rsqrt(energy + 1e-8)[:, :, None, None]
        return x + self.bias[None, :, None, None]


class SynthesisBlock(nn.Module):
    def __init__(self, cfg: GANConfig, c_in: int, c_out: int):
        super().__init__()
        self.conv0 = ModulatedConv(cfg.w_dim, c_in, c_out)
        self.conv1 = ModulatedConv(cfg.w_dim, c_out, c_out)
        self.to_rgb = ModulatedConv(cfg.w_dim, c_out, 3, kernel=1, demodulate=False)

    def forward(self, x, rgb, w):
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.leaky_relu(self.conv0(x, w), 0.2) * math.sqrt(2)
        x = F.leaky_relu(self.conv1(x, w), 0.2) * math.sqrt(2)
        rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False)
        return x, rgb + self.to_rgb(x, w)


class Generator(nn.Module):
    """z -> image. ``decode`` is the engine's entry point (mapping, truncation, synthesis)."""

    def __init__(self, cfg: GANConfig = GANConfig()):
        super().__init__()
        if cfg.resolution < 8 or cfg.resolution & (cfg.resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {cfg.resolution}")
        self.cfg = cfg
        self.mapping = MappingNetwork(cfg)
        c4 = cfg.channels(4)
        self.const = nn.Parameter(torch.randn(1, c4, 4, 4))
        self.conv4 = ModulatedConv(cfg.w_dim, c4, c4)
        self.rgb4 = ModulatedConv(cfg.w_dim, c4, 3, kernel=1, demodulate=False)
        blocks = []
        res = 8
        while res <= cfg.resolution:
            blocks.append(SynthesisBlock(cfg, cfg.channels(res // 2), cfg.channels(res)))
            res *= 2
        self.blocks = nn.ModuleList(blocks)
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    @property
    def latent_dim(self) -> int:
        return self.cfg.z_dim

    @property
    def resolution(self) -> int:
        return self.cfg.resolution

    def synthesis(self, w: torch.Tensor) -> torch.Tensor:
        x = self.const.expand(w.shape[0], -1, -1, -1)
        x = F.leaky_relu(self.conv4(x, w), 0.2) * math.sqrt(2)
        rgb = self.rgb4(x, w)
        for block in self.blocks:
            x, rgb = block(x, rgb, w)
        return rgb

    def forward(self, z: torch.Tensor, truncation: float | torch.Tensor = 1.0,
                w_offset: torch.Tensor | None = None) -> torch.Tensor:
        """Images for latents ``z``; ``truncation`` (psi) pulls w toward ``w_avg``;
        ``w_offset`` (w_dim,) moves every w, e.g. along stored PCA directions."""
        w = torch.lerp(self.w_avg.to(z.dtype), self.mapping(z), truncation)
        if w_offset is not None:
            w = w + w_offset
        return self.synthesis(w)

    decode = forward

    @torch.no_grad()
    def bake(self) -> Generator:
        """Precompute every weight transform that does not depend on the input (inference)."""
        for module in self.modules():
            if isinstance(module, EqualLinear | ModulatedConv):
                module.bake()
        return self

    @torch.no_grad()
    def update_w_avg(self, samples: int = 4096, seed: int = 0) -> None:
        """Set ``w_avg`` to the mean of w over ``samples`` random z (for truncation)."""
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(samples, self.cfg.z_dim, generator=gen).to(self.w_avg.device)
        self.w_avg.copy_(self.mapping(z.to(self.const.dtype)).float().mean(0))


class EqualConv(nn.Module):
    """Plain convolution with equalised learning rate (discriminator)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.scale = 1.0 / math.sqrt(c_in * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class DiscriminatorBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv0 = EqualConv(c_in, c_in)
        self.conv1 = EqualConv(c_in, c_out)
        self.skip = EqualConv(c_in, c_out, kernel=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip(F.avg_pool2d(x, 2))
        x = F.leaky_relu(self.conv0(x), 0.2) * math.sqrt(2)
        x = F.leaky_relu(self.conv1(F.avg_pool2d(x, 2)), 0.2) * math.sqrt(2)
        return (x + skip) / math.sqrt(2)


class Discriminator(nn.Module):
    """image (B, 3, R, R) -> realness logit (B,)."""

    def __init__(self, cfg: GANConfig = GANConfig(), mbstd_group: int = 4):
        super().__init__()
        self.cfg = cfg
        ch = lambda res: min(cfg.d_channel_max, cfg.d_channel_base // res)  # noqa: E731
        self.from_rgb = EqualConv(3, ch(cfg.resolution), kernel=1)
        blocks = []
        res = cfg.resolution
        while res > 4:
            blocks.append(DiscriminatorBlock(ch(res), ch(res // 2)))
            res //= 2
        self.blocks = nn.ModuleList(blocks)
        self.mbstd_group = mbstd_group
        c4 = ch(4)
        self.conv = EqualConv(c4 + 1, c4)
        self.fc = EqualLinear(c4 * 16, c4)
        self.out = EqualLinear(c4, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.from_rgb(image), 0.2) * math.sqrt(2)
        for block in self.blocks:
            x = block(x)
        # minibatch standard deviation: one feature map telling D how varied the batch is
        b, c, h, w = x.shape
        group = min(self.mbstd_group, b)
        while b % group:
            group -= 1
        y = x.reshape(group, -1, c, h, w)
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))
        y = y.reshape(-1, 1, 1, 1).repeat(group, 1, h, w)
        x = torch.cat([x, y], dim=1)
        x = F.leaky_relu(self.conv(x), 0.2) * math.sqrt(2)
        x = F.leaky_relu(self.fc(x.flatten(1)), 0.2) * math.sqrt(2)
        return self.out(x).squeeze(1)

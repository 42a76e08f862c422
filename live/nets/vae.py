"""A convolutional VAE whose decoder renders a 128x128 frame in a few milliseconds on a CPU.

The encoder halves the picture with strided 3x3 convolutions down to 4x4 and maps it to the
mean and log-variance of a diagonal Gaussian code. The decoder mirrors the GAN's synthesis
network without styles: a linear layer to a 4x4 map, then per resolution (bilinear 2x
upsample, 3x3 conv, 3x3 conv) with the channel count falling as the resolution grows, and a
skip architecture that sums per-resolution RGB, so colour fields come from the cheap low
resolutions and only detail is left to the expensive top ones.

Two latent spaces:

- the *code* ``c`` is what the encoder produces and ``synthesis`` takes;
- the *sampling space* ``u`` is what ``decode`` takes (the engine's walk draws ``u`` from a
  standard normal). ``c = code_mean + code_basis @ (truncation * u)``: after training,
  ``code_mean`` and ``code_basis`` are fitted to the encoded training set (a full-covariance
  Gaussian of the encoded means, its principal axes first), so a standard-normal ``u`` decodes
  to pictures like the training data instead of the blur a VAE's prior gives away from the
  data, truncation pulls toward the average picture, and axis k of ``u`` is the k-th principal
  direction of the data. Untrained, they are zero and the identity (plain prior sampling).

Shapes: pictures ``x`` ``(B, 3, R, R)`` in [-1, 1]; codes and ``u`` ``(B, latent_dim)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from live.nets.limits import (
    MAX_CHANNEL_BASE,
    MAX_CHANNELS,
    MAX_LATENT,
    check_float,
    check_int,
    check_resolution,
)


@dataclass(frozen=True)
class VAEConfig:
    latent_dim: int = 128
    resolution: int = 128
    channel_base: int = 1536
    """Decoder channels at resolution r are min(channel_max, channel_base // r)."""
    channel_max: int = 256
    enc_channel_base: int = 1024
    """Encoder channels at resolution r are min(enc_channel_max, enc_channel_base // r)."""
    enc_channel_max: int = 256
    beta: float = 0.05
    """KL weight, in nats per unit of per-image summed L1 reconstruction error."""

    def __post_init__(self) -> None:
        """Refuse any value that would fail deep in a constructor or allocate absurdly."""
        check_resolution("resolution", self.resolution)
        check_int("latent_dim", self.latent_dim, 1, MAX_LATENT)
        for prefix in ("", "enc_"):
            check_int(f"{prefix}channel_base", getattr(self, f"{prefix}channel_base"), 1,
                      MAX_CHANNEL_BASE)
            check_int(f"{prefix}channel_max", getattr(self, f"{prefix}channel_max"), 1,
                      MAX_CHANNELS)
        if min(self.channels(self.resolution), self.enc_channels(self.resolution)) < 1:
            raise ValueError("channel_base / channel_max leave no channels at full resolution")
        check_float("beta", self.beta, 0.0, 1e6)

    def channels(self, res: int) -> int:
        return min(self.channel_max, self.channel_base // res)

    def enc_channels(self, res: int) -> int:
        return min(self.enc_channel_max, self.enc_channel_base // res)

    def to_dict(self) -> dict:
        return asdict(self)


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class Encoder(nn.Module):
    """(B, 3, R, R) -> mean and log-variance, each (B, latent_dim)."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        res = cfg.resolution
        self.from_rgb = nn.Conv2d(3, cfg.enc_channels(res), 3, padding=1)
        blocks = []
        while res > 4:
            c_in, c_out = cfg.enc_channels(res), cfg.enc_channels(res // 2)
            blocks.append(nn.ModuleList([
                nn.Conv2d(c_in, c_in, 3, padding=1),
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1),
            ]))
            res //= 2
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(cfg.enc_channels(4) * 16, 2 * cfg.latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = _act(self.from_rgb(x))
        for conv, down in self.blocks:
            x = _act(down(_act(conv(x))))
        mu, logvar = self.head(x.flatten(1)).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)


class DecoderBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv0 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv1 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.to_rgb = nn.Conv2d(c_out, 3, 1)

    def forward(self, x: torch.Tensor, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = _act(self.conv1(_act(self.conv0(x))))
        rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False)
        return x, rgb + self.to_rgb(x)


class VAE(nn.Module):
    """Encoder + decoder. ``decode`` is the engine's entry point (sampling space -> picture)."""

    def __init__(self, cfg: VAEConfig = VAEConfig()):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        c4 = cfg.channels(4)
        self.fc = nn.Linear(cfg.latent_dim, c4 * 16)
        self.conv4 = nn.Conv2d(c4, c4, 3, padding=1)
        self.rgb4 = nn.Conv2d(c4, 3, 1)
        blocks = []
        res = 8
        while res <= cfg.resolution:
            blocks.append(DecoderBlock(cfg.channels(res // 2), cfg.channels(res)))
            res *= 2
        self.blocks = nn.ModuleList(blocks)
        self.register_buffer("code_mean", torch.zeros(cfg.latent_dim))
        self.register_buffer("code_basis", torch.eye(cfg.latent_dim))
        self.baked: tuple[torch.Tensor, torch.Tensor] | None = None
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:
        """He init for the leaky-ReLU layers (PyTorch's default shrinks the signal ~2x per
        layer, which leaves a deep net without normalisation barely learning at first);
        the RGB outputs start small, so the first pictures are grey rather than noise."""
        for name, module in self.named_modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                module.bias.zero_()
                if "rgb" in name:
                    module.weight.mul_(0.1)
                elif name != "encoder.head":
                    nn.init.kaiming_normal_(module.weight, a=0.2)

    @property
    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    @property
    def resolution(self) -> int:
        return self.cfg.resolution

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pictures -> (mean, log-variance) of their codes."""
        return self.encoder(x)

    def synthesis(self, code: torch.Tensor, fc: tuple[torch.Tensor, torch.Tensor] | None = None
                  ) -> torch.Tensor:
        """Codes -> pictures; ``fc`` replaces the first layer's (weight, bias) when given."""
        h = F.linear(code, *(fc or (self.fc.weight, self.fc.bias)))
        x = _act(h.view(code.shape[0], -1, 4, 4))
        x = _act(self.conv4(x))
        rgb = self.rgb4(x)
        for block in self.blocks:
            x, rgb = block(x, rgb)
        return rgb

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pictures -> (reconstruction of a sampled code, mean, log-variance)."""
        mu, logvar = self.encode(x)
        code = mu
        if self.training:
            code = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.synthesis(code), mu, logvar

    def to_code(self, u: torch.Tensor) -> torch.Tensor:
        """Sampling space -> code space."""
        return self.code_mean + u @ self.code_basis.t()

    def decode(self, u: torch.Tensor, truncation: float | torch.Tensor = 1.0) -> torch.Tensor:
        """Pictures for sampling-space latents ``u``; ``truncation`` pulls toward the mean."""
        u = u * truncation
        if self.baked is not None and not self.training:
            return self.synthesis(u, self.baked)
        return self.synthesis(self.to_code(u))

    @torch.no_grad()
    def bake(self) -> VAE:
        """Fold the sampling-space transform into the first decoder layer (inference).

        Call again after the weights or the fitted prior change.
        """
        weight = self.fc.weight @ self.code_basis
        bias = self.fc.bias + self.fc.weight @ self.code_mean
        self.baked = (weight.contiguous(), bias)
        return self

    @torch.no_grad()
    def set_prior(self, mean: torch.Tensor, basis: torch.Tensor) -> None:
        """Use ``code = mean + basis @ u`` for ``decode`` (and drop a stale bake)."""
        self.code_mean.copy_(mean)
        self.code_basis.copy_(basis)
        self.baked = None

    def _apply(self, fn, recurse=True):
        # .to(), .half(), .cuda() rebuild the parameters: a bake from before is stale
        self.baked = None
        return super()._apply(fn, recurse)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(c|x) || N(0, I)) in nats per picture, (B,)."""
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(dim=1)


def decoder_parameters(vae: VAE) -> int:
    return sum(p.numel() for name, p in vae.named_parameters() if not name.startswith("encoder."))


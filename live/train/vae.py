"""Train a convolutional VAE on a folder of pictures (L1 + edge loss, light KL, fitted prior).

    live train vae --images DIR --out models/NAME [--size 128] [--steps N] [--resume]

The network is live.nets.vae.VAE. VAEs blur; three cheap things keep the pictures crisp:
the reconstruction loss is L1 on the pixels plus L1 on their horizontal and vertical
differences (edges count, not only colour fields); the KL weight ``--beta`` is small (it is
the scale of a Laplace likelihood on pixels in [-1, 1], i.e. about the reconstruction error
the model reaches, not the textbook 1); and pictures are not sampled from the N(0, I) prior
(where a lightly regularised VAE has blurry holes) but from a full-covariance Gaussian fitted
to the encoded training set at the end, which the model folder stores so ``decode`` takes a
standard-normal latent. AdamW with a short warm-up and a cosine decay; horizontal flips.

A held-out split (``--val-fraction``) gives the validation loss; ``<out>/checkpoint.safetensors``
is written every ``--checkpoint-every`` steps for an exact ``--resume`` and removed when the
run completes. The model folder gets model.safetensors (weights, the fitted prior, PCA
directions), model.toml, samples.png, reconstructions.png and loss.png. Under torchrun every
rank draws its own batches and DistributedDataParallel averages the gradients; rank 0 writes.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import time
from datetime import date

import torch
from torch.nn.parallel import DistributedDataParallel

from live.device import torch_threads
from live.nets.vae import VAE, VAEConfig, decoder_parameters, kl_divergence
from live.store import LoadedModel, save_model
from live.train.common import (
    Progress,
    autocast,
    cleanup_distributed,
    describe_options,
    load_checkpoint,
    save_checkpoint,
    setup_distributed,
    training_command,
    write_image_grid,
    write_loss_curve,
)
from live.train.images import ImageFolder, add_picture_arguments

log = logging.getLogger(__name__)

SAMPLE_SEED = 1234
DIRECTIONS = 16
VAL_BATCH = 64
VAL_DURING_TRAINING = 256
"""Held-out pictures scored at each checkpoint (the whole split is scored at the end)."""
WARMUP_STEPS = 200
PROGRESS_FIT = 1024
"""Training pictures encoded to fit the prior for the samples.png written at checkpoints."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    describe_options(parser, __doc__.split("\n\n")[0])
    add_picture_arguments(parser, steps=10000)
    parser.add_argument("--lr", type=float, default=1e-3,
                        help="peak learning rate (AdamW, warm-up then cosine decay)")
    parser.add_argument("--beta", type=float, default=VAEConfig.beta,
                        help="KL weight (Laplace scale of the pixel likelihood)")
    parser.add_argument("--edge-weight", type=float, default=1.0,
                        help="weight of the L1 loss on pixel differences")
    parser.add_argument("--latent", type=int, default=VAEConfig.latent_dim,
                        help="size of the latent code")
    parser.add_argument("--channel-base", type=int, default=VAEConfig.channel_base,
                        help="decoder channels at resolution r: min(max, base / r)")
    parser.add_argument("--channel-max", type=int, default=VAEConfig.channel_max,
                        help="most channels of any decoder layer")
    parser.add_argument("--enc-channel-base", type=int, default=VAEConfig.enc_channel_base,
                        help="encoder channels at resolution r: min(256, base / r)")
    parser.add_argument("--checkpoint-every", type=int, default=500,
                        help="steps between checkpoints, validation and samples.png")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads per process (0: torch's choice, all cores)")


# ---------------------------------------------------------------------------- losses
def reconstruction_loss(recon: torch.Tensor, x: torch.Tensor,
                        edge_weight: float = 1.0) -> torch.Tensor:
    """L1 of the pixels plus ``edge_weight`` x L1 of their x and y differences, summed per
    picture, (B,). The difference term is what keeps edges and stripes from melting."""
    err = recon.float() - x.float()
    loss = err.abs().sum(dim=(1, 2, 3))
    if edge_weight:
        dx = (err[..., :, 1:] - err[..., :, :-1]).abs().sum(dim=(1, 2, 3))
        dy = (err[..., 1:, :] - err[..., :-1, :]).abs().sum(dim=(1, 2, 3))
        loss = loss + edge_weight * (dx + dy)
    return loss


def learning_rate(step: int, total: int, peak: float) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < WARMUP_STEPS:
        return peak * (step + 1) / WARMUP_STEPS
    progress = (step - WARMUP_STEPS) / max(total - WARMUP_STEPS, 1)
    return peak * (0.1 + 0.45 * (1 + math.cos(math.pi * min(progress, 1.0))))


@torch.no_grad()
def reconstruction_metrics(vae: VAE, data: ImageFolder, indices: torch.Tensor,
                           device: torch.device, edge_weight: float = 1.0) -> dict[str, float]:
    """Scores of the pictures ``indices`` reconstructed from their code means: per-value MSE
    and L1, PSNR (dB, peak-to-peak 2), KL (nats per picture) and ``loss``, the training
    objective per value (with ``edge_weight`` and the model's beta; the training figure
    differs only by the sampling noise of the codes)."""
    was_training = vae.training
    vae.eval()
    mse = l1 = kl = objective = 0.0
    for chunk in indices.split(VAL_BATCH):
        x = data.batch(chunk, device)
        mu, logvar = vae.encode(x)
        recon = vae.synthesis(mu).float()
        err = recon - x
        kl_each = kl_divergence(mu.float(), logvar.float())
        mse += float(err.square().mean(dim=(1, 2, 3)).sum())
        l1 += float(err.abs().mean(dim=(1, 2, 3)).sum())
        kl += float(kl_each.sum())
        objective += float((reconstruction_loss(recon, x, edge_weight)
                            + vae.cfg.beta * kl_each).sum() / err[0].numel())
    vae.train(was_training)
    n = max(len(indices), 1)
    mse, l1, kl, objective = mse / n, l1 / n, kl / n, objective / n
    return {"loss": objective, "mse": mse, "l1": l1,
            "psnr_db": 10 * math.log10(4.0 / max(mse, 1e-12)), "kl_nats": kl}


# ---------------------------------------------------------------------------- the prior
@torch.no_grad()
def encode_means(vae: VAE, data: ImageFolder, indices: torch.Tensor,
                 device: torch.device) -> torch.Tensor:
    was_training = vae.training
    vae.eval()
    codes = torch.cat([vae.encode(data.batch(chunk, device))[0].float().cpu()
                       for chunk in indices.split(VAL_BATCH)])
    vae.train(was_training)
    return codes


@torch.no_grad()
def gaussian_basis(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and basis (D, D) with ``codes ~ mean + basis @ u``, ``u ~ N(0, I)``.

    The basis columns are the principal axes of ``codes`` by decreasing variance, each scaled
    by its standard deviation, so axis k of ``u`` is the k-th principal direction.
    """
    codes = codes.double()
    mean = codes.mean(dim=0)
    cov = torch.cov((codes - mean).t())
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)  # ascending
    std = eigenvalues.clamp(min=0).sqrt().flip(0)
    axes = eigenvectors.flip(1)
    # a sign convention, so refits of the same data agree: each axis points where it is largest
    signs = torch.sign(axes.gather(0, axes.abs().argmax(dim=0, keepdim=True)))
    return mean.float(), (axes * signs * std).float()


@torch.no_grad()
def fit_prior(vae: VAE, codes: torch.Tensor, k: int = DIRECTIONS) -> dict[str, torch.Tensor]:
    """Fit ``vae``'s sampling space to ``codes`` (N, D) and return the extra tensors for the
    model folder, all in that sampling space: ``latent_mean`` and ``latent_std`` of the
    encoded pictures (about 0 and 1 by construction), and ``directions`` (k, D) /
    ``direction_std`` (k,), their principal directions (GANSpace-style PCA of the codes).

    The PCA is done in code space, where it is well defined, and is built into the basis:
    axis i of the sampling space is the i-th principal direction, so ``directions`` are the
    first k unit axes. (PCA in the sampling space itself would be arbitrary: it is white.)
    """
    mean, basis = gaussian_basis(codes)
    vae.set_prior(mean.to(vae.code_mean), basis.to(vae.code_basis))
    u = torch.linalg.lstsq(basis, (codes - mean).t()).solution.t()  # sampling-space codes
    k = min(k, codes.shape[1])
    return {"latent_mean": u.mean(dim=0), "latent_std": u.std(dim=0),
            "directions": torch.eye(k, codes.shape[1]), "direction_std": u[:, :k].std(dim=0)}


# ---------------------------------------------------------------------------- pictures
@torch.no_grad()
def sample_grid(vae: VAE, n: int, seed: int, truncation: float,
                device: torch.device) -> torch.Tensor:
    was_training = vae.training
    vae.eval()
    u = torch.randn(n, vae.latent_dim, generator=torch.Generator().manual_seed(seed))
    images = torch.cat([vae.decode(chunk.to(device), truncation).float().cpu()
                        for chunk in u.split(VAL_BATCH)])
    vae.train(was_training)
    return images


@torch.no_grad()
def reconstruction_grid(vae: VAE, data: ImageFolder, indices: torch.Tensor,
                        device: torch.device, columns: int = 8) -> torch.Tensor:
    """Rows of originals, each followed by a row of their reconstructions."""
    was_training = vae.training
    vae.eval()
    x = data.batch(indices, device)
    recon = vae.synthesis(vae.encode(x)[0]).float()
    vae.train(was_training)
    rows = []
    for start in range(0, len(x), columns):
        rows += [x[start:start + columns].cpu(), recon[start:start + columns].cpu()]
    return torch.cat(rows)


@torch.no_grad()
def decode_ms(vae: VAE, repeats: int = 200) -> float:
    """Median ms of one batch-1 decode on the CPU as the engine runs it (channels_last,
    baked, inference mode, every core)."""
    model = VAE(vae.cfg)
    model.load_state_dict(vae.state_dict())
    model = model.eval().to(memory_format=torch.channels_last).bake()
    u, truncation = torch.randn(1, model.latent_dim), torch.tensor(0.8)
    times = []
    with torch_threads(os.cpu_count() or 1), torch.inference_mode():
        for i in range(repeats + 20):
            start = time.perf_counter()
            model.decode(u, truncation)
            if i >= 20:
                times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]


# ---------------------------------------------------------------------------- training
def _batch_generator(seed: int, step: int, rank: int) -> torch.Generator:
    """Batches and noise are a function of (seed, step, rank): an exact --resume."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 1009 + rank)


def run(args: argparse.Namespace) -> int:
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dist = setup_distributed(args.device)
    device = dist.device
    try:  # the architecture first: a bad option should not wait for the pictures to load
        cfg = VAEConfig(latent_dim=args.latent, resolution=args.size, beta=args.beta,
                        channel_base=args.channel_base, channel_max=args.channel_max,
                        enc_channel_base=args.enc_channel_base, enc_channel_max=args.channel_max)
        data = ImageFolder(args.images, args.size, limit=args.limit)
    except ValueError as exc:
        raise SystemExit(f"live train vae: {exc}") from None
    train_idx, val_idx = data.split(args.val_fraction, seed=args.seed)
    if len(val_idx) == 0:
        raise SystemExit(f"live: {args.images}: need at least 2 pictures (one is held out)")
    torch.manual_seed(args.seed)  # same initial weights on every rank
    vae = VAE(cfg).to(device)
    if device.type == "cpu":
        vae = vae.to(memory_format=torch.channels_last)  # about 1.8x faster convolutions
    opt = torch.optim.AdamW(vae.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
    checkpoint = args.out / "checkpoint.safetensors"
    history: dict[str, list] = {"train": [], "validation": []}
    commands = [training_command()]
    step = 0
    if args.resume:
        if not checkpoint.exists():
            raise SystemExit(f"live: --resume: no checkpoint at {checkpoint}")
        try:
            meta = load_checkpoint(checkpoint, {"vae": vae}, {"opt": opt})
        except (ValueError, OSError) as exc:  # changed or corrupt checkpoint files
            raise SystemExit(f"live: --resume: {exc}") from None
        step = int(meta["step"])
        commands = [*meta.get("commands", []), *commands]
        history = {k: [tuple(p) for p in v] for k, v in meta.get("history", {}).items()}
        log.info("resumed from %s at step %d", checkpoint, step)
    model = vae
    if dist.enabled:
        device_ids = [device.index] if device.type == "cuda" else None
        model = DistributedDataParallel(vae, device_ids=device_ids)
    n_values = 3 * args.size * args.size
    progress = Progress(args.steps, step, desc="vae", enabled=dist.is_main)
    started = time.perf_counter()
    vae.train()
    while step < args.steps:
        rng = _batch_generator(args.seed, step, dist.rank)
        picks = train_idx[torch.randint(len(train_idx), (args.batch,), generator=rng)]
        x = data.batch(picks, device)
        flip = (torch.rand(args.batch, generator=rng) < 0.5).to(device)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        if device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=rng)))  # reparam noise
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr)
        with autocast(device):
            recon, mu, logvar = model(x)
        recon_loss = reconstruction_loss(recon, x, args.edge_weight)
        kl = kl_divergence(mu.float(), logvar.float())
        loss = (recon_loss + args.beta * kl).mean() / n_values
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1

        if step % 10 == 0:
            history["train"].append((step, loss.item()))
        recon_per_value = recon_loss.detach().mean().item() / n_values
        progress.update(step, loss=loss.item(), recon=recon_per_value, kl=kl.detach().mean().item())
        if dist.is_main and (step % args.checkpoint_every == 0 or step == args.steps):
            val = reconstruction_metrics(vae, data, val_idx[:VAL_DURING_TRAINING], device,
                                         args.edge_weight)
            history["validation"].append((step, val["loss"]))
            log.info("step %d: validation mse %.5f, psnr %.2f dB, kl %.1f nats", step,
                     val["mse"], val["psnr_db"], val["kl_nats"])
            save_checkpoint(checkpoint, {"vae": vae}, {"opt": opt},
                            {"step": step, "commands": commands,
                             "history": {k: [list(p) for p in v] for k, v in history.items()}})
            # progress pictures: samples from a prior fitted to part of the training set
            # (the final fit uses all of it); the prior does not take part in training
            fit_prior(vae, encode_means(vae, data, train_idx[:PROGRESS_FIT], device))
            write_image_grid(args.out / "samples.png",
                             sample_grid(vae, 16, SAMPLE_SEED, 0.8, device), columns=4)
            write_image_grid(args.out / "reconstructions.png",
                             reconstruction_grid(vae, data, val_idx[:16], device), columns=8)
            write_loss_curve(args.out / "loss.png", {k: v for k, v in history.items() if v},
                             title=f"{args.out.name} (vae)")
    progress.close()

    if dist.is_main:
        finish(args, vae, data, train_idx, val_idx, history, commands, step,
               time.perf_counter() - started, dist.world_size, device)
        checkpoint.unlink(missing_ok=True)
        checkpoint.with_suffix(".toml").unlink(missing_ok=True)
    cleanup_distributed(dist)
    return 0


@torch.no_grad()
def finish(args, vae: VAE, data: ImageFolder, train_idx, val_idx, history,
           commands: list[str], step: int, seconds: float, world_size: int,
           device: torch.device) -> None:
    """Fit the prior, measure, and write the model folder."""
    extra = fit_prior(vae, encode_means(vae, data, train_idx, device))
    val = reconstruction_metrics(vae, data, val_idx, device, args.edge_weight)
    vae = vae.cpu().to(memory_format=torch.contiguous_format).eval()
    ms = decode_ms(vae)
    meta = {
        "description": args.description or f"convolutional VAE trained on {args.images.name}",
        "command": commands[0],
        "commands": commands,
        "date": date.today().isoformat(),
        "steps": step,
        "batch": args.batch * world_size,
        "train_seconds": round(seconds, 1),
        "data": {"folder": str(args.images), "pictures": len(data), "skipped": data.skipped,
                 "enlarged": data.enlarged, "shrunk": data.shrunk,
                 "size": args.size, "train": len(train_idx), "validation": len(val_idx),
                 "val_fraction": args.val_fraction, "split_seed": args.seed},
        "metrics": {"val_loss": round(val["loss"], 6), "val_mse": round(val["mse"], 6),
                    "val_l1": round(val["l1"], 6), "val_psnr_db": round(val["psnr_db"], 3),
                    "val_kl_nats": round(val["kl_nats"], 2),
                    "decode_ms_cpu": round(ms, 3), "decode_threads": os.cpu_count() or 1,
                    "decoder_parameters": decoder_parameters(vae)},
    }
    save_model(args.out, "vae", vae, meta, extra)
    write_image_grid(args.out / "samples.png",
                     sample_grid(vae, 16, SAMPLE_SEED, 0.8, torch.device("cpu")), columns=4)
    write_image_grid(args.out / "reconstructions.png",
                     reconstruction_grid(vae, data, val_idx[:16], torch.device("cpu")), columns=8)
    write_loss_curve(args.out / "loss.png", {k: v for k, v in history.items() if v},
                     title=f"{args.out.name} (vae)")
    log.info("wrote %s: validation psnr %.2f dB, kl %.1f nats, decode %.2f ms", args.out,
             val["psnr_db"], val["kl_nats"], ms)


# ---------------------------------------------------------------------------- live eval/sample
def evaluate(loaded: LoadedModel, args: argparse.Namespace) -> dict:
    """Reconstruction and KL on the held-out split of ``--images`` (the training split when
    it is the training folder and ``--seed`` is the training seed, 0 by default)."""
    if not getattr(args, "images", None):
        raise ValueError("evaluating a VAE needs --images DIR (its held-out split is scored)")
    vae = loaded.module
    data = ImageFolder(args.images, vae.resolution)
    fraction = float(loaded.meta.get("data", {}).get("val_fraction", 0.05))
    _, val_idx = data.split(fraction, seed=args.seed)
    if len(val_idx) == 0:
        val_idx = torch.arange(len(data))
    metrics = reconstruction_metrics(vae, data, val_idx, torch.device("cpu"))
    return {"images": str(args.images), "pictures": len(val_idx),
            **{f"val_{k}": round(v, 6) for k, v in metrics.items()}}


def sample(loaded: LoadedModel, args: argparse.Namespace) -> None:
    images = sample_grid(loaded.module, args.n, args.seed, args.truncation, torch.device("cpu"))
    write_image_grid(args.out, images)

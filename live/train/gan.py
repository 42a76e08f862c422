"""Train a style-based GAN on a folder of pictures (non-saturating loss, lazy R1, EMA).

    live train gan --images DIR --out models/NAME [--size 128] [--steps N] [--resume]

The generator is live.nets.gan.Generator (mapping network z -> w, modulated convolutions);
the discriminator is residual with minibatch standard deviation. Losses: the non-saturating
logistic loss for both, an R1 gradient penalty on real pictures every ``--r1-every`` steps
(lazy regularisation, scaled to match), Adam with beta1 = 0 as in StyleGAN2, and an
exponential moving average of the generator that is what gets saved and shown. A held-out
split of the folder measures the discriminator's gap between pictures it trained on and ones
it never saw (the sign of a discriminator memorising a small set). The model folder gets
model.safetensors (the EMA generator, its w average and PCA directions in w), model.toml,
samples.png and loss.png; checkpoints go to <out>/checkpoint.safetensors for --resume.
Under torchrun every rank draws its own batches and gradients are averaged across ranks.
"""

from __future__ import annotations

import argparse
import copy
import logging
import math
import time
from datetime import date

import torch
import torch.nn.functional as F

from live.nets.gan import Discriminator, GANConfig, Generator
from live.store import LoadedModel, save_model
from live.train.common import (
    Progress,
    average_gradients,
    cleanup_distributed,
    describe_options,
    load_checkpoint,
    pca_directions,
    save_checkpoint,
    setup_distributed,
    training_command,
    write_image_grid,
    write_loss_curve,
)
from live.train.images import ImageFolder, add_picture_arguments

log = logging.getLogger(__name__)

SAMPLE_SEED = 1234
PCA_SAMPLES = 8192
PCA_DIRECTIONS = 16


DIVERSITY_RATIO_HELP = (
    "The diversity ratio printed at the end (and stored as metrics.diversity_ratio in "
    "model.toml) is the mean pixel distance between 64 generated pictures divided by the "
    "same figure for 64 held-out training pictures, both at 32x32. Near 1: the generator is "
    "as varied as the data. Well below 1 (under about 0.5): mode collapse, many pictures look "
    "alike, train longer or check the data. Above 1: more varied than the data, often noisy "
    "pictures early in training."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    describe_options(parser, __doc__.split("\n\n")[0], DIVERSITY_RATIO_HELP)
    add_picture_arguments(parser, steps=5000)
    parser.add_argument("--lr", type=float, default=0.002,
                        help="Adam learning rate of the generator (the discriminator's is "
                             "scaled for the lazy R1)")
    parser.add_argument("--r1-gamma", type=float, default=0.5,
                        help="weight of the R1 gradient penalty on real pictures")
    parser.add_argument("--r1-every", type=int, default=16,
                        help="steps between R1 penalties (lazy regularisation)")
    parser.add_argument("--ema-half-life", type=float, default=200.0,
                        help="half-life of the generator's moving average, in steps")
    parser.add_argument("--z-dim", type=int, default=128, help="size of the latent z")
    parser.add_argument("--w-dim", type=int, default=256,
                        help="size of the style vector w (the PCA faders move in it)")
    parser.add_argument("--channel-base", type=int, default=1024,
                        help="generator channels at resolution r: min(max, base / r); the "
                             "discriminator gets twice the base")
    parser.add_argument("--channel-max", type=int, default=256,
                        help="most channels of any layer")
    parser.add_argument("--checkpoint-every", type=int, default=250,
                        help="steps between checkpoints (for --resume)")
    parser.add_argument("--sample-every", type=int, default=250,
                        help="steps between updates of OUT/samples.png")


def r1_penalty(disc: Discriminator, real: torch.Tensor) -> torch.Tensor:
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(disc(real).sum(), real, create_graph=True)
    return grad.square().sum(dim=(1, 2, 3)).mean()


@torch.no_grad()
def ema_update(ema: Generator, gen: Generator, decay: float) -> None:
    for p_ema, p in zip(ema.parameters(), gen.parameters(), strict=True):
        p_ema.lerp_(p, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), gen.buffers(), strict=True):
        b_ema.copy_(b)


@torch.no_grad()
def sample_grid(gen: Generator, n: int, seed: int, truncation: float,
                device: torch.device) -> torch.Tensor:
    z = torch.randn(n, gen.cfg.z_dim, generator=torch.Generator().manual_seed(seed))
    return torch.cat([gen(chunk.to(device), truncation).cpu() for chunk in z.split(16)])


def pairwise_distance(images: torch.Tensor) -> float:
    """Mean pixel distance between distinct pictures (32x32, [-1, 1]): a diversity figure."""
    small = F.adaptive_avg_pool2d(images.float(), 32).flatten(1)
    dist = torch.cdist(small, small) / math.sqrt(small.shape[1])
    n = len(small)
    return float(dist.sum() / (n * (n - 1)))


def run(args: argparse.Namespace) -> int:
    dist = setup_distributed(args.device)
    device = dist.device
    torch.manual_seed(args.seed + dist.rank)
    try:  # the architecture first: a bad option should not wait for the pictures to load
        cfg = GANConfig(z_dim=args.z_dim, w_dim=args.w_dim, resolution=args.size,
                        channel_base=args.channel_base, channel_max=args.channel_max,
                        d_channel_base=args.channel_base * 2, d_channel_max=args.channel_max)
        data = ImageFolder(args.images, args.size, limit=args.limit)
    except ValueError as exc:
        raise SystemExit(f"live train gan: {exc}") from None
    train_idx, val_idx = data.split(args.val_fraction, seed=args.seed)
    torch.manual_seed(args.seed)  # same initial weights on every rank
    gen, disc = Generator(cfg).to(device), Discriminator(cfg).to(device)
    ema = copy.deepcopy(gen).eval().requires_grad_(False)
    r1_ratio = args.r1_every / (args.r1_every + 1)
    opt_g = torch.optim.Adam(gen.parameters(), lr=args.lr, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(disc.parameters(), lr=args.lr * r1_ratio,
                             betas=(0.0, 0.99 ** r1_ratio))
    checkpoint = args.out / "checkpoint.safetensors"
    history: dict[str, list] = {"loss_d": [], "loss_g": [], "val_gap": []}
    commands = [training_command()]
    step = 0
    earlier_seconds = 0.0  # training time of the runs this one resumes
    if args.resume:
        if not checkpoint.exists():
            raise SystemExit(f"live: --resume: no checkpoint at {checkpoint}")
        try:
            meta = load_checkpoint(checkpoint, {"g": gen, "d": disc, "ema": ema},
                                   {"opt_g": opt_g, "opt_d": opt_d})
        except (ValueError, OSError) as exc:  # changed or corrupt checkpoint files
            raise SystemExit(f"live: --resume: {exc}") from None
        step = int(meta["step"])
        commands = [*meta.get("commands", []), *commands]
        earlier_seconds = float(meta.get("seconds", 0.0))
        history = {k: [tuple(p) for p in v] for k, v in meta.get("history", {}).items()}
        history.setdefault("val_gap", [])
        log.info("resumed from %s at step %d", checkpoint, step)
    torch.manual_seed(args.seed * 7919 + dist.rank + step)

    ema_decay = 0.5 ** (1.0 / max(args.ema_half_life, 1.0))
    progress = Progress(args.steps, step, desc="gan", enabled=dist.is_main)
    batch_rng = torch.Generator().manual_seed(args.seed * 104729 + dist.rank * 7 + step)
    started = time.perf_counter()
    while step < args.steps:
        real = data.batch(train_idx[torch.randint(len(train_idx), (args.batch,),
                                                  generator=batch_rng)], device)
        flip = torch.rand(args.batch, device=device) < 0.5
        real = torch.where(flip[:, None, None, None], real.flip(3), real)

        # discriminator: real up, fake down (+ lazy R1 on real)
        z = torch.randn(args.batch, cfg.z_dim, device=device)
        with torch.no_grad():
            fake = gen(z)
        loss_d = F.softplus(disc(fake)).mean() + F.softplus(-disc(real)).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        if step % args.r1_every == 0:
            penalty = r1_penalty(disc, real) * (args.r1_gamma / 2) * args.r1_every
            penalty.backward()
        average_gradients(disc, dist)
        opt_d.step()

        # generator: make the discriminator call fakes real
        z = torch.randn(args.batch, cfg.z_dim, device=device)
        loss_g = F.softplus(-disc(gen(z))).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        average_gradients(gen, dist)
        opt_g.step()
        ema_update(ema, gen, ema_decay)
        step += 1

        if step % 10 == 0:
            history["loss_d"].append((step, loss_d.item()))
            history["loss_g"].append((step, loss_g.item()))
        last = {"loss_d": loss_d.item(), "loss_g": loss_g.item()}
        progress.update(step, **last)
        if dist.is_main and (step % args.checkpoint_every == 0 or step == args.steps):
            with torch.no_grad():
                held = data.batch(val_idx[:64], device)
                seen = data.batch(train_idx[:64], device)
                gap = float(disc(seen).mean() - disc(held).mean())
            history["val_gap"].append((step, gap))
            save_checkpoint(checkpoint, {"g": gen, "d": disc, "ema": ema},
                            {"opt_g": opt_g, "opt_d": opt_d},
                            {"step": step, "commands": commands,
                             "seconds": earlier_seconds + time.perf_counter() - started,
                             "history": {k: [list(p) for p in v] for k, v in history.items()}})
        if dist.is_main and (step % args.sample_every == 0 or step == args.steps):
            write_image_grid(args.out / "samples.png",
                             sample_grid(ema, 16, SAMPLE_SEED, 0.8, device), columns=4)
    progress.close()

    if dist.is_main:
        finish(args, ema, data, train_idx, val_idx, history, commands, step,
               earlier_seconds + time.perf_counter() - started, dist.world_size, device)
    cleanup_distributed(dist)
    return 0


@torch.no_grad()
def finish(args, ema: Generator, data: ImageFolder, train_idx, val_idx, history,
           commands: list[str], step: int, seconds: float, world_size: int,
           device: torch.device) -> None:
    """Write the model folder: EMA weights, w average, PCA directions, pictures, metrics."""
    ema.update_w_avg(PCA_SAMPLES, seed=args.seed)
    z = torch.randn(PCA_SAMPLES, ema.cfg.z_dim, generator=torch.Generator().manual_seed(7))
    w = torch.cat([ema.mapping(chunk.to(device)).cpu() for chunk in z.split(1024)])
    extra = pca_directions(w, PCA_DIRECTIONS)
    fakes = sample_grid(ema, 64, SAMPLE_SEED + 1, 1.0, device)
    held = val_idx if len(val_idx) >= 2 else train_idx
    reals = data.batch(held[:64], torch.device("cpu"))
    diversity = pairwise_distance(fakes)
    real_diversity = pairwise_distance(reals)
    meta = {
        "description": args.description or f"style GAN trained on {args.images.name}",
        "command": commands[0],
        "commands": commands,
        "date": date.today().isoformat(),
        "steps": step,
        "batch": args.batch * world_size,
        "train_seconds": round(seconds, 1),
        "data": {"folder": str(args.images), "pictures": len(data), "skipped": data.skipped,
                 "enlarged": data.enlarged, "shrunk": data.shrunk,
                 "size": args.size, "train": len(train_idx), "validation": len(val_idx)},
        "metrics": {"loss_d": round(history["loss_d"][-1][1], 4) if history["loss_d"] else 0.0,
                    "loss_g": round(history["loss_g"][-1][1], 4) if history["loss_g"] else 0.0,
                    "diversity": round(diversity, 4),
                    "real_diversity": round(real_diversity, 4),
                    "diversity_ratio": round(diversity / real_diversity, 4)},
    }
    save_model(args.out, "gan", ema.cpu(), meta, extra)
    write_image_grid(args.out / "samples.png", sample_grid(ema, 16, SAMPLE_SEED, 0.8,
                                                           torch.device("cpu")), columns=4)
    write_loss_curve(args.out / "loss.png",
                     {k: v for k, v in history.items() if v}, title=f"{args.out.name} (gan)")
    log.info("wrote %s: diversity ratio %.3f (generated / real picture variety: near 1 is "
             "as varied as the data, well below 1 is mode collapse; see live train gan --help)",
             args.out, diversity / real_diversity)


def evaluate(loaded: LoadedModel, args: argparse.Namespace) -> dict:
    """Diversity of 256 samples (mean pairwise distance at 32x32), and of real pictures when
    ``--images`` is given: a ratio near 1 is varied, far below 1 is mode collapse."""
    gen = loaded.module
    fakes = sample_grid(gen, 256, args.seed, 1.0, torch.device("cpu"))
    result = {"diversity": round(pairwise_distance(fakes), 4), "samples": len(fakes)}
    if getattr(args, "images", None):
        reals = ImageFolder(args.images, gen.resolution, limit=256)
        real = pairwise_distance(reals.batch(torch.arange(len(reals)), torch.device("cpu")))
        result["real_diversity"] = round(real, 4)
        result["diversity_ratio"] = round(result["diversity"] / real, 4)
    return result


def sample(loaded: LoadedModel, args: argparse.Namespace) -> None:
    images = sample_grid(loaded.module, args.n, args.seed, args.truncation, torch.device("cpu"))
    write_image_grid(args.out, images)

"""Train a char-RNN on a text file (the model behind the live text overlay).

Training is truncated backpropagation through time over contiguous streams, as in
Karpathy's char-rnn: the training text (first 90%) is cut into ``batch x processes`` streams,
each step reads the next ``seq_len`` characters of every stream and carries the hidden state
over from the previous step, so the model learns to use context longer than one window, the
way it is sampled live. Every epoch shifts the windows by a seeded offset. The batch for a
step is a pure function of the step, so ``--resume`` continues on the same data; under
torchrun each process reads its own streams.

Validation is the mean negative log-likelihood in nats per character of the last 10% of the
file, read as one stream with the state carried from its first character (``live eval``);
during training a faster estimate reads it as parallel pieces, each warmed up on the 256
characters before it.

Outputs in ``--out``: model.safetensors + model.toml, loss.png, samples.txt, and while
training checkpoint.safetensors + checkpoint.toml (removed at the end unless
``--keep-checkpoint``).
"""

from __future__ import annotations

import argparse
import logging
import math
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from live import safeio
from live.device import torch_threads
from live.nets.char_rnn import CELLS, CharRNN, CharRNNConfig, State
from live.store import dump_toml, save_model
from live.train.common import (
    CHECKPOINT_TOML_MAX_BYTES,
    Dist,
    Progress,
    autocast,
    cleanup_distributed,
    describe_options,
    load_checkpoint,
    save_checkpoint,
    setup_distributed,
    training_command,
    write_loss_curve,
)
from live.train.text import encode, load_corpus, read_text, split

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.safetensors"
SAMPLE_TEMPERATURE = 0.8
ESTIMATE_STREAMS = 32
BURN_IN_CHARS = 256
SAMPLE_THREADS = 1
"""The live sampler's matrix-vector products are too small to gain from a second thread, and
with any other job on the cores a second thread makes each step wait for the scheduler."""
TRAIN_POINT_EVERY = 50
"""Steps per point of the training-loss curve (the mean loss of those steps)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    describe_options(parser, __doc__.split("\n\n")[0])
    parser.add_argument("--text", type=Path, required=True, help="UTF-8 text file to learn")
    parser.add_argument("--out", type=Path, required=True, help="model folder to write")
    parser.add_argument("--steps", type=int, default=3000, help="optimizer steps in all")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUT/checkpoint.safetensors (its architecture wins)")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available) | cpu | cuda")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads per process (0: torch's choice, all cores); 1 is "
                        "much faster "
                        "when other jobs share the cores, as each LSTM time step is a "
                        "parallel region that waits for its slowest thread")
    parser.add_argument("--cell", choices=CELLS, default="lstm", help="recurrent cell")
    parser.add_argument("--hidden", type=int, default=448, help="units per layer")
    parser.add_argument("--layers", type=int, default=2, help="stacked recurrent layers")
    parser.add_argument("--embedding", type=int, default=128, help="character embedding size")
    parser.add_argument("--dropout", type=float, default=0.25,
                        help="dropout on the embedding, between layers and before the output")
    parser.add_argument("--seq-len", type=int, default=128,
                        help="characters per backpropagation window")
    parser.add_argument("--batch", type=int, default=64, help="streams per process")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW)")
    parser.add_argument("--min-lr", type=float, default=1e-4, help="learning rate at the end")
    parser.add_argument("--warmup", type=int, default=100, help="linear warm-up steps")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay")
    parser.add_argument("--clip", type=float, default=1.0, help="gradient norm clip")
    parser.add_argument("--eval-every", type=int, default=250,
                        help="steps between validation estimates, loss.png and samples.txt")
    parser.add_argument("--checkpoint-every", type=int, default=250,
                        help="steps between checkpoints (for --resume)")
    parser.add_argument("--sample-chars", type=int, default=1000,
                        help="characters in samples.txt")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the weights and the stream offsets")
    parser.add_argument("--keep-checkpoint", action="store_true",
                        help="keep checkpoint.* in OUT after the last step")
    parser.add_argument("--description", default=None,
                        help="one line for model.toml (default: one naming the cell, size and "
                             "text file)")


# ---------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Streams:
    """Batches for truncated BPTT: ``streams`` contiguous runs through ``data``.

    Stream s of epoch e starts at ``shift(e) + s * length``; step j of the epoch reads its
    characters ``[j * seq_len, (j + 1) * seq_len]`` (inputs, and targets one further on).
    """

    data: torch.Tensor
    streams: int
    seq_len: int
    seed: int = 0

    @property
    def length(self) -> int:
        return (len(self.data) - 1 - self.seq_len) // self.streams

    @property
    def steps_per_epoch(self) -> int:
        return self.length // self.seq_len

    def check(self) -> None:
        if self.steps_per_epoch < 1:
            need = self.streams * 2 * self.seq_len + 1
            raise ValueError(f"the training text has {len(self.data)} characters; "
                             f"{self.streams} streams of --seq-len {self.seq_len} need at "
                             f"least {need}: lower --batch or --seq-len")

    def batch(self, step: int, first: int, count: int) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Inputs and targets (count, seq_len) of streams first.. for ``step``; and whether the
        step begins an epoch (the streams moved: start from the zero state)."""
        epoch, j = divmod(step, self.steps_per_epoch)
        shift = int(np.random.default_rng([self.seed, epoch]).integers(self.seq_len + 1))
        starts = shift + torch.arange(first, first + count) * self.length + j * self.seq_len
        window = self.data[starts[:, None] + torch.arange(self.seq_len + 1)]
        return window[:, :-1], window[:, 1:], j == 0


def detach(state: State) -> State:
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


# ---------------------------------------------------------------------------- scoring
@torch.no_grad()
def text_loss(model: CharRNN, ids: torch.Tensor, device: torch.device | str = "cpu",
              streams: int = 1, burn_in: int = BURN_IN_CHARS, chunk: int = 2048) -> float:
    """Mean NLL in nats per character of ``ids[1:]``, each predicted from the text before it.

    With ``streams=1`` the state runs from the first character to the last (exact). With more,
    the text is scored as ``streams`` parallel pieces, each warmed up (not scored) on the
    ``burn_in`` characters before it: much faster, and close to exact.
    """
    n = len(ids) - 1
    if n < 1:
        raise ValueError("need at least 2 characters to score")
    was_training = model.training
    model.eval()
    streams = max(1, min(streams, n))
    piece = math.ceil(n / streams)
    inputs, targets = [], []
    for k in range(streams):
        first, end = 1 + k * piece, min(1 + (k + 1) * piece, n + 1)  # target positions
        if first >= end:
            break
        begin = max(0, first - 1 - burn_in)
        target = ids[begin + 1:end].clone()
        target[:first - 1 - begin] = -100  # burn-in: read, not scored
        inputs.append(ids[begin:end - 1])
        targets.append(target)
    width = max(len(x) for x in inputs)
    x = torch.zeros(len(inputs), width, dtype=torch.long)
    y = torch.full((len(inputs), width), -100, dtype=torch.long)
    for k, (xi, yi) in enumerate(zip(inputs, targets, strict=True)):
        x[k, :len(xi)] = xi
        y[k, :len(yi)] = yi
    total = torch.zeros((), dtype=torch.float64, device=device)
    state = None
    for start in range(0, width, chunk):
        with autocast(torch.device(device)):
            logits, state = model(x[:, start:start + chunk].to(device), state)
        target = y[:, start:start + chunk].to(device)
        total += F.cross_entropy(logits.float().flatten(0, 1), target.flatten(),
                                 ignore_index=-100, reduction="sum")
    model.train(was_training)
    return float(total) / n  # device -> host sync


def sampling_speed(model: CharRNN, chars: int = 2000, repeats: int = 3,
                   threads: int = SAMPLE_THREADS) -> float:
    """Characters per second of ``Sampler`` at batch 1 on the CPU with the state kept
    throughout, on ``threads`` torch threads: the median of ``repeats`` runs."""
    sampler = model.sampler(temperature=SAMPLE_TEMPERATURE)  # copies the weights to the CPU
    with torch_threads(threads):
        sampler.generate(200)  # warm-up
        rates = []
        for _ in range(repeats):
            started = time.perf_counter()
            sampler.generate(chars)
            rates.append(chars / (time.perf_counter() - started))
    return sorted(rates)[len(rates) // 2]


# ---------------------------------------------------------------------------- training
def lr_at(step: int, args: argparse.Namespace) -> float:
    """Linear warm-up, then cosine decay from --lr to --min-lr at --steps."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * min(1.0,
                                                                                   progress)))


def _check_storable(vocab: str, text_path: Path) -> None:
    """Fail before training, not after it, when model.toml could not hold the vocabulary."""
    try:
        if tomllib.loads(dump_toml({"vocab": vocab}))["vocab"] == vocab:
            return
    except tomllib.TOMLDecodeError:
        pass
    odd = "".join(ch for ch in vocab if ord(ch) < 32 and ch != "\n")
    raise ValueError(f"{text_path}: characters {odd!r} cannot be stored in model.toml yet; "
                     "convert the line endings / remove control characters first")


def _config(args: argparse.Namespace, vocab: str, checkpoint: Path) -> CharRNNConfig:
    if not args.resume:
        _check_storable(vocab, args.text)
        return CharRNNConfig(vocab=vocab, cell=args.cell, hidden=args.hidden,
                             layers=args.layers, dropout=args.dropout, embedding=args.embedding)
    sidecar = checkpoint.with_suffix(".toml")
    if not checkpoint.exists() or not sidecar.exists():
        raise ValueError(f"{checkpoint}: no checkpoint to resume from")
    try:
        text = safeio.read_text(sidecar, CHECKPOINT_TOML_MAX_BYTES)
        cfg = CharRNNConfig(**tomllib.loads(text)["meta"]["arch"])
    except (KeyError, TypeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{sidecar}: not a char-rnn checkpoint ({exc})") from None
    if cfg.vocab != vocab:
        raise ValueError(f"{checkpoint}: was trained on text with a different vocabulary "
                         f"than {args.text}")
    return cfg


def _write_progress(out: Path, model: CharRNN, history: dict[str, list], args) -> None:
    write_loss_curve(out / "loss.png", {"train": history["train"], "val": history["val"]},
                     title=f"char-rnn: nats/char on {args.text.name}")
    sampler = model.sampler(temperature=SAMPLE_TEMPERATURE, seed=args.seed)
    with torch_threads(SAMPLE_THREADS):
        text = sampler.generate(args.sample_chars)
    (out / "samples.txt").write_text(text, encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dist = setup_distributed(args.device)
    try:
        return _train(args, dist)
    finally:
        cleanup_distributed(dist)


def _train(args: argparse.Namespace, dist: Dist) -> int:
    started = time.perf_counter()
    device = dist.device
    checkpoint = args.out / CHECKPOINT
    try:
        corpus = load_corpus(args.text)
        cfg = _config(args, corpus.vocab, checkpoint)
        streams = Streams(corpus.train, args.batch * dist.world_size, args.seq_len, args.seed)
        streams.check()
    except (ValueError, OSError) as exc:  # no or bad text file, too little text, no checkpoint
        if dist.is_main:
            log.error("%s", exc)
        return 2

    torch.manual_seed(args.seed)  # the same initial weights in every process
    model = CharRNN(cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99),
                                  weight_decay=args.weight_decay)
    start = 0
    history: dict[str, list] = {"train": [], "val": []}
    if args.resume:
        try:
            meta = load_checkpoint(checkpoint, {"model": model}, {"opt": optimizer})
        except (ValueError, OSError) as exc:  # changed or corrupt checkpoint files
            if dist.is_main:
                log.error("--resume: %s", exc)
            return 2
        start = int(meta["step"])
        history = {k: [tuple(p) for p in meta["history"].get(k, [])] for k in history}
        if dist.is_main:
            log.info("resuming %s at step %d", checkpoint, start)
    net = model
    if dist.enabled:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                      else None)
    params = sum(p.numel() for p in model.parameters())
    if dist.is_main:
        log.info("char-rnn %dx%d %s, %.2fM parameters, vocab %d, %d train chars, "
                 "%d steps/epoch, %d process(es) on %s", cfg.layers, cfg.hidden, cfg.cell,
                 params / 1e6, cfg.vocab_size, len(corpus.train), streams.steps_per_epoch,
                 dist.world_size, device)

    progress = Progress(args.steps, start, desc="rnn", enabled=dist.is_main)
    first_stream = dist.rank * args.batch
    state: State | None = None
    loss_sum = torch.zeros((), device=device)
    loss_count = 0
    train_point_every = min(TRAIN_POINT_EVERY, args.eval_every)
    model.train()
    for step in range(start, args.steps):
        x, y, new_epoch = streams.batch(step, first_stream, args.batch)
        if new_epoch:
            state = None
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args)
        with autocast(device):
            logits, state = net(x.to(device, non_blocking=True), state)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.to(device).flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        state = detach(state)
        loss_sum += loss.detach()
        loss_count += 1
        done = step + 1
        if done % 10 == 0 or done == args.steps:
            progress.update(done, loss=float(loss.detach()), lr=lr_at(step, args))  # sync

        if done % train_point_every == 0 or done == args.steps:
            if dist.enabled:
                torch.distributed.all_reduce(loss_sum)
                loss_sum /= dist.world_size
            history["train"].append((done, float(loss_sum) / loss_count))  # sync point
            loss_sum.zero_()
            loss_count = 0
        if done % args.eval_every == 0 or done == args.steps:
            if dist.is_main:
                val = text_loss(model, corpus.val, device, streams=ESTIMATE_STREAMS)
                history["val"].append((done, val))
                progress.metrics["val"] = val
                log.info("step %d: train %.4f  val %.4f (estimate) nats/char", done,
                         history["train"][-1][1], val)
                _write_progress(args.out, model, history, args)
        if dist.is_main and (done % args.checkpoint_every == 0 or done == args.steps):
            save_checkpoint(checkpoint, {"model": model}, {"opt": optimizer},
                            {"step": done, "arch": cfg.to_dict(),
                             "history": {k: [list(p) for p in v] for k, v in history.items()}})
    progress.close()
    if dist.is_main:
        _finish(args, model, corpus, history, dist, started)
    return 0


def _finish(args: argparse.Namespace, model: CharRNN, corpus, history: dict[str, list],
            dist: Dist, started: float) -> None:
    model = model.cpu().eval()
    log.info("scoring the validation text as one stream...")
    with torch_threads(1):  # one stream: per-character products too small to share
        val = text_loss(model, corpus.val)
    speed = sampling_speed(model)
    cfg = model.cfg
    train_loss = history["train"][-1][1] if history["train"] else float("nan")
    meta: dict[str, Any] = {
        "description": args.description or (
            f"{cfg.layers}x{cfg.hidden} {cfg.cell.upper()} char-RNN trained on "
            f"{corpus.path.name}"),
        "command": training_command(),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "steps": args.steps,
        "data": corpus.summary(),
        "training": {"batch_per_process": args.batch, "processes": dist.world_size,
                     "seq_len": args.seq_len, "lr": args.lr, "min_lr": args.min_lr,
                     "warmup": args.warmup, "weight_decay": args.weight_decay,
                     "clip": args.clip, "seed": args.seed, "device": str(dist.device),
                     "parameters": sum(p.numel() for p in model.parameters()),
                     "seconds_this_run": round(time.perf_counter() - started, 1)},
        "metrics": {"train_loss": round(train_loss, 4), "val_loss": round(val, 4),
                    "val_bits_per_char": round(val / math.log(2), 4),
                    "sample_chars_per_s": round(speed), "sample_threads": SAMPLE_THREADS},
    }
    save_model(args.out, "char-rnn", model, meta)
    _write_progress(args.out, model, history, args)
    if not args.keep_checkpoint:
        for path in (args.out / CHECKPOINT, (args.out / CHECKPOINT).with_suffix(".toml")):
            path.unlink(missing_ok=True)
    log.info("wrote %s: val_loss %.4f nats/char, sampling %.0f chars/s", args.out, val, speed)


# ---------------------------------------------------------------------------- live eval/sample
def evaluate(loaded, args: argparse.Namespace) -> dict[str, Any]:
    """``live eval MODEL --text FILE``: nats/char on the file's last 10% (one stream), and
    the live sampler's speed on this machine (batch 1, CPU, one thread)."""
    if getattr(args, "text", None) is None:
        raise ValueError("a char-rnn is scored on a text file: pass --text FILE")
    model: CharRNN = loaded.module
    _, val = split(encode(read_text(args.text), model.cfg.vocab))
    started = time.perf_counter()
    with torch_threads(1):  # one stream: per-character products too small to share
        loss = text_loss(model, val)
    seconds = time.perf_counter() - started
    return {"val_loss": round(loss, 4), "bits_per_char": round(loss / math.log(2), 4),
            "chars": len(val), "text": str(args.text), "seconds": round(seconds, 1),
            "sample_chars_per_s": round(sampling_speed(model)),
            "sample_threads": SAMPLE_THREADS}


def sample(loaded, args: argparse.Namespace) -> None:
    """``live sample MODEL --out FILE --chars N --seed S``: seeded text, written to FILE."""
    sampler = loaded.module.sampler(temperature=SAMPLE_TEMPERATURE, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(sampler.generate(args.chars), encoding="utf-8")

"""``live import stylegan FILE.pkl --out models/NAME``: a snapshot into a normal model folder.

The snapshot is read by the restricted unpickler (live/stylegan/snapshot.py: nothing in the file
runs), its generator (``G_ema``, or ``G`` with ``--network G``) rebuilt as our own clean-room
network (live/stylegan/sg2.py, sg3.py) from its recorded init kwargs and loaded strictly by its
NVIDIA tensor names, then written as the project's other models are:

- ``model.safetensors``: the weights under their NVIDIA names, plus ``extra.directions`` (the
  principal directions of w, GANSpace-style), ``extra.direction_std``, ``extra.latent_mean``
  and ``extra.latent_std`` over 4096 mapped latents, as for our own GAN;
- ``model.toml``: ``kind = "stylegan2" | "stylegan3"``, ``[arch]`` the generator's init kwargs
  exactly as recorded (``arch_none`` lists those recorded as None, which TOML cannot hold), the
  source file's name, size and sha256, the network taken, the class label for a conditional
  model, the command;
- ``samples.png``: 16 pictures at psi 0.7.

Everything is built in a temporary folder beside the target and renamed into place at the end,
so a refused or failed import leaves nothing in ``models/``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import torch

from live.stylegan.snapshot import Network, SnapshotError, generator, read_snapshot

log = logging.getLogger(__name__)
PCA_SAMPLES = 4096
PCA_DIRECTIONS = 8


def family(record: Network, path: Path | str = "") -> str:
    """``stylegan2`` or ``stylegan3`` from the synthesis network's layers (a StyleGAN2
    synthesis is made of ``SynthesisBlock``s from ``b4`` up, a StyleGAN3 one starts with a
    ``SynthesisInput`` of Fourier features), or ``SnapshotError``."""
    synthesis = record.modules.get("synthesis")
    mapping = record.modules.get("mapping")
    if record.class_name != "Generator" or not isinstance(synthesis, Network) \
            or not isinstance(mapping, Network):
        raise SnapshotError(f"{path}: the network is a {record.class_name!r} without mapping and "
                            "synthesis networks: not a StyleGAN2/3 generator")
    classes = {module.class_name for module in synthesis.modules.values()
               if isinstance(module, Network)}
    if "SynthesisInput" in classes:
        return "stylegan3"
    if "SynthesisBlock" in classes:
        return "stylegan2"
    raise SnapshotError(f"{path}: unknown synthesis layers {sorted(classes)}: neither StyleGAN2 "
                        "(SynthesisBlock) nor StyleGAN3 (SynthesisInput)")


def network_class(kind: str):
    if kind == "stylegan2":
        from live.stylegan.sg2 import StyleGAN2Generator

        return StyleGAN2Generator
    if kind == "stylegan3":
        from live.stylegan.sg3 import StyleGAN3Generator

        return StyleGAN3Generator
    raise SnapshotError(f"unknown StyleGAN kind {kind!r} (known: stylegan2, stylegan3)")


def arch_of(kwargs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Init kwargs as TOML holds them: the values, and the names of those that are None."""
    plain = {key: value for key, value in kwargs.items() if value is not None}
    return plain, sorted(key for key, value in kwargs.items() if value is None)


def kwargs_of(arch: dict[str, Any], none: list[str]) -> dict[str, Any]:
    return {**arch, **dict.fromkeys(none)}


def build(kind: str, arch: dict[str, Any], none: list[str] = ()) -> torch.nn.Module:
    """The network of a model folder, from its ``[arch]`` (weights not loaded)."""
    return network_class(kind)(**kwargs_of(arch, list(none)))


def folder_network(kind: str, meta: dict[str, Any], toml: Path):
    """An imported StyleGAN's network from its [arch] (NVIDIA's init kwargs; ``arch_none``
    names those that are None), and its state dict's shapes, sized on the meta device
    first."""
    from live.store import WEIGHTS_MAX_BYTES, ModelError

    arch, none = meta.get("arch"), meta.get("arch_none", [])
    if not isinstance(arch, dict):
        raise ModelError(f"{toml}: [arch] table missing")
    if not isinstance(none, list) or not all(isinstance(n, str) for n in none):
        raise ModelError(f"{toml}: arch_none must be a list of names")
    problem = _arch_problem(arch)
    if problem:
        raise ModelError(f"{toml}: bad [arch]: {problem}")
    try:
        try:
            with torch.device("meta"):
                expected = build(kind, arch, none).state_dict()
        except (RuntimeError, NotImplementedError, TypeError) as exc:
            if "meta" not in str(exc):
                raise
            # filters designed with numpy at construction (StyleGAN3-R) need real tensors;
            # the bounds above keep that construction small
            expected = {k: v.to("meta") for k, v in build(kind, arch, none).state_dict().items()}
        size = sum(t.numel() * t.element_size() for t in expected.values())
        if size > WEIGHTS_MAX_BYTES:
            raise ModelError(f"{toml}: [arch] needs {size:,} bytes of weights, more than the "
                             f"{WEIGHTS_MAX_BYTES:,}-byte limit")
        return build(kind, arch, none), expected
    except (ValueError, TypeError, KeyError, RuntimeError, OverflowError) as exc:
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"{toml}: bad [arch]: {str(exc).splitlines()[0][:200]}") from None


ARCH_LIMITS = {"z_dim": (1, 4096), "w_dim": (1, 4096), "c_dim": (0, 100_000),
               "img_resolution": (4, 2048), "img_channels": (1, 4),
               "channel_base": (1, 1 << 20), "channel_max": (1, 4096)}
"""Ranges of the [arch] numbers checked before any network is built."""


def _arch_problem(arch: dict[str, Any]) -> str:
    """Why an [arch] cannot be built cheaply and safely, or "" (the network checks the rest)."""
    for key, (lo, hi) in ARCH_LIMITS.items():
        value = arch.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            return f"{key} = {value!r} is outside {lo}..{hi}"
    layers = (arch.get("mapping_kwargs") or {}).get("num_layers", 8) \
        if isinstance(arch.get("mapping_kwargs", {}), dict) else None
    if not isinstance(layers, int) or isinstance(layers, bool) or not 1 <= layers <= 32:
        return f"mapping_kwargs.num_layers = {layers!r} is outside 1..32"
    return ""


def set_label(module: torch.nn.Module, label: Any, toml: Path) -> None:
    """The class a conditional StyleGAN shows (model.toml ``label``)."""
    from live.store import ModelError

    c_dim = module.cfg.c_dim
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < c_dim:
        raise ModelError(f"{toml}: label must be a class index 0..{c_dim - 1}, got {label!r}")
    with torch.no_grad():
        module.label.zero_()
        module.label[0, label] = 1.0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@torch.inference_mode()
def latent_statistics(module, samples: int = PCA_SAMPLES, seed: int = 7) -> dict:
    """PCA of w over ``samples`` mapped latents (the first class for a conditional model)."""
    from live.train.common import pca_directions

    z = torch.randn(samples, module.cfg.z_dim, generator=torch.Generator().manual_seed(seed))
    c = torch.zeros(samples, module.cfg.c_dim)
    if module.cfg.c_dim:
        c[:, 0] = 1.0
    ws = torch.cat([module.mapping(zb, cb if module.cfg.c_dim else None, 1.0)[:, 0]
                    for zb, cb in zip(z.split(512), c.split(512), strict=True)])
    return pca_directions(ws, PCA_DIRECTIONS)


def import_snapshot(path: Path, out: Path, network: str = "G_ema", label: int = 0,
                    description: str = "", command: str = "") -> dict[str, Any]:
    """Write the model folder ``out``; returns its model.toml fields. ``SnapshotError`` (and
    nothing written) for every problem."""
    from live.store import WEIGHTS, dump_toml, write_weights
    from live.train.common import write_image_grid

    path, out = Path(path), Path(out)
    if out.exists():
        raise SnapshotError(f"{out} exists already: choose another --out or remove it")
    record = generator(read_snapshot(path), network, path)
    kind = family(record, path)
    cls = network_class(kind)
    try:
        module = cls.from_record(record).eval()
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise SnapshotError(f"{path}: the {kind} generator cannot be rebuilt: "
                            f"{str(exc).splitlines()[0][:200]}") from None
    c_dim = module.cfg.c_dim
    if c_dim and not 0 <= label < c_dim:
        raise SnapshotError(f"{path}: --class {label} is outside 0..{c_dim - 1}")
    if hasattr(module, "label"):
        module.label.zero_()
        if c_dim:
            module.label[0, label] = 1.0
    for name, tensor in module.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise SnapshotError(f"{path}: {name} holds NaN or infinite values")
    extra = latent_statistics(module)
    arch, none = arch_of(record.init_kwargs)
    meta = {
        "kind": kind,
        "description": description or f"{kind} imported from {path.name}",
        "command": command,
        "date": date.today().isoformat(),
        "source": {"file": path.name, "bytes": path.stat().st_size, "sha256": _sha256(path),
                   "network": network, "class": record.class_name},
        "resolution": module.resolution,
        "c_dim": c_dim,
        "label": label,
        "arch_none": none,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
        for key, value in extra.items():
            state[f"extra.{key}"] = value.float().contiguous()
        meta["sha256"] = write_weights(work / WEIGHTS, state)
        meta["arch"] = arch
        (work / "model.toml").write_text(dump_toml(meta), encoding="utf-8")
        z = torch.randn(16, module.cfg.z_dim, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            c = module.label.expand(16, -1) if c_dim else None
            images = module(z, c, truncation_psi=0.7, noise_mode="const")
        write_image_grid(work / "samples.png", images.clamp(-1, 1), columns=4)
        os.rename(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    log.info("imported %s (%s, %d px, %s) into %s", path.name, kind, module.resolution, network,
             out)
    return meta


RANDOM_CONFIGS = {
    "stylegan2": {"z_dim": 512, "w_dim": 512, "c_dim": 0, "img_channels": 3,
                  "channel_base": 32768, "channel_max": 512,
                  "mapping_kwargs": {"num_layers": 8}, "architecture": "skip"},
    "stylegan3-t": {"z_dim": 512, "w_dim": 512, "c_dim": 0, "img_channels": 3,
                    "channel_base": 32768, "channel_max": 512,
                    "mapping_kwargs": {"num_layers": 2}},
    "stylegan3-r": {"z_dim": 512, "w_dim": 512, "c_dim": 0, "img_channels": 3,
                    "channel_base": 65536, "channel_max": 1024, "conv_kernel": 1,
                    "use_radial_filters": True, "mapping_kwargs": {"num_layers": 2}},
}
"""NVIDIA's ``train.py`` defaults per config (``--cfg``), for random-weight bench models."""


def random_model(spec: str):
    """A generator with random weights at the usual shapes, for ``live bench --model
    random:CONFIG-RES[-cbaseN]`` (e.g. ``random:stylegan2-256-cbase16384``): the decode cost
    of a real model of that shape, without its file. Returns a LoadedGenerator."""
    import re

    from live.store import LoadedGenerator

    match = re.fullmatch(r"random:(stylegan2|stylegan3-t|stylegan3-r)-(\d{2,4})"
                         r"(?:-cbase(\d{3,6}))?", spec)
    if match is None:
        raise SnapshotError(f"{spec!r}: expected random:CONFIG-RES[-cbaseN] with CONFIG one of "
                            f"{', '.join(RANDOM_CONFIGS)} (e.g. random:stylegan2-256)")
    config, resolution = match.group(1), int(match.group(2))
    kwargs = {**RANDOM_CONFIGS[config], "img_resolution": resolution}
    if match.group(3):
        kwargs["channel_base"] = int(match.group(3))
    problem = _arch_problem(kwargs)
    if problem:
        raise SnapshotError(f"{spec!r}: {problem}")
    kind = "stylegan2" if config == "stylegan2" else "stylegan3"
    torch.manual_seed(0)
    module = network_class(kind)(**kwargs).eval()
    with torch.no_grad():  # every layer doing real work, the picture neither flat nor clipped
        for name, tensor in module.named_parameters():
            if name.endswith("noise_strength"):
                tensor.fill_(0.1)
    return LoadedGenerator(spec, module, trained=False, kind=kind)

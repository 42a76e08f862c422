"""Model folders: ``models/<name>/model.toml`` + ``model.safetensors`` (never pickle).

``model.toml`` says what the folder holds (``kind``, the architecture in ``[arch]``, how it was
trained, its metrics); ``model.safetensors`` holds the weights and derived tensors. Loading
checks the kind, builds the network from ``[arch]`` and refuses a weights file whose keys,
shapes or dtypes do not match, naming the first difference, so a truncated or tampered file
never reaches the render loop.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from live.nets.gan import GANConfig, Generator

log = logging.getLogger(__name__)

DEFAULT_GAN = "default-gan"


class ModelError(ValueError):
    """A model folder that cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    kind: str
    meta: dict[str, Any]


def list_models(models_dir: Path) -> list[ModelInfo]:
    """Every folder under ``models_dir`` with a readable ``model.toml``, sorted by name."""
    found = []
    if not models_dir.is_dir():
        return found
    for toml_path in sorted(models_dir.glob("*/model.toml")):
        try:
            meta = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        folder = toml_path.parent
        found.append(ModelInfo(folder.name, folder, str(meta.get("kind")), meta))
    return found


def resolve(name: str, models_dir: Path) -> Path:
    """A model name or folder path -> its folder; unknown names list the known ones."""
    candidate = Path(name)
    if candidate.is_dir() and (candidate / "model.toml").exists():
        return candidate
    folder = models_dir / name
    if (folder / "model.toml").exists():
        return folder
    for empty in (candidate, folder):
        if empty.is_dir():
            raise ModelError(f"{empty} is not a model folder: it has no model.toml (train one "
                             "with live train, or copy a whole model folder)")
    known = ", ".join(m.name for m in list_models(models_dir)) or "none"
    raise ModelError(f"unknown model {name!r} in {models_dir} (known: {known})")


def read_meta(folder: Path) -> dict[str, Any]:
    path = folder / "model.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"{path}: unreadable: {exc}") from None


def _config_from(cls: type, arch: Any, where: Path) -> Any:
    if not isinstance(arch, dict):
        raise ModelError(f"{where}: [arch] table missing")
    known = {f.name for f in fields(cls)}
    unknown = set(arch) - known
    if unknown:
        raise ModelError(f"{where}: unknown [arch] keys {sorted(unknown)}")
    try:
        return cls(**arch)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{where}: bad [arch]: {exc}") from None


EXTRA_PREFIX = "extra."
"""Derived tensors (PCA directions, latent statistics) live beside the weights under this."""


def _network(kind: str) -> tuple[type, type]:
    """(config dataclass, module class) for a model kind; imported on demand."""
    if kind == "gan":
        from live.nets.gan import GANConfig, Generator

        return GANConfig, Generator
    if kind == "vae":
        from live.nets.vae import VAE, VAEConfig

        return VAEConfig, VAE
    if kind == "char-rnn":
        from live.nets.char_rnn import CharRNN, CharRNNConfig

        return CharRNNConfig, CharRNN
    raise ModelError(f"unknown model kind {kind!r} (known: {', '.join(KINDS)})")


KINDS = ("gan", "vae", "char-rnn")
GENERATOR_KINDS = ("gan", "vae")


def load_state(module: torch.nn.Module, weights: Path) -> dict[str, torch.Tensor]:
    """Load safetensors into ``module`` strictly: every key, shape and dtype must match.

    Returns the extra tensors (keys under ``extra.``, prefix removed), checked to be finite.
    """
    try:
        state = load_file(str(weights))
    except FileNotFoundError:
        raise ModelError(f"{weights}: missing") from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{weights}: not a valid safetensors file ({exc})") from None
    extra = {k[len(EXTRA_PREFIX):]: v for k, v in state.items() if k.startswith(EXTRA_PREFIX)}
    state = {k: v for k, v in state.items() if not k.startswith(EXTRA_PREFIX)}
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelError(
            f"{weights}: does not match the architecture in model.toml "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    for key, tensor in [*expected.items(), *((f"extra.{k}", v) for k, v in extra.items())]:
        got = state.get(key, extra.get(key.removeprefix(EXTRA_PREFIX)))
        if key in expected and (got.shape != tensor.shape or got.dtype != tensor.dtype):
            raise ModelError(
                f"{weights}: {key} is {tuple(got.shape)} {got.dtype}, "
                f"the architecture needs {tuple(tensor.shape)} {tensor.dtype}"
            )
        if got.is_floating_point() and not torch.isfinite(got).all():
            raise ModelError(f"{weights}: {key} holds NaN or infinite values")
    module.load_state_dict(state, strict=True)
    return extra


def save_model(folder: Path, kind: str, module: torch.nn.Module, meta: dict[str, Any],
               extra: dict[str, torch.Tensor] | None = None) -> None:
    """Write a model folder: weights (+ extra tensors) and model.toml with kind and arch.

    The weights are written first and model.toml last, each atomically, so a folder with a
    model.toml always has the weights it describes.
    """
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    for key, value in (extra or {}).items():
        state[EXTRA_PREFIX + key] = value.detach().float().contiguous().cpu()
    tmp = folder / "model.safetensors.tmp"
    save_file(state, str(tmp))
    os.replace(tmp, folder / "model.safetensors")
    body = {"kind": kind, **meta, "arch": module.cfg.to_dict()}
    tmp = folder / "model.toml.tmp"
    tmp.write_text(dump_toml(body), encoding="utf-8")
    os.replace(tmp, folder / "model.toml")


def dump_toml(data: dict[str, Any]) -> str:
    """A small TOML writer for model.toml (scalars, lists and one level of tables)."""

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        text = "".join(
            "\\\\" if c == "\\" else '\\"' if c == '"'
            else f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c
            for c in str(v)
        )
        return f'"{text}"'

    lines = [f"{k} = {scalar(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines.append(f"\n[{k}]")
            lines.extend(f"{kk} = {scalar(vv)}" for kk, vv in v.items())
    return "\n".join(lines) + "\n"


@dataclass
class LoadedModel:
    name: str
    kind: str
    module: torch.nn.Module
    meta: dict[str, Any]
    extra: dict[str, torch.Tensor]
    folder: Path | None


def load_model(name: str, models_dir: Path, kinds: tuple[str, ...] = KINDS) -> LoadedModel:
    """Load any model folder (CPU, fp32, eval mode), refusing kinds outside ``kinds``."""
    folder = resolve(name, models_dir)
    meta = read_meta(folder)
    kind = meta.get("kind")
    if kind not in kinds:
        raise ModelError(
            f"{folder / 'model.toml'}: kind {kind!r} cannot be used here "
            f"(expected one of {', '.join(kinds)})"
        )
    config_cls, module_cls = _network(kind)
    module = module_cls(_config_from(config_cls, meta.get("arch"), folder / "model.toml"))
    extra = load_state(module, folder / "model.safetensors")
    return LoadedModel(folder.name, kind, module.eval(), meta, extra, folder)


@torch.no_grad()
def _calibrate_untrained(gen: Generator, samples: int = 32) -> None:
    """Scale an untrained generator's RGB outputs so its pictures span [-1, 1] instead of
    clipping to flat primaries (random weights sum six RGB skips of unit variance)."""
    z = torch.randn(samples, gen.cfg.z_dim)
    images = gen(z, 0.8)
    gain = 0.5 / float(images.std())
    rgb_layers = [gen.rgb4, *(block.to_rgb for block in gen.blocks)]
    for layer in rgb_layers:
        layer.weight.mul_(gain)
        layer.bias.mul_(gain)
    per_channel_mean = gen(z, 0.8).mean(dim=(0, 2, 3))
    gen.blocks[-1].to_rgb.bias.sub_(per_channel_mean)


@dataclass
class LoadedGenerator:
    """A generator ready for the engine, with what the HUD and bench report about it."""

    name: str
    module: torch.nn.Module
    trained: bool
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    kind: str = "gan"


def load_generator(name: str, models_dir: Path, seed: int = 0) -> LoadedGenerator:
    """Load a picture model (GAN or VAE) folder (CPU, fp32; the engine moves it).

    The shipped default GAN may be absent while it is being trained; then a generator of the
    same architecture with seeded random weights stands in, with a warning.
    """
    try:
        resolve(name, models_dir)
    except ModelError:
        if name != DEFAULT_GAN:
            raise
        log.warning("%s not found in %s: using untrained weights of the same architecture",
                    name, models_dir)
        torch.manual_seed(seed)
        gen = Generator(GANConfig()).eval()
        gen.update_w_avg()
        _calibrate_untrained(gen)
        return LoadedGenerator(f"{name} (untrained)", gen, trained=False)
    loaded = load_model(name, models_dir, GENERATOR_KINDS)
    return LoadedGenerator(loaded.name, loaded.module, True, loaded.extra, loaded.kind)

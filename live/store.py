"""Model folders: ``models/<name>/model.toml`` + ``model.safetensors`` (never pickle).

``model.toml`` says what the folder holds (``kind``, the architecture in ``[arch]``, how it was
trained, its metrics, the ``sha256`` of the weights); ``model.safetensors`` holds the weights and
derived tensors. A folder is user-controlled input that the render loop will trust, so loading
refuses, with the reason, anything that could fail later on stage:

- ``model.toml`` larger than ``MODEL_TOML_MAX_BYTES`` or not a regular file (``live.safeio``);
- an ``[arch]`` value of the wrong type or out of range (each config's ``__post_init__``), or an
  architecture whose weights would exceed ``WEIGHTS_MAX_BYTES`` (measured on the meta device,
  before anything is allocated);
- a weights file that is not a regular file, is larger than ``WEIGHTS_MAX_BYTES``, does not
  match its ``sha256`` (bit rot, a partial copy, tampering), is not safetensors, or whose keys,
  shapes or dtypes differ from the architecture;
- an ``extra.*`` tensor (PCA directions, latent statistics) that is unknown, of the wrong shape
  or dtype, or not finite.

A ``model.toml`` without ``sha256`` (folders from before it was written) loads with a warning.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as deserialize
from safetensors.torch import save as serialize

from live.nets.gan import GANConfig, Generator
from live.safeio import MODEL_TOML_MAX_BYTES, FileReadError, read_bytes, read_text

log = logging.getLogger(__name__)

DEFAULT_GAN = "default-gan"
WEIGHTS = "model.safetensors"
WEIGHTS_MAX_BYTES = 2 * 1024 ** 3
"""A weights file above this is refused before it is read (the shipped ones are 7-16 MB)."""


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
            meta = tomllib.loads(read_text(toml_path, MODEL_TOML_MAX_BYTES))
        except (OSError, tomllib.TOMLDecodeError):
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
    """``model.toml`` of ``folder``, read through the capped reader."""
    path = folder / "model.toml"
    try:
        return tomllib.loads(read_text(path, MODEL_TOML_MAX_BYTES))
    except FileReadError as exc:
        raise ModelError(str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
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
    except (TypeError, ValueError, OverflowError) as exc:
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


STYLEGAN_KINDS = ("stylegan2", "stylegan3")
"""Imported StyleGAN generators (live/stylegan/): [arch] holds NVIDIA's init kwargs."""
KINDS = ("gan", "vae", "char-rnn", *STYLEGAN_KINDS)
GENERATOR_KINDS = ("gan", "vae", *STYLEGAN_KINDS)


def _shapes_on_meta(module_cls: type, cfg: Any, where: Path) -> dict[str, torch.Tensor]:
    """The state dict the architecture needs, built on the meta device: shapes and dtypes
    without a byte allocated, so an oversized architecture is refused before it costs memory.
    """
    try:
        with torch.device("meta"):
            expected = module_cls(cfg).state_dict()
    except (ValueError, TypeError, RuntimeError, OverflowError) as exc:
        raise ModelError(f"{where}: bad [arch]: {exc}") from None
    size = sum(t.numel() * t.element_size() for t in expected.values())
    if size > WEIGHTS_MAX_BYTES:
        raise ModelError(f"{where}: [arch] needs {size:,} bytes of weights, more than the "
                         f"{WEIGHTS_MAX_BYTES:,}-byte limit")
    return expected


SHA256 = re.compile(r"[0-9a-f]{64}")


def read_weights(path: Path, sha256: Any = None) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, read once (regular file, at most
    ``WEIGHTS_MAX_BYTES``) and checked against ``sha256`` (hex) when it is given."""
    try:
        data = read_bytes(path, WEIGHTS_MAX_BYTES)
    except FileReadError as exc:
        raise ModelError(str(exc)) from None
    if sha256 is not None:
        if not isinstance(sha256, str) or not SHA256.fullmatch(sha256.lower()):
            raise ModelError(f"{path.parent / 'model.toml'}: sha256 must be 64 hex digits, "
                             f"got {sha256!r}")
        if hashlib.sha256(data).hexdigest() != sha256.lower():
            raise ModelError(f"{path}: weights do not match the sha256 in model.toml: file "
                             "changed or corrupt")
    try:
        return deserialize(data)
    except (SafetensorError, ValueError, RuntimeError, TypeError) as exc:
        raise ModelError(f"{path}: not a valid safetensors file ({exc})") from None


def write_weights(path: Path, tensors: dict[str, torch.Tensor]) -> str:
    """Write ``tensors`` to ``path`` atomically and return the file's sha256 (hex).

    Written through ``open`` rather than safetensors' own writer, which creates files 0600:
    a model folder is shared like any file, so it gets the usual permissions (0644 under the
    usual umask).
    """
    data = serialize(tensors)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk: no half-written .tmp left behind
        tmp.unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest()


EXTRA_FLOAT = torch.float32


def _extra_dim(kind: str, cfg: Any) -> int | None:
    """Size of the space the extra tensors live in: w for a GAN (ours or an imported
    StyleGAN), the latent for a VAE."""
    if kind == "gan" or kind in STYLEGAN_KINDS:
        return getattr(cfg, "w_dim", None)
    return getattr(cfg, "latent_dim", None) if kind == "vae" else None


def check_extra(extra: dict[str, torch.Tensor], kind: str, cfg: Any, where: Path) -> None:
    """Every extra tensor known, float32, finite and of the shape the engine will use it at:
    ``directions`` (k, D) with 1 <= k <= D, ``direction_std`` (k,) >= 0, ``latent_mean`` and
    ``latent_std`` (D,), D being w_dim (GAN) or latent_dim (VAE). A char-RNN has none."""
    dim = _extra_dim(kind, cfg)
    if dim is None:
        if extra:
            raise ModelError(f"{where}: unexpected extra tensors {sorted(extra)[:3]} "
                             f"(a {kind} model has none)")
        return
    directions = extra.get("directions")
    count = directions.shape[0] if directions is not None and directions.dim() == 2 else None
    shapes = {"directions": ("(k, D)", (count, dim)), "direction_std": ("(k,)", (count,)),
              "latent_mean": ("(D,)", (dim,)), "latent_std": ("(D,)", (dim,))}
    unknown = sorted(set(extra) - set(shapes))
    if unknown:
        raise ModelError(f"{where}: unknown tensor {EXTRA_PREFIX + unknown[0]} (known: "
                         f"{', '.join(EXTRA_PREFIX + k for k in shapes)})")
    for key in (k for k in shapes if k in extra):  # directions first: the others follow it
        tensor, name = extra[key], EXTRA_PREFIX + key
        legend, shape = shapes[key]
        if tensor.dtype != EXTRA_FLOAT:
            raise ModelError(f"{where}: {name} is {tensor.dtype}, must be {EXTRA_FLOAT}")
        if key == "direction_std" and count is None:
            raise ModelError(f"{where}: {name} without a 2-D extra.directions")
        if tuple(tensor.shape) != shape or (key == "directions" and not 1 <= count <= dim):
            raise ModelError(f"{where}: {name} is {tuple(tensor.shape)}, must be {legend} "
                             f"with D = {dim}" + (" and k <= D" if key == "directions" else ""))
        if not torch.isfinite(tensor).all():
            raise ModelError(f"{where}: {name} holds NaN or infinite values")
        if key.endswith("_std") and (tensor < 0).any():
            raise ModelError(f"{where}: {name} holds negative spreads")


def load_state(module: torch.nn.Module, state: dict[str, torch.Tensor],
               expected: dict[str, torch.Tensor], weights: Path) -> dict[str, torch.Tensor]:
    """Load ``state`` into ``module`` strictly: every key, shape and dtype must be the ones in
    ``expected`` (the architecture's state dict, possibly on the meta device).

    Returns the extra tensors (keys under ``extra.``, prefix removed), unchecked.
    """
    extra = {k[len(EXTRA_PREFIX):]: v for k, v in state.items() if k.startswith(EXTRA_PREFIX)}
    state = {k: v for k, v in state.items() if not k.startswith(EXTRA_PREFIX)}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelError(
            f"{weights}: does not match the architecture in model.toml "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    for key, tensor in expected.items():
        got = state[key]
        if got.shape != tensor.shape or got.dtype != tensor.dtype:
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
    """Write a model folder: weights (+ extra tensors) and model.toml with kind, the weights'
    sha256 and arch.

    The weights are written first and model.toml last, each atomically, so a folder with a
    model.toml always has the weights it describes.
    """
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    for key, value in (extra or {}).items():
        state[EXTRA_PREFIX + key] = value.detach().float().contiguous().cpu()
    digest = write_weights(folder / WEIGHTS, state)
    body = {"kind": kind, **{k: v for k, v in meta.items() if k not in ("kind", "sha256")},
            "sha256": digest, "arch": module.cfg.to_dict()}
    tmp = folder / "model.toml.tmp"
    tmp.write_text(dump_toml(body), encoding="utf-8")
    os.replace(tmp, folder / "model.toml")


def dump_toml(data: dict[str, Any]) -> str:
    """A small TOML writer for model.toml (scalars, lists and one level of tables; a table
    inside a table is written inline, ``mapping_kwargs = { num_layers = 2 }``)."""

    def scalar(v: Any) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{kk} = {scalar(vv)}" for kk, vv in v.items()) + " }"
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
    """Load any model folder (CPU, fp32, eval mode), refusing kinds outside ``kinds`` and
    anything that could fail later (see the module docstring), with the reason."""
    folder = resolve(name, models_dir)
    toml = folder / "model.toml"
    meta = read_meta(folder)
    kind = meta.get("kind")
    if kind not in kinds:
        raise ModelError(
            f"{toml}: kind {kind!r} cannot be used here "
            f"(expected one of {', '.join(kinds)})"
        )
    if kind in STYLEGAN_KINDS:
        from live.stylegan.importer import folder_network

        module, expected = folder_network(kind, meta, toml)
        cfg = module.cfg
    else:
        config_cls, module_cls = _network(kind)
        cfg = _config_from(config_cls, meta.get("arch"), toml)
        expected = _shapes_on_meta(module_cls, cfg, toml)
        module = None
    weights = folder / WEIGHTS
    if "sha256" not in meta:
        log.warning("%s: no sha256 in model.toml, the weights cannot be checked (saving the "
                    "model again adds it)", toml)
    state = read_weights(weights, meta.get("sha256"))
    module = module if module is not None else module_cls(cfg)
    extra = load_state(module, state, expected, weights)
    check_extra(extra, kind, cfg, weights)
    if kind in STYLEGAN_KINDS and cfg.c_dim:
        from live.stylegan.importer import set_label

        set_label(module, meta.get("label", 0), toml)
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

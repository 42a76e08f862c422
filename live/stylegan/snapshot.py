"""Reading StyleGAN2-ADA / StyleGAN3 network pickles without running anything in them.

A snapshot (``network-snapshot-*.pkl``) is a pickle of a dict holding the networks ``G``,
``D`` and ``G_ema``. Each network and each of its sub-modules is pickled by NVIDIA's
``torch_utils.persistence`` as a call ``_reconstruct_persistent_obj(meta)`` whose ``meta``
carries the Python source of the module (``module_src``), the class name and the module's
``__dict__`` (``state``); loading it the usual way executes that source. Here a restricted
unpickler resolves only the globals such files need, each to a function of ours:

========================================================  ====================================
global in the file                                        what it becomes here
========================================================  ====================================
``torch_utils.persistence._reconstruct_persistent_obj``   a :class:`Network` record (class
                                                          name, init args, parameters,
                                                          buffers, sub-modules); the source is
                                                          dropped unread
``torch.storage._load_from_bytes``                        ``torch.load(weights_only=True)``
``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter``  a plain tensor over that storage
``collections.OrderedDict``, ``dnnlib.util.EasyDict``     a dict
``numpy.dtype``, ``numpy.ndarray``, ``numpy...scalar``,   numpy's own constructors (object
``numpy...multiarray._reconstruct``                       dtypes refused)
========================================================  ====================================

Any other global (``posix.system``, ``builtins.eval``, a TensorFlow-era network class, ...)
stops the load with :class:`SnapshotError` naming it: nothing the file asks for is called.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SNAPSHOT_MAX_BYTES = 2 << 30
"""Largest snapshot read (a 1024 px StyleGAN2 with G, D and G_ema is ~360 MB)."""
STORAGE_MAX_BYTES = 1 << 30
"""Largest single tensor storage inside a snapshot."""


class SnapshotError(ValueError):
    """A file that cannot be imported; the message says why in one line."""


@dataclass
class Network:
    """One persistent module of the snapshot, as recorded (never instantiated)."""

    class_name: str
    init_args: tuple = ()
    init_kwargs: dict = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    buffers: dict[str, Any] = field(default_factory=dict)
    modules: dict[str, Network] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict, repr=False)
    """Other plain attributes of the module's state (numbers, strings, arrays)."""

    def tensors(self, prefix: str = "") -> dict[str, Any]:
        """Every parameter and buffer by its dotted name (``mapping.fc0.weight``)."""
        out = {prefix + name: value for name, value in self.parameters.items()
               if value is not None}
        out.update((prefix + name, value) for name, value in self.buffers.items()
                   if value is not None)
        for name, module in self.modules.items():
            if isinstance(module, Network):
                out.update(module.tensors(f"{prefix}{name}."))
        return out

    def find(self, class_name: str) -> list[tuple[str, Network]]:
        """Sub-modules (at any depth) of that class, with their dotted paths."""
        found = []
        for name, module in self.modules.items():
            if isinstance(module, Network):
                if module.class_name == class_name:
                    found.append((name, module))
                found.extend((f"{name}.{path}", sub) for path, sub in module.find(class_name))
        return found


def _plain(value: Any) -> Any:
    """EasyDicts and OrderedDicts as plain dicts (recursively), for kwargs and records."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    return value


def _reconstruct_persistent_obj(meta: Any) -> Network:
    if not isinstance(meta, Mapping) or meta.get("type") != "class":
        raise SnapshotError("a persistent object of an unknown kind (not a class record)")
    state = meta.get("state")
    if not isinstance(state, Mapping):
        raise SnapshotError(f"persistent {meta.get('class_name')!r}: its state is not a dict")
    network = Network(str(meta.get("class_name", "")))
    network.init_args = tuple(_plain(state.get("_init_args", ())) or ())
    network.init_kwargs = dict(_plain(state.get("_init_kwargs", {})) or {})
    network.parameters = dict(state.get("_parameters") or {})
    network.buffers = dict(state.get("_buffers") or {})
    network.modules = dict(state.get("_modules") or {})
    network.attributes = {key: value for key, value in state.items()
                          if not key.startswith("_") and not isinstance(value, Network)}
    return network


def _load_storage(data: bytes):
    import torch

    if not isinstance(data, (bytes, bytearray)) or len(data) > STORAGE_MAX_BYTES:
        raise SnapshotError("a tensor storage that is not bytes, or larger than 1 GiB")
    try:
        return torch.load(io.BytesIO(data), weights_only=True)
    except Exception as exc:  # torch's own refusal: name it, in one line
        raise SnapshotError(f"a tensor storage torch refuses to read: "
                            f"{str(exc).splitlines()[0][:200]}") from None


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False,
                    backward_hooks=None, metadata=None):
    import torch

    if not isinstance(storage, (torch.UntypedStorage, torch.TypedStorage)):
        raise SnapshotError("a tensor over something that is not a storage")
    tensor = torch.empty((0,), dtype=getattr(storage, "dtype", torch.uint8))
    try:
        return tensor.set_(storage, int(storage_offset), tuple(size), tuple(stride))
    except RuntimeError as exc:
        raise SnapshotError(f"a tensor that does not fit its storage: {exc}") from None


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *_):
    return data


class _Dict(dict):
    """``dnnlib.util.EasyDict`` and ``collections.OrderedDict`` as a plain dict."""


def _dtype(*args, **kwargs):
    dtype = np.dtype(*args, **kwargs)
    if dtype.hasobject:
        raise SnapshotError("a numpy array of Python objects (refused: it could hold code)")
    return dtype


def _multiarray():
    """numpy's multiarray module (``numpy._core`` since numpy 2, ``numpy.core`` before)."""
    import importlib

    try:
        return importlib.import_module("numpy._core.multiarray")
    except ImportError:  # numpy 1.x
        return importlib.import_module("numpy.core.multiarray")


_MULTIARRAY = _multiarray()
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
ALLOWED: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): _Dict,
    ("dnnlib.util", "EasyDict"): _Dict,
    ("numpy", "dtype"): _dtype,
    ("numpy", "ndarray"): np.ndarray,
    **{(module, "scalar"): _MULTIARRAY.scalar for module in _NUMPY_MODULES},
    **{(module, "_reconstruct"): _MULTIARRAY._reconstruct for module in _NUMPY_MODULES},
}
"""Every global a snapshot may name, and what it becomes."""

_TENSORFLOW_HINT = (
    "this is a TensorFlow-era StyleGAN/StyleGAN2 pickle (dnnlib.tflib); live imports the "
    "PyTorch snapshots of StyleGAN2-ADA-PyTorch and StyleGAN3: convert it first with "
    "NVIDIA's stylegan2-ada-pytorch `legacy.py` (on a machine where running its code is "
    "acceptable), then import the .pkl it writes")


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        found = ALLOWED.get((module, name))
        if found is not None:
            return found
        if module.startswith("dnnlib.tflib"):
            raise SnapshotError(_TENSORFLOW_HINT)
        raise SnapshotError(f"refused: the file asks for {module}.{name}, which a StyleGAN "
                            "snapshot does not need (nothing was run)")

    def persistent_load(self, pid):
        raise SnapshotError("refused: a persistent id (a torch.save zip, not a network "
                            "pickle); nothing was run")


def read_snapshot(path: Path | str) -> dict[str, Any]:
    """The snapshot's top-level dict, networks as :class:`Network` records; every problem a
    :class:`SnapshotError` whose message starts with the file's name."""
    from live.safeio import FileReadError, read_bytes

    path = Path(path)
    try:
        data = read_bytes(path, SNAPSHOT_MAX_BYTES)
    except FileReadError as exc:
        raise SnapshotError(f"{path}: {exc.reason}") from None
    if data[:2] == b"PK":
        raise SnapshotError(f"{path}: a zip file (torch.save or a model folder's archive), not a "
                            "StyleGAN network pickle")
    if not data or data[0] != 0x80:
        raise SnapshotError(f"{path}: not a pickle (a StyleGAN snapshot is a .pkl written by "
                            "NVIDIA's training)")
    try:
        top = _Unpickler(io.BytesIO(data)).load()
    except SnapshotError as exc:
        raise SnapshotError(f"{path}: {exc}") from None
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError, RecursionError) as exc:
        reason = "cut short (truncated or damaged)" if isinstance(exc, EOFError) or \
            "truncated" in str(exc) or "ran out" in str(exc).lower() else \
            f"damaged ({type(exc).__name__}: {str(exc)[:160]})"
        raise SnapshotError(f"{path}: {reason}") from None
    if isinstance(top, Network):  # a bare network pickled alone
        top = {"G_ema": top}
    if not isinstance(top, Mapping):
        raise SnapshotError(f"{path}: the pickle holds a {type(top).__name__}, not a snapshot "
                            "dict with G_ema")
    return dict(top)


def generator(snapshot: Mapping[str, Any], key: str = "G_ema", path: Path | str = "") -> Network:
    """The generator record to import (``G_ema`` by default, ``G`` on request)."""
    network = snapshot.get(key)
    if not isinstance(network, Network):
        known = ", ".join(k for k, v in snapshot.items() if isinstance(v, Network)) or "none"
        raise SnapshotError(f"{path}: no network {key!r} in the snapshot (networks: {known})")
    return network

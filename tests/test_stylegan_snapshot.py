"""The restricted unpickler for StyleGAN snapshots: the fixtures in ../shared/stylegan (pickles
written by NVIDIA's training code, with randomised weights) read without running anything;
a malicious pickle, a truncated one, a TensorFlow-era one and files that are not pickles are
refused in one line. Files built here are made with the standard pickle module."""

from __future__ import annotations

import os
import pickle
import subprocess
from pathlib import Path

import pytest

from live.stylegan.snapshot import Network, SnapshotError, generator, read_snapshot

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "stylegan"
needs_fixtures = pytest.mark.skipif(not (FIXTURES / "sg2_64.pkl").exists(),
                                    reason="../shared/stylegan is not here")


@needs_fixtures
@pytest.mark.parametrize("name, resolution, first", [
    ("sg2_64", 64, "synthesis.b4.const"),
    ("sg2_128_resnet_cond", 128, "synthesis.b4.const"),
    ("sg3t_64", 64, "synthesis.input.weight"),
    ("sg3r_64", 64, "synthesis.input.weight"),
])
def test_fixture_snapshots_read_into_records(name, resolution, first):
    import torch

    snapshot = read_snapshot(FIXTURES / f"{name}.pkl")
    assert {"G", "D", "G_ema"} <= set(snapshot)
    g = generator(snapshot)
    assert g.class_name == "Generator"
    assert g.init_kwargs["img_resolution"] == resolution
    assert {m.class_name for m in g.modules.values()} == {"MappingNetwork", "SynthesisNetwork"}
    tensors = g.tensors()
    assert first in tensors and "mapping.w_avg" in tensors
    assert all(isinstance(t, torch.Tensor) and t.numel() > 0 for t in tensors.values())
    assert torch.isfinite(tensors["mapping.w_avg"]).all()
    assert generator(snapshot, "G").tensors().keys() == tensors.keys()


@needs_fixtures
def test_the_malicious_fixture_runs_nothing_and_is_refused(tmp_path):
    marker = Path("/tmp/sgfix/PWNED")
    marker.parent.mkdir(exist_ok=True)
    marker.unlink(missing_ok=True)
    with pytest.raises(SnapshotError) as err:
        read_snapshot(FIXTURES / "evil.pkl")
    assert "posix.system" in str(err.value) and "nothing was run" in str(err.value)
    assert not marker.exists()


@needs_fixtures
def test_a_truncated_snapshot_is_refused_in_one_line():
    with pytest.raises(SnapshotError, match="truncated") as err:
        read_snapshot(FIXTURES / "truncated.pkl")
    assert "\n" not in str(err.value)


class _Call:
    """Pickles as a call of ``func(*args)`` (what a malicious file does)."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("payload, named", [
    (_Call(os.system, "touch {marker}"), "system"),
    (_Call(eval, "__import__('os').system('touch {marker}')"), "builtins.eval"),
    (_Call(subprocess.call, ["touch", "{marker}"]), "subprocess.call"),
    ({"G_ema": _Call(exec, "open('{marker}', 'w')")}, "builtins.exec"),
])
def test_pickles_that_would_run_code_run_nothing(tmp_path, payload, named):
    marker = tmp_path / "ran"

    def fill(value):
        if isinstance(value, str):
            return value.format(marker=marker)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, _Call):
            return _Call(value.func, *(fill(a) for a in value.args))
        return value

    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(pickle.dumps(fill(payload)))
    with pytest.raises(SnapshotError) as err:
        read_snapshot(path)
    assert named in str(err.value) and "refused" in str(err.value)
    assert not marker.exists()


def test_files_that_are_not_snapshots_are_refused(tmp_path):
    cases = {
        "text.pkl": (b"hello", "not a pickle"),
        "empty.pkl": (b"", "not a pickle"),
        "zip.pkl": (b"PK\x03\x04rest", "zip"),
        "list.pkl": (pickle.dumps([1, 2, 3]), "not a snapshot"),
        "tf.pkl": (b"\x80\x02c" + b"dnnlib.tflib.network\nNetwork\n" + b")\x81.",
                   "TensorFlow"),
    }
    for name, (data, phrase) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(SnapshotError, match=phrase):
            read_snapshot(path)
    with pytest.raises(SnapshotError, match="no network 'G_ema'"):
        generator({"D": Network("Discriminator")}, path="x.pkl")
    with pytest.raises(SnapshotError):
        read_snapshot(tmp_path / "missing.pkl")
    fifo = tmp_path / "fifo.pkl"
    os.mkfifo(fifo)
    with pytest.raises(SnapshotError):
        read_snapshot(fifo)  # refused at once, never blocks on the pipe


def test_numpy_object_arrays_are_refused(tmp_path):
    import numpy as np

    path = tmp_path / "objects.pkl"
    path.write_bytes(pickle.dumps({"G_ema": np.array([print], dtype=object)}))
    with pytest.raises(SnapshotError):
        read_snapshot(path)

"""``live sample MODEL --z Z.npy --out OUT.npy``: the raw pictures for given latents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from live.cli import main
from live.store import load_model

MODELS = Path(__file__).resolve().parents[1] / "models"


def test_given_latents_render_the_same_floats_as_the_generator(tmp_path):
    loaded = load_model("default-gan", MODELS)
    z = np.random.RandomState(0).randn(3, loaded.module.latent_dim).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    out = tmp_path / "out.npy"
    assert main(["sample", "default-gan", "--z", str(tmp_path / "z.npy"),
                 "--truncation", "0.7", "--out", str(out)]) == 0
    images = np.load(out)
    with torch.no_grad():
        expected = loaded.module.eval()(torch.from_numpy(z), 0.7).numpy()
    assert images.shape == (3, 3, 128, 128) and images.dtype == np.float32
    assert np.array_equal(images, expected)
    again = tmp_path / "again.npy"
    assert main(["sample", "default-gan", "--z", str(tmp_path / "z.npy"),
                 "--truncation", "0.7", "--out", str(again)]) == 0
    assert np.array_equal(np.load(again), images)  # reproducible
    png = tmp_path / "grid.png"
    assert main(["sample", "default-gan", "--z", str(tmp_path / "z.npy"), "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_a_vae_decodes_given_latents(tmp_path):
    loaded = load_model("default-vae", MODELS)
    z = np.zeros((2, loaded.module.latent_dim), np.float32)
    np.save(tmp_path / "z.npy", z)
    assert main(["sample", "default-vae", "--z", str(tmp_path / "z.npy"),
                 "--out", str(tmp_path / "o.npy")]) == 0
    assert np.load(tmp_path / "o.npy").shape[:2] == (2, 3)


@pytest.mark.parametrize("make, phrase", [
    (lambda p: np.save(p, np.zeros((2, 5), np.float32)), "shape [N, 128]"),
    (lambda p: np.save(p, np.array([[np.nan] * 128], np.float32)), "NaN"),
    (lambda p: np.save(p, np.array([["a"] * 128])), "numbers"),
    (lambda p: np.save(p, np.array([{"x": 1}], dtype=object), allow_pickle=True), "npy"),
    (lambda p: p.write_bytes(b"not numpy"), "not a .npy"),
])
def test_bad_latents_are_refused_in_one_line(tmp_path, capsys, make, phrase):
    path = tmp_path / "z.npy"
    make(path)
    assert main(["sample", "default-gan", "--z", str(path), "--out",
                 str(tmp_path / "o.npy")]) == 2
    err = capsys.readouterr().err
    assert phrase in err and err.count("\n") == 1
    assert not (tmp_path / "o.npy").exists()


def test_a_class_vector_for_an_unconditional_model_is_refused(tmp_path, capsys):
    np.save(tmp_path / "z.npy", np.zeros((1, 128), np.float32))
    assert main(["sample", "default-gan", "--z", str(tmp_path / "z.npy"), "--c",
                 str(tmp_path / "z.npy"), "--out", str(tmp_path / "o.npy")]) == 2
    assert "no class vector" in capsys.readouterr().err

"""``live import stylegan``: NVIDIA snapshots into model folders that the store, ``live sample``
and the engine use like any other model; refusals leave nothing behind. Needs the fixtures in
../shared/stylegan (skipped without them)."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from live.cli import main
from live.store import load_generator, load_model

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "stylegan"
pytestmark = pytest.mark.skipif(not (FIXTURES / "sg2_64.pkl").exists(),
                                reason="../shared/stylegan is not here")
NAMES = ("sg2_128_resnet_cond", "sg3r_64")


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    models = tmp_path_factory.mktemp("models")
    for name in NAMES:
        assert main(["import", "stylegan", str(FIXTURES / f"{name}.pkl"), "--out",
                     str(models / name), "--class", "2" if "cond" in name else "0"]) == 0
    return models


@pytest.mark.parametrize("name", NAMES)
def test_an_imported_folder_holds_the_weights_the_kwargs_and_the_source(imported, name):
    folder = imported / name
    assert {p.name for p in folder.iterdir()} == {"model.safetensors", "model.toml",
                                                  "samples.png"}
    meta = tomllib.loads((folder / "model.toml").read_text())
    assert meta["kind"] == ("stylegan3" if name.startswith("sg3") else "stylegan2")
    source = (FIXTURES / f"{name}.pkl").read_bytes()
    assert meta["source"]["sha256"] == hashlib.sha256(source).hexdigest()
    assert meta["source"] == {**meta["source"], "file": f"{name}.pkl", "network": "G_ema"}
    import json

    recorded = json.loads((FIXTURES / f"{name}.json").read_text())["G_init_kwargs"]
    assert {**meta["arch"], **dict.fromkeys(meta["arch_none"])} == recorded
    loaded = load_model(name, imported)
    assert loaded.extra["directions"].shape[1] == loaded.module.cfg.w_dim
    assert (folder / "samples.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("name", NAMES)
def test_the_folder_renders_the_reference_pictures(imported, name, tmp_path):
    ref = np.load(FIXTURES / f"{name}.ref.npz")
    np.save(tmp_path / "z.npy", ref["z"])
    args = ["sample", str(imported / name), "--z", str(tmp_path / "z.npy"),
            "--truncation", "0.7", "--out", str(tmp_path / "out.npy")]
    if ref["c"].shape[1]:
        np.save(tmp_path / "c.npy", ref["c"])
        args += ["--c", str(tmp_path / "c.npy")]
    assert main(args) == 0
    assert np.abs(np.load(tmp_path / "out.npy") - ref["img_psi07"]).max() <= 1e-3


def test_a_conditional_model_draws_its_chosen_class(imported):
    gen = load_generator("sg2_128_resnet_cond", imported).module
    assert gen.label.tolist() == [[0.0, 0.0, 1.0, 0.0, 0.0]]  # --class 2
    z = torch.randn(1, gen.cfg.z_dim, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        by_label = gen.decode(z, torch.tensor(1.0))
        explicit = gen(z, gen.label, truncation_psi=1.0)
    assert torch.allclose(by_label, explicit, atol=1e-5)


@pytest.mark.parametrize("file, phrase", [
    ("evil.pkl", "posix.system"),
    ("truncated.pkl", "truncated"),
])
def test_refused_snapshots_write_nothing(tmp_path, capsys, file, phrase):
    marker = Path("/tmp/sgfix/PWNED")
    marker.parent.mkdir(exist_ok=True)
    marker.unlink(missing_ok=True)
    models = tmp_path / "models"
    models.mkdir()
    assert main(["import", "stylegan", str(FIXTURES / file), "--out",
                 str(models / "x")]) == 2
    err = capsys.readouterr().err
    assert phrase in err and err.count("\n") == 1
    assert list(models.iterdir()) == [] and not marker.exists()


def test_an_existing_folder_is_never_replaced(imported, capsys):
    before = (imported / NAMES[0] / "model.toml").read_bytes()
    assert main(["import", "stylegan", str(FIXTURES / "sg2_64.pkl"), "--out",
                 str(imported / NAMES[0])]) == 2
    assert "exists already" in capsys.readouterr().err
    assert (imported / NAMES[0] / "model.toml").read_bytes() == before


def test_the_engine_turns_a_stylegan3_picture_with_model_rotate(imported, small_config):
    from live.cli import _prepare
    from live.engine import Engine

    scene, _, choice = _prepare(small_config, None, None)
    model = load_generator("sg3r_64", imported)
    engine = Engine(small_config, model, choice, scene, headless=True)
    assert engine.source_res == 64 and engine.offset_in_w
    try:
        engine.warm_up(frames=1)
        with torch.inference_mode():
            engine._update_offset()
            still = engine._decode(1.0).clone()
            engine.controls.value[engine.registry.index["model.rotate"]] = 30.0
            engine._update_offset()
            turned = engine._decode(1.0).clone()
        assert (turned - still).abs().max() > 0.05  # the network turned its picture
        assert engine.run(3) == 3
    finally:
        engine.display.close()


def test_model_noise_switches_a_stylegan2_between_fixed_shimmering_and_smooth(imported):
    from types import SimpleNamespace

    from live.params import Controls, Registry
    from live.switching import Switching

    gen = load_generator("sg2_128_resnet_cond", imported).module.eval()
    controls = Controls(Registry())
    show = SimpleNamespace(generator=gen, controls=controls)
    z = torch.randn(1, gen.cfg.z_dim, generator=torch.Generator().manual_seed(3))
    pictures = {}
    with torch.inference_mode():
        for mode in ("const", "random", "none"):
            controls.value[controls.registry.index["model.noise"]] = \
                controls.registry["model.noise"].choices.index(mode)
            Switching._update_model_controls(show)
            pictures[mode] = [gen.decode(z, torch.tensor(1.0)) for _ in range(2)]
    assert torch.equal(*pictures["const"]) and torch.equal(*pictures["none"])
    assert not torch.equal(*pictures["random"])
    assert not torch.equal(pictures["const"][0], pictures["none"][0])


def test_unknown_architecture_keys_are_refused_in_one_line(tmp_path, capsys, monkeypatch):
    import live.stylegan.importer as importer
    from live.stylegan.snapshot import read_snapshot

    snapshot = read_snapshot(FIXTURES / "sg2_64.pkl")
    snapshot["G_ema"].init_kwargs["warp_drive"] = 9  # a key no StyleGAN2 has
    monkeypatch.setattr(importer, "read_snapshot", lambda path: snapshot)
    models = tmp_path / "models"
    models.mkdir()
    assert main(["import", "stylegan", str(FIXTURES / "sg2_64.pkl"), "--out",
                 str(models / "x")]) == 2
    err = capsys.readouterr().err
    assert "cannot be rebuilt" in err and "warp_drive" in err and err.count("\n") == 1
    assert list(models.iterdir()) == []
    # a model folder whose [arch] was edited the same way is refused by the store
    from live.store import ModelError
    from live.stylegan.importer import folder_network

    with pytest.raises(ModelError, match="bad \\[arch\\]"):
        folder_network("stylegan2", {"arch": {"z_dim": 8, "w_dim": 8, "c_dim": 0,
                                              "img_resolution": 16, "img_channels": 3,
                                              "warp_drive": 9}}, tmp_path / "model.toml")
    with pytest.raises(ModelError, match="img_resolution"):
        folder_network("stylegan2", {"arch": {"img_resolution": 1 << 20}},
                       tmp_path / "model.toml")

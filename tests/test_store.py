import pytest
import torch

from live.nets.gan import GANConfig, Generator
from live.store import ModelError, list_models, load_generator, resolve, save_model

TINY = GANConfig(z_dim=16, w_dim=32, mapping_layers=2, resolution=16, channel_base=64,
                 channel_max=16)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    gen = Generator(TINY).eval()
    gen.update_w_avg(64)
    save_model(tmp_path / "tiny", "gan", gen, {"description": "a tiny test generator"})
    return gen, tmp_path


def test_save_load_round_trip_is_exact(saved):
    gen, models = saved
    loaded = load_generator("tiny", models)
    assert loaded.trained and loaded.name == "tiny"
    z = torch.randn(2, TINY.z_dim)
    with torch.no_grad():
        assert torch.equal(gen(z, 0.7), loaded.module(z, 0.7))
    assert [m.name for m in list_models(models)] == ["tiny"]


def test_corrupt_weights_are_refused_with_the_reason(saved):
    _, models = saved
    weights = models / "tiny" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelError, match="do not match the sha256 in model.toml"):
        load_generator("tiny", models)
    # an older folder (no sha256): safetensors itself finds the damage
    toml = models / "tiny" / "model.toml"
    toml.write_text("\n".join(line for line in toml.read_text().splitlines()
                              if not line.startswith("sha256")))
    with pytest.raises(ModelError, match="not a valid safetensors file"):
        load_generator("tiny", models)


def test_mismatched_architecture_is_refused(saved):
    _, models = saved
    toml = models / "tiny" / "model.toml"
    toml.write_text(toml.read_text().replace("w_dim = 32", "w_dim = 48"))
    with pytest.raises(ModelError, match="needs"):
        load_generator("tiny", models)


def test_wrong_kind_is_refused(saved):
    _, models = saved
    toml = models / "tiny" / "model.toml"
    toml.write_text(toml.read_text().replace('kind = "gan"', 'kind = "char-rnn"'))
    with pytest.raises(ModelError, match="cannot be used here"):
        load_generator("tiny", models)


def test_unknown_model_lists_the_known_ones(saved):
    _, models = saved
    with pytest.raises(ModelError, match=r"unknown model 'nope'.*known: tiny"):
        resolve("nope", models)


def test_missing_default_gan_stands_in_with_untrained_weights(tmp_path):
    loaded = load_generator("default-gan", tmp_path / "empty")
    assert not loaded.trained and "untrained" in loaded.name
    with torch.no_grad():
        image = loaded.module(torch.randn(4, loaded.module.latent_dim), 0.8)
    assert image.shape[-1] == loaded.module.resolution
    assert 0.2 < float(image.std()) < 1.0  # spans the picture without clipping flat


def test_extra_tensors_round_trip_and_nan_is_refused(tmp_path):
    gen = Generator(TINY).eval()
    directions = torch.nn.functional.normalize(torch.randn(4, TINY.w_dim), dim=1)
    save_model(tmp_path / "pca", "gan", gen, {}, {"directions": directions})
    loaded = load_generator("pca", tmp_path)
    assert torch.equal(loaded.extra["directions"], directions) and loaded.kind == "gan"
    save_model(tmp_path / "nan", "gan", gen, {}, {"directions": directions * float("nan")})
    with pytest.raises(ModelError, match="NaN"):
        load_generator("nan", tmp_path)


def test_an_interrupted_save_leaves_the_previous_folder_loadable(saved, monkeypatch):
    import live.store as store

    gen, models = saved

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store, "serialize", crash)
    with pytest.raises(OSError):
        save_model(models / "tiny", "gan", Generator(TINY), {"description": "new"})
    loaded = load_generator("tiny", models)
    z = torch.randn(1, TINY.z_dim)
    with torch.no_grad():
        assert torch.equal(gen(z), loaded.module(z))


def test_save_writes_the_sha256_and_ordinary_permissions(saved):
    import hashlib
    import os
    import tomllib

    _, models = saved
    folder = models / "tiny"
    meta = tomllib.loads((folder / "model.toml").read_text())
    assert meta["sha256"] == hashlib.sha256((folder / "model.safetensors").read_bytes()
                                            ).hexdigest()
    mask = os.umask(0o022)
    os.umask(mask)
    # safetensors' own writer makes 0600 files; a model folder is shared like any file
    assert (folder / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~mask
    assert not list(folder.glob("*.tmp"))


def test_an_older_folder_without_sha256_loads_with_one_warning(saved, caplog):
    import logging

    _, models = saved
    toml = models / "tiny" / "model.toml"
    toml.write_text("\n".join(line for line in toml.read_text().splitlines()
                              if not line.startswith("sha256")))
    with caplog.at_level(logging.WARNING):
        assert load_generator("tiny", models).trained
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no sha256 in model.toml" in warnings[0]


def test_a_fifo_model_toml_is_refused_without_blocking(saved):
    import os

    _, models = saved
    toml = models / "tiny" / "model.toml"
    toml.unlink()
    os.mkfifo(toml)
    with pytest.raises(ModelError, match="FIFO"):
        load_generator("tiny", models)
    assert list_models(models) == []  # listed folders skip it too, without blocking


def test_the_shipped_models_carry_a_matching_sha256(repo):
    from live.store import load_model

    for name in ("default-gan", "default-vae", "default-rnn"):
        loaded = load_model(name, repo / "models")
        assert len(loaded.meta["sha256"]) == 64, name

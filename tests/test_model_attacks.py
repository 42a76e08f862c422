"""Model folders tampered with as a careless user or a hostile one would: each is refused at
load with the reason, ``live run`` exits 2 with one line, and at run time the show goes on.

Every case starts from a copy of the shipped default GAN, so the attacks hit a real model.
Tampered weights are re-hashed into model.toml where the attack is on the content (a 1-D
``extra.directions``), so the refusal comes from the check meant for it, not the checksum.
"""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from live.cli import _prepare
from live.config import OscConfig, OscQueryConfig
from live.control.surface import ControlSurface
from live.engine import Engine
from live.store import ModelError, load_generator, load_model, write_weights
from tests.conftest import run_while, wait_for


def copy_gan(repo: Path, models: Path, name: str, shipped: str = "default-gan") -> Path:
    """A copy of a shipped model (weights and model.toml only) under ``models``."""
    folder = models / name
    folder.mkdir(parents=True)
    for file in ("model.toml", "model.safetensors"):
        shutil.copy(repo / "models" / shipped / file, folder / file)
    return folder


def set_toml(folder: Path, key: str, value: str) -> None:
    """Replace the line ``key = ...`` of model.toml with ``key = value`` (TOML text)."""
    toml = folder / "model.toml"
    text, count = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", toml.read_text())
    assert count == 1, key
    toml.write_text(text)


def rewrite_weights(folder: Path, change) -> None:
    """Apply ``change(tensors)`` to the weights and record their new sha256, as a tool that
    writes its own model folders would."""
    tensors = load_file(folder / "model.safetensors")
    change(tensors)
    digest = write_weights(folder / "model.safetensors", tensors)
    set_toml(folder, "sha256", f'"{digest}"')


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    return folder


def one_d_directions(tensors: dict) -> None:
    tensors["extra.directions"] = tensors["extra.directions"][0].contiguous()


def test_the_shipped_copy_loads_and_checks_its_sha256(repo, models):
    copy_gan(repo, models, "good")
    loaded = load_model("good", models)
    assert loaded.extra["directions"].shape == (16, 256)
    assert re.fullmatch(r"[0-9a-f]{64}", loaded.meta["sha256"])


@pytest.mark.parametrize("key, value, reason", [
    ("z_dim", "0", r"z_dim must be in \[1, 4096\], got 0"),
    ("z_dim", "-5", r"z_dim must be in \[1, 4096\], got -5"),
    ("z_dim", '"x"', r"z_dim must be an integer, got 'x'"),
    ("z_dim", "4000000000", r"z_dim must be in \[1, 4096\], got 4000000000"),
    ("z_dim", "128.0", r"z_dim must be an integer"),
    ("z_dim", "true", r"z_dim must be an integer"),
    ("resolution", "7", r"resolution must be in \[8, 1024\], got 7"),
    ("resolution", "1048576", r"resolution must be in \[8, 1024\], got 1048576"),
    ("resolution", "96", r"resolution must be a power of two, got 96"),
    ("w_dim", "[1, 2]", r"w_dim must be an integer"),
    ("mapping_layers", "0", r"mapping_layers must be in"),
    ("channel_base", "0", r"channel_base must be in"),
    ("channel_max", "99999999", r"channel_max must be in"),
])
def test_bad_arch_values_are_refused_with_the_reason(repo, models, key, value, reason):
    folder = copy_gan(repo, models, "bad")
    set_toml(folder, key, value)
    with pytest.raises(ModelError, match=r"model\.toml: bad \[arch\]: " + reason):
        load_generator("bad", models)


@pytest.mark.parametrize("shipped, key, value, reason", [
    ("default-vae", "latent_dim", "0", r"latent_dim must be in \[1, 4096\], got 0"),
    ("default-vae", "resolution", "1048576", r"resolution must be in \[8, 1024\]"),
    ("default-vae", "beta", '"x"', r"beta must be a number, got 'x'"),
    ("default-vae", "beta", "nan", r"beta must be in \[0.0, 1000000.0\], got nan"),
    ("default-rnn", "hidden", "4000000000", r"hidden must be in \[1, 8192\]"),
    ("default-rnn", "layers", "-5", r"layers must be in \[1, 16\], got -5"),
    ("default-rnn", "vocab", "5", r"vocab must be a string of characters, got 5"),
    ("default-rnn", "dropout", '"x"', r"dropout must be a number"),
    ("default-rnn", "cell", "[1]", r"cell must be one of"),
])
def test_bad_arch_values_of_every_kind_are_refused(repo, models, shipped, key, value, reason):
    folder = copy_gan(repo, models, "bad", shipped)
    set_toml(folder, key, value)
    with pytest.raises(ModelError, match=r"model\.toml: bad \[arch\]: " + reason):
        load_model("bad", models)


def test_a_vae_with_1d_directions_is_refused(repo, models):
    rewrite_weights(copy_gan(repo, models, "bad", "default-vae"), one_d_directions)
    with pytest.raises(ModelError, match=r"extra\.directions is \(128,\), must be \(k, D\) "
                                         r"with D = 128"):
        load_generator("bad", models)


def test_a_char_rnn_with_extra_tensors_is_refused(repo, models):
    folder = copy_gan(repo, models, "bad", "default-rnn")
    rewrite_weights(folder, lambda t: t.update({"extra.directions": torch.zeros(2, 4)}))
    with pytest.raises(ModelError, match="a char-rnn model has none"):
        load_model("bad", models)


def test_an_absurd_architecture_is_refused_before_anything_is_allocated(repo, models):
    # every value within its own cap, together terabytes of weights: measured on the meta
    # device, so the refusal costs no memory
    folder = copy_gan(repo, models, "huge")
    set_toml(folder, "resolution", "1024")
    set_toml(folder, "channel_base", "1048576")
    set_toml(folder, "channel_max", "4096")
    with pytest.raises(ModelError, match=r"bytes of weights, more than the 2,147,483,648-byte "
                                         r"limit"):
        load_generator("huge", models)


@pytest.mark.parametrize("change, reason", [
    (one_d_directions, r"extra\.directions is \(256,\), must be \(k, D\) with D = 256"),
    (lambda t: t.update({"extra.directions": t["extra.directions"][:, :100].contiguous()}),
     r"extra\.directions is \(16, 100\), must be \(k, D\) with D = 256"),
    (lambda t: t.update({"extra.directions": torch.zeros(0, 256)}),
     r"extra\.directions is \(0, 256\)"),
    (lambda t: t.update({"extra.directions": t["extra.directions"].double()}),
     r"extra\.directions is torch\.float64, must be torch\.float32"),
    (lambda t: t.update({"extra.latent_std": t["extra.latent_std"].half()}),
     r"extra\.latent_std is torch\.float16"),
    (lambda t: t.update({"extra.direction_std": torch.ones(15)}),
     r"extra\.direction_std is \(15,\), must be \(k,\)"),
    (lambda t: t["extra.latent_mean"].__setitem__(3, float("nan")),
     r"extra\.latent_mean holds NaN or infinite values"),
    (lambda t: t["extra.directions"].__setitem__((0, 0), float("inf")),
     r"extra\.directions holds NaN or infinite values"),
    (lambda t: t["extra.direction_std"].__setitem__(0, -1.0),
     r"extra\.direction_std holds negative spreads"),
    (lambda t: t.update({"extra.backdoor": torch.zeros(4)}), r"unknown tensor extra\.backdoor"),
    (lambda t: t.pop("extra.directions"), r"extra\.direction_std without a 2-D extra\.directions"),
    (lambda t: t.update({"w_avg": t["w_avg"].double()}), r"w_avg is \(256,\) torch\.float64"),
])
def test_bad_extra_tensors_are_refused_with_the_reason(repo, models, change, reason):
    folder = copy_gan(repo, models, "bad")
    rewrite_weights(folder, change)
    with pytest.raises(ModelError, match=reason):
        load_generator("bad", models)


def test_flipped_bytes_in_the_weights_are_refused_by_the_sha256(repo, models):
    folder = copy_gan(repo, models, "flipped")
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    header = 8 + int.from_bytes(data[:8], "little")
    rng = random.Random(0)
    for offset in rng.sample(range(header, len(data)), 2000):  # tensor bytes, header intact
        data[offset] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="weights do not match the sha256 in model.toml: "
                                         "file changed or corrupt"):
        load_generator("flipped", models)


def test_a_sha256_that_is_not_one_is_refused(repo, models):
    folder = copy_gan(repo, models, "bad")
    set_toml(folder, "sha256", "5")
    with pytest.raises(ModelError, match="sha256 must be 64 hex digits"):
        load_generator("bad", models)


def test_weights_that_are_not_a_regular_file_are_refused(repo, models):
    folder = copy_gan(repo, models, "zero")
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").symlink_to("/dev/zero")
    with pytest.raises(ModelError, match="not a regular file"):
        load_generator("zero", models)


def test_weights_above_the_size_cap_are_refused_before_reading(repo, models, monkeypatch):
    import live.store as store

    weights = copy_gan(repo, models, "big") / "model.safetensors"
    limit = weights.stat().st_size + 1000  # the architecture fits, the file does not
    with open(weights, "ab") as out:
        out.write(bytes(2000))
    monkeypatch.setattr(store, "WEIGHTS_MAX_BYTES", limit)
    with pytest.raises(ModelError, match=f"model.safetensors: refused: .* bytes, more than the "
                                         f"{limit:,}-byte limit"):
        load_generator("big", models)


def test_an_oversized_model_toml_is_refused(repo, models):
    folder = copy_gan(repo, models, "padded")
    with open(folder / "model.toml", "a") as toml:
        toml.write("# " + "x" * (2 * 1024 * 1024) + "\n")
    with pytest.raises(ModelError, match="limit"):
        load_generator("padded", models)


# ------------------------------------------------------------------------------ at run time
@pytest.fixture
def show(small_config, tmp_path: Path, repo: Path, models: Path):
    """A headless show on scene a (default GAN) whose scene b names the model ``bad``."""
    copy_gan(repo, models, "default-gan")
    rewrite_weights(copy_gan(repo, models, "bad"), one_d_directions)
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    shutil.copy(repo / "scenes" / "default.toml", scenes / "a.toml")
    (scenes / "b.toml").write_text('model = "bad"\ntransition = 0.5\nquantize = false\n'
                                   "[fx]\nhue = 90.0\n")
    cfg = replace(small_config, osc=OscConfig(enabled=False),
                  oscquery=OscQueryConfig(enabled=False),
                  paths=replace(small_config.paths, scenes=str(scenes), models=str(models)))
    scene, model, choice = _prepare(cfg, "a", None)
    engine = Engine(cfg, model, choice, scene, headless=True)
    surface = ControlSurface(cfg, engine)
    yield engine, surface
    surface.close()


def test_switching_to_a_refused_model_keeps_rendering_and_applies_the_scene(show, caplog):
    engine, surface = show
    caplog.set_level(logging.INFO)
    surface.start()

    def actions():
        # the start-up prefetch meets the bad model first: it must finish, not die
        assert surface.prefetched.wait(120)
        assert wait_for(lambda: engine.frames.count > 3, timeout=60)
        engine.bus.trigger("scene.go", text="b")
        assert wait_for(lambda: engine.scene.name == "b", timeout=60)
        seen = engine.frames.count
        assert wait_for(lambda: engine.frames.count > seen + 5, timeout=60)

    run_while(engine, actions)
    assert engine.scene.name == "b" and engine.switches == 1
    assert engine.bus.get("fx.hue") == 90.0  # the scene's values came in
    assert engine.model_name == "default-gan"  # the picture stayed on the old model
    refusals = [r.getMessage() for r in caplog.records if "model bad not loaded" in r.getMessage()]
    assert refusals and "extra.directions is (256,)" in refusals[0]


def test_the_prefetch_survives_a_model_that_fails_to_prepare(show, caplog, monkeypatch):
    engine, surface = show
    caplog.set_level(logging.INFO)
    # passed every check, then failed on the device: anything, not only ModelError
    (Path(surface.cfg.path("scenes")) / "b.toml").write_text('model = "default-vae"\n')
    shutil.copytree(Path(__file__).parent.parent / "models" / "default-vae",
                    Path(surface.cfg.path("models")) / "default-vae")

    def broken(_model):
        raise RuntimeError("CUDA error: out of memory")

    monkeypatch.setattr(engine, "prepare_in_background", broken)
    surface.start()
    assert surface.prefetched.wait(120)
    assert any("model default-vae not loaded: RuntimeError: CUDA error: out of memory"
               in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("attack", ["one_d_directions", "z_dim_string", "flipped"])
def test_live_run_with_a_refused_model_exits_2_with_one_line(repo, models, attack):
    folder = copy_gan(repo, models, "bad")
    if attack == "one_d_directions":
        rewrite_weights(folder, one_d_directions)
    elif attack == "z_dim_string":
        set_toml(folder, "z_dim", '"x"')
    else:
        data = bytearray((folder / "model.safetensors").read_bytes())
        data[-5000:-3000] = bytes(b ^ 0xFF for b in data[-5000:-3000])
        (folder / "model.safetensors").write_bytes(bytes(data))
    proc = subprocess.run(
        [sys.executable, "-m", "live", "run", "--headless", "--frames", "2",
         "--model", str(folder)],
        cwd=repo, capture_output=True, text=True, timeout=300,
        env={**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("live: "), proc.stderr
    assert "model" in lines[0]

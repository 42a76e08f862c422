"""The VAE: network, training (single process, resume, DDP), model folder, sample, eval, engine."""

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pygame
import pytest
import torch
from safetensors.torch import load_file

import live.train.vae as vae_trainer
from live.cli import main
from live.nets.vae import VAE, VAEConfig, kl_divergence
from live.store import ModelError, load_model, save_model
from live.train.procedural import composition, generate
from live.train.vae import fit_prior, reconstruction_loss
from tests.conftest import free_port

TINY = VAEConfig(latent_dim=8, resolution=16, channel_base=128, channel_max=32,
                 enc_channel_base=128, enc_channel_max=32)
TINY_ARGS = ["--size", "16", "--latent", "8", "--channel-base", "128", "--channel-max", "32",
             "--enc-channel-base", "128", "--batch", "4", "--threads", "1"]


def train_args(images, out, steps, *extra):
    return ["train", "vae", "--images", str(images), "--out", str(out), "--steps", str(steps),
            *TINY_ARGS, *extra]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks run fastest on one thread; `--threads 1` must not leak to other tests."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    generate(folder, 12, 16, seed=3)
    return folder


@pytest.fixture(scope="module")
def trained(pictures, tmp_path_factory):
    """A tiny model folder written by `live train vae`."""
    out = tmp_path_factory.mktemp("models") / "tiny-vae"
    assert main(train_args(pictures, out, 12, "--checkpoint-every", "6")) == 0
    return out


def test_tiny_vae_learns_a_few_pictures():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(np.stack([composition(16, rng) for _ in range(8)]))
    x = x.permute(0, 3, 1, 2).float() / 127.5 - 1.0
    vae = VAE(TINY)
    opt = torch.optim.AdamW(vae.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        recon, mu, logvar = vae(x)
        loss = (reconstruction_loss(recon, x) + TINY.beta * kl_divergence(mu, logvar)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.75 * np.mean(losses[:5])


def test_decode_takes_the_engine_inputs_and_bake_changes_nothing():
    torch.manual_seed(1)
    vae = VAE(TINY).eval()
    fit_prior(vae, torch.randn(64, TINY.latent_dim) * 0.5 + 1.0)
    u = torch.randn(2, TINY.latent_dim)
    with torch.no_grad():
        eager = vae.decode(u, torch.tensor(0.7))  # a 0-d tensor, as the engine traces it
        baked = vae.bake().decode(u, 0.7)
        mean_picture = vae.decode(u, 0.0)
        expected_mean = vae.synthesis(vae.code_mean[None].expand(2, -1))
    assert eager.shape == (2, 3, 16, 16)
    assert torch.allclose(eager, baked, atol=1e-5)
    assert torch.allclose(mean_picture, expected_mean, atol=1e-5)  # truncation 0: the mean


def test_fitted_prior_makes_standard_normal_latents_match_the_codes():
    torch.manual_seed(2)
    vae = VAE(TINY)
    codes = torch.randn(4000, TINY.latent_dim) @ torch.randn(TINY.latent_dim, TINY.latent_dim)
    codes = codes * 0.3 + 2.0
    extra = fit_prior(vae, codes)
    drawn = vae.to_code(torch.randn(4000, TINY.latent_dim))
    assert torch.allclose(drawn.mean(0), codes.mean(0), atol=0.1)
    assert torch.allclose(torch.cov(drawn.t()), torch.cov(codes.t()), atol=0.15)
    # in the sampling space the codes are white: mean 0, std 1, principal axes first
    assert torch.allclose(extra["latent_mean"], torch.zeros(TINY.latent_dim), atol=1e-4)
    assert torch.allclose(extra["latent_std"], torch.ones(TINY.latent_dim), atol=1e-3)
    assert torch.equal(extra["directions"], torch.eye(TINY.latent_dim))
    assert torch.allclose(extra["direction_std"], torch.ones(TINY.latent_dim), atol=1e-3)
    # axis 0 of the sampling space is the codes' first principal direction
    _, _, v_t = torch.linalg.svd(codes - codes.mean(0), full_matrices=False)
    axis0 = vae.code_basis[:, 0] / vae.code_basis[:, 0].norm()
    assert abs(float(axis0 @ v_t[0])) > 0.999


def test_training_writes_a_complete_model_folder(trained):
    names = sorted(p.name for p in trained.iterdir())
    assert names == ["loss.png", "model.safetensors", "model.toml", "reconstructions.png",
                     "samples.png"]  # the checkpoint is gone once the run completes
    loaded = load_model(str(trained), trained.parent)
    assert loaded.kind == "vae" and loaded.meta["steps"] == 12
    assert loaded.meta["command"].startswith("live train vae --images ")
    metrics = loaded.meta["metrics"]
    assert metrics["val_mse"] > 0 and metrics["decode_ms_cpu"] > 0
    assert loaded.meta["data"]["pictures"] == 12 and loaded.meta["data"]["validation"] == 1
    assert {"latent_mean", "latent_std", "directions", "direction_std"} <= set(loaded.extra)


def test_save_load_round_trip_gives_identical_decodes(tmp_path):
    torch.manual_seed(3)
    vae = VAE(TINY).eval()
    extra = fit_prior(vae, torch.randn(100, TINY.latent_dim) * 2)
    save_model(tmp_path / "rt", "vae", vae, {"description": "round trip"}, extra)
    loaded = load_model("rt", tmp_path)
    u = torch.randn(3, TINY.latent_dim)
    with torch.no_grad():
        assert torch.equal(vae.decode(u, 0.8), loaded.module.decode(u, 0.8))
    assert loaded.module.cfg == TINY
    assert torch.equal(loaded.extra["directions"], extra["directions"])


def test_corrupt_or_mismatched_files_are_refused(trained, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(ModelError, match="do not match the sha256"):
        load_model("broken", tmp_path)
    other = tmp_path / "other"
    shutil.copytree(trained, other)
    toml = other / "model.toml"
    toml.write_text(toml.read_text().replace("latent_dim = 8", "latent_dim = 12"))
    with pytest.raises(ModelError, match="needs"):
        load_model("other", tmp_path)


def test_live_sample_writes_a_picture_grid(trained, tmp_path):
    out = tmp_path / "grid.png"
    assert main(["sample", str(trained), "--out", str(out), "--n", "4", "--seed", "5"]) == 0
    grid = pygame.surfarray.array3d(pygame.image.load(str(out)))
    assert grid.shape == (2 + 2 * 18, 2 + 2 * 18, 3)  # 2x2 pictures of 16 with 2 px gaps
    tiles = [grid[2 + 18 * c:18 + 18 * c, 2 + 18 * r:18 + 18 * r] for r in (0, 1) for c in (0, 1)]
    assert all(tile.std() > 0 for tile in tiles)
    assert not np.array_equal(tiles[0], tiles[1])  # different latents, different pictures


def test_live_eval_scores_the_held_out_split(trained, pictures, capsys):
    import json

    assert main(["eval", str(trained), "--images", str(pictures), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "vae" and result["pictures"] == 1
    assert result["val_mse"] > 0 and result["val_kl_nats"] >= 0 and result["val_psnr_db"] > 0


def test_live_eval_without_images_says_so(trained, capsys):
    assert main(["eval", str(trained)]) == 2
    assert "--images" in capsys.readouterr().err


def test_interrupted_training_resumes_exactly(pictures, tmp_path, monkeypatch):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    assert main(train_args(pictures, straight, 4, "--checkpoint-every", "2")) == 0

    real_save = vae_trainer.save_checkpoint

    def save_then_die(path, modules, optimizers, meta):
        real_save(path, modules, optimizers, meta)
        raise KeyboardInterrupt  # power cut right after the first checkpoint

    monkeypatch.setattr(vae_trainer, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        main(train_args(pictures, interrupted, 4, "--checkpoint-every", "2"))
    monkeypatch.setattr(vae_trainer, "save_checkpoint", real_save)
    assert main(train_args(pictures, interrupted, 4, "--checkpoint-every", "2", "--resume")) == 0

    meta = load_model(str(interrupted), tmp_path).meta
    assert meta["steps"] == 4 and len(meta["commands"]) == 2
    a = load_file(str(straight / "model.safetensors"))
    b = load_file(str(interrupted / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key


def test_resume_without_checkpoint_is_an_error(pictures, tmp_path):
    with pytest.raises(SystemExit, match="no checkpoint"):
        main(train_args(pictures, tmp_path / "new", 2, "--resume"))



def test_two_process_ddp_run_completes_and_only_rank0_writes(pictures, tmp_path):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               f"--master_port={free_port()}", "-m", "live",
               *train_args(pictures, out, 2, "--device", "cpu")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == [
        "loss.png", "model.safetensors", "model.toml", "reconstructions.png", "samples.png"]
    meta = load_model(str(out), tmp_path).meta
    assert meta["batch"] == 8  # 2 ranks x 4
    assert done.stderr.count("wrote ") == 1  # one rank reported writing the folder


def test_engine_renders_a_vae_folder(trained, small_config):
    from live.cli import _prepare
    from live.engine import Engine

    assert main(["run", "--headless", "--frames", "5", "--model", str(trained),
                 "--set", "display.size=[96, 54]"]) == 0
    scene, model, choice = _prepare(small_config, None, str(trained))
    assert model.trained and "directions" in model.extra
    # the neural layer alone, at the default colour controls (no scene's grade or ISF layers)
    scene = replace(scene, values={}, maps=(), layers=())
    engine = Engine(small_config, model, choice, scene, headless=True)
    assert engine.source_res == 16
    assert engine.run(5) == 5
    # twelve steps of training decode a near-flat picture (values within 0.01 of 0): the
    # output is that grey at the output size, not black or an error colour
    assert engine.display.host.shape == (180, 320, 3)
    assert abs(float(engine.display.host.mean()) - 127.5) < 3

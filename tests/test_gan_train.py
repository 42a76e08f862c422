"""GAN training end to end on tiny data: losses, checkpoints, resume, DDP, folder, sample."""

import argparse
import hashlib
import logging
import os
import subprocess
import sys
import tomllib

import numpy as np
import pygame
import pytest
import torch

from live.cli import build_parser, main
from live.store import load_model
from live.train.procedural import composition
from tests.conftest import free_port

TINY = ["--size", "16", "--batch", "8", "--channel-base", "64", "--channel-max", "32",
        "--z-dim", "16", "--w-dim", "32"]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    for i in range(24):
        image = composition(16, np.random.default_rng(i))
        pygame.image.save(pygame.surfarray.make_surface(image.transpose(1, 0, 2)),
                          str(folder / f"p{i:02d}.png"))
    (folder / "broken.png").write_bytes(b"\x89PNG but not really")
    return folder


def train(pictures, out, *extra):
    return main(["train", "gan", "--images", str(pictures), "--out", str(out), *TINY, *extra])


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_training_writes_a_complete_model_folder(pictures, tmp_path, caplog):
    out = tmp_path / "gan"
    with caplog.at_level(logging.INFO):
        assert train(pictures, out, "--steps", "40", "--checkpoint-every", "20") == 0
    # model files are ordinary files: the usual permissions (0644 under umask 022), not 0600
    for name in ("model.safetensors", "model.toml", "checkpoint.safetensors"):
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~current_umask(), name
    wrote = [r.getMessage() for r in caplog.records if "diversity ratio" in r.getMessage()]
    assert len(wrote) == 1 and "near 1 is as varied as the data" in wrote[0]
    assert "mode collapse" in wrote[0]
    for name in ("model.safetensors", "model.toml", "samples.png", "loss.png",
                 "checkpoint.safetensors"):
        assert (out / name).exists(), name
    meta = tomllib.loads((out / "model.toml").read_text())
    assert meta["kind"] == "gan" and meta["steps"] == 40
    assert meta["command"].startswith("live train gan --images")
    assert meta["data"]["pictures"] == 24 and meta["data"]["skipped"] == 1
    assert meta["sha256"] == hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    sidecar = tomllib.loads((out / "checkpoint.toml").read_text())
    assert sidecar["sha256"] == hashlib.sha256(
        (out / "checkpoint.safetensors").read_bytes()).hexdigest()
    loaded = load_model(str(out), tmp_path)
    assert loaded.extra["directions"].shape == (16, 32)
    assert torch.allclose(loaded.extra["directions"].norm(dim=1), torch.ones(16), atol=1e-4)


def test_discriminator_learns_in_the_first_steps(pictures, tmp_path):
    out = tmp_path / "gan"
    train(pictures, out, "--steps", "60", "--checkpoint-every", "60")
    sidecar = tomllib.loads((out / "checkpoint.toml").read_text())
    losses = [value for _, value in sidecar["meta"]["history"]["loss_d"]]
    # 2 ln 2 = 1.386 is a discriminator that cannot tell; it must do better than chance
    assert np.mean(losses[-3:]) < 2 * np.log(2)


def test_resume_continues_from_the_checkpoint_step(pictures, tmp_path):
    out = tmp_path / "gan"
    train(pictures, out, "--steps", "10", "--checkpoint-every", "10")
    assert train(pictures, out, "--steps", "14", "--resume") == 0
    meta = tomllib.loads((out / "model.toml").read_text())
    assert meta["steps"] == 14 and len(meta["commands"]) == 2


def test_resume_refuses_a_checkpoint_that_changed(pictures, tmp_path):
    out = tmp_path / "gan"
    train(pictures, out, "--steps", "4", "--checkpoint-every", "4")
    weights = out / "checkpoint.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100:] = bytes(b ^ 0xFF for b in data[-100:])
    weights.write_bytes(bytes(data))
    with pytest.raises(SystemExit, match="--resume: .*checkpoint.safetensors: weights do not "
                                         "match the sha256"):
        train(pictures, out, "--steps", "8", "--resume")


def test_a_bad_size_is_refused_before_the_pictures_load(tmp_path):
    with pytest.raises(SystemExit, match="resolution must be a power of two, got 96"):
        main(["train", "gan", "--images", str(tmp_path / "none"), "--out",
              str(tmp_path / "gan"), "--size", "96"])


def train_parser(kind: str) -> argparse.ArgumentParser:
    def subparsers(parser):
        return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))

    return subparsers(subparsers(build_parser()).choices["train"]).choices[kind]


@pytest.mark.parametrize("kind", ["gan", "vae", "rnn"])
def test_every_train_option_says_what_it_does_and_its_default(kind, capsys):
    parser = train_parser(kind)
    with pytest.raises(SystemExit):
        main(["train", kind, "--help"])
    shown = " ".join(capsys.readouterr().out.split())  # unwrapped
    for action in parser._actions:
        assert action.help, action.option_strings
        has_default = (action.nargs != 0 and action.default not in (None, "", [])
                       and action.default is not argparse.SUPPRESS)
        if has_default and "default" not in action.help:
            assert f"(default: {action.default})" in shown, action.option_strings
    if kind == "gan":  # the figure the trainer prints at the end, explained where it is asked
        assert "diversity ratio" in shown and "mode collapse" in shown


def test_sample_and_eval(pictures, tmp_path, capsys):
    out = tmp_path / "gan"
    train(pictures, out, "--steps", "4")
    grid = tmp_path / "grid.png"
    assert main(["sample", str(out), "--out", str(grid), "--n", "4"]) == 0
    pixels = pygame.surfarray.array3d(pygame.image.load(str(grid)))
    assert pixels.std() > 1
    capsys.readouterr()
    assert main(["eval", str(out), "--json", "--images", str(pictures)]) == 0
    assert '"diversity_ratio"' in capsys.readouterr().out



def test_two_process_gloo_run_completes_and_only_rank_0_writes(pictures, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
         f"--master_port={free_port()}", "-m", "live", "train", "gan",
         "--images", str(pictures), "--out", str(out), *TINY, "--steps", "3",
         "--device", "cpu"],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "model.safetensors").exists()
    assert proc.stderr.count("wrote ") == 1  # one writer

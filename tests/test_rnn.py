"""The char-RNN: text loading, training, resume, model folders, sampling, DDP."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from live.cli import main as live_main
from live.nets.char_rnn import CharRNN, CharRNNConfig
from live.store import ModelError, load_model, save_model
from live.train import rnn
from live.train.text import build_vocab, decode, encode, load_corpus, read_text, split
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[1]
SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
PANGRAM = "the quick brown fox jumps over the lazy dog.\nTHE END, said she; then: again!\n"


def tiny_model(cell: str = "lstm", vocab: str = PANGRAM, seed: int = 0) -> CharRNN:
    torch.manual_seed(seed)
    cfg = CharRNNConfig(vocab=build_vocab(vocab), cell=cell, hidden=24, layers=2,
                        dropout=0.0, embedding=8)
    return CharRNN(cfg).eval()


def train(text_file: Path, out: Path, *extra: str) -> int:
    return live_main(["train", "rnn", "--text", str(text_file), "--out", str(out),
                      "--hidden", "24", "--embedding", "8", "--batch", "4", "--seq-len", "16",
                      "--threads", "1", "--sample-chars", "50", *extra])


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "pangrams.txt"
    path.write_text(PANGRAM * 40, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- text
def test_text_loader_rejects_binary_and_empty_files(tmp_path: Path):
    binary = tmp_path / "picture.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 au lait".encode("latin-1"))
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"picture\.png: binary file"):
        read_text(binary)
    with pytest.raises(ValueError, match=r"latin1\.txt: not UTF-8 text"):
        read_text(latin1)
    with pytest.raises(ValueError, match=r"empty\.txt: empty file"):
        read_text(empty)


def test_training_on_a_binary_file_is_a_clear_error(tmp_path: Path, caplog):
    binary = tmp_path / "weights.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    assert train(binary, tmp_path / "out", "--steps", "2") == 2
    assert "weights.bin: binary file" in caplog.text
    assert not (tmp_path / "out" / "model.toml").exists()


def test_split_is_first_90_percent_train_last_10_percent_val(tmp_path: Path):
    train_ids, val_ids = split(torch.arange(1000))
    assert train_ids.tolist() == list(range(900)) and val_ids.tolist() == list(range(900, 1000))
    path = tmp_path / "t.txt"
    path.write_text("abcdefghij" * 100, encoding="utf-8")
    corpus = load_corpus(path)
    assert (len(corpus.train), len(corpus.val)) == (900, 100)
    assert decode(corpus.val[:10], corpus.vocab) == "abcdefghij"


def test_encode_decode_round_trip_and_unknown_characters():
    vocab = build_vocab(PANGRAM)
    assert decode(encode(PANGRAM, vocab), vocab) == PANGRAM
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        encode("zebra #1", vocab)


@pytest.mark.skipif(not SHAKESPEARE.exists(), reason="../shared/data is not here")
def test_tinyshakespeare_split_matches_nanogpt():
    corpus = load_corpus(SHAKESPEARE)
    assert (len(corpus.vocab), len(corpus.train), len(corpus.val)) == (65, 1003854, 111540)


# ---------------------------------------------------------------------------- model
def test_config_refuses_bad_values():
    with pytest.raises(ValueError, match="cell"):
        CharRNNConfig(vocab="ab", cell="transformer")
    with pytest.raises(ValueError, match="vocab"):
        CharRNNConfig(vocab="")
    with pytest.raises(ValueError, match="repeats"):
        CharRNNConfig(vocab="abca")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sampler_steps_match_the_batched_forward(cell: str):
    model = tiny_model(cell)
    idx = torch.randint(0, model.cfg.vocab_size, (1, 40))
    with torch.no_grad():
        expected, state = model(idx)
    sampler = model.sampler()
    got = torch.cat([sampler.step(int(i)) for i in idx[0]])
    torch.testing.assert_close(got, expected[0], rtol=1e-5, atol=1e-5)
    if cell == "lstm":
        torch.testing.assert_close(sampler.state[1], state[1], rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        step_logits, _ = model.step(idx[:, 0])
    torch.testing.assert_close(step_logits, expected[:, 0])


def test_seeded_sampling_is_deterministic():
    model = tiny_model()
    first = model.sampler(seed=7).generate(200)
    assert first == model.sampler(seed=7).generate(200)
    assert first != model.sampler(seed=8).generate(200)
    assert set(first) <= set(model.cfg.vocab)
    greedy = model.sampler(temperature=0.0)
    greedy.feed("the ")
    assert len(greedy.generate(5)) == 5


def test_scoring_in_pieces_with_full_burn_in_equals_one_stream():
    model = tiny_model()
    ids = encode(PANGRAM * 3, model.cfg.vocab)
    exact = rnn.text_loss(model, ids)
    assert rnn.text_loss(model, ids, streams=5, burn_in=len(ids), chunk=7) == pytest.approx(
        exact, rel=1e-5)
    assert rnn.text_loss(model, ids, streams=5, burn_in=0) != pytest.approx(exact, rel=1e-5)


# ---------------------------------------------------------------------------- model folders
def test_save_load_round_trip_gives_identical_logits(tmp_path: Path):
    model = tiny_model()
    save_model(tmp_path / "poet", "char-rnn", model, {"description": "test"})
    loaded = load_model("poet", tmp_path)
    assert loaded.kind == "char-rnn" and loaded.module.cfg == model.cfg
    idx = torch.randint(0, model.cfg.vocab_size, (2, 30))
    with torch.no_grad():
        assert torch.equal(model(idx)[0], loaded.module(idx)[0])


def test_corrupted_or_mismatched_model_folder_is_refused(tmp_path: Path):
    folder = tmp_path / "poet"
    save_model(folder, "char-rnn", tiny_model(), {})
    weights = folder / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelError, match="model.safetensors"):
        load_model("poet", tmp_path)
    weights.write_bytes(good)
    toml_path = folder / "model.toml"
    toml_path.write_text(toml_path.read_text().replace("hidden = 24", "hidden = 32"))
    with pytest.raises(ModelError, match="does not match|needs"):
        load_model("poet", tmp_path)
    toml_path.write_text(toml_path.read_text().replace('cell = "lstm"', 'cell = "tcn"'))
    with pytest.raises(ModelError, match="cell"):
        load_model("poet", tmp_path)


# ---------------------------------------------------------------------------- training
def test_training_lowers_the_loss_and_writes_the_folder(text_file: Path, tmp_path: Path):
    out = tmp_path / "poet"
    assert train(text_file, out, "--steps", "60", "--eval-every", "20", "--lr", "1e-2",
                 "--warmup", "5", "--batch", "16", "--seq-len", "32") == 0
    meta = tomllib.loads((out / "model.toml").read_text())
    assert meta["kind"] == "char-rnn" and meta["steps"] == 60
    assert meta["command"].startswith("live train rnn --text")
    assert meta["data"]["val_chars"] == len(PANGRAM * 40) - int(len(PANGRAM * 40) * 0.9)
    chance = float(torch.log(torch.tensor(27.0)))  # 27 distinct characters
    assert meta["metrics"]["val_loss"] < chance - 0.5
    assert meta["metrics"]["train_loss"] < chance - 0.5
    assert meta["metrics"]["sample_chars_per_s"] > 0
    assert {p.name for p in out.iterdir()} == {"model.safetensors", "model.toml", "loss.png",
                                                "samples.txt"}
    loaded = load_model(str(out), tmp_path)
    result = rnn.evaluate(loaded, argparse.Namespace(text=text_file))
    assert result["val_loss"] == pytest.approx(meta["metrics"]["val_loss"], abs=1e-3)
    assert result["chars"] == meta["data"]["val_chars"]


def test_resume_continues_at_the_right_step_on_the_same_data(text_file: Path, tmp_path: Path,
                                                             caplog):
    caplog.set_level(logging.INFO)
    # 3 steps per epoch (216 train chars, 4 streams of 16): a resume at step 3 starts an epoch,
    # so with constant lr and no dropout it must land on the uninterrupted run's weights
    text_file.write_text((PANGRAM * 4)[:240], encoding="utf-8")
    fixed = ["--dropout", "0", "--warmup", "0", "--lr", "3e-3", "--min-lr", "3e-3",
             "--eval-every", "3", "--checkpoint-every", "3", "--keep-checkpoint"]
    assert train(text_file, tmp_path / "straight", "--steps", "6", *fixed) == 0
    assert train(text_file, tmp_path / "resumed", "--steps", "3", *fixed) == 0
    assert train(text_file, tmp_path / "resumed", "--steps", "6", "--resume", *fixed) == 0
    assert "at step 3" in caplog.text
    sidecar = tomllib.loads((tmp_path / "resumed" / "checkpoint.toml").read_text())
    assert sidecar["meta"]["step"] == 6
    assert [p[0] for p in sidecar["meta"]["history"]["train"]] == [3, 6]
    straight = load_file(tmp_path / "straight" / "model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "model.safetensors")
    for key, value in straight.items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=1e-6)


def test_resume_without_a_checkpoint_is_a_clear_error(text_file: Path, tmp_path: Path, caplog):
    assert train(text_file, tmp_path / "new", "--steps", "2", "--resume") == 2
    assert "no checkpoint to resume from" in caplog.text


def test_eval_needs_a_text_file(tmp_path: Path):
    save_model(tmp_path / "poet", "char-rnn", tiny_model(), {})
    with pytest.raises(ValueError, match="--text"):
        rnn.evaluate(load_model("poet", tmp_path), argparse.Namespace(text=None))


def test_sample_command_writes_seeded_text(tmp_path: Path):
    save_model(tmp_path / "poet", "char-rnn", tiny_model(), {})
    outputs = []
    for name in ("a.txt", "b.txt"):
        assert live_main(["sample", "poet", "--set", f'paths.models="{tmp_path}"', "--out",
                          str(tmp_path / name), "--chars", "120", "--seed", "3"]) == 0
        outputs.append((tmp_path / name).read_text(encoding="utf-8"))
    assert len(outputs[0]) == 120 and outputs[0] == outputs[1]



def test_two_process_ddp_run_on_gloo_completes(text_file: Path, tmp_path: Path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
         f"--master_port={free_port()}", "-m", "live", "train", "rnn", "--text",
         str(text_file), "--out", str(out), "--steps", "3", "--hidden", "16", "--embedding",
         "8", "--batch", "2", "--seq-len", "16", "--eval-every", "3", "--sample-chars", "20",
         "--device", "cpu"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    meta = tomllib.loads((out / "model.toml").read_text())
    assert meta["training"]["processes"] == 2 and meta["steps"] == 3
    assert result.stderr.count(f"wrote {out}") == 1  # only rank 0 writes and reports
    assert sorted(p.name for p in out.iterdir()) == ["loss.png", "model.safetensors",
                                                     "model.toml", "samples.txt"]


# ---------------------------------------------------------------------------- shipped model
@pytest.mark.skipif(not (REPO / "models" / "default-rnn" / "model.toml").exists(),
                    reason="default-rnn not trained yet")
def test_shipped_default_rnn_loads_and_writes_text():
    loaded = load_model("default-rnn", REPO / "models")
    assert loaded.kind == "char-rnn" and loaded.meta["metrics"]["val_loss"] <= 1.50
    text = loaded.module.sampler(seed=1).generate(300)
    assert len(text) == 300 and set(text) <= set(loaded.module.cfg.vocab)

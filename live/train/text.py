"""Text data for the char-RNN: read a UTF-8 file, build its vocabulary, encode and split.

The split is nanoGPT's: the first 90% of the characters train, the last 10% validate, so a
validation loss here means the same text as nanoGPT's ``shakespeare_char`` val loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

VAL_FRACTION = 0.1


def read_text(path: Path) -> str:
    """The file's text; ValueError naming the file for an empty, binary or non-UTF-8 file."""
    data = Path(path).read_bytes()
    if not data:
        raise ValueError(f"{path}: empty file, expected UTF-8 text")
    if b"\x00" in data:
        raise ValueError(f"{path}: binary file (NUL bytes), expected UTF-8 text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None


def build_vocab(text: str) -> str:
    """The distinct characters of ``text``, sorted: index i stands for ``vocab[i]``."""
    return "".join(sorted(set(text)))


def encode(text: str, vocab: str) -> torch.Tensor:
    """Characters -> indices (N,) long; ValueError for characters outside ``vocab``."""
    index = {ch: i for i, ch in enumerate(vocab)}
    try:
        return torch.tensor([index[ch] for ch in text], dtype=torch.long)
    except KeyError:
        unknown = sorted(set(text) - set(index))
        shown = "".join(unknown[:20])
        raise ValueError(f"{len(unknown)} characters are not in the model's vocabulary: "
                         f"{shown!r}") from None


def decode(ids: torch.Tensor | list[int], vocab: str) -> str:
    return "".join(vocab[i] for i in (ids.tolist() if torch.is_tensor(ids) else ids))


def split(ids: torch.Tensor, val_fraction: float = VAL_FRACTION) -> tuple[torch.Tensor,
                                                                         torch.Tensor]:
    """(train, val): the first ``1 - val_fraction`` of the sequence and the rest."""
    cut = int(len(ids) * (1.0 - val_fraction))
    return ids[:cut], ids[cut:]


@dataclass(frozen=True)
class Corpus:
    path: Path
    text: str
    vocab: str
    train: torch.Tensor
    val: torch.Tensor

    def summary(self) -> dict:
        """For model.toml's [data] table."""
        return {"file": self.path.name, "chars": len(self.text), "vocab_size": len(self.vocab),
                "train_chars": len(self.train), "val_chars": len(self.val),
                "split": f"first {1 - VAL_FRACTION:.0%} train, last {VAL_FRACTION:.0%} val"}


def load_corpus(path: Path, vocab: str | None = None) -> Corpus:
    """Read, encode (with ``vocab``, or one built from the file) and split a text file."""
    path = Path(path)
    text = read_text(path)
    if len(text) < 20:
        raise ValueError(f"{path}: only {len(text)} characters, too short to train or score")
    vocab = vocab or build_vocab(text)
    train, val = split(encode(text, vocab))
    return Corpus(path, text, vocab, train, val)

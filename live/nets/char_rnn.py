"""A character-level recurrent language model (LSTM or GRU) for the live text overlay.

Characters are embedded, run through a stack of LSTM (or GRU) layers and projected back to
logits over the vocabulary. The vocabulary itself is part of the config, so a model folder
says which character each index stands for and needs no side file.

Training and evaluation call ``CharRNN.forward`` on whole windows (oneDNN / cuDNN kernels).
Live sampling uses ``Sampler``: one character at a time at batch 1, keeping the hidden state
between calls. At batch 1 the fused module path pays a large per-call cost on the CPU, so the
sampler runs the cell arithmetic itself on weights prepared once (the first layer's input
projection becomes a lookup table, the LSTM gates are reordered so one sigmoid and one tanh
cover them), which makes a step cost little more than reading the recurrent weights once.

Shapes: idx ``(B, T)`` long, logits ``(B, T, V)``; state is ``(h, c)`` for an LSTM and ``h``
for a GRU, each ``(layers, B, hidden)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from live.nets.limits import MAX_HIDDEN, MAX_LAYERS, MAX_VOCAB, check_float, check_int

CELLS = ("lstm", "gru")

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class CharRNNConfig:
    vocab: str
    """The model's characters in index order (index i is ``vocab[i]``)."""
    cell: str = "lstm"
    hidden: int = 448
    layers: int = 2
    dropout: float = 0.25
    """Dropout on the embedding, between layers and before the output projection."""
    embedding: int = 128

    def __post_init__(self) -> None:
        """Refuse any value that would fail deep in a constructor or allocate absurdly."""
        if not isinstance(self.vocab, str):
            raise ValueError(f"vocab must be a string of characters, got {self.vocab!r}")
        if not self.vocab:
            raise ValueError("vocab is empty")
        if len(self.vocab) > MAX_VOCAB:
            raise ValueError(f"vocab has {len(self.vocab)} characters, more than {MAX_VOCAB}")
        if len(set(self.vocab)) != len(self.vocab):
            raise ValueError("vocab repeats a character")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")
        check_int("hidden", self.hidden, 1, MAX_HIDDEN)
        check_int("embedding", self.embedding, 1, MAX_HIDDEN)
        check_int("layers", self.layers, 1, MAX_LAYERS)
        check_float("dropout", self.dropout, 0.0, 1.0)
        if self.dropout >= 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def to_dict(self) -> dict:
        return asdict(self)


class CharRNN(nn.Module):
    def __init__(self, cfg: CharRNNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        rnn_cls = nn.LSTM if cfg.cell == "lstm" else nn.GRU
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embedding)
        self.rnn = rnn_cls(cfg.embedding, cfg.hidden, cfg.layers, batch_first=True,
                           dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, cfg.vocab_size)
        if cfg.cell == "lstm":
            # forget-gate bias 1: remember by default early in training (Jozefowicz et al. 2015)
            for name, bias in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        bias[cfg.hidden:2 * cfg.hidden].fill_(1.0)

    def forward(self, idx: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """idx (B, T) long -> logits (B, T, V), the state after the last character."""
        x = self.drop(self.embed(idx))
        out, state = self.rnn(x, state)
        return self.head(self.drop(out)), state

    def init_state(self, batch: int = 1, device: torch.device | str = "cpu") -> State:
        """The zero state for ``batch`` streams."""
        shape = (self.cfg.layers, batch, self.cfg.hidden)
        h = torch.zeros(shape, device=device)
        return (h, torch.zeros_like(h)) if self.cfg.cell == "lstm" else h

    def step(self, idx: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """One character per stream: idx (B,) long -> logits (B, V), new state.

        Simple and batched; for live sampling at batch 1 use ``Sampler`` (much faster on CPU).
        """
        logits, state = self(idx[:, None], state)
        return logits[:, 0], state

    def sampler(self, temperature: float = 0.8, top_k: int = 0, seed: int = 0,
                top_p: float = 1.0) -> Sampler:
        return Sampler(self, temperature, top_k, seed, top_p)


class Sampler:
    """Batch-1 character generator that keeps its hidden state between calls (CPU, fp32).

    The weights are copied when the sampler is made: make a new one after the model changes.
    ``temperature``, ``top_k`` and ``top_p`` (nucleus sampling: only the likeliest characters
    that together hold this much probability) may be changed between characters. Not
    thread-safe: one sampler per thread.
    """

    def __init__(self, model: CharRNN, temperature: float = 0.8, top_k: int = 0,
                 seed: int = 0, top_p: float = 1.0) -> None:
        cfg = model.cfg
        self.cfg = cfg
        self.vocab = cfg.vocab
        self.index = {ch: i for i, ch in enumerate(cfg.vocab)}
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.rng = np.random.default_rng(seed)
        self.lstm = cfg.cell == "lstm"
        hidden, rnn = cfg.hidden, model.rnn

        def weight(name: str) -> torch.Tensor:
            return getattr(rnn, name).detach().float().cpu()

        # LSTM gate rows are (i, f, g, o); reordered to (i, f, o, g), one sigmoid covers the
        # first three and one tanh the last
        order = torch.arange(4 * hidden if self.lstm else 3 * hidden)
        if self.lstm:
            i_f, g, o = order[:2 * hidden], order[2 * hidden:3 * hidden], order[3 * hidden:]
            order = torch.cat([i_f, o, g])

        def gates(name: str) -> torch.Tensor:  # a weight or bias with its gate rows reordered
            return weight(name)[order]

        embed = model.embed.weight.detach().float().cpu()
        # layer 0's input projection of every character, one row each: (V, gates)
        table = embed @ gates("weight_ih_l0").T + gates("bias_ih_l0")
        if self.lstm:
            table = table + gates("bias_hh_l0")
        self.table = table.contiguous()
        self.w_ih = [None] + [gates(f"weight_ih_l{n}").T.contiguous()
                              for n in range(1, cfg.layers)]
        self.w_hh = [gates(f"weight_hh_l{n}").T.contiguous() for n in range(cfg.layers)]
        if self.lstm:  # both biases go in front of the input product
            self.b_ih = [None] + [(gates(f"bias_ih_l{n}") + gates(f"bias_hh_l{n}"))[None]
                                  for n in range(1, cfg.layers)]
            self.b_hh = None
        else:  # a GRU gates b_hn by r, so the hidden bias stays with the hidden product
            self.b_ih = [None] + [weight(f"bias_ih_l{n}")[None] for n in range(1, cfg.layers)]
            self.b_hh = [weight(f"bias_hh_l{n}")[None] for n in range(cfg.layers)]
        self.w_out = model.head.weight.detach().float().cpu().T.contiguous()
        self.b_out = model.head.bias.detach().float().cpu()[None]
        self.h = torch.zeros(cfg.layers, 1, hidden)
        self.c = torch.zeros(cfg.layers, 1, hidden)
        # views made once: a step then runs no slicing ops, only arithmetic
        self.h_layers = [self.h[n] for n in range(cfg.layers)]  # (1, hidden) each
        self.c_layers = [self.c[n] for n in range(cfg.layers)]
        self.table_rows = list(self.table.split(1))
        self.gates = [torch.empty(1, len(order)) for _ in range(cfg.layers)]
        self.gate_views = [(g[:, :3 * hidden], *g.split(hidden, dim=1)) for g in self.gates]
        self.pending = self.index.get("\n", 0)
        """The newest character, not yet fed to the network: the next step reads it."""

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        self.h.zero_()
        self.c.zero_()

    @property
    def state(self) -> State:
        """A copy of the hidden state in ``CharRNN.forward``'s format (batch 1)."""
        return (self.h.clone(), self.c.clone()) if self.lstm else self.h.clone()

    @state.setter
    def state(self, value: State) -> None:
        if self.lstm:
            self.h.copy_(value[0])
            self.c.copy_(value[1])
        else:
            self.h.copy_(value)

    # ------------------------------------------------------------------ stepping
    def _step(self, idx: int) -> torch.Tensor:
        # per character: one matrix product per weight matrix and a few in-place ops on
        # preallocated rows; the LSTM path allocates nothing
        hidden = self.cfg.hidden
        x = None
        for n in range(self.cfg.layers):
            h = self.h_layers[n]
            if self.lstm:
                gates = self.gates[n]
                if n == 0:
                    torch.addmm(self.table_rows[idx], h, self.w_hh[0], out=gates)
                else:
                    torch.addmm(self.b_ih[n], x, self.w_ih[n], out=gates).addmm_(h, self.w_hh[n])
                sigmoids, i, f, o, g = self.gate_views[n]
                sigmoids.sigmoid_()
                c = self.c_layers[n]
                c.mul_(f).addcmul_(i, g.tanh_())
                torch.tanh(c, out=h).mul_(o)
            else:
                gi = self.table_rows[idx] if n == 0 else torch.addmm(self.b_ih[n], x,
                                                                     self.w_ih[n])
                gh = torch.addmm(self.b_hh[n], h, self.w_hh[n])
                rz = (gi[:, :2 * hidden] + gh[:, :2 * hidden]).sigmoid_()
                r, z = rz.split(hidden, dim=1)
                new = torch.tanh(gi[:, 2 * hidden:].addcmul(r, gh[:, 2 * hidden:]))
                h.sub_(new).mul_(z).add_(new)  # h = z * h + (1 - z) * new
            x = h
        return torch.addmm(self.b_out, x, self.w_out)

    def step(self, idx: int) -> torch.Tensor:
        """Feed one character index; returns the next character's logits (1, V)."""
        with torch.inference_mode():
            return self._step(idx)

    def feed(self, text: str) -> None:
        """Continue from ``text`` (characters outside the vocabulary are skipped)."""
        with torch.inference_mode():
            for ch in text:
                idx = self.index.get(ch)
                if idx is not None:
                    self._step(self.pending)
                    self.pending = idx

    def sample_index(self, logits: torch.Tensor) -> int:
        """Draw one index from logits (1, V) with the sampler's temperature, top-k and RNG."""
        # 65 numbers: numpy's per-call cost is a fraction of torch's softmax + multinomial
        scores = logits.numpy()[0].astype(np.float64)
        if self.temperature <= 0:
            return int(scores.argmax())
        if 0 < self.top_k < len(scores):
            kth = np.partition(scores, -self.top_k)[-self.top_k]
            scores = np.where(scores < kth, -np.inf, scores)
        weights = np.exp((scores - scores.max()) / self.temperature)
        if 0.0 < self.top_p < 1.0:
            order = np.argsort(weights)[::-1]
            mass = np.cumsum(weights[order])
            keep = int(np.searchsorted(mass, self.top_p * mass[-1])) + 1
            weights[order[keep:]] = 0.0
        cumulative = np.cumsum(weights)
        return int(np.searchsorted(cumulative, self.rng.random() * cumulative[-1],
                                   side="right"))

    def _next_index(self) -> int:
        self.pending = self.sample_index(self._step(self.pending))
        return self.pending

    def next_char(self) -> str:
        """Generate one character, continuing from everything fed or generated so far."""
        with torch.inference_mode():
            return self.vocab[self._next_index()]

    def generate(self, n: int) -> str:
        with torch.inference_mode():
            return "".join(self.vocab[self._next_index()] for _ in range(n))

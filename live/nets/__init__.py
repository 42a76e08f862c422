"""Torch modules, one model per file, each with its config dataclass beside it."""

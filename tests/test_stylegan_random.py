"""``live bench --model random:CONFIG-RES[-cbaseN]``: StyleGANs of the usual shapes with
random weights (no fixture needed)."""

from __future__ import annotations

import pytest
import torch

from live.stylegan.importer import random_model
from live.stylegan.snapshot import SnapshotError


def test_a_random_stylegan2_has_the_shape_asked_for():
    model = random_model("random:stylegan2-16-cbase1024")
    gen = model.module
    assert (model.kind, model.trained, gen.resolution, gen.latent_dim) == (
        "stylegan2", False, 16, 512)
    with torch.inference_mode():
        picture = gen.decode(torch.randn(1, 512), torch.tensor(0.7), torch.zeros(512))
    assert picture.shape == (1, 3, 16, 16) and torch.isfinite(picture).all()


@pytest.mark.parametrize("spec", ["random:stylegan4-256", "random:stylegan2", "stylegan2-256",
                                  "random:stylegan2-99999", "random:stylegan2-256-cbase1"])
def test_bad_random_specs_are_refused_with_the_form(spec):
    with pytest.raises(SnapshotError):
        random_model(spec)

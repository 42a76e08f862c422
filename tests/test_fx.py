import numpy as np
import pytest
import torch

from live.render.fx import FxChain, colour_matrix
from tests.conftest import bus_and_controls

RES = 32


def controls_with(**values):
    return bus_and_controls(**values)


def chain(canvas=(RES, RES)):
    return FxChain(canvas, torch.device("cpu"), torch.float32)


def gradient():
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, RES), torch.linspace(-1, 1, RES), indexing="ij")
    return torch.stack([xs, ys, xs * ys])[None]


def test_neutral_colour_maps_decoded_range_to_bytes():
    matrix, bias = colour_matrix(0.0, 1.0, 1.0, 1.0, 0.0)
    m = np.array(matrix)
    assert np.allclose(m, np.eye(3) * 127.5)
    assert np.allclose(np.array(bias), 128.0)  # 127.5 + 0.5 for rounding


def test_neutral_chain_reproduces_the_image():
    _, controls = controls_with()
    image = gradient()
    frame = chain().apply(image, controls, 1 / 60)
    expected = ((image[0].permute(1, 2, 0) * 0.5 + 0.5) * 255).round()
    assert frame.dtype == torch.uint8 and frame.shape == (RES, RES, 3)
    assert (frame.float() - expected).abs().max() <= 1.0


def test_master_zero_is_black_and_flash_is_white():
    _, controls = controls_with(fx__master=0.0)
    fx = chain()
    assert fx.apply(gradient(), controls, 1 / 60).max() == 0
    _, controls = controls_with()
    fx.flash(1.0)
    assert fx.apply(gradient(), controls, 0.0).min() == 255
    for _ in range(60):
        frame = fx.apply(gradient(), controls, 1 / 60)
    assert frame.float().mean() < 140  # the flash has decayed


def test_saturation_zero_is_grey():
    _, controls = controls_with(fx__saturation=0.0)
    frame = chain().apply(gradient(), controls, 1 / 60).int()
    assert (frame[..., 0] - frame[..., 1]).abs().max() <= 1
    assert (frame[..., 1] - frame[..., 2]).abs().max() <= 1


@pytest.mark.parametrize("mirror", ["horizontal", "quad"])
def test_mirror_makes_the_canvas_symmetric(mirror):
    _, controls = controls_with(fx__mirror=mirror)
    frame = chain().apply(gradient(), controls, 1 / 60).int()
    assert (frame - frame.flip(1)).abs().max() <= 1


def test_kaleidoscope_has_rotational_symmetry():
    _, controls = controls_with(fx__kaleido=4)
    fx = FxChain((64, 64), torch.device("cpu"), torch.float32)
    frame = fx.apply(gradient(), controls, 1 / 60).int()
    assert (frame - frame.rot90(1, (0, 1))).abs().float().mean() < 2.0


def test_a_mirror_switch_crossfades_instead_of_cutting():
    bus, controls = controls_with(fx__crossfade=0.5)
    fx = chain()
    before = fx.apply(gradient(), controls, 1 / 60).clone()
    bus.set("fx.mirror", "quad")
    bus.drain(controls)
    controls.step(1 / 60)
    first = fx.apply(gradient(), controls, 1 / 60).clone()
    for _ in range(40):
        last = fx.apply(gradient(), controls, 1 / 60).clone()
    target = chain().apply(gradient(), controls, 1 / 60)
    jump = (last.float() - before.float()).abs().mean()
    assert (first.float() - before.float()).abs().mean() < 0.1 * jump
    assert torch.equal(last, target)


def test_feedback_leaves_trails():
    _, controls = controls_with(fx__feedback=0.9, fx__feedback_zoom=1.0)
    fx = chain()
    fx.apply(torch.ones(1, 3, RES, RES), controls, 1 / 60)
    frame = fx.apply(-torch.ones(1, 3, RES, RES), controls, 1 / 60)
    assert frame.float().mean() > 200  # mostly the white of the frame before


def test_chain_reuses_its_buffers():
    _, controls = controls_with(fx__feedback=0.5, fx__kaleido=6, fx__hue=40.0)
    fx = chain((48, 32))
    first = fx.apply(gradient(), controls, 1 / 60)
    pointer = first.data_ptr()
    for _ in range(3):
        assert fx.apply(gradient(), controls, 1 / 60).data_ptr() == pointer

"""The clean-room StyleGAN2 generator against NVIDIA's reference outputs (fixtures in
../shared/stylegan, randomised weights): ws and images at psi 1 and 0.7, the batch-1 decode the
engine traces, the noise modes, the class label of a conditional model, and the settings the
snapshots use (architectures, conv_clamp)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from live.stylegan.sg2 import StyleGAN2Generator

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "stylegan"
needs_fixtures = pytest.mark.skipif(not (FIXTURES / "sg2_64.pkl").exists(),
                                    reason="../shared/stylegan is not here")
TOLERANCE = 1e-3
NAMES = ["sg2_64", "sg2_128_resnet_cond"]


def _record(name: str):
    from live.stylegan.snapshot import generator, read_snapshot

    return generator(read_snapshot(FIXTURES / f"{name}.pkl"))


@pytest.fixture(scope="module")
def fixtures():
    """name -> (record, generator built from it, reference arrays)."""
    out = {}
    for name in NAMES:
        record = _record(name)
        ref = dict(np.load(FIXTURES / f"{name}.ref.npz"))
        out[name] = (record, StyleGAN2Generator.from_record(record), ref)
    return out


def _max_diff(ours: torch.Tensor, ref: np.ndarray) -> float:
    assert tuple(ours.shape) == ref.shape
    return float((ours.float() - torch.from_numpy(ref)).abs().max())


def _small(**kwargs) -> StyleGAN2Generator:
    settings = dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
                    mapping_kwargs={"num_layers": 2}, channel_base=128, channel_max=16)
    settings.update(kwargs)
    torch.manual_seed(0)
    gen = StyleGAN2Generator(**settings)
    with torch.no_grad():
        for name, p in gen.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.5)
    return gen.eval()


@needs_fixtures
@pytest.mark.parametrize("name", NAMES)
def test_fixture_matches_nvidia_reference_at_psi_1_and_07(fixtures, name):
    _, gen, ref = fixtures[name]
    z = torch.from_numpy(ref["z"])
    c = torch.from_numpy(ref["c"]) if gen.c_dim else None
    with torch.no_grad():
        assert _max_diff(gen.mapping(z, c), ref["ws"]) <= TOLERANCE
        assert _max_diff(gen.mapping(z, c, truncation_psi=0.7), ref["ws_psi07"]) <= TOLERANCE
        assert _max_diff(gen(z, c, truncation_psi=1.0), ref["img_psi1"]) <= TOLERANCE
        assert _max_diff(gen(z, c, truncation_psi=0.7), ref["img_psi07"]) <= TOLERANCE
        # the synthesis alone, from the reference ws
        ws07 = torch.from_numpy(ref["ws_psi07"])
        assert _max_diff(gen.synthesis(ws07, noise_mode="const"), ref["img_psi07"]) <= TOLERANCE


@needs_fixtures
@pytest.mark.parametrize("name", NAMES)
def test_state_dict_keys_are_nvidia_names(fixtures, name):
    record, gen, _ = fixtures[name]
    tensors = record.tensors()
    state = gen.state_dict()
    assert set(state) == set(tensors)
    assert all(tuple(state[k].shape) == tuple(tensors[k].shape) for k in tensors)
    assert gen.num_ws == record.attributes["num_ws"]


@needs_fixtures
@pytest.mark.parametrize("name", NAMES)
def test_rebuilt_from_init_kwargs_and_state_dict_gives_the_same_images(fixtures, name,
                                                                         tmp_path):
    from safetensors.torch import load_file, save_file

    _, gen, ref = fixtures[name]
    save_file({k: v.contiguous() for k, v in gen.state_dict().items()},
              str(tmp_path / "model.safetensors"))
    again = StyleGAN2Generator(**gen.init_kwargs)
    again.load_state_dict(load_file(str(tmp_path / "model.safetensors")), strict=True)
    again.eval()
    z = torch.from_numpy(ref["z"])
    c = torch.from_numpy(ref["c"]) if gen.c_dim else None
    with torch.no_grad():
        assert torch.equal(again(z, c, 0.7), gen(z, c, 0.7))


@needs_fixtures
@pytest.mark.parametrize("name", NAMES)
def test_batch1_decode_matches_reference_traced_and_eager(fixtures, name):
    from live.decode import Decode, trace

    _, gen, ref = fixtures[name]
    gen = StyleGAN2Generator.from_record(_record(name)).bake()
    psi = torch.tensor(0.7)
    offset = torch.zeros(gen.w_dim)
    with torch.inference_mode():
        for i in range(len(ref["z"])):
            if gen.c_dim:
                gen.set_class(int(ref["labels"][i]))
            z = torch.from_numpy(ref["z"][i:i + 1])
            assert _max_diff(gen.decode(z, psi, offset), ref["img_psi07"][i:i + 1]) <= TOLERANCE
            assert _max_diff(gen.decode(z, torch.tensor(1.0)), ref["img_psi1"][i:i + 1]) \
                <= TOLERANCE
        # the engine's traced decode (frozen, optimised) gives the eager result, offsets too
        if gen.c_dim:
            gen.set_class(2)
        z = torch.from_numpy(ref["z"][:1])
        offset = torch.linspace(-0.5, 0.5, gen.w_dim)
        traced = trace(Decode(gen, offset_in_w=True), (z, psi, offset))
        eager = gen.decode(z, psi, offset)
        assert float((traced(z, psi, offset) - eager).abs().max()) <= 1e-4
        # new inputs flow through the trace: psi and offset are not baked in
        psi2, offset2 = torch.tensor(0.4), torch.zeros(gen.w_dim)
        assert float((traced(z, psi2, offset2) - gen.decode(z, psi2, offset2)).abs().max()) \
            <= 1e-4
        # the offset moves every w after truncation
        w = torch.lerp(gen.mapping.w_avg, gen.mapping.w(z, gen.label), psi) + offset
        expected = gen.synthesis(w[:, None].expand(-1, gen.num_ws, -1))
        assert float((eager - expected).abs().max()) <= 1e-4
        assert float((eager - gen.decode(z, psi)).abs().max()) > 1e-3


@needs_fixtures
def test_conditional_model_decodes_the_class_in_its_label_buffer(fixtures):
    _, gen, ref = fixtures["sg2_128_resnet_cond"]
    assert gen.label.shape == (1, 5) and "label" not in gen.state_dict()
    z = torch.from_numpy(ref["z"][:1])
    psi = torch.tensor(1.0)
    with torch.no_grad():
        gen.set_class(4)
        four = gen.decode(z, psi)
        assert torch.allclose(four, gen(z, torch.eye(5)[4:5]), atol=1e-5)
        gen.set_class(1)
        one = gen.decode(z, psi)
        assert float((four - one).abs().max()) > 1e-2
        assert torch.allclose(one, gen(z, torch.eye(5)[1:2]), atol=1e-5)
    with pytest.raises(ValueError):
        gen.set_class(5)


@needs_fixtures
def test_noise_modes(fixtures):
    _, gen, ref = fixtures["sg2_64"]
    z = torch.from_numpy(ref["z"][:1])
    psi = torch.tensor(1.0)
    with torch.no_grad():
        gen.noise_mode = "const"
        const = gen.decode(z, psi)
        assert torch.equal(const, gen.decode(z, psi))
        gen.noise_mode = "none"
        none = gen.decode(z, psi)
        assert torch.equal(none, gen.decode(z, psi))
        assert float((none - const).abs().max()) > 1e-3
        gen.noise_mode = "random"
        first, second = gen.decode(z, psi), gen.decode(z, psi)
        assert float((first - second).abs().max()) > 1e-3
        torch.manual_seed(7)
        seeded = gen.decode(z, psi)
        torch.manual_seed(7)
        assert torch.equal(seeded, gen.decode(z, psi))
        gen.noise_mode = "const"
        # batch and single-sample paths agree in every mode but random
        zz = torch.from_numpy(ref["z"][:2])
        for mode in ("const", "none"):
            batch = gen(zz, noise_mode=mode)
            assert float((batch[:1] - gen(zz[:1], noise_mode=mode)).abs().max()) <= 1e-4
        with pytest.raises(ValueError, match="noise_mode"):
            gen(z, noise_mode="loud")


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
def test_every_architecture_builds_and_runs(architecture):
    gen = _small(architecture=architecture).bake()
    blocks = gen.synthesis.blocks()
    assert [hasattr(b, "torgb") for b in blocks] == \
        [architecture == "skip" or b.is_last for b in blocks]
    assert [hasattr(b, "skip") for b in blocks] == \
        [architecture == "resnet" and b.in_channels > 0 for b in blocks]
    z = torch.randn(3, 16)
    with torch.no_grad():
        img = gen(z, truncation_psi=0.5)
        assert img.shape == (3, 3, 16, 16) and img.dtype == torch.float32
        assert torch.isfinite(img).all()
        single = gen.decode(z[1:2], torch.tensor(0.5))
        assert float((single - img[1:2]).abs().max()) <= 1e-4
    # gradients reach z (fitting a latent to a picture): no in-place pass breaks autograd
    z.requires_grad_(True)
    gen(z, truncation_psi=0.5).square().mean().backward()
    assert z.grad is not None and float(z.grad.abs().sum()) > 0


def test_conv_clamp_bounds_the_image_of_the_last_torgb():
    loose = _small(architecture="orig", conv_clamp=None)
    tight = _small(architecture="orig", conv_clamp=0.01)
    with torch.no_grad():
        for name, p in loose.named_parameters():  # large activations everywhere
            if name.endswith("torgb.weight"):
                p.mul_(50)
        tight.load_state_dict(loose.state_dict())
        z = torch.randn(2, 16)
        assert float(loose(z).abs().max()) > 0.01
        assert float(tight(z).abs().max()) <= 0.01 + 1e-7


def test_nested_synthesis_kwargs_of_stylegan2_ada_pytorch_build_the_same_network():
    flat = _small(architecture="resnet", conv_clamp=256, num_fp16_res=2)
    nested = StyleGAN2Generator(
        z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
        mapping_kwargs={"num_layers": 2},
        synthesis_kwargs={"architecture": "resnet", "conv_clamp": 256, "num_fp16_res": 2,
                          "channel_base": 128, "channel_max": 16}).eval()
    assert set(nested.state_dict()) == set(flat.state_dict())
    nested.load_state_dict(flat.state_dict())
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.equal(nested(z), flat(z))
    again = StyleGAN2Generator(**nested.init_kwargs)  # init_kwargs rebuild as given
    assert set(again.state_dict()) == set(flat.state_dict())


def test_unknown_settings_and_bad_resolutions_are_refused():
    with pytest.raises(ValueError, match="unknown StyleGAN2 generator settings: wobble"):
        _small(wobble=1)
    with pytest.raises(ValueError, match="architecture"):
        _small(architecture="unet")
    with pytest.raises(ValueError, match="power of two"):
        _small(img_resolution=48)
    with pytest.raises(ValueError, match="given twice: channel_base"):
        _small(synthesis_kwargs={"channel_base": 256})


def test_benchmark_decode_reports_eager_and_traced_times():
    from live.stylegan.sg2 import benchmark_decode

    result = benchmark_decode(16, channel_base=256, channel_max=32, z_dim=32, w_dim=32,
                              mapping_layers=2, calls=2, warmup=1)
    assert result["config"]["resolution"] == 16 and result["params"] > 0
    for key in ("eager", "traced", "frozen"):
        assert result[f"{key}_ms"] > 0 and result[f"{key}_min_ms"] <= result[f"{key}_ms"]

from pathlib import Path

import pytest

from live import config
from live.cli import main


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_shipped_config_loads_with_every_section(repo):
    cfg = config.load(repo / "config.toml")
    assert cfg.display.size == (1280, 720)
    assert cfg.engine.device == "auto"
    assert cfg.osc.port == 8000 and cfg.osc.feedback_port == 9000


def test_unknown_key_names_file_and_key(tmp_path):
    path = write(tmp_path, "[display]\nfulscreen = true\n")
    with pytest.raises(config.ConfigError) as err:
        config.load(path)
    assert str(path) in str(err.value) and "display.fulscreen" in str(err.value)
    assert "unknown key" in str(err.value)


def test_unknown_section_is_an_error(tmp_path):
    with pytest.raises(config.ConfigError, match=r"unknown section \[dispaly\]"):
        config.load(write(tmp_path, "[dispaly]\nvsync = true\n"))


def test_wrong_type_names_expected_type(tmp_path):
    with pytest.raises(config.ConfigError, match=r"display\.vsync: expected bool, got str"):
        config.load(write(tmp_path, '[display]\nvsync = "yes"\n'))
    with pytest.raises(config.ConfigError, match=r"display\.size: expected a list of 2 integer"):
        config.load(write(tmp_path, "[display]\nsize = [1280]\n"))
    with pytest.raises(config.ConfigError, match=r"engine\.pipeline: expected one of"):
        config.load(write(tmp_path, '[engine]\npipeline = "maybe"\n'))


def test_int_is_accepted_for_float_but_bool_is_not_int(tmp_path):
    cfg = config.load(write(tmp_path, "[record]\nfps = 30\n"))
    assert cfg.record.fps == 30.0 and isinstance(cfg.record.fps, float)
    with pytest.raises(config.ConfigError, match="expected integer"):
        config.load(write(tmp_path, "[osc]\nport = true\n"))


def test_set_overrides_are_typed_and_validated(tmp_path):
    path = write(tmp_path, "[osc]\nport = 8000\n")
    cfg = config.load(path, ["osc.port=9123", "display.size=[640, 360]", "show.scene=calm"])
    assert cfg.osc.port == 9123 and cfg.display.size == (640, 360) and cfg.show.scene == "calm"
    with pytest.raises(config.ConfigError, match="osc.prot"):
        config.load(path, ["osc.prot=1"])
    with pytest.raises(config.ConfigError, match="section.key=value"):
        config.load(path, ["port=1"])


def test_set_keeps_digits_as_text_for_string_keys(tmp_path):
    """A PIN is digits: --set remote.pin=2468 (and 0123, which is no TOML number) stays text;
    a number key still gets a number."""
    path = write(tmp_path, "")
    assert config.load(path, ["remote.pin=2468"]).remote.pin == "2468"
    assert config.load(path, ["remote.pin=0123"]).remote.pin == "0123"
    assert config.load(path, ["remote.preview_fps=4"]).remote.preview_fps == 4.0


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(config.ConfigError, match="invalid TOML"):
        config.load(write(tmp_path, "[display\n"))
    with pytest.raises(config.ConfigError, match="no such file"):
        config.load(tmp_path / "nope.toml")


def test_cli_bad_config_exits_2_with_one_message(tmp_path, capsys):
    path = write(tmp_path, "[display]\nvsync = 3\n")
    assert main(["models", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "display.vsync" in err and str(path) in err and "Traceback" not in err


def test_set_accepts_width_x_height_for_sizes():
    assert config.load(None, ["display.size=1920x1080"]).display.size == (1920, 1080)
    assert config.load(None, ["display.size=[1920, 1080]"]).display.size == (1920, 1080)
    with pytest.raises(config.ConfigError, match="or WIDTHxHEIGHT"):
        config.load(None, ["display.size=1920by1080"])


def test_set_takes_a_show_parameter_for_this_run():
    cfg = config.load(None, ["walk.speed=2", "fx.mirror=quad"])
    assert dict(cfg.params) == {"walk.speed": 2, "fx.mirror": "quad"}
    with pytest.raises(config.ConfigError, match="outside its range"):
        config.load(None, ["walk.speed=1e9"])


def test_set_with_neither_a_config_key_nor_a_parameter_says_where_each_lives():
    with pytest.raises(config.ConfigError) as err:
        config.load(None, ["wlak.speed=2"])
    message = str(err.value)
    assert "[wlak] is not a config section" in message and "display" in message
    assert "not a show parameter" in message and "scenes/*.toml" in message


def test_a_set_parameter_goes_over_the_starting_scene(small_config):
    from dataclasses import replace

    from live.cli import _prepare

    cfg = replace(small_config, params=(("walk.speed", 2.0),))
    scene, _, _ = _prepare(cfg, "default", None)
    assert scene.values["walk.speed"] == 2.0


def test_run_from_outside_the_checkout_finds_the_shipped_scenes_and_models(tmp_path, repo):
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(repo))
    for command in (["scenes", "check"], ["models"]):
        done = subprocess.run([sys.executable, "-m", "live", *command], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "default" in done.stdout + done.stderr


def test_a_config_that_is_a_device_is_refused(tmp_path):
    link = tmp_path / "config.toml"
    link.symlink_to("/dev/zero")
    with pytest.raises(config.ConfigError, match="not a regular file"):
        config.load(link)


def test_set_takes_an_isf_layer_input_of_a_scene_in_the_scenes_folder(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "a.toml").write_text('[[layer]]\nname = "grade"\nshader = "gradient_map"\n')
    cfg = config.load(None, [f"paths.scenes={scenes}", "layer.grade.midPoint=0.3",
                             "layer.grade.blend=screen"])
    assert dict(cfg.params) == {"layer.grade.midPoint": 0.3, "layer.grade.blend": "screen"}
    with pytest.raises(config.ConfigError, match="outside its range"):
        config.load(None, [f"paths.scenes={scenes}", "layer.grade.midPoint=2"])
    with pytest.raises(config.ConfigError, match="not a show parameter"):
        config.load(None, [f"paths.scenes={scenes}", "layer.nothing.midPoint=0.3"])

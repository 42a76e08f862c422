from pathlib import Path

import pytest

from live.params import Registry
from live.scenes import SceneError, list_scenes, load_scene, parse_scene


def parse(text: str):
    return parse_scene(text, Path("scenes/test.toml"), Registry())


def test_shipped_scenes_are_valid(repo):
    from live.layers import show_registry

    registry = show_registry(repo / "scenes")  # maps may name the scenes' ISF layer inputs
    names = list_scenes(repo / "scenes")
    assert "default" in names
    for name in names:
        load_scene(name, repo / "scenes", registry)


def test_scene_values_by_section():
    scene = parse('model = "m"\n[walk]\nmode = "orbit"\nspeed = 2\n[fx]\nkaleido = 6\n')
    assert scene.model == "m"
    assert scene.values == {"walk.mode": "orbit", "walk.speed": 2, "fx.kaleido": 6}


@pytest.mark.parametrize("text, line, words", [
    ('[walk]\nmode = "loop"\nsped = 2\n', 3, "unknown parameter 'walk.sped'"),
    ('[walk]\nmode = "spiral"\n', 2, "not one of"),
    ('[fx]\nhue = "red"\n', 2, "expected a number"),
    ('colour = "red"\n', 1, "unknown key 'colour'"),
    ('[walk\nmode = 1\n', 1, "invalid TOML"),
    ('[cue]\nnext = 1\n', 2, "is a trigger"),
])
def test_bad_scene_reports_file_line_and_key(text, line, words):
    with pytest.raises(SceneError) as err:
        parse(text)
    assert str(err.value).startswith(f"scenes/test.toml:{line}:")
    assert words in str(err.value)


def test_unknown_scene_lists_known_ones(repo):
    with pytest.raises(SceneError, match=r"unknown scene 'nope'.*known: .*default"):
        load_scene("nope", repo / "scenes", Registry())


def test_scene_midi_maps_are_checked(tmp_path):
    from live.params import Registry
    from live.scenes import SceneError, parse_scene

    path = tmp_path / "s.toml"
    scene = parse_scene('[midi]\nmaps = ["cc 1 -> fx.hue", "note 36 -> fx.flash"]\n', path,
                        Registry())
    assert scene.midi_maps == ("cc 1 -> fx.hue", "note 36 -> fx.flash")
    with pytest.raises(SceneError, match=r"s.toml:4: .*fx.nothing"):
        parse_scene('[fx]\nhue = 1.0\n[midi]\nmaps = ["cc 1 -> fx.nothing"]\n', path,
                    Registry())


@pytest.mark.parametrize("text, where, words", [
    ('model = "default-gan"\n[fx\nhue = 1.0\n', ":2:", "invalid TOML"),
    ('model = "default-gan"\ncolour = "red"\n', ":2:", "unknown key"),
    ('[fx]\nhue = 1.0\nzoom = "big"\n', ":3:", "fx.zoom"),
    ('[fx]\nhue = 1.0\n\n[[map]]\nsource = "audio.wobble"\ntarget = "fx.hue"\namount = 1\n',
     ":4:", "unknown source"),
    ('transition = "slow"\n', ":1:", "transition must be"),
    ('model = "nope"\n[fx]\nhue = 1.0\n', ":1:", "unknown model"),
    ('text_model = "default-gan"\n', ":1:", "not char-rnn"),
])
def test_scenes_check_names_file_line_and_fails(tmp_path, capsys, text, where, words):
    from live.cli import main

    path = tmp_path / "broken.toml"
    path.write_text(text)
    assert main(["scenes", "check", str(path),
                 "--set", f'paths.models="{Path(__file__).parent.parent / "models"}"']) == 1
    out = capsys.readouterr().out
    assert f"broken.toml{where}" in out and words in out, out


def test_scenes_check_passes_the_shipped_scenes(capsys, repo):
    from live.cli import main

    assert main(["scenes", "check", "--set", f'paths.scenes="{repo / "scenes"}"',
                 "--set", f'paths.models="{repo / "models"}"']) == 0
    assert "scene files ok" in capsys.readouterr().out


def test_out_of_range_values_are_refused(tmp_path):
    from live.params import Registry
    from live.scenes import SceneError, parse_scene

    with pytest.raises(SceneError, match=r"s.toml:3: fx.kaleido = 60 is outside its range 0 to 24"):
        parse_scene('[fx]\nhue = 1.0\nkaleido = 60\n', tmp_path / "s.toml", Registry())

"""`live shaders` and `live shaders check`: the listing, the check and its pass rate."""

from __future__ import annotations

import shutil

import pytest

from live.cli import main

GOOD = """/*{ "ISFVSN": "2", "INPUTS": [ {"NAME": "amount", "TYPE": "float", "DEFAULT": 0.5} ] }*/
void main() { gl_FragColor = vec4(isf_FragNormCoord * amount, 0.2, 1.0); }
"""
BROKEN = """/*{ "ISFVSN": "2", "INPUTS": [] }*/
void main() {
    gl_FragColor = vec4(nothing);
}
"""
FLAT = """/*{ "ISFVSN": "2", "INPUTS": [] }*/
void main() { gl_FragColor = vec4(0.3, 0.3, 0.3, 1.0); }
"""


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "isf"
    folder.mkdir()
    (folder / "good.fs").write_text(GOOD)
    return folder


def test_list_names_every_shipped_shader(capsys, repo):
    assert main(["shaders"]) == 0
    out = capsys.readouterr().out
    # (a machine with the standard ISF folders lists those too)
    assert out.count(str(repo / "shaders")) >= 20 and " shaders in " in out
    assert "gradient_map  filter" in out and "luma_wipe  transition" in out


def test_check_passes_the_shipped_library(capsys, repo):
    assert main(["shaders", "check", str(repo / "shaders")]) == 0
    assert "20 of 20 shaders parse, compile and render (100.0%)" in capsys.readouterr().out


def test_check_names_file_and_line_and_fails(folder, capsys):
    (folder / "broken.fs").write_text(BROKEN)
    (folder / "flat.fs").write_text(FLAT)
    assert main(["shaders", "check", str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"{folder / 'broken.fs'}:3:" in out and "[compile]" in out
    assert f"{folder / 'flat.fs'}: renders one flat colour" in out
    assert f"{folder / 'good.fs'}: ok" in out
    assert "1 of 3 shaders parse, compile and render (33.3%)" in out


def test_a_folder_in_paths_isf_is_searched(folder, capsys, repo, tmp_path):
    shutil.copy(repo / "config.toml", tmp_path / "config.toml")
    assert main(["shaders", "--config", str(tmp_path / "config.toml"),
                 "--set", f'paths.isf=["{folder}"]',
                 "--set", f'paths.shaders="{repo / "shaders"}"']) == 0
    out = capsys.readouterr().out
    assert f"{folder / 'good.fs'}: good  generator  amount" in out


def test_cost_times_each_shader_and_one_program_builds_the_isf_way(capsys, repo):
    import json

    bloom = str(repo / "shaders" / "bloom.fs")
    assert main(["shaders", "cost", "--size", "64x36", "--json", bloom]) == 0
    per_pass = json.loads(capsys.readouterr().out)
    assert per_pass["size"] == [64, 36] and per_pass["ms"] > 0 and not per_pass["one_program"]
    assert main(["shaders", "cost", "--size", "64x36", "--one-program", bloom]) == 0
    assert capsys.readouterr().out.startswith(f"{bloom}: ")

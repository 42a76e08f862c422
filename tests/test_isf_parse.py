"""ISF 2.0 parsing and GLSL translation (live.render.isf): headers, inputs, passes and size
expressions, imported images, vertex shaders, GLSL 1.x sources; compile-only GL checks."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from live.render import isf

HERE = Path(__file__).resolve().parent / "isf"
FAKE = Path("/shaders/test.fs")


def header(body: str, code: str = "void main() { gl_FragColor = vec4(1.0); }\n") -> str:
    return f"/*{{\n{body}\n}}*/\n{code}"


def inputs(*items: str) -> str:
    return header('"INPUTS": [' + ",\n".join(items) + "]")


def parse(text: str) -> isf.IsfShader:
    return isf.parse_isf(text, FAKE)


def error_of(text: str) -> isf.IsfError:
    with pytest.raises(isf.IsfError) as caught:
        parse(text)
    return caught.value




def compile_shader(ctx, shader: isf.IsfShader):
    fragment = isf.translate_source(shader)
    vertex = isf.translate_vertex(shader)
    return ctx.program(vertex_shader=vertex.text, fragment_shader=fragment.text)


# ----------------------------------------------------------------------------- header

def test_every_input_type_is_parsed_typed():
    shader = isf.load_isf(HERE / "all_inputs.fs")
    assert shader.kind == "generator"
    assert shader.version == "2"
    assert shader.categories == ("Test", "Generator")
    assert shader.credit == "live test suite"
    by_name = {item.name: item for item in shader.inputs}
    assert by_name["brightness"] == isf.FloatInput("brightness", "Brightness", 0.25, 0.0, 2.0,
                                                   1.0)
    assert by_name["shape"] == isf.LongInput("shape", "Shape", 1, 0, 2, (0, 1, 2),
                                             ("Circle", "Square", "Ring"))
    assert by_name["rings"] == isf.LongInput("rings", "rings", 4, 1, 12)
    assert by_name["invert"] == isf.BoolInput("invert", "invert", True)
    assert by_name["flash"] == isf.EventInput("flash", "flash")
    assert by_name["tint"].default == (1.0, 0.5, 0.25, 1.0)
    assert isinstance(by_name["tint"], isf.ColorInput)
    assert by_name["centre"] == isf.Point2DInput("centre", "centre", (0.5, 0.5), (0.0, 0.0),
                                                 (1.0, 1.0))
    assert isinstance(by_name["overlay"], isf.ImageInput)
    assert type(by_name["wave"]) is isf.AudioInput and by_name["wave"].samples == 256
    assert type(by_name["spectrum"]) is isf.AudioFFTInput and by_name["spectrum"].samples == 64
    assert [item.glsl_type for item in shader.inputs] == [
        "float", "int", "int", "bool", "bool", "vec4", "vec2", "sampler2D", "sampler2D",
        "sampler2D"]


def test_kind_is_filter_with_input_image_and_transition_with_start_end_progress():
    assert isf.load_isf(HERE / "glsl1_filter.fs").kind == "filter"
    assert isf.load_isf(HERE / "transition.fs").kind == "transition"
    assert isf.load_isf(HERE / "glsl3.fs").kind == "generator"


def test_absent_fields_take_documented_defaults():
    shader = parse(inputs('{"NAME": "a", "TYPE": "float"}', '{"NAME": "b", "TYPE": "float", '
                          '"MIN": 2}', '{"NAME": "c", "TYPE": "long"}',
                          '{"NAME": "d", "TYPE": "bool"}', '{"NAME": "e", "TYPE": "color"}',
                          '{"NAME": "f", "TYPE": "point2D"}',
                          '{"NAME": "g", "TYPE": "color", "DEFAULT": [1, 0, 0]}'))
    a, b, c, d, e, f, g = shader.inputs
    assert (a.minimum, a.maximum, a.default, a.label) == (0.0, 1.0, 0.5, "a")
    assert (b.minimum, b.maximum, b.default) == (2.0, 3.0, 2.5)
    assert (c.minimum, c.maximum, c.default) == (0, 1, 0)
    assert d.default is False
    assert e.default == (0.0, 0.0, 0.0, 1.0)
    assert f.default == (0.0, 0.0)
    assert g.default == (1.0, 0.0, 0.0, 1.0)  # alpha completed
    assert shader.version == "1.0" and shader.description == "" and shader.categories == ()
    assert shader.passes == (isf.IsfPass(),)


@pytest.mark.parametrize("bounds, expected", [
    ('"MAX": 0.5', (0.0, 0.5)), ('"MIN": 0.5', (0.5, 1.0)), ('"MIN": 2', (2.0, 3.0)),
    ('"MAX": -4', (-5.0, -4.0)), ('"MAX": 0', (-1.0, 0.0)), ('"MIN": -3', (-3.0, 1.0)),
])
def test_a_missing_bound_keeps_0_or_1_unless_the_other_is_beyond_it(bounds, expected):
    (item,) = parse(inputs(f'{{"NAME": "a", "TYPE": "float", {bounds}}}')).inputs
    assert (item.minimum, item.maximum) == expected


def test_defaults_outside_the_range_are_clamped_into_it():
    shader = parse(inputs(
        '{"NAME": "a", "TYPE": "float", "MIN": 0, "MAX": 1, "DEFAULT": 5, "IDENTITY": -1}',
        '{"NAME": "b", "TYPE": "long", "MIN": 0, "MAX": 3, "DEFAULT": -2}',
        '{"NAME": "c", "TYPE": "long", "VALUES": [0, 10, 20], "DEFAULT": 12}',
        '{"NAME": "d", "TYPE": "point2D", "MIN": [0, 0], "MAX": [1, 1], "DEFAULT": [2, -1]}',
        '{"NAME": "e", "TYPE": "color", "MIN": [0, 0, 0, 0], "MAX": [1, 1, 1, 1], '
        '"DEFAULT": [2, 0.5, -1, 1]}'))
    a, b, c, d, e = shader.inputs
    assert (a.default, a.identity) == (1.0, 0.0)
    assert b.default == 0
    assert c.default == 10  # the nearest of the VALUES
    assert d.default == (1.0, 0.0)
    assert e.default == (1.0, 0.5, 0.0, 1.0)


def test_long_values_without_labels_are_labelled_by_their_numbers():
    (item,) = parse(inputs('{"NAME": "mode", "TYPE": "long", "VALUES": [3, 5]}')).inputs
    assert (item.values, item.labels, item.default, item.minimum, item.maximum) == (
        (3, 5), ("3", "5"), 3, 3, 5)


def test_bool_accepts_numbers_as_real_headers_write_them():
    (item,) = parse(inputs('{"NAME": "on", "TYPE": "bool", "DEFAULT": 1.0}')).inputs
    assert item.default is True


def test_malformed_json_reports_the_line_in_the_file():
    with pytest.raises(isf.IsfError) as caught:
        isf.load_isf(HERE / "bad_json.fs")
    assert caught.value.line == 7
    assert str(caught.value).startswith(f"{HERE / 'bad_json.fs'}:7: malformed JSON")


def test_json_error_line_counts_lines_before_the_header():
    text = '\n\n/*{\n  "INPUTS": [\n    {"NAME": "a" "TYPE": "float"}\n  ]\n}*/\n'
    assert error_of(text).line == 5


@pytest.mark.parametrize("text, message", [
    ("void main() {}", "no ISF header"),
    ("// comment first\n/*{}*/\nvoid main() {}", "no ISF header"),
    ("/*{ \"INPUTS\": [] }\nvoid main() {}", "never closed"),
    ("/*[1, 2]*/", "must be a JSON object"),
])
def test_missing_or_broken_header_is_a_clear_error(text, message):
    assert message in str(error_of(text))


def test_unknown_input_type_names_the_input_and_file():
    text = inputs('{"NAME": "ok", "TYPE": "float"}', '{"NAME": "warp", "TYPE": "vec9"}')
    error = error_of(text)
    assert str(error).startswith(f"{FAKE}:")
    assert "input 'warp'" in error.message and "unknown TYPE 'vec9'" in error.message
    assert error.line == 3  # the line the input is declared on


def test_duplicate_input_names_are_refused_at_the_second():
    error = error_of(inputs('{"NAME": "a", "TYPE": "float"}', '{"NAME": "a", "TYPE": "bool"}'))
    assert "declared twice" in str(error) and error.line == 3


@pytest.mark.parametrize("text, message", [
    (inputs('{"NAME": "a", "TYPE": "float", "MAX": ' + "9" * 5000 + "}"), "finite number"),
    (inputs('{"NAME": "a", "TYPE": "long", "MAX": 4294967296}'), "fits a GLSL int"),
    (inputs('{"NAME": "a", "TYPE": "long", "VALUES": [1, 1e12]}'), "GLSL ints"),
    (header('"INPUTS": ' + "[" * 100000), "nested too deeply"),
])
def test_hostile_numbers_and_nesting_are_errors_not_crashes(text, message):
    assert message in str(error_of(text))


@pytest.mark.parametrize("name", ["2fast", "gl_Color", "my-value", "", "a b", "__x", "isf_x",
                                  "float", "half", "filter", "vec3", "mat3x2", "isampler2D",
                                  "image2D", "TIME", "texture", "IMG_PIXEL", 7])
def test_names_that_are_not_usable_glsl_identifiers_are_refused(name):
    name_json = f'"{name}"' if isinstance(name, str) else str(name)
    error = error_of(inputs(f'{{"NAME": {name_json}, "TYPE": "float"}}'))
    assert "NAME" in str(error)


def test_builtin_function_names_are_legal_input_names(ctx):
    shader = parse(inputs('{"NAME": "length", "TYPE": "float"}',
                          '{"NAME": "mix", "TYPE": "float"}',
                          '{"NAME": "imageScale", "TYPE": "float"}'))
    compile_shader(ctx, shader).release()


@pytest.mark.parametrize("item, message", [
    ('{"NAME": "a", "TYPE": "float", "MIN": 2, "MAX": 1}', "MIN 2 is greater than MAX 1"),
    ('{"NAME": "a", "TYPE": "long", "MIN": 5, "MAX": 1}', "MIN 5 is greater than MAX 1"),
    ('{"NAME": "a", "TYPE": "point2D", "MIN": [0, 2], "MAX": [1, 1]}', "greater than MAX"),
    ('{"NAME": "a", "TYPE": "color", "MIN": [0, 0, 0, 1], "MAX": [1, 1, 1, 0]}',
     "greater than MAX"),
    ('{"NAME": "a", "TYPE": "float", "DEFAULT": "big"}', "DEFAULT must be a finite number"),
    ('{"NAME": "a", "TYPE": "float", "MAX": true}', "MAX must be a finite number"),
    ('{"NAME": "a", "TYPE": "float", "MAX": NaN}', "MAX must be a finite number"),
    ('{"NAME": "a", "TYPE": "long", "DEFAULT": 1.5}', "whole number"),
    ('{"NAME": "a", "TYPE": "long", "VALUES": []}', "VALUES must be a non-empty list"),
    ('{"NAME": "a", "TYPE": "long", "VALUES": [1, 2], "LABELS": ["one"]}', "LABELS must be"),
    ('{"NAME": "a", "TYPE": "bool", "DEFAULT": "yes"}', "true or false"),
    ('{"NAME": "a", "TYPE": "color", "DEFAULT": [1, 0]}', "list of 4 numbers"),
    ('{"NAME": "a", "TYPE": "point2D", "DEFAULT": [1, 0, 0]}', "list of 2 numbers"),
    ('{"NAME": "a", "TYPE": "audio", "MAX": 0}', "at least 1"),
    ('{"NAME": "a", "TYPE": "float", "LABEL": 3}', "LABEL must be a string"),
])
def test_wrong_values_are_errors_naming_the_input(item, message):
    error = error_of(inputs(item))
    assert message in error.message and "input 'a'" in error.message


@pytest.mark.parametrize("body, message", [
    ('"INPUTS": {"a": 1}', "INPUTS must be a list"),
    ('"INPUTS": [3]', "must be an object"),
    ('"CATEGORIES": "Blur"', "CATEGORIES must be a list of strings"),
    ('"DESCRIPTION": ["a"]', "DESCRIPTION must be a string"),
    ('"PASSES": {}', "PASSES must be a list"),
])
def test_wrong_header_field_types_are_errors(body, message):
    assert message in str(error_of(header(body)))


# ----------------------------------------------------------------------------- passes

def test_passes_read_target_persistent_float_and_sizes():
    shader = isf.load_isf(HERE / "multipass.fs")
    first, trail, output = shader.passes
    assert (first.target, first.persistent, first.float_texture) == ("halfSize", False, False)
    assert (trail.target, trail.persistent, trail.float_texture) == ("trail", True, True)
    assert output == isf.IsfPass(line=output.line)
    assert (first.line, trail.line) == (10, 11)  # its TARGET's header line, for errors
    assert isf.pass_size(first, 1280, 720) == (640, 360)  # scale's default 0.5
    assert isf.pass_size(first, 1280, 720, {"scale": 0.25}) == (640, 180)
    assert isf.pass_size(trail, 1280, 720) == (1276, 64)
    assert isf.pass_size(trail, 3, 720) == (1, 64)  # max(1, $WIDTH-4)
    assert isf.pass_size(output, 1280, 720) == (1280, 720)


@pytest.mark.parametrize("expression, expected", [
    ("$WIDTH/2", 500), ("floor($HEIGHT*$scale)", 250), ("max(1, $WIDTH-4)", 996),
    ("-(-$WIDTH) % 300", 100), ("min($WIDTH, 64) + +1", 65), ("pow(2, 10)", 1024),
    ("sqrt($WIDTH*$WIDTH)", 1000), ("round(2.5) * ceil(0.2) + abs(-3)", 6),
    ("$WIDTH * $mode + $flag", 3001), ("1e3", 1000), (".5 * $WIDTH", 500),
    ("pow(10, 400)", 16384), ("$WIDTH - 5000", 1), ("0/0", 1000), ("1/0", 16384),
    ("sqrt(-1)", 1000), ("$WIDTH % 0", 1000),
])
def test_size_expressions_evaluate_and_clamp(expression, expected):
    shader = parse(header(
        '"INPUTS": [{"NAME": "scale", "TYPE": "float", "DEFAULT": 0.5},'
        ' {"NAME": "mode", "TYPE": "long", "VALUES": [1, 3], "DEFAULT": 3},'
        ' {"NAME": "flag", "TYPE": "bool", "DEFAULT": true}],'
        f' "PASSES": [{{"TARGET": "buffer", "WIDTH": "{expression}"}}, {{}}]'))
    assert isf.pass_size(shader.passes[0], 1000, 500)[0] == expected


@pytest.mark.parametrize("expression", [
    "__import__('os')", "$WIDTH.__class__", "a(", "9**9**9", "$WIDTH ** 2", "1 +",
    "max(1)", "floor(1, 2)", "exec(1)", "$WIDTH if 1 else 2", "$WIDTH > 2", "[1]",
    "1" * 10000, "(" * 40 + "1" + ")" * 40, "-" * 100 + "1", "", "$tint", "$missing",
    "$WIDTH; 2", "lambda: 1",
])
def test_non_arithmetic_size_expressions_are_refused_naming_file_and_pass(expression):
    text = header('"INPUTS": [{"NAME": "tint", "TYPE": "color"}],'
                  f' "PASSES": [{{}}, {{"TARGET": "b", "HEIGHT": {json_string(expression)}}}]')
    error = error_of(text)
    assert str(error).startswith(f"{FAKE}:") and "pass 1 HEIGHT" in error.message


def json_string(text: str) -> str:
    import json

    return json.dumps(text)


def test_size_expressions_may_be_plain_numbers():
    shader = parse(header('"PASSES": [{"TARGET": "small", "WIDTH": 16, "HEIGHT": 9.5}, {}]'))
    assert isf.pass_size(shader.passes[0], 1280, 720) == (16, 9)


@pytest.mark.parametrize("passes, message", [
    ('[{"TARGET": "a"}, {"TARGET": "a"}]', "written by an earlier pass"),
    ('[{"TARGET": "level"}]', "has the name of an input"),
    ('[{"PERSISTENT": true}]', "PERSISTENT needs a TARGET"),
    ('[{"TARGET": "gl_buffer"}]', "reserved"),
    ('[{"TARGET": "b", "FLOAT": "yes"}]', "true or false"),
    ('[{"TARGET": "b", "WIDTH": [1]}]', "number or an expression"),
    ('[3]', "must be an object"),
])
def test_bad_passes_are_errors(passes, message):
    text = header(f'"INPUTS": [{{"NAME": "level", "TYPE": "float"}}], "PASSES": {passes}')
    assert message in str(error_of(text))


def test_isf1_persistent_buffers_mark_their_passes_persistent():
    shader = parse(header('"PERSISTENT_BUFFERS": ["feedback"], '
                          '"PASSES": [{"TARGET": "feedback"}, {}]'))
    assert shader.passes[0].persistent and not shader.passes[1].persistent


# ----------------------------------------------------------------------------- files

def test_imported_image_paths_are_relative_to_the_shader(tmp_path):
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "noise.png").write_bytes(b"not decoded by the parser")
    source = tmp_path / "uses_noise.fs"
    source.write_text(header('"IMPORTED": {"noise": {"PATH": "pics/noise.png"}}'))
    shader = isf.load_isf(source)
    assert shader.imported == (isf.ImportedImage("noise", tmp_path / "pics" / "noise.png"),)


def test_isf1_imported_list_form_is_accepted():
    shader = parse(header('"IMPORTED": [{"NAME": "noise", "PATH": "noise.png"}]'))
    assert shader.imported == (isf.ImportedImage("noise", FAKE.parent / "noise.png"),)


def test_missing_imported_image_names_the_shader_and_the_image():
    with pytest.raises(isf.IsfError) as caught:
        isf.load_isf(HERE / "imported_missing.fs")
    text = str(caught.value)
    assert text.startswith(f"{HERE / 'imported_missing.fs'}:4:")
    assert "no_such_noise.png" in text and "no such file" in text


def test_parse_alone_does_not_touch_the_file_system():
    shader = isf.parse_isf((HERE / "imported_missing.fs").read_text(), HERE / "x.fs")
    assert shader.imported[0].path == HERE / "no_such_noise.png"


def test_imported_name_clashing_with_an_input_is_refused():
    text = header('"INPUTS": [{"NAME": "noise", "TYPE": "image"}],'
                  ' "IMPORTED": {"noise": {"PATH": "n.png"}}')
    assert "already used" in str(error_of(text))


def test_unreadable_file_is_an_isf_error_at_line_1(tmp_path):
    with pytest.raises(isf.IsfError) as caught:
        isf.load_isf(tmp_path / "absent.fs")
    assert str(caught.value) == f"{tmp_path / 'absent.fs'}:1: no such file"
    with pytest.raises(isf.IsfError):
        isf.load_isf(tmp_path)  # a directory


def test_vertex_shader_beside_the_file_is_picked_up():
    shader = isf.load_isf(HERE / "vertex.fs")
    assert shader.vertex_path == HERE / "vertex.vs"
    assert "isf_vertShaderInit();" in shader.vertex
    assert isf.load_isf(HERE / "transition.fs").vertex is None


# ----------------------------------------------------------------------------- GLSL

def test_glsl1_source_is_translated_to_core_profile():
    shader = isf.load_isf(HERE / "glsl1_filter.fs")
    text = isf.translate_source(shader).text
    assert text.startswith("#version 330 core\n")
    assert text.count("#version") == 1
    body = text.split("IMG_THIS_PIXEL(sampler2D image)")[1]
    for old in ("gl_FragColor", "texture2D", "texture2DRect", "varying", "vv_FragNormCoord"):
        assert old not in body
    assert "out vec4 isf_FragColor;" in text
    assert text.count("uniform sampler2D inputImage;") == 1  # the body's own was dropped


def test_translated_line_count_keeps_the_body_lines():
    shader = isf.load_isf(HERE / "glsl1_filter.fs")
    translated = isf.translate_source(shader)
    file_lines = (HERE / "glsl1_filter.fs").read_text().splitlines()
    source_lines = translated.text.splitlines()
    for number, line in enumerate(source_lines, start=1):
        mapped = translated.file_line(number)
        if mapped is not None and "texture(" in line:
            assert "texture2D" in file_lines[mapped - 1]


def test_uniforms_cover_inputs_builtins_and_every_sampler():
    shader = isf.load_isf(HERE / "multipass.fs")
    uniforms = isf.uniform_declarations(shader)
    assert uniforms["TIME"] == "float" and uniforms["FRAMEINDEX"] == "int"
    assert uniforms["DATE"] == "vec4" and uniforms["RENDERSIZE"] == "vec2"
    assert uniforms["PASSINDEX"] == "int" and uniforms["scale"] == "float"
    for sampler in ("inputImage", "halfSize", "trail"):
        assert uniforms[sampler] == "sampler2D" and uniforms[f"_{sampler}_imgSize"] == "vec2"
        assert uniforms[f"_{sampler}_imgRect"] == "vec4"


@pytest.mark.parametrize("name", ["all_inputs", "glsl1_filter", "glsl3", "multipass",
                                  "transition", "vertex"])
def test_every_test_shader_compiles_on_a_real_context(ctx, name):
    program = compile_shader(ctx, isf.load_isf(HERE / f"{name}.fs"))
    program.release()


def test_inputs_are_active_uniforms_after_translation(ctx):
    program = compile_shader(ctx, isf.load_isf(HERE / "all_inputs.fs"))
    for name in ("brightness", "shape", "rings", "invert", "flash", "tint", "centre",
                 "overlay", "wave", "spectrum", "TIME"):
        assert name in program, name
    program.release()


def test_compile_error_maps_back_to_the_file_line(ctx, tmp_path):
    import moderngl

    source = tmp_path / "broken.fs"
    source.write_text(header('"INPUTS": [{"NAME": "level", "TYPE": "float"}]',
                             "\nvoid main() {\n    gl_FragColor = vec4(level);\n"
                             "    undefined_thing += 1.0;\n}\n"))
    # the header is lines 1-3, the body's blank line 4, main() line 5: the error is on line 7
    shader = isf.load_isf(source)
    fragment, vertex = isf.translate_source(shader), isf.translate_vertex(shader)
    with pytest.raises(moderngl.Error) as caught:
        ctx.program(vertex_shader=vertex.text, fragment_shader=fragment.text)
    located = isf.located_errors(str(caught.value), fragment, vertex)
    assert located.startswith(f"{source}:7: ")
    assert "undefined_thing" in located


def test_vertex_compile_error_names_the_vs_file(ctx, tmp_path):
    import moderngl

    (tmp_path / "v.fs").write_text(header('"INPUTS": []'))
    (tmp_path / "v.vs").write_text("void main() {\n    isf_vertShaderInit();\n    nope();\n}\n")
    shader = isf.load_isf(tmp_path / "v.fs")
    fragment, vertex = isf.translate_source(shader), isf.translate_vertex(shader)
    with pytest.raises(moderngl.Error) as caught:
        ctx.program(vertex_shader=vertex.text, fragment_shader=fragment.text)
    assert isf.located_errors(str(caught.value), fragment, vertex).startswith(
        f"{tmp_path / 'v.vs'}:3: ")


def test_located_errors_reads_nvidia_style_lines():
    translated = isf.TranslatedSource("", FAKE, lines_before_body=10, body_line=5)
    log = "fragment_shader\n0(14) : error C1008: undefined variable \"x\""
    assert isf.located_errors(log, translated) == (
        f'{FAKE}:8: error C1008: undefined variable "x"')
    assert isf.located_errors("0:3(1): error: bad", translated).startswith(
        f"{FAKE}:1: in the generated ISF declarations")


# ----------------------------------------------------------------------------- listing

def test_describe_is_one_line_with_name_kind_and_inputs():
    line = isf.describe(isf.load_isf(HERE / "multipass.fs"))
    assert "\n" not in line
    assert line.startswith("multipass  filter  ")
    assert "scale 0.1..1" in line and "3 passes" in line
    assert isf.describe(isf.load_isf(HERE / "all_inputs.fs")).count("shape [Circle/Square/Ring]")


def test_default_values_lists_every_controllable_input():
    values = isf.default_values(isf.load_isf(HERE / "all_inputs.fs"))
    assert values["brightness"] == 0.25 and values["flash"] is False
    assert values["tint"] == (1.0, 0.5, 0.25, 1.0)
    assert "overlay" not in values and "wave" not in values
    assert math.isfinite(values["rings"])

"""An ISF body as GLSL 3.30 core: built-ins, input uniforms, IMG_ functions, GLSL 1.x words
rewritten, with a line map back to the file for driver errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from live.render.isf.model import BUILTIN_UNIFORMS, FloatInput, IsfInput, IsfShader, LongInput


@dataclass(frozen=True)
class TranslatedSource:
    """GLSL 3.30 core source and how its lines map back to the file it came from."""

    text: str
    path: Path  # the .fs or .vs whose body follows the generated declarations
    lines_before_body: int
    body_line: int  # the file line the body's first line is

    def file_line(self, line: int) -> int | None:
        """The file line of the source's ``line`` (1-based); None inside our declarations."""
        if line <= self.lines_before_body:
            return None
        return line - self.lines_before_body - 1 + self.body_line


_VERSION_LINE = re.compile(r"^[ \t]*#[ \t]*version\b.*$", re.MULTILINE)
_EXTENSION_LINE = re.compile(r"^[ \t]*#[ \t]*extension\b.*$", re.MULTILINE)
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_FRAGMENT_RENAMES = [
    (re.compile(r"\bgl_FragColor\b"), "isf_FragColor"),
    (re.compile(r"\bgl_FragData\s*\[\s*0\s*\]"), "isf_FragColor"),
    (re.compile(r"\btexture2DRect\s*\("), "texture("),
    (re.compile(r"\btexture2DLod\s*\("), "textureLod("),
    (re.compile(r"\btexture2DProj\s*\("), "textureProj("),
    (re.compile(r"\btexture2D\s*\("), "texture("),
    (re.compile(r"\bvarying\b"), "in"),
    (re.compile(r"\bvv_FragNormCoord\b"), "isf_FragNormCoord"),
    (re.compile(r"\bgl_FragCoord\b"), "isf_FragCoord"),
]
_VERTEX_RENAMES = [
    (re.compile(r"\btexture2DRect\s*\("), "texture("),
    (re.compile(r"\btexture2DLod\s*\("), "textureLod("),
    (re.compile(r"\btexture2D\s*\("), "texture("),
    (re.compile(r"\battribute\b"), "in"),
    (re.compile(r"\bvarying\b"), "out"),
    (re.compile(r"\bvv_FragNormCoord\b"), "isf_FragNormCoord"),
    (re.compile(r"\bvv_vertShaderInit\b"), "isf_vertShaderInit"),
]

_SAMPLING_CALLS = re.compile(r"\b(texture|textureLod|texelFetch)(\s*\()")
"""Sampling calls in a body, after the GLSL 1.x renames: they go through the isf_ forms
below, which turn ISF's y-up coordinates into rows stored top first (see _UPRIGHT)."""
_UPRIGHT = """\
// Every texture the host binds keeps row 0 at the top of the picture (as the compositor's
// do) and every pass is drawn that way; ISF coordinates have y up, so sampling turns y over.
// On a tile of a wall (live/render/tile.py) the coordinates are the whole canvas's and the
// pictures of the stack and of the passes cover `isf_view` of it (x, y, w, h as fractions,
// y down; 0, 0, 1, 1 untiled): sampling maps canvas coordinates into them. The _raw forms
// are for pictures of their own (IMPORTED images, audio), sampled as they are.
vec2 isf_local(vec2 c) { return (vec2(c.x, 1.0 - c.y) - isf_view.xy) / isf_view.zw; }
vec4 isf_texture(sampler2D s, vec2 c) { return texture(s, isf_local(c)); }
vec4 isf_textureLod(sampler2D s, vec2 c, float lod) { return textureLod(s, isf_local(c), lod); }
vec4 isf_texelFetch(sampler2D s, ivec2 p, int lod) {
    vec2 canvas = vec2(textureSize(s, lod)) / isf_view.zw;
    vec2 local = vec2(p.x, canvas.y - 1.0 - float(p.y)) - isf_view.xy * canvas;
    return texelFetch(s, ivec2(floor(local + 0.5)), lod);
}
vec4 isf_texture_raw(sampler2D s, vec2 c) { return texture(s, vec2(c.x, 1.0 - c.y)); }
vec4 isf_textureLod_raw(sampler2D s, vec2 c, float lod) {
    return textureLod(s, vec2(c.x, 1.0 - c.y), lod);
}
vec4 isf_texelFetch_raw(sampler2D s, ivec2 p, int lod) {
    return texelFetch(s, ivec2(p.x, textureSize(s, lod).y - 1 - p.y), lod);
}
"""
_FRAG_COORD = ("#define isf_FragCoord vec4(isf_view.x * RENDERSIZE.x + gl_FragCoord.x, "
               "RENDERSIZE.y * (1.0 - isf_view.y) - gl_FragCoord.y, gl_FragCoord.zw)")
_SAMPLING = _UPRIGHT + """\
vec4 IMG_NORM_PIXEL(sampler2D image, vec2 normCoord) { return isf_texture(image, normCoord); }
vec2 IMG_SIZE(sampler2D image) { return vec2(textureSize(image, 0)) / isf_view.zw; }
vec4 IMG_PIXEL(sampler2D image, vec2 pixelCoord) {
    return isf_texture(image, pixelCoord / IMG_SIZE(image));
}
vec4 IMG_NORM_PIXEL_raw(sampler2D image, vec2 normCoord) {
    return isf_texture_raw(image, normCoord);
}
vec2 IMG_SIZE_raw(sampler2D image) { return vec2(textureSize(image, 0)); }
vec4 IMG_PIXEL_raw(sampler2D image, vec2 pixelCoord) {
    return isf_texture_raw(image, pixelCoord / IMG_SIZE_raw(image));
}
"""
_SAMPLING_HERE = """\
vec4 isf_texture(sampler2D s, vec2 c, float bias) { return texture(s, isf_local(c), bias); }
vec4 isf_texture_raw(sampler2D s, vec2 c, float bias) {
    return texture(s, vec2(c.x, 1.0 - c.y), bias);
}
vec4 IMG_THIS_NORM_PIXEL(sampler2D image) { return isf_texture(image, isf_FragNormCoord); }
vec4 IMG_THIS_PIXEL(sampler2D image) { return isf_texture(image, isf_FragNormCoord); }
vec4 IMG_THIS_NORM_PIXEL_raw(sampler2D image) {
    return isf_texture_raw(image, isf_FragNormCoord);
}
vec4 IMG_THIS_PIXEL_raw(sampler2D image) { return isf_texture_raw(image, isf_FragNormCoord); }
"""
_RAW_CALLS = (r"\b(isf_texture|isf_textureLod|isf_texelFetch|IMG_NORM_PIXEL|IMG_PIXEL|IMG_SIZE|"
              r"IMG_THIS_PIXEL|IMG_THIS_NORM_PIXEL)(\s*\(\s*)({names})\b")
"""Sampling calls whose first argument names a picture of its own (see _UPRIGHT)."""
_VERTEX_INIT = """\
// Two triangles over the whole target: a strip of 4 vertices from gl_VertexID (no buffers),
// exactly at the corners, so values a .vs computes per vertex (clamped offsets) interpolate
// across the picture as in other ISF hosts. isf_FragNormCoord runs 0..1 across the target
// with y up (1 at the top of the picture, which is row 0 of the target: see _UPRIGHT); on a
// tile, across the whole canvas (the target covering `isf_view` of it).
void isf_vertShaderInit() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));
    vec2 canvas = isf_view.xy + corner * isf_view.zw;
    isf_FragNormCoord = vec2(canvas.x, 1.0 - canvas.y);
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}
"""


def _samplers(shader: IsfShader) -> list[str]:
    names = [item.name for item in shader.inputs if item.glsl_type == "sampler2D"]
    names += [image.name for image in shader.imported]
    names += [pass_.target for pass_ in shader.passes if pass_.target]
    return names


def uniform_declarations(shader: IsfShader) -> dict[str, str]:
    """Every uniform the translated program declares, name -> GLSL type: the built-ins, one
    per input, and per image input, audio input, imported image and pass target a sampler
    plus ``_<name>_imgSize`` (vec2: width, height in pixels) and ``_<name>_imgRect`` (vec4:
    0, 0, width, height), which the host writes for shaders that read them directly."""
    uniforms = dict(BUILTIN_UNIFORMS)
    uniforms["isf_view"] = "vec4"  # a tile's part of the canvas (see _UPRIGHT)
    for item in shader.inputs:
        if item.glsl_type != "sampler2D":
            uniforms[item.name] = item.glsl_type
    for name in _samplers(shader):
        uniforms[name] = "sampler2D"
        uniforms[f"_{name}_imgSize"] = "vec2"
        uniforms[f"_{name}_imgRect"] = "vec4"
    return uniforms


def raw_samplers(shader: IsfShader) -> list[str]:
    """Samplers of pictures of their own (IMPORTED images, audio inputs): not in canvas
    coordinates on a tile."""
    names = [item.name for item in shader.inputs
             if item.glsl_type == "sampler2D" and item.type in ("audio", "audioFFT")]
    return names + [image.name for image in shader.imported]


def _prepare_body(body: str, uniforms: dict[str, str],
                  renames: list[tuple[re.Pattern, str]],
                  raw: list[str] | None = None) -> tuple[str, list[str]]:
    """The body with GLSL 1.x spelled for 3.30 core, its #version and #extension lines and
    its own declarations of our uniforms blanked (line count unchanged); the #extension
    lines are returned to go first."""
    extensions = [match.group(0).strip() for match in _EXTENSION_LINE.finditer(body)]
    body = _EXTENSION_LINE.sub("", _VERSION_LINE.sub("", body))
    for pattern, replacement in renames:
        body = pattern.sub(replacement, body)
    body = _SAMPLING_CALLS.sub(r"isf_\1\2", body)
    if raw:
        pattern = _RAW_CALLS.format(names="|".join(re.escape(name) for name in raw))
        body = re.sub(pattern, r"\1_raw\2\3", body)
    names = "|".join(re.escape(name) for name in [*uniforms, "isf_FragNormCoord"])
    redeclared = re.compile(rf"^[ \t]*(?:uniform|in|out)\s+(?:\w+\s+)*?\w+\s+(?:{names})"
                            r"\s*;[ \t]*$", re.MULTILINE)
    return redeclared.sub("", body), extensions


def _assemble(head: list[str], body: str, path: Path, body_line: int) -> TranslatedSource:
    prelude = "\n".join(head) + "\n"
    return TranslatedSource(prelude + body, path, prelude.count("\n"), body_line)


def _declaration(name: str, kind: str, pass_index: int | None) -> str:
    """A uniform's declaration; ``PASSINDEX`` a constant in a program made for one pass."""
    if name == "PASSINDEX" and pass_index is not None:
        return f"const int PASSINDEX = {int(pass_index)};"
    return f"uniform {kind} {name};"


def translate_source(shader: IsfShader, pass_index: int | None = None) -> TranslatedSource:
    """The fragment shader as ``#version 330 core`` source: the ISF built-ins, a uniform per
    input, the IMG_ sampling functions, then the file's body translated from GLSL 1.x.
    With ``pass_index`` the program is for that pass alone (``PASSINDEX`` a constant, so the
    compiler drops what other passes do: on llvmpipe a branch not taken still costs its
    texture fetches)."""
    uniforms = uniform_declarations(shader)
    body, extensions = _prepare_body(shader.body, uniforms, _FRAGMENT_RENAMES,
                                     raw_samplers(shader))
    code = _COMMENTS.sub("", body)
    head = ["#version 330 core", *extensions,
            "// Declarations generated by live.render.isf for an ISF shader.",
            *(_declaration(name, kind, pass_index) for name, kind in uniforms.items()),
            "in vec2 isf_FragNormCoord;", _FRAG_COORD]
    if re.search(r"\bisf_FragColor\b", code):  # else the body declares its own out vec4
        head.append("out vec4 isf_FragColor;")
    head += [_SAMPLING.rstrip("\n"), _SAMPLING_HERE.rstrip("\n")]
    return _assemble(head, body, shader.path, shader.body_line)


def translate_vertex(shader: IsfShader, pass_index: int | None = None) -> TranslatedSource:
    """The vertex shader: the file's ``.vs`` translated (attribute -> in, varying -> out),
    or the default one that only calls ``isf_vertShaderInit()``."""
    uniforms = uniform_declarations(shader)
    if shader.vertex is None:
        body, extensions, path = "void main() { isf_vertShaderInit(); }\n", [], shader.path
    else:
        body, extensions = _prepare_body(shader.vertex, uniforms, _VERTEX_RENAMES,
                                         raw_samplers(shader))
        path = shader.vertex_path or shader.path.with_suffix(".vs")
    head = ["#version 330 core", *extensions,
            "// Declarations generated by live.render.isf for an ISF vertex shader.",
            *(_declaration(name, kind, pass_index) for name, kind in uniforms.items()),
            "out vec2 isf_FragNormCoord;", _SAMPLING.rstrip("\n"), _VERTEX_INIT.rstrip("\n")]
    return _assemble(head, body, path, 1)


def located_errors(log: str, fragment: TranslatedSource,
                   vertex: TranslatedSource | None = None) -> str:
    """A driver's compile log (as moderngl raises it) as ``file:line: message`` lines in the
    user's files; a line inside the generated declarations names the header's first line."""
    from live.render.passes import driver_log_entries

    stages = {"fragment_shader": fragment}
    if vertex is not None:
        stages["vertex_shader"] = vertex
    lines = []
    for stage, generated_line, message in driver_log_entries(log):
        current = stages.get(stage, fragment)
        line = current.file_line(generated_line)
        if line is None:
            line, message = 1, f"in the generated ISF declarations: {message}"
        lines.append(f"{current.path}:{line}: {message}")
    return "\n".join(lines) if lines else f"{fragment.path}:1: {log.strip()}"



def _describe_input(item: IsfInput) -> str:
    if isinstance(item, FloatInput):
        return f"{item.name} {item.minimum:g}..{item.maximum:g}"
    if isinstance(item, LongInput):
        if item.labels:
            return f"{item.name} [{'/'.join(item.labels)}]"
        return f"{item.name} {item.minimum}..{item.maximum}"
    return f"{item.name} ({item.type})"


def describe(shader: IsfShader) -> str:
    """One line for a listing: ``name  kind  input, input, ...``."""
    inputs = ", ".join(_describe_input(item) for item in shader.inputs) or "no inputs"
    passes = f"  {len(shader.passes)} passes" if len(shader.passes) > 1 else ""
    return f"{shader.name}  {shader.kind}  {inputs}{passes}"

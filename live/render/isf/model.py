"""ISF descriptions: the error type, one frozen class per input type, passes, the shader,
and the names GLSL and ISF reserve."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

MIN_PASS_SIZE = 1
MAX_PASS_SIZE = 16384
"""Every pass size is clamped into this range (pixels per side)."""
EXPRESSION_MAX_CHARS = 256
EXPRESSION_MAX_DEPTH = 32
"""A WIDTH/HEIGHT expression longer or more deeply nested than this is refused."""


class IsfError(ValueError):
    """A shader that cannot be used; ``str()`` is ``file:line: message``."""

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = Path(path)
        self.line = line
        self.message = message



@dataclass(frozen=True)
class IsfInput:
    """What every input has: a GLSL name and a label for the control surface."""

    name: str
    label: str
    type: ClassVar[str] = ""
    glsl_type: ClassVar[str] = ""


@dataclass(frozen=True)
class FloatInput(IsfInput):
    default: float = 0.5
    minimum: float = 0.0
    maximum: float = 1.0
    identity: float | None = None  # the value at which the effect does nothing
    type: ClassVar[str] = "float"
    glsl_type: ClassVar[str] = "float"


@dataclass(frozen=True)
class LongInput(IsfInput):
    """An integer; with ``values`` a menu (``labels`` beside them), else a range."""

    default: int = 0
    minimum: int = 0
    maximum: int = 1
    values: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()
    type: ClassVar[str] = "long"
    glsl_type: ClassVar[str] = "int"


@dataclass(frozen=True)
class BoolInput(IsfInput):
    default: bool = False
    type: ClassVar[str] = "bool"
    glsl_type: ClassVar[str] = "bool"


@dataclass(frozen=True)
class EventInput(IsfInput):
    """A trigger: true for the one frame after it fires."""

    type: ClassVar[str] = "event"
    glsl_type: ClassVar[str] = "bool"


@dataclass(frozen=True)
class ColorInput(IsfInput):
    """RGBA, each channel usually 0..1; ``minimum``/``maximum`` per channel when given."""

    default: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    minimum: tuple[float, float, float, float] | None = None
    maximum: tuple[float, float, float, float] | None = None
    type: ClassVar[str] = "color"
    glsl_type: ClassVar[str] = "vec4"


@dataclass(frozen=True)
class Point2DInput(IsfInput):
    """A 2D point in whatever units the shader uses it in; a range per axis when given."""

    default: tuple[float, float] = (0.0, 0.0)
    minimum: tuple[float, float] | None = None
    maximum: tuple[float, float] | None = None
    type: ClassVar[str] = "point2D"
    glsl_type: ClassVar[str] = "vec2"


@dataclass(frozen=True)
class ImageInput(IsfInput):
    type: ClassVar[str] = "image"
    glsl_type: ClassVar[str] = "sampler2D"


@dataclass(frozen=True)
class AudioInput(IsfInput):
    """The waveform as a texture, one column per sample, one row per channel;
    ``samples`` is the header's MAX (None: the host chooses)."""

    samples: int | None = None
    type: ClassVar[str] = "audio"
    glsl_type: ClassVar[str] = "sampler2D"


@dataclass(frozen=True)
class AudioFFTInput(AudioInput):
    """The magnitude spectrum as a texture, one column per bin (``samples`` bins)."""

    type: ClassVar[str] = "audioFFT"


INPUT_TYPES: dict[str, type[IsfInput]] = {cls.type: cls for cls in (
    FloatInput, LongInput, BoolInput, EventInput, ColorInput, Point2DInput, ImageInput,
    AudioInput, AudioFFTInput)}

SIZE_VARIABLE_TYPES = (FloatInput, LongInput, BoolInput)
"""Inputs a WIDTH/HEIGHT expression may name as ``$name``."""



@dataclass(frozen=True)
class SizeExpression:
    """A checked WIDTH or HEIGHT expression; ``defaults`` are the values of the inputs it
    names, used when the caller's values lack them."""

    source: str
    tree: tuple = field(repr=False)
    defaults: tuple[tuple[str, float], ...] = ()

    def evaluate(self, width: float, height: float, values: Mapping[str, object]) -> float:
        # the evaluator and the number check live beside the parsers that use them too
        from live.render.isf.expressions import _evaluate
        from live.render.isf.inputs import _as_number

        variables = {"WIDTH": float(width), "HEIGHT": float(height)}
        for name, default in self.defaults:
            variables[name] = _as_number(values.get(name, default))
        return _evaluate(self.tree, variables)


@dataclass(frozen=True)
class IsfPass:
    """One render pass: into the named ``target`` (a texture later passes, and the next frame
    when ``persistent``, sample by that name), or into the output when ``target`` is None."""

    target: str | None = None
    persistent: bool = False
    float_texture: bool = False  # 32-bit float channels instead of 8-bit
    width: SizeExpression | None = None  # None: the render width
    height: SizeExpression | None = None
    line: int = 1  # the header line of its TARGET (or of PASSES), for errors


@dataclass(frozen=True)
class ImportedImage:
    name: str
    path: Path  # the header's PATH joined to the shader's folder


@dataclass(frozen=True)
class IsfShader:
    path: Path
    kind: str  # "generator", "filter" or "transition"
    version: str
    description: str
    credit: str
    categories: tuple[str, ...]
    inputs: tuple[IsfInput, ...]
    passes: tuple[IsfPass, ...]
    imported: tuple[ImportedImage, ...]
    body: str = field(repr=False)  # the GLSL after the header comment, as written
    body_line: int = 1  # the file line on which ``body`` begins
    vertex: str | None = field(default=None, repr=False)  # a ``.vs`` beside the file
    vertex_path: Path | None = None

    @property
    def name(self) -> str:
        return self.path.stem

    def input(self, name: str) -> IsfInput | None:
        return next((item for item in self.inputs if item.name == name), None)



_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
BUILTIN_UNIFORMS = {"TIME": "float", "TIMEDELTA": "float", "FRAMEINDEX": "int", "DATE": "vec4",
                    "RENDERSIZE": "vec2", "PASSINDEX": "int"}
_SAMPLING_FUNCTIONS = {"IMG_PIXEL", "IMG_NORM_PIXEL", "IMG_THIS_PIXEL", "IMG_THIS_NORM_PIXEL",
                       "IMG_SIZE"}
_GLSL_RESERVED = set("""
attribute const uniform varying layout centroid flat smooth noperspective break continue do
for while switch case default if else in out inout float int void bool true false invariant
discard return uint lowp mediump highp precision struct common partition active asm class
union enum typedef template this packed goto inline noinline volatile public static extern
external interface long short double half fixed unsigned superp input output filter sizeof
cast namespace using main texture textureSize texture2D texture2DRect texture2DLod
texture2DProj
""".split())
"""GLSL 3.30 keywords and reserved words, and the functions the generated declarations call
or the translation renames. Other built-in function names (``length``, ``mix``) are legal
uniform names as long as the shader does not also call that function."""
_GLSL_RESERVED_FORMS = re.compile(
    r"(?:[ibudhf]?vec[234]|d?mat[234](?:x[234])?|[iu]?sampler\w*"
    r"|[iu]?image(?:[123]D|Cube|Buffer|2DRect|[12]DArray|CubeArray|2DMS|2DMSArray))\Z")


def _name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a GLSL name for an input, target or image; None if it can."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        return f"NAME {name!r} is not a GLSL identifier (letters, digits, _; not a digit first)"
    if name.startswith("gl_") or name.startswith("isf_") or "__" in name:
        return f"NAME {name!r} is reserved (gl_ and isf_ prefixes and __ belong to GLSL and ISF)"
    if (name in _GLSL_RESERVED or _GLSL_RESERVED_FORMS.match(name)
            or name in BUILTIN_UNIFORMS or name in _SAMPLING_FUNCTIONS):
        return f"NAME {name!r} is a GLSL or ISF built-in name"
    return None


@dataclass(frozen=True)
class _Context:
    """Where errors point: the file, and the header text to find a key's line in."""

    path: Path
    header: str
    header_line: int

    def error(self, pattern: str | None, message: str, occurrence: int = 1) -> IsfError:
        line = (_find_line(self.header, self.header_line, pattern, occurrence) if pattern
                else self.header_line)
        return IsfError(self.path, line, message)


def _find_line(text: str, fallback: int, pattern: str, occurrence: int = 1) -> int:
    """The line of the ``occurrence``-th match of ``pattern`` in ``text``, else ``fallback``."""
    matches = list(re.finditer(pattern, text))
    if len(matches) < occurrence:
        return fallback
    return text.count("\n", 0, matches[occurrence - 1].start()) + 1


def _name_pattern(name: object) -> str:
    return rf'"NAME"\s*:\s*"{re.escape(str(name))}"'

"""ISF 2.0 shaders as typed, checked descriptions: the header parser and the GLSL translator.

An ISF file is a GLSL fragment shader that begins with a ``/*{ ... }*/`` JSON comment naming
its inputs, passes and imported images. This module turns that file into frozen dataclasses
(:class:`IsfShader`, one class per input type, :class:`IsfPass`) and its body into GLSL 3.30
core source; it knows nothing of OpenGL, so every rule here is testable without a context.
Building programs, textures and framebuffers from these descriptions is the host's job.

Every problem is an :class:`IsfError` whose message begins ``file:line:``. Pass sizes are
arithmetic over ``$WIDTH``, ``$HEIGHT`` and numeric inputs, parsed here by a small
recursive-descent parser (never ``eval``) and evaluated by :func:`pass_size`.
See docs/isf.md for what is accepted, the defaults and the errors.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from live.safeio import SHADER_MAX_BYTES, FileReadError, check_regular, read_text

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


# ----------------------------------------------------------------------------- inputs

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


# ----------------------------------------------------------------------------- passes

@dataclass(frozen=True)
class SizeExpression:
    """A checked WIDTH or HEIGHT expression; ``defaults`` are the values of the inputs it
    names, used when the caller's values lack them."""

    source: str
    tree: tuple = field(repr=False)
    defaults: tuple[tuple[str, float], ...] = ()

    def evaluate(self, width: float, height: float, values: Mapping[str, object]) -> float:
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


# ----------------------------------------------------------------------------- names

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


# ----------------------------------------------------------------------------- parsing

_HEADER_START = re.compile(r"\A(?:\ufeff)?\s*/\*")


def load_isf(path: Path | str) -> IsfShader:
    """Read and parse an ``.fs`` file (through :mod:`live.safeio`), pick up a ``.vs`` of the
    same stem beside it, and check that every IMPORTED image file exists."""
    path = Path(path)
    try:
        text = read_text(path, SHADER_MAX_BYTES)
    except FileReadError as exc:
        raise IsfError(path, 1, exc.reason) from None
    shader = parse_isf(text, path)
    for image in shader.imported:
        try:
            check_regular(image.path)
        except FileReadError as exc:
            raise IsfError(path, _find_line(text, shader.body_line, rf'"{image.name}"'),
                           f"IMPORTED {image.name!r}: {image.path}: {exc.reason}") from None
    vertex_path = path.with_suffix(".vs")
    if vertex_path.exists():
        try:
            vertex = read_text(vertex_path, SHADER_MAX_BYTES)
        except FileReadError as exc:
            raise IsfError(vertex_path, 1, exc.reason) from None
        shader = dataclasses.replace(shader, vertex=vertex, vertex_path=vertex_path)
    return shader


def parse_isf(text: str, path: Path) -> IsfShader:
    """The shader described by ``text`` (the content of the file ``path``)."""
    path = Path(path)
    start = _HEADER_START.match(text)
    if not start:
        raise IsfError(path, 1, "no ISF header: the file must begin with a /*{ ... }*/ JSON "
                                "comment describing the inputs")
    open_at = start.end() - 2
    header_line = text.count("\n", 0, open_at) + 1
    close_at = text.find("*/", start.end())
    if close_at < 0:
        raise IsfError(path, header_line, "the ISF header comment /* is never closed by */")
    block = text[start.end():close_at]
    try:
        header = json.loads(block, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise IsfError(path, header_line + exc.lineno - 1,
                       f"malformed JSON in the ISF header: {exc.msg}") from None
    except RecursionError:
        raise IsfError(path, header_line, "the ISF header's JSON is nested too deeply") from None
    if not isinstance(header, dict):
        raise IsfError(path, header_line, "the ISF header must be a JSON object { ... }")
    body_line = text.count("\n", 0, close_at) + 1
    context = _Context(path, text[:close_at], header_line)

    inputs = tuple(_parse_inputs(header.get("INPUTS", []), context))
    names = {item.name for item in inputs}
    imported = tuple(_parse_imported(header.get("IMPORTED", {}), path, names, context))
    names |= {image.name for image in imported}
    passes = _parse_passes(header, inputs, names, context)

    categories = header.get("CATEGORIES", [])
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise context.error(r'"CATEGORIES"', "CATEGORIES must be a list of strings")
    return IsfShader(
        path=path, kind=_kind(inputs), version=_text_field(header, "ISFVSN", context) or "1.0",
        description=_text_field(header, "DESCRIPTION", context),
        credit=_text_field(header, "CREDIT", context), categories=tuple(categories),
        inputs=inputs, passes=passes, imported=imported,
        body=text[close_at + 2:], body_line=body_line)


def _parse_int(digits: str) -> int | float:
    # A huge literal becomes a float (inf past 1e308) that the checks refuse, rather than an
    # int Python refuses to build (over 4300 digits) or that overflows math.isfinite.
    return int(digits) if len(digits) <= 18 else float(digits)


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


def _text_field(header: dict, key: str, context: _Context) -> str:
    value = header.get(key, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # "ISFVSN": 2 is written in the wild
    if not isinstance(value, str):
        raise context.error(rf'"{key}"', f"{key} must be a string")
    return value


def _kind(inputs: tuple[IsfInput, ...]) -> str:
    types = {item.name: type(item) for item in inputs}
    if (types.get("startImage") is ImageInput and types.get("endImage") is ImageInput
            and types.get("progress") is FloatInput):
        return "transition"
    if types.get("inputImage") is ImageInput:
        return "filter"
    return "generator"


# ----------------------------------------------------------------------------- values

def _is_number(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _is_int32(value: object) -> bool:
    return _is_number(value) and value == int(value) and -2**31 <= value < 2**31


def _as_number(value: object) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    return float(value)  # type: ignore[arg-type]


class _Fields:
    """Typed access to one input's or pass's JSON object; errors say ``what`` it is and point
    at the header line matching ``pattern``."""

    def __init__(self, raw: dict, what: str, pattern: str, context: _Context) -> None:
        self.raw = raw
        self.what = what
        self.pattern = pattern
        self.context = context

    def error(self, message: str) -> IsfError:
        return self.context.error(self.pattern, f"{self.what}: {message}")

    def number(self, key: str) -> float | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not _is_number(value):
            raise self.error(f"{key} must be a finite number, not {value!r}")
        return float(value)

    def integer(self, key: str) -> int | None:
        value = self.number(key)
        if value is not None and not _is_int32(value):
            raise self.error(f"{key} must be a whole number that fits a GLSL int, "
                             f"not {self.raw[key]!r}")
        return None if value is None else int(value)

    def vector(self, key: str, size: int, pad: tuple[float, ...] = ()) -> tuple | None:
        """A list of ``size`` numbers; a shorter one is completed from ``pad``."""
        value = self.raw.get(key)
        if value is None:
            return None
        ok = isinstance(value, list) and size - len(pad) <= len(value) <= size
        if not ok or not all(_is_number(v) for v in value):
            raise self.error(f"{key} must be a list of {size} numbers, not {value!r}")
        return tuple(float(v) for v in value) + pad[:size - len(value)]

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.raw.get(key, default)
        if isinstance(value, bool):
            return value
        if _is_number(value):  # 0 / 1 are common in real headers
            return value != 0
        raise self.error(f"{key} must be true or false, not {value!r}")


def _parse_inputs(raw: object, context: _Context) -> list[IsfInput]:
    if not isinstance(raw, list):
        raise context.error(r'"INPUTS"', "INPUTS must be a list of objects")
    inputs: list[IsfInput] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise context.error(r'"INPUTS"', f"INPUTS[{index}] must be an object, not {item!r}")
        name = item.get("NAME")
        problem = _name_problem(name)
        if problem:
            raise context.error(_name_pattern(name), f"INPUTS[{index}]: {problem}")
        if name in seen:
            raise context.error(_name_pattern(name), f"input {name!r} is declared twice", 2)
        seen.add(name)
        fields = _Fields(item, f"input {name!r}", _name_pattern(name), context)
        kind = item.get("TYPE")
        if kind not in INPUT_TYPES:
            raise fields.error(f"unknown TYPE {kind!r} (known: {', '.join(INPUT_TYPES)})")
        label = item.get("LABEL", name)
        if not isinstance(label, str):
            raise fields.error(f"LABEL must be a string, not {label!r}")
        inputs.append(_INPUT_PARSERS[kind](fields, name, label))
    return inputs


def _range(fields: _Fields, low: float | None, high: float | None) -> tuple[float, float]:
    """MIN/MAX with the documented defaults: 0 and 1, unless the other bound is beyond them
    (then one unit away from it)."""
    if low is None:
        low = 0.0 if high is None or high > 0 else high - 1.0
    if high is None:
        high = 1.0 if low < 1 else low + 1.0
    if low > high:
        raise fields.error(f"MIN {low:g} is greater than MAX {high:g}")
    return low, high


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _parse_float(fields: _Fields, name: str, label: str) -> FloatInput:
    low, high = _range(fields, fields.number("MIN"), fields.number("MAX"))
    default = fields.number("DEFAULT")
    default = (low + high) / 2 if default is None else _clamp(default, low, high)
    identity = fields.number("IDENTITY")
    if identity is not None:
        identity = _clamp(identity, low, high)
    return FloatInput(name, label, default, low, high, identity)


def _parse_long(fields: _Fields, name: str, label: str) -> LongInput:
    raw_values = fields.raw.get("VALUES")
    default = fields.integer("DEFAULT")
    if raw_values is not None:
        if (not isinstance(raw_values, list) or not raw_values
                or not all(_is_int32(v) for v in raw_values)):
            raise fields.error(f"VALUES must be a non-empty list of whole numbers (GLSL ints), "
                               f"not {raw_values!r}")
        values = tuple(int(v) for v in raw_values)
        labels = fields.raw.get("LABELS", [str(v) for v in values])
        if (not isinstance(labels, list) or len(labels) != len(values)
                or not all(isinstance(text, str) for text in labels)):
            raise fields.error(f"LABELS must be a list of {len(values)} strings, one per VALUE")
        if default is None:
            default = values[0]
        elif default not in values:  # the nearest value, the first of a tie
            default = min(values, key=lambda v: abs(v - default))
        return LongInput(name, label, default, min(values), max(values), values, tuple(labels))
    low, high = _range(fields, fields.integer("MIN"), fields.integer("MAX"))
    low, high = int(low), int(high)
    default = low if default is None else int(_clamp(default, low, high))
    return LongInput(name, label, default, low, high)


def _parse_bool(fields: _Fields, name: str, label: str) -> BoolInput:
    return BoolInput(name, label, fields.flag("DEFAULT"))


def _parse_event(fields: _Fields, name: str, label: str) -> EventInput:
    return EventInput(name, label)


def _parse_vector(fields: _Fields, size: int, pad: tuple[float, ...],
                  fallback: tuple[float, ...]) -> tuple[tuple, tuple | None, tuple | None]:
    low = fields.vector("MIN", size, pad)
    high = fields.vector("MAX", size, pad)
    if low and high and any(a > b for a, b in zip(low, high, strict=True)):
        raise fields.error(f"MIN {list(low)} is greater than MAX {list(high)} in some component")
    default = fields.vector("DEFAULT", size, pad)
    if default is None:
        default = (tuple((a + b) / 2 for a, b in zip(low, high, strict=True))
                   if low and high else fallback)
    if low:
        default = tuple(max(v, a) for v, a in zip(default, low, strict=True))
    if high:
        default = tuple(min(v, b) for v, b in zip(default, high, strict=True))
    return default, low, high


def _parse_color(fields: _Fields, name: str, label: str) -> ColorInput:
    default, low, high = _parse_vector(fields, 4, (1.0,), (0.0, 0.0, 0.0, 1.0))
    return ColorInput(name, label, default, low, high)


def _parse_point(fields: _Fields, name: str, label: str) -> Point2DInput:
    default, low, high = _parse_vector(fields, 2, (), (0.0, 0.0))
    return Point2DInput(name, label, default, low, high)


def _parse_image(fields: _Fields, name: str, label: str) -> ImageInput:
    return ImageInput(name, label)


def _parse_audio(fields: _Fields, name: str, label: str) -> AudioInput:
    samples = fields.integer("MAX")
    if samples is not None and samples < 1:
        raise fields.error(f"MAX (the sample count) must be at least 1, not {samples}")
    cls = AudioFFTInput if fields.raw.get("TYPE") == "audioFFT" else AudioInput
    return cls(name, label, samples)


_INPUT_PARSERS = {"float": _parse_float, "long": _parse_long, "bool": _parse_bool,
                  "event": _parse_event, "color": _parse_color, "point2D": _parse_point,
                  "image": _parse_image, "audio": _parse_audio, "audioFFT": _parse_audio}


def _parse_imported(raw: object, path: Path, taken: set[str],
                    context: _Context) -> list[ImportedImage]:
    # ISF 2 writes {"name": {"PATH": ...}}; ISF 1 a list of {"NAME": ..., "PATH": ...}.
    if isinstance(raw, dict):
        entries = [(name, spec) for name, spec in raw.items()]
    elif isinstance(raw, list):
        entries = [(spec.get("NAME") if isinstance(spec, dict) else None, spec) for spec in raw]
    else:
        raise context.error(r'"IMPORTED"', "IMPORTED must be an object of name: {PATH}")
    images = []
    for name, spec in entries:
        problem = _name_problem(name)
        where = rf'"{re.escape(str(name))}"'
        if problem:
            raise context.error(where, f"IMPORTED: {problem}")
        if name in taken or any(image.name == name for image in images):
            raise context.error(where, f"IMPORTED {name!r}: the name is already used")
        if not isinstance(spec, dict) or not isinstance(spec.get("PATH"), str):
            raise context.error(where, f"IMPORTED {name!r} needs a PATH string")
        if spec.get("TYPE", "image") != "image":
            raise context.error(where, f"IMPORTED {name!r}: TYPE {spec['TYPE']!r} is not "
                                       "supported (only 2D images)")
        images.append(ImportedImage(name, path.parent / spec["PATH"]))
    return images


def _parse_passes(header: dict, inputs: tuple[IsfInput, ...], taken: set[str],
                  context: _Context) -> tuple[IsfPass, ...]:
    raw = header.get("PASSES", [])
    if not isinstance(raw, list):
        raise context.error(r'"PASSES"', "PASSES must be a list of objects")
    buffers = _persistent_buffers(header.get("PERSISTENT_BUFFERS"), context)
    variables = {item.name: _as_number(getattr(item, "default", 0.0)) for item in inputs
                 if isinstance(item, SIZE_VARIABLE_TYPES)}
    passes = []
    targets: set[str] = set()
    for index, spec in enumerate(raw or [{}]):
        if not isinstance(spec, dict):
            raise context.error(r'"PASSES"', f"pass {index}: must be an object, not {spec!r}")
        target = spec.get("TARGET")
        where = rf'"TARGET"\s*:\s*"{re.escape(str(target))}"' if target else r'"PASSES"'
        if target is not None:
            problem = _name_problem(target)
            if problem:
                raise context.error(where, f"pass {index}: TARGET: {problem}")
            if target in targets:
                raise context.error(where, f"pass {index}: TARGET {target!r} is written by an "
                                           "earlier pass too")
            if target in taken:
                raise context.error(where, f"pass {index}: TARGET {target!r} has the name of "
                                           "an input or imported image")
            targets.add(target)
        fields = _Fields(spec, f"pass {index}", where, context)
        legacy = buffers.get(target, {}) if target else {}
        persistent = fields.flag("PERSISTENT") or target in buffers
        if persistent and not target:
            raise context.error(where, f"pass {index}: PERSISTENT needs a TARGET name")
        sizes = [_size_expression(spec.get(key, legacy.get(key)), key, index, variables,
                                  context) for key in ("WIDTH", "HEIGHT")]
        passes.append(IsfPass(target, persistent,
                              fields.flag("FLOAT", bool(legacy.get("FLOAT", False))), *sizes))
    return tuple(passes)


def _persistent_buffers(raw: object, context: _Context) -> dict[str, dict]:
    """ISF 1's top-level PERSISTENT_BUFFERS (names, or name: {WIDTH, HEIGHT, FLOAT})."""
    if raw is None:
        return {}
    if isinstance(raw, list) and all(isinstance(name, str) for name in raw):
        return {name: {} for name in raw}
    if isinstance(raw, dict) and all(isinstance(spec, dict) for spec in raw.values()):
        return raw
    raise context.error(r'"PERSISTENT_BUFFERS"', "PERSISTENT_BUFFERS must be a list of names")


def _size_expression(raw: object, key: str, index: int, variables: dict[str, float],
                     context: _Context) -> SizeExpression | None:
    if raw is None:
        return None
    where = rf'"{key}"\s*:\s*"?{re.escape(str(raw)[:40])}'
    if _is_number(raw):
        raw = repr(raw)
    if not isinstance(raw, str):
        raise context.error(where, f"pass {index} {key}: must be a number or an expression "
                                   f"string, not {raw!r}")
    try:
        tree = _ExpressionParser(raw).parse()
    except _ExpressionError as exc:
        raise context.error(where, f"pass {index} {key}: {exc} in {raw[:60]!r}") from None
    names = sorted(_variables(tree) - {"WIDTH", "HEIGHT"})
    unknown = [name for name in names if name not in variables]
    if unknown:
        raise context.error(where, f"pass {index} {key}: ${unknown[0]} is neither $WIDTH, "
                                   "$HEIGHT nor a float, long or bool input")
    return SizeExpression(raw, tree, tuple((name, variables[name]) for name in names))


# ----------------------------------------------------------------------------- expressions

class _ExpressionError(ValueError):
    pass


_TOKEN = re.compile(r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
                    r"|\$(?P<variable>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op>[-+*/%(),]))")


def _pow(base: float, exponent: float) -> float:
    try:
        return math.pow(base, exponent)
    except OverflowError:
        return math.inf
    except ValueError:  # a negative base to a fractional power
        return math.nan


FUNCTIONS = {"max": (2, max), "min": (2, min), "floor": (1, math.floor),
             "ceil": (1, math.ceil), "round": (1, lambda x: math.floor(x + 0.5)),
             "abs": (1, abs), "pow": (2, _pow), "sqrt": (1, lambda x: math.sqrt(x) if x >= 0
                                                        else math.nan)}
"""The whole vocabulary of size expressions besides numbers, $variables and + - * / %."""


class _ExpressionParser:
    """expr := term (('+'|'-') term)* ; term := unary (('*'|'/'|'%') unary)* ;
    unary := ('-'|'+') unary | atom ; atom := number | $var | func '(' expr, ... ')' | '(' expr ')'

    Trees are tuples: ("num", x), ("var", name), ("neg", t), ("op", sym, a, b), ("call", f, args).
    """

    def __init__(self, text: str) -> None:
        if len(text) > EXPRESSION_MAX_CHARS:
            raise _ExpressionError(f"longer than {EXPRESSION_MAX_CHARS} characters")
        self.tokens = self._tokenize(text)
        self.position = 0
        self.depth = 0

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens, at = [], 0
        while at < len(text):
            if text[at:].strip() == "":
                break
            match = _TOKEN.match(text, at)
            if not match:
                raise _ExpressionError(f"unexpected {text[at:].strip()[:1]!r} (only numbers, "
                                       "$variables, + - * / %, parentheses and "
                                       f"{', '.join(FUNCTIONS)})")
            kind = match.lastgroup or ""
            tokens.append((kind, match.group(kind)))
            at = match.end()
        return tokens

    def parse(self) -> tuple:
        if not self.tokens:
            raise _ExpressionError("empty expression")
        tree = self._expr()
        if self.position < len(self.tokens):
            raise _ExpressionError(f"unexpected {self.tokens[self.position][1]!r}")
        return tree

    def _peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise _ExpressionError("unexpected end")
        self.position += 1
        return self.tokens[self.position - 1]

    def _expect(self, symbol: str) -> None:
        kind, text = self._take()
        if kind != "op" or text != symbol:
            raise _ExpressionError(f"expected {symbol!r}, found {text!r}")

    def _nested(self, parse):
        self.depth += 1
        if self.depth > EXPRESSION_MAX_DEPTH:
            raise _ExpressionError(f"nested deeper than {EXPRESSION_MAX_DEPTH} levels")
        try:
            return parse()
        finally:
            self.depth -= 1

    def _expr(self) -> tuple:
        tree = self._term()
        while self._peek() in ("+", "-"):
            tree = ("op", self._take()[1], tree, self._term())
        return tree

    def _term(self) -> tuple:
        tree = self._unary()
        while self._peek() in ("*", "/", "%"):
            symbol = self._take()[1]
            if symbol == "*" and self._peek() == "*":
                raise _ExpressionError("** is not allowed (use pow)")
            tree = ("op", symbol, tree, self._unary())
        return tree

    def _unary(self) -> tuple:
        if self._peek() in ("-", "+"):
            symbol = self._take()[1]
            inner = self._nested(self._unary)
            return ("neg", inner) if symbol == "-" else inner
        return self._atom()

    def _atom(self) -> tuple:
        kind, text = self._take()
        if kind == "number":
            return ("num", float(text))
        if kind == "variable":
            return ("var", text)
        if kind == "op" and text == "(":
            tree = self._nested(self._expr)
            self._expect(")")
            return tree
        if kind == "name":
            if text not in FUNCTIONS:
                raise _ExpressionError(f"unknown name {text!r} (functions: "
                                       f"{', '.join(FUNCTIONS)}; variables start with $)")
            self._expect("(")
            args = [self._nested(self._expr)]
            while self._peek() == ",":
                self._take()
                args.append(self._nested(self._expr))
            self._expect(")")
            if len(args) != FUNCTIONS[text][0]:
                raise _ExpressionError(f"{text}() takes {FUNCTIONS[text][0]} argument(s)")
            return ("call", text, tuple(args))
        raise _ExpressionError(f"unexpected {text!r}")


def _variables(tree: tuple) -> set[str]:
    if tree[0] == "var":
        return {tree[1]}
    if tree[0] == "neg":
        return _variables(tree[1])
    if tree[0] == "op":
        return _variables(tree[2]) | _variables(tree[3])
    if tree[0] == "call":
        return set().union(*(_variables(arg) for arg in tree[2]))
    return set()


def _evaluate(tree: tuple, variables: Mapping[str, float]) -> float:
    """Floats throughout: overflow gives inf, 0/0 and x % 0 give nan; never an exception."""
    kind = tree[0]
    if kind == "num":
        return tree[1]
    if kind == "var":
        return variables[tree[1]]
    if kind == "neg":
        return -_evaluate(tree[1], variables)
    if kind == "call":
        args = [_evaluate(arg, variables) for arg in tree[2]]
        if not all(math.isfinite(a) for a in args) and tree[1] in ("floor", "ceil", "round"):
            return args[0]
        return float(FUNCTIONS[tree[1]][1](*args))
    a, b = _evaluate(tree[2], variables), _evaluate(tree[3], variables)
    symbol = tree[1]
    if symbol == "+":
        return a + b
    if symbol == "-":
        return a - b
    if symbol == "*":
        return a * b
    if symbol == "/":
        if b == 0:
            return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
        return a / b
    if b == 0 or math.isnan(b) or not math.isfinite(a):
        return math.nan
    return math.fmod(a, b)


def pass_size(pass_: IsfPass, width: int, height: int,
              values: Mapping[str, object] | None = None) -> tuple[int, int]:
    """The pixel size of ``pass_`` for a ``width`` x ``height`` render and the current input
    ``values`` (name -> value; absent ones take their defaults). Each side is rounded down and
    clamped to ``MIN_PASS_SIZE..MAX_PASS_SIZE``; a result that is not a number (0/0) falls
    back to the render's own size."""
    values = values or {}
    sizes = []
    for expression, full in ((pass_.width, width), (pass_.height, height)):
        result = float(full) if expression is None else expression.evaluate(width, height,
                                                                             values)
        if math.isnan(result):
            result = float(full)
        result = _clamp(result, MIN_PASS_SIZE, MAX_PASS_SIZE)
        sizes.append(int(math.floor(result)))
    return sizes[0], sizes[1]


def default_values(shader: IsfShader) -> dict[str, object]:
    """Each input's starting value (events false; images and audio have none)."""
    values: dict[str, object] = {}
    for item in shader.inputs:
        if isinstance(item, EventInput):
            values[item.name] = False
        elif hasattr(item, "default"):
            values[item.name] = item.default  # type: ignore[attr-defined]
    return values


# ----------------------------------------------------------------------------- GLSL

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

_SAMPLING = """\
vec4 IMG_NORM_PIXEL(sampler2D image, vec2 normCoord) { return texture(image, normCoord); }
vec4 IMG_PIXEL(sampler2D image, vec2 pixelCoord) {
    return texture(image, pixelCoord / vec2(textureSize(image, 0)));
}
vec2 IMG_SIZE(sampler2D image) { return vec2(textureSize(image, 0)); }
"""
_SAMPLING_HERE = """\
vec4 IMG_THIS_NORM_PIXEL(sampler2D image) { return texture(image, isf_FragNormCoord); }
vec4 IMG_THIS_PIXEL(sampler2D image) { return texture(image, isf_FragNormCoord); }
"""
_VERTEX_INIT = """\
// One triangle over the whole target, positions from gl_VertexID (draw 3 vertices, no
// buffers); isf_FragNormCoord runs 0..1 across the target, y up as in gl_FragCoord.
void isf_vertShaderInit() {
    vec2 corner = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    isf_FragNormCoord = corner;
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
    for item in shader.inputs:
        if item.glsl_type != "sampler2D":
            uniforms[item.name] = item.glsl_type
    for name in _samplers(shader):
        uniforms[name] = "sampler2D"
        uniforms[f"_{name}_imgSize"] = "vec2"
        uniforms[f"_{name}_imgRect"] = "vec4"
    return uniforms


def _prepare_body(body: str, uniforms: dict[str, str],
                  renames: list[tuple[re.Pattern, str]]) -> tuple[str, list[str]]:
    """The body with GLSL 1.x spelled for 3.30 core, its #version and #extension lines and
    its own declarations of our uniforms blanked (line count unchanged); the #extension
    lines are returned to go first."""
    extensions = [match.group(0).strip() for match in _EXTENSION_LINE.finditer(body)]
    body = _EXTENSION_LINE.sub("", _VERSION_LINE.sub("", body))
    for pattern, replacement in renames:
        body = pattern.sub(replacement, body)
    names = "|".join(re.escape(name) for name in [*uniforms, "isf_FragNormCoord"])
    redeclared = re.compile(rf"^[ \t]*(?:uniform|in|out)\s+(?:\w+\s+)*?\w+\s+(?:{names})"
                            r"\s*;[ \t]*$", re.MULTILINE)
    return redeclared.sub("", body), extensions


def _assemble(head: list[str], body: str, path: Path, body_line: int) -> TranslatedSource:
    prelude = "\n".join(head) + "\n"
    return TranslatedSource(prelude + body, path, prelude.count("\n"), body_line)


def translate_source(shader: IsfShader) -> TranslatedSource:
    """The fragment shader as ``#version 330 core`` source: the ISF built-ins, a uniform per
    input, the IMG_ sampling functions, then the file's body translated from GLSL 1.x."""
    uniforms = uniform_declarations(shader)
    body, extensions = _prepare_body(shader.body, uniforms, _FRAGMENT_RENAMES)
    code = _COMMENTS.sub("", body)
    head = ["#version 330 core", *extensions,
            "// Declarations generated by live.render.isf for an ISF shader.",
            *(f"uniform {kind} {name};" for name, kind in uniforms.items()),
            "in vec2 isf_FragNormCoord;"]
    if re.search(r"\bisf_FragColor\b", code):  # else the body declares its own out vec4
        head.append("out vec4 isf_FragColor;")
    head += [_SAMPLING.rstrip("\n"), _SAMPLING_HERE.rstrip("\n")]
    return _assemble(head, body, shader.path, shader.body_line)


def translate_vertex(shader: IsfShader) -> TranslatedSource:
    """The vertex shader: the file's ``.vs`` translated (attribute -> in, varying -> out),
    or the default one that only calls ``isf_vertShaderInit()``."""
    uniforms = uniform_declarations(shader)
    if shader.vertex is None:
        body, extensions, path = "void main() { isf_vertShaderInit(); }\n", [], shader.path
    else:
        body, extensions = _prepare_body(shader.vertex, uniforms, _VERTEX_RENAMES)
        path = shader.vertex_path or shader.path.with_suffix(".vs")
    head = ["#version 330 core", *extensions,
            "// Declarations generated by live.render.isf for an ISF vertex shader.",
            *(f"uniform {kind} {name};" for name, kind in uniforms.items()),
            "out vec2 isf_FragNormCoord;", _SAMPLING.rstrip("\n"), _VERTEX_INIT.rstrip("\n")]
    return _assemble(head, body, path, 1)


_LOG_LINE = re.compile(r"^\s*(?:\d+:(\d+)\(\d+\)|\d+\((\d+)\))\s*:?\s*(.*)$")
"""Mesa writes ``0:12(5): error: ...``, NVIDIA ``0(12) : error ...``."""


def located_errors(log: str, fragment: TranslatedSource,
                   vertex: TranslatedSource | None = None) -> str:
    """A driver's compile log (as moderngl raises it) as ``file:line: message`` lines in the
    user's files; a line inside the generated declarations names the header's first line."""
    stages = {"fragment_shader": fragment}
    if vertex is not None:
        stages["vertex_shader"] = vertex
    current = fragment
    lines = []
    for raw in log.splitlines():
        if raw.strip() in stages:
            current = stages[raw.strip()]
            continue
        match = _LOG_LINE.match(raw)
        if not match:
            continue
        line = current.file_line(int(match.group(1) or match.group(2)))
        message = match.group(3).strip()
        if line is None:
            line, message = 1, f"in the generated ISF declarations: {message}"
        lines.append(f"{current.path}:{line}: {message}")
    return "\n".join(lines) if lines else f"{fragment.path}:1: {log.strip()}"


# ----------------------------------------------------------------------------- listing

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

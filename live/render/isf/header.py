"""Reading an ISF file: the JSON header found, checked and turned into an ``IsfShader``."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from live.render.isf.expressions import _ExpressionError, _ExpressionParser, _variables
from live.render.isf.inputs import _as_number, _Fields, _is_number, _parse_inputs
from live.render.isf.model import (
    SIZE_VARIABLE_TYPES,
    FloatInput,
    ImageInput,
    ImportedImage,
    IsfError,
    IsfInput,
    IsfPass,
    IsfShader,
    SizeExpression,
    _Context,
    _find_line,
    _name_problem,
)
from live.safeio import SHADER_MAX_BYTES, FileReadError, check_regular, read_text

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
        line = _find_line(context.header, context.header_line, where)
        passes.append(IsfPass(target, persistent,
                              fields.flag("FLOAT", bool(legacy.get("FLOAT", False))), *sizes,
                              line=line))
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

"""The INPUTS of an ISF header checked into typed inputs (defaults, ranges, clamping)."""

from __future__ import annotations

import math

from live.render.isf.model import (
    INPUT_TYPES,
    AudioFFTInput,
    AudioInput,
    BoolInput,
    ColorInput,
    EventInput,
    FloatInput,
    ImageInput,
    IsfError,
    IsfInput,
    LongInput,
    Point2DInput,
    _Context,
    _name_pattern,
    _name_problem,
)


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

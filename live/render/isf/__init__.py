"""ISF 2.0 shaders as typed, checked descriptions: the header parser and the GLSL translator.

An ISF file is a GLSL fragment shader that begins with a ``/*{ ... }*/`` JSON comment naming
its inputs, passes and imported images. This package turns that file into frozen dataclasses
(:class:`IsfShader`, one class per input type, :class:`IsfPass`) and its body into GLSL 3.30
core source; it knows nothing of OpenGL, so every rule here is testable without a context.
Building programs, textures and framebuffers from these descriptions is the host's job.

Every problem is an :class:`IsfError` whose message begins ``file:line:``. Pass sizes are
arithmetic over ``$WIDTH``, ``$HEIGHT`` and numeric inputs, parsed here by a small
recursive-descent parser (never ``eval``) and evaluated by :func:`pass_size`.
See docs/isf.md for what is accepted, the defaults and the errors.

Modules: ``model`` (the descriptions and reserved names), ``header`` (finding and checking the
JSON header), ``inputs`` (INPUTS into typed inputs), ``expressions`` (pass sizes),
``translate`` (GLSL 3.30 core source and the line map).
"""

from live.render.isf.expressions import default_values, pass_size
from live.render.isf.header import load_isf, parse_isf
from live.render.isf.model import (
    MAX_PASS_SIZE,
    MIN_PASS_SIZE,
    AudioFFTInput,
    AudioInput,
    BoolInput,
    ColorInput,
    EventInput,
    FloatInput,
    ImageInput,
    ImportedImage,
    IsfError,
    IsfInput,
    IsfPass,
    IsfShader,
    LongInput,
    Point2DInput,
    SizeExpression,
)
from live.render.isf.translate import (
    TranslatedSource,
    describe,
    located_errors,
    raw_samplers,
    translate_source,
    translate_vertex,
    uniform_declarations,
)

__all__ = [
    "MAX_PASS_SIZE", "MIN_PASS_SIZE", "AudioFFTInput", "AudioInput", "BoolInput", "ColorInput",
    "EventInput", "FloatInput", "ImageInput", "ImportedImage", "IsfError", "IsfInput",
    "IsfPass", "IsfShader", "LongInput", "Point2DInput", "SizeExpression", "TranslatedSource",
    "default_values", "describe", "load_isf", "located_errors", "parse_isf", "pass_size",
    "raw_samplers", "translate_source", "translate_vertex", "uniform_declarations",
]

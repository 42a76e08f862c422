"""Shader passes: GLSL files from ``live/render/glsl`` compiled into programs, drawn as one
full-target triangle (or a quad), with render targets kept by size and reused.

A compile error names the GLSL file and line (``source.frag:12: error: ...``): the driver's
log is mapped back from its ``0:12(5)`` / ``0(12)`` form. Uniform values are cached on the
Python side and written only when they change (each write is a GL call).
"""

from __future__ import annotations

import re
from pathlib import Path

from live.safeio import SHADER_MAX_BYTES, FileReadError, read_text

SHADER_DIR = Path(__file__).with_name("glsl")


class ShaderError(RuntimeError):
    """A shader that could not be read or compiled; the message starts with ``file:line``."""


_LOG_LINE = re.compile(r"^\s*(?:\d+:(\d+)\(\d+\)|\d+\((\d+)\))\s*:?\s*(.*)$")
"""Mesa writes ``0:12(5): error: ...``, NVIDIA ``0(12) : error ...``."""


def driver_log_entries(log: str) -> list[tuple[str | None, int, str]]:
    """``(stage, line, message)`` for each line of a compile log as moderngl raises it; the
    stage is the ``vertex_shader`` / ``fragment_shader`` heading above it (None before one)."""
    stage = None
    entries = []
    for raw in log.splitlines():
        stripped = raw.strip()
        if stripped in ("vertex_shader", "fragment_shader"):
            stage = stripped
            continue
        match = _LOG_LINE.match(raw)
        if match:
            entries.append((stage, int(match.group(1) or match.group(2)),
                            match.group(3).strip()))
    return entries


def located_errors(log: str, stage_files: dict[str, str]) -> str:
    """The driver's compile log as ``file:line: message`` lines. ``stage_files`` maps the
    stage names moderngl prints (``vertex_shader``, ``fragment_shader``) to file names."""
    first = next(iter(stage_files.values()), "shader")
    lines = [f"{stage_files.get(stage, first)}:{line}: {message}"
             for stage, line, message in driver_log_entries(log)]
    return "\n".join(lines) if lines else f"{first}:1: {log.strip()}"


def load_source(name: str, folder: Path = SHADER_DIR) -> str:
    try:
        return read_text(folder / name, SHADER_MAX_BYTES)
    except FileReadError as exc:
        raise ShaderError(f"{folder / name}:1: {exc.reason}") from None


def with_defines(text: str, defines: dict[str, int]) -> str:
    """``text`` with one ``#define NAME VALUE`` line per define after its ``#version`` line;
    the driver's line numbers after them are then off by ``len(defines)``, which
    ``compile_program`` takes back out of its messages."""
    if not defines:
        return text
    head, _, rest = text.partition("\n")
    lines = [f"#define {name} {int(value)}" for name, value in defines.items()]
    return "\n".join([head, *lines, rest])


def compile_program(ctx, vertex: str, fragment: str, folder: Path = SHADER_DIR,
                    sources: dict[str, str] | None = None, defines: dict[str, int] | None = None):
    """A program from two GLSL files (or ``sources`` given by file name, for tests and hosts
    that generate code) with ``defines`` for the fragment shader; ``ShaderError`` with
    ``file:line`` when it does not compile."""
    import moderngl

    sources = sources or {}
    defines = defines or {}
    texts = {name: sources.get(name) or load_source(name, folder) for name in (vertex, fragment)}
    texts[fragment] = with_defines(texts[fragment], defines)
    try:
        return ctx.program(vertex_shader=texts[vertex], fragment_shader=texts[fragment])
    except moderngl.Error as exc:
        where = {"vertex_shader": str(folder / vertex), "fragment_shader": str(folder / fragment)}
        located = located_errors(str(exc), where)
        if defines:  # the inserted #define lines moved the fragment shader's lines down
            located = _shift_lines(located, str(folder / fragment), len(defines))
        raise ShaderError(located) from None


def _shift_lines(text: str, file: str, by: int) -> str:
    def back(match: re.Match) -> str:
        return f"{file}:{max(1, int(match.group(1)) - by)}:"

    return re.sub(rf"^{re.escape(file)}:(\d+):", back, text, flags=re.MULTILINE)


class Pass:
    """One program drawn over a whole target (``fullscreen.vert``) or as a quad."""

    def __init__(self, ctx, fragment: str, vertex: str = "fullscreen.vert",
                 folder: Path = SHADER_DIR, sources: dict[str, str] | None = None,
                 defines: dict[str, int] | None = None) -> None:
        self.ctx = ctx
        self.name = fragment
        self.program = compile_program(ctx, vertex, fragment, folder, sources, defines)
        self.vao = ctx.vertex_array(self.program, [])
        self._values: dict[str, object] = {}
        self._vertices = 4 if vertex == "quad.vert" else 3

    def set(self, name: str, value) -> None:
        """Write a uniform when its value changed; names the compiler removed are ignored."""
        if self._values.get(name) == value:
            return
        self._values[name] = value
        if name in self.program:
            self.program[name].value = value

    def bind(self, **samplers) -> None:
        """Texture units for samplers: ``bind(picture=texture, ...)`` in argument order."""
        for unit, (name, texture) in enumerate(samplers.items()):
            self.set(name, unit)
            texture.use(unit)

    def draw(self, framebuffer) -> None:
        import moderngl

        framebuffer.use()
        mode = moderngl.TRIANGLE_STRIP if self._vertices == 4 else moderngl.TRIANGLES
        self.vao.render(mode=mode, vertices=self._vertices)

    def release(self) -> None:
        self.vao.release()
        self.program.release()


class Target:
    """A texture and its framebuffer, ``size`` (w, h) pixels, linear filtering, clamped."""

    def __init__(self, ctx, size: tuple[int, int], dtype: str = "f1") -> None:
        self.size = size
        self.texture = ctx.texture(size, 4, dtype=dtype)
        self.texture.repeat_x = self.texture.repeat_y = False
        self.framebuffer = ctx.framebuffer(color_attachments=[self.texture])

    def clear(self) -> None:
        self.framebuffer.clear(0.0, 0.0, 0.0, 1.0)

    def release(self) -> None:
        self.framebuffer.release()
        self.texture.release()

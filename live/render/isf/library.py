"""Where ISF files are found, and the check behind ``live shaders check``.

Folders, in order: the project's ``shaders/`` (``[paths] shaders``), the folders in
``[paths] isf``, and the standard ISF locations that exist on this machine (macOS
``~/Library/Graphics/ISF`` and ``/Library/Graphics/ISF``, Windows ``C:/ProgramData/ISF``,
Linux ``~/.local/share/ISF``). A check parses a file, compiles it and renders a few frames
headless (filters get a test picture, transitions a progress ramp, audio inputs a synthetic
signal) and calls a frame that is all one colour a failure: a shader that compiles but draws
nothing is no use on stage either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from live.render import isf
from live.render.passes import ShaderError

STANDARD_FOLDERS = (
    Path("~/Library/Graphics/ISF"), Path("/Library/Graphics/ISF"),
    Path("C:/ProgramData/ISF"), Path("~/.local/share/ISF"),
)
CHECK_SIZE = (320, 180)
CHECK_FRAMES = 4


def shader_folders(project: Path, extra: tuple[str, ...] = ()) -> list[Path]:
    """The folders searched for ``.fs`` files, those that exist, in order, without repeats."""
    folders = [project, *(Path(e).expanduser() for e in extra),
               *(f.expanduser() for f in STANDARD_FOLDERS)]
    seen, found = set(), []
    for folder in folders:
        key = folder.resolve() if folder.exists() else folder
        if folder.is_dir() and key not in seen:
            seen.add(key)
            found.append(folder)
    return found


def find_shaders(targets: list[Path]) -> list[Path]:
    """``.fs`` files among ``targets`` (files as given, folders searched recursively)."""
    files: list[Path] = []
    for target in targets:
        if target.is_dir():
            files.extend(sorted(p for p in target.rglob("*.fs") if p.is_file()))
        else:
            files.append(target)
    return files


@dataclass(frozen=True)
class CheckResult:
    path: Path
    ok: bool
    stage: str
    """"parse", "compile", "render" (where it failed) or "ok"."""
    message: str
    kind: str = ""


def _test_picture(ctx, size: tuple[int, int], phase: float):
    """A picture with structure in every channel (bars, a gradient, a disc), row 0 on top."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 0.5 + 0.5 * np.sin(x / width * 6 * math.pi + phase)
    green = y / max(height - 1, 1)
    blue = ((x - width / 2) ** 2 + (y - height / 2) ** 2 < (height / 3) ** 2).astype(np.float32)
    rgba = np.stack([red, green, blue, np.ones_like(red)], axis=2)
    return ctx.texture(size, 4, (rgba * 255).astype(np.uint8).tobytes())


def check_shader(ctx, path: Path, size: tuple[int, int] = CHECK_SIZE,
                 frames: int = CHECK_FRAMES) -> CheckResult:
    """Parse, compile and render ``path``; the first problem, with its stage and message."""
    from live.render.isf.host import IsfRenderer
    from live.render.passes import Target

    try:
        shader = isf.load_isf(path)
    except isf.IsfError as exc:
        return CheckResult(path, False, "parse", str(exc))
    try:
        renderer = IsfRenderer(ctx, shader)
    except ShaderError as exc:
        return CheckResult(path, False, "compile", str(exc), shader.kind)
    target = Target(ctx, size)
    pictures = [_test_picture(ctx, size, 0.0), _test_picture(ctx, size, 2.0)]
    try:
        images = {item.name: pictures[i % 2] for i, item in enumerate(
            i for i in shader.inputs if isinstance(i, isf.ImageInput))}
        t = np.linspace(0, 1, 1024, dtype=np.float32)
        audio = {item.name: (np.abs(np.sin(t * 40)) if isinstance(item, isf.AudioFFTInput)
                             else np.sin(t * 2 * math.pi * 8)) for item in shader.inputs
                 if isinstance(item, isf.AudioInput)}
        for frame in range(frames):
            values = {"progress": (frame + 1) / (frames + 1)} if shader.kind == "transition" \
                else {}
            renderer.render(target.framebuffer, size, values, images, time_s=frame / 30,
                            dt_s=1 / 30, frame_index=frame, audio=audio)
        data = np.frombuffer(target.framebuffer.read(components=3), np.uint8)
        if int(data.max()) - int(data.min()) == 0:
            return CheckResult(path, False, "render", f"{path}: renders one flat colour",
                               shader.kind)
        return CheckResult(path, True, "ok", isf.describe(shader), shader.kind)
    except Exception as exc:  # a host error on a user's file is that file's failure
        return CheckResult(path, False, "render", f"{path}: {type(exc).__name__}: {exc}",
                           shader.kind)
    finally:
        renderer.release()
        target.release()
        for picture in pictures:
            picture.release()


def shader_cost(ctx, path: Path, size: tuple[int, int], frames: int = 10,
                per_pass: bool = True) -> float:
    """Median milliseconds to draw ``path`` once at ``size`` over a noise picture, each frame
    finished before the next (llvmpipe drops a queued draw that a later one covers)."""
    import time

    from live.render.isf.host import IsfRenderer
    from live.render.passes import Target

    shader = isf.load_isf(path)
    rng = np.random.default_rng(0)
    picture = ctx.texture(size, 4, (rng.random((size[1], size[0], 4)) * 255)
                          .astype(np.uint8).tobytes())
    out = Target(ctx, size)
    renderer = IsfRenderer(ctx, shader, per_pass=per_pass)
    try:
        images = {item.name: picture for item in shader.inputs
                  if type(item) is isf.ImageInput}
        values = {"progress": 0.5} if shader.kind == "transition" else {}
        times = []
        for frame in range(frames + 3):
            start = time.perf_counter()
            renderer.render(out.framebuffer, size, values, images, frame / 60, 1 / 60, frame)
            ctx.finish()
            times.append(time.perf_counter() - start)
        return float(np.median(times[3:])) * 1e3
    finally:
        renderer.release()
        out.release()
        picture.release()


def run_command(cfg, command: str | None, targets: list[Path], as_json: bool,
                size: tuple[int, int] = (1280, 720), one_program: bool = False) -> int:
    """``live shaders`` (list) and ``live shaders check [FILES|DIRS]`` (exit 1 on a failure)."""
    import json

    folders = shader_folders(cfg.path("shaders"), cfg.paths.isf)
    files = find_shaders(targets or folders)
    if command not in ("check", "cost"):
        for path in files:
            try:
                line = isf.describe(isf.load_isf(path))
            except isf.IsfError as exc:
                line = f"(not usable: {exc})"
            print(json.dumps({"path": str(path), "shader": line}) if as_json
                  else f"{path}: {line}")
        if not as_json:
            print(f"{len(files)} shaders in {', '.join(map(str, folders)) or 'no folder'}")
        return 0
    from live.render import glcontext

    try:
        ctx = glcontext.standalone()
    except glcontext.GLContextError as exc:
        print(f"live: {exc}")
        return 2
    if command == "cost":
        try:
            for path in files:
                try:
                    ms = shader_cost(ctx, path, size, per_pass=not one_program)
                except (isf.IsfError, ShaderError) as exc:
                    print(f"{path}: not measured: {str(exc).splitlines()[0]}")
                    continue
                if as_json:
                    print(json.dumps({"path": str(path), "size": list(size), "ms": round(ms, 2),
                                      "one_program": one_program}))
                else:
                    print(f"{path}: {ms:.1f} ms at {size[0]}x{size[1]}")
        finally:
            ctx.release()
        return 0
    failed = 0
    try:
        for path in files:
            result = check_shader(ctx, path)
            failed += not result.ok
            if as_json:
                print(json.dumps({"path": str(path), "ok": result.ok, "stage": result.stage,
                                  "kind": result.kind, "message": result.message}))
            else:
                print(f"{path}: ok" if result.ok else f"{result.message}  [{result.stage}]")
    finally:
        ctx.release()
    passed = len(files) - failed
    rate = 100.0 * passed / len(files) if files else 0.0
    if not as_json:
        print(f"{passed} of {len(files)} shaders parse, compile and render ({rate:.1f}%)")
    return 1 if failed or not files else 0

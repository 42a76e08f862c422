"""The OpenGL 3.3 core context the compositor draws with: a pygame-ce window's, or EGL's.

Why moderngl: a thin, typed wrapper over the GL 3.3 core API that owns programs, textures,
framebuffers and buffers as Python objects (created once, reused), exposes timer queries and
asynchronous ``read_into`` a buffer (pixel-buffer-object readback), and creates headless EGL
contexts through ``glcontext`` with no X server. PyOpenGL would need the same wrappers written
by hand; pygame-ce alone has no shader API.

Headless (``--headless``, ``live bench``, ``live soak``, the tests) uses a standalone EGL
context, so CI runs exactly the shaders a show runs; on a machine without a GPU Mesa's
llvmpipe executes them on the CPU.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install OpenGL/EGL: Debian/Ubuntu `apt install libegl1 libgl1-mesa-dri` (Mesa's llvmpipe "
    "runs the shaders on the CPU when there is no GPU), Fedora `dnf install mesa-libEGL "
    "mesa-dri-drivers`; macOS and Windows ship OpenGL with the graphics driver"
)
REQUIRED_GL = 330


class GLContextError(RuntimeError):
    """No usable OpenGL 3.3 context; the message names the missing piece and the fix."""


def _moderngl():
    try:
        import moderngl
    except ImportError as exc:  # a broken install: the package is a dependency
        raise GLContextError(f"the moderngl package is missing ({exc}); "
                             "reinstall live (`pip install -e .`)") from None
    return moderngl


def standalone() -> object:
    """A headless context (EGL on Linux; the platform's own elsewhere)."""
    moderngl = _moderngl()
    backend = {"backend": "egl"} if os.name == "posix" and not _is_macos() else {}
    try:
        ctx = moderngl.create_context(standalone=True, require=REQUIRED_GL, **backend)
    except Exception as exc:  # glcontext raises bare Exceptions naming the missing library
        raise GLContextError(f"cannot create a headless OpenGL {REQUIRED_GL // 100}."
                             f"{REQUIRED_GL % 100 // 10} context ({exc}); {INSTALL_HINT}") from None
    ctx.gc_mode = "auto"  # textures of text lines that left are released with them
    log.debug("GL: %s, %s", ctx.info.get("GL_RENDERER"), ctx.info.get("GL_VERSION"))
    return ctx


def from_window() -> object:
    """The context of the current pygame-ce OpenGL window (``pygame.OPENGL`` set_mode)."""
    moderngl = _moderngl()
    try:
        ctx = moderngl.create_context(require=REQUIRED_GL)
    except Exception as exc:
        raise GLContextError(f"the window has no OpenGL {REQUIRED_GL // 100}."
                             f"{REQUIRED_GL % 100 // 10} core context ({exc}); "
                             f"update the graphics driver, or {INSTALL_HINT}") from None
    ctx.gc_mode = "auto"
    log.info("GL: %s, %s", ctx.info.get("GL_RENDERER"), ctx.info.get("GL_VERSION"))
    return ctx


def renderer_name(ctx) -> str:
    return str(ctx.info.get("GL_RENDERER", "unknown"))


def is_software(ctx) -> bool:
    """True on Mesa's CPU rasterisers (llvmpipe, softpipe): no GPU behind the shaders."""
    name = renderer_name(ctx).lower()
    return "llvmpipe" in name or "softpipe" in name or "software" in name


def _is_macos() -> bool:
    import sys

    return sys.platform == "darwin"

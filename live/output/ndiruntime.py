"""The NDI runtime that cyndilib bundles, called through ctypes: the few C functions the
sender (live/output/ndi.py) and the measuring receiver (live/output/ndiprobe.py) use.

Why not only cyndilib's classes (measured with cyndilib 0.1.3 and its NDI 6.3 runtime):

* ``Sender``: the size of an open sender's video frame cannot change, so a new output size
  (a window resized, fullscreen toggled) means a new sender, which listens on another port;
  receivers that were connected did not come back to it (30 s on loopback). The C API takes
  each frame's size with the frame: the source stays, receivers see the new size.
* ``Sender.open`` crashes the process (a method called on None) instead of raising when the
  runtime refuses a sender -- which it does for a name another program on this machine
  already sends under -- unless an audio frame is attached.
* ``Receiver`` always attaches a frame-sync, which takes frames from the same queue:
  ``Receiver.receive`` sees about half of them.

ctypes releases the GIL for every call, so a call that waits in the runtime never holds up
the render thread. The structures below are the NDI SDK's (Processing.NDI.*.h), which have
kept their layout since NDI 4.
"""

from __future__ import annotations

import ctypes
import glob
from pathlib import Path

FRAME_NONE = 0
FRAME_VIDEO = 1
FRAME_ERROR = 4
COLOR_RGBX_RGBA = 2
COLOR_FASTEST = 100
BANDWIDTH_HIGHEST = 100
FORMAT_PROGRESSIVE = 1
TIMECODE_SYNTHESIZE = (1 << 63) - 1


def fourcc(code: str) -> int:
    return int.from_bytes(code.encode("ascii"), "little")


class Source(ctypes.Structure):
    _fields_ = [("p_ndi_name", ctypes.c_char_p), ("p_url_address", ctypes.c_char_p)]


class FindCreate(ctypes.Structure):
    _fields_ = [("show_local_sources", ctypes.c_bool), ("p_groups", ctypes.c_char_p),
                ("p_extra_ips", ctypes.c_char_p)]


class RecvCreate(ctypes.Structure):
    _fields_ = [("source_to_connect_to", Source), ("color_format", ctypes.c_int),
                ("bandwidth", ctypes.c_int), ("allow_video_fields", ctypes.c_bool),
                ("p_ndi_recv_name", ctypes.c_char_p)]


class SendCreate(ctypes.Structure):
    _fields_ = [("p_ndi_name", ctypes.c_char_p), ("p_groups", ctypes.c_char_p),
                ("clock_video", ctypes.c_bool), ("clock_audio", ctypes.c_bool)]


class VideoFrame(ctypes.Structure):
    _fields_ = [("xres", ctypes.c_int), ("yres", ctypes.c_int), ("FourCC", ctypes.c_int),
                ("frame_rate_N", ctypes.c_int), ("frame_rate_D", ctypes.c_int),
                ("picture_aspect_ratio", ctypes.c_float), ("frame_format_type", ctypes.c_int),
                ("timecode", ctypes.c_int64), ("p_data", ctypes.c_void_p),
                ("line_stride_in_bytes", ctypes.c_int), ("p_metadata", ctypes.c_char_p),
                ("timestamp", ctypes.c_int64)]


def runtime_path() -> str:
    """The NDI runtime cyndilib loads (importing cyndilib loads it into this process)."""
    import cyndilib  # noqa: F401  (loads the bundled runtime)

    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                if "libndi" in line:
                    return line.split(None, 5)[-1].strip()
    except OSError:
        pass
    root = Path(cyndilib.__file__).parent
    # Linux wheels (auditwheel), macOS wheels (delocate), Windows wheels, the source layout
    for pattern in ("../cyndilib.libs/libndi*", ".dylibs/*ndi*",
                    "wrapper/bin/Processing.NDI.Lib*.dll", "wrapper/bin/*/libndi*",
                    "wrapper/bin/*.dylib", "wrapper/lib/*.dylib"):
        found = sorted(glob.glob(str(root / pattern)))
        if found:
            return found[0]
    raise OSError("the NDI runtime that cyndilib bundles was not found")


_lib = None


def load():
    """The runtime with the prototypes used here, initialised (once per process)."""
    global _lib
    if _lib is not None:
        return _lib
    lib = ctypes.CDLL(runtime_path())
    voidp, u32 = ctypes.c_void_p, ctypes.c_uint32
    signatures = {
        "NDIlib_initialize": (ctypes.c_bool, []),
        "NDIlib_find_create_v2": (voidp, [ctypes.POINTER(FindCreate)]),
        "NDIlib_find_wait_for_sources": (ctypes.c_bool, [voidp, u32]),
        "NDIlib_find_get_current_sources": (ctypes.POINTER(Source),
                                            [voidp, ctypes.POINTER(u32)]),
        "NDIlib_find_destroy": (None, [voidp]),
        "NDIlib_recv_create_v3": (voidp, [ctypes.POINTER(RecvCreate)]),
        "NDIlib_recv_capture_v3": (ctypes.c_int, [voidp, ctypes.POINTER(VideoFrame), voidp,
                                                  voidp, u32]),
        "NDIlib_recv_free_video_v2": (None, [voidp, ctypes.POINTER(VideoFrame)]),
        "NDIlib_recv_destroy": (None, [voidp]),
        "NDIlib_send_create": (voidp, [ctypes.POINTER(SendCreate)]),
        "NDIlib_send_destroy": (None, [voidp]),
        "NDIlib_send_send_video_async_v2": (None, [voidp, ctypes.POINTER(VideoFrame)]),
        "NDIlib_send_get_no_connections": (ctypes.c_int, [voidp, u32]),
        "NDIlib_send_get_source_name": (ctypes.POINTER(Source), [voidp]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    if not lib.NDIlib_initialize():
        raise OSError("the NDI runtime does not run on this CPU")
    _lib = lib
    return lib

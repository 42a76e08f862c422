"""Text for the live text layer: characters made safe to draw, and word wrap by pixel width."""

from __future__ import annotations

import unicodedata

import pygame


def clean(chars: str) -> str:
    """``chars`` with tabs as spaces and every other control, format, surrogate, private-use
    and unassigned character dropped; ``"\\n"`` is kept (it ends a line)."""
    out = []
    for ch in chars:
        if ch == "\n" or unicodedata.category(ch)[0] != "C":
            out.append(ch)
        elif ch == "\t":
            out.append(" ")
    return "".join(out)


def wrap(text: str, font: pygame.font.Font, width_px: int) -> list[tuple[str, str]]:
    """Split one paragraph into lines no wider than ``width_px``.

    Returns ``(line, separator)`` pairs: the separator is the run of spaces the break consumed
    (``""`` where a word too long for a line was cut), so joining ``line + separator`` over the
    pairs gives ``text`` back. Lines break at the last space that keeps them within the width.
    The last pair is what is left after the last break, ``""`` when nothing is.
    """
    def fits(piece: str) -> bool:
        return font.size(piece)[0] <= width_px

    pieces: list[tuple[str, str]] = []
    while not fits(text):
        # longest prefix that fits (at least one character), by bisection on the width
        lo, hi = 1, len(text)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(text[:mid]):
                lo = mid
            else:
                hi = mid - 1
        space = text.rfind(" ", 0, lo + 1)
        line = text[:space].rstrip(" ") if space > 0 else ""
        if line:
            rest = text[len(line):]
            sep = rest[:len(rest) - len(rest.lstrip(" "))]
        else:  # no space to break at: cut the word
            line, sep = text[:lo], ""
        pieces.append((line, sep))
        text = text[len(line) + len(sep):]
    pieces.append((text, ""))  # possibly empty: a full line was just broken off
    return pieces

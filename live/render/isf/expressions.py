"""Pass sizes: WIDTH/HEIGHT arithmetic parsed by a small recursive-descent parser (never
``eval``) and evaluated against ``$WIDTH``, ``$HEIGHT`` and numeric inputs."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from live.render.isf.inputs import _clamp
from live.render.isf.model import (
    EXPRESSION_MAX_CHARS,
    EXPRESSION_MAX_DEPTH,
    MAX_PASS_SIZE,
    MIN_PASS_SIZE,
    EventInput,
    IsfPass,
    IsfShader,
)


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

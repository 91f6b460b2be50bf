"""Formulas across the series of a trends query, parsed safely and computed in Python.

A formula is arithmetic over series letters: ``A`` is the first series, ``B`` the second
(up to the number of series), with ``+ - * /``, unary minus, parentheses and decimal
numbers (``(A + B) / 2``, ``A / B * 100``). It is parsed with Python's ``ast`` in ``eval``
mode and every node is checked against a whitelist, so nothing but those constructs can
appear: no names other than the letters, no calls, attributes, subscripts, powers or
comparisons. It is never compiled or evaluated by Python and never reaches SQL: the
engine computes each series as usual and :func:`evaluate` walks the checked tree per
bucket. Division by zero gives ``None`` (JSON null), and so does any arithmetic on a
``None``.
"""

from __future__ import annotations

import ast
import string

MAX_FORMULA_LENGTH = 200
MAX_NODES = 100
LETTERS = string.ascii_uppercase

_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div)


class FormulaError(ValueError):
    """Why a formula is refused; the message is for the API client."""


def _check(node: ast.AST, series_count: int) -> None:
    if isinstance(node, ast.Expression):
        _check(node.body, series_count)
    elif isinstance(node, ast.BinOp):
        if not isinstance(node.op, _OPERATORS):
            raise FormulaError("only + - * / and parentheses are allowed")
        _check(node.left, series_count)
        _check(node.right, series_count)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub | ast.UAdd):
            raise FormulaError("only + - * / and parentheses are allowed")
        _check(node.operand, series_count)
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise FormulaError("constants must be numbers")
    elif isinstance(node, ast.Name):
        if len(node.id) != 1 or node.id not in LETTERS:
            raise FormulaError(f"unknown name {node.id[:20]!r}: use the series letters A, B, ...")
        if LETTERS.index(node.id) >= series_count:
            raise FormulaError(f"{node.id} names no series: there are {series_count}")
    else:
        raise FormulaError("only series letters, numbers, + - * / and parentheses are allowed")


def parse_formula(text: str, series_count: int) -> ast.Expression:
    """The checked syntax tree of ``text``; raises FormulaError."""
    if not text.strip():
        raise FormulaError("formula is empty")
    if len(text) > MAX_FORMULA_LENGTH:
        raise FormulaError(f"formula longer than {MAX_FORMULA_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError):
        raise FormulaError("formula does not parse") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise FormulaError(f"formula has more than {MAX_NODES} terms")
    _check(tree, series_count)
    return tree


def evaluate(tree: ast.AST, values: dict[str, float | None]) -> float | None:
    """The formula's value for one bucket; ``values`` maps letters to the series' values."""
    if isinstance(tree, ast.Expression):
        return evaluate(tree.body, values)
    if isinstance(tree, ast.Constant):
        assert isinstance(tree.value, int | float)  # parse_formula admits only numbers
        return float(tree.value)
    if isinstance(tree, ast.Name):
        return values.get(tree.id)
    if isinstance(tree, ast.UnaryOp):
        operand = evaluate(tree.operand, values)
        if operand is None:
            return None
        return -operand if isinstance(tree.op, ast.USub) else operand
    assert isinstance(tree, ast.BinOp)  # parse_formula admits nothing else
    left, right = evaluate(tree.left, values), evaluate(tree.right, values)
    if left is None or right is None:
        return None
    if isinstance(tree.op, ast.Add):
        return left + right
    if isinstance(tree.op, ast.Sub):
        return left - right
    if isinstance(tree.op, ast.Mult):
        return left * right
    return None if right == 0 else left / right

"""Hypothesis strategies for random well-typed .irq specs and for mutated spec text."""

from __future__ import annotations

from hypothesis import strategies as st

HEADER = """\
var x: 0..3 = 0
var y: 0..3 = 1
var b: bool = false
var c: bool = true
var s: set of 0..3 = {}
var a: [0..1] of 0..2 = 0
var e: enum { red, green, blue } = red
var r: record { f: 0..2, g: bool } = { f: 0, g: false }
"""

INT_ATOMS = ["x", "y", "a[0]", "a[1]", "r.f", "size(s)", "max(s)", "min(s)", "0", "1", "2", "3"]
BOOL_ATOMS = ["b", "c", "r.g", "true", "false", "empty(s)", "e == red", "e != blue"]
SET_ATOMS = ["s", "{}", "{1}", "{0, 3}"]


def _ints(params):
    return st.sampled_from(INT_ATOMS + params)


@st.composite
def int_expr(draw, depth=2, params=()):
    params = list(params)
    if depth == 0 or draw(st.booleans()):
        return draw(_ints(params))
    kind = draw(st.sampled_from(["+", "-", "*", "%", "/", "ite", "idx", "abs", "max2"]))
    a = draw(int_expr(depth - 1, params))
    if kind in ("+", "-", "*"):
        return f"({a} {kind} {draw(int_expr(depth - 1, params))})"
    if kind in ("%", "/"):
        return f"({a} {kind} {draw(st.sampled_from(['1', '2', '3', 'x', 'y']))})"
    if kind == "ite":
        return (f"(if {draw(bool_expr(depth - 1, params))} then {a} else "
                f"{draw(int_expr(depth - 1, params))})")
    if kind == "idx":
        return f"a[{a}]"
    if kind == "abs":
        return f"abs({a} - 2)"
    return f"max({a}, {draw(int_expr(depth - 1, params))})"


@st.composite
def set_expr(draw, depth=2, params=()):
    if depth == 0 or draw(st.booleans()):
        return draw(st.sampled_from(SET_ATOMS))
    op = draw(st.sampled_from(["+", "-", "&", "lit"]))
    if op == "lit":
        return "{" + draw(int_expr(depth - 1, params)) + "}"
    return f"({draw(set_expr(depth - 1, params))} {op} {draw(set_expr(depth - 1, params))})"


@st.composite
def bool_expr(draw, depth=2, params=()):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(BOOL_ATOMS))
    kind = draw(st.sampled_from(["cmp", "in", "not", "and", "or", "=>", "quant", "seteq"]))
    if kind == "cmp":
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return f"({draw(int_expr(depth - 1, params))} {op} {draw(int_expr(depth - 1, params))})"
    if kind == "in":
        return f"({draw(int_expr(depth - 1, params))} in {draw(set_expr(depth - 1, params))})"
    if kind == "not":
        return f"(not {draw(bool_expr(depth - 1, params))})"
    if kind == "quant":
        q = draw(st.sampled_from(["forall", "exists"]))
        body = draw(bool_expr(depth - 1, tuple(params) + ("i",)))
        return f"({q} i in 0..2: {body})"
    if kind == "seteq":
        return f"({draw(set_expr(depth - 1, params))} == {draw(set_expr(depth - 1, params))})"
    return (f"({draw(bool_expr(depth - 1, params))} {kind} "
            f"{draw(bool_expr(depth - 1, params))})")


@st.composite
def statement(draw, params=(), depth=1):
    kind = draw(st.sampled_from(["int", "bool", "set", "arr", "rec", "enum", "inc", "if", "let"]))
    if kind == "int":
        return f"{draw(st.sampled_from(['x', 'y']))} := {draw(int_expr(2, params))}"
    if kind == "bool":
        return f"{draw(st.sampled_from(['b', 'c', 'r.g']))} := {draw(bool_expr(2, params))}"
    if kind == "set":
        return f"s := {draw(set_expr(2, params))}"
    if kind == "arr":
        return f"a[{draw(int_expr(1, params))}] := {draw(int_expr(1, params))}"
    if kind == "rec":
        return f"r := {{ f: {draw(int_expr(1, params))}, g: {draw(bool_expr(1, params))} }}"
    if kind == "enum":
        return f"e := {draw(st.sampled_from(['red', 'green', 'blue']))}"
    if kind == "inc":
        return f"s {draw(st.sampled_from(['+=', '-=']))} {{{draw(int_expr(1, params))}}}"
    if kind == "let" or depth == 0:
        return (f"let t = {draw(int_expr(1, params))}\n    "
                f"x := if t < 4 and t >= 0 then t else 0")
    then = draw(st.lists(statement(params, depth - 1), min_size=1, max_size=2))
    els = draw(st.lists(statement(params, depth - 1), max_size=2))
    out = f"if {draw(bool_expr(1, params))} {{ " + "; ".join(then) + " }"
    if els:
        out += " else { " + "; ".join(els) + " }"
    return out


@st.composite
def rule(draw, index):
    with_param = draw(st.booleans())
    params = ("p",) if with_param else ()
    head = f"rule r{index}(p: 0..1)" if with_param else f"rule r{index}"
    guard = draw(bool_expr(2, params))
    body = draw(st.lists(statement(params), min_size=1, max_size=3))
    asserts = ""
    if draw(st.integers(0, 4)) == 0:
        asserts = f"\n  assert act{index}: {draw(bool_expr(1, params))}"
    return f"{head} when {guard} {{{asserts}\n  " + "\n  ".join(body) + "\n}\n"


@st.composite
def spec(draw):
    """A random well-typed spec over a fixed set of variables."""
    rules = [draw(rule(i)) for i in range(draw(st.integers(1, 4)))]
    invs = [f"invariant inv{i}: {draw(bool_expr(2))}\n"
            for i in range(draw(st.integers(0, 2)))]
    invs += [f"reachable reach{i}: {draw(bool_expr(2))}\n"
             for i in range(draw(st.integers(0, 1)))]
    invs += [f"lost lost{i}(p: 0..1): {draw(bool_expr(1, ('p',)))} ~> "
             f"{draw(bool_expr(1, ('p',)))}\n" for i in range(draw(st.integers(0, 1)))]
    deadlock = draw(st.booleans())
    return HEADER + f"option deadlock = {'true' if deadlock else 'false'}\n" + \
        "".join(rules) + "".join(invs)


@st.composite
def mutated(draw, texts):
    """A valid spec text with a few random edits: deletions, insertions, swaps."""
    text = draw(st.sampled_from(texts))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        j = min(len(text), i + draw(st.integers(0, 12)))
        kind = draw(st.sampled_from(["delete", "insert", "duplicate", "replace"]))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        else:
            token = draw(st.sampled_from(
                ["{", "}", "(", ")", ":", ":=", "=", "..", "0", "99", "-1", "x", "rule",
                 "when", "var", "set of", "forall", "in", "+", "not", "$", "\"", "@kvm(",
                 "lapic", "[", "]", ",", ";", "\n", "if", "else", "true", "1..0", "int"]))
            text = text[:i] + token + (text[j:] if kind == "replace" else text[i:])
    return text

"""Text to AST: the Lark grammar, a transformer to ast nodes, syntax errors as diagnostics."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from checker.diagnostics import Diagnostic, Span
from checker.lang import ast

KEYWORDS = {
    "import", "check", "reachable", "lost", "const", "type", "var", "def", "proc", "rule",
    "when", "invariant", "option",
    "component", "instance", "bool", "enum", "set", "of", "record", "let", "for", "in",
    "assert", "skip", "if", "then", "else", "forall", "exists", "and", "or", "not", "true",
    "false",
}


@lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = resources.files("checker.lang").joinpath("grammar.lark").read_text()
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True,
                cache=True)


def _span(file: str, meta) -> Span:
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _tspan(file: str, tok: Token) -> Span:
    return Span(file, tok.line, tok.column, tok.end_line or tok.line,
                tok.end_column or tok.column + len(tok))


@v_args(meta=True)
class _ToAst(Transformer_NonRecursive):
    """Builds ast nodes bottom-up; every node gets the span of its parse-tree node."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _name(self, tok: Token) -> ast.Name:
        return ast.Name(_tspan(self.file, tok), str(tok))

    def _s(self, meta) -> Span:
        return _span(self.file, meta)

    # ---- module ----
    def start(self, meta, items):
        return ast.Module(self.file, tuple(items))

    def import_decl(self, meta, targets):
        return ast.Import(self._s(meta), tuple(targets))

    def import_target(self, meta, ch):
        tok = ch[0]
        if tok.type == "STRING":
            return (str(tok)[1:-1], True, _tspan(self.file, tok))
        return (str(tok), False, _tspan(self.file, tok))

    def const_decl(self, meta, ch):
        return ast.ConstDecl(self._s(meta), self._name(ch[0]), ch[1], ch[2])

    def type_decl(self, meta, ch):
        return ast.TypeDecl(self._s(meta), self._name(ch[0]), ch[1])

    def var_decl(self, meta, ch):
        return ast.VarDecl(self._s(meta), ch[0], ch[1], ch[2])

    def name_list(self, meta, toks):
        return tuple(self._name(t) for t in toks)

    def def_decl(self, meta, ch):
        return ast.DefDecl(self._s(meta), self._name(ch[0]), ch[1] or (), ch[2])

    def proc_decl(self, meta, ch):
        *anns, name, params, body = ch
        return ast.ProcDecl(self._s(meta), tuple(anns), self._name(name), params or (), body)

    def rule_decl(self, meta, ch):
        *anns, name, params, guard, body = ch
        return ast.RuleDecl(self._s(meta), tuple(anns), self._name(name), params or (), guard,
                            body)

    def invariant_decl(self, meta, ch):
        pclass, name, expr = ch
        return ast.InvariantDecl(self._s(meta), self._name(name), expr, pclass)

    def reachable_decl(self, meta, ch):
        return ast.ReachableDecl(self._s(meta), self._name(ch[0]), ch[1])

    def lost_decl(self, meta, ch):
        name, params, pre, post = ch
        return ast.LostDecl(self._s(meta), self._name(name), params or (), pre, post)

    def check_decl(self, meta, ch):
        return ast.CheckDecl(self._s(meta), tuple(ch))

    def pclass(self, meta, ch):
        return self._name(ch[0])

    def option_decl(self, meta, ch):
        return ast.OptionDecl(self._s(meta), self._name(ch[0]), ch[1])

    def component_decl(self, meta, ch):
        name, params, *items = ch
        return ast.ComponentDecl(self._s(meta), self._name(name), params or (), tuple(items))

    def instance_decl(self, meta, ch):
        name, ivar, idom, comp, args = ch
        return ast.InstanceDecl(self._s(meta), self._name(name),
                                self._name(ivar) if ivar is not None else None, idom,
                                self._name(comp), args or ())

    def annotation(self, meta, ch):
        return ast.Annotation(self._s(meta), self._name(ch[0]), str(ch[1])[1:-1])

    def params(self, meta, ch):
        return tuple(ch)

    def param(self, meta, ch):
        return ast.Param(self._s(meta), self._name(ch[0]), ch[1])

    def args(self, meta, ch):
        return tuple(a if isinstance(a, ast.Arg) else ast.Arg(a.span, None, a) for a in ch)

    def named_arg(self, meta, ch):
        return ast.Arg(self._s(meta), self._name(ch[0]), ch[1])

    # ---- types ----
    def bool_type(self, meta, ch):
        return ast.BoolType(self._s(meta))

    def range_type(self, meta, ch):
        return ast.RangeType(self._s(meta), ch[0], ch[1])

    def enum_type(self, meta, ch):
        return ast.EnumType(self._s(meta), ch[0])

    def set_type(self, meta, ch):
        return ast.SetType(self._s(meta), ch[0])

    def array_type(self, meta, ch):
        return ast.ArrayType(self._s(meta), ch[0], ch[1])

    def record_type(self, meta, ch):
        return ast.RecordType(self._s(meta), tuple(ch))

    def field(self, meta, ch):
        return (self._name(ch[0]), ch[1])

    def named_type(self, meta, ch):
        return ast.NamedType(self._s(meta), ch[0])

    # ---- statements ----
    def block(self, meta, ch):
        return tuple(ch)

    def assign(self, meta, ch):
        return ast.Assign(self._s(meta), ch[0], ":=", ch[1])

    def add_assign(self, meta, ch):
        return ast.Assign(self._s(meta), ch[0], "+=", ch[1])

    def sub_assign(self, meta, ch):
        return ast.Assign(self._s(meta), ch[0], "-=", ch[1])

    def call_stmt(self, meta, ch):
        return ast.CallStmt(self._s(meta), ch[0])

    def if_stmt(self, meta, ch):
        cond, then, els = ch
        if isinstance(els, ast.If):
            els = (els,)
        return ast.If(self._s(meta), cond, then, els or ())

    def let_stmt(self, meta, ch):
        return ast.Let(self._s(meta), self._name(ch[0]), ch[1])

    def for_stmt(self, meta, ch):
        return ast.For(self._s(meta), self._name(ch[0]), ch[1], ch[2])

    def assert_stmt(self, meta, ch):
        pclass, name, cond = ch
        return ast.Assert(self._s(meta), self._name(name), cond, pclass)

    def skip_stmt(self, meta, ch):
        return ast.Skip(self._s(meta))

    # ---- expressions ----
    def ite(self, meta, ch):
        return ast.Ite(self._s(meta), *ch)

    def forall(self, meta, ch):
        return ast.Quant(self._s(meta), "forall", self._name(ch[0]), ch[1], ch[2])

    def exists(self, meta, ch):
        return ast.Quant(self._s(meta), "exists", self._name(ch[0]), ch[1], ch[2])

    def implies(self, meta, ch):
        return ast.Binary(self._s(meta), "=>", ch[0], ch[1])

    def or_(self, meta, ch):
        return ast.Binary(self._s(meta), "or", ch[0], ch[1])

    def and_(self, meta, ch):
        return ast.Binary(self._s(meta), "and", ch[0], ch[1])

    def not_(self, meta, ch):
        return ast.Unary(self._s(meta), "not", ch[0])

    def compare(self, meta, ch):
        return ast.Binary(self._s(meta), str(ch[1]), ch[0], ch[2])

    def member(self, meta, ch):
        return ast.Binary(self._s(meta), "in", ch[0], ch[1])

    def not_member(self, meta, ch):
        return ast.Binary(self._s(meta), "notin", ch[0], ch[1])

    def binop(self, meta, ch):
        return ast.Binary(self._s(meta), str(ch[1]), ch[0], ch[2])

    def neg(self, meta, ch):
        return ast.Unary(self._s(meta), "-", ch[0])

    def index(self, meta, ch):
        return ast.Index(self._s(meta), ch[0], ch[1])

    def field_access(self, meta, ch):
        return ast.FieldAccess(self._s(meta), ch[0], self._name(ch[1]))

    def call(self, meta, ch):
        return ast.Call(self._s(meta), ch[0], ch[1] or ())

    def number(self, meta, ch):
        text = str(ch[0])
        return ast.Number(self._s(meta), int(text, 16) if text[:2] in ("0x", "0X") else int(text))

    def true(self, meta, ch):
        return ast.BoolLit(self._s(meta), True)

    def false(self, meta, ch):
        return ast.BoolLit(self._s(meta), False)

    def name(self, meta, ch):
        return self._name(ch[0])

    def set_lit(self, meta, ch):
        return ast.SetLit(self._s(meta), tuple(c for c in ch if c is not None))

    def record_lit(self, meta, ch):
        return ast.RecordLit(self._s(meta), tuple(ch))

    def field_init(self, meta, ch):
        return (self._name(ch[0]), ch[1])

    def array_lit(self, meta, ch):
        return ast.ArrayLit(self._s(meta), tuple(ch))


def parse(text: str, file: str) -> tuple[ast.Module | None, list[Diagnostic]]:
    """Parse one file. On a syntax error returns (None, [the diagnostic])."""
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as err:
        return None, [_syntax_diagnostic(err, text, file)]
    return _ToAst(file).transform(tree), []


# ---- syntax errors ----

def _terminal_text(name: str) -> str:
    for term in _lark().terminals:
        if term.name == name:
            if term.pattern.type == "str":
                return f"'{term.pattern.value}'"
            break
    return {"NAME": "a name", "NUMBER": "a number", "STRING": "a string", "CMPOP":
            "a comparison", "ADDOP": "'+' or '-'", "MULOP": "'*', '/', '%' or '&'",
            "$END": "end of file"}.get(name, name)


def _expected_text(expected) -> str:
    names = sorted({_terminal_text(e) for e in expected})
    if len(names) > 8:
        names = names[:8] + ["..."]
    return ", ".join(names)


def _syntax_diagnostic(err: UnexpectedInput, text: str, file: str) -> Diagnostic:
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else "?"
        span = Span(file, err.line, err.column, err.line, err.column + 1)
        hint = {"!": "negation is 'not'", "|": "disjunction is 'or'; set union is '+'",
                "'": "strings use double quotes",
                '"': "a string is closed on the same line: @kvm(\"function\")"}.get(ch)
        if ch == "&" or ch == "=":
            hint = None
        return Diagnostic("E002", f"unexpected character {ch!r}", span,
                          hint or "names are ASCII letters, digits and '_'")
    if isinstance(err, UnexpectedEOF) or (
            isinstance(err, UnexpectedToken) and err.token.type == "$END"):
        lines = text.splitlines() or [""]
        span = Span(file, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)
        opened = _unclosed_brace(text)
        notes = (f"the '{{' at {file}:{opened[0]}:{opened[1]} is never closed",) if opened else ()
        return Diagnostic("E003", "unexpected end of file", span,
                          "a '{' may be missing its '}'", notes)
    assert isinstance(err, UnexpectedToken)
    tok = err.token
    span = _tspan(file, tok)
    expected = set(err.expected)
    return Diagnostic("E001", f"unexpected {_describe(tok)}; expected {_expected_text(expected)}",
                      span, _syntax_hint(tok, expected))


def _describe(tok: Token) -> str:
    if str(tok) in KEYWORDS:
        return f"keyword '{tok}'"
    return f"'{tok}'"


def _syntax_hint(tok: Token, expected: set[str]) -> str | None:
    value = str(tok)
    if value == "=" and "COLON" in expected:
        return "declarations give a type: 'const C: 1..4 = 2', 'var x: bool = false'"
    if value == "=" and ("__ANON_0" in expected or _wants(expected, ":=")):
        return "assignment is ':='; equality is '=='"
    if value == "&":
        return "conjunction is 'and'"
    if value in KEYWORDS and "NAME" in expected:
        return f"'{value}' is a keyword and cannot be used as a name"
    if value == "{" and "WHEN" in expected:
        return "a rule's guard follows 'when': rule r(p: 0..3) when cond { ... }"
    if "ASSERT" in expected and tok.type == "NAME":
        return "statements are assignments (':='), calls, if, let, for, assert or skip"
    return None


def _wants(expected: set[str], literal: str) -> bool:
    return any(_terminal_text(e) == f"'{literal}'" for e in expected)


def _unclosed_brace(text: str) -> tuple[int, int] | None:
    """(line, col) of the innermost '{' that no '}' closes, skipping comments and strings."""
    stack: list[tuple[int, int]] = []
    line, col, i, n = 1, 1, 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            seg = text[i:n if j < 0 else j + 2]
            line += seg.count("\n")
            col = len(seg) - seg.rfind("\n") if "\n" in seg else col + len(seg)
            i += len(seg)
            continue
        if c == '"':
            j = text.find('"', i + 1)
            j = n - 1 if j < 0 else j
            col += j - i + 1
            i = j + 1
            continue
        if c == "{":
            stack.append((line, col))
        elif c == "}" and stack:
            stack.pop()
        if c == "\n":
            line, col = line + 1, 1
        else:
            col += 1
        i += 1
    return stack[-1] if stack else None

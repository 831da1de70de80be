"""Diagnostics: data with a registered code, a source span, a message and a hint.

Every stage returns diagnostics instead of raising; only the CLI renders them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Span:
    """A region of a source file (1-based lines and columns, end exclusive)."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Code:
    code: str
    slug: str
    title: str
    explanation: str
    hint: str  # the hint of a diagnostic that has no more specific one


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    hint: str | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.hint and self.code in CODES:  # every diagnostic carries a hint
            object.__setattr__(self, "hint", CODES[self.code].hint)

    @property
    def slug(self) -> str:
        return CODES[self.code].slug


def _c(code: str, slug: str, title: str, explanation: str, hint: str = "") -> Code:
    return Code(code, slug, title, explanation.strip(),
                hint or f"see 'irqcheck explain {code}'")


_REGISTRY = [
    # ---- E0xx: reading files and syntax ----
    _c("E001", "syntax-error", "Unexpected token",
       """The parser met a token that cannot appear at this point. The message lists
what the grammar expected instead. Common causes: '=' where an assignment needs
':=', a missing closing brace, a keyword used as a name.""",
       "check the line against docs/language.md"),
    _c("E002", "bad-character", "Unexpected character",
       """The file contains a character that starts no token of the language (for
example '$' or a non-ASCII quote). Names are ASCII letters, digits and '_'.""",
       "names are ASCII letters, digits and '_'"),
    _c("E003", "unexpected-eof", "Unexpected end of file",
       """The file ended in the middle of a declaration, usually because a '{' has no
matching '}'.""",
       "a '{' may be missing its '}'"),
    _c("E004", "file-not-found", "File cannot be read",
       """A spec file or an imported model file does not exist or cannot be read.""",
       "check the path"),
    _c("E005", "import-cycle", "Import cycle",
       """Two or more files import each other. Each file can be imported once; move
the shared declarations into a file that both import.""",
       "move shared declarations into a file both import"),
    _c("E006", "bad-import", "Import not found",
       """'import NAME' looks for NAME.irq in the importing file's folder, then in a
'models/' folder next to it or in any folder above it. 'import "path.irq"' takes a
path relative to the importing file.""",
       "put the model in a models/ folder or import it by path"),
    _c("E007", "too-deep", "Expression nested too deeply",
       """An expression or statement is nested so deeply that irqcheck cannot process it
(thousands of levels). Split it with 'let' or helper defs.""",
       "split the expression with 'let' or defs"),
    # ---- E1xx: names ----
    _c("E101", "unknown-name", "Unknown name",
       """A name is used that no declaration in scope introduces. Scopes: rule, proc
and def parameters, 'let' and loop variables, the enclosing component's members,
then global constants, types, variables, definitions, procedures, instances and
enum members.""",
       "declare it, or check the spelling"),
    _c("E102", "duplicate-name", "Name declared twice",
       """Two declarations in the same scope have the same name. Every constant,
type, variable, def, proc, rule, invariant, component and instance needs its own
name; so does every enum member.""",
       "rename one of the two"),
    _c("E103", "unknown-field", "Unknown field or member",
       """'x.f' names a field that the record type of x does not have, or a member
that the component instance x does not declare.""",
       "check the field or member name"),
    _c("E104", "not-callable", "Not a def, proc or builtin",
       """Only defs, procs and the builtins (size, max, min, empty, abs) can be
called.""",
       "call a def, a proc or a builtin"),
    _c("E105", "recursion", "Recursive definition",
       """Defs and procs are inlined where they are used, so they cannot call
themselves, directly or through others. Types, constants and component
members cannot be defined in terms of themselves either.""",
       "defs and procs are inlined; use a bounded 'for' instead"),
    # ---- E2xx: types ----
    _c("E201", "type-mismatch", "Type mismatch",
       """An expression has a type that does not fit where it is used: for example
an int where a bool is required, an enum member of another enum, or a set over
another range.""",
       "the operands or the target need the same kind of value"),
    _c("E202", "wrong-arity", "Wrong number of arguments",
       """A def, proc, builtin or component is called with more or fewer arguments
than it declares.""",
       "match the declared parameters"),
    _c("E203", "not-assignable", "Not assignable",
       """Only state variables (and their elements and fields) can be assigned;
constants, parameters and 'let' names cannot. Assignments are allowed in rule
and proc bodies only.""",
       "only state variables, their elements and fields can be assigned"),
    _c("E204", "not-indexable", "Not an array",
       """'x[i]' needs x to be an array or an instance array.""",
       "index arrays and instance arrays only"),
    _c("E205", "bad-statement", "Statement has no effect",
       """A statement must be an assignment, a procedure call, 'if', 'let', 'for',
'assert' or 'skip'. An expression alone does nothing.""",
       "did you mean an assignment 'x := ...' or a call 'p(...)'?"),
    _c("E206", "proc-in-expression", "Procedure used as a value",
       """Procedures change the state and are statements; they cannot be used
inside an expression. Use a 'def' for a value.""",
       "use a def for a value"),
    _c("E207", "state-in-constant", "Constant expression reads the state",
       """Constant initialisers, type bounds and instance arguments are evaluated
before exploration and can use only constants, defs and literals.""",
       "use constants, defs and literals here"),
    # ---- E3xx: domains and values ----
    _c("E301", "non-finite-domain", "Domain is not finite or is empty",
       """Every variable, parameter and quantifier ranges over a finite, non-empty
domain: bool, an enum, a range lo..hi with lo <= hi, a set over such a range, an
array indexed by one, or a record of these. Sets hold at most 1024 elements.""",
       "give a bounded range lo..hi with lo <= hi"),
    _c("E302", "value-out-of-range", "Value outside its type",
       """A constant or initial value does not lie in its declared type.""",
       "widen the type or change the value"),
    _c("E303", "bad-option", "Unknown option or option value",
       """Known options: 'option deadlock = true|false' (check that some rule is
always enabled; default true).""",
       "known: option deadlock = true|false, and the annotation @kvm(...)"),
    _c("E304", "division-by-zero", "Division by zero in a constant",
       """A constant expression divides by zero.""",
       "the divisor of a constant is 0"),
    _c("E305", "unknown-class", "Unknown property class",
       """Property classes are lost, duplicated, window and priority. They appear in
'check CLASS, ...', in 'invariant CLASS NAME: ...' and in 'assert CLASS NAME: ...'.
An assert name has one class wherever it is used.""",
       "classes: lost, duplicated, window, priority"),
    _c("E306", "vacuous-check", "A checked class has no events",
       """'check lost' needs request and deliver events in the model, 'check duplicated'
acknowledge or deliver events, 'check window' inject events, 'check priority'
acknowledge events with the IRR and the floor. Without them the check would pass
without checking anything.""",
       "add the event statements to the model's rules"),
    # ---- E4xx: command line ----
    _c("E401", "bad-cli-constant", "Bad --const",
       """'--const NAME=VALUE' needs the name of a constant declared by the spec (or a
model it imports) and a value of its type: an integer in its range, true/false
for bool, or a member name for an enum.""",
       "write --const NAME=VALUE for a declared constant"),
]

CODES: dict[str, Code] = {c.code: c for c in _REGISTRY}
SLUGS: dict[str, Code] = {c.slug: c for c in _REGISTRY}


def lookup(code_or_slug: str) -> Code | None:
    key = code_or_slug.strip()
    return CODES.get(key.upper()) or SLUGS.get(key.lower())


def did_you_mean(name: str, candidates) -> str | None:
    """A hint naming the closest candidate, if one is close enough."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


class SourceCache:
    """Source text of every file read, for rendering the offending line."""

    def __init__(self) -> None:
        self._text: dict[str, str] = {}

    def add(self, file: str, text: str) -> None:
        self._text[file] = text

    def line(self, file: str, line: int) -> str | None:
        text = self._text.get(file)
        if text is None:
            try:
                text = Path(file).read_text()
            except OSError:
                return None
            self._text[file] = text
        lines = text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else None


def render(diag: Diagnostic, sources: SourceCache) -> str:
    """One diagnostic as 'file:line:col: error[CODE]: message', source line, caret, hint."""
    head = f"error[{diag.code}]: {diag.message}"
    out = []
    if diag.span is not None:
        out.append(f"{diag.span}: {head}")
        text = sources.line(diag.span.file, diag.span.line)
        if text is not None:
            width = 1
            if diag.span.end_line == diag.span.line and diag.span.end_col > diag.span.col:
                width = diag.span.end_col - diag.span.col
            gutter = f"{diag.span.line:>4} | "
            out.append(gutter + text.expandtabs(1))
            out.append(" " * (len(gutter) + diag.span.col - 1) + "^" * width)
    else:
        out.append(head)
    for note in diag.notes:
        out.append(f"  note: {note}")
    if diag.hint:
        out.append(f"  hint: {diag.hint}")
    return "\n".join(out)


def sort_key(diag: Diagnostic):
    s = diag.span
    return (s.file, s.line, s.col) if s else ("", 0, 0)

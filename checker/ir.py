"""The IR: the one representation every engine reads.

A `System` is a set of finite-domain state variables, guarded rules (procs and
defs already inlined, components flattened), invariants, action properties
(assert statements) and options. Nothing here refers to the syntax tree.

Values: bool -> bool, int -> int, enum -> member index, set -> frozenset of
ints, array -> tuple of element values, record -> tuple of field values in
declaration order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from checker.diagnostics import Span


# ---------------------------------------------------------------- types
@dataclass(frozen=True)
class BoolT:
    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True)
class IntT:
    lo: int
    hi: int

    def __str__(self) -> str:
        return f"{self.lo}..{self.hi}"


@dataclass(frozen=True)
class EnumT:
    name: str
    members: tuple[str, ...]

    def __str__(self) -> str:
        return self.name or "enum {" + ", ".join(self.members) + "}"


@dataclass(frozen=True)
class SetT:
    lo: int
    hi: int

    def __str__(self) -> str:
        return f"set of {self.lo}..{self.hi}"


@dataclass(frozen=True)
class AnySetT:
    """The type of a set literal before its context gives it a range."""

    def __str__(self) -> str:
        return "set"


@dataclass(frozen=True)
class ArrayT:
    index: Type  # IntT, EnumT or BoolT
    elem: Type

    def __str__(self) -> str:
        return f"[{self.index}] of {self.elem}"


@dataclass(frozen=True)
class RecordT:
    fields: tuple[tuple[str, Type], ...]

    def field_type(self, name: str) -> Type | None:
        return dict(self.fields).get(name)

    def __str__(self) -> str:
        return "record {" + ", ".join(f"{n}: {t}" for n, t in self.fields) + "}"


Type = BoolT | IntT | EnumT | SetT | AnySetT | ArrayT | RecordT
BOOL = BoolT()


def domain_values(t: Type) -> range:
    """The values of a scalar domain type (enum members as indices)."""
    if isinstance(t, BoolT):
        return range(0, 2)
    if isinstance(t, IntT):
        return range(t.lo, t.hi + 1)
    if isinstance(t, EnumT):
        return range(len(t.members))
    raise TypeError(f"not a scalar domain: {t}")


def index_offset(t: Type, value) -> int:
    """Position of an index value within an array's index domain."""
    return int(value) - t.lo if isinstance(t, IntT) else int(value)


def domain_size(t: Type) -> int:
    if isinstance(t, BoolT):
        return 2
    if isinstance(t, IntT):
        return t.hi - t.lo + 1
    if isinstance(t, EnumT):
        return len(t.members)
    if isinstance(t, SetT):
        return 2 ** (t.hi - t.lo + 1)
    if isinstance(t, ArrayT):
        return domain_size(t.elem) ** domain_size(t.index)
    if isinstance(t, RecordT):
        n = 1
        for _, ft in t.fields:
            n *= domain_size(ft)
        return n
    raise TypeError(f"no finite size: {t}")


def default_value(t: Type):
    if isinstance(t, BoolT):
        return False
    if isinstance(t, IntT):
        return t.lo
    if isinstance(t, EnumT):
        return 0
    if isinstance(t, SetT):
        return frozenset()
    if isinstance(t, ArrayT):
        return tuple(default_value(t.elem) for _ in domain_values(t.index))
    if isinstance(t, RecordT):
        return tuple(default_value(ft) for _, ft in t.fields)
    raise TypeError(f"no default: {t}")


def format_value(t: Type, v) -> str:
    """A value as the spec would write it."""
    if isinstance(t, BoolT):
        return "true" if v else "false"
    if isinstance(t, EnumT):
        return t.members[v]
    if isinstance(t, (SetT, AnySetT)):
        return "{" + ", ".join(str(x) for x in sorted(v)) + "}"
    if isinstance(t, ArrayT):
        return "[" + ", ".join(format_value(t.elem, x) for x in v) + "]"
    if isinstance(t, RecordT):
        return "{" + ", ".join(f"{n}: {format_value(ft, x)}"
                               for (n, ft), x in zip(t.fields, v)) + "}"
    return str(v)


def json_value(t: Type, v):
    """A value as plain JSON data."""
    if isinstance(t, BoolT):
        return bool(v)
    if isinstance(t, EnumT):
        return t.members[v]
    if isinstance(t, (SetT, AnySetT)):
        return sorted(v)
    if isinstance(t, ArrayT):
        return [json_value(t.elem, x) for x in v]
    if isinstance(t, RecordT):
        return {n: json_value(ft, x) for (n, ft), x in zip(t.fields, v)}
    return int(v)


# ---------------------------------------------------------------- expressions
@dataclass(frozen=True)
class Expr:
    type: Type
    span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class Const(Expr):
    value: object


@dataclass(frozen=True)
class VarRef(Expr):
    var: int  # index into System.variables


@dataclass(frozen=True)
class Local(Expr):
    name: str  # a rule parameter, let, loop or quantifier variable (unique per rule)


@dataclass(frozen=True)
class Index(Expr):
    base: Expr
    index: Expr


@dataclass(frozen=True)
class Field(Expr):
    base: Expr
    name: str


@dataclass(frozen=True)
class Unary(Expr):
    op: str  # 'not' | 'neg'
    arg: Expr


@dataclass(frozen=True)
class Binary(Expr):
    """op: + - * / % (ints); and or => (bools); == != < <= > >=;
    in notin (int, set); union diff inter (sets)."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Ite(Expr):
    cond: Expr
    then: Expr
    els: Expr


@dataclass(frozen=True)
class Quant(Expr):
    kind: str  # 'forall' | 'exists'
    var: str
    domain: Type
    body: Expr


@dataclass(frozen=True)
class SetLit(Expr):
    elems: tuple[Expr, ...]


@dataclass(frozen=True)
class RecordLit(Expr):
    """Field values in the order of the record type's fields."""

    values: tuple[Expr, ...]


@dataclass(frozen=True)
class Builtin(Expr):
    """size(S), max(S), min(S), empty(S), abs(x), imax(a, b), imin(a, b)."""

    name: str
    args: tuple[Expr, ...]


# ---------------------------------------------------------------- statements
@dataclass(frozen=True)
class Stmt:
    span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class Assign(Stmt):
    target: Expr  # VarRef, or Index/Field chains over one
    value: Expr


@dataclass(frozen=True)
class If(Stmt):
    cond: Expr
    then: tuple[Stmt, ...]
    els: tuple[Stmt, ...]


@dataclass(frozen=True)
class Let(Stmt):
    name: str
    value: Expr


@dataclass(frozen=True)
class For(Stmt):
    var: str
    domain: Type
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class Assert(Stmt):
    prop: str
    cond: Expr


# ---------------------------------------------------------------- system
@dataclass(frozen=True)
class Variable:
    name: str  # 'line', 'ioapic.irr', 'lapic.irr'
    type: Type  # for an instance array: ArrayT(instance index, member type)
    init: object
    component: str | None = None
    instance_array: bool = False  # first array dimension is the component instance
    span: Span | None = field(default=None, compare=False, repr=False)
    symbolic: bool = False  # a constant left unconstrained (--symbolic): any value, never written


@dataclass(frozen=True)
class InitExpr:
    """An initial value that depends on symbolic constants: the expression, evaluated in
    the initial state (where the symbolic constants have their values)."""

    expr: Expr


@dataclass(frozen=True)
class Rule:
    name: str  # 'raise', 'lapic.eoi'
    params: tuple[tuple[str, Type], ...]
    guard: Expr
    body: tuple[Stmt, ...]
    kvm: str | None = None  # the KVM function the rule models
    component: str | None = None
    instance_param: str | None = None  # the parameter that indexes the component instance
    span: Span | None = field(default=None, compare=False, repr=False)


CLASSES = ("lost", "duplicated", "window", "priority")  # and "generic"


@dataclass(frozen=True)
class Invariant:
    name: str
    expr: Expr
    span: Span | None = field(default=None, compare=False, repr=False)
    pclass: str = "generic"


@dataclass(frozen=True)
class ActionProperty:
    name: str
    rules: tuple[str, ...]  # rules that contain an assert of it
    span: Span | None = field(default=None, compare=False, repr=False)
    pclass: str = "generic"


@dataclass(frozen=True)
class Reachable:
    """A witness property: some reachable state satisfies expr."""

    name: str
    expr: Expr
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Recoverable:
    """AG (pre => EF post) for every value of params: from every reachable state where pre
    holds, a state where post holds can still be reached. The 'lost' form of a request."""

    name: str
    params: tuple[tuple[str, Type], ...]
    pre: Expr
    post: Expr
    span: Span | None = field(default=None, compare=False, repr=False)
    pclass: str = "lost"


@dataclass(frozen=True)
class System:
    name: str
    file: str
    variables: tuple[Variable, ...]
    rules: tuple[Rule, ...]
    invariants: tuple[Invariant, ...]
    actions: tuple[ActionProperty, ...]
    deadlock: bool = True
    constants: tuple[tuple[str, Type, object], ...] = ()
    reachables: tuple[Reachable, ...] = ()
    recoverables: tuple[Recoverable, ...] = ()

    @property
    def symbolic(self) -> tuple[Variable, ...]:
        """The symbolic constants (--symbolic), as frozen state variables."""
        return tuple(v for v in self.variables if v.symbolic)

    def rule_instances(self):
        """(rule index, rule, params as a tuple of values), in a fixed order."""
        for ri, rule in enumerate(self.rules):
            for values in product([domain_values(t) for _, t in rule.params]):
                yield ri, rule, values


def product(ranges):
    if not ranges:
        yield ()
        return
    for v in ranges[0]:
        for rest in product(ranges[1:]):
            yield (v,) + rest

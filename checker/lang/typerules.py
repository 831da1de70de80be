"""Type rules of the resolver: compatibility, intervals, set literals, constness."""

from __future__ import annotations

from checker import ir


def describe(t: ir.Type) -> str:
    if isinstance(t, ir.IntT):
        return "an integer"
    if isinstance(t, ir.BoolT):
        return "a bool"
    if isinstance(t, ir.EnumT):
        return f"a member of {t}"
    if isinstance(t, (ir.SetT, ir.AnySetT)):
        return f"a {t}"
    return f"a value of type {t}"


def is_set(t) -> bool:
    return isinstance(t, (ir.SetT, ir.AnySetT))


def same_type(a: ir.Type, b: ir.Type, top: bool = True) -> bool:
    """Whether a value of type b fits where a is expected. A lone integer converts to any
    range (checked when assigned); inside arrays and records the ranges must be equal."""
    if isinstance(a, ir.IntT) and isinstance(b, ir.IntT):
        return top or a == b
    if isinstance(a, ir.ArrayT) and isinstance(b, ir.ArrayT):
        return a.index == b.index and same_type(a.elem, b.elem, False)
    if isinstance(a, ir.RecordT) and isinstance(b, ir.RecordT):
        return [n for n, _ in a.fields] == [n for n, _ in b.fields] and all(
            same_type(x, y, False) for (_, x), (_, y) in zip(a.fields, b.fields))
    return a == b


def in_type(t: ir.Type, v) -> bool:
    if isinstance(t, ir.IntT):
        return t.lo <= v <= t.hi
    if isinstance(t, ir.SetT):
        return all(t.lo <= x <= t.hi for x in v)
    if isinstance(t, ir.ArrayT):
        return all(in_type(t.elem, x) for x in v)
    if isinstance(t, ir.RecordT):
        return all(in_type(ft, x) for (_, ft), x in zip(t.fields, v))
    return True


def arith(op: str, a: ir.IntT, b: ir.IntT) -> ir.IntT:
    if op in ("+", "-", "*"):
        f = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y}[op]
        vals = [f(x, y) for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
        return ir.IntT(min(vals), max(vals))
    m = max(abs(a.lo), abs(a.hi))
    if op == "%":
        if b.lo > 0:
            return ir.IntT(0, b.hi - 1)
        d = max(abs(b.lo), abs(b.hi))
        return ir.IntT(-d, d)
    if b.lo > 0 or b.hi < 0:
        vals = [x // y for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
        return ir.IntT(min(vals), max(vals))
    return ir.IntT(-m, m)


def all_const(e: ir.Expr) -> bool:
    match e:
        case ir.Const():
            return True
        case ir.Unary(arg=a):
            return all_const(a)
        case ir.Binary(left=a, right=b):
            return all_const(a) and all_const(b)
        case ir.Ite(cond=c, then=a, els=b):
            return all_const(c) and all_const(a) and all_const(b)
        case ir.SetLit(elems=es) | ir.Builtin(args=es) | ir.RecordLit(values=es):
            return all(all_const(x) for x in es)
        case ir.Index(base=a, index=b):
            return all_const(a) and all_const(b)
        case ir.Field(base=a):
            return all_const(a)
    return False


def literal_set_type(e: ir.Expr, span, r) -> ir.SetT:
    """The range of a set literal used where no other set fixes it."""
    lo, hi = None, None
    for x in literal_elems(e):
        lo = x.type.lo if lo is None else min(lo, x.type.lo)
        hi = x.type.hi if hi is None else max(hi, x.type.hi)
    if lo is None:  # only empty literals: any range will do
        return ir.SetT(0, 0)
    return ir.SetT(lo, hi)


def literal_elems(e: ir.Expr):
    if isinstance(e, ir.SetLit):
        for x in e.elems:
            yield from literal_elems(x) if isinstance(x.type, ir.AnySetT) else [x]
    elif isinstance(e, ir.Const) and isinstance(e.type, ir.AnySetT):
        for v in e.value:
            yield ir.Const(ir.IntT(v, v), v)
    elif isinstance(e, ir.Binary):
        yield from literal_elems(e.left)
        yield from literal_elems(e.right)


def retype_set(e: ir.Expr, st: ir.SetT) -> ir.Expr:
    """Give a set literal (or an expression over literals) the range st."""
    if not isinstance(e.type, ir.AnySetT):
        return e
    if isinstance(e, ir.Const):
        if all(st.lo <= x <= st.hi for x in e.value):
            return ir.Const(st, e.value, span=e.span)
        return ir.SetLit(st, tuple(ir.Const(ir.IntT(x, x), x) for x in sorted(e.value)),
                         span=e.span)
    if isinstance(e, ir.SetLit):
        return ir.SetLit(st, e.elems, span=e.span)
    if isinstance(e, ir.Binary):
        return ir.Binary(st, e.op, retype_set(e.left, st), retype_set(e.right, st),
                         span=e.span)
    if isinstance(e, ir.Ite):
        return ir.Ite(st, e.cond, retype_set(e.then, st), retype_set(e.els, st), span=e.span)
    return e


def assignable(e: ir.Expr) -> bool:
    match e:
        case ir.VarRef():
            return True
        case ir.Index(base=b) | ir.Field(base=b):
            return assignable(b)
    return False



def reads_state(e: ir.Expr) -> bool:
    """Whether an expression reads a state variable."""
    match e:
        case ir.VarRef():
            return True
        case ir.Const() | ir.Local():
            return False
        case ir.Index(base=a, index=b) | ir.Binary(left=a, right=b):
            return reads_state(a) or reads_state(b)
        case ir.Field(base=a) | ir.Unary(arg=a):
            return reads_state(a)
        case ir.Ite(cond=c, then=a, els=b):
            return reads_state(c) or reads_state(a) or reads_state(b)
        case ir.Quant(body=b):
            return reads_state(b)
        case ir.SetLit(elems=es) | ir.Builtin(args=es) | ir.RecordLit(values=es):
            return any(reads_state(x) for x in es)
    return False


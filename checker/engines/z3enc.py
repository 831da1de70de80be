"""The IR as a Z3 transition relation (the only module, with engines/bmc.py, that imports z3).

One copy of the state per time frame: every leaf of every variable (a bool, an int, an
enum member index, a set as a bit-vector over its range) is one Z3 constant of that
frame. A rule instance is its guard over frame k and, for every leaf, the value it
has after the body (the frame condition: a leaf the body does not write keeps its
value). Bodies are executed symbolically: an `if` merges both arms leaf by leaf, a
dynamic index becomes a choice among the elements. Ints are Z3 integers (exact, no
overflow); a value that leaves its range, an index out of range, a set element out
of range and a division by zero are the run-time errors of the reference semantics
(checker.ir_eval), collected with the condition under which they happen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import z3

from checker import ir


@dataclass
class Frame:
    """The leaves of one state: name -> Z3 term, and the state's structure (the value
    of each variable as nested tuples of leaf terms)."""

    leaves: dict
    values: list


def _leaf_sort(t: ir.Type):
    if isinstance(t, ir.BoolT):
        return z3.BoolSort()
    if isinstance(t, ir.SetT):
        return z3.BitVecSort(t.hi - t.lo + 1)
    return z3.IntSort()


def _range(t: ir.Type, x):
    """The domain constraint of a leaf term."""
    if isinstance(t, ir.IntT):
        return z3.And(x >= t.lo, x <= t.hi)
    if isinstance(t, ir.EnumT):
        return z3.And(x >= 0, x < len(t.members))
    return z3.BoolVal(True)


class Encoder:
    def __init__(self, system: ir.System):
        self.system = system
        self._n = 0

    # ---- frames ----
    def frame(self, k: int) -> tuple[Frame, list]:
        """Fresh leaves for time frame k, and their domain constraints."""
        leaves, cons, values = {}, [], []
        for var in self.system.variables:
            values.append(self._fresh(var.type, f"{var.name}@{k}", leaves, cons))
        return Frame(leaves, values), cons

    def _fresh(self, t: ir.Type, name: str, leaves: dict, cons: list):
        if isinstance(t, ir.ArrayT):
            return tuple(self._fresh(t.elem, f"{name}[{i}]", leaves, cons)
                         for i in ir.domain_values(t.index))
        if isinstance(t, ir.RecordT):
            return tuple(self._fresh(ft, f"{name}.{n}", leaves, cons) for n, ft in t.fields)
        x = z3.Const(name, _leaf_sort(t))
        leaves[name] = (t, x)
        cons.append(_range(t, x))
        return x

    def initial(self, f: Frame):
        """The initial-state constraint of frame f. A symbolic constant is left free within
        its type; an initial value that depends on one is computed from it."""
        out = []
        for var, val in zip(self.system.variables, f.values):
            if not var.symbolic:
                out.append(self._init_term(var.type, val, var.init, f))
        return z3.And(out)

    def _init_term(self, t: ir.Type, val, init, f: Frame):
        if isinstance(init, ir.InitExpr):
            return _equal(t, val, self.expr(init.expr, f.values, {}, [], z3.BoolVal(True)))
        if isinstance(t, ir.ArrayT) and _has_init_expr(init):
            return z3.And([self._init_term(t.elem, v, x, f) for v, x in zip(val, init)])
        return _equal(t, val, self.const(t, init))

    # ---- values ----
    def const(self, t: ir.Type, v):
        if isinstance(t, ir.BoolT):
            return z3.BoolVal(bool(v))
        if isinstance(t, ir.SetT):
            return z3.BitVecVal(sum(1 << (x - t.lo) for x in v), t.hi - t.lo + 1)
        if isinstance(t, ir.ArrayT):
            return tuple(self.const(t.elem, x) for x in v)
        if isinstance(t, ir.RecordT):
            return tuple(self.const(ft, x) for (_, ft), x in zip(t.fields, v))
        return z3.IntVal(int(v))

    # ---- expressions: (term, [(fault condition, message)]) ----
    def expr(self, e: ir.Expr, st: list, env: dict, faults: list, path):
        """The term of e in state st; the run-time errors it may raise are appended to
        faults as (condition, message), the condition including `path`."""
        match e:
            case ir.Const(type=t, value=v):
                return self.const(t, v)
            case ir.Local(name=n):
                return env[n]
            case ir.VarRef(var=i):
                return st[i]
            case ir.Index(base=b, index=ix):
                arr = self.expr(b, st, env, faults, path)
                i = self.expr(ix, st, env, faults, path)
                return self._select(b.type, arr, i, faults, path, e)
            case ir.Field(base=b, name=n):
                return self.expr(b, st, env, faults, path)[
                    [fn for fn, _ in b.type.fields].index(n)]
            case ir.Unary(op="not", arg=a):
                return z3.Not(self.expr(a, st, env, faults, path))
            case ir.Unary(op="neg", arg=a):
                return -self.expr(a, st, env, faults, path)
            case ir.Binary():
                return self._binary(e, st, env, faults, path)
            case ir.Ite(cond=c, then=a, els=b):
                cc = self.expr(c, st, env, faults, path)
                x = self.expr(a, st, env, faults, z3.And(path, cc))
                y = self.expr(b, st, env, faults, z3.And(path, z3.Not(cc)))
                return _ite(cc, x, y)
            case ir.Quant(kind=k, var=v, domain=d, body=b):
                parts, p = [], path
                for x in ir.domain_values(d):
                    val = z3.BoolVal(bool(x)) if isinstance(d, ir.BoolT) else z3.IntVal(x)
                    term = self.expr(b, st, {**env, v: val}, faults, p)
                    parts.append(term)
                    p = z3.And(p, term) if k == "forall" else z3.And(p, z3.Not(term))
                return z3.And(parts) if k == "forall" else z3.Or(parts)
            case ir.SetLit(type=t, elems=es):
                w = t.hi - t.lo + 1
                out = z3.BitVecVal(0, w)
                for x in es:
                    xv = self.expr(x, st, env, faults, path)
                    faults.append((z3.And(path, z3.Or(xv < t.lo, xv > t.hi)),
                                   f"set element out of range {t.lo}..{t.hi}"))
                    out = out | _bit(xv - t.lo, w)
                return out
            case ir.RecordLit(type=t, values=vs):
                out = []
                for (_, ft), x in zip(t.fields, vs):
                    xv = self.expr(x, st, env, faults, path)
                    if isinstance(ft, ir.IntT):
                        faults.append((z3.And(path, z3.Not(_range(ft, xv))),
                                       f"field value out of range {ft}"))
                    out.append(xv)
                return tuple(out)
            case ir.Builtin(name=n, args=args):
                vals = [self.expr(a, st, env, faults, path) for a in args]
                return self._builtin(e, n, vals)
        raise TypeError(f"cannot encode {e!r}")

    def _select(self, arr_t: ir.ArrayT, arr, i, faults, path, e):
        vals = list(ir.domain_values(arr_t.index))
        lo, hi = (0, len(vals) - 1) if not isinstance(arr_t.index, ir.IntT) else \
            (arr_t.index.lo, arr_t.index.hi)
        iv = z3.If(i, 1, 0) if isinstance(arr_t.index, ir.BoolT) else i
        faults.append((z3.And(path, z3.Or(iv < lo, iv > hi)), f"index out of range {arr_t.index}"))
        out = arr[-1]
        for pos in range(len(vals) - 2, -1, -1):
            out = _ite(iv == vals[pos], arr[pos], out)
        return out

    def _binary(self, e: ir.Binary, st, env, faults, path):
        op = e.op
        a = self.expr(e.left, st, env, faults, path)
        if op in ("and", "or", "=>"):
            guard = a if op == "and" else z3.Not(a)
            b = self.expr(e.right, st, env, faults, z3.And(path, guard))
            return z3.And(a, b) if op == "and" else (z3.Or(a, b) if op == "or"
                                                      else z3.Implies(a, b))
        b = self.expr(e.right, st, env, faults, path)
        lt = e.left.type
        match op:
            case "+": return a + b
            case "-": return a - b
            case "*": return a * b
            case "/" | "%":
                faults.append((z3.And(path, b == 0), "division by zero"))
                safe = z3.If(b == 0, 1, b)
                q = _floordiv(a, safe)
                return q if op == "/" else a - safe * q
            case "==": return _equal(lt, a, b)
            case "!=": return z3.Not(_equal(lt, a, b))
            case "<": return _cmp(lt, a, b, lambda x, y: x < y)
            case "<=": return _cmp(lt, a, b, lambda x, y: x <= y)
            case ">": return _cmp(lt, a, b, lambda x, y: x > y)
            case ">=": return _cmp(lt, a, b, lambda x, y: x >= y)
            case "in" | "notin":
                st_t = e.right.type
                w = st_t.hi - st_t.lo + 1
                inside = z3.And(a >= st_t.lo, a <= st_t.hi,
                                (b & _bit(a - st_t.lo, w)) != 0)
                return inside if op == "in" else z3.Not(inside)
            case "union": return a | b
            case "diff": return a & ~b
            case "inter": return a & b
        raise TypeError(op)

    def _builtin(self, e: ir.Builtin, name: str, vals):
        match name:
            case "size":
                w = vals[0].size()
                return z3.Sum([z3.If(z3.Extract(i, i, vals[0]) == 1, 1, 0) for i in range(w)])
            case "empty":
                return vals[0] == 0
            case "max":
                st = e.args[0].type
                out = z3.IntVal(st.lo - 1)
                for i in range(st.hi - st.lo + 1):
                    out = z3.If(z3.Extract(i, i, vals[0]) == 1, st.lo + i, out)
                return out
            case "min":
                st = e.args[0].type
                out = z3.IntVal(st.hi + 1)
                for i in range(st.hi - st.lo, -1, -1):
                    out = z3.If(z3.Extract(i, i, vals[0]) == 1, st.lo + i, out)
                return out
            case "abs":
                return z3.If(vals[0] < 0, -vals[0], vals[0])
            case "imax":
                return z3.If(vals[0] >= vals[1], vals[0], vals[1])
            case "imin":
                return z3.If(vals[0] <= vals[1], vals[0], vals[1])
        raise TypeError(name)

    # ---- statements ----
    def body(self, stmts, st: list, env: dict, path, faults: list, asserts: list) -> list:
        """The state after the statements (a new list; st is not changed)."""
        st = list(st)
        for s in stmts:
            st = self.stmt(s, st, env, path, faults, asserts)
        return st

    def stmt(self, s: ir.Stmt, st: list, env: dict, path, faults, asserts) -> list:
        match s:
            case ir.Assign(target=tg, value=v):
                val = self.expr(v, st, env, faults, path)
                if isinstance(tg.type, ir.IntT):
                    faults.append((z3.And(path, z3.Not(_range(tg.type, val))),
                                   f"value out of range {tg.type}"))
                return self._store(tg, val, st, env, faults, path)
            case ir.If(cond=c, then=a, els=b):
                cc = self.expr(c, st, env, faults, path)
                sa = self.body(a, st, dict(env), z3.And(path, cc), faults, asserts)
                sb = self.body(b, st, dict(env), z3.And(path, z3.Not(cc)), faults, asserts)
                return [_ite(cc, x, y) for x, y in zip(sa, sb)]
            case ir.Let(name=n, value=v):
                env[n] = self.expr(v, st, env, faults, path)
                return st
            case ir.For(var=v, domain=d, body=b):
                for x in ir.domain_values(d):
                    env[v] = z3.BoolVal(bool(x)) if isinstance(d, ir.BoolT) else z3.IntVal(x)
                    st = self.body(b, st, env, path, faults, asserts)
                return st
            case ir.Assert(prop=p, cond=c):
                cc = self.expr(c, st, env, faults, path)
                asserts.append((p, z3.And(path, z3.Not(cc))))
                return st
        raise TypeError(s)

    def _store(self, tg: ir.Expr, val, st: list, env, faults, path) -> list:
        match tg:
            case ir.VarRef(var=i):
                st = list(st)
                st[i] = val
                return st
            case ir.Index(base=b, index=ix):
                arr = self.expr(b, st, env, faults, path)
                i = self.expr(ix, st, env, faults, path)
                t = b.type
                vals = list(ir.domain_values(t.index))
                lo, hi = (0, len(vals) - 1) if not isinstance(t.index, ir.IntT) else \
                    (t.index.lo, t.index.hi)
                iv = z3.If(i, 1, 0) if isinstance(t.index, ir.BoolT) else i
                faults.append((z3.And(path, z3.Or(iv < lo, iv > hi)),
                               f"index out of range {t.index}"))
                new = tuple(_ite(iv == v, val, old) for v, old in zip(vals, arr))
                return self._store(b, new, st, env, faults, path)
            case ir.Field(base=b, name=n):
                rec = list(self.expr(b, st, env, faults, path))
                rec[[fn for fn, _ in b.type.fields].index(n)] = val
                return self._store(b, tuple(rec), st, env, faults, path)
        raise TypeError(f"not assignable: {tg!r}")


# ---- helpers over values that may be tuples (arrays, records) ----
def _ite(c, x, y):
    if isinstance(x, tuple):
        return tuple(_ite(c, a, b) for a, b in zip(x, y))
    return z3.If(c, x, y)


def _equal(t: ir.Type, x, y):
    if isinstance(x, tuple):
        if isinstance(t, ir.ArrayT):
            return z3.And([_equal(t.elem, a, b) for a, b in zip(x, y)])
        return z3.And([_equal(ft, a, b) for (_, ft), a, b in zip(t.fields, x, y)])
    return x == y


def _cmp(t, a, b, f):
    if isinstance(t, ir.BoolT):
        a, b = z3.If(a, 1, 0), z3.If(b, 1, 0)
    return f(a, b)


def _bit(pos, w: int):
    """The bit-vector of width w with bit pos set (pos an Int term in 0..w-1)."""
    return z3.BitVecVal(1, w) << z3.Int2BV(pos, w)


def _floordiv(a, b):
    """Floor division (Python's //) of Z3 integers."""
    q = a / b  # Z3: Euclidean (remainder >= 0); Python's quotient is one less when b < 0
    return z3.If(z3.And(b < 0, a - b * q != 0), q - 1, q)


@dataclass
class Step:
    """A rule instance encoded from frame s to frame t."""

    index: int
    rule: ir.Rule
    params: tuple
    guard: object
    trans: object  # guard and every leaf of t as the body makes it
    guard_faults: list = field(default_factory=list)  # (condition, message): in any state
    faults: list = field(default_factory=list)  # (condition, message) of the body
    asserts: list = field(default_factory=list)  # (property, failing condition)


def encode_steps(enc: Encoder, s: Frame, t: Frame) -> list[Step]:
    out = []
    for k, (ri, rule, params) in enumerate(enc.system.rule_instances()):
        env = {n: (z3.BoolVal(bool(v)) if isinstance(ty, ir.BoolT) else z3.IntVal(v))
               for (n, ty), v in zip(rule.params, params)}
        gfaults: list = []
        g = enc.expr(rule.guard, s.values, env, gfaults, z3.BoolVal(True))
        faults, asserts = [], []
        after = enc.body(rule.body, s.values, dict(env), g, faults, asserts)
        eq = [_equal(var.type, a, b) for var, a, b in zip(enc.system.variables, after, t.values)]
        out.append(Step(k, rule, params, g, z3.And([g] + eq), gfaults, faults, asserts))
    return out


def _has_init_expr(init) -> bool:
    if isinstance(init, ir.InitExpr):
        return True
    return isinstance(init, tuple) and any(_has_init_expr(x) for x in init)

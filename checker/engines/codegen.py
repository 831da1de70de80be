"""IR to Python source over packed states.

Every rule instance (a rule with its parameters fixed) is compiled once, with
parameters and constants folded in, into straight-line Python over one integer
state. Values in generated code: ints as ints, bools as bools (or 0/1), enums
as member indices, sets as bit masks relative to their lower bound, arrays and
records as their packed bits (see layout.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from checker import ir
from checker.engines.layout import Layout, encode, field_offset, width


class ModelError(Exception):
    """A run-time error of the model (value or index out of range, division by zero)."""

    def __init__(self, message: str, span=None):
        super().__init__(message)
        self.message = message
        self.span = span


@dataclass(frozen=True)
class CE:
    """A compiled expression: Python code, or a constant (in compiled representation)."""

    type: ir.Type
    code: str | None = None
    const: object = None
    lo: int = 0  # interval of an int expression
    hi: int = 0
    truthy: bool = False  # bool code that is truthy/falsy but not exactly 0/1
    chain: str | None = None  # '(a op b)' for a left-associative op: extend it without nesting

    @property
    def is_const(self) -> bool:
        return self.code is None

    def truthy_sensitive(self) -> bool:
        return False


def const(t: ir.Type, v) -> CE:
    if isinstance(t, ir.IntT):
        return CE(t, None, v, v, v)
    return CE(t, None, v)


def _mask(w: int) -> int:
    return (1 << w) - 1


class Compiler:
    def __init__(self, system: ir.System, layout: Layout):
        self.system = system
        self.layout = layout
        self.errors: list[tuple[str, object]] = []  # (message, span) by error id
        self._n = 0

    # ---- helpers ----
    def fresh(self) -> str:
        self._n += 1
        return f"v{self._n}"

    def error_id(self, message: str, span) -> int:
        self.errors.append((message, span))
        return len(self.errors) - 1

    @staticmethod
    def value(ce: CE) -> str:
        """Code for the value (bools normalised to 0/1 when only truthy)."""
        if ce.is_const:
            return repr(ce.const)
        if ce.truthy:
            return f"({ce.code} != 0)"
        return ce.code

    @staticmethod
    def cond(ce: CE) -> str:
        return repr(bool(ce.const)) if ce.is_const else ce.code

    def ir_const(self, t: ir.Type, v) -> CE:
        if isinstance(t, (ir.SetT, ir.ArrayT, ir.RecordT)):
            return const(t, encode(t, v))
        if isinstance(t, ir.AnySetT):
            raise TypeError("untyped set literal reached code generation")
        return const(t, v)

    # ---- locations ----
    def location(self, e: ir.Expr, env: dict, st: str):
        """(offset as int or code, type) of a VarRef/Index/Field chain, else None."""
        match e:
            case ir.VarRef(var=i):
                return self.layout.offsets[i], e.type
            case ir.Index(base=b, index=ix):
                loc = self.location(b, env, st)
                if loc is None:
                    return None
                off, bt = loc
                return self._add_off(off, self._elem_off(bt, ix, env, st, e.span)), e.type
            case ir.Field(base=b, name=n):
                loc = self.location(b, env, st)
                if loc is None:
                    return None
                off, bt = loc
                return self._add_off(off, field_offset(bt, n)), e.type
        return None

    @staticmethod
    def _add_off(a, b):
        if isinstance(a, int) and isinstance(b, int):
            return a + b
        return f"({a} + {b})"

    def _elem_off(self, arr_t: ir.ArrayT, ix: ir.Expr, env, st, span):
        """Bit offset of element ix within an array value (int or code)."""
        i = self.expr(ix, env, st)
        n = len(ir.domain_values(arr_t.index))
        base = arr_t.index.lo if isinstance(arr_t.index, ir.IntT) else 0
        w = width(arr_t.elem)
        if i.is_const and 0 <= int(i.const) - base < n:
            return (int(i.const) - base) * w
        code = self.value(i)
        if isinstance(i.type, ir.IntT) and (i.lo < base or i.hi > base + n - 1):
            k = self.error_id(f"index out of range {arr_t.index}", span)
            code = _checked(code, base, base + n - 1, k)
        if base:
            code = f"({code} - {base})"
        return f"({code} * {w})" if w != 1 else code

    def read(self, off, t: ir.Type, st: str) -> CE:
        w = width(t)
        if isinstance(t, ir.BoolT):
            if isinstance(off, int):
                return CE(t, f"({st} & {1 << off})", truthy=True)
            return CE(t, f"({st} >> {off} & 1)")
        src = f"({st} >> {off})" if off != 0 else st
        code = f"({src} & {_mask(w)})" if w else "0"
        if isinstance(t, ir.IntT):
            if t.lo:
                code = f"({code} + {t.lo})"
            return CE(t, code, lo=t.lo, hi=t.hi)
        return CE(t, code)

    # ---- expressions ----
    def expr(self, e: ir.Expr, env: dict, st: str) -> CE:
        match e:
            case ir.Const(type=t, value=v):
                return self.ir_const(t, v)
            case ir.Local(name=n):
                return env[n]
            case ir.VarRef() | ir.Index() | ir.Field() if _is_location(e):
                off, t = self.location(e, env, st)
                return self.read(off, t, st)
            case ir.Index(base=b, index=ix):
                base = self.expr(b, env, st)
                off = self._elem_off(b.type, ix, env, st, e.span)
                return self._extract(base, off, e.type)
            case ir.Field(base=b, name=n):
                return self._extract(self.expr(b, env, st), field_offset(b.type, n), e.type)
            case ir.Unary(op="not", arg=a):
                x = self.expr(a, env, st)
                return const(ir.BOOL, not x.const) if x.is_const else CE(ir.BOOL, f"(not {x.code})")
            case ir.Unary(op="neg", arg=a):
                x = self.expr(a, env, st)
                if x.is_const:
                    return const(e.type, -x.const)
                return CE(e.type, f"(-{x.code})", lo=-x.hi, hi=-x.lo)
            case ir.Binary():
                return self._binary(e, env, st)
            case ir.Ite(cond=c, then=a, els=b):
                cc = self.expr(c, env, st)
                if cc.is_const:
                    return self.expr(a if cc.const else b, env, st)
                x, y = self.expr(a, env, st), self.expr(b, env, st)
                code = f"({self.value(x)} if {cc.code} else {self.value(y)})"
                return CE(e.type, code, lo=min(x.lo, y.lo), hi=max(x.hi, y.hi))
            case ir.Quant(kind=k, var=v, domain=d, body=b):
                parts = []
                for x in ir.domain_values(d):
                    val = bool(x) if isinstance(d, ir.BoolT) else x
                    c = self.expr(b, {**env, v: const(d, val)}, st)
                    if c.is_const:
                        if bool(c.const) == (k == "exists"):
                            if not parts:
                                return const(ir.BOOL, k == "exists")
                            parts.append(repr(k == "exists"))  # earlier parts still run
                            break
                        continue
                    parts.append(c.code)
                if not parts:
                    return const(ir.BOOL, k == "forall")
                return CE(ir.BOOL, "(" + (" and " if k == "forall" else " or ").join(parts) + ")",
                          truthy=True)
            case ir.SetLit(type=t, elems=es):
                return self._set_lit(t, es, env, st, e.span)
            case ir.Builtin(name=n, args=args):
                return self._builtin(e, n, [self.expr(a, env, st) for a in args])
            case ir.RecordLit(type=t, values=vs):
                return self._record_lit(t, vs, env, st, e.span)
        raise TypeError(f"cannot compile {e!r}")

    def _extract(self, base: CE, off, t: ir.Type) -> CE:
        w = width(t)
        if base.is_const and isinstance(off, int):
            from checker.engines.layout import decode
            v = (base.const >> off) & _mask(w)
            if isinstance(t, (ir.SetT, ir.ArrayT, ir.RecordT)):
                return const(t, v)
            return const(t, decode(t, v))
        code = f"({self.value(base)} >> {off} & {_mask(w)})"
        if isinstance(t, ir.IntT):
            return CE(t, f"({code} + {t.lo})" if t.lo else code, lo=t.lo, hi=t.hi)
        return CE(t, code)

    def _set_lit(self, t: ir.SetT, es, env, st, span) -> CE:
        const_bits, parts = 0, []
        for x in es:
            c = self.expr(x, env, st)
            if c.is_const and t.lo <= c.const <= t.hi:
                const_bits |= 1 << (c.const - t.lo)
                continue
            code = self.value(c)
            if c.lo < t.lo or c.hi > t.hi:
                k = self.error_id(f"set element out of range {t.lo}..{t.hi}", span)
                code = _checked(code, t.lo, t.hi, k)
            parts.append(f"(1 << ({code} - {t.lo}))" if t.lo else f"(1 << {code})")
        if not parts:
            return const(t, const_bits)
        if const_bits:
            parts.append(str(const_bits))
        return CE(t, "(" + " | ".join(parts) + ")")

    def _record_lit(self, t: ir.RecordT, vs, env, st, span) -> CE:
        const_bits, parts, off = 0, [], 0
        for (_, ft), x in zip(t.fields, vs):
            c = self.expr(x, env, st)
            if isinstance(ft, ir.IntT) and (c.lo < ft.lo or c.hi > ft.hi):
                k = self.error_id(f"field value out of range {ft}", span)
                c = CE(ft, _checked(self.value(c), ft.lo, ft.hi, k), lo=ft.lo, hi=ft.hi)
            if c.is_const:
                enc = encode(ft, c.const) if isinstance(ft, (ir.IntT, ir.BoolT)) else c.const
                const_bits |= enc << off
            else:
                code = self.value(c)
                if isinstance(ft, ir.IntT) and ft.lo:
                    code = f"({code} - {ft.lo})"
                parts.append(f"({code} << {off})" if off else code)
            off += width(ft)
        if not parts:
            return const(t, const_bits)
        if const_bits:
            parts.append(str(const_bits))
        return CE(t, "(" + " | ".join(parts) + ")")

    def _builtin(self, e: ir.Builtin, name: str, args: list[CE]) -> CE:
        t = e.type
        if all(a.is_const for a in args):
            vals = [a.const for a in args]
            st = e.args[0].type
            match name:
                case "size": return const(t, bin(vals[0]).count("1"))
                case "empty": return const(t, vals[0] == 0)
                case "max": return const(t, vals[0].bit_length() - 1 + st.lo)
                case "min":
                    v = vals[0]
                    return const(t, ((v & -v).bit_length() - 1 + st.lo) if v else st.hi + 1)
                case "abs": return const(t, abs(vals[0]))
                case "imax": return const(t, max(vals))
                case "imin": return const(t, min(vals))
        a = [self.value(x) for x in args]
        lo, hi = (t.lo, t.hi) if isinstance(t, ir.IntT) else (0, 0)
        match name:
            case "size": return CE(t, f"{a[0]}.bit_count()", lo=lo, hi=hi)
            case "empty": return CE(t, f"({a[0]} == 0)")
            case "max":
                slo = e.args[0].type.lo
                return CE(t, f"({a[0]}.bit_length() {_plus(slo - 1)})", lo=lo, hi=hi)
            case "min":
                st = e.args[0].type
                v = self.fresh()
                return CE(t, f"((({v} & -{v}).bit_length() {_plus(st.lo - 1)}) if ({v} := {a[0]}) "
                          f"else {st.hi + 1})", lo=lo, hi=hi)
            case "abs": return CE(t, f"abs({a[0]})", lo=lo, hi=hi)
            case "imax": return CE(t, f"max({a[0]}, {a[1]})", lo=lo, hi=hi)
            case "imin": return CE(t, f"min({a[0]}, {a[1]})", lo=lo, hi=hi)
        raise TypeError(name)

    def _binary(self, e: ir.Binary, env, st) -> CE:
        op = e.op
        a = self.expr(e.left, env, st)
        if op in ("and", "or", "=>"):
            return self._logic(op, a, e.right, env, st)
        b = self.expr(e.right, env, st)
        if a.is_const and b.is_const:
            return self._fold(e, a, b)
        A, B = self.value(a), self.value(b)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            if isinstance(e.left.type, ir.BoolT):
                A, B = self.cond_value(a), self.cond_value(b)
            return CE(ir.BOOL, f"({A} {op} {B})")
        if op in ("in", "notin"):
            st_t = e.right.type
            if a.is_const:
                if not st_t.lo <= a.const <= st_t.hi:
                    return const(ir.BOOL, op == "notin")
                code = f"({B} & {1 << (a.const - st_t.lo)})"
                return CE(ir.BOOL, code if op == "in" else f"(not {code})", truthy=op == "in")
            shift = f"({A} - {st_t.lo})" if st_t.lo else A
            code = f"({B} >> {shift} & 1)"
            if a.lo < st_t.lo or a.hi > st_t.hi:
                code = f"({st_t.lo} <= {A} <= {st_t.hi} and {code})"
            return CE(ir.BOOL, code if op == "in" else f"(not {code})")
        if op == "union":
            return CE(e.type, f"({A} | {B})")
        if op == "diff":
            return CE(e.type, f"({A} & ~{B})")
        if op == "inter":
            return CE(e.type, f"({A} & {B})")
        t = e.type
        if op in ("/", "%"):
            if b.is_const and b.const != 0:
                pyop = "//" if op == "/" else "%"
                return CE(t, f"({A} {pyop} {B})", lo=t.lo, hi=t.hi)
            k = self.error_id("division by zero", e.span)
            return CE(t, f"_div({A}, {B}, {op == '%'}, {k})", lo=t.lo, hi=t.hi)
        lo, hi = _interval(op, a, b)
        family = "*" if op == "*" else "+"
        return CE(ir.IntT(lo, hi), f"({_unwrap(a, family)} {op} {B})", lo=lo, hi=hi,
                  chain=family)

    def cond_value(self, ce: CE) -> str:
        if ce.is_const:
            return repr(bool(ce.const))
        return f"bool({ce.code})" if ce.truthy else ce.code

    def _logic(self, op, a: CE, right: ir.Expr, env, st) -> CE:
        if a.is_const:
            av = bool(a.const)
            if op == "and" and not av:
                return const(ir.BOOL, False)
            if op in ("or",) and av:
                return const(ir.BOOL, True)
            if op == "=>" and not av:
                return const(ir.BOOL, True)
            return self.expr(right, env, st)  # 'true and B', 'false or B', 'true => B'
        b = self.expr(right, env, st)
        if b.is_const:  # keep evaluating a: it may raise a run-time error of the model
            bv = bool(b.const)
            if op == "and":
                return a if bv else CE(ir.BOOL, f"({a.code} and False)", truthy=True)
            if op == "or":
                return CE(ir.BOOL, f"({a.code} or True)", truthy=True) if bv else a
            if bv:
                return CE(ir.BOOL, f"(not {a.code} or True)", truthy=True)
            return CE(ir.BOOL, f"(not {a.code})")
        if op == "=>":
            return CE(ir.BOOL, f"(not {a.code} or {b.code})", truthy=b.truthy)
        return CE(ir.BOOL, f"({_unwrap(a, op)} {op} {b.code})", truthy=a.truthy or b.truthy,
                  chain=op)

    def _fold(self, e: ir.Binary, a: CE, b: CE) -> CE:
        x, y = a.const, b.const
        op = e.op
        match op:
            case "+": v = x + y
            case "-": v = x - y
            case "*": v = x * y
            case "/" | "%":
                if y == 0:
                    k = self.error_id("division by zero", e.span)
                    return CE(e.type, f"_div({x}, 0, {op == '%'}, {k})", lo=e.type.lo,
                              hi=e.type.hi)
                v = x // y if op == "/" else x % y
            case "==": v = x == y
            case "!=": v = x != y
            case "<": v = x < y
            case "<=": v = x <= y
            case ">": v = x > y
            case ">=": v = x >= y
            case "in" | "notin":
                st_t = e.right.type
                inside = st_t.lo <= x <= st_t.hi and bool(y >> (x - st_t.lo) & 1)
                v = inside if op == "in" else not inside
            case "union": v = x | y
            case "diff": v = x & ~y
            case "inter": v = x & y
            case _:
                raise TypeError(op)
        if isinstance(v, bool):
            return const(ir.BOOL, v)
        return const(e.type if not isinstance(e.type, ir.IntT) else ir.IntT(v, v), v)

    # ---- statements ----
    def stmts(self, stmts, env: dict, out: list[str], ind: str, on_assert) -> None:
        for s in stmts:
            self.stmt(s, env, out, ind, on_assert)

    def stmt(self, s: ir.Stmt, env: dict, out: list[str], ind: str, on_assert) -> None:
        match s:
            case ir.Assign(target=tg, value=v):
                self._assign(tg, v, env, out, ind, s.span)
            case ir.If(cond=c, then=a, els=b):
                cc = self.expr(c, env, "t")
                if cc.is_const:
                    self.stmts(a if cc.const else b, env, out, ind, on_assert)
                    return
                out.append(f"{ind}if {cc.code}:")
                n = len(out)
                self.stmts(a, dict(env), out, ind + "    ", on_assert)
                if len(out) == n:
                    out.append(f"{ind}    pass")
                m = len(out)
                out.append(f"{ind}else:")
                self.stmts(b, dict(env), out, ind + "    ", on_assert)
                if len(out) == m + 1:
                    out.pop()
            case ir.Let(name=n, value=v):
                c = self.expr(v, env, "t")
                if c.is_const:
                    env[n] = c
                else:
                    name = self.fresh()
                    out.append(f"{ind}{name} = {self.value(c)}")
                    env[n] = CE(c.type, name, lo=c.lo, hi=c.hi)
            case ir.For(var=v, domain=d, body=body):
                for x in ir.domain_values(d):
                    val = bool(x) if isinstance(d, ir.BoolT) else x
                    env[v] = const(d, val)
                    self.stmts(body, env, out, ind, on_assert)
            case ir.Assert(prop=p, cond=c):
                cc = self.expr(c, env, "t")
                if cc.is_const:
                    if not cc.const:
                        out.append(f"{ind}{on_assert(p)}")
                    return
                out.append(f"{ind}if not {cc.code}:")
                out.append(f"{ind}    {on_assert(p)}")

    def _assign_in_place(self, tg, v, off: int, env, out, ind) -> bool:
        """x := x + {k}, x := x - {k} and b := not b as single bit operations."""
        if isinstance(v, ir.Binary) and v.op in ("union", "diff") and v.left == tg:
            c = self.expr(v.right, env, "t")
            if c.is_const:
                bits = c.const << off
                out.append(f"{ind}t |= {bits}" if v.op == "union" else f"{ind}t &= {~bits}")
                return True
            right = v.right
            if not (isinstance(right, ir.SetLit) and len(right.elems) == 1):
                return False
            st = tg.type
            x = self.expr(right.elems[0], env, "t")
            code = self.value(x)
            if x.lo < st.lo or x.hi > st.hi:
                name = code if _IDENT.match(code) else self.fresh()
                if name != code:
                    out.append(f"{ind}{name} = {code}")
                k = self.error_id(f"set element out of range {st.lo}..{st.hi}", right.span)
                code = _checked(name, st.lo, st.hi, k)
            shift = f"({code} + {off - st.lo})" if off - st.lo else code
            out.append(f"{ind}t |= 1 << {shift}" if v.op == "union" else
                       f"{ind}t &= ~(1 << {shift})")
            return True
        if isinstance(v, ir.Unary) and v.op == "not" and v.arg == tg:
            out.append(f"{ind}t ^= {1 << off}")
            return True
        return False

    def _assign(self, tg: ir.Expr, v: ir.Expr, env, out, ind, span):
        t = tg.type
        loc = self.location(tg, env, "t")
        off, _ = loc
        if isinstance(off, int) and self._assign_in_place(tg, v, off, env, out, ind):
            return
        c = self.expr(v, env, "t")
        w = width(t)
        if isinstance(t, ir.IntT):
            if c.lo < t.lo or c.hi > t.hi:
                k = self.error_id(f"value out of range {t}", span)
                name = self.fresh()
                out.append(f"{ind}{name} = {_checked(self.value(c), t.lo, t.hi, k)}")
                c = CE(t, name, lo=t.lo, hi=t.hi)
        if c.is_const:
            enc = encode(t, c.const) if isinstance(t, (ir.IntT, ir.BoolT)) else c.const
        else:
            enc = None
            code = self.value(c)
            if isinstance(t, ir.IntT) and t.lo:
                code = f"({code} - {t.lo})"
        if w == 0:
            return
        if isinstance(off, int):
            m = _mask(w) << off
            if enc is not None:
                if enc == 0:
                    out.append(f"{ind}t &= {~m}")
                elif enc == _mask(w):
                    out.append(f"{ind}t |= {m}")
                else:
                    out.append(f"{ind}t = (t & {~m}) | {enc << off}")
            elif isinstance(t, ir.BoolT):
                out.append(f"{ind}t = (t | {m}) if {c.code} else (t & {~m})")
            else:
                out.append(f"{ind}t = (t & {~m}) | ({code} << {off})")
            return
        o = self.fresh()
        out.append(f"{ind}{o} = {off}")
        if isinstance(t, ir.BoolT) and enc is not None:
            out.append(f"{ind}t |= 1 << {o}" if enc else f"{ind}t &= ~(1 << {o})")
            return
        val = repr(enc) if enc is not None else code
        if isinstance(t, ir.BoolT) and enc is None:
            val = f"(1 if {c.code} else 0)"
        out.append(f"{ind}t = (t & ~({_mask(w)} << {o})) | ({val} << {o})")


_CONST_WRITE = re.compile(r"^(\s*)t (?:&= (-?\d+)|\|= (\d+)|= \(t & (-?\d+)\) \| (\d+))$")


def merge_writes(lines: list[str]) -> list[str]:
    """Fuse consecutive constant writes at one indentation into one 't = (t & A) | B'."""
    out: list[str] = []
    prev = None  # (indent, and_mask, or_bits) of out[-1]
    for line in lines:
        m = _CONST_WRITE.match(line)
        if not m:
            out.append(line)
            prev = None
            continue
        ind = m.group(1)
        if m.group(2) is not None:
            a, b = int(m.group(2)), 0
        elif m.group(3) is not None:
            a, b = -1, int(m.group(3))
        else:
            a, b = int(m.group(4)), int(m.group(5))
        if prev is not None and prev[0] == ind:
            a0, b0 = prev[1], prev[2]
            a, b = a0 & a, (b0 & a) | b
            out.pop()
        prev = (ind, a, b)
        if b == 0:
            out.append(f"{ind}t &= {a}")
        elif a == -1:
            out.append(f"{ind}t |= {b}")
        else:
            out.append(f"{ind}t = (t & {a}) | {b}")
    return out


def _unwrap(ce: CE, family: str) -> str:
    """The code of a left operand; a chain of the same left-associative family loses its
    parentheses, so long chains do not nest (Python limits nesting depth)."""
    if ce.chain == family and ce.code and not ce.truthy_sensitive():
        return ce.code[1:-1]
    return ce.code if ce.code is not None else repr(ce.const)


def _plus(k: int) -> str:
    return f"+ {k}" if k >= 0 else f"- {-k}"


def _is_location(e: ir.Expr) -> bool:
    while isinstance(e, (ir.Index, ir.Field)):
        e = e.base
    return isinstance(e, ir.VarRef)


def _interval(op, a: CE, b: CE):
    f = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y}[op]
    vals = [f(x, y) for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
    return min(vals), max(vals)


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")


def _checked(code: str, lo: int, hi: int, k: int) -> str:
    """code, raising the model's run-time error k when its value is outside lo..hi."""
    if _IDENT.match(code):  # a local: test inline, no call on the good path
        return f"({code} if {lo} <= {code} <= {hi} else _ck({code}, {lo}, {hi}, {k}))"
    return f"_ck({code}, {lo}, {hi}, {k})"


def _ck(v, lo, hi, k):
    if lo <= v <= hi:
        return v
    raise _RuntimeFault(k, v)


def _div(a, b, mod, k):
    if b == 0:
        raise _RuntimeFault(k, b)
    return a % b if mod else a // b


class _RuntimeFault(Exception):
    def __init__(self, k, value):
        super().__init__(k)
        self.k = k
        self.value = value


RUNTIME = {"_ck": _ck, "_div": _div}

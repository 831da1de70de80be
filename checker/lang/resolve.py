"""Name resolution, type checking and flattening: AST modules to one ir.System.

Defs and procs are inlined where they are used; components are flattened
(a member variable of an instance array becomes an array over the instances,
a rule of an instance array gets the instance index as its first parameter).
Every problem is a Diagnostic; the resolver keeps going to report them all.
"""

from __future__ import annotations

from checker import ir
from checker.diagnostics import CODES, Diagnostic, Span, did_you_mean
from checker.ir_eval import EvalError, NotConstant, evaluate
from checker.lang import ast, events
from checker.lang.scope import (
    BUILTINS,
    BBuiltin,
    BConst,
    BDef,
    BExpr,
    BInstance,
    BProc,
    Broken,
    BType,
    BVar,
    CallableRef,
    Ctx,
    Fail,
    GlobalCtx,
    InProgress,
    Instance,
    InstanceCtx,
    InstanceRef,
    Other,
    Scope,
    StateTooEarly,
    where,
)
from checker.lang.typerules import (
    all_const,
    arith,
    assignable,
    describe,
    in_type,
    is_set,
    literal_elems,
    literal_set_type,
    reads_state,
    retype_set,
    same_type,
)

MAX_SET = 1024


class Resolver:
    def __init__(self, modules: list[ast.Module], overrides: dict[str, tuple[str, Span | None]],
                 symbolic: tuple[str, ...] = ()):
        self.modules = modules
        self.overrides = overrides
        self.symbolic = tuple(dict.fromkeys(symbolic))  # constants left unconstrained
        self.symbolic_vars: dict[str, int] = {}  # their frozen state variables
        self.diags: list[Diagnostic] = []
        self.gctx = GlobalCtx(self)
        self.decl_of: dict[str, object] = {}
        self.rule_names: dict[tuple[str, str], object] = {}
        self.member_spans: dict[str, Span] = {}
        self.consts: dict[str, BConst | None] = {}
        self.types: dict[str, ir.Type | None] = {}
        self.enum_types: dict[int, ir.EnumT] = {}
        self.enum_members: dict[str, tuple[ir.EnumT, int]] = {}
        self.instances: dict[str, Instance] = {}
        self.variables: list[ir.Variable] = []
        self.global_vars: dict[str, int] = {}
        self.rules: list[ir.Rule] = []
        self.invariants: list[ir.Invariant] = []
        self.actions: dict[str, tuple[list[str], Span]] = {}
        self.options = {"deadlock": True}
        self.checks: set[str] = set()
        self.event_sites: list[events.EventStmt] = []
        self.reachables: list[ir.Reachable] = []
        self.recoverables: list[ir.Recoverable] = []
        self.action_class: dict[str, str] = {}
        self._check_span: Span | None = None
        self._evaluating: list[str] = []
        self._inlining: list[str] = []
        self._locals: dict[str, int] = {}
        self._current_rule: str | None = None
        self._vars_done = False
        self._inlined: set[int] = set()  # ids of def/proc declarations used at least once

    # ---- reporting ----
    def error(self, code: str, message: str, span: Span | None, hint: str | None = None):
        if any(d.code == code and d.span == span and (span or d.message == message)
               for d in self.diags):
            return  # one diagnostic per code and place (templates are resolved many times)
        self.diags.append(Diagnostic(code, message, span, hint or CODES[code].hint))

    def fail(self, code, message, span, hint=None):
        self.error(code, message, span, hint)
        raise Fail()

    # ---- pass 1: collect names ----
    def collect(self) -> None:
        for m in self.modules:
            for item in m.items:
                self._collect_item(item)

    def _declare(self, name: ast.Name, decl) -> None:
        if name.id in BUILTINS or name.id in events.EVENTS:
            self.error("E102", f"'{name.id}' is a builtin and cannot be redefined", name.span,
                       "builtins: " + ", ".join(sorted([*BUILTINS, *events.EVENTS])))
            return
        if name.id in self.decl_of or name.id in self.enum_members:
            self.error("E102", f"'{name.id}' is declared twice", name.span,
                       f"the first declaration is at {self.where(name.id)}")
            return
        self.decl_of[name.id] = decl
        self.gctx.table[name.id] = decl

    def where(self, name: str) -> str:
        if name in self.member_spans:
            return str(self.member_spans[name])
        return where(self.decl_of.get(name))

    def _collect_item(self, item) -> None:
        match item:
            case ast.Import() | ast.OptionDecl() | ast.CheckDecl():
                pass
            case ast.VarDecl(names=names):
                for n in names:
                    self._declare(n, item)
                self._collect_enums(item.type, None)
            case ast.TypeDecl(name=n, type=t):
                self._declare(n, item)
                self._collect_enums(t, n.id)
            case ast.ConstDecl(name=n, type=t):
                self._declare(n, item)
                self._collect_enums(t, None)
            case ast.ComponentDecl():
                self._declare(item.name, item)
                for sub in item.items:
                    if isinstance(sub, (ast.VarDecl, ast.ConstDecl)):
                        self._collect_enums(sub.type, None)
                    elif isinstance(sub, ast.TypeDecl):
                        self._collect_enums(sub.type, sub.name.id)
            case ast.RuleDecl() | ast.InvariantDecl() | ast.ReachableDecl() | ast.LostDecl():
                # rules and properties have their own namespace: expressions never name them
                kind = "rule" if isinstance(item, ast.RuleDecl) else "property"
                other = self.rule_names.get((kind, item.name.id))
                if other is not None:
                    self.error("E102", f"{kind} '{item.name.id}' is declared twice",
                               item.name.span, f"the first declaration is at {where(other)}")
                else:
                    self.rule_names[(kind, item.name.id)] = item
            case ast.DefDecl() | ast.ProcDecl() | ast.InstanceDecl():
                self._declare(item.name, item)

    def _collect_enums(self, t, name: str | None) -> None:
        match t:
            case ast.EnumType(members=ms):
                et = ir.EnumT(name or "", tuple(m.id for m in ms))
                self.enum_types[id(t)] = et
                for i, m in enumerate(ms):
                    if m.id in self.enum_members or m.id in self.decl_of:
                        self.error("E102", f"enum member '{m.id}' is declared twice", m.span,
                                   f"the first declaration is at {self.where(m.id)}; enum "
                                   "members share one namespace with all global names")
                    else:
                        self.enum_members[m.id] = (et, i)
                        self.member_spans[m.id] = m.span
            case ast.SetType(elem=e):
                self._collect_enums(e, None)
            case ast.ArrayType(index=i, elem=e):
                self._collect_enums(i, None)
                self._collect_enums(e, None)
            case ast.RecordType(fields=fs):
                for _, ft in fs:
                    self._collect_enums(ft, None)

    # ---- global bindings (lazy, memoised) ----
    def global_binding(self, name: str):
        if name in self.enum_members:
            et, i = self.enum_members[name]
            return BConst(et, i)
        if name in BUILTINS:
            return BBuiltin(name)
        decl = self.decl_of.get(name)
        match decl:
            case None:
                return None
            case ast.ConstDecl() if name in self.symbolic:
                vi = self.symbolic_vars.get(name)
                if vi is None:
                    return _SymbolicEarly(name)
                return BExpr(ir.VarRef(self.variables[vi].type, vi))
            case ast.ConstDecl():
                return self._global_const(name, decl)
            case ast.TypeDecl():
                t = self._global_type(name, decl)
                if isinstance(t, InProgress):
                    return t
                return BType(t) if t is not None else Broken()
            case ast.VarDecl():
                vi = self.global_vars.get(name)
                if vi is None:
                    return StateTooEarly() if not self._vars_done else Broken()
                return BVar(vi, None)
            case ast.DefDecl():
                return BDef(decl, self.gctx)
            case ast.ProcDecl():
                return BProc(decl, self.gctx)
            case ast.InstanceDecl():
                inst = self.instances.get(name)
                return BInstance(inst) if inst is not None else Broken()
            case _:
                return Other(decl)

    def _global_const(self, name: str, decl: ast.ConstDecl):
        if name in self.consts:
            return self.consts[name] or Broken()
        if name in self._evaluating:
            self.error("E207", f"constant '{name}' depends on itself", decl.name.span)
            return Broken()
        self._evaluating.append(name)
        try:
            self.consts[name] = self._const_value(decl, Scope(self.gctx), name in self.overrides)
        finally:
            self._evaluating.pop()
        return self.consts[name] or Broken()

    def _const_value(self, decl: ast.ConstDecl, scope: Scope, overridden: bool) -> BConst | None:
        try:
            t = self.type_of(decl.type, scope)
            if not isinstance(t, (ir.BoolT, ir.IntT, ir.EnumT)):
                self.fail("E201", f"constants are bool, int or enum, not {t}", decl.type.span)
            if overridden:
                text, span = self.overrides[decl.name.id]
                return BConst(t, self._parse_override(decl.name.id, t, text, span))
            v = self.const_eval(decl.value, scope, t)
            if not in_type(t, v):
                self.fail("E302", f"constant '{decl.name.id}' = {ir.format_value(t, v)} is "
                          f"not in its type {t}", decl.value.span, f"widen the type {t}")
            return BConst(t, v)
        except Fail:
            return None

    def _parse_override(self, name: str, t: ir.Type, text: str, span) -> object:
        hint = None
        if isinstance(t, ir.BoolT) and text in ("true", "false"):
            return text == "true"
        if isinstance(t, ir.EnumT) and text in t.members:
            return t.members.index(text)
        if isinstance(t, ir.IntT):
            try:
                v = int(text, 0)
            except ValueError:
                v = None
            if v is not None and t.lo <= v <= t.hi:
                return v
            hint = f"'{name}' takes an integer in {t}"
        elif isinstance(t, ir.EnumT):
            hint = f"'{name}' takes one of {', '.join(t.members)}"
        else:
            hint = f"'{name}' takes true or false"
        self.fail("E401", f"--const {name}={text}: not a value of {t}", span, hint)

    def _global_type(self, name: str, decl: ast.TypeDecl):
        if name in self._evaluating:
            return InProgress()
        if name not in self.types:
            self.types[name] = None
            self._evaluating.append(name)
            try:
                self.types[name] = self.type_of(decl.type, Scope(self.gctx))
            except Fail:
                pass
            finally:
                self._evaluating.pop()
        return self.types[name]

    def member_binding(self, ctx: InstanceCtx, name: str, decl):
        scope = Scope(ctx)
        match decl:
            case ast.Param():
                return self._instance_arg(ctx.inst, decl, ctx.self_expr)
            case ast.ConstDecl():
                try:
                    t = self.type_of(decl.type, scope)
                    e = self.expect_compatible(t, self.expr(decl.value, scope), decl.value.span)
                    if self._reads_plain_state(e):
                        self.fail("E207", f"constant '{name}' reads the state", decl.value.span,
                                  "a constant is computed from literals, constants and defs")
                    if isinstance(e, ir.Const) and not in_type(t, e.value):
                        self.fail("E302", f"constant '{name}' = {ir.format_value(t, e.value)} is"
                                  f" not in its type {t}", decl.value.span, f"widen the type {t}")
                    return BExpr(e)
                except Fail:
                    return Broken()
            case ast.TypeDecl():
                try:
                    return BType(self.type_of(decl.type, scope))
                except Fail:
                    return Broken()
            case ast.VarDecl():
                vi = ctx.inst.var_ids.get(name)
                return BVar(vi, ctx.self_expr) if vi is not None else Broken()
            case ast.DefDecl():
                return BDef(decl, ctx)
            case ast.ProcDecl():
                return BProc(decl, ctx)
            case _:
                return Other(decl)

    def _instance_arg(self, inst: Instance, param: ast.Param, self_expr):
        """The binding of a component parameter: its argument, resolved in the global scope
        with the instance index bound; a constant (or a function of the index)."""
        arg = inst.args.get(param.name.id)
        if arg is None:
            return Broken()
        gscope = self._instance_index_scope(inst, self_expr)
        try:
            pt = self.type_of(param.type, Scope(self.gctx))
            e = self.expect_compatible(pt, self.expr(arg.value, gscope), arg.value.span)
            if self._reads_plain_state(e) and (self_expr is None or
                                               isinstance(self_expr, ir.Local)):
                # checked where the index is the instance's own (a dynamic index such as
                # lapic[dest].accept(...) reads the state, and that is fine)
                self.fail("E207", f"argument '{param.name.id}' reads the state", arg.value.span,
                          "component arguments are constants (or functions of the index)")
            if isinstance(e, ir.Const) and not in_type(pt, e.value):
                self.fail("E302", f"argument {param.name.id} = {ir.format_value(pt, e.value)} is"
                          f" not in {pt}", arg.value.span, f"'{param.name.id}' is declared {pt}")
            if (sym := self._symbolic_read(e)) is not None and not _fits_expr(e, pt):
                self.fail("E302", f"argument {param.name.id} ranges over {e.type}, which is not "
                          f"within {pt}, for some values of the symbolic constant '{sym}'",
                          arg.value.span, f"narrow the type of '{sym}' or widen {pt} "
                          "(--const can widen a range given by constants)")
            return BExpr(e)
        except Fail:
            return Broken()

    def _instance_index_scope(self, inst: Instance, self_expr) -> Scope:
        """The global scope with the instance's index variable bound (for its arguments)."""
        scope = Scope(self.gctx)
        if inst.decl.index_var is not None and self_expr is not None:
            scope.local[inst.decl.index_var.id] = BExpr(self_expr)
        return scope

    # ---- types ----
    def type_of(self, t, scope: Scope) -> ir.Type:
        match t:
            case ast.BoolType():
                return ir.BOOL
            case ast.RangeType(lo=lo, hi=hi):
                a = self.fold_value(self.int_expr(lo, scope), lo.span)
                b = self.fold_value(self.int_expr(hi, scope), hi.span)
                if a > b:
                    self.fail("E301", f"empty range {a}..{b}", t.span,
                              "a range lo..hi needs lo <= hi")
                return ir.IntT(a, b)
            case ast.EnumType():
                return self.enum_types[id(t)]
            case ast.SetType(elem=e):
                et = self.type_of(e, scope)
                if not isinstance(et, ir.IntT):
                    self.fail("E301", f"sets range over integers, not {et}", e.span,
                              "write 'set of lo..hi'")
                if et.hi - et.lo + 1 > MAX_SET:
                    self.fail("E301", f"set over {et} has more than {MAX_SET} elements", t.span)
                return ir.SetT(et.lo, et.hi)
            case ast.ArrayType(index=i, elem=e):
                it = self.type_of(i, scope)
                if not isinstance(it, (ir.IntT, ir.EnumT, ir.BoolT)):
                    self.fail("E301", f"arrays are indexed by a range, enum or bool, not {it}",
                              i.span)
                return ir.ArrayT(it, self.type_of(e, scope))
            case ast.RecordType(fields=fs):
                seen = set()
                out = []
                for n, ft in fs:
                    if n.id in seen:
                        self.fail("E102", f"field '{n.id}' is declared twice", n.span)
                    seen.add(n.id)
                    out.append((n.id, self.type_of(ft, scope)))
                return ir.RecordT(tuple(out))
            case ast.NamedType(expr=e):
                if isinstance(e, ast.Name):
                    if e.id == "int":
                        self.fail("E301", "'int' is unbounded", e.span,
                                  "give a range, e.g. 0..255")
                    b = scope.lookup(e.id)
                    if isinstance(b, BType):
                        return b.type
                    if isinstance(b, InProgress):
                        self.fail("E105", f"type '{e.id}' is defined in terms of itself", e.span,
                                  "types are finite: a record cannot contain itself")
                    if b is None:
                        self.fail("E101", f"unknown type '{e.id}'", e.span,
                                  did_you_mean(e.id, self._type_names(scope)))
                    if isinstance(b, Broken):
                        raise Fail()
                self.fail("E201", "expected a type", t.span,
                          "types are bool, lo..hi, enum {...}, set of T, [I] of T, record {...}"
                          " or a type name")
        raise Fail()

    def _type_names(self, scope: Scope) -> list[str]:
        out = [n for n, d in self.decl_of.items() if isinstance(d, ast.TypeDecl)]
        if isinstance(scope.ctx, InstanceCtx):
            out += [n for n, d in scope.ctx.inst.members.items() if isinstance(d, ast.TypeDecl)]
        return out + ["bool"]

    def domain_of(self, t, scope: Scope) -> ir.Type:
        dt = self.type_of(t, scope)
        if not isinstance(dt, (ir.BoolT, ir.IntT, ir.EnumT)):
            self.fail("E301", f"a parameter or bound variable ranges over a range, enum or bool,"
                      f" not {dt}", t.span)
        return dt

    # ---- constant evaluation ----
    def const_eval(self, node, scope: Scope, want: ir.Type | None):
        e = self.expr(node, scope)
        if want is not None:
            e = self.expect_compatible(want, e, node.span)
        return self.fold_value(e, node.span)

    def fold_value(self, e: ir.Expr, span):
        try:
            return evaluate(e, {})
        except (NotConstant, KeyError):
            sym = self._symbolic_read(e)
            if sym is not None:
                self._symbolic_here(sym, span)
            self.fail("E207", "this must be a constant expression", span,
                      "it reads a state variable or a parameter")
        except EvalError as err:
            self.fail("E304" if "zero" in err.message else "E302", err.message, span)

    # ---- expressions ----
    def expr(self, node, scope: Scope) -> ir.Expr:
        """Resolve an expression that must denote a value."""
        r = self.raw(node, scope)
        if isinstance(r, ir.Expr):
            return r
        if isinstance(r, CallableRef):
            kind = "procedure" if isinstance(r.binding, BProc) else "function"
            self.fail("E206" if kind == "procedure" else "E201",
                      f"'{r.name}' is a {kind}, not a value", node.span,
                      "call it with arguments" if kind == "function" else None)
        if isinstance(r, InstanceRef):
            self.fail("E201", f"'{r.inst.name}' is a component instance, not a value", node.span,
                      "name one of its members: inst.member")
        self.fail("E201", "not a value", node.span)

    def raw(self, node, scope: Scope):
        span = node.span
        match node:
            case ast.Number(value=v):
                return ir.Const(ir.IntT(v, v), v, span=span)
            case ast.BoolLit(value=v):
                return ir.Const(ir.BOOL, v, span=span)
            case ast.Name(id=n):
                return self._name(node, scope)
            case ast.SetLit(elems=es):
                elems = tuple(self.int_expr(x, scope) for x in es)
                return self._fold(ir.SetLit(ir.AnySetT(), elems, span=span))
            case ast.ArrayLit():
                self.fail("E201", "array literals are allowed only as initial values", span)
            case ast.RecordLit(fields=fs):
                names, vals = [], []
                for n, v in fs:
                    if n.id in names:
                        self.fail("E102", f"field '{n.id}' is given twice", n.span)
                    names.append(n.id)
                    vals.append(self.expr(v, scope))
                rt = ir.RecordT(tuple((n, v.type) for n, v in zip(names, vals)))
                return ir.RecordLit(rt, tuple(vals), span=span)
            case ast.Index():
                return self._index(node, scope)
            case ast.FieldAccess(base=b, name=n):
                return self._field(node, scope)
            case ast.Call():
                return self._call_expr(node, scope)
            case ast.Unary(op=op, arg=a):
                if op == "not":
                    return self._fold(ir.Unary(ir.BOOL, "not", self.bool_expr(a, scope),
                                               span=span))
                x = self.int_expr(a, scope)
                return self._fold(ir.Unary(ir.IntT(-x.type.hi, -x.type.lo), "neg", x, span=span))
            case ast.Binary():
                return self._binary(node, scope)
            case ast.Ite(cond=c, then=t, els=f):
                cond = self.bool_expr(c, scope)
                a, b = self.expr(t, scope), self.expr(f, scope)
                ty, a, b = self.join(a, b, span)
                return self._fold(ir.Ite(ty, cond, a, b, span=span))
            case ast.Quant(kind=k, var=v, domain=d, body=b):
                dom = self.domain_of(d, scope)
                inner = scope.child()
                lname = self.fresh(v.id)
                inner.local[v.id] = BExpr(ir.Local(dom, lname, span=v.span))
                body = self.bool_expr(b, inner)
                return self._fold(ir.Quant(ir.BOOL, k, lname, dom, body, span=span))
        self.fail("E201", "unsupported expression", span)

    def _fold(self, e: ir.Expr) -> ir.Expr:
        """Replace an expression over constants only by its value."""
        if isinstance(e, ir.Const) or not all_const(e):
            return e
        try:
            v = evaluate(e, {})
        except (EvalError, NotConstant, KeyError):
            return e
        t = e.type
        if isinstance(t, ir.IntT):
            t = ir.IntT(v, v)
        if isinstance(t, ir.AnySetT) and v:
            t = ir.AnySetT()
        return ir.Const(t, v, span=e.span)

    def _name(self, node: ast.Name, scope: Scope):
        b = scope.lookup(node.id)
        span = node.span
        match b:
            case None:
                hint = did_you_mean(node.id, scope.names())
                if node.id == "int":
                    hint = "'int' is unbounded; give a range such as 0..255"
                self.fail("E101", f"unknown name '{node.id}'", span, hint)
            case Broken():
                raise Fail()
            case StateTooEarly():
                self.fail("E207", f"state variable '{node.id}' cannot be read here", span,
                          "options, instance arguments and index domains are constants")
            case InProgress():
                self.fail("E105", f"'{node.id}' is defined in terms of itself", span,
                          "break the cycle with a literal value")
            case _SymbolicEarly(name=n):
                self._symbolic_here(n, span)
            case BConst(type=t, value=v):
                if isinstance(t, ir.IntT):
                    t = ir.IntT(v, v)
                return ir.Const(t, v, span=span)
            case BExpr(expr=e):
                return e
            case BVar(var=vi, self_expr=se):
                v = self.variables[vi]
                ref = ir.VarRef(v.type, vi, span=span)
                if se is not None:
                    return ir.Index(v.type.elem, ref, se, span=span)
                return ref
            case BType():
                self.fail("E201", f"'{node.id}' is a type, not a value", span)
            case BInstance(inst=inst):
                return InstanceRef(inst, None)
            case BDef() | BProc() | BBuiltin():
                return CallableRef(b, node.id)
            case Other(decl=d):
                kind = type(d).__name__.replace("Decl", "").lower()
                self.fail("E201", f"'{node.id}' is a {kind}, not a value", span)
        raise Fail()

    def _index(self, node: ast.Index, scope: Scope):
        base = self.raw(node.base, scope)
        if isinstance(base, InstanceRef):
            inst = base.inst
            if inst.index_type is None or base.self_expr is not None:
                self.fail("E204", f"'{inst.name}' is a single instance, not an array",
                          node.span, f"write {inst.name}.member")
            idx = self.expect_compatible(inst.index_type, self.expr(node.index, scope),
                                         node.index.span)
            return InstanceRef(inst, idx)
        if not isinstance(base, ir.Expr):
            self.expr(node.base, scope)
        if not isinstance(base.type, ir.ArrayT):
            self.fail("E204", f"indexing a value of type {base.type}", node.span,
                      "only arrays and instance arrays can be indexed")
        idx = self.expect_compatible(base.type.index, self.expr(node.index, scope),
                                     node.index.span)
        return self._fold(ir.Index(base.type.elem, base, idx, span=node.span))

    def _field(self, node: ast.FieldAccess, scope: Scope):
        base = self.raw(node.base, scope)
        name = node.name.id
        if isinstance(base, InstanceRef):
            inst = base.inst
            if inst.index_type is not None and base.self_expr is None:
                self.fail("E204", f"'{inst.name}' is an instance array", node.base.span,
                          f"pick an instance: {inst.name}[i].{name}")
            if name not in inst.members or isinstance(inst.members[name], ast.Param):
                self.fail("E103", f"component '{inst.comp.name.id}' has no member '{name}'",
                          node.name.span, did_you_mean(name, [
                              m for m, d in inst.members.items() if not isinstance(d, ast.Param)]))
            ctx = InstanceCtx(self, inst, base.self_expr)
            return self._name(ast.Name(node.name.span, name), Scope(ctx))
        if not isinstance(base, ir.Expr):
            self.expr(node.base, scope)
        if not isinstance(base.type, ir.RecordT):
            self.fail("E103", f"a value of type {base.type} has no fields", node.name.span)
        ft = base.type.field_type(name)
        if ft is None:
            self.fail("E103", f"no field '{name}' in {base.type}", node.name.span,
                      did_you_mean(name, [n for n, _ in base.type.fields]))
        return self._fold(ir.Field(ft, base, name, span=node.span))

    # ---- calls ----
    def _callee(self, node: ast.Call, scope: Scope):
        f = self.raw(node.func, scope)
        if not isinstance(f, CallableRef):
            self.fail("E104", "only defs, procs and builtins can be called", node.func.span)
        return f

    def _call_expr(self, node: ast.Call, scope: Scope):
        f = self._callee(node, scope)
        b = f.binding
        if isinstance(b, BProc):
            self.fail("E206", f"'{f.name}' is a procedure; call it as a statement", node.span,
                      "use a def for a value")
        if isinstance(b, BBuiltin):
            return self._builtin(f.name, node, scope)
        args = self._bind_args(b, node, scope)
        return self._inline(f.name, b, node, lambda: self._def_body(b, args))

    def _def_body(self, b: BDef, args):
        inner = Scope(b.ctx)
        for p, (pt, e) in zip(b.decl.params, args):
            inner.local[p.name.id] = BExpr(e)
        return self.expr(b.decl.body, inner)

    def _inline(self, name, b, node, body):
        self._inlined.add(id(b.decl))
        key = f"{id(b.decl)}"
        if key in self._inlining:
            self.fail("E105", f"'{name}' calls itself", node.span,
                      "defs and procs are inlined; write a bounded 'for' instead")
        self._inlining.append(key)
        try:
            return body()
        finally:
            self._inlining.pop()

    def _bind_args(self, b: BDef | BProc, node: ast.Call, scope: Scope):
        """[(param type, argument expr)], checked against the declared parameters."""
        decl = b.decl
        params = decl.params
        signature = f"declared as {decl.name.id}({', '.join(p.name.id for p in params)})"
        if len(node.args) != len(params):
            self.fail("E202", f"'{decl.name.id}' takes {len(params)} argument(s), "
                      f"got {len(node.args)}", node.span, signature)
        by_name: dict[str, ast.Arg] = {}
        for i, a in enumerate(node.args):
            pname = a.name.id if a.name is not None else params[i].name.id
            if a.name is not None and pname not in {p.name.id for p in params}:
                self.fail("E202", f"'{decl.name.id}' has no parameter '{pname}'", a.name.span,
                          did_you_mean(pname, [p.name.id for p in params]) or signature)
            if pname in by_name:
                self.fail("E102", f"parameter '{pname}' is given twice", a.span, signature)
            by_name[pname] = a
        out = []
        for p in params:
            a = by_name[p.name.id]
            pt = self.type_of(p.type, Scope(b.ctx))
            e = self.expect_compatible(pt, self.expr(a.value, scope), a.value.span)
            if isinstance(e, ir.Const) and not in_type(pt, e.value):
                self.fail("E302", f"argument {p.name.id} = {ir.format_value(pt, e.value)} is "
                          f"not in {pt}", a.value.span, f"'{p.name.id}' is declared {pt}")
            out.append((pt, e))
        return out

    def _builtin(self, name: str, node: ast.Call, scope: Scope) -> ir.Expr:
        for a in node.args:
            if a.name is not None:
                self.fail("E202", f"the builtin '{name}' takes no named arguments", a.name.span,
                          f"write {name}(...) with positional arguments")
        args = [self.expr(a.value, scope) for a in node.args]
        n = len(args)
        span = node.span
        if name in ("max", "min") and n == 2:
            a, b = (self.expect_int(x, s.value.span) for x, s in zip(args, node.args))
            f = max if name == "max" else min
            t = ir.IntT(f(a.type.lo, b.type.lo), f(a.type.hi, b.type.hi))
            return self._fold(ir.Builtin(t, "i" + name, (a, b), span=span))
        if n != 1:
            self.fail("E202", f"'{name}' takes one argument" +
                      (" (a set) or two integers" if name in ("max", "min") else ""), span)
        (a,) = args
        if name == "abs":
            a = self.expect_int(a, node.args[0].value.span)
            hi = max(abs(a.type.lo), abs(a.type.hi))
            lo = 0 if a.type.lo <= 0 <= a.type.hi else min(abs(a.type.lo), abs(a.type.hi))
            return self._fold(ir.Builtin(ir.IntT(lo, hi), "abs", (a,), span=span))
        if not isinstance(a.type, (ir.SetT, ir.AnySetT)):
            self.fail("E201", f"'{name}' takes a set, not {a.type}", node.args[0].value.span)
        st = a.type if isinstance(a.type, ir.SetT) else literal_set_type(a, span, self)
        a = retype_set(a, st)
        t = {"size": ir.IntT(0, st.hi - st.lo + 1), "empty": ir.BOOL,
             "max": ir.IntT(st.lo - 1, st.hi), "min": ir.IntT(st.lo, st.hi + 1)}[name]
        return self._fold(ir.Builtin(t, name, (a,), span=span))

    # ---- operators ----
    def _binary(self, node: ast.Binary, scope: Scope) -> ir.Expr:
        op, span = node.op, node.span
        if op in ("and", "or"):  # left-nested chains without deep recursion
            chain = []
            while isinstance(node, ast.Binary) and node.op == op:
                chain.append(node)
                node = node.left
            acc = self.bool_expr(node, scope)
            for n in reversed(chain):
                acc = self._fold(ir.Binary(ir.BOOL, op, acc, self.bool_expr(n.right, scope),
                                           span=n.span))
            return acc
        if op == "=>":
            return self._fold(ir.Binary(ir.BOOL, op, self.bool_expr(node.left, scope),
                                        self.bool_expr(node.right, scope), span=span))
        a, b = self.expr(node.left, scope), self.expr(node.right, scope)
        if op in ("in", "notin"):
            a = self.expect_int(a, node.left.span)
            if isinstance(b.type, ir.AnySetT):  # a literal: its range covers both sides
                lit = literal_set_type(b, span, self)
                if list(literal_elems(b)):
                    lit = ir.SetT(min(lit.lo, a.type.lo), max(lit.hi, a.type.hi))
                else:
                    lit = ir.SetT(a.type.lo, a.type.hi)
                if lit.hi - lit.lo + 1 > MAX_SET:
                    self.fail("E301", f"set over {lit.lo}..{lit.hi} is too large", span)
                b = retype_set(b, lit)
            b = self.expect_set(b, node.right.span)
            return self._fold(ir.Binary(ir.BOOL, op, a, b, span=span))
        if op in ("==", "!="):
            _, a, b = self.join(a, b, span, concrete=True)
            return self._fold(ir.Binary(ir.BOOL, op, a, b, span=span))
        if op in ("<", "<=", ">", ">="):
            a, b = self.expect_int(a, node.left.span), self.expect_int(b, node.right.span)
            return self._fold(ir.Binary(ir.BOOL, op, a, b, span=span))
        if is_set(a.type) or is_set(b.type):
            if op not in ("+", "-", "&"):
                self.fail("E201", f"'{op}' is not a set operation", span,
                          "sets use + (union), - (difference) and & (intersection)")
            t, a, b = self.join(a, b, span)
            sop = {"+": "union", "-": "diff", "&": "inter"}[op]
            return self._fold(ir.Binary(t, sop, a, b, span=span))
        if op == "&":
            self.fail("E201", "'&' is set intersection", span, "conjunction is 'and'")
        a, b = self.expect_int(a, node.left.span), self.expect_int(b, node.right.span)
        return self._fold(ir.Binary(arith(op, a.type, b.type), op, a, b, span=span))

    # ---- type expectations ----
    def bool_expr(self, node, scope) -> ir.Expr:
        e = self.expr(node, scope)
        if not isinstance(e.type, ir.BoolT):
            self.fail("E201", f"expected a bool, found {describe(e.type)}", node.span)
        return e

    def int_expr(self, node, scope) -> ir.Expr:
        return self.expect_int(self.expr(node, scope), node.span)

    def expect_int(self, e: ir.Expr, span) -> ir.Expr:
        if not isinstance(e.type, ir.IntT):
            self.fail("E201", f"expected an integer, found {describe(e.type)}", span)
        return e

    def expect_set(self, e: ir.Expr, span) -> ir.Expr:
        if isinstance(e.type, ir.AnySetT):
            return retype_set(e, literal_set_type(e, span, self))
        if not isinstance(e.type, ir.SetT):
            self.fail("E201", f"expected a set, found {describe(e.type)}", span)
        return e

    def expect_compatible(self, want: ir.Type, e: ir.Expr, span) -> ir.Expr:
        """e converted to type want where that is possible, else a diagnostic."""
        t = e.type
        if isinstance(want, ir.IntT) and isinstance(t, ir.IntT):
            return e
        if isinstance(want, ir.SetT) and isinstance(t, ir.AnySetT):
            return retype_set(e, want)
        if isinstance(want, ir.RecordT) and isinstance(e, ir.RecordLit):
            return self._coerce_record(want, e, span)
        if same_type(want, t):
            return e
        self.fail("E201", f"expected {describe(want)}, found {describe(t)}", span,
                  "arrays and records copy only between the same element ranges"
                  if isinstance(want, (ir.ArrayT, ir.RecordT)) else None)

    def join(self, a: ir.Expr, b: ir.Expr, span, concrete: bool = False):
        """The common type of two operands (for ==, if-then-else, set operators)."""
        ta, tb = a.type, b.type
        if isinstance(ta, ir.IntT) and isinstance(tb, ir.IntT):
            return ir.IntT(min(ta.lo, tb.lo), max(ta.hi, tb.hi)), a, b
        if isinstance(ta, ir.AnySetT) and isinstance(tb, ir.SetT):
            return tb, retype_set(a, tb), b
        if isinstance(tb, ir.AnySetT) and isinstance(ta, ir.SetT):
            return ta, a, retype_set(b, ta)
        if isinstance(a, ir.RecordLit) and isinstance(tb, ir.RecordT) and \
                not isinstance(b, ir.RecordLit):
            return tb, self._coerce_record(tb, a, span), b
        if isinstance(b, ir.RecordLit) and isinstance(ta, ir.RecordT):
            return ta, a, self._coerce_record(ta, b, span)
        if isinstance(ta, ir.AnySetT) and isinstance(tb, ir.AnySetT):
            if not concrete:  # set operators over literals: the context gives the range
                return ta, a, b
            st = literal_set_type(ir.SetLit(ta, (a, b)), span, self)
            return st, retype_set(a, st), retype_set(b, st)
        if same_type(ta, tb):
            return ta, a, b
        self.fail("E201", f"{describe(ta)} and {describe(tb)} cannot be combined", span,
                  "arrays and records compare and copy only with the same element ranges"
                  if isinstance(ta, (ir.ArrayT, ir.RecordT)) else None)

    def _coerce_record(self, want: ir.RecordT, e: ir.RecordLit, span) -> ir.Expr:
        given = dict(zip((n for n, _ in e.type.fields), e.values))
        names = [n for n, _ in want.fields]
        missing = [n for n in names if n not in given]
        extra = [n for n in given if n not in names]
        if missing or extra:
            self.fail("E201", "record literal does not match " + str(want), e.span or span,
                      (f"missing: {', '.join(missing)}" if missing else "") +
                      ("; " if missing and extra else "") +
                      (f"unknown: {', '.join(extra)}" if extra else ""))
        vals = tuple(self.expect_compatible(ft, given[n], given[n].span or span)
                     for n, ft in want.fields)
        return self._fold(ir.RecordLit(want, vals, span=e.span))

    def fresh(self, name: str) -> str:
        n = self._locals.get(name, 0) + 1
        self._locals[name] = n
        return name if n == 1 else f"{name}_{n}"

    # ---- statements ----
    def block(self, stmts, scope: Scope) -> tuple[ir.Stmt, ...]:
        out: list[ir.Stmt] = []
        inner = scope.child()
        for s in stmts:
            try:
                out += self.stmt(s, inner)
            except Fail:
                pass
        return tuple(out)

    def stmt(self, s, scope: Scope) -> list[ir.Stmt]:
        span = s.span
        match s:
            case ast.Skip():
                return []
            case ast.Assign(target=t, op=op, value=v):
                target = self.lvalue(t, scope)
                value = self.expr(v, scope)
                if op != ":=":
                    target_t = target.type
                    if isinstance(target_t, ir.IntT):
                        value = self.expect_int(value, v.span)
                        value = ir.Binary(arith(op[0], target_t, value.type), op[0], target,
                                          value, span=span)
                    elif isinstance(target_t, ir.SetT):
                        value = self.expect_compatible(target_t, value, v.span) \
                            if is_set(value.type) else self._singleton(value, target_t, v.span)
                        value = ir.Binary(target_t, "union" if op == "+=" else "diff", target,
                                          value, span=span)
                    else:
                        self.fail("E201", f"'{op}' needs an integer or a set, not "
                                  f"{describe(target_t)}", span)
                value = self.expect_compatible(target.type, value, v.span)
                return [ir.Assign(target, value, span=span)]
            case ast.CallStmt(call=c):
                if not isinstance(c, ast.Call):
                    self.fail("E205", "an expression alone is not a statement", span,
                              "did you mean an assignment 'x := ...' or a call 'p(...)'?")
                return self.call_stmt(c, scope)
            case ast.If(cond=c, then=a, els=b):
                cond = self.bool_expr(c, scope)
                return [ir.If(cond, self.block(a, scope), self.block(b, scope), span=span)]
            case ast.Let(name=n, value=v):
                value = self.expr(v, scope)
                lname = self.fresh(n.id)
                scope.local[n.id] = BExpr(ir.Local(value.type, lname, span=n.span))
                return [ir.Let(lname, value, span=span)]
            case ast.For(var=v, domain=d, body=body):
                dom = self.domain_of(d, scope)
                inner = scope.child()
                lname = self.fresh(v.id)
                inner.local[v.id] = BExpr(ir.Local(dom, lname, span=v.span))
                return [ir.For(lname, dom, self.block(body, inner), span=span)]
            case ast.Assert(name=n, cond=c, pclass=pc):
                cond = self.bool_expr(c, scope)
                if self._current_rule is None:
                    self.fail("E201", "assert is allowed in rule bodies only", span)
                self._register_action(n.id, self._class_of(pc), n.span)
                return [ir.Assert(n.id, cond, span=span)]
        self.fail("E205", "not a statement", span)

    def _class_of(self, pclass: ast.Name | None) -> str:
        if pclass is None:
            return "generic"
        if pclass.id not in ir.CLASSES:
            self.fail("E305", f"unknown property class '{pclass.id}'", pclass.span,
                      did_you_mean(pclass.id, ir.CLASSES) or
                      f"classes: {', '.join(ir.CLASSES)}")
        return pclass.id

    def _register_action(self, name: str, pclass: str, span) -> None:
        rules, _ = self.actions.setdefault(name, ([], span))
        if self._current_rule not in rules:
            rules.append(self._current_rule)
        old = self.action_class.setdefault(name, pclass)
        if old != pclass:
            self.fail("E305", f"assert '{name}' is of class {old} elsewhere, here {pclass}",
                      span, "give each class of assert its own name")

    def _event(self, c: ast.Call, scope: Scope) -> list[ir.Stmt]:
        kind = c.func.id
        lo, hi = events.EVENTS[kind]
        if not lo <= len(c.args) <= hi or any(a.name is not None for a in c.args):
            want = {"request": "request(vector, cpu)", "deliver": "deliver(vector, cpu)",
                    "acknowledge": "acknowledge(vector, cpu[, irr, floor])",
                    "inject": "inject(vector, cpu, interruptible)"}[kind]
            self.fail("E202", f"'{kind}' takes positional arguments {want}", c.span,
                      "see docs/language.md, 'Interrupt properties'")
        args = [self.int_expr(c.args[0].value, scope), self.int_expr(c.args[1].value, scope)]
        if kind == "acknowledge" and len(c.args) == 3:
            self.fail("E202", "'acknowledge' takes the IRR and the floor together", c.span,
                      "acknowledge(vector, cpu) or acknowledge(vector, cpu, irr, floor)")
        if kind == "acknowledge" and len(c.args) == 4:
            args.append(self.expect_set(self.expr(c.args[2].value, scope), c.args[2].value.span))
            args.append(self.int_expr(c.args[3].value, scope))
        if kind == "inject":
            args.append(self.bool_expr(c.args[2].value, scope))
        stmt = events.EventStmt(kind, tuple(args), self._current_rule or "", span=c.span)
        if self._current_rule not in (None, "(unused)"):
            self.event_sites.append(stmt)
        return [stmt]

    def _singleton(self, value: ir.Expr, st: ir.SetT, span) -> ir.Expr:
        value = self.expect_int(value, span)
        return ir.SetLit(st, (value,), span=span)

    def call_stmt(self, c: ast.Call, scope: Scope) -> list[ir.Stmt]:
        if isinstance(c.func, ast.Name) and c.func.id in events.EVENTS:
            return self._event(c, scope)
        f = self._callee(c, scope)
        b = f.binding
        if not isinstance(b, BProc):
            self.fail("E205", f"'{f.name}' computes a value; a call statement needs a proc",
                      c.span)
        args = self._bind_args(b, c, scope)

        def body():
            inner = Scope(b.ctx)
            lets: list[ir.Stmt] = []
            for p, (pt, e) in zip(b.decl.params, args):
                if isinstance(e, ir.Const):
                    inner.local[p.name.id] = BExpr(e)
                else:
                    lname = self.fresh(p.name.id)
                    inner.local[p.name.id] = BExpr(ir.Local(e.type, lname, span=p.name.span))
                    lets.append(ir.Let(lname, e, span=c.span))
            return lets + list(self.block(b.decl.body, inner))
        return self._inline(f.name, b, c, body)

    def lvalue(self, node, scope: Scope) -> ir.Expr:
        base = node
        while isinstance(base, (ast.Index, ast.FieldAccess)):
            base = base.base
        if not isinstance(base, ast.Name):
            self.fail("E203", "this cannot be assigned", node.span,
                      "only state variables, their elements and fields can be assigned")
        e = self.expr(node, scope)
        if not assignable(e):
            self.fail("E203", "this cannot be assigned", node.span,
                      "only state variables, their elements and fields can be assigned")
        return e

    # ---- pass 2: build ----
    def build(self, name: str, file: str) -> ir.System | None:
        self.collect()
        self._options()
        self._check_overrides()
        self._symbolic_variables()
        self._instances()
        self._variables()
        self._vars_done = True
        for m in self.modules:
            for item in m.items:
                if isinstance(item, ast.ConstDecl):
                    self._global_const(item.name.id, item)
                elif isinstance(item, ast.TypeDecl):
                    self._global_type(item.name.id, item)
                elif isinstance(item, ast.RuleDecl):
                    self._rule(item, Scope(self.gctx), None)
                elif isinstance(item, ast.InvariantDecl):
                    self._invariant(item, Scope(self.gctx), None)
                elif isinstance(item, (ast.ReachableDecl, ast.LostDecl)):
                    self._property(item, Scope(self.gctx), None)
                elif isinstance(item, ast.CheckDecl):
                    self._check_decl(item)
                elif isinstance(item, ast.InstanceDecl) and item.name.id in self.instances:
                    self._instance_rules(self.instances[item.name.id])
        self._check_unused()
        self._expand_events()
        if self.diags:
            return None
        consts = tuple((n, c.type, c.value) for n, d in self.decl_of.items()
                       if isinstance(d, ast.ConstDecl) and n not in self.symbolic_vars
                       and (c := self.consts.get(n)) is not None)
        actions = tuple(ir.ActionProperty(n, tuple(r), span=sp,
                                          pclass=self.action_class.get(n, "generic"))
                        for n, (r, sp) in self.actions.items())
        return ir.System(name, file, tuple(self.variables), tuple(self.rules),
                         tuple(self.invariants), actions, self.options["deadlock"], consts,
                         tuple(self.reachables), tuple(self.recoverables))

    def _check_decl(self, decl: ast.CheckDecl) -> None:
        for c in decl.classes:
            try:
                self.checks.add(self._class_of(c))
            except Fail:
                pass
        self._check_span = decl.span

    def _expand_events(self) -> None:
        """Ghost variables and properties for the checked classes; events become updates."""
        needs = {"lost": ("request", "deliver"), "duplicated": ("acknowledge", "deliver"),
                 "window": ("inject",), "priority": ("acknowledge",)}
        kinds = {s.kind for s in self.event_sites}
        for cls in sorted(self.checks):
            if not kinds & set(needs[cls]) or (cls == "lost" and "request" not in kinds):
                self.error("E306", f"'check {cls}' has nothing to check: the model has no "
                           f"{' or '.join(needs[cls])} event", self._check_span,
                           "add the event statements to the model's rules "
                           "(docs/language.md, 'Interrupt properties')")
        ghosts, ghost_vars = events.ghost_variables(self.event_sites, frozenset(self.checks),
                                                    len(self.variables))
        self.variables += ghost_vars
        self.rules = [ir.Rule(r.name, r.params, r.guard,
                              tuple(events.expand_all(r.body, ghosts)), r.kvm, r.component,
                              r.instance_param, span=r.span) for r in self.rules]
        classes = events.action_classes(ghosts)
        for s in self.event_sites:
            for st in events.expand(s, ghosts):
                if isinstance(st, ir.Assert):
                    self._current_rule = s.rule
                    self._register_action(st.prop, classes[st.prop], s.span)
        self._current_rule = None
        lost = events.lost_property(ghosts)
        if lost is not None:
            self.recoverables.append(lost)

    def _property(self, decl, scope: Scope, inst: Instance | None):
        """A reachable or lost declaration (in a component: over all of its instances)."""
        self._locals = {}
        prefix = f"{inst.name}." if inst else ""
        params: list[tuple[str, ir.Type]] = []
        inner = scope.child()
        try:
            if inst is not None and inst.index_type is not None:
                iname = inst.decl.index_var.id
                self._locals[iname] = 1
                params.append((iname, inst.index_type))
            if isinstance(decl, ast.ReachableDecl):
                e = self.bool_expr(decl.expr, inner)
                if params:
                    e = ir.Quant(ir.BOOL, "exists", params[0][0], params[0][1], e, span=decl.span)
                self.reachables.append(ir.Reachable(prefix + decl.name.id, e, span=decl.span))
                return
            for p in decl.params:
                dt = self.domain_of(p.type, scope)
                lname = self.fresh(p.name.id)
                inner.local[p.name.id] = BExpr(ir.Local(dt, lname, span=p.name.span))
                params.append((lname, dt))
            pre, post = self.bool_expr(decl.pre, inner), self.bool_expr(decl.post, inner)
            self.recoverables.append(ir.Recoverable(prefix + decl.name.id, tuple(params), pre,
                                                    post, span=decl.span))
        except Fail:
            return

    def _annotations(self, decl) -> str | None:
        """The @kvm function of a rule or proc; unknown or repeated annotations are errors."""
        kvm = None
        for a in decl.annotations:
            if a.name.id != "kvm":
                self.error("E303", f"unknown annotation '@{a.name.id}'", a.name.span,
                           "rules and procs take @kvm(\"function\")")
            elif kvm is not None:
                self.error("E303", "a second @kvm annotation", a.span,
                           "a rule or proc models one KVM function")
            else:
                kvm = a.value
        return kvm

    def _check_unused(self):
        """Resolve the bodies of defs and procs that nothing calls, for their diagnostics."""
        todo = [(d, self.gctx) for m in self.modules for d in m.items
                if isinstance(d, (ast.DefDecl, ast.ProcDecl))]
        seen_comps = set()
        for inst in self.instances.values():
            if id(inst.comp) in seen_comps:
                continue
            seen_comps.add(id(inst.comp))
            ctx = InstanceCtx(self, inst, self._self_local(inst))
            todo += [(d, ctx) for d in inst.comp.items
                     if isinstance(d, (ast.DefDecl, ast.ProcDecl))]
        saved, saved_classes = self.actions, dict(self.action_class)
        for decl, ctx in todo:
            if isinstance(decl, ast.ProcDecl):
                self._annotations(decl)
            if id(decl) in self._inlined:
                continue
            self.actions, self._current_rule, self._locals = {}, "(unused)", {}
            try:
                self._template_body(decl, ctx)
            except Fail:
                pass
        self.actions, self._current_rule, self.action_class = saved, None, saved_classes

    def _template_body(self, decl, ctx: Ctx):
        scope = Scope(ctx)
        for p in decl.params:
            t = self.type_of(p.type, Scope(ctx))
            scope.local[p.name.id] = BExpr(ir.Local(t, self.fresh(p.name.id), span=p.name.span))
        b = BDef(decl, ctx) if isinstance(decl, ast.DefDecl) else BProc(decl, ctx)
        node = ast.Call(decl.name.span, decl.name, ())
        if isinstance(decl, ast.DefDecl):
            self._inline(decl.name.id, b, node, lambda: self.expr(decl.body, scope))
        else:
            self._inline(decl.name.id, b, node, lambda: self.block(decl.body, scope))

    def _options(self):
        for m in self.modules:
            for item in m.items:
                if not isinstance(item, ast.OptionDecl):
                    continue
                if item.name.id != "deadlock":
                    self.error("E303", f"unknown option '{item.name.id}'", item.name.span,
                               did_you_mean(item.name.id, ["deadlock"]))
                    continue
                try:
                    v = self.const_eval(item.value, Scope(self.gctx), ir.BOOL)
                    self.options["deadlock"] = bool(v)
                except Fail:
                    pass

    def _check_overrides(self):
        consts = [n for n, d in self.decl_of.items() if isinstance(d, ast.ConstDecl)]
        for name in self.symbolic:
            if name not in consts:
                self.error("E401", f"--symbolic {name}: the spec declares no constant "
                           f"'{name}'", None, did_you_mean(name, consts) or
                           (f"its constants: {', '.join(consts)}" if consts else
                            "the spec declares no constants"))
            elif name in self.overrides:
                self.error("E401", f"constant '{name}' is given both --const and --symbolic",
                           None, "a symbolic constant takes every value of its type; drop one")
        for name, (text, span) in self.overrides.items():
            if name not in consts:
                self.error("E401", f"--const {name}={text}: the spec declares no constant "
                           f"'{name}'", span, did_you_mean(name, consts) or
                           (f"its constants: {', '.join(consts)}" if consts else
                            "the spec declares no constants"))

    def _instances(self):
        for m in self.modules:
            for item in m.items:
                if isinstance(item, ast.InstanceDecl):
                    self._instance(item)

    def _instance(self, decl: ast.InstanceDecl):
        comp = self.decl_of.get(decl.component.id)
        if not isinstance(comp, ast.ComponentDecl):
            comps = [n for n, d in self.decl_of.items() if isinstance(d, ast.ComponentDecl)]
            self.error("E101", f"unknown component '{decl.component.id}'", decl.component.span,
                       did_you_mean(decl.component.id, comps))
            return
        try:
            it = self.domain_of(decl.index_domain, Scope(self.gctx)) \
                if decl.index_domain is not None else None
        except Fail:
            return
        inst = Instance(decl, comp, it)
        for p in comp.params:
            inst.members[p.name.id] = p
        for sub in comp.items:
            names = sub.names if isinstance(sub, ast.VarDecl) else (sub.name,)
            for n in names:
                if n.id in inst.members:
                    self.error("E102", f"'{n.id}' is declared twice in component "
                               f"'{comp.name.id}'", n.span)
                inst.members[n.id] = sub
        given = {}
        for i, a in enumerate(decl.args):
            pname = a.name.id if a.name else (comp.params[i].name.id if i < len(comp.params)
                                              else None)
            if pname is None or pname not in {p.name.id for p in comp.params}:
                self.error("E202", f"component '{comp.name.id}' has no parameter "
                           f"{('#' + str(i + 1)) if pname is None else repr(pname)}", a.span,
                           f"it takes ({', '.join(p.name.id for p in comp.params)})")
                continue
            if pname in given:
                self.error("E102", f"parameter '{pname}' is given twice", a.span,
                           "give each parameter once")
                continue
            given[pname] = a
        missing = [p.name.id for p in comp.params if p.name.id not in given]
        if missing:
            self.error("E202", f"instance '{decl.name.id}' does not give parameter(s) "
                       f"{', '.join(missing)}", decl.span)
        inst.args = given
        self.instances[decl.name.id] = inst
        for p in comp.params:  # check every argument now, used or not
            self._instance_arg(inst, p, self._self_local(inst))

    def _symbolic_variables(self):
        """A frozen state variable for every symbolic constant, before anything reads it."""
        for name in self.symbolic:
            decl = self.decl_of.get(name)
            if not isinstance(decl, ast.ConstDecl):
                continue  # reported by _check_overrides
            try:
                t = self.type_of(decl.type, Scope(self.gctx))
                if not isinstance(t, (ir.BoolT, ir.IntT, ir.EnumT)):
                    raise Fail()  # reported where the constant is declared
            except Fail:
                continue
            self.symbolic_vars[name] = len(self.variables)
            self.variables.append(ir.Variable(name, t, ir.default_value(t), None, False,
                                              span=decl.name.span, symbolic=True))

    def _variables(self):
        for m in self.modules:
            for item in m.items:
                if isinstance(item, ast.VarDecl):
                    self._var_decl(item, Scope(self.gctx), None)
                elif isinstance(item, ast.InstanceDecl) and item.name.id in self.instances:
                    inst = self.instances[item.name.id]
                    for sub in inst.comp.items:
                        if isinstance(sub, ast.VarDecl):
                            self._var_decl(sub, None, inst)

    def _var_decl(self, decl: ast.VarDecl, scope: Scope | None, inst: Instance | None):
        try:
            if inst is None:
                t = self.type_of(decl.type, scope)
                init = self._init_value(decl, t, scope)
            else:
                t = self.type_of(decl.type, Scope(InstanceCtx(self, inst, self._self_local(inst))))
                if inst.index_type is None:
                    init = self._init_value(decl, t, Scope(InstanceCtx(self, inst, None)))
                else:
                    init = tuple(self._init_value(decl, t, Scope(InstanceCtx(
                        self, inst, ir.Const(inst.index_type, i))))
                        for i in ir.domain_values(inst.index_type))
        except Fail:
            return
        for n in decl.names:
            if inst is None:
                vt, vname, comp = t, n.id, None
                self.global_vars[n.id] = len(self.variables)
            else:
                vt = ir.ArrayT(inst.index_type, t) if inst.index_type is not None else t
                vname, comp = f"{inst.name}.{n.id}", inst.name
                inst.var_ids[n.id] = len(self.variables)
            self.variables.append(ir.Variable(vname, vt, init, comp,
                                              inst is not None and inst.index_type is not None,
                                              span=n.span))

    # ---- symbolic constants (--symbolic) ----
    def _symbolic_read(self, e: ir.Expr) -> str | None:
        """The first symbolic constant e reads, if any."""
        refs: list[int] = []
        _var_refs(e, refs)
        return next((self.variables[i].name for i in refs if self.variables[i].symbolic), None)

    def _reads_plain_state(self, e: ir.Expr) -> bool:
        """Whether e reads a state variable other than a symbolic constant."""
        refs: list[int] = []
        _var_refs(e, refs)
        return any(not self.variables[i].symbolic for i in refs)

    def _symbolic_here(self, name: str, span) -> None:
        self.fail("E207", f"constant '{name}' is symbolic (--symbolic {name}) and cannot be "
                  "used here", span, "types, ranges, index domains, instance counts, options "
                  "and other constants need a fixed value; a symbolic constant can be read in "
                  "rules, properties, defs, component arguments and initial values")

    def _self_local(self, inst: Instance):
        if inst.index_type is None:
            return None
        return ir.Local(inst.index_type, inst.decl.index_var.id)

    def _init_value(self, decl: ast.VarDecl, t: ir.Type, scope: Scope):
        if decl.init is None:
            return ir.default_value(t)
        return self._init(decl.init, t, scope)

    def _init(self, node, t: ir.Type, scope: Scope):
        if isinstance(node, ast.ArrayLit):
            if not isinstance(t, ir.ArrayT):
                self.fail("E201", f"an array literal initialises an array, not {t}", node.span)
            n = len(ir.domain_values(t.index))
            if len(node.elems) != n:
                self.fail("E201", f"array of {n} elements initialised with {len(node.elems)}",
                          node.span, f"give {n} values, or one value for every element")
            return tuple(self._init(x, t.elem, scope) for x in node.elems)
        e = self.expr(node, scope)
        if isinstance(t, ir.ArrayT) and not isinstance(e.type, ir.ArrayT):
            v = self._init(node, t.elem, scope)  # one value for every element
            return tuple(v for _ in ir.domain_values(t.index))
        e = self.expect_compatible(t, e, node.span)
        if self.symbolic_vars and reads_state(e) and not self._reads_plain_state(e):
            if not _fits_expr(e, t):
                sym = self._symbolic_read(e)
                self.fail("E302", f"the initial value ranges over {e.type}, which is not "
                          f"within {t}, for some values of the symbolic constant '{sym}'",
                          node.span, f"narrow the type of '{sym}' or widen the variable's "
                          "type (--const can widen a range given by constants)")
            return ir.InitExpr(e)
        v = self.fold_value(e, node.span)
        if not in_type(t, v):
            self.fail("E302", f"initial value {ir.format_value(t, v)} is not in {t}", node.span)
        return v

    def _rule(self, decl: ast.RuleDecl, scope: Scope, inst: Instance | None):
        self._locals = {}
        prefix = f"{inst.name}." if inst else ""
        iname = None
        if inst is not None and inst.index_type is not None:
            # the index is not visible inside the component: a parameter may reuse its name
            iname = inst.decl.index_var.id
            while any(p.name.id == iname for p in decl.params):
                iname += "_"
            scope = Scope(InstanceCtx(self, inst, ir.Local(inst.index_type, iname)))
        self._current_rule = prefix + decl.name.id
        kvm = self._annotations(decl)
        params: list[tuple[str, ir.Type]] = []
        inner = scope.child()
        if iname is not None:
            self._locals[iname] = 1
            params.append((iname, inst.index_type))
        try:
            for p in decl.params:
                dt = self.domain_of(p.type, scope)
                if p.name.id in self._locals:
                    self.fail("E102", f"parameter '{p.name.id}' is declared twice", p.name.span)
                self._locals[p.name.id] = 1
                inner.local[p.name.id] = BExpr(ir.Local(dt, p.name.id, span=p.name.span))
                params.append((p.name.id, dt))
            guard = self.bool_expr(decl.guard, inner) if decl.guard is not None else \
                ir.Const(ir.BOOL, True)
        except Fail:
            self._current_rule = None
            return
        body = self.block(decl.body, inner)
        self._current_rule = None
        self.rules.append(ir.Rule(prefix + decl.name.id, tuple(params), guard, body, kvm,
                                  inst.name if inst else None, iname, span=decl.span))

    def _invariant(self, decl: ast.InvariantDecl, scope: Scope, inst: Instance | None):
        self._locals = {}
        try:
            if inst is not None and inst.index_type is not None:
                iname = inst.decl.index_var.id
                self._locals[iname] = 1
                body = self.bool_expr(decl.expr, scope)
                e = ir.Quant(ir.BOOL, "forall", iname, inst.index_type, body, span=decl.span)
            else:
                e = self.bool_expr(decl.expr, scope)
        except Fail:
            return
        prefix = f"{inst.name}." if inst else ""
        try:
            pclass = self._class_of(decl.pclass)
        except Fail:
            return
        self.invariants.append(ir.Invariant(prefix + decl.name.id, e, span=decl.span,
                                            pclass=pclass))

    def _instance_rules(self, inst: Instance):
        scope = Scope(InstanceCtx(self, inst, self._self_local(inst)))
        for sub in inst.comp.items:
            if isinstance(sub, ast.RuleDecl):
                self._rule(sub, scope, inst)
            elif isinstance(sub, ast.InvariantDecl):
                self._invariant(sub, scope, inst)
            elif isinstance(sub, (ast.ReachableDecl, ast.LostDecl)):
                self._property(sub, scope, inst)


def resolve(modules: list[ast.Module], name: str, file: str,
            overrides: dict[str, tuple[str, Span | None]] | None = None,
            symbolic: tuple[str, ...] = ()):
    """(System or None, diagnostics) for the modules of one spec; the constants named in
    `symbolic` become frozen state variables that take every value of their type."""
    r = Resolver(modules, overrides or {}, symbolic)
    system = r.build(name, file)
    misuse = [d for d in r.diags
              if "symbolic constant" in d.message or "--symbolic" in d.message]
    if misuse:  # the rest follows from them
        return None, misuse
    return system, r.diags




class _SymbolicEarly:
    """A symbolic constant named where a fixed value is needed before the state exists."""

    def __init__(self, name: str):
        self.name = name

    __match_args__ = ("name",)


def _var_refs(e: ir.Expr, out: list[int]) -> None:
    match e:
        case ir.VarRef(var=i):
            out.append(i)
        case ir.Index(base=a, index=b) | ir.Binary(left=a, right=b):
            _var_refs(a, out)
            _var_refs(b, out)
        case ir.Field(base=a) | ir.Unary(arg=a):
            _var_refs(a, out)
        case ir.Ite(cond=c, then=a, els=b):
            for x in (c, a, b):
                _var_refs(x, out)
        case ir.Quant(body=b):
            _var_refs(b, out)
        case ir.SetLit(elems=es) | ir.Builtin(args=es) | ir.RecordLit(values=es):
            for x in es:
                _var_refs(x, out)


def _fits_expr(e: ir.Expr, want: ir.Type) -> bool:
    """Whether every value e can take is a value of type `want`."""
    if isinstance(e, ir.RecordLit) and isinstance(want, ir.RecordT):
        return all(_fits_expr(v, ft) for v, (_, ft) in zip(e.values, want.fields))
    return _fits(e.type, want)


def _fits(have: ir.Type, want: ir.Type) -> bool:
    """Whether every value of type `have` is a value of type `want`."""
    if isinstance(want, ir.IntT) and isinstance(have, ir.IntT):
        return want.lo <= have.lo and have.hi <= want.hi
    if isinstance(want, ir.RecordT) and isinstance(have, ir.RecordT):
        return all(_fits(h, w) for (_, h), (_, w) in zip(have.fields, want.fields))
    return True

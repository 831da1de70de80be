"""A direct interpreter of the IR: the plain reference semantics.

It evaluates constant expressions for the front end and is the oracle that the
compiled engines are tested against. A state is a tuple of variable values
(see checker.ir for the value representation).
"""

from __future__ import annotations

from checker import ir


class EvalError(Exception):
    """A run-time error of the model: index or value out of range, division by zero."""

    def __init__(self, message: str, span=None):
        super().__init__(message)
        self.message = message
        self.span = span


class NotConstant(Exception):
    """The expression reads the state where none is available."""


def evaluate(e: ir.Expr, env: dict, state=None):
    match e:
        case ir.Const(value=v):
            return v
        case ir.Local(name=n):
            return env[n]
        case ir.VarRef(var=i):
            if state is None:
                raise NotConstant()
            return state[i]
        case ir.Index(base=b, index=i):
            arr = evaluate(b, env, state)
            return arr[_position(b.type, evaluate(i, env, state), e)]
        case ir.Field(base=b, name=n):
            return evaluate(b, env, state)[_field_pos(b.type, n)]
        case ir.Unary(op="not", arg=a):
            return not evaluate(a, env, state)
        case ir.Unary(op="neg", arg=a):
            return -evaluate(a, env, state)
        case ir.Binary(op=op, left=l, right=r):
            return _binary(op, l, r, env, state, e)
        case ir.Ite(cond=c, then=t, els=f):
            return evaluate(t if evaluate(c, env, state) else f, env, state)
        case ir.Quant(kind=k, var=v, domain=d, body=b):
            vals = (evaluate(b, {**env, v: x}, state) for x in _domain(d))
            return all(vals) if k == "forall" else any(vals)
        case ir.SetLit(elems=es):
            s = frozenset(evaluate(x, env, state) for x in es)
            _check_set(e.type, s, e)
            return s
        case ir.RecordLit(values=vs):
            rec = tuple(evaluate(x, env, state) for x in vs)
            check_value(e.type, rec, e.span)
            return rec
        case ir.Builtin(name=n, args=args):
            return _builtin(n, [evaluate(a, env, state) for a in args], args)
    raise TypeError(f"cannot evaluate {e!r}")


def _domain(t: ir.Type):
    if isinstance(t, ir.BoolT):
        return [False, True]
    return ir.domain_values(t)


def _position(arr_t: ir.ArrayT, idx, e) -> int:
    n = len(ir.domain_values(arr_t.index))
    pos = ir.index_offset(arr_t.index, idx)
    if not 0 <= pos < n:
        raise EvalError(f"index {idx} out of range {arr_t.index}", e.span)
    return pos


def _field_pos(rec_t: ir.RecordT, name: str) -> int:
    return [n for n, _ in rec_t.fields].index(name)


def _check_set(t, s, e):
    if isinstance(t, ir.SetT) and any(not t.lo <= x <= t.hi for x in s):
        bad = min(x for x in s if not t.lo <= x <= t.hi)
        raise EvalError(f"set element {bad} out of range {t.lo}..{t.hi}", e.span)


def _binary(op, left, right, env, state, e):
    if op == "and":
        return bool(evaluate(left, env, state)) and bool(evaluate(right, env, state))
    if op == "or":
        return bool(evaluate(left, env, state)) or bool(evaluate(right, env, state))
    if op == "=>":
        return (not evaluate(left, env, state)) or bool(evaluate(right, env, state))
    a, b = evaluate(left, env, state), evaluate(right, env, state)
    match op:
        case "+": return a + b
        case "-": return a - b
        case "*": return a * b
        case "/" | "%":
            if b == 0:
                raise EvalError("division by zero", e.span)
            return a // b if op == "/" else a % b
        case "==": return a == b
        case "!=": return a != b
        case "<": return a < b
        case "<=": return a <= b
        case ">": return a > b
        case ">=": return a >= b
        case "in": return a in b
        case "notin": return a not in b
        case "union":
            s = a | b
            _check_set(e.type, s, e)
            return s
        case "diff": return a - b
        case "inter": return a & b
    raise TypeError(op)


def _builtin(name, vals, args):
    match name:
        case "size": return len(vals[0])
        case "empty": return not vals[0]
        case "max":
            t = args[0].type
            return max(vals[0]) if vals[0] else t.lo - 1
        case "min":
            t = args[0].type
            return min(vals[0]) if vals[0] else t.hi + 1
        case "abs": return abs(vals[0])
        case "imax": return max(vals)
        case "imin": return min(vals)
    raise TypeError(name)


# ---------------------------------------------------------------- statements
def check_value(t: ir.Type, v, span):
    """Raise EvalError when v does not lie in t."""
    if isinstance(t, ir.IntT) and not t.lo <= v <= t.hi:
        raise EvalError(f"value {v} out of range {t}", span)
    if isinstance(t, ir.SetT):
        _check_set(t, v, _Spanned(span))
    if isinstance(t, ir.ArrayT):
        for x in v:
            check_value(t.elem, x, span)
    if isinstance(t, ir.RecordT):
        for (_, ft), x in zip(t.fields, v):
            check_value(ft, x, span)


class _Spanned:
    def __init__(self, span):
        self.span = span


def _store(target: ir.Expr, value, env, state: list):
    """Write value into the location named by target (VarRef/Index/Field chain)."""
    match target:
        case ir.VarRef(var=i):
            state[i] = value
        case ir.Index(base=b, index=ix):
            arr = list(evaluate(b, env, state))
            arr[_position(b.type, evaluate(ix, env, state), target)] = value
            _store(b, tuple(arr), env, state)
        case ir.Field(base=b, name=n):
            rec = list(evaluate(b, env, state))
            rec[_field_pos(b.type, n)] = value
            _store(b, tuple(rec), env, state)
        case _:
            raise TypeError(f"not assignable: {target!r}")


def execute(stmts, env: dict, state: list, failed: list[str]):
    """Run statements in order on a mutable state; failed asserts are appended to failed."""
    for s in stmts:
        match s:
            case ir.Assign(target=t, value=v):
                val = evaluate(v, env, state)
                check_value(t.type, val, s.span)
                _store(t, val, env, state)
            case ir.If(cond=c, then=a, els=b):
                execute(a if evaluate(c, env, state) else b, env, state, failed)
            case ir.Let(name=n, value=v):
                env[n] = evaluate(v, env, state)
            case ir.For(var=v, domain=d, body=body):
                for x in _domain(d):
                    env[v] = x
                    execute(body, env, state, failed)
            case ir.Assert(prop=p, cond=c):
                if not evaluate(c, env, state) and p not in failed:
                    failed.append(p)


def fire(rule: ir.Rule, params: tuple, state: tuple):
    """The successor of state under one rule instance, or None when its guard is false.

    Returns (successor, failed assert names)."""
    env = {name: (bool(v) if isinstance(t, ir.BoolT) else v)
           for (name, t), v in zip(rule.params, params)}
    if not evaluate(rule.guard, env, state):
        return None, []
    new = list(state)
    failed: list[str] = []
    execute(rule.body, dict(env), new, failed)
    return tuple(new), failed


def initial_state(system: ir.System, symbolic: dict | None = None) -> tuple:
    """The initial state. With symbolic constants (--symbolic), `symbolic` gives their
    values by name, and the initial values that depend on them are computed from those."""
    if not system.symbolic:
        return tuple(v.init for v in system.variables)
    symbolic = symbolic or {}
    missing = [v.name for v in system.symbolic if v.name not in symbolic]
    if missing:
        raise ValueError(f"no value for the symbolic constant(s) {', '.join(missing)}")
    state = [symbolic[v.name] if v.symbolic else None for v in system.variables]
    for i, v in enumerate(system.variables):
        if not v.symbolic:
            state[i] = _materialise(v.init, state)
    return tuple(state)


def _materialise(init, state):
    if isinstance(init, ir.InitExpr):
        return evaluate(init.expr, {}, state)
    if isinstance(init, tuple):
        return tuple(_materialise(x, state) for x in init)
    return init

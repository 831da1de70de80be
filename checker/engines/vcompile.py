"""IR to NumPy: every rule instance as operations over a whole frontier of states.

A state is W words of 64 bits (`VLayout`): every leaf of the state (a bool, an
int, an enum, a set) sits whole in one word, at most 63 bits of each word are
used, so the all-ones word never occurs in a state and marks an empty slot of
the visited set. A frontier is W `uint64` arrays, one per word.

Each expression compiles once into a closure over a `Frame` (the word arrays
of the rows being evaluated, the run-time locals, the recorded faults);
constants, rule parameters and quantifier variables are folded at compile
time, so a closure only does array work. Values at run time:

- bool: `bool` arrays; int and enum: `int64` arrays (the value itself);
  set: `uint64` arrays (bit x-lo for element x);
- arrays and records: tuples of their elements' values;
- any leaf may also be a Python constant (a `np.uint64` for a set).

Branches run masked: both arms of an `if` run over all rows, each writing only
where its condition holds. A run-time error of the model (index or value out
of range, division by zero) is recorded only for the rows on which the
reference semantics (checker.ir_eval) evaluates the faulting expression: the
`live` mask follows `and`, `or`, `=>`, `if` and the quantifiers' short circuits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from checker import ir

WORD_BITS = 63  # bits of a word used by states; the all-ones word marks an empty slot
U64 = np.uint64
ONE = U64(1)


class Unsupported(Exception):
    """The spec uses something the vector engine cannot compile; the message says what."""


# ---------------------------------------------------------------- layout
@dataclass(frozen=True)
class Leaf:
    type: ir.Type  # BoolT, IntT, EnumT or SetT
    width: int
    word: int
    off: int  # bit offset in its word
    packed_off: int  # bit offset in the scalar engine's packed integer

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1


def leaf_width(t: ir.Type) -> int:
    """Bits of a scalar or set leaf (as in the explicit engine's packed layout)."""
    from checker.engines.layout import width
    return width(t)


class VLayout:
    """Where every leaf of every variable lives: (word, bit offset).

    `trees[i]` mirrors variable i's type: a Leaf, or a tuple of subtrees for an
    array (index order) or a record (field order)."""

    def __init__(self, system: ir.System):
        self.leaves: list[Leaf] = []
        self._word, self._used, self._packed = 0, 0, 0
        self.trees = tuple(self._tree(v.type, v.name) for v in system.variables)
        self.words = self._word + (1 if self._used else 0) or 1
        self.word_bits = [0] * self.words  # bits used in each word
        for lf in self.leaves:
            self.word_bits[lf.word] = max(self.word_bits[lf.word], lf.off + lf.width)

    def _tree(self, t: ir.Type, name: str):
        if isinstance(t, ir.ArrayT):
            return tuple(self._tree(t.elem, name) for _ in ir.domain_values(t.index))
        if isinstance(t, ir.RecordT):
            return tuple(self._tree(ft, name) for _, ft in t.fields)
        w = leaf_width(t)
        if w > WORD_BITS:
            raise Unsupported(f"variable '{name}' has a {t} of {w} bits; a leaf of at most "
                              f"{WORD_BITS} bits vectorises")
        if self._used + w > WORD_BITS:
            self._word, self._used = self._word + 1, 0
        leaf = Leaf(t, w, self._word, self._used, self._packed)
        self._used += w
        self._packed += w
        self.leaves.append(leaf)
        return leaf

    def to_words(self, packed: int) -> tuple[int, ...]:
        """A scalar-engine packed state as W words."""
        out = [0] * self.words
        for lf in self.leaves:
            out[lf.word] |= ((packed >> lf.packed_off) & lf.mask) << lf.off
        return tuple(out)

    def to_packed(self, words) -> int:
        out = 0
        for lf in self.leaves:
            out |= ((int(words[lf.word]) >> lf.off) & lf.mask) << lf.packed_off
        return out


# ---------------------------------------------------------------- run time
class Frame:
    """The rows being evaluated: word arrays, locals, recorded faults and failed asserts."""

    __slots__ = ("w", "env", "faults", "asserts", "n")

    def __init__(self, words: list, n: int):
        self.w = words
        self.n = n
        self.env: dict = {}
        self.faults: list = []  # bool masks of rows that hit a run-time error
        self.asserts: list = []  # (property index, bool mask of failing rows)

    def fault(self, live, bad) -> None:
        m = bad if live is True else (live & bad)
        if m.any():
            self.faults.append(m)


def _is_light(f) -> bool:
    return f is None or getattr(f, "light", False)


def _take(v, idx, n: int):
    """The rows idx of a frame-local value (arrays of the frame's length, recursively)."""
    if isinstance(v, np.ndarray):
        return v[idx] if v.ndim and len(v) == n else v
    if isinstance(v, (tuple, list)):
        return type(v)(_take(x, idx, n) for x in v)
    return v


def _run_on(f, light: bool, F: Frame, mask) -> None:
    """Run the statements f on the rows of F where mask holds. A few rows out of many run
    as a frame of their own (gathered, then written back), so that the statements, and
    those nested in them, work on those rows only; otherwise f runs masked."""
    if mask is True or mask is False:
        if mask is True:
            f(F, True)
        return
    k = int(np.count_nonzero(mask))
    if k == 0:
        return
    if light or 2 * k > F.n:
        f(F, mask)
        return
    idx = np.flatnonzero(mask)
    gathered = [w[idx] for w in F.w]
    S = Frame(list(gathered), k)
    S.env = {key: _take(v, idx, F.n) for key, v in F.env.items()}
    f(S, True)
    for i, w in enumerate(S.w):
        if w is not gathered[i]:  # a word the statements wrote
            out = F.w[i].copy()
            out[idx] = w
            F.w[i] = out
    for bad in S.faults:
        full = np.zeros(F.n, dtype=bool)
        full[idx[bad]] = True
        F.faults.append(full)
    for pid, bad in S.asserts:
        full = np.zeros(F.n, dtype=bool)
        full[idx[bad]] = True
        F.asserts.append((pid, full))


def _and(a, b):
    if a is True:
        return b
    if b is True:
        return a
    return a & b


def _full(n: int, value):
    return np.full(n, value)


Fn = Callable[[Frame, object], object]


@dataclass
class V:
    """A compiled expression: a constant (in vector representation) or a closure."""

    type: ir.Type
    fn: Fn | None = None
    const: object = None
    lo: int = 0
    hi: int = 0
    faults: bool = False  # evaluating it may record a run-time error
    wt: tuple | None = None  # bool: holds exactly when (word[i] & mask) == value: (i, mask, value)
    leaf: object = None  # a read of this static leaf of the state

    @property
    def is_const(self) -> bool:
        return self.fn is None


def _word_test(tests: list[tuple]) -> V:
    """The conjunction of word tests, one mask-and-compare per word (or a constant false)."""
    by_word: dict[int, list[int]] = {}
    for w, m, v in tests:
        cur = by_word.setdefault(w, [0, 0])
        if (cur[0] & m) & (cur[1] ^ v):
            return _cv(ir.BOOL, False)  # two tests of one bit disagree
        cur[0] |= m
        cur[1] |= v
    checks = [(w, U64(m), U64(v)) for w, (m, v) in sorted(by_word.items())]
    if len(checks) == 1:
        (w, m, v), = checks
        if m == v and bin(int(m)).count("1") == 1:
            return V(ir.BOOL, lambda F, live: (F.w[w] & m) != 0, wt=(w, int(m), int(v)))
        return V(ir.BOOL, lambda F, live: (F.w[w] & m) == v, wt=(w, int(m), int(v)))

    def test(F: Frame, live):
        out = None
        for w, m, v in checks:
            r = (F.w[w] & m) == v
            out = r if out is None else (out & r)
        return out

    return V(ir.BOOL, test)


def _cv(t: ir.Type, v) -> V:
    """A constant V (v already in vector representation)."""
    if isinstance(t, ir.IntT):
        return V(t, None, v, v, v)
    return V(t, None, v)


def vector_value(t: ir.Type, v):
    """An IR value in the vector representation."""
    if isinstance(t, ir.SetT):
        return U64(sum(1 << (x - t.lo) for x in v))
    if isinstance(t, ir.ArrayT):
        return tuple(vector_value(t.elem, x) for x in v)
    if isinstance(t, ir.RecordT):
        return tuple(vector_value(ft, x) for (_, ft), x in zip(t.fields, v))
    if isinstance(t, ir.BoolT):
        return bool(v)
    return int(v)


def _bounds(t: ir.Type) -> tuple[int, int]:
    if isinstance(t, ir.IntT):
        return t.lo, t.hi
    if isinstance(t, ir.EnumT):
        return 0, len(t.members) - 1
    if isinstance(t, ir.BoolT):
        return 0, 1
    return 0, 0


def _run(v: V) -> Fn:
    """A closure for v (a constant becomes a closure returning it)."""
    if v.fn is not None:
        return v.fn
    c = v.const
    return lambda F, live: c


# ---- leaf helpers over values that may be constants ----
def _where(c, x, y):
    if isinstance(x, tuple):
        return tuple(_where(c, a, b) for a, b in zip(x, y))
    return np.where(c, x, y)


def _eq(t: ir.Type, x, y):
    """Equality of two values of type t (arrays/records leaf by leaf)."""
    if isinstance(t, ir.ArrayT):
        out = True
        for a, b in zip(x, y):
            out = _and(out, _eq(t.elem, a, b))
            if out is False:
                return False
        return out
    if isinstance(t, ir.RecordT):
        out = True
        for (_, ft), a, b in zip(t.fields, x, y):
            out = _and(out, _eq(ft, a, b))
            if out is False:
                return False
        return out
    r = x == y
    return bool(r) if isinstance(r, (bool, np.bool_)) else r


_HB16 = None


def _hb_table(bits: int) -> np.ndarray:
    """Highest set bit of every value below 2**bits (-1 for 0)."""
    global _HB16
    if _HB16 is None:
        t = np.zeros(1 << 16, dtype=np.int64)
        t[0] = -1
        for b in range(16):
            t[1 << b: 1 << (b + 1)] = b
        _HB16 = t
    return _HB16


def highest_bit(x, width: int):
    """Index of the highest set bit of uint64 values (-1 for 0), as int64."""
    tab = _hb_table(16)
    if width <= 16:
        return tab[x.astype(np.intp)]
    out = tab[(x & U64(0xFFFF)).astype(np.intp)]
    for shift in range(16, width, 16):
        part = (x >> U64(shift)) & U64(0xFFFF)
        out = np.where(part != 0, tab[part.astype(np.intp)] + shift, out)
    return out


# ---------------------------------------------------------------- compiler
@dataclass
class Instance:
    """One rule instance compiled: guard and body closures."""

    index: int
    rule_index: int
    rule: ir.Rule
    params: tuple
    guard: V | None  # None: statically disabled
    body: Callable[[Frame, object], None] | None = None


@dataclass
class _Alt:
    """One alternative of a location with dynamic indices: the tree under the
    conditions (index V, value) that select it."""

    conds: tuple
    tree: object


class VCompiler:
    def __init__(self, system: ir.System, layout: VLayout):
        self.system = system
        self.layout = layout
        self.prop_ids = {a.name: i for i, a in enumerate(system.actions)}
        self._locals = 0

    # ---- locations ----
    def location(self, e: ir.Expr, env: dict):
        """(alternatives, index checks) of a VarRef/Index/Field chain, or None."""
        match e:
            case ir.VarRef(var=i):
                return [_Alt((), self.layout.trees[i])], []
            case ir.Index(base=b, index=ix):
                loc = self.location(b, env)
                if loc is None:
                    return None
                alts, checks = loc
                i = self.expr(ix, env)
                dom = b.type.index
                vals = list(ir.domain_values(dom))
                if i.is_const:
                    pos = ir.index_offset(dom, i.const)
                    if not 0 <= pos < len(vals):
                        checks = checks + [(i, None)]  # always out of range
                        return [_Alt(a.conds, a.tree[0]) for a in alts], checks
                    return [_Alt(a.conds, a.tree[pos]) for a in alts], checks
                lo, hi = _bounds(dom)
                if isinstance(i.type, ir.IntT) and (i.lo < lo or i.hi > hi):
                    checks = checks + [(i, (lo, hi))]
                out = []
                for a in alts:
                    for pos, v in enumerate(vals):
                        if isinstance(i.type, ir.IntT) and not i.lo <= v <= i.hi:
                            continue  # the index never takes this value
                        out.append(_Alt(a.conds + ((i, v),), a.tree[pos]))
                if not out:  # the index never lies in the array's range
                    return [_Alt(a.conds, a.tree[0]) for a in alts], checks + [(i, None)]
                return out, checks
            case ir.Field(base=b, name=n):
                loc = self.location(b, env)
                if loc is None:
                    return None
                alts, checks = loc
                pos = [fn for fn, _ in b.type.fields].index(n)
                return [_Alt(a.conds, a.tree[pos]) for a in alts], checks
        return None

    def _loc_runtime(self, alts, checks):
        """A closure computing (index values, fault check) at run time: returns a function
        F, live -> list of masks, one per alternative (None for the unconditional one)."""
        idx_vs: list[V] = []
        for a in alts:
            for iv, _ in a.conds:
                if not any(iv is x for x in idx_vs):
                    idx_vs.append(iv)
        idx_fns = [_run(v) for v in idx_vs]
        pos_of = {id(v): k for k, v in enumerate(idx_vs)}
        alt_conds = [[(pos_of[id(iv)], val) for iv, val in a.conds] for a in alts]
        check_fns = []
        for iv, rng in checks:
            check_fns.append((_run(iv), rng))

        def masks(F: Frame, live):
            for fn, rng in check_fns:
                x = fn(F, live)
                if rng is None:
                    F.fault(live, np.ones(F.n, dtype=bool))
                else:
                    F.fault(live, (x < rng[0]) | (x > rng[1]))
            vals = [fn(F, live) for fn in idx_fns]
            out = []
            for conds in alt_conds:
                m = True
                for k, val in conds:
                    m = _and(m, vals[k] == val)
                out.append(m)
            return out

        return masks

    @staticmethod
    def _strided(alts):
        """For a location that one dynamic index selects among leaves of one word, evenly
        spaced: (index V, word, leaf, offset at index 0, stride); else None."""
        if len(alts) < 2 or any(len(a.conds) != 1 or not isinstance(a.tree, Leaf)
                                for a in alts):
            return None
        iv = alts[0].conds[0][0]
        first = alts[0].tree
        pts = []
        for a in alts:
            v, lf = a.conds[0][1], a.tree
            if a.conds[0][0] is not iv or lf.word != first.word or lf.width != first.width \
                    or lf.type != first.type or lf.width == 0:
                return None
            pts.append((int(v), lf.off))
        (v0, o0), (v1, o1) = pts[0], pts[1]
        if v1 == v0:
            return None
        stride = (o1 - o0) // (v1 - v0)
        if any(o != o0 + (v - v0) * stride for v, o in pts):
            return None
        offs = [o for _, o in pts]
        return iv, first.word, first, o0 - v0 * stride, stride, min(offs), max(offs)

    def _index_checks(self, checks):
        """A closure recording the index range errors of a location (no selection)."""
        fns = [(_run(iv), rng) for iv, rng in checks]

        def check(F: Frame, live):
            for fn, rng in fns:
                x = fn(F, live)
                if rng is None:
                    F.fault(live, np.ones(F.n, dtype=bool))
                else:
                    F.fault(live, (x < rng[0]) | (x > rng[1]))

        return check

    def _shift_of(self, st):
        """A closure: the bit offset of the selected leaf in its word, per row."""
        iv, _w, _lf, base, stride, lo_off, hi_off = st
        fi = _run(iv)

        def shift(F: Frame, live):
            x = fi(F, live)
            off = x * stride + base if stride != 1 else x + base
            return np.clip(off, lo_off, hi_off).astype(U64)

        return shift

    # ---- reads ----
    def _read_tree(self, tree, t: ir.Type) -> Fn | object:
        """A closure reading a static location (or its constant when it has no bits)."""
        if isinstance(tree, tuple):
            if isinstance(t, ir.ArrayT):
                parts = [self._read_tree(x, t.elem) for x in tree]
            else:
                parts = [self._read_tree(x, ft) for x, (_, ft) in zip(tree, t.fields)]
            fns = [p if callable(p) else (lambda F, c=p: c) for p in parts]
            return lambda F: tuple(f(F) for f in fns)
        lf: Leaf = tree
        if lf.width == 0:
            lo = _bounds(lf.type)[0]
            c = U64(0) if isinstance(lf.type, ir.SetT) else (False if isinstance(
                lf.type, ir.BoolT) else lo)
            return lambda F: c
        w, off, m = lf.word, U64(lf.off), U64(lf.mask)
        if isinstance(lf.type, ir.BoolT):
            bit = U64(1 << lf.off)
            return lambda F: (F.w[w] & bit) != 0
        if isinstance(lf.type, ir.SetT):
            if lf.off == 0:
                return lambda F: F.w[w] & m
            return lambda F: (F.w[w] >> off) & m
        lo = _bounds(lf.type)[0]
        if lo:
            return lambda F: ((F.w[w] >> off) & m).astype(np.int64) + lo
        if lf.off == 0:
            return lambda F: (F.w[w] & m).astype(np.int64)
        return lambda F: ((F.w[w] >> off) & m).astype(np.int64)

    def _read_location(self, e: ir.Expr, env: dict) -> V:
        alts, checks = self.location(e, env)
        t = e.type
        lo, hi = _bounds(t)
        readers = [self._read_tree(a.tree, t) for a in alts]
        readers = [r if callable(r) else (lambda F, c=r: c) for r in readers]
        faults = bool(checks) or any(iv.faults for a in alts for iv, _ in a.conds)
        if len(alts) == 1 and not alts[0].conds and not checks:
            r = readers[0]
            leaf = alts[0].tree
            if isinstance(leaf, Leaf) and isinstance(t, ir.BoolT) and leaf.width:
                bit = 1 << leaf.off
                return V(t, lambda F, live: r(F), wt=(leaf.word, bit, bit), leaf=leaf)
            return V(t, lambda F, live: r(F), lo=lo, hi=hi, leaf=leaf)
        st = self._strided(alts)
        if st is not None:  # one variable shift instead of a choice among the leaves
            w, lf = st[1], st[2]
            shift, check, m = self._shift_of(st), self._index_checks(checks), U64(lf.mask)
            kind = "bool" if isinstance(t, ir.BoolT) else "set" if isinstance(t, ir.SetT) \
                else "int"
            llo = _bounds(lf.type)[0]

            def read_shifted(F: Frame, live):
                if checks:
                    check(F, live)
                bits = (F.w[w] >> shift(F, live)) & m
                if kind == "bool":
                    return bits != 0
                if kind == "set":
                    return bits
                return bits.astype(np.int64) + llo if llo else bits.astype(np.int64)

            return V(t, read_shifted, lo=lo, hi=hi, faults=faults)
        masks = self._loc_runtime(alts, checks)

        def read(F: Frame, live):
            ms = masks(F, live)
            val = readers[-1](F)
            for m, r in zip(ms[-2::-1], readers[-2::-1]):
                val = _where(m, r(F), val)
            if not isinstance(val, tuple) and not isinstance(val, np.ndarray):
                val = _full(F.n, val)
            return val

        return V(t, read, lo=lo, hi=hi, faults=faults)

    # ---- expressions ----
    def expr(self, e: ir.Expr, env: dict) -> V:
        match e:
            case ir.Const(type=t, value=v):
                if isinstance(t, ir.AnySetT):
                    raise Unsupported("an untyped set literal")
                return _cv(t, vector_value(t, v))
            case ir.Local(name=n):
                return env[n]
            case ir.VarRef() | ir.Index() | ir.Field() if _is_location(e):
                return self._read_location(e, env)
            case ir.Index(base=b, index=ix):
                return self._index_value(e, self.expr(b, env), self.expr(ix, env))
            case ir.Field(base=b, name=n):
                base = self.expr(b, env)
                pos = [fn for fn, _ in b.type.fields].index(n)
                lo, hi = _bounds(e.type)
                if base.is_const:
                    return _cv(e.type, base.const[pos])
                f = base.fn
                return V(e.type, lambda F, live: f(F, live)[pos], lo=lo, hi=hi,
                         faults=base.faults)
            case ir.Unary(op="not", arg=a):
                x = self.expr(a, env)
                if x.is_const:
                    return _cv(ir.BOOL, not x.const)
                if x.wt is not None and bin(x.wt[1]).count("1") == 1:
                    w, m, v = x.wt
                    return _word_test([(w, m, m ^ v)])
                f = x.fn
                return V(ir.BOOL, lambda F, live: ~f(F, live), faults=x.faults)
            case ir.Unary(op="neg", arg=a):
                x = self.expr(a, env)
                if x.is_const:
                    return _cv(e.type, -x.const)
                f = x.fn
                return V(e.type, lambda F, live: -f(F, live), lo=-x.hi, hi=-x.lo,
                         faults=x.faults)
            case ir.Binary():
                return self._binary(e, env)
            case ir.Ite(cond=c, then=a, els=b):
                cc = self.expr(c, env)
                if cc.is_const:
                    return self.expr(a if cc.const else b, env)
                x, y = self.expr(a, env), self.expr(b, env)
                return self._ite(e.type, cc, x, y)
            case ir.Quant(kind=k, var=v, domain=d, body=b):
                parts = []
                for x in ir.domain_values(d):
                    val = bool(x) if isinstance(d, ir.BoolT) else x
                    parts.append(self.expr(b, {**env, v: _cv(d, val)}))
                return self._chain("and" if k == "forall" else "or", parts)
            case ir.SetLit(type=t, elems=es):
                return self._set_lit(t, [self.expr(x, env) for x in es])
            case ir.RecordLit(type=t, values=vs):
                return self._record_lit(t, [self.expr(x, env) for x in vs])
            case ir.Builtin(name=n, args=args):
                return self._builtin(e, n, [self.expr(a, env) for a in args])
        raise Unsupported(f"cannot vectorise {type(e).__name__}")

    def _index_value(self, e: ir.Index, base: V, i: V) -> V:
        dom = e.base.type.index
        vals = list(ir.domain_values(dom))
        lo, hi = _bounds(e.type)
        dlo, dhi = _bounds(dom)
        if base.is_const and i.is_const:
            pos = ir.index_offset(dom, i.const)
            if 0 <= pos < len(vals):
                return _cv(e.type, base.const[pos])
        bf, xf = _run(base), _run(i)
        if i.is_const:
            check = not 0 <= ir.index_offset(dom, i.const) < len(vals)
        else:
            check = isinstance(i.type, ir.IntT) and (i.lo < dlo or i.hi > dhi)

        def get(F: Frame, live):
            arr = bf(F, live)
            x = xf(F, live)
            if check:
                F.fault(live, np.ones(F.n, bool) if np.isscalar(x) else (x < dlo) | (x > dhi))
            if np.isscalar(x):
                pos = ir.index_offset(dom, x)
                return arr[pos] if 0 <= pos < len(vals) else arr[0]
            val = arr[-1]
            for pos in range(len(vals) - 2, -1, -1):
                val = _where(x == vals[pos], arr[pos], val)
            if not isinstance(val, (tuple, np.ndarray)):
                val = _full(F.n, val)
            return val

        return V(e.type, get, lo=lo, hi=hi, faults=check or base.faults or i.faults)

    def _ite(self, t, cc: V, x: V, y: V) -> V:
        cf, xf, yf = cc.fn, _run(x), _run(y)
        lazy = x.faults or y.faults

        def ite(F: Frame, live):
            c = cf(F, live)
            if lazy:
                a, b = xf(F, _and(live, c)), yf(F, _and(live, ~c))
            else:
                a, b = xf(F, live), yf(F, live)
            return _where(c, a, b)

        lo, hi = (min(x.lo, y.lo), max(x.hi, y.hi)) if isinstance(t, ir.IntT) else _bounds(t)
        return V(t, ite, lo=lo, hi=hi, faults=cc.faults or lazy)

    def _chain(self, op: str, parts: list[V]) -> V:
        """a and b and ... (or: a or b or ...), left to right, short-circuit for faults."""
        absorbing = op == "or"  # the value that ends the chain
        fns: list[V] = []
        for p in parts:
            if p.is_const:
                if bool(p.const) == absorbing:
                    if not any(f.faults for f in fns):
                        return _cv(ir.BOOL, absorbing)
                    fns.append(p)  # the earlier parts still run (their faults count)
                    break
                continue
            fns.append(p)
        if not fns:
            return _cv(ir.BOOL, not absorbing)
        if op == "and":  # word tests ahead of any faulting part fuse into one per word
            tests, rest, seen_fault = [], [], False
            for p in fns:
                if p.wt is not None and not seen_fault:
                    tests.append(p.wt)
                else:
                    seen_fault |= p.faults
                    rest.append(p)
            if len(tests) > 1:
                fused = _word_test(tests)
                if fused.is_const:
                    return fused
                fns = [fused] + rest
        if len(fns) == 1 and not fns[0].is_const:
            return fns[0]
        faults = any(p.faults for p in fns)
        closures = [(_run(p), p.is_const, p.faults) for p in fns]

        def chain(F: Frame, live):
            acc = None
            for f, is_const, _ in closures:
                if is_const:
                    return _full(F.n, absorbing)
                if acc is None:
                    acc = f(F, live)
                    continue
                if faults:
                    sub = _and(live, acc) if op == "and" else _and(live, ~acc)
                    v = f(F, sub)
                else:
                    v = f(F, live)
                acc = (acc & v) if op == "and" else (acc | v)
            return acc

        return V(ir.BOOL, chain, faults=faults)

    def _set_lit(self, t: ir.SetT, elems: list[V]) -> V:
        bits, dyn = 0, []
        for x in elems:
            if x.is_const and t.lo <= x.const <= t.hi:
                bits |= 1 << (x.const - t.lo)
            else:
                dyn.append(x)
        if not dyn:
            return _cv(t, U64(bits))
        base = U64(bits)
        parts = [(_run(x), x.is_const or x.lo < t.lo or x.hi > t.hi) for x in dyn]
        lo, hi = t.lo, t.hi

        def lit(F: Frame, live):
            out = base
            for f, check in parts:
                x = f(F, live)
                if np.isscalar(x):
                    F.fault(live, np.ones(F.n, bool))
                    continue
                if check:
                    bad = (x < lo) | (x > hi)
                    F.fault(live, bad)
                    x = np.clip(x, lo, hi)
                out = out | (ONE << (x - lo).astype(U64))
            if np.isscalar(out):
                out = _full(F.n, out)
            return out

        return V(t, lit, faults=True if any(c for _, c in parts) else any(x.faults for x in dyn))

    def _record_lit(self, t: ir.RecordT, vals: list[V]) -> V:
        checks = []
        for (_, ft), x in zip(t.fields, vals):
            need = isinstance(ft, ir.IntT) and (x.lo < ft.lo or x.hi > ft.hi)
            checks.append((ft.lo, ft.hi) if need else None)
        if all(x.is_const for x in vals) and not any(checks):
            return _cv(t, tuple(x.const for x in vals))
        fns = [_run(x) for x in vals]

        def rec(F: Frame, live):
            out = []
            for f, chk in zip(fns, checks):
                v = f(F, live)
                if chk is not None:
                    bad = (v < chk[0]) | (v > chk[1])
                    if np.isscalar(bad):
                        bad = np.full(F.n, bool(bad))
                    F.fault(live, bad)
                out.append(v)
            return tuple(out)

        return V(t, rec, faults=any(checks) or any(x.faults for x in vals))

    def _builtin(self, e: ir.Builtin, name: str, args: list[V]) -> V:
        t = e.type
        lo, hi = _bounds(t)
        faults = any(a.faults for a in args)
        if all(a.is_const for a in args):
            vals = [a.const for a in args]
            match name:
                case "size": return _cv(t, int(vals[0]).bit_count())
                case "empty": return _cv(t, int(vals[0]) == 0)
                case "max": return _cv(t, int(vals[0]).bit_length() - 1 + e.args[0].type.lo)
                case "min":
                    v, st = int(vals[0]), e.args[0].type
                    return _cv(t, ((v & -v).bit_length() - 1 + st.lo) if v else st.hi + 1)
                case "abs": return _cv(t, abs(vals[0]))
                case "imax": return _cv(t, max(vals))
                case "imin": return _cv(t, min(vals))
        fs = [_run(a) for a in args]
        f0 = fs[0]
        match name:
            case "size":
                return V(t, lambda F, live: np.bitwise_count(f0(F, live)).astype(np.int64),
                         lo=lo, hi=hi, faults=faults)
            case "empty":
                return V(t, lambda F, live: f0(F, live) == 0, faults=faults)
            case "max":
                st = e.args[0].type
                w, slo = st.hi - st.lo + 1, st.lo
                return V(t, lambda F, live: highest_bit(f0(F, live), w) + slo, lo=lo, hi=hi,
                         faults=faults)
            case "min":
                st = e.args[0].type
                w, slo, empty = st.hi - st.lo + 1, st.lo, st.hi + 1

                def vmin(F, live):
                    x = f0(F, live)
                    low = highest_bit(x & (~x + ONE), w) + slo
                    return np.where(x == 0, empty, low)

                return V(t, vmin, lo=lo, hi=hi, faults=faults)
            case "abs":
                return V(t, lambda F, live: np.abs(f0(F, live)), lo=lo, hi=hi, faults=faults)
            case "imax" | "imin":
                f1 = fs[1]
                op = np.maximum if name == "imax" else np.minimum

                def both(F, live):
                    r = op(f0(F, live), f1(F, live))
                    return r if isinstance(r, np.ndarray) else _full(F.n, r)

                return V(t, both, lo=lo, hi=hi, faults=faults)
        raise Unsupported(f"builtin {name}")

    def _binary(self, e: ir.Binary, env) -> V:
        op = e.op
        a = self.expr(e.left, env)
        if op in ("and", "or"):
            return self._chain(op, [a, self.expr(e.right, env)])
        if op == "=>":
            na = _cv(ir.BOOL, not a.const) if a.is_const else \
                V(ir.BOOL, (lambda f: lambda F, live: ~f(F, live))(a.fn), faults=a.faults)
            return self._chain("or", [na, self.expr(e.right, env)])
        b = self.expr(e.right, env)
        faults = a.faults or b.faults
        if a.is_const and b.is_const and op not in ("/", "%"):
            return _cv(e.type, _fold(op, e, a.const, b.const))
        af, bf = _run(a), _run(b)
        lt = e.left.type
        if op in ("==", "!=") and (a.leaf is not None and b.is_const or
                                   b.leaf is not None and a.is_const):
            lf, c = (a.leaf, b.const) if a.leaf is not None else (b.leaf, a.const)
            if isinstance(lf, Leaf) and not isinstance(lf.type, ir.SetT) and lf.width:
                lo, hi = _bounds(lf.type)
                if not lo <= int(c) <= hi:
                    return _cv(ir.BOOL, op == "!=")
                enc = (int(c) - lo) << lf.off
                m = lf.mask << lf.off
                if op == "==":
                    return _word_test([(lf.word, m, enc)])
                if lf.width == 1:
                    return _word_test([(lf.word, m, m ^ enc)])
        if op in ("==", "!="):
            neg = op == "!="

            def eq(F, live):
                r = _eq(lt, af(F, live), bf(F, live))
                if not isinstance(r, np.ndarray):
                    r = _full(F.n, bool(r))
                return ~r if neg else r

            return V(ir.BOOL, eq, faults=faults)
        if op in ("<", "<=", ">", ">="):
            npop = {"<": np.less, "<=": np.less_equal, ">": np.greater,
                    ">=": np.greater_equal}[op]
            return V(ir.BOOL, lambda F, live: npop(af(F, live), bf(F, live)), faults=faults)
        if op in ("in", "notin"):
            st_t = e.right.type
            slo, shi = st_t.lo, st_t.hi
            neg = op == "notin"
            if a.is_const:
                if not slo <= a.const <= shi:
                    return _cv(ir.BOOL, neg)
                bit = U64(1 << (a.const - slo))
                if neg:
                    return V(ir.BOOL, lambda F, live: (bf(F, live) & bit) == 0, faults=faults)
                return V(ir.BOOL, lambda F, live: (bf(F, live) & bit) != 0, faults=faults)
            inside_needed = a.lo < slo or a.hi > shi

            def member(F, live):
                x, s = af(F, live), bf(F, live)
                sh = x - slo
                if inside_needed:
                    inside = (sh >= 0) & (sh <= shi - slo)
                    sh = np.clip(sh, 0, shi - slo)
                r = ((s >> sh.astype(U64)) & ONE) != 0
                if inside_needed:
                    r = r & inside
                return ~r if neg else r

            return V(ir.BOOL, member, faults=faults)
        if op in ("union", "diff", "inter"):
            if op == "union":
                return V(e.type, lambda F, live: af(F, live) | bf(F, live), faults=faults)
            if op == "inter":
                return V(e.type, lambda F, live: af(F, live) & bf(F, live), faults=faults)
            return V(e.type, lambda F, live: af(F, live) & ~bf(F, live), faults=faults)
        t = e.type
        if op in ("/", "%"):
            mod = op == "%"
            if b.is_const and b.const != 0:
                k = b.const
                if a.is_const:
                    return _cv(t, a.const % k if mod else a.const // k)
                if mod:
                    return V(t, lambda F, live: af(F, live) % k, lo=t.lo, hi=t.hi,
                             faults=faults)
                return V(t, lambda F, live: af(F, live) // k, lo=t.lo, hi=t.hi, faults=faults)

            def div(F, live):
                x, y = af(F, live), bf(F, live)
                zero = y == 0
                if np.isscalar(zero):
                    zero = np.full(F.n, bool(zero))
                F.fault(live, zero)
                safe = np.where(zero, 1, y)
                r = x % safe if mod else x // safe
                return r if isinstance(r, np.ndarray) else _full(F.n, r)

            return V(t, div, lo=t.lo, hi=t.hi, faults=True)
        lo, hi = _interval(op, a, b)
        npop = {"+": np.add, "-": np.subtract, "*": np.multiply}[op]
        return V(ir.IntT(lo, hi), lambda F, live: npop(af(F, live), bf(F, live)), lo=lo,
                 hi=hi, faults=faults)

    # ---- statements ----
    def stmts(self, stmts, env: dict) -> Callable[[Frame, object], None]:
        fns, pending = [], None
        for st in stmts:
            f = self.stmt(st, env)
            if isinstance(f, _ConstWrite):
                pending = f if pending is None else pending.then(f)
                continue
            if pending is not None:
                fns.append(pending.closure())
                pending = None
            if f is not None:
                fns.append(f)
        if pending is not None:
            fns.append(pending.closure())
        if not fns:
            return None
        if len(fns) == 1:
            return fns[0]

        def seq(F: Frame, active):
            for f in fns:
                f(F, active)

        return seq

    def stmt(self, s: ir.Stmt, env: dict):
        match s:
            case ir.Assign(target=tg, value=v):
                cw = self._const_write(tg, v, env)
                if cw is not None:
                    return cw
                return self._assign(tg, self.expr(v, env), env)
            case ir.If(cond=c, then=a, els=b):
                cc = self.expr(c, env)
                if cc.is_const:
                    return self.stmts(a if cc.const else b, env)
                cf = cc.fn
                fa, fb = self.stmts(a, dict(env)), self.stmts(b, dict(env))
                if fa is None and fb is None and not cc.faults:
                    return None

                la, lb = _is_light(fa), _is_light(fb)

                def branch(F: Frame, active):
                    cond = cf(F, active)
                    if fa is not None:
                        _run_on(fa, la, F, _and(active, cond))
                    if fb is not None:
                        _run_on(fb, lb, F, _and(active, ~cond))

                return branch
            case ir.Let(name=n, value=v):
                c = self.expr(v, env)
                if c.is_const:
                    env[n] = c
                    return None
                self._locals += 1
                key, f = f"{n}#{self._locals}", c.fn
                env[n] = V(c.type, lambda F, live: F.env[key], lo=c.lo, hi=c.hi)

                def let(F: Frame, active):
                    F.env[key] = f(F, active)

                return let
            case ir.For(var=v, domain=d, body=body):
                fns = []
                for x in ir.domain_values(d):
                    val = bool(x) if isinstance(d, ir.BoolT) else x
                    env[v] = _cv(d, val)
                    f = self.stmts(body, env)
                    if f is not None:
                        fns.append(f)
                if not fns:
                    return None

                def loop(F: Frame, active):
                    for f in fns:
                        f(F, active)

                return loop
            case ir.Assert(prop=p, cond=c):
                pid = self.prop_ids[p]
                cc = self.expr(c, env)
                if cc.is_const:
                    if cc.const:
                        return None

                    def fail_all(F: Frame, active):
                        F.asserts.append((pid, np.ones(F.n, bool) if active is True
                                          else active))

                    return fail_all
                cf = cc.fn

                def check(F: Frame, active):
                    bad = ~cf(F, active)
                    bad = bad if active is True else bad & active
                    if bad.any():
                        F.asserts.append((pid, bad))

                return check
        raise Unsupported(f"cannot vectorise {type(s).__name__}")

    def _const_write(self, tg: ir.Expr, v: ir.Expr, env: dict):
        """A write of a constant (or x := x + {k}, x := x - {k}) to a static location, as
        and/or masks per word, or None."""
        loc = self.location(tg, env)
        if loc is None:
            return None
        alts, checks = loc
        if len(alts) != 1 or alts[0].conds or checks:
            return None
        tree = alts[0].tree
        if isinstance(v, ir.Binary) and v.op in ("union", "diff") and v.left == tg \
                and isinstance(tree, Leaf):
            r = self.expr(v.right, env)
            if not r.is_const:
                return None
            bits = int(r.const) << tree.off
            if v.op == "union":
                return _ConstWrite({tree.word: (-1, bits)})
            return _ConstWrite({tree.word: (~bits, 0)})
        val = self.expr(v, env)
        if not val.is_const:
            return None
        t = tg.type
        if isinstance(t, ir.IntT) and not t.lo <= val.const <= t.hi:
            return None  # a run-time error: the general path reports it
        out: dict[int, tuple[int, int]] = {}
        for lf, x in _leaf_values(tree, t, val.const):
            if lf.width == 0:
                continue
            a, b = out.get(lf.word, (-1, 0))
            enc = (int(x) - _bounds(lf.type)[0]) if not isinstance(lf.type, ir.SetT) else int(x)
            m = lf.mask << lf.off
            out[lf.word] = (a & ~m, (b & ~m) | ((enc & lf.mask) << lf.off))
        return _ConstWrite(out)

    def _assign(self, tg: ir.Expr, val: V, env: dict):
        alts, checks = self.location(tg, env)
        t = tg.type
        vf = _run(val)
        check = isinstance(t, ir.IntT) and (val.lo < t.lo or val.hi > t.hi)
        static = len(alts) == 1 and not alts[0].conds and not checks
        tlo, thi = _bounds(t)
        st = None if static else self._strided(alts)
        if st is not None:
            return self._assign_shifted(st, checks, val, check, tlo, thi)
        writers = [self._writer(a.tree, t) for a in alts]
        masks = None if static else self._loc_runtime(alts, checks)

        def assign(F: Frame, active):
            v = vf(F, active)
            if check:
                _range_fault(F, active, v, tlo, thi)
            if static:
                writers[0](F, v, active)
                return
            for m, wr in zip(masks(F, active), writers):
                wr(F, v, _and(active, m))

        return assign

    def _assign_shifted(self, st, checks, val: V, check: bool, tlo: int, thi: int):
        """A write through one dynamic index into evenly spaced leaves of one word."""
        w, lf = st[1], st[2]
        shift, index_check = self._shift_of(st), self._index_checks(checks)
        vf = _run(val)
        m = U64(lf.mask)
        llo = _bounds(lf.type)[0]
        kind = "bool" if isinstance(lf.type, ir.BoolT) else (
            "set" if isinstance(lf.type, ir.SetT) else "int")

        def assign(F: Frame, active):
            v = vf(F, active)
            if check:
                _range_fault(F, active, v, tlo, thi)
            if checks:
                index_check(F, active)
            if active is False:
                return
            sh = shift(F, active)
            old = F.w[w]
            if kind == "bool":
                bit = ONE << sh
                if np.isscalar(v):
                    new = (old | bit) if v else (old & ~bit)
                else:
                    new = np.where(v, old | bit, old & ~bit)
            else:
                if kind == "int":
                    enc = (U64((int(v) - llo) & lf.mask) if np.isscalar(v)
                           else (v - llo).astype(U64) & m)
                else:
                    enc = v
                new = (old & ~(m << sh)) | (enc << sh)
            F.w[w] = new if active is True else np.where(active, new, old)

        return assign

    def _writer(self, tree, t: ir.Type):
        """A function (F, value, active mask) writing a value into a static location."""
        if isinstance(tree, tuple):
            if isinstance(t, ir.ArrayT):
                subs = [self._writer(x, t.elem) for x in tree]
            else:
                subs = [self._writer(x, ft) for x, (_, ft) in zip(tree, t.fields)]

            def write_all(F, v, active):
                for wr, x in zip(subs, v):
                    wr(F, x, active)

            return write_all
        lf: Leaf = tree
        if lf.width == 0:
            return lambda F, v, active: None
        w, off = lf.word, U64(lf.off)
        keep = U64(~(lf.mask << lf.off) & ((1 << 64) - 1))
        field = U64(lf.mask << lf.off)
        lo = _bounds(lf.type)[0]
        kind = "bool" if isinstance(lf.type, ir.BoolT) else (
            "set" if isinstance(lf.type, ir.SetT) else "int")

        def write(F: Frame, v, active):
            if active is False:
                return
            old = F.w[w]
            if kind == "bool":
                if np.isscalar(v):
                    new = (old | field) if v else (old & keep)
                else:
                    new = np.where(v, old | field, old & keep)
            else:
                if kind == "int":
                    if np.isscalar(v):
                        enc = U64((int(v) - lo) & lf.mask)
                    else:
                        enc = (v - lo).astype(U64) & U64(lf.mask)
                else:
                    enc = v
                new = (old & keep) | (enc << off)
            if active is not True:
                new = np.where(active, new, old)
            F.w[w] = new

        return write

    # ---- rule instances ----
    def instance(self, k: int, ri: int, rule: ir.Rule, params: tuple) -> Instance:
        env = {name: _cv(t, bool(v) if isinstance(t, ir.BoolT) else v)
               for (name, t), v in zip(rule.params, params)}
        g = self.expr(rule.guard, env)
        if g.is_const and not g.const:
            return Instance(k, ri, rule, params, None)
        body = self.stmts(rule.body, dict(env))
        return Instance(k, ri, rule, params, g, body)

    def condition(self, e: ir.Expr, env: dict | None = None) -> V:
        return self.expr(e, dict(env or {}))


class _ConstWrite:
    """Constant writes to static locations: word -> (and mask, or bits), applied as
    w = (w & and) | or; consecutive ones compose into one operation per word."""

    def __init__(self, ops: dict):
        self.ops = ops

    def then(self, nxt: _ConstWrite) -> _ConstWrite:
        ops = dict(self.ops)
        for w, (a2, b2) in nxt.ops.items():
            a1, b1 = ops.get(w, (-1, 0))
            ops[w] = (a1 & a2, (b1 & a2) | b2)
        return _ConstWrite(ops)

    def closure(self):
        full = (1 << 64) - 1
        ops = [(w, U64(a & full), U64(b & full), a & full == full, b == 0)
               for w, (a, b) in sorted(self.ops.items())]

        def write(F: Frame, active):
            if active is False:
                return
            for w, a, b, no_and, no_or in ops:
                old = F.w[w]
                new = old if no_and else old & a
                if not no_or:
                    new = new | b
                F.w[w] = new if active is True else np.where(active, new, old)

        write.light = True  # cheap on every row: no sub-frame for it
        return write


def _leaf_values(tree, t: ir.Type, value):
    """(leaf, value) pairs of a constant written to a location tree."""
    if isinstance(tree, tuple):
        types = [t.elem] * len(tree) if isinstance(t, ir.ArrayT) else [ft for _, ft in t.fields]
        for sub, st, x in zip(tree, types, value):
            yield from _leaf_values(sub, st, x)
    else:
        yield tree, value


def _range_fault(F: Frame, active, v, lo: int, hi: int) -> None:
    """Record the rows whose value v leaves lo..hi (a value out of range)."""
    bad = (v < lo) | (v > hi)
    if np.isscalar(bad):
        bad = np.full(F.n, bool(bad))
    F.fault(active, bad)


def _fold(op, e: ir.Binary, x, y):
    match op:
        case "+": return x + y
        case "-": return x - y
        case "*": return x * y
        case "==": return bool(_eq(e.left.type, x, y))
        case "!=": return not bool(_eq(e.left.type, x, y))
        case "<": return x < y
        case "<=": return x <= y
        case ">": return x > y
        case ">=": return x >= y
        case "in" | "notin":
            st = e.right.type
            inside = st.lo <= x <= st.hi and bool(int(y) >> (x - st.lo) & 1)
            return inside if op == "in" else not inside
        case "union": return U64(int(x) | int(y))
        case "diff": return U64(int(x) & ~int(y))
        case "inter": return U64(int(x) & int(y))
    raise TypeError(op)


def _interval(op, a: V, b: V):
    f = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y}[op]
    vals = [f(x, y) for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
    return min(vals), max(vals)


def _is_location(e: ir.Expr) -> bool:
    while isinstance(e, (ir.Index, ir.Field)):
        e = e.base
    return isinstance(e, ir.VarRef)


@dataclass
class VectorSystem:
    """A system compiled for the vector engine."""

    system: ir.System
    layout: VLayout
    instances: list[Instance] = field(default_factory=list)
    invariants: list[V] = field(default_factory=list)
    reachables: list[V] = field(default_factory=list)

    @classmethod
    def compile(cls, system: ir.System) -> VectorSystem:
        layout = VLayout(system)
        comp = VCompiler(system, layout)
        vs = cls(system, layout)
        for k, (ri, rule, params) in enumerate(system.rule_instances()):
            vs.instances.append(comp.instance(k, ri, rule, params))
        vs.invariants = [comp.condition(inv.expr) for inv in system.invariants]
        vs.reachables = [comp.condition(r.expr) for r in system.reachables]
        vs.compiler = comp
        return vs

"""AG (pre => EF post) over the explored state graph.

The explicit engine records every transition (source index, target index) when a
spec has such properties. EF post is the backward closure of the post-states,
computed by repeated vectorised relaxation over the edge arrays; a violation is
a reachable pre-state outside it, and the first one in BFS order is the end of a
shortest counterexample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from checker import ir
from checker.engines.codegen import const


@dataclass
class Stuck:
    """A state from which post can no longer be reached."""

    index: int
    params: tuple
    closure_size: int
    constant: list[tuple[int, int]]  # state indices whose leaves are compared by the caller


def edges_as_arrays(esrc, edst) -> tuple[np.ndarray, np.ndarray]:
    return (np.frombuffer(esrc, dtype=np.int32) if len(esrc) else np.zeros(0, np.int32),
            np.frombuffer(edst, dtype=np.int32) if len(edst) else np.zeros(0, np.int32))


class Reverse:
    """The transitions grouped by target (compressed rows): the predecessors of state t are
    src[order[starts[t]:starts[t + 1]]]."""

    def __init__(self, src: np.ndarray, dst: np.ndarray, n: int | None = None):
        n = int(max(src.max(initial=-1), dst.max(initial=-1)) + 1) if n is None else n
        order = np.argsort(dst, kind="stable")
        self.pred = src[order].astype(np.int32)
        del order
        self.starts = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(dst, minlength=n), out=self.starts[1:])
        self.n = n

    def predecessors(self, states: np.ndarray) -> np.ndarray:
        """Every predecessor of the given states (with repeats)."""
        lo, hi = self.starts[states], self.starts[states + 1]
        counts = hi - lo
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int32)
        offs = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(total)
        return self.pred[offs]


def can_reach(post: np.ndarray, src: np.ndarray, dst: np.ndarray,
              reverse: Reverse | None = None) -> np.ndarray:
    """Mask of the states from which a post-state is reachable (EF post): a breadth-first
    search backwards from the post-states, each transition looked at once."""
    rev = reverse or Reverse(src, dst, len(post))
    good = post.copy()
    frontier = np.flatnonzero(good)
    while len(frontier):
        found = []
        # in pieces of about a million transitions: bounded temporaries
        ends = np.cumsum(rev.starts[frontier + 1] - rev.starts[frontier])
        cuts = np.searchsorted(ends, np.arange(1 << 20, int(ends[-1]) + 1, 1 << 20))
        for piece in np.split(frontier, np.unique(cuts)):
            if not len(piece):
                continue
            preds = rev.predecessors(piece)
            preds = preds[~good[preds]]
            if len(preds):
                good[preds] = True
                found.append(preds)
        if not found:
            break
        frontier = np.unique(np.concatenate(found))
    return good


def forward_closure(start: int, src: np.ndarray, dst: np.ndarray, limit: int = 200_000):
    """Indices of the states reachable from start (start included), at most limit of them."""
    order = np.argsort(src, kind="stable")
    s_sorted, d_sorted = src[order], dst[order]
    lo = np.searchsorted(s_sorted, np.arange(int(src.max(initial=0)) + 2), side="left")
    seen = {start}
    stack = [start]
    while stack and len(seen) < limit:
        i = stack.pop()
        if i + 1 >= len(lo):
            continue
        for j in d_sorted[lo[i]:lo[i + 1]].tolist():
            if j not in seen:
                seen.add(j)
                stack.append(j)
    return sorted(seen)


def condition_functions(compiler, prop: ir.Recoverable, values: tuple):
    """(pre, post) of one parameter valuation as functions of a packed state."""
    from checker.engines.codegen import RUNTIME
    env = {name: const(t, bool(v) if isinstance(t, ir.BoolT) else v)
           for (name, t), v in zip(prop.params, values)}
    pre_c, post_c = compiler.expr(prop.pre, env, "t"), compiler.expr(prop.post, env, "t")
    ns: dict = dict(RUNTIME)
    pre_code = repr(bool(pre_c.const)) if pre_c.is_const else pre_c.code
    post_code = repr(bool(post_c.const)) if post_c.is_const else post_c.code
    exec(f"def _pre(t):\n    return {pre_code}\ndef _post(t):\n    return {post_code}\n", ns)
    return ns["_pre"], ns["_post"]


def condition_masks(compiler, prop: ir.Recoverable, values: tuple, states: list[int]):
    """(pre mask, post mask) of one parameter valuation over all states."""
    pre_fn, post_fn = condition_functions(compiler, prop, values)
    pre = np.fromiter((bool(pre_fn(t)) for t in states), dtype=bool, count=len(states))
    post = np.fromiter((bool(post_fn(t)) for t in states), dtype=bool, count=len(states))
    return pre, post


def first_stuck(compiler, prop: ir.Recoverable, states: list[int], src, dst,
                reverse: Reverse | None = None) -> Stuck | None:
    """The earliest (BFS order) reachable state violating AG (pre => EF post), if any."""
    best: Stuck | None = None
    reverse = reverse or Reverse(src, dst, len(states))
    for values in ir.product([ir.domain_values(t) for _, t in prop.params]):
        pre, post = condition_masks(compiler, prop, values, states)
        bad = pre & ~can_reach(post, src, dst, reverse)
        hits = np.flatnonzero(bad)
        if len(hits) and (best is None or hits[0] < best.index):
            best = Stuck(int(hits[0]), values, 0, [])
    return best

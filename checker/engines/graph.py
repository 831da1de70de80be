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


def can_reach(post: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Mask of the states from which a post-state is reachable (EF post)."""
    good = post.copy()
    count = int(good.sum())
    while True:
        good[src[good[dst]]] = True
        new = int(good.sum())
        if new == count:
            return good
        count = new


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


def condition_masks(compiler, prop: ir.Recoverable, values: tuple, states: list[int]):
    """(pre mask, post mask) of one parameter valuation over all states."""
    env = {name: const(t, bool(v) if isinstance(t, ir.BoolT) else v)
           for (name, t), v in zip(prop.params, values)}
    pre_c, post_c = compiler.expr(prop.pre, env, "t"), compiler.expr(prop.post, env, "t")
    ns: dict = {}
    pre_code = repr(bool(pre_c.const)) if pre_c.is_const else pre_c.code
    post_code = repr(bool(post_c.const)) if post_c.is_const else post_c.code
    exec(f"def _pre(t):\n    return {pre_code}\ndef _post(t):\n    return {post_code}\n", ns)
    pre = np.fromiter((bool(ns["_pre"](t)) for t in states), dtype=bool, count=len(states))
    post = np.fromiter((bool(ns["_post"](t)) for t in states), dtype=bool, count=len(states))
    return pre, post


def first_stuck(compiler, prop: ir.Recoverable, states: list[int], src, dst) -> Stuck | None:
    """The earliest (BFS order) reachable state violating AG (pre => EF post), if any."""
    best: Stuck | None = None
    for values in ir.product([ir.domain_values(t) for _, t in prop.params]):
        pre, post = condition_masks(compiler, prop, values, states)
        bad = pre & ~can_reach(post, src, dst)
        hits = np.flatnonzero(bad)
        if len(hits) and (best is None or hits[0] < best.index):
            best = Stuck(int(hits[0]), values, 0, [])
    return best

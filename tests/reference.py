"""An interpreted BFS over ir_eval: the slow, obviously-right oracle for the compiled engine."""

from __future__ import annotations

from checker import ir
from checker.ir_eval import EvalError, evaluate, fire, initial_state


def explore(system: ir.System, max_states: int = 200_000) -> dict:
    """States, transitions, depth, and the shortest violation depth of every property."""
    init = initial_state(system)
    instances = list(system.rule_instances())
    depth_of = {init: 0}
    frontier = [init]
    transitions = 0
    violated: dict[str, int] = {}
    errors = 0

    reach_depth: dict[str, int] = {}

    def check_state(s, d):
        for r in system.reachables:
            try:
                if evaluate(r.expr, {}, s):
                    reach_depth.setdefault(r.name, d)
            except EvalError:
                violated.setdefault("runtime_error", d)
        for inv in system.invariants:
            try:  # evaluated in every state, as the compiled engine does
                if not evaluate(inv.expr, {}, s) and inv.name not in violated:
                    violated[inv.name] = d
            except EvalError:
                violated.setdefault("runtime_error", d)

    check_state(init, 0)
    depth = 0
    while frontier:
        nxt = []
        for s in frontier:
            enabled = 0
            for _, rule, params in instances:
                try:
                    t, failed = fire(rule, params, s)
                except EvalError:
                    errors += 1
                    violated.setdefault("runtime_error", depth + 1)
                    continue
                if t is None:
                    continue
                enabled += 1
                transitions += 1
                for p in failed:
                    violated.setdefault(p, depth + 1)
                if t not in depth_of:
                    depth_of[t] = depth + 1
                    check_state(t, depth + 1)
                    nxt.append(t)
            if system.deadlock and enabled == 0:
                violated.setdefault("deadlock", depth)
        if len(depth_of) > max_states:
            raise RuntimeError("state space too large for the reference explorer")
        if nxt:
            depth += 1
        frontier = nxt
    if "runtime_error" not in violated:
        for r in system.reachables:
            violated["reach:" + r.name] = reach_depth.get(r.name)
        _reachable_and_lost(system, init, instances, depth_of, violated)
    return {"states": len(depth_of), "transitions": transitions, "depth": depth,
            "violated": violated, "errors": errors}


def _reachable_and_lost(system, init, instances, depth_of, violated):
    """AG (pre => EF post) for every recoverable property."""
    if not system.recoverables:
        return
    succ = {s: [t for _, rule, params in instances
                if (t := fire(rule, params, s)[0]) is not None] for s in depth_of}
    for prop in system.recoverables:
        for values in ir.product([ir.domain_values(t) for _, t in prop.params]):
            env = {n: (bool(v) if isinstance(t, ir.BoolT) else v)
                   for (n, t), v in zip(prop.params, values)}
            good = {s for s in depth_of if evaluate(prop.post, env, s)}
            changed = True
            while changed:  # backward closure: EF post
                changed = False
                for s, ts in succ.items():
                    if s not in good and any(t in good for t in ts):
                        good.add(s)
                        changed = True
            bad = [d for s, d in depth_of.items() if s not in good and evaluate(prop.pre, env, s)]
            if bad:
                violated[prop.name] = min(bad + [violated.get(prop.name, min(bad))])

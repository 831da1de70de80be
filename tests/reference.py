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

    def check_state(s, d):
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
    return {"states": len(depth_of), "transitions": transitions, "depth": depth,
            "violated": violated, "errors": errors}

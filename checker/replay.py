"""Replay an ITF trace against a spec, step by step, with the reference interpreter.

Each step must be a rule instance of the spec that leads from the previous state
to the next one (the step's `#meta.action` names it; without it any instance
that does will do). At the end the recorded violation is checked again in the
last state or step. A trace written for an older spec, or edited by hand, stops
at the first step the spec does not allow, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from checker import ir
from checker.ir_eval import EvalError, evaluate, fire, initial_state
from checker.report.values import changes
from checker.result import make_step


@dataclass
class StepCheck:
    index: int
    label: str
    ok: bool
    note: str = ""


@dataclass
class Replay:
    steps: list[StepCheck] = field(default_factory=list)
    allowed: bool = True  # every step is a step of the spec
    confirmed: bool | None = None  # the violation shows again (None: cannot tell by replay)
    message: str = ""


def _label(rule: ir.Rule, params: tuple, ri: int) -> str:
    return make_step(rule, params, (), ri).label


def _diff(system, a: tuple, b: tuple) -> str:
    d = changes(system, a, b)
    shown = ", ".join(f"{n}={v}" for n, v in d[:6]) + (", ..." if len(d) > 6 else "")
    return shown or "nothing"


def replay(system: ir.System, states: list[tuple], metas: list[dict], meta: dict) -> Replay:
    out = Replay()
    if not states:
        out.allowed, out.message = False, "the trace has no states"
        return out
    init = initial_state(system)
    if states[0] != init:
        out.steps.append(StepCheck(0, "init", False))
        out.allowed = False
        out.message = (f"state 0 is not the spec's initial state; the spec starts with "
                       f"{_diff(system, states[0], init)}")
        return out
    out.steps.append(StepCheck(0, "init", True))
    instances = [(ri, rule, params, _label(rule, params, ri))
                 for ri, rule, params in system.rule_instances()]
    last_failed: list[str] = []
    last_fault: str | None = None
    faulty = bool(metas[-1].get("faulty")) if metas else False
    for i in range(1, len(states)):
        prev, nxt = states[i - 1], states[i]
        action = metas[i].get("action") if i < len(metas) else None
        cands = [x for x in instances if action is None or x[3] == action]
        if action is not None and not cands:
            out.steps.append(StepCheck(i, action, False))
            out.allowed = False
            out.message = f"step {i}: the spec has no rule instance '{action}'"
            return out
        is_faulty_step = faulty and i == len(states) - 1
        match, why = None, []
        for ri, rule, params, label in cands:
            try:
                succ, failed = fire(rule, params, prev)
            except EvalError as err:
                if is_faulty_step:
                    match, last_fault = label, err.message
                    break
                why.append(f"{label} hits a run-time error: {err.message}")
                continue
            if succ is None:
                why.append(f"{label} is not enabled in state {i - 1}")
            elif is_faulty_step:
                why.append(f"{label} completes without a run-time error")
            elif succ != nxt:
                why.append(f"{label} leads to a different state (it has "
                           f"{_diff(system, nxt, succ)})")
            else:
                match, last_failed = label, failed
                break
        if match is None:
            out.steps.append(StepCheck(i, action or "?", False))
            out.allowed = False
            reason = why[0] if action is not None and why else \
                f"no rule instance leads from state {i - 1} to state {i}"
            out.message = f"step {i}: {reason}"
            return out
        out.steps.append(StepCheck(i, match, True))
    out.confirmed, out.message = _confirm(system, states[-1], meta, last_failed, last_fault,
                                          instances)
    return out


def _confirm(system, last: tuple, meta: dict, failed: list[str], fault: str | None,
             instances) -> tuple[bool | None, str]:
    kind, name = meta.get("kind"), meta.get("property")
    if kind == "invariant":
        inv = next((x for x in system.invariants if x.name == name), None)
        if inv is None:
            return False, f"the spec has no invariant '{name}'"
        try:
            holds = evaluate(inv.expr, {}, last)
        except EvalError as err:
            return False, f"evaluating '{name}' in the last state: {err.message}"
        return (not holds, f"invariant '{name}' is false in the last state" if not holds
                else f"invariant '{name}' holds in the last state: not confirmed")
    if kind == "action":
        ok = name in failed
        return ok, (f"assert '{name}' fails in the last step" if ok
                    else f"assert '{name}' does not fail in the last step: not confirmed")
    if kind == "runtime":
        return (fault is not None, f"the last step hits a run-time error: {fault}"
                if fault else "the last step completes: not confirmed")
    if kind == "deadlock":
        enabled = [lb for ri, rule, params, lb in instances
                   if _enabled(rule, params, last)]
        return (not enabled, "no rule is enabled in the last state" if not enabled
                else f"{enabled[0]} is enabled in the last state: not confirmed")
    if kind == "reachable":
        r = next((x for x in system.reachables if x.name == name), None)
        ok = r is not None and bool(evaluate(r.expr, {}, last))
        return ok, (f"witness: '{name}' holds in the last state" if ok
                    else f"'{name}' is false in the last state: not confirmed")
    if kind == "lost":
        return _confirm_lost(system, last, name, meta.get("params") or {})
    return None, "the trace is a behaviour of the spec (it records no property to confirm)"


def _enabled(rule, params, state) -> bool:
    try:
        return fire(rule, params, state)[0] is not None
    except EvalError:
        return True  # the step is taken (and fails): not a deadlock


LOST_SEARCH_LIMIT = 2_000_000


def _confirm_lost(system: ir.System, last: tuple, name: str, params: dict):
    """'lost': the goal cannot be reached from the last state (a search from it)."""
    from checker.engines.codegen import _RuntimeFault
    from checker.engines.compiled import CompiledSystem
    from checker.engines.graph import condition_functions
    from checker.report.itf import ItfError, read_value
    prop = next((r for r in system.recoverables if r.name == name), None)
    if prop is None:
        return False, f"the spec has no 'lost' property '{name}'"
    try:
        values = tuple(read_value(t, params[n], f"#meta.params.{n}") for n, t in prop.params)
    except (KeyError, ItfError):
        return None, (f"the trace is a behaviour of the spec; it does not record the "
                      f"parameters of '{name}', so the loss is not checked again")
    cs = CompiledSystem(system)
    pre, post = condition_functions(cs.compiler, prop, values)
    start = cs.pack(last)
    label = name + ("(" + ", ".join(f"{n}={ir.format_value(t, v)}" for (n, t), v
                                    in zip(prop.params, values)) + ")" if values else "")
    try:
        if not pre(start):
            return False, f"{label}: the request is not outstanding in the last state"
        seen, queue = {start}, [start]
        while queue:
            if len(seen) > LOST_SEARCH_LIMIT:
                return None, f"{label}: more than {LOST_SEARCH_LIMIT:,} states follow the " \
                             f"last one; not checked again"
            t = queue.pop()
            if post(t):
                return False, f"{label}: the goal is still reachable from the last state"
            for _k, u, _f in cs.successors(t):
                if u not in seen:
                    seen.add(u)
                    queue.append(u)
    except _RuntimeFault:
        return None, f"{label}: a run-time error after the last state; not checked again"
    return True, (f"{label}: from the last state no continuation reaches the goal "
                  f"({len(seen)} states searched)")

"""Bounded model checking with Z3: the shortest counterexample up to a depth.

Frame by frame (incrementally, with push/pop), the solver is asked whether some path
of exactly k steps from the initial state ends in a state that violates an invariant,
in a step that fails an assert or hits a run-time error, or in a deadlock. The first k
that answers yes gives a shortest counterexample, which is replayed on the concrete
evaluator before it is shown: a trace that does not replay is an internal error.
Properties with no violation up to the bound are `unknown` (bounded, not proved).
"""

from __future__ import annotations

import time
from collections import deque

import z3

from checker import ir
from checker.engines.codegen import _RuntimeFault
from checker.engines.compiled import CompiledSystem
from checker.engines.explicit import Options, _rss_mb
from checker.engines.z3enc import Encoder, Frame, _range, encode_steps
from checker.ir_eval import initial_state
from checker.result import PropertyResult, Result, Stats, Status, Trace, Verdict, make_step


class ReplayMismatch(Exception):
    """A Z3 counterexample the concrete evaluator does not reproduce (a bug of irqcheck)."""


def check(system: ir.System, options: Options | None = None, bound: int = 20) -> Result:
    options = options or Options()
    start = time.perf_counter()
    deadline = start + options.timeout if options.timeout else None
    enc = Encoder(system)
    cs = CompiledSystem(system)
    solver = z3.Solver()
    f, cons = enc.frame(0)
    solver.add(cons)
    solver.add(enc.initial(f))
    frames, acts = [f], []
    found: dict[str, tuple] = {}  # property key -> (kind, trace, reason, faulty)
    pending_inv = {i: inv for i, inv in enumerate(system.invariants)}
    pending_act = {a.name for a in system.actions}
    pending_reach = {i: r for i, r in enumerate(system.reachables)}
    pending_lost = {i: r for i, r in enumerate(system.recoverables)}
    lost = _Lost(enc, options, cs) if pending_lost else None
    check_dead = system.deadlock if options.deadlock is None else options.deadlock
    status, depth = Status.COMPLETE, 0
    complete_at = None  # the depth that covers every reachable state, when found

    def sat(*extra) -> z3.ModelRef | None:
        solver.push()
        solver.add(*extra)
        if deadline:
            solver.set("timeout", max(1, int((deadline - time.perf_counter()) * 1000)))
        r = solver.check()
        m = solver.model() if r == z3.sat else None
        solver.pop()
        if r == z3.unknown:
            raise TimeoutError
        return m

    try:
        for k in range(bound + 1):
            depth = k
            fk = frames[k]
            for i, inv in list(pending_inv.items()):
                faults: list = []
                term = enc.expr(inv.expr, fk.values, {}, faults, z3.BoolVal(True))
                m = sat(z3.Not(term))
                if m is not None:
                    found[f"inv:{i}"] = ("invariant", _trace(m, enc, cs, frames, acts, k),
                                         f"invariant '{inv.name}' is false in the last state",
                                         False)
                    del pending_inv[i]
            # run-time errors evaluating the properties in the states of frame k
            sfaults: list = []
            for inv in system.invariants:
                enc.expr(inv.expr, fk.values, {}, sfaults, z3.BoolVal(True))
            for r in pending_reach.values():
                enc.expr(r.expr, fk.values, {}, sfaults, z3.BoolVal(True))
            if sfaults and "runtime" not in found:
                m = sat(z3.Or([c for c, _ in sfaults]))
                if m is not None:
                    found["runtime"] = ("runtime", _trace(m, enc, cs, frames, acts, k),
                                        "a run-time error evaluating a property in the last "
                                        "state", False)
                    status = Status.MODEL_ERROR
                    break
            for i, r in list(pending_lost.items()):
                hit = lost.search(r, fk, sat, solver)
                if hit is None:
                    continue
                if hit == "unknown":
                    found[f"lost?:{i}"] = ("lost", None, lost.why, False)
                else:
                    m, params, why = hit
                    head = ", ".join(f"{n}={ir.format_value(t, v)}"
                                     for (n, t), v in zip(r.params, params))
                    head = f"{r.name}({head})" if head else r.name
                    found[f"lost:{i}"] = ("lost", _trace(m, enc, cs, frames, acts, k),
                                          f"{head}: from the last state no continuation "
                                          f"reaches the goal {why}", params)
                del pending_lost[i]
            for i, r in list(pending_reach.items()):
                faults = []
                term = enc.expr(r.expr, fk.values, {}, faults, z3.BoolVal(True))
                m = sat(term)
                if m is not None:
                    found[f"reach:{i}"] = ("reachable", _trace(m, enc, cs, frames, acts, k),
                                           f"witness: '{r.name}' holds in the last state",
                                           False)
                    del pending_reach[i]
            if k == bound:
                break
            nxt, cons = enc.frame(k + 1)
            steps = encode_steps(enc, fk, nxt)
            if check_dead and "deadlock" not in found:
                m = sat(z3.Not(z3.Or([st.guard for st in steps])))
                if m is not None:
                    found["deadlock"] = ("deadlock", _trace(m, enc, cs, frames, acts, k),
                                         "no rule is enabled in the last state", False)
            act = z3.Int(f"act@{k}")
            chosen = [z3.And(act == st.index, st.trans) for st in steps]
            # run-time errors in step k: any guard's, or the chosen instance's body's
            fault = z3.Or([c for st in steps for c, _ in st.guard_faults] +
                          [z3.And(act == st.index, c) for st in steps for c, _ in st.faults])
            for name in sorted(pending_act):
                bad = [z3.And(act == st.index, c) for st in steps for p, c in st.asserts
                       if p == name]
                if not bad:
                    continue
                m = sat(z3.Or(bad))  # the step needs no successor (it may fail after)
                if m is not None:
                    found[f"act:{name}"] = ("action",
                                            _trace(m, enc, cs, frames + [nxt], acts + [act],
                                                   k + 1, free_last=True),
                                            f"assert '{name}' fails in the last step", False)
                    pending_act.discard(name)
            if "runtime" not in found:
                m = sat(*cons, z3.Or([act == st.index for st in steps]), fault)
                if m is not None:
                    found["runtime"] = ("runtime", _trace(m, enc, cs, frames, acts, k,
                                                          fault_act=(act, steps)),
                                        "a run-time error of the model", True)
                    status = Status.MODEL_ERROR
                    break
            solver.add(*cons)
            solver.add(z3.Or(chosen))
            frames.append(nxt)
            acts.append(act)
            # (the absence of run-time errors is always still open here)
            if not (options.fail_fast and found) and \
                    sat(*_all_distinct(frames)) is None:
                # no path of k+1 steps without a repeated state: every reachable state
                # is within k steps, all of them have been examined
                complete_at = k
                break
            if options.fail_fast and found:
                status = Status.STOPPED
                break
            if deadline and time.perf_counter() > deadline:
                status = Status.TIMEOUT
                break
    except TimeoutError:
        status = Status.TIMEOUT
    seconds = time.perf_counter() - start
    props = _results(system, found, bound, status, complete_at)
    stats = Stats(states=0, transitions=0, depth=depth, seconds=seconds,
                  peak_rss_mb=_rss_mb())
    msg = None if status == Status.COMPLETE else f"stopped at depth {depth}"
    res = Result(system.name, "z3-bmc", system, props, stats, status, msg,
                 {n: ir.json_value(t, v) for n, t, v in system.constants})
    if complete_at is not None:
        res.notes.append(f"complete at depth {complete_at}: no path of {complete_at + 1} "
                         "steps visits only new states, so every reachable state is within "
                         f"{complete_at} steps; the verdicts are final")
    else:
        res.notes.append(f"bounded model checking to depth {bound}: a property with no "
                         f"violation up to it is unknown, not proved")
    return res


def _all_distinct(frames) -> list:
    """Every pair of frames differs in some leaf (a path without a repeated state)."""
    leaves = [list(f.leaves.values()) for f in frames]
    return [z3.Not(z3.And([a == b for (_, a), (_, b) in zip(leaves[i], leaves[j])]))
            for i in range(len(frames)) for j in range(i + 1, len(frames))]


def _results(system, found, bound, status, complete_at=None) -> list[PropertyResult]:
    out = []
    done = complete_at is not None
    open_v = Verdict.HOLDS if done else Verdict.UNKNOWN
    safety = [(inv, "invariant", f"inv:{i}") for i, inv in enumerate(system.invariants)] + \
        [(a, "action", f"act:{a.name}") for a in system.actions]
    for prop, kind, key in safety:
        hit = found.get(key)
        out.append(PropertyResult(prop.name, kind, Verdict.VIOLATED, hit[1], hit[2],
                                  pclass=prop.pclass) if hit else
                   PropertyResult(prop.name, kind, open_v,
                                  reason=_no_violation(bound, complete_at),
                                  pclass=prop.pclass))
    for i, r in enumerate(system.recoverables):
        hit = found.get(f"lost:{i}")
        if hit:
            out.append(PropertyResult(r.name, "lost", Verdict.VIOLATED, hit[1], hit[2],
                                      pclass=r.pclass,
                                      params=tuple((n, v) for (n, _), v in
                                                   zip(r.params, hit[3]))))
        else:
            why = found.get(f"lost?:{i}")
            if done and not why:  # every reachable request state can reach its goal
                out.append(PropertyResult(r.name, "lost", Verdict.HOLDS,
                                          reason=_no_violation(bound, complete_at),
                                          pclass=r.pclass))
                continue
            out.append(PropertyResult(r.name, "lost", Verdict.UNKNOWN,
                                      reason=why[2] if why else
                                      f"no stuck state up to depth {bound}",
                                      pclass=r.pclass))
    for i, r in enumerate(system.reachables):
        hit = found.get(f"reach:{i}")
        out.append(PropertyResult(r.name, "reachable", Verdict.HOLDS, hit[1], hit[2]) if hit
                   else PropertyResult(r.name, "reachable", Verdict.VIOLATED, None,
                                       f"unreachable: no reachable state satisfies "
                                       f"'{r.name}'") if done
                   else PropertyResult(r.name, "reachable", Verdict.UNKNOWN,
                                       reason=f"no witness up to depth {bound}"))
    if "deadlock" in found:
        hit = found["deadlock"]
        out.append(PropertyResult("deadlock", "deadlock", Verdict.VIOLATED, hit[1], hit[2]))
    elif system.deadlock:
        out.append(PropertyResult("deadlock", "deadlock", open_v,
                                  reason=f"no deadlock up to depth {bound}" if not done else
                                  _no_violation(bound, complete_at)))
    if "runtime" in found:
        hit = found["runtime"]
        out.append(PropertyResult("runtime_error", "runtime", Verdict.VIOLATED, hit[1], hit[2],
                                  faulty_step=hit[3]))
    return out


def _no_violation(bound, complete_at) -> str:
    if complete_at is None:
        return f"no violation up to depth {bound}"
    return f"no violation in any reachable state (all within {complete_at} steps)"


def _decode(t: ir.Type, term, m):
    if isinstance(term, tuple):
        if isinstance(t, ir.ArrayT):
            return tuple(_decode(t.elem, x, m) for x in term)
        return tuple(_decode(ft, x, m) for (_, ft), x in zip(t.fields, term))
    v = m.eval(term, model_completion=True)
    if isinstance(t, ir.BoolT):
        return z3.is_true(v)
    if isinstance(t, ir.SetT):
        bits = v.as_long()
        return frozenset(t.lo + i for i in range(t.hi - t.lo + 1) if bits >> i & 1)
    return v.as_long()


def _trace(m, enc: Encoder, cs: CompiledSystem, frames, acts, k: int,
           fault_act=None, free_last: bool = False) -> Trace:
    """The model's path of k steps, replayed on the concrete evaluator."""
    system = enc.system
    states = [tuple(_decode(var.type, val, m) for var, val in zip(system.variables, f.values))
              for f in frames[:k + 1]]
    packed = cs.pack(states[0])
    chosen = {v.name: states[0][i] for i, v in enumerate(system.variables) if v.symbolic}
    if packed != cs.pack(initial_state(system, chosen)):
        raise ReplayMismatch("the Z3 path does not start in the initial state")
    steps = [make_step(None, (), states[0])]
    for i in range(k):
        a = m.eval(acts[i], model_completion=True).as_long()
        inst = cs.instances[a]
        try:
            succ, _ = cs.fire(a, packed)
        except _RuntimeFault:
            if i != k - 1:
                raise ReplayMismatch(f"step {i + 1} of the Z3 path hits a run-time error")
            # the assert failed in a step that then hit a run-time error: shown as such
            steps.append(make_step(inst.rule, inst.params, cs.unpack(packed),
                                   inst.rule_index))
            return Trace(tuple(steps))
        if free_last and i == k - 1 and succ is not None:
            states[i + 1] = cs.unpack(succ)  # the last state is whatever the step makes
        if succ is None or cs.unpack(succ) != states[i + 1]:
            raise ReplayMismatch(f"step {i + 1} of the Z3 path does not replay")
        packed = succ
        steps.append(make_step(inst.rule, inst.params, states[i + 1], inst.rule_index))
    if fault_act is not None:  # the faulty step: find it concretely
        for j, inst in enumerate(cs.instances):
            try:
                cs.fire(j, packed)
            except _RuntimeFault:
                steps.append(make_step(inst.rule, inst.params, cs.unpack(packed),
                                       inst.rule_index))
                break
        else:
            raise ReplayMismatch("the Z3 run-time error does not replay")
    return Trace(tuple(steps))


KIND_BUDGET = 20.0  # seconds of k-induction before --prove goes on to PDR


def prove(system: ir.System, options: Options | None = None, bound: int = 20,
          pdr_fallback: bool = True) -> Result:
    """k-induction: invariants and asserts (and the absence of run-time errors) for all
    depths. The base case is bounded model checking to `bound`; the step asks, for
    k = 0, 1, ..., whether k+1 distinct states that satisfy every property, linked by
    steps that satisfy every assert, can be followed by a step or a state that breaks
    one. When it cannot, every invariant and assert holds in every reachable state."""
    options = options or Options()
    start = time.perf_counter()
    enc = Encoder(system)
    deadline = start + options.timeout if options.timeout else None
    proved_at, tried = None, -1
    for k in range(bound + 1):
        if deadline and time.perf_counter() > deadline:
            break
        if pdr_fallback and time.perf_counter() - start > KIND_BUDGET:
            break  # PDR is likelier to get it than a deeper induction
        tried = k
        solver = z3.Solver()
        if deadline:
            solver.set("timeout", max(1, int((deadline - time.perf_counter()) * 1000)))
        frames = []
        for i in range(k + 2):
            f, cons = enc.frame(i)
            solver.add(*cons)
            frames.append(f)
        good_states, good_steps, bad_now = [], [], []
        for i in range(k + 2):
            faults: list = []
            terms = [enc.expr(inv.expr, frames[i].values, {}, faults, z3.BoolVal(True))
                     for inv in system.invariants]
            for r in system.reachables:  # evaluating a witness must not fail either
                enc.expr(r.expr, frames[i].values, {}, faults, z3.BoolVal(True))
            good_states.append(z3.And(terms + [z3.Not(c) for c, _ in faults]))
        last_step = None
        for i in range(k + 1):
            steps = encode_steps(enc, frames[i], frames[i + 1])
            act = z3.Int(f"act@{i}")
            taken = z3.Or([z3.And(act == st.index, st.trans) for st in steps])
            if i < k:
                solver.add(taken)
            else:
                last_step = taken  # only where a successor is needed
            bad = [c for st in steps for c, _ in st.guard_faults] + \
                [z3.And(act == st.index, c) for st in steps for c, _ in st.faults] + \
                [z3.And(act == st.index, c) for st in steps for _, c in st.asserts]
            good_steps.append(z3.Not(z3.Or(bad)) if bad else z3.BoolVal(True))
            any_bad = [c for st in steps for c, _ in st.guard_faults] + \
                [c for st in steps for c, _ in st.faults] + \
                [c for st in steps for _, c in st.asserts]
            bad_now.append(z3.Or(any_bad) if any_bad else z3.BoolVal(False))
        for i in range(k + 1):
            solver.add(good_states[i])
        for i in range(k):
            solver.add(good_steps[i])

        def distinct(i, j):
            return z3.Not(z3.And([a == b for (_, a), (_, b) in
                                  zip(frames[i].leaves.values(), frames[j].leaves.values())]))

        for i in range(k + 1):  # a simple path: no state twice
            for j in range(i + 1, k + 1):
                solver.add(distinct(i, j))
        # then either a step from the last state fails (it needs no successor), or a
        # step leads to a new state that breaks an invariant
        solver.add(z3.Or(bad_now[k], z3.And(last_step, z3.Not(good_states[k + 1]),
                                            *[distinct(i, k + 1) for i in range(k + 1)])))
        r = solver.check()
        if r == z3.unsat:
            proved_at = k
            break
    if proved_at is None and pdr_fallback:  # what k-induction cannot get, PDR may
        kind_seconds = time.perf_counter() - start
        res = pdr(system, options, bound)
        res.stats.seconds += kind_seconds
        budget = f" (its {KIND_BUDGET:.0f} s budget spent)" if tried < bound else ""
        res.notes.insert(0, f"k-induction: inconclusive up to k={tried}{budget}; "
                            "then IC3/PDR")
        return res
    # the base case: no violation in the first k+1 states (to the bound when unproved)
    base = check(system, options, bound if proved_at is None else proved_at + 1)
    if base.verdict == Verdict.VIOLATED or base.status != Status.COMPLETE:
        return base
    props = []
    for p in base.properties:
        if p.kind in ("invariant", "action") and p.verdict == Verdict.UNKNOWN:
            if proved_at is not None:
                p = PropertyResult(p.name, p.kind, Verdict.HOLDS, None,
                                   f"proved by {proved_at}-induction", pclass=p.pclass)
            else:
                p = PropertyResult(p.name, p.kind, Verdict.UNKNOWN, None,
                                   f"not violated up to depth {bound}; k-induction "
                                   f"inconclusive up to k={bound}", pclass=p.pclass)
        props.append(p)
    base.properties = props
    base.engine = "z3-kind"
    base.stats.seconds = time.perf_counter() - start
    outcome = f"proved at k={proved_at}" if proved_at is not None else "inconclusive"
    base.notes = [f"k-induction: {outcome}; base case to depth {base.stats.depth}"]
    return base


def pdr(system: ir.System, options: Options | None = None, bound: int = 20) -> Result:
    """IC3/PDR with Z3's Spacer over Horn clauses: an inductive invariant that implies every
    invariant and assert (and the absence of run-time errors), or a counterexample (then
    found again, shortest, by bounded model checking to `bound`). The invariant Spacer
    returns is checked independently (it holds initially, every step keeps it, it
    implies the properties) before the properties are reported proved; it is printed in
    the spec's expression syntax as a certificate."""
    options = options or Options()
    start = time.perf_counter()
    check_dead = system.deadlock if options.deadlock is None else options.deadlock
    if not system.invariants and not system.actions and not check_dead:
        res = check(system, options, bound)
        res.notes.append("PDR: no invariant or assert to prove")
        return res
    enc = Encoder(system)
    f0, c0 = enc.frame(0)
    f1, c1 = enc.frame(1)
    steps = encode_steps(enc, f0, f1)
    act = z3.Int("act")
    trans = z3.Or([z3.And(act == st.index, st.trans) for st in steps])
    # a step that fails an assert or hits a run-time error: it needs no successor (a
    # value out of range has none in the state space)
    bad_step = z3.Or([c for st in steps for c, _ in st.guard_faults]
                     + [c for st in steps for c, _ in st.faults]
                     + [c for st in steps for _, c in st.asserts]
                     + [z3.BoolVal(False)])
    faults: list = []
    terms = [enc.expr(i.expr, f0.values, {}, faults, z3.BoolVal(True))
             for i in system.invariants]
    for r in system.reachables:  # a run-time error evaluating a witness is one too
        enc.expr(r.expr, f0.values, {}, faults, z3.BoolVal(True))
    prop = z3.And(terms + [z3.Not(c) for c, _ in faults])
    horn = _Horn(enc, f0, f1, c0, c1, act, trans, options)
    enabled = z3.Or([st.guard for st in steps] + [z3.BoolVal(False)])
    dead = None  # deadlock freedom: "some rule is enabled" is an invariant too
    if check_dead:  # all at once first: together they are inductive more often
        answer, cert, reason = horn.prove(z3.And(prop, enabled), bad_step)
        dead = True if answer is True else None
    if dead is None:
        answer, cert, reason = horn.prove(prop, bad_step)
        if check_dead and answer is True:
            dead = False  # the properties hold, deadlock freedom does not (or no answer)
    if answer is False:  # the properties fail: the shortest counterexample by BMC
        res = check(system, options, bound)
        res.notes.append("PDR: a property is violated (counterexample by bounded model "
                         "checking)")
        return res
    base = check(system, Options(max_states=options.max_states, timeout=options.timeout,
                                 deadlock=options.deadlock, fail_fast=options.fail_fast), 0)
    proved = answer is True
    if dead is False:  # look for the deadlock by bounded model checking
        found = check(system, Options(timeout=options.timeout, deadlock=True), bound)
        base.properties = [p for p in base.properties if p.kind != "deadlock"] + \
            [p for p in found.properties if p.kind == "deadlock"]
    props = []
    for p in base.properties:
        if p.kind in ("invariant", "action") and p.verdict != Verdict.VIOLATED:
            p = PropertyResult(p.name, p.kind, Verdict.HOLDS if proved else Verdict.UNKNOWN,
                               None, "proved by PDR (inductive invariant checked)" if proved
                               else "PDR gave no answer", pclass=p.pclass)
        elif p.kind == "deadlock" and p.verdict != Verdict.VIOLATED:
            p = PropertyResult(p.name, p.kind, Verdict.HOLDS if dead is True else
                               Verdict.UNKNOWN, None,
                               "proved by PDR: some rule is enabled in every reachable state"
                               if dead is True else "PDR did not prove deadlock freedom, and "
                               f"there is no deadlock up to depth {bound}", pclass=p.pclass)
        props.append(p)
    base.properties = props
    base.engine = "z3-pdr"
    base.stats.seconds = time.perf_counter() - start
    base.notes = []
    if proved:
        base.notes.append("inductive invariant (checked: it holds initially, every step "
                          "keeps it, it implies every invariant and assert"
                          + (", and that some rule is enabled" if dead is True else "")
                          + "): " + to_dsl(cert, f0))
    else:
        base.notes.append(f"PDR: {reason}")
    return base


class _Horn:
    """Spacer over the transition relation: is `prop` an invariant, with no `bad` step?"""

    def __init__(self, enc, f0, f1, c0, c1, act, trans, options):
        self.f0, self.c0, self.c1, self.act, self.trans = f0, c0, c1, act, trans
        self.v0 = [x for _, x in f0.leaves.values()]
        self.v1 = [x for _, x in f1.leaves.values()]
        self.init = z3.And(enc.initial(f0), *c0)
        self.options = options
        self.n = 0

    def prove(self, prop, bad_step):
        """(True: proved, the checked invariant; False: violated; None: no answer)."""
        v0, v1 = self.v0, self.v1
        self.n += 1
        inv = z3.Function(f"Inv{self.n}", *[x.sort() for x in v0], z3.BoolSort())
        hs = z3.SolverFor("HORN")
        if self.options.timeout:
            hs.set("timeout", max(1, int(self.options.timeout * 1000)))
        hs.add(z3.ForAll(v0, z3.Implies(self.init, inv(*v0))))
        hs.add(z3.ForAll(v0 + v1 + [self.act],
                         z3.Implies(z3.And(inv(*v0), *self.c1, self.trans), inv(*v1))))
        hs.add(z3.ForAll(v0, z3.Implies(z3.And(inv(*v0), z3.Not(prop)), False)))
        hs.add(z3.ForAll(v0, z3.Implies(z3.And(inv(*v0), bad_step), False)))
        answer = hs.check()
        if answer == z3.unsat:
            return False, None, "violated"
        if answer != z3.sat:
            return None, None, f"{answer} ({hs.reason_unknown()})"
        cert = hs.model().eval(inv(*v0))
        cert1 = z3.substitute(cert, list(zip(v0, v1)))
        checked = _all_unsat((
            z3.And(self.init, z3.Not(cert)),                                  # initiation
            z3.And(cert, *self.c0, *self.c1, self.trans, z3.Not(cert1)),      # consecution
            z3.And(cert, *self.c0, z3.Not(prop)),                             # the property
            z3.And(cert, *self.c0, bad_step)))                                # asserts, errors
        if checked is False:
            raise ReplayMismatch("the invariant Z3's Spacer returned does not check")
        if checked is None:
            return None, None, "sat, but its invariant could not be checked (solver unknown)"
        return True, cert, "proved"


def _unsat(f) -> bool:
    s = z3.Solver()
    s.add(f)
    return s.check() == z3.unsat


def _all_unsat(formulas) -> bool | None:
    """True: every formula is unsatisfiable; False: one is satisfiable; None: the solver
    could not tell for one of them."""
    answers = []
    for f in formulas:
        s = z3.Solver()
        s.add(f)
        answers.append(s.check())
        if answers[-1] == z3.sat:
            return False
    return True if all(a == z3.unsat for a in answers) else None


def to_dsl(e, frame) -> str:
    """A Z3 formula over the leaves of a frame in the spec's expression syntax."""
    names = {str(x): _leaf_name(name) for name, (t, x) in frame.leaves.items()}
    leaf_type = {str(x): t for name, (t, x) in frame.leaves.items()}

    comparisons = (z3.Z3_OP_EQ, z3.Z3_OP_LE, z3.Z3_OP_GE, z3.Z3_OP_LT, z3.Z3_OP_GT,
                   z3.Z3_OP_NOT, z3.Z3_OP_IMPLIES)

    def operand(x) -> str:
        """An operand of a comparison: comparisons do not chain in the spec's syntax."""
        text = go(x)
        if z3.is_app(x) and x.decl().kind() in comparisons and not text.startswith("("):
            return f"({text})"
        return text

    def go(x) -> str:
        if z3.is_true(x):
            return "true"
        if z3.is_false(x):
            return "false"
        if z3.is_const(x) and str(x) in names:
            return names[str(x)]
        if z3.is_int_value(x):
            return str(x.as_long())
        if not z3.is_app(x):
            return f"<{x}>"
        k = x.decl().kind()
        args = x.children()
        if k == z3.Z3_OP_AND:
            return "(" + " and ".join(go(a) for a in args) + ")"
        if k == z3.Z3_OP_OR:
            return "(" + " or ".join(go(a) for a in args) + ")"
        if k == z3.Z3_OP_NOT:
            inner = go(args[0])
            return f"not {inner}" if inner.replace(".", "").replace("[", "").replace(
                "]", "").replace("_", "").isalnum() else f"not ({inner})"
        if k == z3.Z3_OP_IMPLIES:
            return f"({go(args[0])} => {go(args[1])})"
        if k in (z3.Z3_OP_EQ, z3.Z3_OP_LE, z3.Z3_OP_GE, z3.Z3_OP_LT, z3.Z3_OP_GT):
            a, b = args
            op = {z3.Z3_OP_EQ: "==", z3.Z3_OP_LE: "<=", z3.Z3_OP_GE: ">=",
                  z3.Z3_OP_LT: "<", z3.Z3_OP_GT: ">"}[k]
            # bit i of a set: 'x in s'
            if k == z3.Z3_OP_EQ and a.decl().kind() == z3.Z3_OP_EXTRACT and \
                    z3.is_bv_value(b) and str(a.children()[0]) in leaf_type:
                hi, lo = a.params()
                st = leaf_type[str(a.children()[0])]
                elem = f"{st.lo + lo} in {names[str(a.children()[0])]}"
                return elem if b.as_long() == 1 else f"not ({elem})"
            if z3.is_const(a) and str(a) in leaf_type:
                t = leaf_type[str(a)]
                if isinstance(t, ir.EnumT) and z3.is_int_value(b) and \
                        0 <= b.as_long() < len(t.members):
                    return f"{names[str(a)]} {op} {t.members[b.as_long()]}"
                if isinstance(t, ir.SetT) and z3.is_bv_value(b) and op == "==":
                    bits = b.as_long()
                    elems = [str(t.lo + i) for i in range(t.hi - t.lo + 1) if bits >> i & 1]
                    return f"{names[str(a)]} == {{{', '.join(elems)}}}"
            return f"{operand(a)} {op} {operand(b)}"
        if k in (z3.Z3_OP_ADD, z3.Z3_OP_SUB, z3.Z3_OP_MUL):
            op = {z3.Z3_OP_ADD: " + ", z3.Z3_OP_SUB: " - ", z3.Z3_OP_MUL: " * "}[k]
            return "(" + op.join(go(a) for a in args) + ")"
        if k == z3.Z3_OP_UMINUS:
            return f"-{go(args[0])}"
        return f"<{x}>"  # outside the spec's syntax: Z3's own notation

    return go(z3.simplify(e))


def _leaf_name(name: str) -> str:
    """'lapic.irr@0[1]' -> 'lapic.irr[1]' (the frame suffix dropped)."""
    base, _, rest = name.partition("@")
    i = 0
    while i < len(rest) and rest[i].isdigit():
        i += 1
    return base + rest[i:]


class _Lost:
    """'lost P ~> Q' by BMC and PDR: a state at depth k where P holds (for some parameter
    values) is a candidate; Spacer then decides whether Q is reachable from it. If it is,
    the candidate is blocked and the next one tried; if not, the candidate is a stuck
    state, and the path to it a shortest counterexample. Spacer's proof that Q is
    unreachable (an inductive invariant over the successors of the candidate that
    excludes Q) is checked independently before the violation is reported."""

    MAX_CANDIDATES = 2000
    EXPLICIT_BUDGET = 20_000  # states searched concretely from a candidate before PDR

    def __init__(self, enc: Encoder, options: Options, cs: CompiledSystem):
        self.enc = enc
        self.cs = cs
        self.options = options
        self.trans = None  # the transition relation for PDR, encoded when first needed
        self.refuted: dict[str, list] = {}  # candidates that can reach the goal
        self.tried = 0
        self.why = ""

    def _encode(self) -> None:
        enc = self.enc
        self.f0, self.c0 = enc.frame(0)
        self.f1, self.c1 = enc.frame(1)
        self.v0 = [x for _, x in self.f0.leaves.values()]
        self.v1 = [x for _, x in self.f1.leaves.values()]
        steps = encode_steps(enc, self.f0, self.f1)
        self.act = z3.Int("lost_act")
        self.trans = z3.Or([z3.And(self.act == st.index, st.trans) for st in steps])

    def search(self, r: ir.Recoverable, fk: Frame, sat, solver):
        """None: no stuck state at this depth; 'unknown': gave up; else (model, params,
        reason)."""
        enc = self.enc
        params = [z3.Int(f"lost_{r.name}_{n}") for n, _ in r.params]
        env = {n: (z3.Int(f"lost_{r.name}_{n}") if not isinstance(t, ir.BoolT)
                   else z3.Bool(f"lost_{r.name}_{n}b")) for n, t in r.params}
        dom = [_range(t, env[n]) for n, t in r.params]
        pre = enc.expr(r.pre, fk.values, env, [], z3.BoolVal(True))
        leaves_k = [x for _, x in fk.leaves.values()]
        refuted = self.refuted.setdefault(r.name, [])
        blocked = [self._other(leaves_k, env, vals, pv) for vals, pv in refuted]
        del params
        while True:
            m = sat(pre, *dom, *blocked)
            if m is None:
                return None
            self.tried += 1
            if self.tried > self.MAX_CANDIDATES:
                self.why = (f"gave up after {self.MAX_CANDIDATES} candidate states "
                            "(every one can still reach the goal)")
                return "unknown"
            values = [m.eval(x, model_completion=True) for x in leaves_k]
            pvals = {n: m.eval(env[n], model_completion=True) for n, _ in r.params}
            concrete = tuple(z3.is_true(pvals[n]) if isinstance(t, ir.BoolT)
                             else pvals[n].as_long() for n, t in r.params)
            state = tuple(_decode(var.type, val, m)
                          for var, val in zip(enc.system.variables, fk.values))
            answer, seen = self._search(r, state, concrete)
            how = f"(all {seen} states reachable from it searched)"
            if answer is None:
                answer = self._reachable(r, values, pvals)
                how = ("(proved by PDR: an inductive invariant over its successors excludes "
                       "the goal; checked)")
            if answer is None:
                return "unknown"
            if answer:
                refuted.append((values, pvals))
                blocked.append(self._other(leaves_k, env, values, pvals))
                continue
            return m, concrete, how

    def _search(self, r: ir.Recoverable, state: tuple, params: tuple):
        """Whether the goal is reachable from `state`, by explicit search: (True/False,
        states seen), or (None, _) past the budget."""
        from checker.engines.graph import condition_functions
        cs = self.cs
        _, post = condition_functions(cs.compiler, r, params)
        start = cs.pack(state)
        seen, todo = {start}, deque([start])
        while todo:  # breadth first: a goal near the candidate is found at once
            t = todo.popleft()
            if post(t):
                return True, len(seen)
            for fn in cs.fire_fns:
                if fn is None:
                    continue
                try:
                    u = fn(t, [])
                except _RuntimeFault:
                    continue  # a step that hits a run-time error has no successor
                if u is not None and u not in seen:
                    if len(seen) >= self.EXPLICIT_BUDGET:
                        return None, len(seen)
                    seen.add(u)
                    todo.append(u)
        return False, len(seen)

    @staticmethod
    def _other(leaves, env, values, pvals):
        """Not this candidate (state and parameter values)."""
        return z3.Not(z3.And([x == v for x, v in zip(leaves, values)]
                             + [env[n] == v for n, v in pvals.items()]))

    def _reachable(self, r: ir.Recoverable, values, pvals) -> bool | None:
        """Whether r.post is reachable from the state `values` (frame-0 leaf order)."""
        if self.trans is None:
            self._encode()
        enc, v0, v1 = self.enc, self.v0, self.v1
        start = z3.And([x == v for x, v in zip(v0, values)])
        post = enc.expr(r.post, self.f0.values, pvals, [], z3.BoolVal(True))
        reach = z3.Function(f"Reach_{self.tried}", *[x.sort() for x in v0], z3.BoolSort())
        hs = z3.SolverFor("HORN")
        if self.options.timeout:
            hs.set("timeout", max(1, int(self.options.timeout * 1000)))
        hs.add(z3.ForAll(v0, z3.Implies(start, reach(*v0))))
        hs.add(z3.ForAll(v0 + v1 + [self.act],
                         z3.Implies(z3.And(reach(*v0), *self.c1, self.trans), reach(*v1))))
        hs.add(z3.ForAll(v0, z3.Implies(z3.And(reach(*v0), post), False)))
        answer = hs.check()
        if answer == z3.unsat:
            return True
        if answer != z3.sat:
            reason = hs.reason_unknown().splitlines()[0].rstrip(":")
            self.why = f"PDR gave no answer ({reason})"
            return None
        cert = hs.model().eval(reach(*v0))
        cert1 = z3.substitute(cert, list(zip(v0, v1)))
        checked = _all_unsat((z3.And(start, z3.Not(cert)),
                              z3.And(cert, *self.c0, *self.c1, self.trans, z3.Not(cert1)),
                              z3.And(cert, *self.c0, post)))
        if checked is False:
            raise ReplayMismatch("the invariant Z3's Spacer returned for 'lost' does not check")
        if checked is None:
            self.why = "PDR gave no answer (its proof could not be checked: solver unknown)"
            return None
        return False

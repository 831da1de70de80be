"""Exhaustive breadth-first exploration with shortest counterexamples.

Visited states live in a set of packed integers; the BFS queue is the list of
states in discovery order, and each state keeps its predecessor's index and the
rule instance that reached it, so a trace is rebuilt by walking back.
"""

from __future__ import annotations

import resource
import time
from array import array
from dataclasses import dataclass
from typing import Callable

from checker import ir
from checker.engines.codegen import _RuntimeFault
from checker.engines.compiled import CompiledSystem
from checker.result import PropertyResult, Result, Stats, Status, Step, Trace, Verdict, make_step


@dataclass
class Options:
    max_states: int | None = None
    timeout: float | None = None
    fail_fast: bool = False
    deadlock: bool | None = None  # None: as the spec says
    progress: Callable[[int, int, int, int, float], None] | None = None  # states, queue..
    profile: bool = False  # vector engine: time and new states per rule instance


@dataclass
class _Found:
    invariants: dict  # invariant index -> state index
    actions: dict  # action property index -> (state index, instance id)
    deadlock: int | None = None
    reached: dict = None  # reachable index -> state index


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except OSError:
        return 0


def stuck_reason(constant: dict, init: dict, n: int) -> str:
    """The end of a 'lost' reason: the leaves that keep a value other than their initial one
    in all n states reachable from the stuck state."""
    stuck = [f"{name}={v}" for name, v in constant.items() if init.get(name) != v]
    states = "the only state" if n == 1 else f"all {n} states"
    if not stuck:
        return f" ({n} state{'s' if n != 1 else ''} reachable from it)"
    shown = ", ".join(stuck[:8]) + (", ..." if len(stuck) > 8 else "")
    return f"; in {states} reachable from it: {shown}"


def check(system: ir.System, options: Options | None = None,
          compiled: CompiledSystem | None = None) -> Result:
    options = options or Options()
    if options.deadlock is not None and options.deadlock != system.deadlock:
        from dataclasses import replace
        system = replace(system, deadlock=options.deadlock)
    t0 = time.perf_counter()
    cs = compiled or CompiledSystem(system)
    compile_s = time.perf_counter() - t0
    return _Search(cs, options, compile_s).run()


class _Search:
    def __init__(self, cs: CompiledSystem, options: Options, compile_s: float):
        self.cs = cs
        self.system = cs.system
        self.options = options
        self.compile_s = compile_s
        self.found = _Found({}, {}, None, {})
        self.searching = [True] * len(cs.system.reachables)
        self.esrc, self.edst = array("i"), array("i")
        self.states: list[int] = []
        self.parent = array("i")
        self.via = array("i")

    # ---- violation callbacks (called from generated code, rarely) ----
    def on_inv(self, i: int, idx: int) -> None:
        if i not in self.found.invariants:
            self.found.invariants[i] = idx
            self._maybe_stop()

    def on_act(self, p: int, head: int, k: int) -> None:
        if p not in self.found.actions:
            self.found.actions[p] = (head, k)
            self._maybe_stop()

    def on_reach(self, i: int, idx: int) -> None:
        if i not in self.found.reached:
            self.found.reached[i] = idx
            self.searching[i] = False

    def on_dead(self, head: int) -> None:
        if self.found.deadlock is None:
            self.found.deadlock = head
            self._maybe_stop()

    def _maybe_stop(self) -> None:
        if self.options.fail_fast:
            from checker.engines.compiled import StopSearch
            raise StopSearch("stopped")

    # ---- the search ----
    def run(self) -> Result:
        cs, opts = self.cs, self.options
        init = cs.pack(tuple(v.init for v in self.system.variables))
        rss0 = _current_rss_bytes()
        start = time.perf_counter()
        deadline = start + opts.timeout if opts.timeout else None
        self.states.append(init)
        self.parent.append(-1)
        self.via.append(-1)
        seen = {init: 0} if cs.graph else {init}
        init_fault = None
        try:
            for i in cs.failed_invariants(init):
                self.found.invariants[i] = 0
            for i, fn in enumerate(cs.reach_fns):
                if fn(init):
                    self.on_reach(i, 0)
        except _RuntimeFault as fault:
            fault.head = 0
            init_fault = fault
        limit = opts.max_states if opts.max_states else 1 << 62
        timed_out = False

        def hook(head, n, ntr, depth):
            nonlocal timed_out
            now = time.perf_counter()
            if opts.progress:
                opts.progress(n, n - head, ntr, depth, now - start)
            if deadline and now > deadline:
                timed_out = True
                return True
            return False

        status, message = Status.COMPLETE, None
        fault_state = None
        if init_fault is not None:
            ntr, depth, status_s = 0, 0, "fault"
            fault_state = init_fault
        elif opts.fail_fast and self.found.invariants:
            ntr, depth, status_s = 0, 0, "stopped"
        else:
            try:
                _, ntr, depth, _, status_s = cs.explore_fn(
                    self.states, seen, self.parent, self.via, 0, 0, -1, 0, limit, hook,
                    self.on_inv, self.on_act, self.on_dead, self.on_reach, self.searching,
                    self.esrc, self.edst)
            except _RuntimeFault as fault:
                ntr, depth, status_s = fault.ntr, fault.depth, "fault"
                fault_state = fault
        seconds = time.perf_counter() - start
        if status_s == "state-limit":
            status = Status.STATE_LIMIT
        elif status_s == "hook":
            status = Status.TIMEOUT if timed_out else Status.INTERRUPTED
        elif status_s == "interrupted":
            status = Status.INTERRUPTED
        elif status_s == "stopped":
            status = Status.STOPPED
        elif status_s == "fault":
            status = Status.MODEL_ERROR
        complete = status == Status.COMPLETE
        rss1 = _current_rss_bytes()
        n = len(self.states)
        stats = Stats(states=n, transitions=ntr, depth=max(depth, 0), seconds=seconds,
                      peak_rss_mb=_rss_mb(), compile_seconds=self.compile_s,
                      bytes_per_state=(rss1 - rss0) / n if n >= 50000 and rss1 > rss0 else None)
        props = self._property_results(complete)
        if fault_state is not None:
            props.append(self._fault_result(fault_state))
            message = props[-1].reason
        stats.peak_rss_mb = _rss_mb()  # the analyses after the search count too
        if opts.progress:
            opts.progress(n, 0, ntr, stats.depth, seconds)
        return Result(self.system.name, "explicit", self.system, props, stats, status, message,
                      {n: ir.json_value(t, v) for n, t, v in self.system.constants})

    # ---- results and traces ----
    def _property_results(self, complete: bool) -> list[PropertyResult]:
        out = []
        open_verdict = Verdict.HOLDS if complete else Verdict.UNKNOWN
        for i, inv in enumerate(self.system.invariants):
            if i in self.found.invariants:
                trace = self.trace_to(self.found.invariants[i])
                out.append(PropertyResult(inv.name, "invariant", Verdict.VIOLATED, trace,
                                          f"invariant '{inv.name}' is false in the last state",
                                          pclass=inv.pclass))
            else:
                out.append(PropertyResult(inv.name, "invariant", open_verdict,
                                          pclass=inv.pclass))
        for p, act in enumerate(self.system.actions):
            if p in self.found.actions:
                head, k = self.found.actions[p]
                trace = self.trace_with_step(head, k)
                out.append(PropertyResult(
                    act.name, "action", Verdict.VIOLATED, trace,
                    f"assert '{act.name}' fails in the last step ({trace.steps[-1].label})",
                    pclass=act.pclass))
            else:
                out.append(PropertyResult(act.name, "action", open_verdict, pclass=act.pclass))
        out += self._recoverable_results(complete)
        for i, r in enumerate(self.system.reachables):
            if i in self.found.reached:
                out.append(PropertyResult(r.name, "reachable", Verdict.HOLDS,
                                          self.trace_to(self.found.reached[i]),
                                          f"witness: '{r.name}' holds in the last state"))
            elif complete:
                out.append(PropertyResult(r.name, "reachable", Verdict.VIOLATED, None,
                                          f"unreachable: no reachable state satisfies "
                                          f"'{r.name}'"))
            else:
                out.append(PropertyResult(r.name, "reachable", Verdict.UNKNOWN))
        if self.system.deadlock:
            if self.found.deadlock is not None:
                out.append(PropertyResult("deadlock", "deadlock", Verdict.VIOLATED,
                                          self.trace_to(self.found.deadlock),
                                          "no rule is enabled in the last state"))
            else:
                out.append(PropertyResult("deadlock", "deadlock", open_verdict))
        return out

    def _recoverable_results(self, complete: bool) -> list[PropertyResult]:
        from checker.engines import graph
        out = []
        if not self.system.recoverables:
            return out
        src, dst = graph.edges_as_arrays(self.esrc, self.edst)
        reverse = None
        for prop in self.system.recoverables:
            if not complete:
                out.append(PropertyResult(prop.name, "lost", Verdict.UNKNOWN,
                                          pclass=prop.pclass))
                continue
            if reverse is None:
                reverse = graph.Reverse(src, dst, len(self.states))
            stuck = graph.first_stuck(self.cs.compiler, prop, self.states, src, dst, reverse)
            if stuck is None:
                out.append(PropertyResult(prop.name, "lost", Verdict.HOLDS, pclass=prop.pclass))
                continue
            trace = self.trace_to(stuck.index)
            params = ", ".join(f"{n}={ir.format_value(t, v)}"
                               for (n, t), v in zip(prop.params, stuck.params))
            head = f"{prop.name}({params})" if params else prop.name
            reason = (f"{head}: from the last state no continuation reaches the goal"
                      + self._stuck_reason(stuck.index, src, dst))
            out.append(PropertyResult(prop.name, "lost", Verdict.VIOLATED, trace, reason,
                                      pclass=prop.pclass,
                                      params=tuple((n, v) for (n, _), v in
                                                   zip(prop.params, stuck.params))))
        return out

    def _stuck_reason(self, idx: int, src, dst) -> str:
        """What never changes again after the stuck state (and differs from the start)."""
        from checker.engines import graph
        from checker.report.values import leaves
        closure = graph.forward_closure(idx, src, dst)
        first = dict(leaves(self.system, self.cs.unpack(self.states[idx])))
        init = dict(leaves(self.system, self.cs.unpack(self.states[0])))
        constant = dict(first)
        for j in closure:
            for n, v in leaves(self.system, self.cs.unpack(self.states[j])):
                if constant.get(n) != v:
                    constant.pop(n, None)
            if not constant:
                break
        return stuck_reason(constant, init, len(closure))

    def _fault_result(self, fault: _RuntimeFault) -> PropertyResult:
        """The run-time error as a violation: in a rule of the state being expanded, or
        in an invariant evaluated on one of its successors (or on the initial state)."""
        message, span = self.cs.runtime_message(fault)
        where = f" at {span}" if span else ""
        src = self.states[fault.head]
        if fault.head == 0 and len(self.states) == 1:
            inv = self._faulting_invariant(src)
            if inv is not None:
                return PropertyResult("runtime_error", "runtime", Verdict.VIOLATED,
                                      self.trace_to(0), f"evaluating '{inv}' in the "
                                      f"initial state: {message}{where}")
        for k in range(len(self.cs.instances)):
            try:
                succ, _ = self.cs.fire(k, src)
            except _RuntimeFault:
                trace = self.trace_with_step(fault.head, k, faulty=True)
                return PropertyResult("runtime_error", "runtime", Verdict.VIOLATED, trace,
                                      f"{trace.steps[-1].label}: {message}{where}",
                                      faulty_step=True)
            inv = self._faulting_invariant(succ) if succ is not None else None
            if inv is not None:
                trace = self.trace_with_step(fault.head, k)
                return PropertyResult("runtime_error", "runtime", Verdict.VIOLATED, trace,
                                      f"evaluating '{inv}' in the last state: "
                                      f"{message}{where}")
        return PropertyResult("runtime_error", "runtime", Verdict.VIOLATED, None, message)

    def _faulting_invariant(self, packed: int) -> str | None:
        """The invariant or reachable property whose evaluation faults in a state."""
        props = list(self.system.invariants) + list(self.system.reachables)
        for prop, fn in zip(props, self.cs.inv_fns + self.cs.reach_fns):
            try:
                fn(packed)
            except _RuntimeFault:
                return prop.name
        return None

    def _step(self, k: int | None, packed: int) -> Step:
        state = self.cs.unpack(packed)
        if k is None or k < 0:
            return make_step(None, (), state)
        inst = self.cs.instances[k]
        return make_step(inst.rule, inst.params, state, inst.rule_index)

    def trace_to(self, idx: int) -> Trace:
        chain = []
        while idx >= 0:
            chain.append(idx)
            idx = self.parent[idx]
        chain.reverse()
        return Trace(tuple(self._step(self.via[i], self.states[i]) for i in chain))

    def trace_with_step(self, head: int, k: int, faulty: bool = False) -> Trace:
        base = self.trace_to(head)
        if faulty:  # the step raised: show it with the state it started from
            return Trace(base.steps + (self._fault_step(k, base.steps[-1].state),))
        try:
            succ, _ = self.cs.fire(k, self.states[head])
        except _RuntimeFault:  # the assert failed in a step that then hit a run-time error
            return Trace(base.steps + (self._fault_step(k, base.steps[-1].state),))
        return Trace(base.steps + (self._step(k, succ),))

    def _fault_step(self, k: int, state: tuple) -> Step:
        inst = self.cs.instances[k]
        return make_step(inst.rule, inst.params, state, inst.rule_index)

"""Conformance: the model and the real KVM driven by the same actions, compared at every
step.

The spec must instantiate the KVM models (`routing`, `pin[...]`, `lapic[...]`,
`vcpu[...]` of models/). Its own device rules are not used: the harness is the
environment. Conformance adds two rules to the spec (CONFORM_RULES) for the host's
KVM_IRQ_LINE_STATUS and the guest's IOAPIC writes, and classifies every rule instance:

- driven: a harness action does it (a line, a guest CLI/STI/HLT/TPR write/IOAPIC write);
- silent: KVM or the CPU does it inside an ioctl or a KVM_RUN (VM entry and exit,
  injection, delivery, the handler's EOI and IRET, the IOAPIC's EOI walk);
- unused: what the harness cannot do (the spec's own devices, userspace's KVM_RUN loop
  features the configuration switches off).

The model is nondeterministic where KVM is not (when the vCPU exits, when the IOAPIC's
deferred work runs), so the model side is a set of states: every state the model can be
in, given what KVM showed so far. A step applies the driven action to each, closes the
set under silent rules (a delivery only where KVM delivered that vector, in that order,
on that vCPU), and keeps the states whose observables equal KVM's. An empty set is a
divergence: KVM did something no behaviour of the model does.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from pathlib import Path

from checker import ir
from checker.diagnostics import Diagnostic, SourceCache, sort_key
from checker.engines.codegen import _RuntimeFault
from checker.engines.compiled import CompiledSystem
from checker.ir_eval import initial_state
from checker.lang.loader import load_spec
from checker.lang.parser import parse
from checker.lang.resolve import resolve

CONFORM_FILE = "<conformance rules>"
CONFORM_RULES = """
// ---- added by irqcheck conform: the harness's host and guest actions ----
@kvm("kvm_vm_ioctl_irq_line (KVM_IRQ_LINE_STATUS)")
rule conform_irq_line(g: Gsi, lvl: bool) { routing.irq_line_status(g, lvl) }

@kvm("ioapic_mmio_write -> ioapic_write_indirect (guest MMIO)")
rule conform_write_mask(c: Cpu, p: Pin, m: bool)
    when vcpu[c].can_run() and vcpu[c].depth == 0 and pin[p].redir.mask != m {
  pin[p].write_low(pin[p].redir.vector, pin[p].redir.delivery_mode, pin[p].redir.dest_mode,
                   pin[p].redir.trigger, m)
  vcpu[c].exit_handled()
}
"""

# rule name -> how the harness does it
GUEST_RULES = {"vcpu.cli": "cli", "vcpu.sti": "sti", "vcpu.hlt": "hlt",
               "vcpu.write_tpr": "tpr"}
SILENT_RULES = {"ioapic.eoi_relock", "ioapic.eoi_inject_work", "vcpu.enter", "vcpu.vm_exit",
                "vcpu.interrupt_window_exit", "vcpu.wake", "vcpu.deliver_event",
                "vcpu.next_instruction", "vcpu.eoi", "vcpu.iret", "run.kvm_run"}
DELIVER = "vcpu.deliver_event"
NEEDED = ("routing.status", "pin.redir", "pin.irr", "lapic.irr", "lapic.isr", "lapic.tmr",
          "lapic.tpr", "vcpu.mode", "vcpu.depth", "vcpu.nr", "vcpu.nr_lapic", "vcpu.injected",
          "vcpu.rflags_if")
STATUS = {"delivered": 1, "coalesced": 0, "ignored": -1}


class ConformError(Exception):
    """The spec cannot be held against KVM (it does not use the KVM models)."""


@dataclass(frozen=True)
class Profile:
    """What a backend lets us compare: hard observables, and the known differences."""

    backend: str
    hard: tuple[str, ...]
    known: tuple[str, ...]
    lazy_injection: bool = False  # an injected, not yet delivered vector is still in IRR
    window_exits: bool = True  # interrupt-window exits stop the guest before its next insn
    # divergences confined to these observables are this backend's known difference
    known_observables: tuple[str, ...] = ()

    def explains(self, d: Divergence) -> bool:
        if self.lazy_injection and d.late_choice:
            return True
        return bool(self.known_observables) and all(
            _observable_class(k) in self.known_observables for k in d.observables)


PROFILES = {
    "kvm_pvm": Profile("kvm_pvm", ("status", "irr", "remote_irr", "mask", "lapic.irr",
                                   "lapic.tmr", "lapic.tpr", "delivered", "halted"),
                       ("ISR and PPR: KVM EOIs an interrupt when it injects it (ISR is never "
                        "set), so they are not compared",
                        "the instant of injection: KVM injects at the next VM entry, which on "
                        "this backend comes with the next exit to userspace (one guest step "
                        "later than on VMX/SVM, e.g. after a TPR write or an IOAPIC unmask); "
                        "the vector stays in IRR meanwhile. The model's injected but not yet "
                        "delivered vector is therefore compared as part of IRR",
                        "no interrupt-window exits: after STI or the handler's IRET a pending "
                        "interrupt waits for the next exit, where VMX takes it before the next "
                        "guest instruction. The guest rules are checked without the model's "
                        "window-exit condition (the window exit stays possible, not forced)",
                        "which vector is injected: KVM picks the highest pending vector at the "
                        "entry where it injects; the model injects at the exit it re-enters "
                        "from at once (a TPR write, an IOAPIC write), so a vector raised in "
                        "between can overtake the one the model chose. Such a delivery "
                        "divergence is counted as this difference and the scenario restarts"),
                       lazy_injection=True, window_exits=False),
}
for _b in ("kvm_intel", "kvm_amd", "unknown"):
    PROFILES[_b] = Profile(_b, PROFILES["kvm_pvm"].hard + ("lapic.isr",), ())


def load_conform_system(spec: Path, consts: list[str], sources: SourceCache,
                        model_dirs: list[Path] | None = None):
    """The spec with the conformance rules added: (system, diagnostics)."""
    from checker.lang import parse_overrides
    overrides, diags = parse_overrides(consts)
    if diags:
        return None, diags
    modules, diags = load_spec(spec, sources, model_dirs)
    if diags:
        return None, sorted(diags, key=sort_key)
    names = {getattr(getattr(i, "name", None), "id", None) for m in modules for i in m.items}
    missing = [n for n in ("routing", "pin", "lapic", "vcpu") if n not in names]
    if missing:
        return None, [Diagnostic("E401", f"{spec}: conform needs the KVM models' instances; "
                                 f"the spec has no {', '.join(missing)}", None,
                                 "instantiate Routing, IoapicPin, Lapic and Vcpu of models/ as "
                                 "specs/kvm_x86.irq does")]
    sources.add(CONFORM_FILE, CONFORM_RULES)
    extra, diags = parse(CONFORM_RULES, CONFORM_FILE)
    if diags:
        return None, diags
    system, diags = resolve(modules + [extra], spec.stem, str(spec), overrides)
    return system, sorted(diags, key=sort_key)


@dataclass(frozen=True)
class Action:
    """One harness action: ('line', gsi, level), ('mask', cpu, pin, masked), or a guest
    step (cmd, cpu[, argument]) with cmd in cli, sti, hlt, tpr, nop."""

    kind: str
    args: tuple

    def __str__(self) -> str:
        if self.kind == "line":
            return f"KVM_IRQ_LINE_STATUS(gsi={self.args[0]}, level={int(self.args[1])})"
        if self.kind == "mask":
            c, p, m = self.args
            return f"vcpu{c}: IOAPIC write pin {p} {'mask' if m else 'unmask'}"
        if self.kind == "tpr":
            return f"vcpu{self.args[0]}: TPR := {self.args[1]:#x}"
        return f"vcpu{self.args[0]}: {self.kind}"


@dataclass
class Divergence:
    step: int  # 1-based, in the scenario
    action: Action
    observables: dict  # name -> (KVM value, the model's nearest value)
    scenario: list[Action] = field(default_factory=list)
    # KVM delivered a vector other than the one the model had already injected (at an
    # exit the model enters the guest from at once), which was also pending
    late_choice: bool = False

    def key(self) -> tuple:
        return tuple(sorted(self.observables))

    def describe(self) -> str:
        diffs = "; ".join(f"{n}: KVM {_show(k)}, model {_show(m)}"
                          for n, (k, m) in sorted(self.observables.items()))
        return f"step {self.step} ({self.action}): {diffs}"


def _show(v) -> str:
    if isinstance(v, (set, frozenset)):
        return "{" + ", ".join(f"{x:#x}" for x in sorted(v)) + "}"
    if isinstance(v, tuple):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    return str(v)


GUEST_GUARDS = ("vcpu.cli", "vcpu.sti", "vcpu.hlt", "vcpu.write_tpr", "vcpu.next_instruction",
                "vcpu.eoi", "vcpu.iret", "conform_write_mask")


def without_window_exits(system: ir.System) -> ir.System:
    """The system whose guest instructions do not wait for a due interrupt-window exit:
    `vcpu.win_exiting` reads as false in their guards (the exit itself stays possible)."""
    names = [v.name for v in system.variables]
    if "vcpu.win_exiting" not in names:
        return system
    vi = names.index("vcpu.win_exiting")
    t = system.variables[vi].type
    off = ir.Const(t, tuple(False for _ in ir.domain_values(t.index)))
    rules = tuple(dataclasses.replace(r, guard=_subst(r.guard, vi, off))
                  if r.name in GUEST_GUARDS else r for r in system.rules)
    return dataclasses.replace(system, rules=rules)


def _subst(e: ir.Expr, vi: int, by: ir.Expr) -> ir.Expr:
    match e:
        case ir.VarRef(var=i) if i == vi:
            return by
        case ir.Index(base=b, index=x):
            return dataclasses.replace(e, base=_subst(b, vi, by), index=_subst(x, vi, by))
        case ir.Field(base=b):
            return dataclasses.replace(e, base=_subst(b, vi, by))
        case ir.Unary(arg=a):
            return dataclasses.replace(e, arg=_subst(a, vi, by))
        case ir.Binary(left=a, right=b):
            return dataclasses.replace(e, left=_subst(a, vi, by), right=_subst(b, vi, by))
        case ir.Ite(cond=c, then=a, els=b):
            return dataclasses.replace(e, cond=_subst(c, vi, by), then=_subst(a, vi, by),
                                       els=_subst(b, vi, by))
        case ir.Quant(body=b):
            return dataclasses.replace(e, body=_subst(b, vi, by))
        case ir.SetLit(elems=xs):
            return dataclasses.replace(e, elems=tuple(_subst(x, vi, by) for x in xs))
        case ir.Builtin(args=xs):
            return dataclasses.replace(e, args=tuple(_subst(x, vi, by) for x in xs))
        case ir.RecordLit(values=xs):
            return dataclasses.replace(e, values=tuple(_subst(x, vi, by) for x in xs))
    return e


class Model:
    """The model side: the compiled spec, its rule classes and observables."""

    def __init__(self, system: ir.System, profile: Profile | None = None):
        if profile is not None and not profile.window_exits:
            system = without_window_exits(system)
        self.system = system
        self.cs = CompiledSystem(system)
        self.var = {v.name: i for i, v in enumerate(system.variables)}
        missing = [n for n in NEEDED if n not in self.var]
        if missing:
            raise ConformError(f"the spec has no {', '.join(missing)}")
        self.vt = {v.name: v.type for v in system.variables}
        self.ncpu = len(ir.domain_values(self.vt["lapic.irr"].index))
        self.npin = len(ir.domain_values(self.vt["pin.irr"].index))
        status_t = self.vt["routing.status"]
        self.status_code = {i: STATUS.get(m) for i, m in enumerate(status_t.members)}
        fields = [n for n, _ in self.vt["pin.redir"].elem.fields]
        self.redir_field = {n: i for i, n in enumerate(fields)}
        enums = {n: t for n, t in self.vt["pin.redir"].elem.fields if isinstance(t, ir.EnumT)}
        self.enum_names = {n: t.members for n, t in enums.items()}
        mode_t = self.vt["vcpu.mode"].elem
        self.halted = mode_t.members.index("halted")
        self.silent: list[int] = []
        self.deliver: dict[int, int] = {}  # instance -> cpu
        self.driven: dict[tuple, int] = {}  # action key -> instance
        self.unused: list[str] = []
        for k, inst in enumerate(self.cs.instances):
            name, params = inst.rule.name, inst.params
            if name == DELIVER:
                self.deliver[k] = params[0]
                self.silent.append(k)
            elif name in SILENT_RULES:
                self.silent.append(k)
            elif name == "conform_irq_line":
                self.driven[("line", params[0], bool(params[1]))] = k
            elif name == "conform_write_mask":
                self.driven[("mask", params[0], params[1], bool(params[2]))] = k
            elif name in GUEST_RULES:
                cmd = GUEST_RULES[name]
                self.driven[(cmd, *params[:1], *(bool(x) for x in params[1:]))] = k
            else:
                self.unused.append(name)
        self.unused = sorted(set(self.unused))
        self.tpr_high = self._tpr_high()
        self._obs_cache: dict[int, dict] = {}

    def _tpr_high(self) -> int:
        """The TPR value of write_tpr(high=true), read off the rule by firing it."""
        zero = (0,) * self.ncpu
        start = self.closure({(self.cs.pack(self.initial()), zero)}, None)
        for key, k in self.driven.items():
            if key[0] == "tpr" and key[2]:
                for s, _ in start:
                    succ, _ = self.cs.fire(k, s)
                    if succ is not None:
                        return self.cs.unpack(succ)[self.var["lapic.tpr"]][key[1]]
        return 0

    def initial(self) -> tuple:
        return initial_state(self.system)

    def redirection(self, state: tuple) -> list[dict]:
        out = []
        for rec in state[self.var["pin.redir"]]:
            d = {n: rec[i] for n, i in self.redir_field.items()}
            for n, members in self.enum_names.items():
                d[n] = members[d[n]]
            out.append(d)
        return out

    def observe(self, packed: int) -> dict:
        o = self._obs_cache.get(packed)
        if o is None:
            st = self.cs.unpack(packed)
            v = self.var
            o = {"status": self.status_code.get(st[v["routing.status"]])}
            for p, rec in enumerate(st[v["pin.redir"]]):
                o[f"pin[{p}].irr"] = bool(st[v["pin.irr"]][p])
                o[f"pin[{p}].remote_irr"] = bool(rec[self.redir_field["remote_irr"]])
                o[f"pin[{p}].mask"] = bool(rec[self.redir_field["mask"]])
                o[f"pin[{p}].edge"] = self.enum_names["trigger"][
                    rec[self.redir_field["trigger"]]] == "edge"
            for c in range(self.ncpu):
                irr = frozenset(st[v["lapic.irr"]][c])
                o[f"lapic[{c}].irr"] = irr
                o[f"lapic[{c}].isr"] = frozenset(st[v["lapic.isr"]][c])
                injected = st[v["vcpu.injected"]][c] and st[v["vcpu.nr_lapic"]][c]
                o[f"lapic[{c}].irr+injected"] = irr | {st[v["vcpu.nr"]][c]} if injected else irr
                o[f"lapic[{c}].tmr"] = frozenset(st[v["lapic.tmr"]][c])
                o[f"lapic[{c}].tpr"] = st[v["lapic.tpr"]][c]
                o[f"vcpu[{c}].halted"] = st[v["vcpu.mode"]][c] == self.halted
                o[f"vcpu[{c}].depth"] = st[v["vcpu.depth"]][c]
            if len(self._obs_cache) > 200_000:
                self._obs_cache.clear()
            self._obs_cache[packed] = o
        return o

    def closure(self, states: set, observed: tuple | None) -> set:
        """Every (state, consumed) reachable by silent rules. `observed` gives per vCPU the
        vectors KVM delivered, in order; a delivery must be the next of them (None: no
        delivery is allowed)."""
        seen = set(states)
        todo = list(states)
        vec = self.var["vcpu.nr"]
        while todo:
            packed, used = todo.pop()
            for k in self.silent:
                c = self.deliver.get(k)
                try:
                    succ, _ = self.cs.fire(k, packed)
                except _RuntimeFault:
                    continue
                if succ is None:
                    continue
                nu = used
                if c is not None:
                    if observed is None:
                        continue
                    n = used[c]
                    v = self.cs.unpack(packed)[vec][c]
                    if n >= len(observed[c]) or observed[c][n] != v:
                        continue
                    nu = used[:c] + (n + 1,) + used[c + 1:]
                item = (succ, nu)
                if item not in seen:
                    seen.add(item)
                    todo.append(item)
        return seen


class Lockstep:
    """The model's possible states and the machine, stepped together."""

    MAX_BELIEF = 20_000

    def __init__(self, model: Model, machine, profile: Profile, tracer=None):
        self.model = model
        self.m = machine
        self.profile = profile
        self.tracer = tracer  # KVM's tracepoints, checked against the model per step
        self.trace_problems: list[str] = []
        self.traced_events = 0
        self.belief: set[int] = set()
        self.scenario: list[Action] = []
        self.delivered = 0

    # ---- set-up ----
    def start(self) -> Divergence | None:
        """Reset KVM to the model's initial state: redirection entries as the model has
        them, lines low, every guest with IF=1 (the model's guests start with it)."""
        m, model = self.m, self.model
        m.reset()
        m.set_handler_eoi(1)
        init = model.initial()
        for p, r in enumerate(model.redirection(init)):
            m.set_redir(p, r["vector"], trigger=r["trigger"], mask=bool(r["mask"]),
                        dest=r["dest"], dest_mode=r["dest_mode"],
                        delivery_mode=0 if r["delivery_mode"] == "fixed" else 1)
        for c in range(model.ncpu):
            if init[model.var["vcpu.rflags_if"]][c]:
                m.step(c, "sti")
                m.step(c, "nop")  # past the STI shadow
        self.scenario = []
        if self.tracer is not None:
            self.tracer.clear()
        zero = (0,) * model.ncpu
        start = model.closure({(model.cs.pack(init), zero)}, None)
        self.belief = {s for s, _ in start}
        return self._filter(start, Action("start", (0,)), None, m.snapshot())

    # ---- the actions KVM and the model can both take now ----
    def actions(self) -> list[Action]:
        out = []
        model = self.model
        halted = [self.m.is_halted(c) for c in range(model.ncpu)]
        for key, k in sorted(model.driven.items(), key=lambda kv: repr(kv[0])):
            kind = key[0]
            if kind != "line" and halted[key[1]]:
                continue
            if not any(model.cs.fire(k, s)[0] is not None for s in self.belief):
                continue
            if kind == "line":
                out.append(Action("line", (key[1], key[2])))
            elif kind == "mask":
                out.append(Action("mask", key[1:]))
            elif kind == "tpr":
                out.append(Action("tpr", (key[1], model.tpr_high if key[2] else 0)))
            else:
                out.append(Action(kind, (key[1],)))
        for c in range(model.ncpu):  # a guest step with no model rule: NOP (or resume)
            out.append(Action("nop", (c,)))
        return out

    def _driven_instance(self, a: Action) -> int | None:
        model = self.model
        if a.kind == "line":
            return model.driven[("line", a.args[0], bool(a.args[1]))]
        if a.kind == "mask":
            return model.driven[("mask", *a.args)]
        if a.kind == "tpr":
            return model.driven[("tpr", a.args[0], a.args[1] != 0)]
        if a.kind == "nop":
            return None
        return model.driven[(a.kind, a.args[0])]

    # ---- one step ----
    def do(self, a: Action) -> Divergence | None:
        m, model = self.m, self.model
        self.scenario.append(a)
        observed = [()] * model.ncpu
        status = None
        if a.kind == "line":
            status = m.irq_line(a.args[0], a.args[1])
        elif a.kind == "mask":
            c, p, masked = a.args
            r = m.snapshot().redir[p]
            from checker.kvm.machine import redir_low
            low = redir_low(r.vector, trigger=r.trigger, mask=masked, dest_mode=r.dest_mode,
                            delivery_mode=r.delivery_mode)
            observed[c] = m.step(c, "ioapic_write", (p << 32) | low)
        elif a.kind == "tpr":
            observed[a.args[0]] = m.step(a.args[0], "tpr", a.args[1])
        else:
            observed[a.args[0]] = m.step(a.args[0], a.kind)
        observed = tuple(observed)
        self.delivered += sum(len(x) for x in observed)
        if self.tracer is not None:
            self._check_trace(a, status, observed, self.tracer.read())
        snap = m.snapshot()
        zero = (0,) * model.ncpu
        before = model.closure({(s, zero) for s in self.belief}, observed)
        k = self._driven_instance(a)
        if k is None:
            after = before
        else:
            fired = set()
            for s, used in before:
                try:
                    succ, _ = model.cs.fire(k, s)
                except _RuntimeFault:
                    continue
                if succ is not None:
                    fired.add((succ, used))
            after = model.closure(fired, observed) if fired else set()
            if not after:
                return Divergence(len(self.scenario), a,
                                  {"action": ("done", "not possible in any state the model "
                                              "can be in")}, list(self.scenario))
        return self._filter(after, a, status, snap, observed)

    def _check_trace(self, a: Action, status, observed, events) -> None:
        """KVM's tracepoints of this step against the model's prediction:
        - a line action: one kvm_set_irq(gsi, level, source 0); one kvm_ioapic_set_irq of
          its pin, with the model's vector, trigger and mask, '(coalesced)' exactly when
          the status is 0; a kvm_apic_accept_irq at every destination of the model's
          redirection entry when the line rose and the status is 1, none otherwise;
        - a guest step: one kvm_eoi per delivered vector (on that vCPU), no other."""
        self.traced_events += len(events)
        model = self.model
        where = f"step {len(self.scenario)} ({a})"
        state = model.cs.unpack(min(self.belief))
        if a.kind == "line":
            g, lvl = a.args
            r = model.redirection(state)[g]
            names = [e.name for e in events]
            sets = [e for e in events if e.name == "kvm_set_irq"]
            ios = [e for e in events if e.name == "kvm_ioapic_set_irq"]
            accepts = sorted((e.fields["apicid"], e.fields["vec"]) for e in events
                             if e.name == "kvm_apic_accept_irq")
            if len(sets) != 1 or sets[0].fields != {"gsi": g, "level": int(lvl), "source": 0}:
                self.trace_problems.append(f"{where}: kvm_set_irq events {sets}")
            if len(ios) != 1:
                self.trace_problems.append(f"{where}: {len(ios)} kvm_ioapic_set_irq events")
            else:
                f = ios[0].fields
                want = {"pin": g, "vec": r["vector"], "trigger": r["trigger"],
                        "masked": bool(r["mask"]), "coalesced": status == 0}
                got = {k: f[k] for k in want}
                if got != want:
                    self.trace_problems.append(f"{where}: kvm_ioapic_set_irq {got}, "
                                               f"model {want}")
            dests = [c for c in range(model.ncpu)
                     if (r["dest"] >> c & 1 if r["dest_mode"] == "logical" else r["dest"] == c)]
            want_acc = sorted((c, r["vector"]) for c in dests) if lvl and status == 1 else []
            if accepts != want_acc:
                self.trace_problems.append(f"{where}: kvm_apic_accept_irq {accepts}, model "
                                           f"{want_acc} (events: {', '.join(names)})")
        else:
            c = a.args[0]
            eois = sorted(e.fields["vector"] for e in events
                          if e.name == "kvm_eoi" and e.fields["vector"] >= 0)
            wrong = [e for e in events if e.name == "kvm_eoi" and e.fields["apicid"] != c]
            if eois != sorted(observed[c]) or wrong:
                self.trace_problems.append(f"{where}: kvm_eoi of {eois}, delivered "
                                           f"{list(observed[c])}")

    def _late_choice(self, observed) -> bool:
        return _late_choice_in(self.model, self.belief, observed)

    def _kvm_observables(self, snap, status) -> dict:
        o = {"status": status}
        for p in range(self.model.npin):
            r = snap.redir[p]
            o[f"pin[{p}].irr"] = bool(snap.ioapic_irr >> p & 1)
            o[f"pin[{p}].remote_irr"] = bool(r.remote_irr)
            o[f"pin[{p}].mask"] = bool(r.mask)
        for c in range(self.model.ncpu):
            cs = snap.cpus[c]
            o[f"lapic[{c}].irr"] = frozenset(cs.irr)
            o[f"lapic[{c}].tmr"] = frozenset(cs.tmr)
            if "lapic.isr" in self.profile.hard:
                o[f"lapic[{c}].isr"] = frozenset(cs.isr)
            o[f"lapic[{c}].tpr"] = cs.tpr
            o[f"vcpu[{c}].halted"] = bool(cs.halted)
            o[f"vcpu[{c}].depth"] = 0  # the harness's handler always returns within a step
        return o

    def _filter(self, states: set, a: Action, status, snap, observed=None) -> Divergence | None:
        model = self.model
        want = self._kvm_observables(snap, status)
        if status is None:
            want.pop("status")
        n = model.ncpu
        total = tuple(len(observed[c]) for c in range(n)) if observed else (0,) * n
        keep, best, best_diff = set(), None, None
        for s, used in states:
            if used != total:
                continue
            o = model.observe(s)
            if self.profile.lazy_injection:
                o = {**o, **{f"lapic[{c}].irr": o[f"lapic[{c}].irr+injected"]
                             for c in range(n)}}
            diff = [k for k, v in want.items() if o[k] != v and not _abstracted(k, v, o)]
            if not diff:
                keep.add(s)
            elif best_diff is None or len(diff) < len(best_diff):
                best, best_diff = o, diff
        if keep:
            if len(keep) > self.MAX_BELIEF:
                keep = set(sorted(keep)[:self.MAX_BELIEF])
            self.belief = keep
            return None
        if best is None:  # no model state delivers what KVM delivered
            return Divergence(len(self.scenario), a,
                              {"delivered": (observed, "no such delivery sequence")},
                              list(self.scenario), self._late_choice(observed))
        return Divergence(len(self.scenario), a, {k: (want[k], best[k]) for k in best_diff},
                          list(self.scenario))


def _late_choice_in(model: Model, belief, observed) -> bool:
    v = model.var
    for s in belief:
        st = model.cs.unpack(s)
        for c, seq in enumerate(observed or ()):
            if seq and st[v["vcpu.injected"]][c] and st[v["vcpu.nr"]][c] != seq[0] \
                    and seq[0] in st[v["lapic.irr"]][c]:
                return True
    return False


def _abstracted(name: str, kvm, o: dict) -> bool:
    """Where the model abstracts from what KVM reports: KVM_GET_IRQCHIP clears the irr bit
    of an edge pin once it has been delivered (irr_delivered, kvm_get_ioapic), which the
    model does not track; for an edge pin only KVM's irr=1 must be the model's."""
    if name.endswith("].irr") and name.startswith("pin["):
        return not kvm and o[name[:-len("irr")] + "edge"]
    return False


def _observable_class(name: str) -> str:
    """'pin[1].remote_irr' -> 'remote_irr', 'lapic[0].irr' -> 'lapic.irr'."""
    base, _, member = name.partition("].")
    if not member:
        return name
    comp = base.split("[")[0]
    return member if comp == "pin" else f"{comp}.{member}"


# ---- a seeded random walk, with shrinking ----
@dataclass
class Summary:
    backend: str
    steps: int = 0
    scenarios: int = 0
    divergences: list[Divergence] = field(default_factory=list)  # unexplained
    by_observable: dict[str, int] = field(default_factory=dict)
    known: int = 0  # divergences explained by the backend profile
    known_examples: list[Divergence] = field(default_factory=list)
    actions: dict[str, int] = field(default_factory=dict)
    deliveries: int = 0
    belief_max: int = 0
    trace_events: int = 0  # KVM tracepoints checked (--trace)
    trace_problems: list[str] = field(default_factory=list)


def run_scenario(ls: Lockstep, actions: list[Action]) -> Divergence | None:
    d = ls.start()
    if d is not None:
        return d
    for a in actions:
        if a not in ls.actions():
            return None  # not possible any more (shrinking removed what enabled it)
        d = ls.do(a)
        if d is not None:
            return d
    return None


def shrink(ls: Lockstep, d: Divergence) -> Divergence:
    """A shorter scenario with a divergence in the same observables (greedy: drop one
    action at a time while it still diverges)."""
    best = d
    acts = list(d.scenario)
    i = len(acts) - 1
    while i >= 0:
        trial = acts[:i] + acts[i + 1:]
        r = run_scenario(ls, trial)
        if r is not None and r.key() == best.key():
            acts, best = trial, r
            best.scenario = list(trial[:r.step])
        i -= 1
    return best


def conform(model: Model, machine, profile: Profile, steps: int, seed: int,
            walk: int = 40, on_step=None, tracer=None) -> Summary:
    rng = random.Random(seed)
    ls = Lockstep(model, machine, profile, tracer)
    summary = Summary(profile.backend)
    seen_keys: set = set()
    while summary.steps < steps:
        summary.scenarios += 1
        d = ls.start()
        n = 0
        while d is None and n < walk and summary.steps < steps:
            acts = ls.actions()
            kinds = sorted({x.kind for x in acts})  # each kind equally likely, then its
            kind = rng.choice(kinds)                # parameters
            a = rng.choice([x for x in acts if x.kind == kind])
            d = ls.do(a)
            n += 1
            summary.steps += 1
            summary.belief_max = max(summary.belief_max, len(ls.belief))
            summary.actions[a.kind] = summary.actions.get(a.kind, 0) + 1
            if on_step:
                on_step(summary)
        if d is not None and profile.explains(d):
            summary.known += 1
            if len(summary.known_examples) < 3:
                summary.known_examples.append(d)
        elif d is not None:
            for k in {_observable_class(x) for x in d.observables}:
                summary.by_observable[k] = summary.by_observable.get(k, 0) + 1
            if d.key() not in seen_keys:
                seen_keys.add(d.key())
                tracer_was, ls.tracer = ls.tracer, None  # shrinking re-runs: not traced
                summary.divergences.append(shrink(ls, d))
                ls.tracer = tracer_was
    summary.deliveries = ls.delivered
    summary.trace_events = ls.traced_events
    summary.trace_problems = ls.trace_problems
    return summary

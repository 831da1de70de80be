"""Counterexamples on the real KVM: a model trace mapped to harness actions.

A binding says, for one spec, how the harness is set up, which harness action each of
the spec's rules is (or that KVM does it by itself, inside the previous action), which
state variable of the spec is which KVM observable, and how to check the violation on
KVM at the end. `replay_on_kvm` runs a trace with it and answers: confirmed (KVM shows
the violation), refuted (it does not; with the first step where KVM and the model
differ), or cannot run (a step has no mapping).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from checker import ir

Obs = Callable[[object], object]  # Snapshot -> value


@dataclass(frozen=True)
class Observable:
    var: str  # the spec's variable (an array element as 'irr[1]')
    kvm: Obs
    hard: bool = True  # compared strictly on every backend
    why_soft: str = ""


@dataclass(frozen=True)
class Binding:
    spec: str  # the spec's file stem
    description: str
    setup: Callable  # (machine) -> None
    rules: dict  # rule name -> (machine, params) -> tuple of delivered vectors, or None
    observables: tuple[Observable, ...]
    # after the trace: (machine) -> (violation shows on KVM, what was seen)
    final: Callable
    ncpu: int = 1


@dataclass
class KvmStep:
    index: int
    label: str
    action: str
    delivered: tuple = ()
    differences: list[str] = field(default_factory=list)  # hard observables
    known: list[str] = field(default_factory=list)  # soft ones (backend differences)


@dataclass
class KvmReplay:
    outcome: str  # 'confirmed' | 'refuted' | 'cannot run'
    message: str
    steps: list[KvmStep] = field(default_factory=list)
    backend: str = ""

    @property
    def first_difference(self) -> KvmStep | None:
        return next((s for s in self.steps if s.differences), None)


# ---- b01_eoi_first_match: EOI matched to the first pin with the vector ----
B01_PINS = (16, 17)  # the spec's pins 0 (old, masked) and 1 (live); IOAPIC-only GSIs
B01_V = 0x30


def _b01_setup(m) -> None:
    m.set_handler_eoi(0)  # the spec's guest EOIs in a step of its own
    m.set_redir(B01_PINS[0], B01_V, trigger="level", mask=True, dest=0)
    m.set_redir(B01_PINS[1], B01_V, trigger="level", mask=False, dest=0)
    m.step(0, "sti")
    m.step(0, "nop")


def _b01_final(m) -> tuple[bool, str]:
    """The interrupt of the last raise is lost if the guest, running with IF=1 and EOIing
    whatever it handles, never gets vector V again."""
    for k in range(8):
        got = m.step(0, "eoi" if k % 2 else "nop")
        if B01_V in got:
            return False, (f"KVM delivers vector {B01_V:#x} in guest step {k + 1} after the "
                           "trace: the interrupt is not lost")
    snap = m.snapshot()
    rirr = snap.redir[B01_PINS[1]].remote_irr
    return True, (f"vector {B01_V:#x} is not delivered in 8 guest steps after the trace "
                  f"(pin {B01_PINS[1]} remote_irr={int(rirr)})")


def _pin_irr(pin: int) -> Obs:
    return lambda s: bool(s.ioapic_irr >> pin & 1)


def _lapic_has(reg: str, v: int) -> Obs:
    return lambda s: v in getattr(s.cpus[0], reg)


B01 = Binding(
    spec="b01_eoi_first_match",
    description=(f"pins 0 and 1 of the spec are IOAPIC pins {B01_PINS[0]} and {B01_PINS[1]} "
                 f"(level, vector {B01_V:#x}, physical destination 0; pin 0 masked); the "
                 "device's line is KVM_IRQ_LINE_STATUS on GSI 17; the guest runs with IF=1 "
                 "and its handler does not EOI (the spec's eoi rule is the guest's EOI "
                 "step)"),
    setup=_b01_setup,
    rules={
        "raise": lambda m, p: (m.irq_line(B01_PINS[1], True), ())[1],
        "inject": lambda m, p: m.step(0, "nop"),  # KVM injects at the next entry
        "device_ack": lambda m, p: (m.irq_line(B01_PINS[1], False), ())[1],
        "eoi": lambda m, p: m.step(0, "eoi"),
    },
    observables=(
        Observable("irr[0]", _pin_irr(B01_PINS[0])),
        Observable("irr[1]", _pin_irr(B01_PINS[1])),
        Observable("rirr[0]", lambda s: bool(s.redir[B01_PINS[0]].remote_irr)),
        Observable("rirr[1]", lambda s: bool(s.redir[B01_PINS[1]].remote_irr)),
        Observable("mask[0]", lambda s: bool(s.redir[B01_PINS[0]].mask)),
        Observable("mask[1]", lambda s: bool(s.redir[B01_PINS[1]].mask)),
        Observable("lirr", _lapic_has("irr", B01_V)),
        Observable("isr", _lapic_has("isr", B01_V), hard=False,
                   why_soft="kvm_pvm EOIs at injection: ISR is never set"),
    ),
    final=_b01_final,
)

BINDINGS = {b.spec: b for b in (B01,)}

# where an observable is only a backend difference
SOFT_ON = {"kvm_pvm": True}


def _leaf(system: ir.System, state: tuple, name: str):
    base, _, idx = name.partition("[")
    i = [v.name for v in system.variables].index(base)
    value = state[i]
    if idx:
        t = system.variables[i].type
        value = value[ir.index_offset(t.index, int(idx.rstrip("]")))]
    return value


def replay_on_kvm(system: ir.System, states: list[tuple], metas: list[dict], machine,
                  backend: str) -> KvmReplay:
    """Run a (model-replayed) trace on KVM with the spec's binding."""
    binding = BINDINGS.get(system.name)
    if binding is None:
        return KvmReplay("cannot run", f"no KVM binding for spec '{system.name}' (bindings: "
                         f"{', '.join(sorted(BINDINGS))})", backend=backend)
    labels = [(i, md.get("rule"), md.get("action") or md.get("rule"))
              for i, md in enumerate(metas) if i > 0]
    for i, rule, label in labels:
        if rule not in binding.rules:
            return KvmReplay("cannot run", f"step {i} ({label}) has no mapping to a harness "
                             f"action (mapped rules: {', '.join(binding.rules)})",
                             backend=backend)
    machine.reset()
    binding.setup(machine)
    out = KvmReplay("", "", backend=backend)
    soft = SOFT_ON.get(backend, False)
    for (i, rule, label), state in zip(labels, states[1:]):
        params = tuple(metas[i].get("params", {}).values())
        delivered = binding.rules[rule](machine, params) or ()
        snap = machine.snapshot()
        step = KvmStep(i, label, rule, tuple(delivered))
        for ob in binding.observables:
            want, got = _leaf(system, state, ob.var), ob.kvm(snap)
            if bool(want) != bool(got) if isinstance(want, bool) else want != got:
                text = f"{ob.var}: model {_fmt(want)}, KVM {_fmt(got)}"
                if ob.hard or not soft:
                    step.differences.append(text)
                else:
                    step.known.append(f"{text} ({ob.why_soft})")
        out.steps.append(step)
    shows, seen = binding.final(machine)
    first = out.first_difference
    where = (f"; the first step where KVM and the model differ is {first.index} "
             f"({first.label}): {'; '.join(first.differences)}" if first else
             "; KVM and the model agree on every step of the trace")
    out.outcome = "confirmed" if shows else "refuted"
    out.message = seen + where
    return out


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)

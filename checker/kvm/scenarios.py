"""The 18 acceptance scenarios (kvm-unit-tests.md section 7) run on the real KVM.

Each scenario scripts the kvm-unit-tests program behind it on a `Machine` and compares what
KVM does with what the model expects; the expectations are written next to each script,
with the spec file (`specs/scenarios/sNN_*.irq`) and the property they come from.

How a kvm-unit-tests program maps onto the harness:

* `set_irq_line(l, v)` is an OUT to QEMU's pc-testdev, i.e. `KVM_IRQ_LINE` while the vCPU
  is out in userspace. Here the host calls `irq_line` while the vCPU is parked on its
  command IN, so "the first boundary after the asserting OUT completes" is the boundary
  after that IN: the label `dispatch`.
* A handler's own `set_irq_line` / `ioapic_read_redir` / `apic_read` run in the
  `on_deliver` hook, at the handler's `out 0xE0` exit, before its EOI.
* `ioapic_set_redir` / `set_mask` are guest MMIO writes (the `ioapic_write` command) where
  the test's semantics depend on it, host `KVM_SET_IRQCHIP` writes otherwise.
* `apic_self_ipi(v)` is a Fixed MSI to APIC ID 0 (`KVM_SIGNAL_MSI`).

A difference explained by a known property of the kvm_pvm backend (EOI at injection, lazy
injection; see docs/conformance.md, "Backends") is still "differ": its detail
names the observable, what was seen and expected, and the backend property behind it.
"""

from __future__ import annotations

import errno
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from .machine import Delivery, KvmUnavailable, Machine, redir_low

# ======================================================================================
# Results
# ======================================================================================

OUTCOMES = ("agree", "differ", "n/a")

QUIRKS = {
    "eoi": "EOI at injection (KVM EOIs each interrupt as it injects it and ISR stays empty, so "
    "a level line still high is re-serviced before the handler runs)",
    "lazy": "lazy injection (an interrupt that becomes deliverable while the guest runs waits "
    "for the next VM entry, after the next exit to userspace)",
}


@dataclass(frozen=True)
class ScenarioResult:
    number: int
    name: str
    outcome: str  # "agree" | "differ" | "n/a"
    detail: str


@dataclass(frozen=True)
class _Diff:
    observable: str
    seen: object
    expected: object
    quirk: str | None


@dataclass
class Comparison:
    """The model's expectations against KVM's observations, for one scenario."""

    backend: str
    checked: list[str] = field(default_factory=list)
    diffs: list[_Diff] = field(default_factory=list)

    def expect(self, observable: str, seen, expected, *, quirk: str | None = None) -> None:
        """Record one comparison; `quirk` names the known backend property that explains a
        difference on kvm_pvm (it is reported only there)."""
        self.checked.append(observable)
        if seen != expected:
            self.diffs.append(_Diff(observable, seen, expected, quirk))

    def result(self, summary: str) -> tuple[str, str]:
        if not self.diffs:
            return "agree", summary
        parts = [
            f"{d.observable}: seen {_show(d.seen)}, expected {_show(d.expected)}"
            for d in self.diffs
        ]
        quirks = [d.quirk for d in self.diffs if d.quirk and self.backend == "kvm_pvm"]
        explained = all(d.quirk for d in self.diffs) and self.backend == "kvm_pvm"
        detail = "; ".join(parts) + "."
        if quirks:
            notes = "; ".join(QUIRKS[q] for q in dict.fromkeys(quirks))
            lead = "Known kvm_pvm backend difference" if explained else "In part known kvm_pvm"
            detail += f" {lead}: {notes}."
        return "differ", detail


def _show(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    if isinstance(value, frozenset | set):
        return "{" + ", ".join(_show(v) for v in sorted(value)) + "}"
    return str(value)


def vec(v: int) -> str:
    return f"{v:#04x}"


def vecs(seq) -> tuple[str, ...]:
    return tuple(vec(v) for v in seq)


def vec_set(seq) -> frozenset[str]:
    return frozenset(vec(v) for v in seq)


def where(m: Machine, d: Delivery) -> str:
    """The guest label at a delivery's interrupted IP (a `<cmd>.<insn>` label first)."""
    names = [n for n, a in m.guest.labels.items() if a == d.ip]
    return min(names, key=lambda n: ("." not in n, n)) if names else f"{d.ip:#x}"


def _when(steps: list[tuple[int, ...]], n: int, names: list[str]) -> str:
    """Which step holds the n-th delivery (0-based) of a run of steps: names[i] or later."""
    count = 0
    for i, got in enumerate(steps):
        count += len(got)
        if count > n:
            return names[min(i, len(names) - 1)]
    return "never"


def _expect_in_step(c, m: Machine, what: str, steps, d, n: int, names: list[str],
                    at: str) -> None:
    """The n-th delivery d[n] runs in the step names[0], at `at` (a backend that injects
    lazily runs it a step later: quirk 'lazy')."""
    c.expect(what, f"{_when(steps, n, names)} at {where(m, d[n])}", f"{names[0]} at {at}",
             quirk="lazy")


def _lower_in_handler(m: Machine, pin: int, vectors: set[int]) -> None:
    """The handler does set_irq_line(pin, 0) before its EOI (kvm-unit-tests' handlers)."""

    def hook(cpu: int, vector: int) -> None:
        if vector in vectors:
            m.irq_line(pin, 0)

    m.on_deliver = hook


def _steps(m: Machine, cpu: int, cmds) -> list[tuple[int, ...]]:
    return [m.step(cpu, c) for c in cmds]


def _flat(steps) -> tuple[int, ...]:
    return tuple(v for s in steps for v in s)


# ======================================================================================
# 1-5: IOAPIC edge, mask, level (x86/ioapic.c)
# ======================================================================================

PIN = 0x0E  # kvm-unit-tests' line; the PIC half of GSI 14 is masked (imr 0xFF, LVT0 masked)


def s01_edge_once(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s01_edge_once.irq (test_ioapic_edge_intr): toggle an edge line with
    IF=1 -> exactly one run of 0x76 (edge_delivered_at_most_once, edge_delivered_once), at
    the first boundary after the asserting exit (delivered_right_after_the_out)."""
    c = Comparison(m.backend)
    m.set_redir(PIN, 0x76)
    m.step(0, "sti")
    c.expect("KVM_IRQ_LINE_STATUS of the assert", m.irq_line(PIN, 1), 1)
    c.expect("status of the de-assert", m.irq_line(PIN, 0), 1)
    runs = _flat(_steps(m, 0, ["nop"] * 3))
    c.expect("handler runs", vecs(runs), (vec(0x76),))
    if runs:
        c.expect("first run interrupts", where(m, m.deliveries(0)[0]), "dispatch")
    return c.result("one run of 0x76, at the boundary right after the exit it was raised in")


def s02_edge_coalesced(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s02_edge_coalesced.irq: two asserts without a de-assert -> one
    delivery (edge_delivered_once); the second assert returns 0 (second_assert_coalesced),
    also when the first was delivered and EOI'd in between (eoied_before_second_assert)."""
    c = Comparison(m.backend)
    m.set_redir(PIN, 0x76)
    m.step(0, "sti")
    c.expect("status of the first assert", m.irq_line(PIN, 1), 1)
    first = m.step(0, "nop")
    c.expect("status of the second assert (line already high)", m.irq_line(PIN, 1), 0)
    runs = first + _flat(_steps(m, 0, ["nop"] * 2))
    c.expect("handler runs", vecs(runs), (vec(0x76),))
    return c.result("one run of 0x76; the second assert returned 0 (coalesced)")


def s03_masked_edge_dropped(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s03_masked_edge_dropped.irq (test_ioapic_edge_mask): an edge asserted
    and de-asserted while masked is dropped (masked_edge_dropped, masked_edge_in_irr), the
    guest's unmask does not replay it, a new assert is delivered once (new_edge_delivered)."""
    c = Comparison(m.backend)
    m.set_redir(PIN, 0x81)
    m.step(0, "sti")
    _lower_in_handler(m, PIN, {0x81})
    m.step(0, "ioapic_write", PIN << 32 | redir_low(0x81, mask=True))  # set_mask(0x0e, true)
    c.expect("status of the assert while masked", m.irq_line(PIN, 1), -1)
    snap = m.snapshot()
    c.expect("IOAPIC irr bit while masked and high", bool(snap.ioapic_irr >> PIN & 1), True)
    m.irq_line(PIN, 0)
    masked = _flat(_steps(m, 0, ["nop"]))
    m.step(0, "ioapic_write", PIN << 32 | redir_low(0x81))  # set_mask(0x0e, false)
    unmasked = _flat(_steps(m, 0, ["nop"] * 2))
    c.expect("runs while masked", vecs(masked), ())
    c.expect("runs after the unmask (no replay)", vecs(unmasked), ())
    m.irq_line(PIN, 1)
    after = _flat(_steps(m, 0, ["nop"] * 2))
    c.expect("runs after a new assert", vecs(after), (vec(0x81),))
    return c.result("masked edge dropped, not replayed by the unmask; the next edge runs once")


def s04_level_unmask_replays(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s04_level_unmask_replays.irq (test_ioapic_level_mask): a level line
    asserted while masked is not delivered (masked_level_not_delivered); the guest's unmask
    delivers it once (unmask_delivers, delivered_once) right after the IOWIN write
    (delivered_right_after_the_unmask); remote IRR clear at the end."""
    c = Comparison(m.backend)
    m.set_redir(PIN, 0x82, trigger="level")
    m.step(0, "sti")
    _lower_in_handler(m, PIN, {0x82})
    m.step(0, "ioapic_write", PIN << 32 | redir_low(0x82, trigger="level", mask=True))
    c.expect("status of the assert while masked", m.irq_line(PIN, 1), -1)
    masked = m.step(0, "nop")
    snap = m.snapshot()
    c.expect("runs while masked", vecs(masked), ())
    c.expect("LAPIC IRR while masked", vec_set(snap.cpus[0].irr), frozenset())
    steps = [m.step(0, "ioapic_write", PIN << 32 | redir_low(0x82, trigger="level"))]
    steps += _steps(m, 0, ["nop"] * 2)
    c.expect("runs after the unmask", vecs(_flat(steps)), (vec(0x82),), quirk="eoi")
    d = m.deliveries(0)
    c.expect(
        "first run",
        f"{_when(steps, 0, ['in the unmask step', 'a later step'])} at {where(m, d[0])}"
        if d
        else "none",
        "in the unmask step at ioapic_write.after",
        quirk="lazy",
    )
    c.expect("remote IRR at the end", m.snapshot().redir[PIN].remote_irr, False)
    return c.result("masked level held in the IOAPIC; the guest's unmask delivered it once")


def s05_remote_irr_gates(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s05_remote_irr_gates.irq (test_ioapic_level_coalesce): the handler
    lowers, re-asserts and lowers the line before its EOI. The re-assert is refused (-1,
    reassert_ignored) while remote IRR is set and the vector in service
    (reasserted_while_remote_irr); one run (delivered_once); remote IRR clear at the end."""
    c = Comparison(m.backend)
    seen: dict[str, object] = {}

    def handler(cpu: int, vector: int) -> None:
        if vector != 0x98 or seen:
            m.irq_line(PIN, 0)
            return
        snap = m.snapshot()
        seen["isr"] = vec_set(snap.cpus[0].isr)
        m.irq_line(PIN, 0)
        seen["remote_irr"] = m.snapshot().redir[PIN].remote_irr
        seen["reassert"] = m.irq_line(PIN, 1)
        m.irq_line(PIN, 0)

    m.set_redir(PIN, 0x98, trigger="level")
    m.step(0, "sti")
    m.on_deliver = handler
    c.expect("status of the assert", m.irq_line(PIN, 1), 1)
    runs = _flat(_steps(m, 0, ["nop"] * 3))
    c.expect("ISR in the handler", seen.get("isr"), vec_set({0x98}), quirk="eoi")
    c.expect("remote IRR in the handler", seen.get("remote_irr"), True)
    c.expect("status of the re-assert in the handler", seen.get("reassert"), -1)
    c.expect("handler runs", vecs(runs), (vec(0x98),), quirk="eoi")
    c.expect("remote IRR at the end", m.snapshot().redir[PIN].remote_irr, False)
    # the same gate with a handler that does not EOI and a line that stays high: no
    # redelivery before the EOI (B4/B5 of kvm-ioctl-harness.md), then one EOI ends it
    m.reset()
    m.set_redir(PIN, 0x98, trigger="level")
    m.set_handler_eoi(0)
    m.step(0, "sti")
    m.irq_line(PIN, 1)
    held = _flat(_steps(m, 0, ["nop"] * 3))
    # (a storm's exact length counts VM entries, which host interrupts can add)
    c.expect(
        "runs over 3 steps with the line high and no EOI",
        "once" if len(held) == 1 else "more than once" if held else "never",
        "once",
        quirk="eoi",
    )
    m.irq_line(PIN, 0)
    m.step(0, "eoi")
    c.expect("remote IRR after the guest's EOI", m.snapshot().redir[PIN].remote_irr, False)
    return c.result(
        "the re-assert was refused (-1) while remote IRR was set; one run; no redelivery "
        "before the EOI"
    )


# ======================================================================================
# 6-10: level EOI, reconfiguration, multicast, TMR
# ======================================================================================


def s06_level_eoi_redelivers(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s06_level_eoi_redelivers.irq (test_ioapic_level_retrigger): IF=0,
    assert a level line, loop `sti; hlt; cli`; the first handler EOIs with the line high,
    the second lowers it. Expected: exactly 2 runs (retriggered, at_most_two_deliveries),
    the second right at the first's IRET on the same interrupted RIP
    (redelivered_at_the_iret). The 10000-EOI storm back-off is not run (reset() cannot
    clear KVM's successive-EOI counter)."""
    c = Comparison(m.backend)
    count = [0]

    def handler(cpu: int, vector: int) -> None:
        if vector == 0x9A:
            count[0] += 1
            if count[0] == 2:
                m.irq_line(PIN, 0)

    m.set_redir(PIN, 0x9A, trigger="level")
    m.on_deliver = handler
    m.irq_line(PIN, 1)
    steps = []
    for _ in range(10):
        if count[0] >= 2:
            break
        steps += [m.step(0, "sti_hlt"), m.step(0, "cli")]
    steps += [m.step(0, "sti"), m.step(0, "nop")]  # sti; report(g_isr_9a == 2)
    c.expect("handler runs by the report", count[0], 2, quirk="eoi")
    d = m.deliveries(0)
    if len(d) >= 2:
        names = ["in the first run's step", "a later step"]
        _expect_in_step(c, m, "second run", steps, d, 1, names, where(m, d[0]))
    return c.result("the EOI with the line high re-delivered at once, at the IRET")


def s07_level_eoi_line_low(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s07_level_eoi_line_low.irq (test_ioapic_level_intr, then
    test_ioapic_level_sequential): handlers lower the line before the EOI, so each EOI
    clears remote IRR and re-services nothing (eoi_with_line_low): one run per assertion
    (one_delivery_per_assertion), 1 run of 0x77, then 2 of 0x99 after the guest rewrote the
    entry, remote IRR clear at both reports."""
    c = Comparison(m.backend)
    m.set_redir(PIN, 0x77, trigger="level")
    m.step(0, "sti")
    _lower_in_handler(m, PIN, {0x77, 0x99})
    m.irq_line(PIN, 1)
    first = _flat(_steps(m, 0, ["nop"] * 2))
    snap = m.snapshot()
    c.expect("runs of 0x77 by report 1", vecs(first), (vec(0x77),), quirk="eoi")
    c.expect("remote IRR at report 1", snap.redir[PIN].remote_irr, False)
    m.step(0, "ioapic_write", PIN << 32 | redir_low(0x99, trigger="level"))
    m.irq_line(PIN, 1)
    second = m.step(0, "nop")
    m.irq_line(PIN, 1)
    second += _flat(_steps(m, 0, ["nop"] * 2))
    c.expect("runs of 0x99 by report 2", vecs(second), (vec(0x99),) * 2, quirk="eoi")
    c.expect("remote IRR at report 2", m.snapshot().redir[PIN].remote_irr, False)
    return c.result("each EOI with the line low cleared remote IRR; one run per assertion")


def s08_self_reconfigure(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s08_self_reconfigure.irq (test_ioapic_self_reconfigure): pins 0x0d
    (0x64) and 0x0e (0x84), level, dest CPU0. 0x64's handler asserts 0x0e, then for each pin
    lowers the line, reads remote IRR (must be 1) and moves the entry to CPU1; then EOI.
    Expected: 0x84 only after 0x64's IRET, same interrupted RIP (higher_vector_waits_for_iret,
    same_interrupted_rip); each handler once; both remote IRRs clear at the end; nothing
    reaches CPU1. The entry rewrites are host KVM_SET_IRQCHIP writes here (the handler cannot
    do MMIO from the hook); both lines are low then, so nothing is re-injected."""
    c = Comparison(m.backend)
    pin_d, pin_e = 0x0D, 0x0E
    irr_seen: list[bool] = []

    def reconfigure(pin: int, vector: int) -> None:
        m.irq_line(pin, 0)
        irr_seen.append(m.snapshot().redir[pin].remote_irr)
        m.set_redir(pin, vector, trigger="level", dest=1)

    def handler(cpu: int, vector: int) -> None:
        if vector == 0x64 and not irr_seen:
            m.irq_line(pin_e, 1)
            reconfigure(pin_e, 0x84)
            reconfigure(pin_d, 0x64)

    for cpu in (0, 1):
        m.step(cpu, "sti")
    m.set_redir(pin_d, 0x64, trigger="level")
    m.set_redir(pin_e, 0x84, trigger="level")
    m.on_deliver = handler
    m.irq_line(pin_d, 1)
    steps = _steps(m, 0, ["nop"] * 3)
    cpu1 = _flat(_steps(m, 1, ["nop"] * 2))
    snap = m.snapshot()
    c.expect("'Reconfigure Remote IRR set' (both pins)", tuple(irr_seen), (True, True))
    c.expect("CPU0 runs", vecs(_flat(steps)), (vec(0x64), vec(0x84)), quirk="eoi")
    c.expect(
        "0x84 runs",
        "in 0x64's step" if 0x84 in steps[0] else "in a later step",
        "in 0x64's step",
        quirk="lazy",
    )
    c.expect("CPU1 runs", vecs(cpu1), ())
    c.expect(
        "remote IRR of 0x0d, 0x0e at the end",
        (snap.redir[pin_d].remote_irr, snap.redir[pin_e].remote_irr),
        (False, False),
    )
    return c.result("0x84 waited for 0x64's IRET; CPU0's EOIs cleared both remote IRRs")


def s09_multicast_level(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s09_multicast_level.irq (test_ioapic_logical_destination_mode): level
    0x86, logical dest 0x0d (flat LDRs 1 << cpu: CPUs 0, 2, 3), 4 vCPUs, the APs idle in
    `sti; hlt`. Each handler lowers the line and EOIs. Expected: one run on each matched vCPU
    (once_per_matched_vcpu, k_handler_runs = 3), nothing on CPU1
    (nothing_for_unmatched_vcpus), remote IRR clears (remote_irr_clears)."""
    c = Comparison(m.backend)
    m.step(0, "sti")
    for cpu in (1, 2, 3):
        m.step(cpu, "sti_hlt")  # times out: halted with IF=1
    m.set_redir(PIN, 0x86, trigger="level", dest=0x0D, dest_mode="logical")
    _lower_in_handler(m, PIN, {0x86})
    m.irq_line(PIN, 1)
    runs = [_flat(_steps(m, 0, ["nop"] * 2))]
    runs += [_flat(_steps(m, cpu, ["nop"] * 2)) for cpu in (1, 2, 3)]
    snap = m.snapshot()
    c.expect("runs per CPU 0..3", tuple(len(r) for r in runs), (1, 0, 1, 1), quirk="eoi")
    c.expect("CPU1 LAPIC IRR", vec_set(snap.cpus[1].irr), frozenset())
    c.expect("remote IRR at the end", snap.redir[PIN].remote_irr, False)
    return c.result("one run on each of CPUs 0, 2, 3 (woken from HLT), none on CPU1")


def s10_tmr(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s10_tmr.irq (test_ioapic_{edge,level}_tmr, in main()'s order): the
    guest programs pin 0x0e -> 0x79 edge/level; TMR[0x79] before: 0, 0, 1, 1
    (tmr_before_as_expected); inside the handler: 1 for level, 0 for edge
    (tmr_in_handler); one run per test (one_run_per_test)."""
    c = Comparison(m.backend)
    in_handler: dict[int, bool] = {}  # test index -> TMR[0x79] in its first handler run
    test = [0]

    def handler(cpu: int, vector: int) -> None:
        if vector == 0x79:
            in_handler.setdefault(test[0], 0x79 in m.snapshot().cpus[0].tmr)
            m.irq_line(PIN, 0)

    m.step(0, "sti")
    m.on_deliver = handler
    tests = [("edge", False), ("level", False), ("level", True), ("edge", True)]
    before, runs = [], []
    for i, (trig, _) in enumerate(tests):
        test[0] = i
        m.step(0, "ioapic_write", PIN << 32 | redir_low(0x79, trigger=trig))
        before.append(0x79 in m.snapshot().cpus[0].tmr)
        m.irq_line(PIN, 1)
        if trig == "edge":
            m.irq_line(PIN, 0)
        runs.append(len(_flat(_steps(m, 0, ["nop"] * 2))))
    c.expect("TMR[0x79] before each test", tuple(before), tuple(b for _, b in tests))
    c.expect(
        "TMR[0x79] in the handlers",
        tuple(in_handler.get(i) for i in range(4)),
        tuple(t == "level" for t, _ in tests),
    )
    c.expect("runs per test", tuple(runs), (1, 1, 1, 1), quirk="eoi")
    return c.result("TMR set by a level accept, cleared by an edge accept, sticky in between")


# ======================================================================================
# 11-13: priority, STI shadow, soft INT (x86/eventinj.c, x86/apic.c)
# ======================================================================================


def _self_ipi(m: Machine, vector: int) -> None:
    m.signal_msi(0, vector)


def s11_priority(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s11_priority.irq (eventinj "vec 32/33" then "TPR"). Part 1: IF=0,
    self-IPIs 32 and 33, `sti; nop; cli` -> 33 then 32, both inside that window
    (vec33_before_vec32, both_after_sti_nop). Part 2: TPR=0xf0, sti, IPIs 32 and 62,
    TPR=0x20 -> only 62 (tpr_honoured, tpr_20_lets_62_through); TPR=0 -> 32."""
    c = Comparison(m.backend)
    _self_ipi(m, 32)
    _self_ipi(m, 33)
    window = m.step(0, "sti_nop")
    later = _flat(_steps(m, 0, ["cli", "sti", "nop", "nop"]))  # then let the rest in
    c.expect("runs in the sti; nop window", vecs(window), (vec(33), vec(32)), quirk="lazy")
    c.expect("order", vecs(window + later), (vec(33), vec(32)))
    m.reset()
    m.step(0, "tpr", 0xF0)
    m.step(0, "sti")
    _self_ipi(m, 32)
    _self_ipi(m, 62)
    blocked = m.step(0, "nop")
    c.expect("runs with TPR=0xf0", vecs(blocked), ())
    tpr20 = m.step(0, "tpr", 0x20) + m.step(0, "nop")
    c.expect("runs after TPR=0x20", vecs(tpr20), (vec(62),))
    tpr0 = m.step(0, "tpr", 0) + m.step(0, "nop")
    c.expect("runs after TPR=0", vecs(tpr0), (vec(32),))
    return c.result("33 before 32; TPR 0xf0 held both, 0x20 let 62 through, 0 let 32 through")


def _nmi_after_sti_shadow(m: Machine, c, what: str) -> None:
    """An NMI queued while the vCPU is parked inside an STI shadow (sti_in) is taken right
    after the shadow's instruction."""
    m.reset()
    m.step(0, "sti_in")
    m.nmi(0)
    m.step(0, "nop")
    d = m.deliveries(0)
    c.expect(what, where(m, d[0]) if d else None, "sti_in.after")


def s12_sti_shadow(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s12_sti_shadow.irq: with an IRQ pending at `sti; X`, nothing is taken
    between STI and X (no_irq_right_after_sti); the IRQ comes at the boundary right after X
    (irq_pending_at_sti_taken_after_x, irq_after_nop / irq_after_hlt / irq_after_mmio_exit;
    here the exiting X is the parked IN), and KVM keeps the shadow across that exit
    (exit_inside_shadow_with_irq_pending). An NMI queued during that exit also comes after
    X (no_nmi_right_after_sti, nmi_after_x)."""
    c = Comparison(m.backend)
    for cmd, x in (("sti_nop", "nop"), ("sti_hlt", "hlt"), ("sti_in", "in")):
        m.reset()
        _self_ipi(m, 0x70)
        got = m.step(0, cmd)
        if cmd == "sti_in":
            c.expect("interrupt shadow at the exit on X", m.snapshot().cpus[0].shadow, 2)
        got += m.step(0, "nop")
        d = m.deliveries(0)
        at = where(m, d[0]) if d else None
        c.expect(f"X={x}: IRQ taken between STI and X", at == f"{cmd}.{x}", False)
        c.expect(f"X={x}: IRQ interrupts", at, f"{cmd}.after", quirk="lazy")
    _nmi_after_sti_shadow(m, c, "NMI queued in the exit on X interrupts")
    return c.result("no IRQ or NMI between STI and X; each came right after X")


def s13_soft_int_in_shadow(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s13_soft_int_in_shadow.irq (eventinj "vec 32/int $33"): IF=0, IRQ 32
    pending, `sti; int $33` -> 33's handler first (int33_before_irq32), once
    (int33_handled_once), then 32 right after the INT (irq32_after_int). The IDT/stack
    flush that forces re-injection of the INT cannot be reproduced here (see s14): only the
    ordering is checked."""
    c = Comparison(m.backend)
    _self_ipi(m, 32)
    steps = [m.step(0, "sti_int", 33), m.step(0, "nop")]
    d = m.deliveries(0)
    c.expect("order", vecs(v.vector for v in d), (vec(33), vec(32)))
    if len(d) == 2:
        c.expect("33 returns to", where(m, d[0]), "sti_int.after")
        names = ["in the sti; int step", "the next step"]
        _expect_in_step(c, m, "IRQ 32 runs", steps, d, 1, names, "sti_int.after")
    return c.result("INT 33 in the STI shadow ran before the pending IRQ 32")


def s14_reinjection(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s14_reinjection.irq: needs a VM exit during IRQ vectoring."""
    return "n/a", (
        "needs a VM exit during the delivery of an interrupt (eventinj flushes the IDT page: "
        "EPT violation while vectoring). On kvm_pvm the delivery happens inside KVM's "
        "instruction emulator, with no EPT/NPT, and the harness cannot drop a guest page"
        if m.backend == "kvm_pvm"
        else "needs a VM exit during the delivery of an interrupt (eventinj's IDT-page "
        "flush); the harness cannot drop a guest page from under the vCPU"
    )


# ======================================================================================
# 15-18: NMI, userspace window, I/O completion, nested
# ======================================================================================


def s15_nmi(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s15_nmi.irq. test_pending_nmi: the first NMI handler queues 10 more
    NMIs -> exactly 2 NMIs (at_most_two_nmis), the second after the first's IRET, never
    nested (nmi_blocked_until_iret), right at it on VMX. test_sti_nmi: an NMI is not taken
    in the STI shadow (no_nmi_right_after_sti). The faulting-IRET case needs a fault on the
    IRET's stack page and is not run. NMIs come from KVM_NMI (vector 2 through the IVT)."""
    c = Comparison(m.backend)
    first = [True]

    def handler(cpu: int, vector: int) -> None:
        if vector == 2 and first[0]:
            first[0] = False
            for _ in range(10):
                m.nmi(0)

    m.on_deliver = handler
    m.nmi(0)
    steps = _steps(m, 0, ["nop"] * 3)
    d = m.deliveries(0)
    c.expect("NMIs delivered", len(d), 2)
    handler_code = range(m.label("common"), m.label("main"))
    c.expect("a nested NMI (interrupting a handler)", any(x.ip in handler_code for x in d), False)
    if len(d) == 2:
        names = ["in the first NMI's step", "a later step"]
        _expect_in_step(c, m, "second NMI", steps, d, 1, names, where(m, d[0]))
    _nmi_after_sti_shadow(m, c, "NMI pending in the STI shadow interrupts")
    return c.result("one NMI latched while one was in service, delivered after the IRET")


def s16_userspace_window(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s16_userspace_window.irq, on a split irqchip (LAPIC in KVM, the
    ExtINT buffer filled with KVM_INTERRUPT): at every exit to userspace
    run->ready_for_interrupt_injection == IF and no shadow and the buffer empty
    (ready_iff_window_open; the exception and re-injection terms cannot be provoked here);
    one buffer only: a second KVM_INTERRUPT gets EEXIST (one_extint_buffer); with
    request_interrupt_window, KVM_EXIT_IRQ_WINDOW_OPEN comes once IF=1, and the ExtINT
    injected there is delivered (window_open_exit_then_delivered)."""
    c = Comparison(m.backend)
    m.set_handler_eoi(0)  # ExtINT does not touch ISR
    buffered = [0]
    bad = []

    def check(label: str) -> None:
        ready, if_flag = m.run_flags(0)
        cpu = m.snapshot().cpus[0]
        want = cpu.if_flag and not cpu.shadow and not buffered[0]
        if ready != want or if_flag != cpu.if_flag:
            bad.append(f"{label}: ready={int(ready)}")

    def step(cmd: str) -> tuple[int, ...]:
        got = m.step(0, cmd)
        if buffered[0] in got:
            buffered[0] = 0
        check(f"after {cmd}")
        return got

    for cmd in ("cli", "sti", "sti_in", "nop", "cli"):
        step(cmd)
    m.interrupt(0, 0x30)
    buffered[0] = 0x30
    try:
        m.interrupt(0, 0x31)
        second = "accepted"
    except OSError as e:
        second = errno.errorcode.get(e.errno, str(e.errno))
    c.expect("second KVM_INTERRUPT while one is buffered", second, "EEXIST")
    got = step("sti") + step("nop")
    c.expect("buffered ExtINT delivered after sti", vecs(got), (vec(0x30),))
    step("cli")
    opened = []

    def window(cpu: int) -> None:
        opened.append(m.run_flags(cpu))
        m.interrupt(cpu, 0x32)

    m.on_window = window
    m.request_interrupt_window(0, True)
    got = step("sti_hlt")
    c.expect("KVM_EXIT_IRQ_WINDOW_OPEN after sti (ready, if_flag)", tuple(opened), ((True, True),))
    c.expect("ExtINT injected at the window", vecs(got), (vec(0x32),))
    c.expect("exits where ready != (IF and no shadow and buffer empty)", tuple(bad), ())
    return c.result(
        "ready_for_interrupt_injection matched IF, shadow and the one-entry ExtINT buffer at "
        "every exit; the window-open exit came after sti; hlt (the exception and "
        "re-injection terms cannot be provoked here)"
    )


def s17_io_completion_first(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s17_io_completion_first.irq: an MSI (0x40) and an edge (pin 0x0e,
    0x76) raised by userspace while the vCPU is out on its IN are delivered only after the
    IN retired: interrupted RIP past the IN, its data in EAX (no_handler_inside_io,
    rax_loaded_after_in, msi_during_in_exit_after_in), each once."""
    c = Comparison(m.backend)
    m.set_redir(PIN, 0x76)
    m.step(0, "sti")
    m.signal_msi(0, 0x40)
    m.irq_line(PIN, 1)
    m.irq_line(PIN, 0)
    m.step(0, "nop")
    m.step(0, "nop")
    d = m.deliveries(0)
    c.expect("runs", vecs(x.vector for x in d), (vec(0x76), vec(0x40)))
    c.expect("interrupted RIPs", tuple(where(m, x) for x in d), ("dispatch", "dispatch"))
    c.expect(
        "AL at each interruption (the IN's data: nop = 1)",
        tuple(x.eax & 0xFF for x in d),
        (1, 1),
    )
    return c.result("both interrupts came after the IN retired, with its data in AL")


def s18_nested(m: Machine) -> tuple[str, str]:
    """specs/scenarios/s18_nested.irq: needs an L1 hypervisor (VMX/SVM) in the guest."""
    cpuid = m.guest_cpuid()
    vmx = any(f == 1 and c & 1 << 5 for f, _i, _a, _b, c, _d in cpuid)
    svm = any(f == 0x80000001 and c & 1 << 2 for f, _i, _a, _b, c, _d in cpuid)
    offered = "offers " + ("VMX" if vmx else "SVM") if vmx or svm else "offers neither VMX nor SVM"
    return "n/a", (
        f"needs nested virtualization: the backend ({m.backend}) {offered} to guests, and the "
        "harness guest is a real-mode interpreter, not an L1 hypervisor"
    )


# ======================================================================================
# Running them
# ======================================================================================


@dataclass(frozen=True)
class Scenario:
    number: int
    name: str
    ncpu: int
    irqchip: str
    run: Callable[[Machine], tuple[str, str]]


SCENARIOS = (
    Scenario(1, "Edge once", 1, "full", s01_edge_once),
    Scenario(2, "Edge coalesced", 1, "full", s02_edge_coalesced),
    Scenario(3, "Masked edge dropped", 1, "full", s03_masked_edge_dropped),
    Scenario(4, "Level unmask replays", 1, "full", s04_level_unmask_replays),
    Scenario(5, "Remote IRR gates", 1, "full", s05_remote_irr_gates),
    Scenario(6, "Level EOI with line high re-delivers", 1, "full", s06_level_eoi_redelivers),
    Scenario(7, "Level EOI with line low", 1, "full", s07_level_eoi_line_low),
    Scenario(8, "Self-reconfigure", 2, "full", s08_self_reconfigure),
    Scenario(9, "Multicast level", 4, "full", s09_multicast_level),
    Scenario(10, "TMR", 1, "full", s10_tmr),
    Scenario(11, "Priority", 1, "full", s11_priority),
    Scenario(12, "STI shadow", 1, "full", s12_sti_shadow),
    Scenario(13, "Soft INT in shadow beats pending IRQ", 1, "full", s13_soft_int_in_shadow),
    Scenario(14, "Re-injection, no duplicate", 1, "full", s14_reinjection),
    Scenario(15, "NMI", 1, "full", s15_nmi),
    Scenario(16, "Userspace window", 1, "split", s16_userspace_window),
    Scenario(17, "I/O completion first", 1, "full", s17_io_completion_first),
    Scenario(18, "Nested", 1, "full", s18_nested),
)


def run_all(
    machine_factory: Callable[..., Machine] = Machine, *, reuse: bool = True
) -> list[ScenarioResult]:
    """Run the 18 scenarios. `machine_factory(ncpu)` (and `machine_factory(1,
    irqchip="split")` for scenario 16) makes the machines; with `reuse`, one machine per
    shape is reused with reset() between scenarios, else each scenario gets a fresh one.
    run_all closes every machine it made."""
    machines: dict[tuple[int, str], Machine] = {}
    results = []
    try:
        for sc in SCENARIOS:
            if not reuse:
                for old in machines.values():
                    old.close()
                machines.clear()
            m = _machine(machines, machine_factory, sc)
            if isinstance(m, str):
                outcome, detail = "n/a", m
            else:
                outcome, detail = _majority(m, sc)
            results.append(ScenarioResult(sc.number, sc.name, outcome, detail))
    finally:
        for m in machines.values():
            m.close()
    return results


REPEATS = 3


def _majority(m: Machine, sc: Scenario) -> tuple[str, str]:
    """The most frequent of up to REPEATS runs (reset in between; two equal runs settle it).

    kvm_pvm injects a pending interrupt at any VM entry, and a host interrupt occasionally
    adds one inside a step (about once in 2000 scenario runs on a loaded host), which moves
    a lazily injected interrupt earlier. The majority is the backend's usual behaviour.
    """
    runs: Counter[tuple[str, str]] = Counter()
    for i in range(REPEATS):
        if i:
            m.reset()
        runs[sc.run(m)] += 1
        if runs.most_common(1)[0][1] >= 2:
            break
    return runs.most_common(1)[0][0]


def _machine(machines, factory, sc: Scenario) -> Machine | str:
    key = (sc.ncpu, sc.irqchip)
    if key in machines:
        machines[key].reset()
        return machines[key]
    try:
        m = factory(sc.ncpu) if sc.irqchip == "full" else factory(sc.ncpu, irqchip="split")
    except KvmUnavailable as e:
        if sc.irqchip == "full":
            raise
        return f"split irqchip not created: {e.reason}"
    machines[key] = m
    return m


def markdown_table(results: list[ScenarioResult]) -> str:
    """The results as the Markdown table of docs/conformance.md."""
    lines = ["| # | scenario | outcome | detail |", "|---|---|---|---|"]
    for r in results:
        detail = r.detail.replace("|", "\\|")
        lines.append(f"| {r.number} | {r.name} | {r.outcome} | {detail} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    try:
        results = run_all()
    except KvmUnavailable as e:
        print(f"KVM unavailable: {e.reason}", file=sys.stderr)
        return 2
    width = max(len(r.name) for r in results)
    for r in results:
        print(f"{r.number:>2}  {r.name:<{width}}  {r.outcome:<6}  {r.detail}")
    counts = {o: sum(r.outcome == o for r in results) for o in OUTCOMES}
    print(", ".join(f"{n} {o}" for o, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

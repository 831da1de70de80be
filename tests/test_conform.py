"""Conformance: the KVM models of specs/kvm_x86.irq held against the real KVM.

A Hypothesis state machine drives the model and /dev/kvm with the same random actions
and compares the observables after every step; a divergence fails the test and shrinks
to a minimal scenario. Without a usable /dev/kvm these tests skip, saying why."""

from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import ROOT
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from checker import conform as cf
from checker.cli import main
from checker.diagnostics import SourceCache
from checker.kvm import Machine, availability, detect_backend

SPEC = ROOT / "specs/kvm_x86.irq"
WHY = availability()
needs_kvm = pytest.mark.skipif(WHY is not None, reason=f"no usable KVM: {WHY}")


def model(profile):
    system, diags = cf.load_conform_system(SPEC, [], SourceCache())
    assert not diags
    return cf.Model(system, profile)


@pytest.fixture(scope="module")
def machine():
    with Machine(ncpu=2) as m:
        yield m


PROFILE = cf.PROFILES.get(detect_backend(), cf.PROFILES["unknown"]) if WHY is None else None


@needs_kvm
def test_lockstep_state_machine(machine):
    m = model(PROFILE)

    class Lockstep(RuleBasedStateMachine):
        @initialize()
        def start(self):
            self.ls = cf.Lockstep(m, machine, PROFILE)
            self.divergence = self.ls.start()

        @rule(data=st.data())
        def act(self, data):
            if self.divergence is not None:
                return
            a = data.draw(st.sampled_from(self.ls.actions()), label="action")
            self.divergence = self.ls.do(a)

        @invariant()
        def agree(self):
            d = self.divergence
            assert d is None or PROFILE.explains(d), \
                f"{d.describe()}\nscenario: " + "; ".join(map(str, d.scenario))

    Lockstep.TestCase.settings = settings(
        max_examples=40, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow])
    Lockstep.TestCase().runTest()


@needs_kvm
def test_a_wrong_backend_profile_diverges_and_shrinks(machine):
    """Held against kvm_pvm with the VMX profile (window exits forced, injection not lazy),
    the model must diverge: the comparison can fail. The scenario shrinks."""
    if detect_backend() != "kvm_pvm":
        pytest.skip("the VMX profile is the right one on this backend")
    summary = cf.conform(model(cf.PROFILES["kvm_intel"]), machine, cf.PROFILES["kvm_intel"],
                         steps=400, seed=3)
    assert summary.divergences
    assert min(len(d.scenario) for d in summary.divergences) <= 6


@needs_kvm
def test_conform_command_runs_clean(machine):
    r = CliRunner().invoke(main, ["conform", str(SPEC), "--steps", "1500", "--seed", "7"])
    assert r.exit_code == 0, r.output
    assert "1,500 steps" in r.output and "result: no unexplained divergence" in r.output
    assert f"against KVM ({detect_backend()})" in r.output


def test_conform_without_kvm_says_why(monkeypatch):
    monkeypatch.setattr("checker.kvm.availability", lambda: "/dev/kvm does not exist")
    r = CliRunner().invoke(main, ["conform", str(SPEC), "--steps", "1"])
    assert r.exit_code == 4
    assert "cannot run KVM: /dev/kvm does not exist" in r.output


def test_conform_needs_the_kvm_models(tmp_path):
    r = CliRunner().invoke(main, ["conform", str(ROOT / "specs/bench/bm1.irq")])
    assert r.exit_code == 2 and "conform needs the KVM models' instances" in r.output


def test_known_differences_are_listed_not_passed():
    p = cf.PROFILES["kvm_pvm"]
    assert "lapic.isr" not in p.hard and any("ISR" in k for k in p.known)
    assert "lapic.isr" in cf.PROFILES["kvm_intel"].hard


def test_model_rule_classes():
    m = model(cf.PROFILES["kvm_intel"])
    assert {"level_device", "vfio_intx", "write_mask"} <= set(m.unused)
    names = {m.cs.instances[k].rule.name for k in m.silent}
    assert {"vcpu.deliver_event", "vcpu.enter", "vcpu.eoi", "vcpu.iret"} <= names
    assert m.tpr_high == 0x30


assert Path(SPEC).exists()


def _b01_trace(tmp_path):
    out = tmp_path / "cx"
    r = CliRunner().invoke(main, ["check", str(ROOT / "specs/bugs/b01_eoi_first_match.irq"),
                                  "--out", str(out)])
    assert r.exit_code == 1
    return out / "no_lost_interrupt.itf.json"


@needs_kvm
def test_a_bug_counterexample_replayed_on_kvm_is_refuted(tmp_path):
    """B1 (EOI matched to the first pin with the vector, fixed in 2008): this kernel does
    not lose the interrupt, so the model's counterexample is refuted on KVM, with the
    first step where they differ."""
    r = CliRunner().invoke(main, ["replay", str(_b01_trace(tmp_path)),
                                  str(ROOT / "specs/bugs/b01_eoi_first_match.irq"), "--on-kvm"])
    assert r.exit_code == 1, r.output
    assert "refuted on KVM: KVM delivers vector 0x30" in r.output
    assert "the first step where KVM and the model differ is" in r.output


@needs_kvm
def test_a_trace_without_a_binding_cannot_run_on_kvm(tmp_path):
    spec = ROOT / "specs/bugs/b02_level_race.irq"
    out = tmp_path / "cx"
    CliRunner().invoke(main, ["check", str(spec), "--out", str(out)])
    r = CliRunner().invoke(main, ["replay", str(out / "no_lost_interrupt.itf.json"), str(spec),
                                  "--on-kvm"])
    assert r.exit_code == 3, r.output
    assert "cannot run on KVM: no KVM binding for spec 'b02_level_race'" in r.output


def test_replay_on_kvm_maps_every_step_or_says_which(tmp_path):
    from checker.kvm.bindings import replay_on_kvm
    from checker.lang import load_system
    system, _ = load_system(ROOT / "specs/bugs/b01_eoi_first_match.irq")
    metas = [{}, {"rule": "raise", "action": "raise"}, {"rule": "teleport", "action": "teleport"}]
    r = replay_on_kvm(system, [(), (), ()], metas, machine=None, backend="kvm_pvm")
    assert r.outcome == "cannot run" and "step 2 (teleport) has no mapping" in r.message


@needs_kvm
def test_a_seeded_model_bug_is_found_and_shrunk(tmp_path):
    """The IOAPIC model made to report a second rising edge as delivered (KVM: coalesced,
    status 0): conform finds it and shrinks it to the two KVM_IRQ_LINE_STATUS calls."""
    import shutil
    shutil.copy(SPEC, tmp_path / "kvm_x86.irq")
    shutil.copytree(ROOT / "models", tmp_path / "models")
    ioapic = tmp_path / "models" / "ioapic.irq"
    text = ioapic.read_text()
    bad = text.replace("else if redir.trigger == edge and irr then coalesced",
                       "else if redir.trigger == edge and irr then delivered")
    assert bad != text
    ioapic.write_text(bad)
    r = CliRunner().invoke(main, ["conform", str(tmp_path / "kvm_x86.irq"), "--steps", "600",
                                  "--seed", "1"])
    assert r.exit_code == 1, r.output
    assert "status: KVM 0, model 1" in r.output
    scenario = r.output.split("minimal scenario (from reset):")[1].split("\n\n")[0]
    assert [x.strip() for x in scenario.strip().splitlines()] == [
        "1  KVM_IRQ_LINE_STATUS(gsi=0, level=1)", "2  KVM_IRQ_LINE_STATUS(gsi=0, level=1)"]


def test_tracepoint_lines_parse():
    from checker.kvm.tracing import parse
    e = parse("  python3-81  [001] ..... 77.1: kvm_ioapic_set_irq: pin 1 dst 1 vec 63 "
              "(Fixed|logical|level|masked) (coalesced)")
    assert e.fields == {"pin": 1, "dst": 1, "vec": 63, "dest_mode": "logical",
                        "trigger": "level", "masked": True, "coalesced": True}
    assert parse("x-1 [000] .... 1.0: kvm_set_irq: gsi 17 level 0 source 0").fields == \
        {"gsi": 17, "level": 0, "source": 0}
    assert parse("x-1 [000] .... 1.0: kvm_apic_accept_irq: apicid 1 vec 64 (Fixed|edge)") \
        .fields == {"apicid": 1, "vec": 64, "trigger": "edge"}
    assert parse("x-1 [000] .... 1.0: kvm_eoi: apicid 0 vector -1").fields == \
        {"apicid": 0, "vector": -1}
    assert parse("# tracer: nop") is None


def _tracer_or_skip():
    from checker.kvm.tracing import Tracer, TraceUnavailable
    try:
        return Tracer()
    except TraceUnavailable as err:
        pytest.skip(f"no tracefs: {err.reason}")


@needs_kvm
def test_tracepoints_agree_with_the_model(machine):
    """KVM's kvm_set_irq / kvm_ioapic_set_irq / kvm_apic_accept_irq / kvm_eoi events of
    every step are the ones the model predicts."""
    with _tracer_or_skip() as tracer:
        s = cf.conform(model(PROFILE), machine, PROFILE, steps=800, seed=11, tracer=tracer)
    assert s.trace_events > 800 and s.trace_problems == []


@needs_kvm
def test_a_missing_tracepoint_is_reported(machine):
    class DropAccepts:  # a KVM that would not trace its LAPIC accepts
        def __init__(self, t):
            self.t = t

        def clear(self):
            self.t.clear()

        def read(self):
            return [e for e in self.t.read() if e.name != "kvm_apic_accept_irq"]

    with _tracer_or_skip() as tracer:
        s = cf.conform(model(PROFILE), machine, PROFILE, steps=300, seed=11,
                       tracer=DropAccepts(tracer))
    assert any("kvm_apic_accept_irq [], model [(" in p for p in s.trace_problems)

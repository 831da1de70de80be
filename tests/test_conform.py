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

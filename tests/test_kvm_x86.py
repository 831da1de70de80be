"""The main job: specs/kvm_x86.irq, composed from models/, holds all four classes."""

from helpers import ROOT, run

from checker.result import Status


def test_kvm_x86_holds_every_interrupt_property():
    r = run(ROOT / "specs/kvm_x86.irq")
    assert r.status == Status.COMPLETE
    assert {p.name: str(p.verdict) for p in r.properties if str(p.verdict) != "holds"} == {}
    classes = {p.pclass for p in r.properties}
    assert {"lost", "duplicated", "window", "priority"} <= classes
    # every rule names the KVM function (or the guest/userspace actor) it models
    assert all(rule.kvm for rule in r.system.rules)

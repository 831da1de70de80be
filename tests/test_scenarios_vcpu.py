"""Acceptance scenarios 10-18 (kvm-unit-tests.md section 7): the vCPU-side scenarios.

Each spec specs/scenarios/sNN_*.irq (NN = 10..18) models one kvm-unit-tests / selftests
scenario as a guest program plus the KVM code it exercises, and states what the test
expects as properties. For each spec:

1. `irqcheck check SPEC` (run from the repository root) exits 0: the search is complete,
   every property holds, and at least one `reachable` property (a witness that the scenario
   really happens) is among them; the search stays fast;
2. the spec is self-contained (no imports) and every rule names the KVM function, or the
   guest / QEMU / CPU action, it models;
3. with `--const MUTANT=k` (a deliberately wrong KVM behaviour the spec defines) the run
   exits 1 with a violated property of the expected class.
"""

import json
import re

import pytest
from click.testing import CliRunner
from helpers import ROOT

from checker import cli
from checker.lang import load_system

SCENARIOS = ROOT / "specs" / "scenarios"
SPECS = sorted(SCENARIOS.glob("s1[0-8]_*.irq"))
MAX_SECONDS = 2.0

# (spec number, MUTANT, a property that must be violated, its class)
MUTANTS = [
    (10, 1, "tmr_in_handler", "generic"),        # an edge leaves a stale TMR bit
    (10, 2, "no_lost_interrupt", "lost"),        # level EOI goes out as edge: remote IRR sticks
    (11, 1, "priority_order", "priority"),       # the lowest vector is acked first
    (11, 2, "priority_order", "priority"),       # PPR ignores TPR
    (11, 3, "no_lost_interrupt", "lost"),        # a TPR write raises no KVM_REQ_EVENT
    (12, 1, "no_window_violation", "window"),    # a VM exit loses the STI shadow
    (12, 2, "no_nmi_right_after_sti", "window"),  # NMIs allowed in the STI shadow
    (13, 1, "int33_before_irq32", "priority"),   # soft INT retried: the IRQ overtakes it
    (13, 2, "int33_handled_once", "duplicated"),  # soft INT re-injected without its length
    (14, 1, "no_lost_interrupt", "lost"),        # IDT-vectoring EXT_INTR dropped
    (14, 2, "no_duplicate", "duplicated"),       # ... and also put back into the IRR
    (15, 1, "no_window_violation", "window"),    # no NMI-blocking recovery after IRET fault
    (15, 2, "at_most_two_nmis", "duplicated"),   # more than one NMI latched
    (16, 1, "one_extint_buffer", "lost"),        # readiness ignores the buffered ExtINT
    (16, 2, "ready_iff_window_open", "generic"),  # readiness ignores events in flight
    (17, 1, "no_window_violation", "window"),    # injection before the I/O completion
    (18, 1, "no_window_violation", "window"),    # L1's IRQ injected into L2
    (18, 2, "guest_did_not_run_before_ipi", "generic"),  # no KVM_REQ_EVENT at nested entry
    (18, 3, "no_window_violation", "window"),    # GIF ignored
]


def spec_for(number):
    found = [s for s in SPECS if s.name.startswith(f"s{number}_")]
    assert len(found) == 1, f"expected one specs/scenarios/s{number}_*.irq, found {found}"
    return found[0]


def irqcheck(monkeypatch, spec, *args):
    """Run `irqcheck check specs/scenarios/NAME.irq ARGS --format json` from the root."""
    monkeypatch.chdir(ROOT)
    rel = spec.relative_to(ROOT).as_posix()
    result = CliRunner().invoke(cli.main, ["check", rel, "--format", "json", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def test_all_nine_scenarios_exist():
    assert [int(s.name[1:3]) for s in SPECS] == list(range(10, 19))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.stem)
def test_spec_shape(spec):
    """Self-contained, a header naming the scenario, a KVM label on every rule, MUTANT=0."""
    text = spec.read_text()
    number = int(spec.name[1:3])
    assert re.search(rf"^// S{number}\. ", text, re.MULTILINE)
    assert f"Acceptance scenario {number} of kvm-unit-tests.md" in text
    assert not re.search(r"^\s*import\b", text, re.MULTILINE), "scenario specs import nothing"
    assert re.search(r"^const MUTANT: 0\.\.\d+ = 0\b", text, re.MULTILINE)
    system, diags = load_system(spec, [])
    assert not diags, [d.message for d in diags]
    assert dict((n, v) for n, _, v in system.constants)["MUTANT"] == 0
    assert all(r.kvm for r in system.rules), [r.name for r in system.rules if not r.kvm]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.stem)
def test_scenario_holds(monkeypatch, spec):
    code, report = irqcheck(monkeypatch, spec)
    props = report["properties"]
    bad = [(p["name"], p["verdict"]) for p in props if p["verdict"] != "holds"]
    assert code == 0 and not bad, bad
    assert report["status"] == "complete" and report["verdict"] == "holds"
    witnesses = [p for p in props if p["kind"] == "reachable"]
    assert witnesses, "a scenario needs at least one reachable property"
    assert all(p["trace"] for p in witnesses), "every witness comes with its path"
    assert report["stats"]["seconds"] < MAX_SECONDS, report["stats"]


@pytest.mark.parametrize("number, mutant, name, cls", MUTANTS,
                         ids=[f"s{n}-MUTANT={m}" for n, m, _, _ in MUTANTS])
def test_mutant_is_caught(monkeypatch, number, mutant, name, cls):
    spec = spec_for(number)
    code, report = irqcheck(monkeypatch, spec, "--no-timing", "--const", f"MUTANT={mutant}")
    assert code == 1, report["properties"]
    assert report["constants"]["MUTANT"] == mutant
    assert report["status"] == "complete" and report["verdict"] == "violated"
    assert not any(p["kind"] == "runtime" for p in report["properties"])
    violated = {p["name"]: p for p in report["properties"] if p["verdict"] == "violated"}
    assert name in violated, f"{name} holds; violated: {sorted(violated)}"
    assert violated[name]["class"] == cls
    assert violated[name]["trace"], "a violation comes with its counterexample"


def test_at_least_three_scenarios_have_classed_mutants():
    classed = {n for n, _, _, cls in MUTANTS if cls != "generic"}
    assert len(classed) >= 3

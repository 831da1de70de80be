"""Acceptance scenarios 1-9 (IOAPIC) of kvm-unit-tests.md section 7: specs/scenarios/s0[1-9]_*.irq.

Each spec models one kvm-unit-tests IOAPIC test as a guest program plus the KVM path it
exercises, and states what the test expects as properties. For every spec:

1. it has the expected shape: a header naming the kvm-unit-tests test, a `MUTANT` constant
   that defaults to 0, and a `@kvm(...)` label on every rule;
2. `irqcheck check` exits 0 with the search complete and every property holding, and at
   least one `reachable` property holds (so the spec is not vacuous);
3. with a deliberately wrong KVM behaviour switched on (`--const MUTANT=N`) the run exits 1
   and the properties that state the test's expectation are violated.
"""

import json

import pytest
from click.testing import CliRunner
from helpers import ROOT

from checker import cli
from checker.lang import load_system

SCENARIOS = ROOT / "specs" / "scenarios"
SPECS = sorted(SCENARIOS.glob("s0[1-9]_*.irq"))
MAX_STATES = 100_000  # keeps every scenario well under two seconds


def irqcheck(monkeypatch, spec, *args):
    """The JSON report and exit code of `irqcheck check specs/scenarios/NAME.irq ARGS`."""
    monkeypatch.chdir(ROOT)
    rel = spec.relative_to(ROOT).as_posix()
    result = CliRunner().invoke(cli.main, ["check", rel, "--format", "json", "--no-timing", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def spec_named(prefix):
    found = [s for s in SPECS if s.name.startswith(prefix + "_")]
    assert len(found) == 1, f"expected one spec {prefix}_*.irq, found {[s.name for s in found]}"
    return found[0]


def test_all_nine_scenarios_exist():
    assert [s.name[:3] for s in SPECS] == [f"s0{i}" for i in range(1, 10)]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.stem)
def test_spec_shape(spec):
    text = spec.read_text()
    header = text.split("\n\n", 1)[0]
    assert "kvm-unit-tests" in header and "test_ioapic_" in header, "header names the test"
    assert "Abstracted:" in header and "MUTANT" in header
    system, diags = load_system(spec, [])
    assert not diags, [d.message for d in diags]
    constants = {n: v for n, _, v in system.constants}
    assert constants["MUTANT"] == 0
    assert all(r.kvm for r in system.rules), [r.name for r in system.rules if not r.kvm]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.stem)
def test_scenario_holds(monkeypatch, spec):
    code, report = irqcheck(monkeypatch, spec)
    assert code == 0, [(p["name"], p["reason"]) for p in report["properties"]]
    assert report["status"] == "complete" and report["verdict"] == "holds"
    assert report["stats"]["states"] < MAX_STATES
    props = report["properties"]
    assert props and all(p["verdict"] == "holds" for p in props)
    reachable = [p for p in props if p["kind"] == "reachable"]
    assert reachable, "a scenario needs at least one reachable property"
    assert all(p["trace"] for p in reachable), "every witness has a trace"


# (scenario, MUTANT, properties that must be violated, properties that must still hold)
MUTANTS = [
    ("s01", 1, {"edge_delivered_at_most_once", "edge_delivered_once", "test_passes"}, set()),
    ("s01", 2, {"delivered_right_after_the_out", "not_before_the_out_retires"},
     {"test_passes"}),
    ("s02", 1, {"edge_delivered_at_most_once", "second_assert_coalesced", "test_passes"},
     set()),
    ("s02", 2, {"edge_delivered_at_most_once", "second_assert_coalesced", "test_passes"},
     set()),
    ("s03", 1, {"masked_edge_dropped", "masked_level_interrupt", "test_passes"}, set()),
    ("s03", 2, {"masked_edge_dropped", "unmasked_level_interrupt", "test_passes"},
     {"masked_level_interrupt"}),
    ("s04", 1, {"unmask_delivers", "unmasked_level_interrupt", "test_passes"}, set()),
    ("s04", 2, {"masked_level_not_delivered", "masked_level_interrupt"}, set()),
    ("s05", 1, {"no_second_delivery_while_remote_irr", "coalesce_simultaneous_level_interrupts",
                "test_passes"}, set()),
    ("s05", 2, {"no_second_delivery_while_remote_irr", "coalesce_simultaneous_level_interrupts",
                "test_passes"}, set()),
    ("s06", 1, {"immediate_redelivery", "finishes"}, {"deferred_redelivery"}),
    ("s06", 2, {"deferred_redelivery", "finishes"}, {"immediate_redelivery"}),
    ("s07", 1, {"one_delivery_per_assertion", "eoi_with_line_low_delivers_nothing", "finishes"},
     set()),
    ("s07", 2, {"sequential_delivered", "sequential_level_interrupts", "test_passes"}, set()),
    ("s08", 1, {"reconfigure_self_highest_priority", "reconfigure_self_lower_priority",
                "remote_irr_clears", "test_passes"}, set()),
    ("s08", 2, {"reconfigure_self_highest_priority", "remote_irr_clears"},
     {"reconfigure_self_lower_priority"}),
    ("s08", 3, {"higher_priority_irq_blocked_until_iret", "higher_vector_waits_for_iret",
                "no_window_violation"}, set()),
    ("s09", 1, {"finishes", "test_passes"}, set()),
    ("s09", 2, {"remote_irr_clears", "finishes", "test_passes"}, set()),
]


@pytest.mark.parametrize("prefix,mutant,violated,holding", MUTANTS,
                         ids=[f"{m[0]}-mutant{m[1]}" for m in MUTANTS])
def test_mutant_fails(monkeypatch, prefix, mutant, violated, holding):
    code, report = irqcheck(monkeypatch, spec_named(prefix), "--const", f"MUTANT={mutant}")
    assert code == 1
    assert report["status"] == "complete" and report["verdict"] == "violated"
    verdicts = {p["name"]: p["verdict"] for p in report["properties"]}
    assert violated <= verdicts.keys() and holding <= verdicts.keys()
    assert {n for n in violated if verdicts[n] != "violated"} == set()
    assert {n for n in holding if verdicts[n] != "holds"} == set()
    for p in report["properties"]:
        if p["verdict"] == "violated" and p["kind"] != "reachable":
            assert p["trace"], f"{p['name']}: a violation comes with a counterexample"


def test_every_scenario_has_a_mutant():
    assert {m[0] for m in MUTANTS} == {s.name[:3] for s in SPECS}

"""The explicit engine on small specs whose numbers are worked out by hand."""

import pytest
from helpers import SPECS, run, system_from_text, verdicts
from reference import explore

from checker.engines.explicit import Options, check
from checker.result import Status


def test_counter_counts_and_deadlock():
    r = run(SPECS / "counter.irq")
    assert (r.stats.states, r.stats.transitions, r.stats.depth) == (4, 3, 3)
    (dead,) = r.properties
    assert dead.kind == "deadlock" and str(dead.verdict) == "violated"
    assert [s.label for s in dead.trace.steps] == ["init", "inc", "inc", "inc"]
    assert dead.trace.steps[-1].state == (3,)


def test_two_independent_toggles():
    r = run(SPECS / "two_bits.irq")
    assert (r.stats.states, r.stats.transitions, r.stats.depth) == (4, 8, 2)
    assert verdicts(r) == {"not_both": "violated", "deadlock": "holds"}
    trace = r.properties[0].trace
    assert len(trace) == 2
    assert trace.steps[-1].state == (True, True)


def test_counterexample_is_shortest():
    r = run(SPECS / "shortest.irq")
    (p,) = r.properties
    assert [s.label for s in p.trace.steps] == ["init", "jump", "inc"]


def test_action_property_trace_ends_with_the_failing_step():
    r = run(SPECS / "action.irq")
    (p,) = r.properties
    assert p.kind == "action" and str(p.verdict) == "violated"
    assert [s.label for s in p.trace.steps] == ["init", "take"]
    assert "only_requested" in p.reason


def test_runtime_error_is_a_violation_with_trace():
    r = run(SPECS / "overflow.irq")
    assert r.status == Status.MODEL_ERROR
    (p,) = r.properties
    assert p.kind == "runtime" and str(p.verdict) == "violated"
    assert [s.label for s in p.trace.steps] == ["init", "inc", "inc", "inc"]
    assert "out of range 0..2" in p.reason and "overflow.irq:4" in p.reason


def test_state_limit_gives_unknown_not_holds():
    r = run(SPECS / "components.irq", max_states=100)
    assert r.status == Status.STATE_LIMIT
    assert r.stats.states == 100
    assert set(verdicts(r).values()) == {"unknown"}


def test_fail_fast_stops_at_first_violation():
    r = run(SPECS / "two_bits.irq", fail_fast=True)
    assert r.status == Status.STOPPED
    assert verdicts(r)["not_both"] == "violated"


def test_deadlock_option_and_override(tmp_path):
    text = "option deadlock = false\nvar x: bool = false\nrule fill when not x { x := true }\n"
    s = system_from_text(tmp_path, text)
    assert verdicts(check(s)) == {}
    assert verdicts(check(s, Options(deadlock=True))) == {"deadlock": "violated"}


def test_invariant_false_in_initial_state(tmp_path):
    s = system_from_text(tmp_path, "var x: 0..3 = 2\nrule r { x := 1 }\ninvariant small: x < 2\n")
    r = check(s)
    p = r.properties[0]
    assert str(p.verdict) == "violated" and len(p.trace) == 0


def test_guard_disabled_statically(tmp_path):
    s = system_from_text(tmp_path, "const K: 0..3 = 0\nvar x: bool = false\n"
                         "rule never when K > 1 { x := true }\nrule tick { x := x }\n")
    r = check(s)
    assert (r.stats.states, r.stats.transitions) == (1, 1)


@pytest.mark.parametrize("spec,consts", [
    ("counter.irq", []), ("two_bits.irq", []), ("shortest.irq", []), ("action.irq", []),
    ("components.irq", []), ("components.irq", ["C=1"]), ("components.irq", ["C=3"]),
    ("imports/sub/uses_pin.irq", []), ("imports/sub/uses_pin.irq", ["N=3"]),
])
def test_compiled_engine_agrees_with_interpreter(spec, consts):
    from helpers import system_of
    s = system_of(SPECS / spec, consts)
    ref = explore(s)
    r = check(s)
    assert (r.stats.states, r.stats.transitions, r.stats.depth) == \
        (ref["states"], ref["transitions"], ref["depth"])
    violated = {p.name: len(p.trace) for p in r.properties if str(p.verdict) == "violated"}
    assert violated == ref["violated"]


def test_imports_by_name_and_path():
    from helpers import system_of
    s = system_of(SPECS / "imports/sub/uses_pin.irq")
    assert [v.name for v in s.variables] == ["pins.line", "pins.irr", "served"]
    assert [r.name for r in s.rules] == ["pins.raise", "pins.lower", "serve"]
    assert s.rules[0].kvm == "kvm_ioapic_set_irq"
    assert s.rules[0].params[0][0] == "i"  # the instance index is the first parameter

"""The interrupt property classes, lost (AG EF) and reachable properties."""

import json

import pytest
from click.testing import CliRunner
from helpers import SPECS, run, verdicts

from checker import cli

EVENTS = SPECS / "events.irq"


def test_correct_model_holds_every_class():
    r = run(EVENTS)
    assert verdicts(r) == {"priority_order": "holds", "no_duplicate": "holds",
                           "no_window_violation": "holds", "no_lost_interrupt": "holds",
                           "two_pending": "holds", "in_handler": "holds", "deadlock": "holds"}
    classes = {p.name: p.pclass for p in r.properties}
    assert classes["no_lost_interrupt"] == "lost" and classes["no_duplicate"] == "duplicated"
    assert classes["no_window_violation"] == "window"
    assert classes["priority_order"] == "priority"
    assert classes["two_pending"] == "generic"


@pytest.mark.parametrize("bug,prop,steps", [
    ("2", "no_duplicate", 5),        # the vector stays in IRR and is acknowledged again
    ("3", "no_window_violation", 5),  # injected with IF=0
    ("4", "priority_order", 3),      # the lowest vector taken first
])
def test_each_bug_violates_its_class(bug, prop, steps):
    r = run(EVENTS, [f"BUG={bug}"])
    p = next(p for p in r.properties if p.name == prop)
    assert str(p.verdict) == "violated"
    assert len(p.trace) == steps
    assert p.trace.steps[-1].label == "enter"


def test_lost_when_the_guest_never_reenables_interrupts():
    r = run(EVENTS, ["BUG=1"])
    p = next(p for p in r.properties if p.name == "no_lost_interrupt")
    assert str(p.verdict) == "violated"
    assert "no_lost_interrupt(c=0, v=0)" in p.reason
    assert "ifl=false" in p.reason  # the reason: IF stays 0 in every state reachable after
    assert [s.label for s in p.trace.steps] == ["init", "raise(v=0)", "cli"]


def test_lost_generic_form_shows_what_is_stuck():
    r = run(SPECS / "stuck_remote_irr.irq")
    p = next(p for p in r.properties if p.name == "remote_irr_clears")
    assert str(p.verdict) == "violated" and p.kind == "lost"
    assert [s.label for s in p.trace.steps] == ["init", "raise", "ack", "retarget", "eoi"]
    assert "in all 2 states reachable from it: rirr=true, line=true" in p.reason


def test_reachable_witness_and_unreachable(tmp_path):
    spec = tmp_path / "r.irq"
    spec.write_text("option deadlock = false\nvar x: 0..3 = 0\nrule inc when x < 2 { x := x + 1 }\n"
                    "reachable two: x == 2\nreachable three: x == 3\n")
    r = run(spec)
    two, three = r.properties
    assert str(two.verdict) == "holds" and len(two.trace) == 2
    assert str(three.verdict) == "violated" and three.trace is None
    assert "unreachable" in three.reason


def test_reachable_in_initial_state_has_an_empty_witness(tmp_path):
    spec = tmp_path / "r.irq"
    spec.write_text("option deadlock = false\nvar x: bool = true\nreachable now: x\n")
    (p,) = run(spec).properties
    assert str(p.verdict) == "holds" and len(p.trace) == 0


def test_json_carries_the_class():
    r = CliRunner().invoke(cli.main, ["check", str(EVENTS), "--const", "BUG=4",
                                      "--format", "json"])
    assert r.exit_code == 1
    data = json.loads(r.output)
    classes = {p["name"]: p["class"] for p in data["properties"]}
    assert classes == {"priority_order": "priority", "no_duplicate": "duplicated",
                       "no_window_violation": "window", "no_lost_interrupt": "lost",
                       "two_pending": "generic", "in_handler": "generic",
                       "deadlock": "generic"}


def test_unchecked_classes_add_no_ghost_state(tmp_path):
    text = EVENTS.read_text().replace("check lost, duplicated, window, priority",
                                      "check window")
    spec = tmp_path / "w.irq"
    spec.write_text(text)
    full, window_only = run(EVENTS), run(spec)
    assert window_only.stats.states < full.stats.states
    assert not any(v.name.startswith("ghost.") for v in window_only.system.variables)

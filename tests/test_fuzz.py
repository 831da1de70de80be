"""Hypothesis: the front end and the engine never crash, and the compiled engine agrees
with the interpreter (checker.ir_eval) on random well-typed specs."""

from pathlib import Path

from helpers import ROOT, SPECS
from hypothesis import HealthCheck, given, settings
from reference import explore
from specgen import mutated, spec

from checker.diagnostics import CODES, SourceCache, render
from checker.engines.explicit import Options, check
from checker.lang import load_system

SEED_TEXTS = [p.read_text() for p in [
    ROOT / "specs/bench/bm1.irq", ROOT / "specs/examples/lost_edge.irq",
    SPECS / "components.irq", SPECS / "action.irq", SPECS / "shortest.irq"]]

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _load(tmp_path: Path, text: str):
    p = tmp_path / "fuzz.irq"
    p.write_text(text)
    sources = SourceCache()
    system, diags = load_system(p, [], sources)
    for d in diags:  # every diagnostic is registered and renders
        assert d.code in CODES
        assert render(d, sources)
    return system, diags


@FUZZ
@given(text=mutated(SEED_TEXTS))
def test_mutated_specs_give_diagnostics_not_crashes(tmp_path_factory, text):
    tmp = tmp_path_factory.mktemp("mut")
    system, diags = _load(tmp, text)
    assert (system is None) == bool(diags)
    if system is not None:
        check(system, Options(max_states=3000))


@FUZZ
@given(text=spec())
def test_generated_specs_are_well_typed_and_engines_agree(tmp_path_factory, text):
    tmp = tmp_path_factory.mktemp("gen")
    system, diags = _load(tmp, text)
    assert not diags, [d.message for d in diags] + [text]
    ref = explore(system)
    r = check(system)
    violated = {p.name: len(p.trace) for p in r.properties
                if str(p.verdict) == "violated" and p.kind != "reachable"}
    violated.update({"reach:" + p.name: len(p.trace) if p.trace else None
                     for p in r.properties if p.kind == "reachable"})
    if "runtime_error" in ref["violated"]:
        # the compiled engine stops at the first run-time error, at the same BFS depth
        assert violated.get("runtime_error") == ref["violated"]["runtime_error"], text
        return
    assert (r.stats.states, r.stats.transitions, r.stats.depth) == \
        (ref["states"], ref["transitions"], ref["depth"]), text
    assert violated == ref["violated"], text

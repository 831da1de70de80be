"""Bounded model checking with Z3 against the explicit engine.

On the repository's small specs and on Hypothesis-generated specs, with the bound set
to the explicit engine's depth plus one, BMC violates exactly the properties the
explicit engine violates, with counterexamples of the same (shortest) length, and finds
the same witnesses; every Z3 trace has been replayed on the concrete evaluator.
"""

import pytest
from helpers import ROOT, SPECS, system_of
from hypothesis import HealthCheck, given, settings
from specgen import spec

from checker.engines import bmc
from checker.engines.explicit import Options
from checker.engines.explicit import check as explicit_check
from checker.lang import load_system


def lengths(result, kinds=("invariant", "action", "deadlock", "runtime", "reachable", "lost")):
    return {p.name: len(p.trace) for p in result.properties
            if p.kind in kinds and p.trace is not None
            and (str(p.verdict) == "violated" or p.kind == "reachable")}


def assert_agree(system):
    e = explicit_check(system)
    bound = e.stats.depth + 1
    b = bmc.check(system, Options(), bound)
    want, got = lengths(e), lengths(b)
    if e.status.value == "model-error":  # both stop at the first run-time error
        assert got.get("runtime_error") == want["runtime_error"]
        return
    # a 'lost' whose stuck-state check Spacer cannot answer (e.g. division by a
    # variable) stays unknown, and says so
    open_lost = {p.name for p in b.properties if p.kind == "lost" and
                 str(p.verdict) == "unknown" and "PDR gave no answer" in (p.reason or "")}
    assert got == {k: v for k, v in want.items() if k not in open_lost}
    for p in b.properties:  # nothing BMC leaves open is violated by the explicit engine
        if str(p.verdict) == "unknown" and p.name not in open_lost:
            assert p.name not in want
    assert_same_decided_verdicts(e, b)


def assert_same_decided_verdicts(e, b):
    """Every verdict BMC decides (complete at the depth where no path visits only new
    states, or violated) is the explicit engine's."""
    ev = {p.name: str(p.verdict) for p in e.properties}
    for p in b.properties:
        if str(p.verdict) != "unknown" and e.status.value == "complete":
            assert str(p.verdict) == ev[p.name], (p.name, p.reason)


SMALL = [ROOT / "specs/examples/lost_edge.irq", SPECS / "action.irq", SPECS / "shortest.irq",
         SPECS / "overflow.irq", SPECS / "two_bits.irq", SPECS / "counter.irq",
         ROOT / "specs/bugs/b16_userspace_window.irq", ROOT / "specs/bugs/b18_smm_shadow.irq"]


@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.stem)
def test_bmc_agrees_on_small_specs(path):
    assert_agree(system_of(path))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(text=spec())
def test_bmc_agrees_on_generated_specs(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("bmc") / "gen.irq"
    p.write_text(text)
    system, diags = load_system(p, [])
    assert not diags
    assert_agree(system)


INDUCTIVE = """
var x: 0..3 = 0
var y: 0..3 = 0
rule step when x < 3 { x := x + 1  y := x }
rule back when x == 3 { x := 0  y := 0 }
invariant y_follows: y <= x or (x == 0 and y == 0)
rule noop when false { x := x }
"""


def test_k_induction_proves_an_inductive_invariant(tmp_path):
    p = tmp_path / "ind.irq"
    p.write_text(INDUCTIVE)
    system, diags = load_system(p, [])
    assert not diags
    r = bmc.prove(system, Options(), 6)
    (inv,) = [x for x in r.properties if x.kind == "invariant"]
    assert str(inv.verdict) == "holds" and "induction" in inv.reason
    assert explicit_check(system).verdict.name == "HOLDS"


def test_k_induction_says_unknown_when_inconclusive():
    system = system_of(ROOT / "specs/bench/bm1.irq", ("C=1", "P=1"))
    r = bmc.prove(system, Options(), 3, pdr_fallback=False)
    assert {str(p.verdict) for p in r.properties if p.kind == "invariant"} == {"unknown"}
    assert "inconclusive" in r.notes[0]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(text=spec())
def test_k_induction_and_pdr_never_prove_what_the_explicit_engine_refutes(tmp_path_factory,
                                                                           text):
    p = tmp_path_factory.mktemp("kind") / "gen.irq"
    p.write_text(text)
    system, diags = load_system(p, [])
    assert not diags
    e = explicit_check(system)
    refuted = {x.name for x in e.properties if str(x.verdict) == "violated"}
    if e.status.value == "model-error":
        refuted |= {x.name for x in system.invariants} | {x.name for x in system.actions}
        refuted.add("deadlock")
    # (a bounded time: an answer Spacer cannot give in it is 'unknown', never 'holds')
    for r in (bmc.prove(system, Options(), 4, pdr_fallback=False),
              bmc.pdr(system, Options(timeout=10), 4)):
        for x in r.properties:
            if str(x.verdict) == "holds" and x.kind in ("invariant", "action", "deadlock"):
                assert x.name not in refuted


def test_a_bm1_bug_gives_the_same_shortest_trace():
    """BM1 with an injected bug (inject_pending_event ignores the interrupt window):
    BMC to depth 30 finds a counterexample as short as the explicit engine's."""
    system = system_of(ROOT / "specs/bench/bm1.irq", ("C=1", "P=2", "BUG=1"))
    e = explicit_check(system)
    b = bmc.check(system, Options(fail_fast=True), 30)
    (pe,) = [p for p in e.properties if p.name == "no_window_violation"]
    (pb,) = [p for p in b.properties if p.name == "no_window_violation"]
    assert str(pe.verdict) == str(pb.verdict) == "violated"
    assert len(pb.trace) == len(pe.trace) == 5  # as short; the steps may be ordered otherwise


@pytest.mark.parametrize("consts", [("C=1", "P=1"), ("C=1", "P=2"), ("C=2", "P=2")])
def test_pdr_proves_bm1_and_its_certificate_holds(tmp_path, consts):
    """PDR proves BM1's invariants and asserts; the inductive invariant it prints is a
    DSL expression that the explicit engine confirms in every reachable state. (In a
    fresh process, as a user runs it: Spacer's search, and so the invariant it finds,
    depends on the terms Z3 has built before.)"""
    import json
    import subprocess
    import sys
    cmd = [sys.executable, "-m", "checker", "check", str(ROOT / "specs/bench/bm1.irq"),
           "--engine", "z3", "--pdr", "--format", "json", "--no-traces",
           *[x for c in consts for x in ("--const", c)]]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert {p["verdict"] for p in r["properties"]
            if p["kind"] in ("invariant", "action", "deadlock")} == {"holds"}
    assert any(p["kind"] == "deadlock" for p in r["properties"])  # deadlock freedom too
    cert = r["notes"][0].split("): ", 1)[1]
    assert "<" not in cert.replace("<=", "")  # all of it in the spec's syntax
    spec = tmp_path / "cert.irq"
    spec.write_text((ROOT / "specs/bench/bm1.irq").read_text()
                    + f"\ninvariant certificate: {cert}\n")
    checked = explicit_check(system_of(spec, consts))
    (c,) = [p for p in checked.properties if p.name == "certificate"]
    assert str(c.verdict) == "holds"


def test_prove_falls_back_to_pdr():
    system = system_of(ROOT / "specs/bench/bm1.irq", ("C=1", "P=1"))
    r = bmc.prove(system, Options(), 3)
    assert r.engine == "z3-pdr" and "then IC3/PDR" in r.notes[0]
    assert {str(p.verdict) for p in r.properties if p.kind == "invariant"} == {"holds"}


def test_pdr_finds_the_injected_bug():
    system = system_of(ROOT / "specs/bench/bm1.irq", ("C=1", "P=2", "BUG=1"))
    r = bmc.pdr(system, Options(fail_fast=True), 10)
    (p,) = [p for p in r.properties if p.name == "no_window_violation"]
    assert str(p.verdict) == "violated" and len(p.trace) == 5


BUGS = sorted((ROOT / "specs/bugs").glob("*.irq"))


@pytest.mark.parametrize("fixed", ["false", "true"])
@pytest.mark.parametrize("path", BUGS, ids=lambda p: p.stem)
def test_bug_specs_give_the_same_verdicts_on_both_engines(path, fixed):
    """Every historical bug (and its fix): what the explicit engine violates, BMC violates
    with a counterexample of the same length, 'lost' included; every other verdict BMC
    gives is the explicit engine's (BMC is complete once no path of k+1 steps visits only
    new states: then a fix's 'lost' holds under Z3 too)."""
    system = system_of(path, (f"FIXED={fixed}",))
    e = explicit_check(system)
    b = bmc.check(system, Options(), 25)
    kinds = ("invariant", "action", "deadlock", "runtime", "lost")
    assert lengths(b, kinds) == lengths(e, kinds)
    if fixed == "false":
        assert lengths(e, kinds), "the bug shows"
    elif path.stem not in ("b15_split_irqchip_window", "b18_smm_shadow"):  # longer paths
        assert {str(p.verdict) for p in b.properties} == {"holds"}
    verdicts = {p.name: str(p.verdict) for p in b.properties}
    for p in e.properties:
        if str(p.verdict) == "holds" and p.kind != "reachable":
            assert verdicts[p.name] in ("holds", "unknown")
    assert_same_decided_verdicts(e, b)


@pytest.mark.parametrize("name", ["b01_eoi_first_match", "b02_level_race", "b20_pit_discard"])
def test_lost_decided_by_pdr_alone(monkeypatch, name):
    """With the explicit search from a candidate switched off, PDR alone decides every
    candidate: the same stuck state, at the same depth."""
    monkeypatch.setattr(bmc._Lost, "EXPLICIT_BUDGET", 0)
    system = system_of(ROOT / f"specs/bugs/{name}.irq")
    e, b = explicit_check(system), bmc.check(system, Options(), 12)
    assert lengths(b, ("lost",)) == lengths(e, ("lost",)) != {}
    (p,) = [p for p in b.properties if p.kind == "lost"]
    assert "proved by PDR" in p.reason

"""Symbolic constants (--symbolic NAME, Z3 engine): one run covers every value.

A symbolic constant becomes a frozen state variable with no initial constraint. BMC
over it must agree with the explicit engine run once per value: a property is violated
iff some value violates it, and the shortest counterexample is the shortest over all
values; the counterexample says which value Z3 chose, and its ITF replays on the spec
with that value."""

import json

import pytest
from click.testing import CliRunner
from helpers import ROOT

from checker.cli import main
from checker.engines import bmc
from checker.engines.explicit import Options
from checker.engines.explicit import check as explicit_check
from checker.lang import load_system

BM1 = ROOT / "specs/bench/bm1.irq"
S01 = ROOT / "specs/scenarios/s01_edge_once.irq"


def load(path, consts=(), symbolic=()):
    system, diags = load_system(path, list(consts), None, None, list(symbolic))
    assert not diags, [d.message for d in diags]
    return system


def shortest(result, kinds=("invariant", "action")):
    return {p.name: len(p.trace) for p in result.properties
            if p.kind in kinds and str(p.verdict) == "violated"}


@pytest.mark.parametrize("path,name,values,consts,bound", [
    (BM1, "BUG", (0, 1), ("C=1", "P=2"), 7),
    (S01, "MUTANT", (0, 1, 2), (), 12),
])
def test_symbolic_bmc_agrees_with_one_explicit_run_per_value(path, name, values, consts, bound):
    per_value = [shortest(explicit_check(load(path, (*consts, f"{name}={v}")),
                                         Options(deadlock=False)))
                 for v in values]
    want: dict[str, int] = {}
    for lengths in per_value:
        for prop, n in lengths.items():
            want[prop] = min(n, want.get(prop, n))
    want = {p: n for p, n in want.items() if n <= bound}
    system = load(path, consts, (name,))
    got = bmc.check(system, Options(deadlock=False), bound)
    assert shortest(got) == want and want
    (sym,) = [i for i, v in enumerate(system.variables) if v.symbolic]
    for p in got.properties:
        if str(p.verdict) == "violated" and p.kind in ("invariant", "action"):
            v = p.trace.steps[0].state[sym]  # the value Z3 chose violates it at that length
            assert per_value[values.index(v)].get(p.name) == len(p.trace)


def test_pdr_proves_for_every_value_of_a_symbolic_constant(tmp_path):
    spec = tmp_path / "sym.irq"
    spec.write_text("""
const K: 0..5 = 1
var x: 0..15 = K
var r: record { v: 0..15, on: bool } = { v: K + 2, on: K > 2 }
rule up when x < 10 { x := x + 1 }
invariant above_k: x >= K
invariant field_tracks_k: r.v == K + 2 and r.on == (K > 2)
""")
    r = bmc.pdr(load(spec, (), ("K",)), Options(timeout=60), 10)
    got = {p.name: str(p.verdict) for p in r.properties if p.kind == "invariant"}
    assert got == {"above_k": "holds", "field_tracks_k": "holds"}
    # the certificate is in the spec's syntax and holds for every value, by the explicit engine
    cert = r.notes[0].split("): ", 1)[1]
    spec.write_text(spec.read_text() + f"invariant certificate: {cert}\n")
    for k in range(6):
        (c,) = [p for p in explicit_check(load(spec, (f"K={k}",))).properties
                if p.name == "certificate"]
        assert str(c.verdict) == "holds"
    # a property false for one value only: BMC picks that value
    spec.write_text(spec.read_text() + "invariant not_three: K != 3 or x != 9\n")
    r = bmc.check(load(spec, (), ("K",)), Options(), 10)
    (bad,) = [p for p in r.properties if p.name == "not_three"]
    assert str(bad.verdict) == "violated"
    assert bad.trace.steps[0].state[0] == 3 and len(bad.trace) == 6


def test_cli_reports_the_chosen_value_and_the_trace_replays(tmp_path):
    out = tmp_path / "cx"
    r = CliRunner().invoke(main, ["check", str(BM1), "--symbolic", "BUG", "--const", "C=1",
                                  "--const", "P=2", "--bmc", "6", "--fail-fast", "--out",
                                  str(out), "--format", "json"])
    assert r.exit_code == 1, r.output
    report = json.loads(r.output)
    assert report["engine"].startswith("z3")
    (v,) = [p for p in report["properties"] if p["verdict"] == "violated"]
    assert v["reason"].endswith("(with BUG=1)")
    (itf_file,) = out.glob("*.itf.json")
    itf = json.loads(itf_file.read_text())
    assert itf["#meta"]["constants"]["BUG"] == 1 and itf["#meta"]["symbolic"] == ["BUG"]
    assert "BUG" not in itf["vars"]
    rr = CliRunner().invoke(main, ["replay", str(itf_file), str(BM1)])
    assert rr.exit_code == 0 and "confirmed:" in rr.output, rr.output


@pytest.mark.parametrize("args,needle", [
    (["--symbolic", "P"], "bm1.irq:11:15: error[E207]: constant 'P' is symbolic"),
    (["--symbolic", "BUGG"], "did you mean 'BUG'?"),
    (["--symbolic", "BUG", "--const", "BUG=1"], "given both --const and --symbolic"),
    (["--symbolic", "BUG", "--engine", "vector"], "--symbolic needs --engine z3"),
])
def test_symbolic_misuse_is_a_diagnostic(args, needle):
    r = CliRunner().invoke(main, ["check", str(BM1), *args])
    assert r.exit_code == 2 and needle in r.output, r.output
    assert "Traceback" not in r.output


def test_a_symbolic_value_outside_a_narrower_type_is_refused():
    r = CliRunner().invoke(main, ["check", str(ROOT / "specs/kvm_x86.irq"), "--symbolic",
                                  "V_EDGE", "--bmc", "0"])
    assert r.exit_code == 2, r.output
    assert "argument VECTOR ranges over 16..255, which is not within 63..65" in r.output
    assert r.output.count("error[") == 1  # no follow-on errors

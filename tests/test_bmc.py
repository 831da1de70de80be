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


def lengths(result, kinds=("invariant", "action", "deadlock", "runtime", "reachable")):
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
    assert got == want
    for p in b.properties:  # nothing BMC leaves open is violated by the explicit engine
        if str(p.verdict) == "unknown" and p.kind != "lost":
            assert p.name not in want


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

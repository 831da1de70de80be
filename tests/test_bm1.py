"""BM1 (specs/bench/bm1.irq) against the independent hand-coded explorer."""

import pytest
from bm1_handcoded import explore as handcoded
from helpers import ROOT, run, verdicts

BM1 = ROOT / "specs/bench/bm1.irq"
ALL_HOLD = {"single_in_service": "holds", "remote_irr_in_flight": "holds",
            "no_window_violation": "holds", "no_duplicate": "holds", "deadlock": "holds"}


@pytest.mark.parametrize("C,P", [(1, 1), (1, 2), (1, 3), (2, 2), (2, 3)])
def test_bm1_counts_equal_the_handcoded_explorer(C, P):
    r = run(BM1, [f"C={C}", f"P={P}"])
    ref = handcoded(C, P)
    assert (r.stats.states, r.stats.transitions, r.stats.depth) == \
        (ref["states"], ref["transitions"], ref["depth"])
    assert verdicts(r) == ALL_HOLD
    assert ref["deadlocks"] == 0 and not any(ref["violations"].values())


"""The 18 acceptance scenarios on the real KVM (checker/kvm/scenarios.py) against the
outcomes recorded in docs/conformance.md, so that a change in KVM's behaviour is noticed.

The recorded table sits between the markers below, after a line naming the backend it was
recorded on; on another backend the comparison is skipped (the outcomes are backend
properties). IRQCHECK_UPDATE_GOLDEN=1 rewrites the recorded section from this run.
"""

import os
import re
from pathlib import Path

import pytest

from checker.kvm import availability, detect_backend
from checker.kvm.scenarios import OUTCOMES, SCENARIOS, markdown_table, run_all

_REASON = availability()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=f"KVM unusable: {_REASON}")

DOC = Path(__file__).resolve().parent.parent / "docs" / "conformance.md"
BEGIN, END = "<!-- kvm-scenarios:begin -->", "<!-- kvm-scenarios:end -->"
BACKEND_LINE = re.compile(r"^Recorded on the `(\w+)` backend", re.M)
UPDATE = os.environ.get("IRQCHECK_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def results():
    return run_all()


def recorded() -> tuple[str, str]:
    """(backend, table) of docs/conformance.md."""
    text = DOC.read_text()
    backend = BACKEND_LINE.search(text)
    assert backend, f"{DOC}: no 'Recorded on the `<backend>` backend' line"
    body = text.split(BEGIN, 1)[1].split(END, 1)[0]
    return backend.group(1), body.strip("\n") + "\n"


def rewrite(table: str) -> None:
    text = DOC.read_text()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    head = BACKEND_LINE.sub(f"Recorded on the `{detect_backend()}` backend", head)
    DOC.write_text(f"{head}{BEGIN}\n{table}{END}{tail}")


@pytest.fixture(scope="module")
def golden(results):
    if UPDATE:
        rewrite(markdown_table(results))
    backend, table = recorded()
    if backend != detect_backend():
        pytest.skip(f"outcomes recorded on {backend}, this host runs {detect_backend()}")
    return table


def recorded_outcomes(table: str) -> dict[int, str]:
    rows = [ln.split("|") for ln in table.splitlines()[2:]]
    return {int(r[1]): r[3].strip() for r in rows}


def test_every_scenario_has_a_result(results):
    assert [r.number for r in results] == list(range(1, 19))
    assert [r.name for r in results] == [s.name for s in SCENARIOS]
    assert all(r.outcome in OUTCOMES and r.detail for r in results)


@pytest.mark.parametrize("number", range(1, 19))
def test_outcome_is_the_recorded_one(results, golden, number):
    result = results[number - 1]
    assert result.outcome == recorded_outcomes(golden)[number], result.detail


def test_differences_name_the_observable_and_both_values(results):
    for r in results:
        if r.outcome == "differ":
            assert "seen" in r.detail and "expected" in r.detail, r
        if r.outcome == "differ" and detect_backend() == "kvm_pvm":
            # every difference recorded here is one the backend's known properties explain
            assert "Known kvm_pvm backend difference:" in r.detail, r


def test_doc_table_is_this_run(results, golden):
    assert markdown_table(results) == golden


def test_reset_machines_give_the_results_of_fresh_ones(results):
    assert run_all(reuse=False) == results

"""Counterexamples as ITF traces, and `irqcheck replay`.

For every spec of specs/bugs/, `irqcheck check` writes the ITF trace of each violated
property; the file loads in itf-py (the Informal Systems ITF library), equals the
golden file counterexamples/<spec>/<property>.itf.json (IRQCHECK_UPDATE_GOLDEN=1
rewrites it), the text report equals counterexamples/bugs/<spec>.txt, and `irqcheck
replay` confirms the violation on it. A trace edited by
hand stops at the step the spec does not allow.
"""

import json
import os

import itf_py
import pytest
from click.testing import CliRunner
from helpers import ROOT, SPECS

from checker import cli

BUGS = sorted((ROOT / "specs" / "bugs").glob("*.irq"))
UPDATE = os.environ.get("IRQCHECK_UPDATE_GOLDEN") == "1"


def run(monkeypatch, *args):
    monkeypatch.chdir(ROOT)
    r = CliRunner().invoke(cli.main, list(args))
    assert r.exception is None or isinstance(r.exception, SystemExit), r.output
    return r


@pytest.mark.parametrize("spec", BUGS, ids=lambda p: p.stem)
def test_bug_traces_load_match_golden_and_replay(monkeypatch, tmp_path, spec):
    rel = spec.relative_to(ROOT).as_posix()
    out = f"counterexamples/{spec.stem}"  # the default folder, written under tmp_path
    r = run(monkeypatch, "check", rel, "--no-timing", "--out", str(tmp_path / out))
    assert r.exit_code == 1
    text = r.output.replace(f"{tmp_path.as_posix()}/", "")  # the text report is pinned too
    files = sorted((tmp_path / out).glob("*.itf.json"))
    assert files and "traces: " + ", ".join(f"{out}/{f.name}" for f in files) in text
    golden_text = ROOT / "counterexamples" / "bugs" / f"{spec.stem}.txt"
    if UPDATE:
        golden_text.write_text(text)
    assert golden_text.exists(), f"missing {golden_text}; run with IRQCHECK_UPDATE_GOLDEN=1"
    assert text == golden_text.read_text(), f"{spec.name}: text report differs"
    for f in files:
        stem = f.name[:-len(".itf.json")]  # the picture is written beside the trace
        assert (f.parent / f"{stem}.svg").read_text().startswith("<svg")
        assert "<svg" in (f.parent / f"{stem}.html").read_text()
        data = json.loads(f.read_text())
        trace = itf_py.trace_from_json(data)
        assert trace.vars and len(trace.states) >= 1
        assert data["#meta"]["verdict"] == "violated"
        golden = ROOT / "counterexamples" / "bugs" / spec.stem / f.name
        if UPDATE:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(f.read_text())
        assert golden.exists(), f"missing {golden}; run with IRQCHECK_UPDATE_GOLDEN=1"
        assert f.read_text() == golden.read_text(), f"{f.name} differs from {golden}"
        rep = run(monkeypatch, "replay", str(f), rel)
        assert rep.exit_code == 0, rep.output
        assert "confirmed:" in rep.output and "not confirmed" not in rep.output


def _trace_of(monkeypatch, tmp_path, spec, *args):
    r = run(monkeypatch, "check", str(spec), "--no-timing", "--out", str(tmp_path), *args)
    assert r.exit_code == 1, r.output
    (f,) = sorted(tmp_path.glob("*.itf.json"))
    return f


def test_invariant_and_runtime_error_traces_replay(monkeypatch, tmp_path):
    f = _trace_of(monkeypatch, tmp_path / "a", ROOT / "specs/examples/lost_edge.irq")
    rep = run(monkeypatch, "replay", str(f), str(ROOT / "specs/examples/lost_edge.irq"))
    assert rep.exit_code == 0
    assert "confirmed: invariant 'raised_is_pending' is false in the last state" in rep.output
    f = _trace_of(monkeypatch, tmp_path / "b", SPECS / "overflow.irq")
    rep = run(monkeypatch, "replay", str(f), str(SPECS / "overflow.irq"))
    assert rep.exit_code == 0
    assert "confirmed: the last step hits a run-time error" in rep.output


def test_an_edited_trace_stops_at_the_step_the_spec_does_not_allow(monkeypatch, tmp_path):
    spec = ROOT / "specs/examples/lost_edge.irq"
    f = _trace_of(monkeypatch, tmp_path, spec)
    data = json.loads(f.read_text())
    step = data["states"][2]
    step["#meta"]["action"] = "raise(p=1)"  # not what led to this state
    f.write_text(json.dumps(data))
    rep = run(monkeypatch, "replay", str(f), str(spec))
    assert rep.exit_code == 1
    assert "step 2: raise(p=1) leads to a different state" in rep.output
    assert "NOT ALLOWED" in rep.output


def test_a_trace_of_another_spec_or_no_json_is_bad_input(monkeypatch, tmp_path):
    f = _trace_of(monkeypatch, tmp_path, ROOT / "specs/examples/lost_edge.irq")
    rep = run(monkeypatch, "replay", str(f), str(SPECS / "counter.irq"))
    assert rep.exit_code == 2
    assert "the trace's variables are not the spec's" in rep.output
    bad = tmp_path / "bad.itf.json"
    bad.write_text('{"vars": [\n  "x",\n}')
    rep = run(monkeypatch, "replay", str(bad), str(SPECS / "counter.irq"))
    assert rep.exit_code == 2
    assert f"{bad}:3:1: error: not JSON" in rep.output


def test_no_traces_writes_nothing(monkeypatch, tmp_path):
    r = run(monkeypatch, "check", str(ROOT / "specs/examples/lost_edge.irq"), "--no-traces",
            "--out", str(tmp_path / "t"))
    assert r.exit_code == 1
    assert not (tmp_path / "t").exists()
    assert "traces:" not in r.output

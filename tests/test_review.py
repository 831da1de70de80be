"""`irqcheck review`: coverage, dead rules, constant variables, vacuity, projection."""

import shutil

import pytest
from click.testing import CliRunner
from helpers import ROOT, SPECS

from checker import cli


def run(monkeypatch, tmp_path, *args):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli.main, ["review", *map(str, args)])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.output
    return r


def test_review_flags_a_dead_rule_and_vacuous_properties(monkeypatch, tmp_path):
    r = run(monkeypatch, tmp_path, SPECS / "review_me.irq", "--project", "line,pending")
    assert r.exit_code == 0, r.output
    assert "rules: 2 of 3 fire" in r.output
    assert "dead rule: unmask (ioapic_write_indirect," in r.output
    assert "never changes: masked = false" in r.output
    assert "never changes: mode = idle" in r.output
    assert "invariant 'masked_means_quiet' holds vacuously" in r.output
    assert "reachable 'busy_seen' is never witnessed" in r.output
    md = (tmp_path / "review/review_me/review.md").read_text()
    assert "| `unmask` | ioapic_write_indirect |" in md
    assert "| `raise` | kvm_ioapic_set_irq |" in md
    page = (tmp_path / "review/review_me/review.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<table>" in page
    dot = (tmp_path / "review/review_me/projection.dot").read_text()
    assert dot.count("->") == 2  # line,pending: false,false -> true,true -> false,false
    assert 'label="line=false\\npending=false"' in dot
    if shutil.which("dot"):
        assert (tmp_path / "review/review_me/projection.svg").read_text().lstrip().startswith(
            "<?xml")


def test_review_of_the_main_spec_reports_coverage(monkeypatch, tmp_path):
    r = run(monkeypatch, tmp_path, ROOT / "specs/kvm_x86.irq", "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert "review of" in r.output and "1,108,709 states" in r.output
    md = (tmp_path / "out/review.md").read_text()
    from checker.lang import load_system
    system, _ = load_system(ROOT / "specs/kvm_x86.irq", [])
    for rule in system.rules:  # every rule has a coverage row and a KVM row
        assert md.count(f"| `{rule.name}` |") == 2, rule.name


@pytest.mark.parametrize("args", [("--project", "no_such_var")])
def test_review_projection_of_an_unknown_variable_says_so(monkeypatch, tmp_path, args):
    r = run(monkeypatch, tmp_path, SPECS / "review_me.irq", *args)
    assert r.exit_code == 0
    assert "projection: no variable matches no_such_var" in r.output

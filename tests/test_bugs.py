"""The historical KVM bugs of specs/bugs/: each fails with its class, and holds once fixed.

Every spec models the code before the fix, with `const FIXED: bool = false` switching
to the fixed code, and says the class of the violation it must find in a comment line
`// expect: CLASS`. For each spec:

1. with FIXED=false the run exits 1 and some violated property has the expected class;
2. the JSON report (`irqcheck check specs/bugs/X.irq --format json --no-timing`, run from
   the repository root) equals the golden file counterexamples/bugs/X.json byte for byte;
   with IRQCHECK_UPDATE_GOLDEN=1 the test rewrites the golden file instead;
3. with `--const FIXED=true` every property holds (exit 0).
"""

import json
import os
import re

import pytest
from click.testing import CliRunner
from helpers import ROOT

from checker import cli
from checker.lang import load_system

BUGS = ROOT / "specs" / "bugs"
GOLDEN = ROOT / "counterexamples" / "bugs"
SPECS = sorted(BUGS.glob("*.irq"))
CLASSES = ("lost", "duplicated", "window", "priority")
UPDATE = os.environ.get("IRQCHECK_UPDATE_GOLDEN") == "1"


def expected_class(spec):
    found = re.findall(r"^//\s*expect:\s*(\w+)\s*$", spec.read_text(), re.MULTILINE)
    assert len(found) == 1, f"{spec.name}: needs exactly one '// expect: CLASS' line"
    assert found[0] in CLASSES, f"{spec.name}: unknown class {found[0]!r}"
    return found[0]


def irqcheck(monkeypatch, spec, *args):
    """Run `irqcheck check specs/bugs/NAME.irq ARGS` from the repository root."""
    monkeypatch.chdir(ROOT)
    rel = spec.relative_to(ROOT).as_posix()
    result = CliRunner().invoke(cli.main, ["check", rel, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout


def test_there_are_bug_specs():
    names = {s.stem.split("_")[0] for s in SPECS}
    assert {"b01", "b02", "b06", "b13", "b15", "b16", "b18", "b20"} <= names


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.stem)
def test_spec_shape(spec):
    """FIXED defaults to false and every rule names the KVM function it models."""
    text = spec.read_text()
    assert re.search(r"^const FIXED: bool = false\b", text, re.MULTILINE)
    expected_class(spec)
    system, diags = load_system(spec, [])
    assert not diags, [d.message for d in diags]
    assert dict((n, v) for n, _, v in system.constants)["FIXED"] is False
    assert all(r.kvm for r in system.rules), [r.name for r in system.rules if not r.kvm]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.stem)
def test_bug_is_found_and_matches_golden(monkeypatch, spec):
    code, out = irqcheck(monkeypatch, spec, "--format", "json", "--no-timing")
    assert code == 1, out
    report = json.loads(out)
    assert report["status"] == "complete" and report["verdict"] == "violated"
    cls = expected_class(spec)
    violated = [p for p in report["properties"] if p["verdict"] == "violated"]
    assert any(p["class"] == cls and p["trace"] for p in violated), \
        f"no violated {cls} property among {[(p['name'], p['class']) for p in violated]}"

    golden = GOLDEN / f"{spec.stem}.json"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(out)
    assert golden.exists(), f"missing {golden}; run with IRQCHECK_UPDATE_GOLDEN=1"
    assert out == golden.read_text(), f"{spec.name}: report differs from {golden.name}"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.stem)
def test_fix_holds(monkeypatch, spec):
    code, out = irqcheck(monkeypatch, spec, "--const", "FIXED=true", "--no-timing")
    assert code == 0, out
    assert "violated" not in out and "unknown" not in out

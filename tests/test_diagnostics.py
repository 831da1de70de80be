"""Golden-file tests for diagnostics.

Every ``tests/diagnostics/*.irq`` file is a spec with its expected diagnostics
written inline, as in mypy's test-data: a comment ``//!`` at the end of the line
where an error is expected.

    x = x + 1            //! E001
    x = x + 1            //! E001 col=5
    rule r { x := y }    //! E101 col=15 hint: did you mean 'x'?
    var v: T = w         //! E101 E201

* ``Ennn`` expects one diagnostic with that code on this line; ``E*`` expects one
  diagnostic with any registered code (for a missing diagnostic whose code is not
  decided yet).
* ``col=N`` after a code pins the (1-based) column of that diagnostic.
* ``hint: TEXT`` (the rest of the line) requires the hint of the last code to
  contain TEXT.
* A line ``//! xfail: REASON`` marks the file as a known bug: the test is
  ``xfail(strict=True)`` and REASON says what is wrong.

The diagnostics of ``load_system`` must match the expectations exactly (a missing
or an extra diagnostic fails). A spec ``X.irq`` may import helper files from a
folder ``X/``; the ``//!`` markers in those files count as well. Syntax-error
files (E001..E003) hold one error each, as the parser stops at the first one.

The file ``ok_constants.irq`` has no markers: a valid spec gives no diagnostics.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from checker.diagnostics import CODES, SLUGS, Diagnostic, SourceCache, lookup, render
from checker.lang import load_system

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "diagnostics"
MARK = re.compile(r"//!(.*)$")
ITEM = re.compile(r"(E\d{3}|E\*)|col=(\d+)|(hint:)\s*(.*)$")
SYNTAX_CODES = {"E001", "E002", "E003"}
# Codes that no spec file can produce on its own: tested in Python below.
NOT_FROM_DATA = {"E004", "E401", "E007"}


# ------------------------------------------------------------------ expectations
@dataclass(frozen=True)
class Expect:
    file: Path
    line: int
    code: str  # "E101" or "E*"
    col: int | None = None
    hint: str | None = None

    def matches(self, d: Diagnostic) -> bool:
        s = d.span
        return (s is not None and Path(s.file).resolve() == self.file and s.line == self.line
                and (self.code == "E*" or d.code == self.code)
                and (self.col is None or s.col == self.col)
                and (self.hint is None or (d.hint is not None and self.hint in d.hint)))

    def __str__(self) -> str:
        out = f"{_rel(self.file)}:{self.line}: {self.code}"
        if self.col is not None:
            out += f" col={self.col}"
        if self.hint is not None:
            out += f" hint~{self.hint!r}"
        return out


def _rel(p: Path) -> str:
    try:
        return str(p.relative_to(DATA))
    except ValueError:
        return str(p)


def parse_markers(path: Path) -> tuple[list[Expect], str | None]:
    """The expectations of one file and its xfail reason (None if none)."""
    path = path.resolve()
    expects: list[Expect] = []
    xfail = None
    for lineno, text in enumerate(path.read_text().splitlines(), start=1):
        m = MARK.search(text)
        if not m:
            continue
        body = m.group(1).strip()
        if body.startswith("xfail:"):
            xfail = body[len("xfail:"):].strip()
            continue
        pending: list[dict] = []
        pos = 0
        while pos < len(body):
            if body[pos].isspace():
                pos += 1
                continue
            im = ITEM.match(body, pos)
            if im is None:
                raise ValueError(f"{path}:{lineno}: bad '//!' marker near {body[pos:]!r}")
            if im.group(1):
                pending.append({"code": im.group(1)})
            elif im.group(2):
                if not pending or "col" in pending[-1]:
                    raise ValueError(f"{path}:{lineno}: 'col=' must follow a code")
                pending[-1]["col"] = int(im.group(2))
            else:
                if not pending or not im.group(4):
                    raise ValueError(f"{path}:{lineno}: 'hint:' must follow a code")
                pending[-1]["hint"] = im.group(4).strip()
            pos = im.end()
        if not pending:
            raise ValueError(f"{path}:{lineno}: '//!' marker without a code")
        expects += [Expect(path, lineno, **p) for p in pending]
    return expects, xfail


def expectations_of(spec: Path) -> tuple[list[Expect], str | None]:
    """Markers of the spec and of its helper folder (spec.stem/)."""
    expects, xfail = parse_markers(spec)
    helpers = spec.with_suffix("")
    if helpers.is_dir():
        for f in sorted(helpers.rglob("*.irq")):
            more, reason = parse_markers(f)
            assert reason is None, f"{f}: put '//! xfail' in the main spec"
            expects += more
    return expects, xfail


def match(expects: list[Expect], diags: list[Diagnostic]):
    """(unmatched expectations, unexpected diagnostics); the most specific match first."""
    remaining = list(diags)
    missing = []
    order = sorted(expects, key=lambda e: (e.code == "E*", e.col is None, e.hint is None))
    for e in order:
        for d in remaining:
            if e.matches(d):
                remaining.remove(d)
                break
        else:
            missing.append(e)
    return missing, remaining


def spec_files() -> list[Path]:
    return sorted(DATA.glob("*.irq"))


def _params():
    out = []
    for f in spec_files():
        _, xfail = parse_markers(f)
        marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
        out.append(pytest.param(f, id=f.stem, marks=marks))
    return out


def _describe(diags: list[Diagnostic], sources: SourceCache) -> str:
    return "\n".join(render(d, sources) for d in diags) or "(none)"


# ------------------------------------------------------------------ golden files
@pytest.mark.parametrize("spec", _params())
def test_golden(spec: Path):
    expects, _ = expectations_of(spec)
    sources = SourceCache()
    system, diags = load_system(spec, [], sources)
    missing, extra = match(expects, diags)
    assert not missing and not extra, (
        f"\nmissing: {[str(e) for e in missing]}\n"
        f"unexpected:\n{_describe(extra, sources)}\n"
        f"all diagnostics:\n{_describe(diags, sources)}")
    assert (system is None) == bool(diags), "a system is built exactly when there is no error"
    for d in diags:
        _assert_well_formed(d, sources)


def _assert_well_formed(d: Diagnostic, sources: SourceCache) -> None:
    """Registered code, a message, a span inside the file, rendered with source and caret."""
    assert d.code in CODES, d
    assert d.message.strip(), d
    assert d.span is not None, f"a diagnostic of a spec file needs a position: {d}"
    s = d.span
    text = Path(s.file).read_text().splitlines()
    assert 1 <= s.line <= len(text), d
    line = text[s.line - 1]
    assert 1 <= s.col <= len(line) + 1, d
    assert (s.end_line, s.end_col) >= (s.line, s.col), d
    out = render(d, sources).splitlines()
    assert out[0] == f"{s.file}:{s.line}:{s.col}: error[{d.code}]: {d.message}"
    assert out[1].endswith(line.expandtabs(1)), out
    caret = out[2]
    assert caret.strip() and set(caret.strip()) == {"^"}, out
    assert caret.index("^") == out[1].index(" | ") + 3 + s.col - 1, out


def test_data_files_are_sound():
    """Every file has expectations or is a deliberate valid spec; syntax files hold one error."""
    files = spec_files()
    assert len(files) >= 30
    for f in files:
        expects, xfail = expectations_of(f)
        codes = {e.code for e in expects}
        if not expects:
            assert f.stem.startswith("ok_"), f"{f.name}: no '//!' expectations"
        if codes & SYNTAX_CODES:
            assert len(expects) == 1, f"{f.name}: a syntax-error file holds one error"
        if xfail is None:
            assert "E*" not in codes, f"{f.name}: a passing file names its codes"
        assert codes - {"E*"} <= set(CODES), f"{f.name}: unregistered code"


def test_harness_detects_missing_and_extra(tmp_path):
    """The matcher itself: a wrong column, a wrong code or an unexpected error fail."""
    spec = tmp_path / "h.irq"
    spec.write_text("var x: 0..3 = 0\n"
                    "rule r { x := y } //! E101 col=15 hint: nothing like this\n"
                    "rule s { x := z } //! E201\n")
    expects, _ = expectations_of(spec)
    _, diags = load_system(spec, [])
    missing, extra = match(expects, diags)
    assert [(e.line, e.code) for e in missing] == [(2, "E101"), (3, "E201")]
    assert [(d.span.line, d.code) for d in extra] == [(2, "E101"), (3, "E101")]
    spec.write_text("var x: 0..3 = 0\nrule r { x := y } //! E101 col=15 E*\n")
    missing, extra = match(*[expectations_of(spec)[0], load_system(spec, [])[1]])
    assert [(e.line, e.code) for e in missing] == [(2, "E*")] and extra == []
    spec.write_text("var x: bool = false //! E101 col\n")
    with pytest.raises(ValueError):
        parse_markers(spec)


def test_every_code_is_covered():
    """Every registered code that a spec file can produce has a passing golden file."""
    covered = set()
    for f in spec_files():
        expects, xfail = expectations_of(f)
        if xfail is None:
            covered |= {e.code for e in expects}
    assert set(CODES) - NOT_FROM_DATA - covered == set()


def test_did_you_mean_for_a_misspelled_variable():
    spec = DATA / "unknown_name.irq"
    _, diags = load_system(spec, [])
    (d,) = [d for d in diags if "'cont'" in d.message]
    assert d.code == "E101"
    assert d.hint is not None and "did you mean 'count'" in d.hint


# ------------------------------------------------------------------ E004: unreadable files
def test_missing_spec_file(tmp_path):
    system, diags = load_system(tmp_path / "nope.irq", [])
    assert system is None
    assert [d.code for d in diags] == ["E004"]
    assert "nope.irq" in diags[0].message and diags[0].hint


def test_spec_path_is_a_folder(tmp_path):
    folder = tmp_path / "dir.irq"
    folder.mkdir()
    system, diags = load_system(folder, [])
    assert system is None and [d.code for d in diags] == ["E004"]


def test_import_of_a_file_that_is_not_utf8(tmp_path):
    (tmp_path / "bad.irq").write_bytes(b"var x: bool = \xff\xfe\n")
    spec = tmp_path / "spec.irq"
    spec.write_text('var y: bool = false\nimport "bad.irq"\nrule r { skip }\n')
    system, diags = load_system(spec, [])
    assert system is None and [d.code for d in diags] == ["E004"]
    s = diags[0].span
    assert s is not None and Path(s.file).resolve() == spec.resolve()
    assert (s.line, s.col) == (2, 8)


# ------------------------------------------------------------------ E401: --const
CONSTS_SPEC = DATA / "ok_constants.irq"


def _const_diags(consts):
    system, diags = load_system(CONSTS_SPEC, consts)
    assert system is None
    assert all(d.code == "E401" and d.span is None for d in diags), diags
    return diags


def test_const_out_of_range():
    (d,) = _const_diags(["C=99"])
    assert "C=99" in d.message and "1..4" in d.hint


def test_const_unknown_name_with_did_you_mean():
    (d,) = _const_diags(["NOPE=1"])
    assert "'NOPE'" in d.message and "did you mean 'NODES'" in d.hint


def test_const_unknown_name_lists_the_constants():
    (d,) = _const_diags(["ZZZ=1"])
    assert "C, NODES, MODE, TRACE" in d.hint


def test_const_malformed():
    (d,) = _const_diags(["C"])
    assert "NAME=VALUE" in d.message and "--const C=2" in d.hint


@pytest.mark.parametrize("item,hint", [
    ("MODE=medium", "slow, fast"),
    ("MODE=1", "slow, fast"),
    ("TRACE=1", "true or false"),
    ("C=two", "1..4"),
    ("C=-1", "1..4"),
])
def test_const_value_of_the_wrong_type(item, hint):
    (d,) = _const_diags([item])
    assert hint in d.hint


def test_const_errors_are_reported_together():
    diags = _const_diags(["C=99", "NOPE=1", "TRACE=maybe"])
    assert len(diags) == 3


def test_valid_const_overrides():
    system, diags = load_system(CONSTS_SPEC, ["C=3", "MODE=fast", "TRACE=true", "NODES=0x2"])
    assert diags == [] and system is not None
    values = {name: value for name, _, value in system.constants}
    assert values["C"] == 3 and values["TRACE"] is True and values["NODES"] == 2


# ------------------------------------------------------------------ command line
def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "IRQCHECK_DEBUG"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "checker", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _cli_params():
    return [pytest.param(f, id=f.stem) for f in spec_files()
            if expectations_of(f)[0] and parse_markers(f)[1] is None]


@pytest.mark.parametrize("spec", _cli_params())
def test_cli_check_reports_bad_input(spec: Path):
    rel = spec.relative_to(ROOT)
    proc = _cli("check", str(rel))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout == ""
    err = proc.stderr.splitlines()
    expects, _ = expectations_of(spec)
    for e in expects:
        file = re.escape(os.path.relpath(e.file, ROOT))
        col = str(e.col) if e.col is not None else r"\d+"
        code = r"E\d{3}" if e.code == "E*" else e.code
        head = re.compile(rf"^{file}:{e.line}:{col}: error\[{code}\]: ")
        idx = [i for i, line in enumerate(err) if head.match(line)]
        assert idx, f"no '{head.pattern}' in:\n{proc.stderr}"
        i = idx[0]
        source = e.file.read_text().splitlines()[e.line - 1].expandtabs(1)
        assert err[i + 1] == f"{e.line:>4} | {source}", err[i:i + 3]
        assert err[i + 2].strip().startswith("^"), err[i:i + 3]
    n = len(expects)
    assert err[-1].startswith(f"{n} error{'s' if n != 1 else ''};"), err[-1]


def test_cli_missing_file(tmp_path):
    proc = _cli("check", str(tmp_path / "missing.irq"))
    assert proc.returncode == 2
    assert "error[E004]" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args,text", [
    (["--const", "C=99"], "error[E401]: --const C=99"),
    (["--const", "NOPE=1"], "did you mean 'NODES'"),
    (["--const", "C"], "is not NAME=VALUE"),
])
def test_cli_bad_const(args, text):
    proc = _cli("check", str(CONSTS_SPEC.relative_to(ROOT)), *args)
    assert proc.returncode == 2
    assert text in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_cli_explain():
    proc = _cli("explain", "E101")
    assert proc.returncode == 0, proc.stderr
    c = CODES["E101"]
    assert proc.stdout.startswith(f"E101 ({c.slug}): {c.title}")
    assert c.explanation in proc.stdout


def test_cli_explain_by_slug():
    proc = _cli("explain", "unknown-name")
    assert proc.returncode == 0 and proc.stdout.startswith("E101 (unknown-name)")


def test_cli_explain_unknown_code():
    proc = _cli("explain", "NOPE")
    assert proc.returncode == 2
    assert "no diagnostic code 'NOPE'" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_explain_list():
    proc = _cli("explain", "--list")
    assert proc.returncode == 0
    listed = [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]
    assert listed == list(CODES)


# ------------------------------------------------------------------ the registry
def test_registry():
    assert CODES, "no codes registered"
    slugs = [c.slug for c in CODES.values()]
    assert len(set(slugs)) == len(slugs), "slugs must be unique"
    assert set(SLUGS) == set(slugs)
    for key, c in CODES.items():
        assert key == c.code and re.fullmatch(r"E\d{3}", c.code), c
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", c.slug), c
        assert c.title.strip() and c.explanation.strip(), c
        assert c.explanation == c.explanation.strip()
        assert lookup(c.code) is c and lookup(c.slug) is c and lookup(c.code.lower()) is c


# ------------------------------------------------------------------ fixed bugs
def test_every_diagnostic_has_a_hint():
    without = []
    for f in spec_files():
        if parse_markers(f)[1] is None:
            without += [f"{d.span}: {d.code} {d.message}" for d in load_system(f, [])[1]
                        if not (d.hint and d.hint.strip())]
    assert without == []


def test_long_expression_does_not_crash(tmp_path):
    spec = tmp_path / "long.irq"
    guard = " or ".join(["x"] * 400)
    spec.write_text(f"var x: bool = false\nrule r when {guard} {{ x := false }}\n")
    system, diags = load_system(spec, [])
    assert diags == [] and system is not None


def test_set_literal_out_of_range_is_reported(tmp_path):
    spec = tmp_path / "set.irq"
    spec.write_text("option deadlock = false\nvar s: set of 0..3 = {}\nrule r { s := {5} }\n")
    proc = _cli("check", str(spec), "--no-timing")
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "set element out of range 0..3" in proc.stdout


def test_named_def_arguments_bind_by_name_or_are_rejected(tmp_path):
    spec = tmp_path / "named.irq"
    spec.write_text("option deadlock = false\nvar x: 0..3 = 0\ndef f(a: 0..3, b: 0..3) = a\n"
                    "rule r { x := f(b = 1, a = 3) }\ninvariant i: x != 1\n")
    proc = _cli("check", str(spec), "--no-timing")
    assert proc.returncode == 0, proc.stdout + proc.stderr

"""Every example of docs/language.md: ```irq blocks are specs that must load and check
(exit 0 or 1), and ```text blocks that start with '$ ' are transcripts whose output must
match ('...' on a line of its own matches any run of lines)."""

import re
import shutil
import subprocess
import sys

import pytest
from helpers import ROOT

DOC = ROOT / "docs/language.md"
BIN = shutil.which("irqcheck")


def _blocks():
    text = DOC.read_text()
    for m in re.finditer(r"^```(\w*)\n(.*?)^```\s*$", text, re.S | re.M):
        yield m.group(1), m.group(2), text[:m.start()].count("\n") + 1


def _write_specs(work):
    names, n = [], 0
    for kind, content, line in _blocks():
        if kind != "irq":
            continue
        n += 1
        m = re.match(r"//\s*file:\s*(\S+)", content.splitlines()[0] if content.strip() else "")
        name = m.group(1) if m else f"ex{n}.irq"
        p = work / name
        p.parent.mkdir(parents=True, exist_ok=True)
        assert not p.exists() or p.read_text() == content, f"line {line}: {name} written twice"
        p.write_text(content)
        names.append((name, line))
    return names


def _matches(exp, act):
    if not exp:
        return not act
    if exp[0].strip() == "...":
        return any(_matches(exp[1:], act[i:]) for i in range(len(act) + 1))
    return bool(act) and exp[0].rstrip() == act[0].rstrip() and _matches(exp[1:], act[1:])


def test_every_spec_example_checks(tmp_path):
    for name, line in _write_specs(tmp_path):
        r = subprocess.run([sys.executable, "-m", "checker", "check", name, "--no-timing"],
                           cwd=tmp_path, capture_output=True, text=True)
        if r.returncode == 2 and "error[" in r.stderr:
            continue  # an example of a diagnostic: its transcript pins the output
        assert r.returncode in (0, 1), f"docs/language.md:{line} {name}\n{r.stderr}"


@pytest.mark.skipif(BIN is None, reason="the irqcheck command is not installed")
def test_every_transcript_matches(tmp_path):
    _write_specs(tmp_path)
    failures = []
    for kind, content, line in _blocks():
        if kind != "text" or not content.startswith("$ "):
            continue
        cmds = []
        for ln in content.splitlines():
            if ln.startswith("$ "):
                cmds.append([ln[2:], []])
            else:
                cmds[-1][1].append(ln)
        for cmd, exp in cmds:
            r = subprocess.run(["bash", "-c", cmd + " 2>&1"], cwd=tmp_path, capture_output=True,
                               text=True)
            act = r.stdout.rstrip("\n").split("\n")
            while exp and not exp[-1].strip():
                exp.pop()
            if not _matches(exp, act):
                failures.append(f"docs/language.md:{line}: $ {cmd}\n" + "\n".join(act))
    assert not failures, "\n\n".join(failures)

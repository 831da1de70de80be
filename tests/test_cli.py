"""Every exit code of the command line, and the shape of its reports."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from helpers import ROOT, SPECS

from checker import cli


def irqcheck(*args):
    """Run the real command (python -m checker) and return the completed process."""
    return subprocess.run([sys.executable, "-m", "checker", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_exit_0_when_everything_holds():
    p = irqcheck("check", SPECS / "components.irq")
    assert p.returncode == 0, p.stderr
    assert "result: 3 holds" in p.stdout


def test_exit_1_with_shortest_trace_on_violation():
    p = irqcheck("check", ROOT / "specs/examples/lost_edge.irq")
    assert p.returncode == 1
    assert "violated  invariant  raised_is_pending" in p.stdout
    assert "mask(p=0)   ioapic_write_indirect  masked[0]=true" in p.stdout
    assert "raise(p=0)  kvm_ioapic_set_irq" in p.stdout


def test_the_command_keeps_unused_modules_out(tmp_path):
    """OpenSSL's libcrypto (through hashlib) and the regex module, which Lark would load,
    are not loaded by irqcheck's own process; parsing and its errors work without them."""
    spec = tmp_path / "bad.irq"
    spec.write_text("var x: bool = false\nrule r when x { x := }\n")
    driver = ("import atexit, sys\n"
              "atexit.register(lambda: print('loaded:', sorted(m for m in ('_hashlib', 'regex',"
              " 'rich', 'lark') if sys.modules.get(m)), file=sys.stderr))\n"
              "sys.argv = ['irqcheck'] + sys.argv[1:]\n"
              "from checker.cli import run\n"
              "run()\n")
    p = subprocess.run([sys.executable, "-c", driver, "check", spec], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2
    assert f"{spec}:2:22: error[E001]: unexpected '}}'" in p.stderr
    assert "loaded: ['lark']" in p.stderr


def test_exit_2_on_misspelled_variable(tmp_path):
    spec = tmp_path / "typo.irq"
    spec.write_text("var masked: bool = false\nrule r when not maskd { masked := true }\n")
    p = irqcheck("check", spec)
    assert p.returncode == 2
    assert f"{spec}:2:17: error[E101]: unknown name 'maskd'" in p.stderr
    assert "did you mean 'masked'?" in p.stderr
    assert "                ^^^^^" in p.stderr
    assert "Traceback" not in p.stderr


def test_exit_2_on_bad_const_and_missing_file():
    p = irqcheck("check", SPECS / "counter.irq", "--const", "X=1")
    assert p.returncode == 2 and "E401" in p.stderr
    p = irqcheck("check", SPECS / "no_such_file.irq")
    assert p.returncode == 2 and "E004" in p.stderr and "Traceback" not in p.stderr


def test_exit_3_on_state_limit():
    p = irqcheck("check", SPECS / "components.irq", "--max-states", "50")
    assert p.returncode == 3
    assert "stopped at --max-states" in p.stdout


def test_exit_3_on_timeout():
    p = irqcheck("check", ROOT / "specs/bench/bm1.irq", "--const", "C=3", "--const", "P=4",
                 "--timeout", "0.5", "--format", "json")
    assert p.returncode == 3
    data = json.loads(p.stdout)
    assert data["status"] == "timeout"
    assert {q["verdict"] for q in data["properties"]} == {"unknown"}


def test_exit_70_on_internal_error(monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("simulated bug")
    monkeypatch.setattr("checker.engines.explicit.check", boom)
    monkeypatch.setattr("checker.engines.vector.check", boom)
    monkeypatch.setattr(sys, "argv", ["irqcheck", "check", str(SPECS / "counter.irq")])
    with pytest.raises(SystemExit) as exc:
        cli.run()
    assert exc.value.code == cli.EXIT_INTERNAL


def test_json_report_shape():
    r = CliRunner().invoke(cli.main, ["check", str(SPECS / "action.irq"), "--format", "json"])
    assert r.exit_code == 1
    data = json.loads(r.output)
    assert {"spec", "engine", "properties", "stats"} <= set(data)
    assert data["engine"] == "vector"  # auto: the spec vectorises
    (prop,) = data["properties"]
    assert (prop["name"], prop["kind"], prop["verdict"]) == ("only_requested", "action",
                                                            "violated")
    assert [s["label"] for s in prop["trace"]] == ["init", "take"]
    assert prop["trace"][1]["changes"] == {"count": "1"}
    assert prop["trace"][1]["state"] == {"req": False, "count": 1}
    assert {"states", "transitions", "depth", "seconds"} <= set(data["stats"])


def test_json_is_byte_identical_across_runs():
    args = ["check", str(ROOT / "specs/examples/lost_edge.irq"), "--format", "json",
            "--no-timing"]
    a, b = irqcheck(*args), irqcheck(*args)
    assert a.stdout == b.stdout and a.stdout


def test_output_file_is_written_atomically(tmp_path):
    out = tmp_path / "report.json"
    out.write_text("old")
    r = CliRunner().invoke(cli.main, ["check", str(SPECS / "counter.irq"), "--format", "json",
                                      "-o", str(out)])
    assert r.exit_code == 1
    assert json.loads(out.read_text())["spec"] == "counter"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_explain():
    r = CliRunner().invoke(cli.main, ["explain", "E101"])
    assert r.exit_code == 0 and "Unknown name" in r.output
    r = CliRunner().invoke(cli.main, ["explain", "unknown-name"])
    assert r.exit_code == 0 and "E101" in r.output
    r = CliRunner().invoke(cli.main, ["explain", "--list"])
    assert "E301" in r.output
    r = CliRunner().invoke(cli.main, ["explain", "E999"])
    assert r.exit_code == 2


def test_const_override_changes_the_model():
    r = CliRunner().invoke(cli.main, ["check", str(ROOT / "specs/bench/bm1.irq"), "--const",
                                      "C=1", "--const", "P=1", "--format", "json"])
    assert r.exit_code == 0
    data = json.loads(r.output)
    assert data["constants"] == {"C": 1, "P": 1, "BUG": 0}
    assert data["stats"]["states"] == 216


def test_ctrl_c_stops_with_partial_statistics_and_exit_3():
    import signal
    import time
    proc = subprocess.Popen([sys.executable, "-m", "checker", "check",
                             str(ROOT / "specs/bench/bm1.irq"), "--const", "C=3", "--const",
                             "P=4", "--format", "json"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    data = json.loads(out)
    assert data["status"] == "interrupted"
    assert data["stats"]["states"] > 1000
    assert "Traceback" not in err

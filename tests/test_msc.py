"""The counterexample picture (checker/report/msc.py): an SVG message-sequence chart.

For each spec in specs/bugs/ the chart of its violated property parses as XML and has one
lane per expected component, one row per step, the last row highlighted and arrows where a
step changes another lane; the SVG equals the golden file tests/golden/msc/NAME.svg byte
for byte (IRQCHECK_UPDATE_GOLDEN=1 rewrites the golden files). The HTML page embeds the
SVG, and headless Chromium loads it and takes a screenshot without a console message
(skipped where Chromium is not installed: `apt-get install chromium`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import ROOT, run, system_from_text

from checker.engines.explicit import Options, check
from checker.report.msc import actor_kind, lanes_of, render_html, render_svg
from checker.report.values import leaves
from checker.result import PropertyResult, Result, Verdict

BUGS = sorted((ROOT / "specs" / "bugs").glob("*.irq"))
GOLDEN = Path(__file__).resolve().parent / "golden" / "msc"
UPDATE = os.environ.get("IRQCHECK_UPDATE_GOLDEN") == "1"
NS = "{http://www.w3.org/2000/svg}"

# The lanes of each bug's counterexample, left to right (the specs are flat: the lanes come
# from the KVM functions of the rules and the names of the variables).
EXPECTED_LANES = {
    "b01_eoi_first_match": ["devices", "IOAPIC", "LAPIC", "vCPU", "guest", "ghost"],
    "b02_level_race": ["devices", "IOAPIC", "LAPIC", "vCPU", "guest", "ghost"],
    "b06_eoi_storm": ["devices", "IOAPIC", "LAPIC", "vCPU", "guest"],
    "b13_pid_on_sn": ["devices", "LAPIC", "vCPU", "ghost"],
    "b15_split_irqchip_window": ["devices", "LAPIC", "vCPU", "userspace", "guest", "ghost"],
    "b16_userspace_window": ["devices", "vCPU", "userspace"],
    "b18_smm_shadow": ["LAPIC", "vCPU", "guest"],
    "b20_pit_discard": ["devices", "LAPIC", "vCPU", "guest", "ghost"],
}


@functools.cache
def result_of(path: str, consts: tuple[str, ...] = ()) -> Result:
    return run(ROOT / path, consts)


def prop_of(result: Result, name: str | None = None) -> PropertyResult:
    """The named property, or the first violated one."""
    return next(p for p in result.properties
                if (p.name == name if name else p.verdict == Verdict.VIOLATED))


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{NS}g") if cls in g.get("class", "").split()]


def title(el: ET.Element) -> str:
    t = el.find(f"{NS}title")
    assert t is not None and t.text
    return t.text


def arrows(root: ET.Element, step: int) -> list[tuple[str, str, str]]:
    """(from, to, title) of the arrows of a step."""
    marks = next(g for g in groups(root, "marks") if g.get("data-step") == str(step))
    return [(a.get("data-from"), a.get("data-to"), title(a)) for a in groups(marks, "arrow")]


def test_every_bug_has_expected_lanes():
    assert sorted(EXPECTED_LANES) == [p.stem for p in BUGS]


@pytest.mark.parametrize("spec", BUGS, ids=lambda p: p.stem)
def test_bug_chart(spec):
    result = result_of(f"specs/bugs/{spec.name}")
    prop = prop_of(result)
    trace = prop.trace
    svg = render_svg(result, prop)
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"

    # one lane per component, in order
    heads = groups(root, "head")
    assert [h.get("data-lane") for h in heads] == EXPECTED_LANES[spec.stem]
    assert [ln.name for ln in lanes_of(result, prop)] == EXPECTED_LANES[spec.stem]

    # one row per step, each with the full state after the step as its title
    rows = groups(root, "row")
    assert [r.get("data-step") for r in rows] == [str(i) for i in range(len(trace.steps))]
    for row, step in zip(rows, trace.steps):
        text = title(row)
        assert "state after the step" in text
        for name, value in leaves(result.system, step.state):
            leaf = name.partition(".")[2] if name.startswith("ghost.") else name
            assert f"{leaf}={value}" in text, (name, value)

    # the violating step, and only it, is highlighted; the caption names the property
    highlighted = [r.get("data-step") for r in rows if "violation" in r.get("class").split()]
    assert highlighted == [str(len(trace.steps) - 1)]
    caption = "".join(groups(root, "caption")[0].itertext())
    assert f"violated: {prop.kind}" in caption and prop.name in caption

    # each step but the first has one box, on a lane of the chart
    lanes = set(EXPECTED_LANES[spec.stem])
    for i in range(1, len(trace.steps)):
        marks = next(g for g in groups(root, "marks") if g.get("data-step") == str(i))
        boxes = groups(marks, "step")
        assert len(boxes) == 1 and boxes[0].get("data-lane") in lanes
        assert rows[i].get("data-rule") == trace.steps[i].label

    # arrows go from the box to another lane of the chart, and there is at least one
    all_arrows = [a for i in range(len(trace.steps)) for a in arrows(root, i)]
    assert all_arrows
    for src, dst, _ in all_arrows:
        assert src in lanes and dst in lanes and src != dst

    # deterministic, and pinned by the golden file
    assert render_svg(result, prop) == svg
    golden = GOLDEN / f"{spec.stem}.svg"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(svg)
    assert golden.exists(), f"no golden file {golden}: run with IRQCHECK_UPDATE_GOLDEN=1"
    assert svg == golden.read_text(), f"{golden} differs (IRQCHECK_UPDATE_GOLDEN=1 rewrites it)"


def test_same_result_same_bytes():
    a = run(ROOT / "specs/bugs/b02_level_race.irq")
    b = run(ROOT / "specs/bugs/b02_level_race.irq")
    assert render_svg(a, prop_of(a)) == render_svg(b, prop_of(b))
    assert render_html(a, prop_of(a)) == render_html(b, prop_of(b))


def test_delivery_and_injection_arrows():
    result = result_of("specs/bugs/b01_eoi_first_match.irq")
    root = ET.fromstring(render_svg(result, prop_of(result)))
    # step 1, raise (kvm_ioapic_set_irq): the IOAPIC delivers to the LAPIC
    assert ("IOAPIC", "LAPIC") in {(s, d) for s, d, _ in arrows(root, 1)}
    assert any("lirr=true" in t for s, d, t in arrows(root, 1) if d == "LAPIC")
    # step 2, inject (vmx_inject_irq): the vCPU takes the interrupt from the LAPIC
    assert ("vCPU", "LAPIC") in {(s, d) for s, d, _ in arrows(root, 2)}


def test_eoi_goes_back_to_the_ioapic():
    result = result_of("specs/scenarios/s07_level_eoi_line_low.irq")
    prop = prop_of(result, "eoi_with_line_low")  # a witness whose last step is the EOI
    root = ET.fromstring(render_svg(result, prop))
    last = len(prop.trace.steps) - 1
    assert prop.trace.steps[last].kvm == "kvm_ioapic_update_eoi"
    assert ("LAPIC", "IOAPIC") in {(s, d) for s, d, _ in arrows(root, last)}
    rows = groups(root, "row")
    assert "witness" in rows[last].get("class").split()
    assert not any("violation" in r.get("class").split() for r in rows)


COMPONENTS = """
const C: 1..4 = 2
type Cpu = 0..C-1
type Trigger = enum { edge, level }
type Entry = record { vector: 0..3, dest: Cpu, trig: Trigger, remote_irr: bool }

component Lapic(NV: 1..8) {
  var irr: set of 0..NV-1 = {}
  var isr: set of 0..NV-1 = {}
  proc accept(v: 0..NV-1) { irr += {v} }

  @kvm("kvm_get_apic_interrupt")
  rule ack when not empty(irr) and empty(isr) {
    let v = max(irr)
    irr -= {v}
    isr += {v}
  }

  @kvm("apic_set_eoi")
  rule eoi when not empty(isr) {
    let v = max(isr)
    isr -= {v}
    ioapic.eoi(v)
  }
}

component Ioapic() {
  var redir: Entry = { vector: 1, dest: 1, trig: level, remote_irr: false }
  var raised: bool = false
  proc eoi(v: 0..3) {
    if redir.vector == v and redir.trig == level { redir.remote_irr := false }
  }

  @kvm("kvm_ioapic_set_irq")
  rule raise when not raised and not redir.remote_irr {
    raised := true
    lapic[redir.dest].accept(redir.vector)
    redir.remote_irr := true
  }
}

instance lapic[c in Cpu] = Lapic(NV = 4)
instance ioapic = Ioapic()

invariant never_acked: not (ioapic.raised and not ioapic.redir.remote_irr)
"""


def test_component_lanes_and_messages(tmp_path):
    system = system_from_text(tmp_path, COMPONENTS)
    result = check(system, Options())
    prop = prop_of(result, "never_acked")
    assert prop.verdict == Verdict.VIOLATED
    assert [s.label for s in prop.trace.steps] == [
        "init", "ioapic.raise", "lapic[1].ack", "lapic[1].eoi"]
    root = ET.fromstring(render_svg(result, prop))
    heads = groups(root, "head")
    assert [h.get("data-lane") for h in heads] == ["ioapic", "lapic[0]", "lapic[1]"]
    assert [h.get("data-kind") for h in heads] == ["IOAPIC", "LAPIC", "LAPIC"]
    assert "idle" in heads[1].get("class").split()  # lapic[0] takes no part
    assert [(s, d) for s, d, _ in arrows(root, 1)] == [("ioapic", "lapic[1]")]
    assert [(s, d) for s, d, _ in arrows(root, 2)] == []  # the ack stays in lapic[1]
    assert [(s, d) for s, d, _ in arrows(root, 3)] == [("lapic[1]", "ioapic")]
    assert "redir.remote_irr=false" in arrows(root, 3)[0][2]
    rows = groups(root, "row")
    assert "violation" in rows[3].get("class").split()
    assert "lapic[1]: irr={}  isr={}" in title(rows[3])


def test_runtime_error_step():
    result = result_of("tests/specs/overflow.irq")
    prop = prop_of(result)
    assert prop.faulty_step
    root = ET.fromstring(render_svg(result, prop))
    last = groups(root, "row")[-1]
    assert "violation" in last.get("class").split()
    assert "run-time error: the step cannot complete" in "".join(last.itertext())


def test_text_is_escaped_and_lasso_drawn():
    result = result_of("specs/bugs/b01_eoi_first_match.irq")
    prop = prop_of(result)
    odd = 'a <b> & "c" \x01 ]]>'
    prop = dataclasses.replace(prop, reason=odd, trace=dataclasses.replace(prop.trace, loop=1))
    svg = render_svg(result, prop)
    root = ET.fromstring(svg)
    assert 'a <b> & "c" ? ]]>' in "".join(groups(root, "caption")[0].itertext())
    lasso = groups(root, "lasso")
    assert len(lasso) == 1 and lasso[0].get("data-loop") == "1"
    page = render_html(result, prop)
    assert "a &lt;b&gt; &amp; &quot;c&quot;" in page and "<b>" not in page


def test_html_page():
    result = result_of("specs/bugs/b13_pid_on_sn.irq")
    prop = prop_of(result)
    page = render_html(result, prop)
    svg = render_svg(result, prop)
    assert page.startswith("<!DOCTYPE html>")
    assert svg in page
    for text in (prop.name, str(prop.verdict), result.system.file, "FIXED=false", "lost"):
        assert text in page


def test_no_trace():
    result = result_of("specs/bugs/b06_eoi_storm.irq")
    prop = prop_of(result, "deadlock")
    assert prop.trace is None
    with pytest.raises(ValueError, match="no trace"):
        render_svg(result, prop)


@pytest.mark.parametrize("kvm,lane", [
    ("kvm_ioapic_set_irq", "IOAPIC"), ("ioapic_write_indirect", "IOAPIC"),
    ("kvm_ioapic_eoi_inject_work", "IOAPIC"), ("kvm_ioapic_update_eoi", "LAPIC"),
    ("apic_set_eoi", "LAPIC"), ("__apic_accept_irq", "LAPIC"), ("apic_set_tpr", "LAPIC"),
    ("vmx_inject_irq", "vCPU"), ("vcpu_enter_guest", "vCPU"),
    ("handle_interrupt_window", "vCPU"), ("kvm_set_irq", "devices"),
    ("kvm_vm_ioctl_irq_line", "devices"), ("QEMU: i8259 raises INTR", "devices"),
    ("kvm_pit_do_work", "devices"), ("irqfd_wakeup -> irqfd_inject", "devices"),
    ("post_kvm_run_save", "userspace"), ("kvm_arch_vcpu_ioctl_run", "userspace"),
    ("guest: sti", "guest"), ("guest: EOI; iret", "guest"), ("something_else", "system"),
])
def test_actor_table(kvm, lane):
    assert actor_kind(kvm) == lane


# ---------------------------------------------------------------- the browser

def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def test_chromium_renders_the_page(tmp_path):
    browser = chromium()
    if browser is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")
    result = result_of("specs/bugs/b01_eoi_first_match.irq")
    page = tmp_path / "b01.html"
    page.write_text(render_html(result, prop_of(result)))
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={shot}", "--window-size=1400,1000", "--enable-logging=stderr",
         "--v=0", page.as_uri()],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the page has no script: any console message is an error in it
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1400, 1000)
    assert len(data) > 20_000, "the screenshot is nearly empty"  # a blank page is ~3 KB

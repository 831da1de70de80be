"""The human-readable report: verdict per property, statistics, counterexample tables."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from checker.report.values import changes, grouped_changes
from checker.result import PropertyResult, Result, Status, Trace, Verdict

WIDTH = 110

_STATUS_NOTE = {
    Status.STATE_LIMIT: "stopped at --max-states: the state space was not exhausted",
    Status.TIMEOUT: "stopped at --timeout: the state space was not exhausted",
    Status.INTERRUPTED: "interrupted: the state space was not exhausted",
    Status.STOPPED: "stopped at the first violation (--fail-fast)",
    Status.MODEL_ERROR: "stopped: the model hit a run-time error",
}


def _console(buf: io.StringIO, color: bool) -> Console:
    return Console(file=buf, width=WIDTH, force_terminal=color, color_system="standard"
                   if color else None, highlight=False, emoji=False, soft_wrap=False,
                   markup=False)


def _fmt_int(n: int) -> str:
    return f"{n:,}"


def render_text(result: Result, timing: bool = True, color: bool = False,
                witnesses: bool = False) -> str:
    buf = io.StringIO()
    con = _console(buf, color)
    consts = ", ".join(f"{k}={_const_text(v)}" for k, v in result.constants.items())
    con.print(f"spec {result.system.file}" + (f" ({consts})" if consts else "") +
              f" · engine {result.engine}")
    s = result.stats
    line = (f"states {_fmt_int(s.states)} · transitions {_fmt_int(s.transitions)} · "
            f"depth {s.depth}")
    if result.engine in ("z3-bmc", "z3-kind"):
        line = f"bounded model checking · paths of up to {s.depth} steps"
    if result.engine == "z3-pdr":
        line = "IC3/PDR (Z3 Spacer)"
    if timing:
        line += (f" · {s.seconds:.2f} s · {_fmt_int(int(s.states_per_second))} states/s · "
                 f"peak memory {s.peak_rss_mb:.0f} MB")
        if s.bytes_per_state:
            line += f" · {s.bytes_per_state:.0f} bytes/state"
        if s.load_factor is not None:
            line += f" · visited set {s.visited_mb:.0f} MB, load {s.load_factor:.2f}"
    con.print(line)
    for note in result.notes:
        con.print(f"note: {note}", soft_wrap=True)
    if result.status in _STATUS_NOTE:
        con.print(_STATUS_NOTE[result.status])
    con.print()
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0))
    for _ in range(3):
        table.add_column(no_wrap=True)
    for p in result.properties:
        kind = p.kind if p.pclass in ("generic", p.kind) else f"{p.kind} [{p.pclass}]"
        table.add_row(_verdict_text(p.verdict, color), kind, p.name)
    con.print(table)
    for p in result.properties:
        if p.verdict == Verdict.VIOLATED or (witnesses and p.kind == "reachable"
                                             and p.trace is not None):
            con.print()
            _counterexample(con, result, p, color)
    con.print()
    con.print(_summary(result))
    if result.traces:
        con.print(f"traces: {', '.join(result.traces)}", soft_wrap=True)
    if result.profile is not None:
        con.print()
        con.print(_profile_table(result.profile, timing))
    return "\n".join(line.rstrip() for line in buf.getvalue().split("\n"))


def _profile_table(rows: list[dict], timing: bool) -> Table:
    """Rule instances by time spent (by new states without timing), busiest first."""
    table = Table(title="profile: where the search went", title_justify="left", box=None,
                  pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column("rule", no_wrap=True)
    table.add_column("KVM function", no_wrap=True)
    table.add_column("fired", justify="right")
    table.add_column("new states", justify="right")
    if timing:
        table.add_column("seconds", justify="right")
    key = (lambda r: -r["seconds"]) if timing else (lambda r: -(r["new_states"] or 0))
    for r in sorted(rows, key=key):
        if not timing and r["fired"] is None:
            continue
        cells = [r["rule"], r["kvm"] or "",
                 "-" if r["fired"] is None else _fmt_int(r["fired"]),
                 "-" if r["new_states"] is None else _fmt_int(r["new_states"])]
        if timing:
            cells.append(f"{r['seconds']:.3f}")
        table.add_row(*cells)
    return table


def _const_text(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _verdict_text(v: Verdict, color: bool) -> Text:
    style = {Verdict.HOLDS: "green", Verdict.VIOLATED: "bold red", Verdict.UNKNOWN: "yellow"}[v]
    return Text(str(v), style=style if color else "")


def _summary(result: Result) -> str:
    counts = {v: sum(1 for p in result.properties if p.verdict == v) for v in Verdict}
    parts = [f"{counts[v]} {v}" for v in (Verdict.HOLDS, Verdict.VIOLATED, Verdict.UNKNOWN)
             if counts[v]]
    return "result: " + (", ".join(parts) if parts else "no properties")


def _counterexample(con: Console, result: Result, p: PropertyResult, color: bool) -> None:
    trace = p.trace
    if trace is None:
        con.print(f"{p.name}: {p.reason}")
        return
    n = len(trace)
    what = "witness" if p.verdict == Verdict.HOLDS else "counterexample"
    con.print(f"{what} for {p.kind} {p.name} ({n} step{'s' if n != 1 else ''}, "
              "shortest):")
    con.print(trace_table(result, trace, faulty=p.faulty_step))
    if p.reason:
        con.print(f"  {p.reason}")


def trace_table(result: Result, trace: Trace, faulty: bool = False) -> Table:
    """One row per step: the rule, the KVM function it models, the leaves that changed
    (grouped by component instance)."""
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="")
    table.add_column("step", justify="right", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("kvm function", no_wrap=True)
    table.add_column("changes", overflow="fold")
    before = None
    for i, step in enumerate(trace.steps):
        diff = changes(result.system, before, step.state)
        text = grouped_changes(result.system, diff)
        if i > 0 and not diff:
            text = "(no change)"
        if faulty and i == len(trace.steps) - 1:
            text = "(run-time error: the step cannot complete)"
        table.add_row(str(i), step.label, step.kvm or "", text)
        before = step.state
    return table

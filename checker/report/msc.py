"""Counterexample pictures: a trace drawn as an SVG message-sequence chart.

How to read the chart
---------------------
* **Lanes** (columns, a header and a dashed lifeline): one per component instance of the
  spec, e.g. ``pin[1]``, ``ioapic``, ``lapic[0]``, ``vcpu[0]``, in the order devices,
  IOAPIC, LAPICs, vCPUs, userspace, guest, system. A spec without components (a "flat"
  spec, like those of ``specs/bugs/``) gets the lanes ``devices``, ``IOAPIC``, ``LAPIC``,
  ``vCPU``, ``userspace``, ``guest`` and ``system``: a rule goes to the lane of the KVM
  function it models (``ACTOR_PATTERNS``), a variable to the lane its name says
  (``VARIABLE_LANES``), else to the lane of the first step (or rule) that writes it.
  The verification bookkeeping (``ghost.*``) has a grey lane at the right. A lane that
  takes no part in the trace is drawn narrow and grey. In a spec with components, a rule
  outside them goes to the component of its lane's kind (of ``lapic[0]``, ``lapic[1]``:
  the one the step changed), else to a lane of that kind of its own.
* **Rows**: one per step, top to bottom; row 0 is the initial state (each lane shows its
  initial values). In row *i* the box sits on the lane whose rule fired; it names the rule
  (with its parameters) and the KVM function. An arrow from the box to another lane means
  that the step changed that lane's state (a message: IOAPIC -> LAPIC delivery, vCPU ->
  LAPIC acknowledge, EOI back to the IOAPIC, ...); its label lists the new values,
  abridged. The column at the right lists every change of the step, lane by lane.
* **The violating step** is the last row, in red; the caption under the chart names the
  property, its verdict and the reason. For a witness of a ``reachable`` property the last
  row is blue. A lasso (``Trace.loop``) is drawn as an arrow at the left from the last row
  back to the step it returns to.
* **Hover** a row for the full state after the step (SVG ``<title>``), a lane header for
  its variables, an arrow for all the values it carries.

Public functions (pure, deterministic: the same input gives the same bytes; ``prop`` must
have a trace, else ValueError):

* ``render_svg(result, prop) -> str``: the chart as a standalone SVG document;
* ``render_html(result, prop) -> str``: a standalone HTML page with the property, verdict,
  reason, spec file, constants and engine above the inline SVG;
* ``lanes_of(result, prop) -> list[Lane]`` and ``actor_kind(kvm) -> str``: the lanes.

    result = check(system, Options())
    prop = next(p for p in result.properties if p.trace is not None)
    Path("cex.html").write_text(render_html(result, prop))

The SVG is written by hand rather than with a drawing library: the chart needs six kinds
of element (rect, line, path, text, g, title), positions are plain integer arithmetic on
a monospace font, and escaping is ``xml.sax.saxutils``; a library would add an install for
CI without removing any of this code, and would put its own ids and number formatting
between us and byte-for-byte stable output.
"""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Collection
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from checker import ir
from checker.report.values import leaves
from checker.result import PropertyResult, Result, Step, Trace, Verdict

# ---------------------------------------------------------------- lanes

DEVICES, IOAPIC, LAPIC, VCPU, USERSPACE, GUEST, SYSTEM, GHOST = (
    "devices", "IOAPIC", "LAPIC", "vCPU", "userspace", "guest", "system", "ghost")
KIND_ORDER = (DEVICES, IOAPIC, LAPIC, VCPU, USERSPACE, GUEST, SYSTEM, GHOST)

# The lane of a rule of a flat spec, from the KVM function it models (lower case; the first
# pattern that matches wins). EOIs start at the LAPIC, so that the arrow of an EOI goes back
# to the IOAPIC; the IOAPIC's own deferred work after an EOI stays on the IOAPIC.
ACTOR_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"^guest\b", GUEST),
    (r"^test\b", SYSTEM),
    (r"(?<!ioapic_)eoi", LAPIC),
    (r"ioapic", IOAPIC),
    (r"irq_line|kvm_set_irq|msi\b|_pit_|\bpit\b|i8259|\bpic\b|pic_irq|irqfd|vfio|vt-d|iommu"
     r"|device|testdev", DEVICES),
    (r"qemu|dosemu|ioctl|kvm_run|userspace|complete_fast_pio|kvm_exit_io", USERSPACE),
    (r"apic|tpr|spiv|accept_irq|posted-interrupt|virtual-interrupt|\bppr\b", LAPIC),
    (r"vmx|svm|vcpu|inject|enter|exit|window|nmi|smm|smi|exception|^cpu\b|vm entry|nested"
     r"|interrupt|halt|block|gif|handle_|pio|emulat", VCPU),
)

# The lane of a variable of a flat spec, by name. 'irr' is the IOAPIC's when the spec has a
# separate LAPIC IRR ('lirr', 'lisr' or 'virr'), else the LAPIC's.
VARIABLE_LANES: dict[str, str] = {
    **dict.fromkeys(("line", "lines", "level", "pic", "intx_pending", "intx_masked",
                     "msi_sent", "irq_states"), DEVICES),
    **dict.fromkeys(("rirr", "remote_irr", "redir", "mask", "masked", "irq_eoi", "pin_irr",
                     "irr_delivered", "eoi_inject", "delayed"), IOAPIC),
    **dict.fromkeys(("lirr", "lirr1", "lisr", "isr", "tmr", "ppr", "tpr", "virr", "pir",
                     "pirr", "on", "sn"), LAPIC),
    **dict.fromkeys(("ifl", "rif", "if_flag", "shadow", "in_shadow", "mode", "where",
                     "injected", "inj", "req_event", "req_win", "win", "halted", "smm", "smi",
                     "gif", "in_nmi"), VCPU),
    **dict.fromkeys(("pc", "ret", "hdl", "count", "progress", "handled"), GUEST),
}
_VARIABLE_PREFIXES = (("nmi_", VCPU), ("exc_", VCPU))

# The kind of a component, by its name, for the order of the lanes.
_COMPONENT_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"^ghost$", GHOST), (r"ioapic", IOAPIC), (r"apic", LAPIC), (r"cpu", VCPU),
    (r"pin|line|dev|irqfd|resampl|gsi|rout|pit|pic|msi", DEVICES),
    (r"run|pio|user|qemu", USERSPACE), (r"guest", GUEST),
)


def actor_kind(kvm: str) -> str:
    """The lane of a flat spec's rule that models the KVM function `kvm`."""
    low = kvm.lower()
    return next((k for pat, k in ACTOR_PATTERNS if re.search(pat, low)), SYSTEM)


def _variable_kind(name: str, names: set[str]) -> str | None:
    if name == "irr":
        return IOAPIC if names & {"lirr", "lisr", "virr"} else LAPIC
    if name in VARIABLE_LANES:
        return VARIABLE_LANES[name]
    return next((k for p, k in _VARIABLE_PREFIXES if name.startswith(p)), None)


def _component_kind(name: str) -> str:
    return next((k for pat, k in _COMPONENT_PATTERNS if re.search(pat, name.lower())), SYSTEM)


@dataclass(frozen=True)
class Lane:
    name: str  # 'lapic[1]', 'ioapic', or for a flat spec one of KIND_ORDER
    kind: str  # one of KIND_ORDER
    variables: tuple[str, ...]  # the variables drawn on it (members for a component)


@dataclass(frozen=True)
class _Chart:
    lanes: tuple[Lane, ...]
    leaf_lane: tuple[str, ...]  # the lane of each leaf, in the order of values.leaves
    names: tuple[str, ...]  # leaf names
    values: tuple[tuple[str, ...], ...]  # per step: the value of each leaf
    actors: tuple[str | None, ...]  # per step: the lane of the rule (None for step 0)


def _leaf_count(t: ir.Type) -> int:
    if isinstance(t, ir.ArrayT):
        return len(list(ir.domain_values(t.index))) * _leaf_count(t.elem)
    if isinstance(t, ir.RecordT):
        return sum(_leaf_count(ft) for _, ft in t.fields)
    return 1


def _writes(stmts: tuple[ir.Stmt, ...], out: set[int]) -> None:
    for s in stmts:
        if isinstance(s, ir.Assign):
            target = s.target
            while isinstance(target, (ir.Index, ir.Field)):
                target = target.base
            if isinstance(target, ir.VarRef):
                out.add(target.var)
        elif isinstance(s, ir.If):
            _writes(s.then, out)
            _writes(s.els, out)
        elif isinstance(s, ir.For):
            _writes(s.body, out)


def _analyse(system: ir.System, trace: Trace) -> _Chart:
    rows = [leaves(system, step.state) for step in trace.steps]
    names = tuple(n for n, _ in rows[0])
    values = tuple(tuple(v for _, v in row) for row in rows)
    # the variable of each leaf, and its component instance
    owner: list[int] = []
    instance: list[str | None] = []
    for vi, var in enumerate(system.variables):
        n = _leaf_count(var.type)
        for leaf in names[len(owner):len(owner) + n]:
            if var.instance_array:
                instance.append(leaf[:leaf.index("].") + 1])
            else:
                instance.append(var.component)
        owner.extend([vi] * n)
    if len(owner) != len(names):  # a type this module does not know: no lanes by variable
        owner, instance = [-1] * len(names), [None] * len(names)
    components: dict[str, str] = {}  # instance -> kind, in order of first appearance
    for inst in instance:
        if inst is not None:
            components.setdefault(inst, _component_kind(inst.partition("[")[0]))
    for rule in system.rules:
        if rule.component is not None and rule.instance_param is None:
            components.setdefault(rule.component, _component_kind(rule.component))
    by_kind: dict[str, list[str]] = {}
    for inst, kind in components.items():
        by_kind.setdefault(kind, []).append(inst)

    def kind_lane(kind: str, changed: Collection[str] = ()) -> str:
        """The lane for a flat rule or variable of this kind: the component of that kind if
        the spec has just one, or the instance of it that the step changed."""
        same = by_kind.get(kind, [])
        if len(same) == 1:
            return same[0]
        if len({c.partition("[")[0] for c in same}) == 1:  # 'lapic[0]', 'lapic[1]'
            return next((c for c in same if c in changed), kind)
        return kind

    def step_lane(i: int, step: Step) -> str:
        if step.component is not None:
            return step.component
        changed = {inst for inst, a, b in zip(instance, values[i - 1], values[i])
                   if inst is not None and a != b}
        return kind_lane(actor_kind(step.kvm or step.rule or ""), changed)

    actors = tuple(None if s.rule is None else step_lane(i, s)
                   for i, s in enumerate(trace.steps))
    # the lane of each flat variable: by name, by its first writer in the trace, by the
    # first rule that assigns it, else 'system'
    flat_names = {v.name for v in system.variables if v.component is None}
    var_lane: dict[int, str] = {}
    for vi, var in enumerate(system.variables):
        if var.component is None and (kind := _variable_kind(var.name, flat_names)):
            var_lane[vi] = kind_lane(kind)
    for i in range(1, len(values)):
        for j, (a, b) in enumerate(zip(values[i - 1], values[i])):
            if a != b and instance[j] is None and owner[j] not in var_lane:
                var_lane[owner[j]] = actors[i] or SYSTEM
    for rule in system.rules:
        written: set[int] = set()
        _writes(rule.body, written)
        lane = rule.component if rule.instance_param is None and rule.component else None
        for vi in sorted(written):
            if system.variables[vi].component is None and vi not in var_lane:
                var_lane[vi] = lane or kind_lane(actor_kind(rule.kvm or rule.name))
    leaf_lane = tuple(inst if inst is not None else var_lane.get(owner[j], SYSTEM)
                      for j, inst in enumerate(instance))
    # the lanes, in kind order, then flat lanes first, then by first appearance
    seen: dict[str, int] = {}
    for lane in (*leaf_lane, *(a for a in actors if a is not None)):
        seen.setdefault(lane, len(seen))
    kinds = {lane: components.get(lane) or (lane if lane in KIND_ORDER else
                                            _component_kind(lane.partition("[")[0]))
             for lane in seen}
    order = sorted(seen, key=lambda ln: (KIND_ORDER.index(kinds[ln]),
                                         ln not in KIND_ORDER, seen[ln]))
    lane_vars: dict[str, list[str]] = {ln: [] for ln in order}
    for j, lane in enumerate(leaf_lane):
        var = system.variables[owner[j]].name if owner[j] >= 0 else names[j]
        short = var.partition(".")[2] if instance[j] is not None else var
        if short not in lane_vars[lane]:
            lane_vars[lane].append(short)
    lanes = tuple(Lane(ln, kinds[ln], tuple(lane_vars[ln])) for ln in order)
    return _Chart(lanes, leaf_lane, names, values, actors)


def lanes_of(result: Result, prop: PropertyResult) -> list[Lane]:
    """The lanes of the chart of `prop`'s trace, left to right."""
    return list(_analyse(result.system, _trace(prop)).lanes)


def _trace(prop: PropertyResult) -> Trace:
    if prop.trace is None:
        raise ValueError(f"property {prop.name!r} has no trace to draw")
    return prop.trace


# ---------------------------------------------------------------- geometry and text

FONT = "DejaVu Sans Mono, Menlo, Consolas, Liberation Mono, monospace"
CW = 6.7  # the width of a character at 11 px, a little more than the font's 0.6 em
CW_SMALL = 6.1  # at 10 px
MARGIN = 16
STEP_W = 44  # the step-number column
LANE_W = 156
IDLE_LANE_W = 96
HEAD_H = 28
CHANGES_GAP = 18
CHANGES_W = 400
LINE_H = 14  # text lines
ARROW_H = 16  # arrows of one row, one under the other
MAX_CHANGE_LINES = 8


def _clean(text: str) -> str:
    """Text without the control characters XML 1.0 forbids (newlines and tabs stay)."""
    return "".join(c if c >= " " or c in "\n\t" else "?" for c in text)


def _fit(text: str, width: float, cw: float = CW) -> str:
    """`text` cut with an ellipsis to fit `width` pixels."""
    n = max(1, int(width // cw))
    return text if len(text) <= n else text[:n - 1] + "\u2026"


def _tag(name: str, attrs: dict[str, object], body: str | None = None) -> str:
    a = "".join(f" {k.replace('_', '-')}={quoteattr(_clean(str(v)))}"
                for k, v in attrs.items())
    return f"<{name}{a}/>" if body is None else f"<{name}{a}>{body}</{name}>"


def _text(x: float, y: float, text: str, cls: str, **attrs: object) -> str:
    return _tag("text", {"x": _num(x), "y": _num(y), "class": cls, **attrs},
                escape(_clean(text)))


def _title(text: str) -> str:
    return f"<title>{escape(_clean(text))}</title>"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def _local(leaf: str, lane: str) -> str:
    """A leaf name as seen from its lane: 'lapic[0].irr' on lane 'lapic[0]' is 'irr'."""
    return leaf[len(lane) + 1:] if leaf.startswith(lane + ".") else leaf


def _state_text(chart: _Chart, step: int) -> list[str]:
    """The full state, one line per lane."""
    out = []
    for lane in chart.lanes:
        parts = [f"{_local(n, lane.name)}={v}" for n, v, ln in
                 zip(chart.names, chart.values[step], chart.leaf_lane) if ln == lane.name]
        if parts:
            out.append(f"{lane.name}: " + "  ".join(parts))
    return out


# ---------------------------------------------------------------- the chart

@dataclass(frozen=True)
class _Frame:
    """Where things go: lane centres and widths, the changes column, the whole width."""
    pid: str  # the id of the <svg>, which scopes its style and names its markers
    center: dict[str, int]
    widths: dict[str, int]
    busy: frozenset[str]  # the lanes that act or change in the trace
    changes_x: int
    width: int
    last: int  # the index of the last step
    violated: bool


@dataclass(frozen=True)
class _Row:
    index: int
    top: int
    height: int
    changed: dict[str, list[str]]  # lane -> 'name=value' of its changed leaves
    lines: list[str]  # the changes column


def _style(pid: str) -> str:
    s = f"#{pid}"
    return (
        f"{s} text{{font-family:{FONT};font-size:11px;fill:#1f2328}}"
        f"{s} .head rect{{fill:#e8eef7;stroke:#4a6fa5}}"
        f"{s} .head text{{font-weight:bold}}"
        f"{s} .head.idle rect{{fill:#f3f3f3;stroke:#c4c4c4}}"
        f"{s} .head.idle text{{fill:#8a8a8a;font-weight:normal}}"
        f"{s} .head.ghost rect{{fill:#f3f3f3;stroke:#9a9a9a;stroke-dasharray:3 2}}"
        f"{s} .lifeline{{stroke:#9aa5b1;stroke-dasharray:4 3}}"
        f"{s} .band{{fill:#ffffff}}"
        f"{s} .row.odd .band{{fill:#f5f7fa}}"
        f"{s} .row.violation .band{{fill:#fde4e4}}"
        f"{s} .row.witness .band{{fill:#e3edfb}}"
        f"{s} .actor{{fill:#ffffff;stroke:#4a6fa5}}"
        f"{s} .row.violation .actor{{stroke:#c62828;stroke-width:2}}"
        f"{s} .label{{font-weight:bold}}"
        f"{s} .kvm,{s} .init,{s} .alabel{{font-size:10px}}"
        f"{s} .kvm{{fill:#5a6270;font-style:italic}}"
        f"{s} .init{{fill:#5a6270}}"
        f"{s} .alabel{{paint-order:stroke;stroke:#ffffff;stroke-width:3px}}"
        f"{s} .arrow line{{stroke:#33475b;stroke-width:1.3}}"
        f"{s} .arrow.ghost line{{stroke:#9a9a9a;stroke-dasharray:3 2}}"
        f"{s} .arrow.ghost .alabel{{fill:#7a7a7a}}"
        f"{s} .row.violation .arrow line{{stroke:#c62828}}"
        f"{s} .stepno{{font-weight:bold;fill:#5a6270}}"
        f"{s} .row.violation .stepno,{s} .verdict.violated{{fill:#c62828}}"
        f"{s} .verdict{{font-weight:bold;font-size:12px}}"
        f"{s} .verdict.witness{{fill:#1f5fbf}}"
        f"{s} .mark{{font-weight:bold;fill:#c62828}}"
        f"{s} .row.witness .mark{{fill:#1f5fbf}}"
        f"{s} .help{{fill:#6a7280;font-size:10px}}"
        f"{s} .loop{{fill:none;stroke:#7b4fa5;stroke-width:1.5}}"
        f"{s} .looplabel{{fill:#7b4fa5;font-size:10px}}"
    )


def _markers(pid: str) -> str:
    out = []
    for suffix, color in (("", "#33475b"), ("-ghost", "#9a9a9a"), ("-red", "#c62828"),
                          ("-loop", "#7b4fa5")):
        path = _tag("path", {"d": "M0,0 L10,5 L0,10 z", "fill": color})
        out.append(_tag("marker", {"id": f"{pid}-arrow{suffix}", "viewBox": "0 0 10 10",
                                   "refX": 10, "refY": 5, "markerWidth": 8,
                                   "markerHeight": 8, "orient": "auto-start-reverse"}, path))
    return "<defs>" + "".join(out) + "</defs>"


def render_svg(result: Result, prop: PropertyResult) -> str:
    """The message-sequence chart of `prop`'s trace as a standalone SVG document."""
    trace = _trace(prop)
    chart = _analyse(result.system, trace)
    frame = _frame(chart, trace, prop)
    rows = _rows(chart, trace, prop, frame)
    rows_end = rows[-1].top + rows[-1].height
    caption, caption_h = _caption(prop, trace, frame, rows_end + 28)
    width, height = frame.width, rows_end + 28 + caption_h + MARGIN
    what = "counterexample" if frame.violated else "trace"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{frame.pid}" class="msc" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f"aria-label={quoteattr(_clean(f'{what} for {prop.kind} {prop.name}'))}>",
        _title(f"{what} for {prop.kind} {prop.name} in spec {result.spec}"),
        f"<style>{_style(frame.pid)}</style>",
        _markers(frame.pid),
        _tag("rect", {"x": 0, "y": 0, "width": width, "height": height, "fill": "#ffffff"}),
    ]
    # bands (with the row's title and the changes column), lifelines, lane headers, then
    # the boxes and arrows over the lifelines
    out.extend(_row(chart, trace, row, frame) for row in rows)
    out.append(_tag("g", {"class": "lifelines"}, "".join(
        _tag("line", {"class": "lifeline", "x1": frame.center[ln.name], "y1": MARGIN + HEAD_H,
                      "x2": frame.center[ln.name], "y2": rows_end}) for ln in chart.lanes)))
    out.extend(_header(lane, frame) for lane in chart.lanes)
    out.extend(_marks(chart, trace, row, frame) for row in rows)
    if trace.loop is not None and 0 <= trace.loop <= frame.last:
        out.append(_lasso(rows[frame.last], rows[trace.loop], frame))
    out.append(caption)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _frame(chart: _Chart, trace: Trace, prop: PropertyResult) -> _Frame:
    """Lanes that take part in the trace are wide, the others narrow."""
    busy = {a for a in chart.actors if a is not None}
    for before, after in zip(chart.values, chart.values[1:]):
        busy |= {ln for ln, a, b in zip(chart.leaf_lane, before, after) if a != b}
    widths = {ln.name: LANE_W if ln.name in busy else IDLE_LANE_W for ln in chart.lanes}
    center: dict[str, int] = {}
    x = MARGIN + STEP_W
    for ln in chart.lanes:
        center[ln.name] = x + widths[ln.name] // 2
        x += widths[ln.name]
    return _Frame(pid="msc-" + re.sub(r"[^A-Za-z0-9_-]", "-", prop.name), center=center,
                  widths=widths, busy=frozenset(busy), changes_x=x + CHANGES_GAP,
                  width=x + CHANGES_GAP + CHANGES_W + MARGIN, last=len(trace.steps) - 1,
                  violated=prop.verdict == Verdict.VIOLATED)


def _rows(chart: _Chart, trace: Trace, prop: PropertyResult, frame: _Frame) -> list[_Row]:
    """Each step's changes by lane, its lines in the changes column, and its height."""
    rows: list[_Row] = []
    y = MARGIN + HEAD_H + 10
    chars = int(CHANGES_W // CW)
    for i in range(len(trace.steps)):
        by_lane: dict[str, list[str]] = {}
        if i > 0:
            for n, a, b, ln in zip(chart.names, chart.values[i - 1], chart.values[i],
                                   chart.leaf_lane):
                if a != b:
                    by_lane.setdefault(ln, []).append(f"{_local(n, ln)}={b}")
        changed = {ln.name: by_lane[ln.name] for ln in chart.lanes if ln.name in by_lane}
        faulty = prop.faulty_step and i == frame.last
        lines: list[str] = []
        if i == 0:
            lines.append("initial state (hover a lane or row for the values)")
        elif faulty:
            lines.append("run-time error: the step cannot complete")
        elif not changed:
            lines.append("(no change)")
        for ln, parts in changed.items():
            lines.extend(textwrap.wrap(f"{ln}: " + ", ".join(parts), chars,
                                       subsequent_indent="  ", break_on_hyphens=False))
        if len(lines) > MAX_CHANGE_LINES:
            lines = lines[:MAX_CHANGE_LINES - 1] + ["\u2026 (hover the row for the rest)"]
        if i == frame.last:
            lines.append(("\u2716 violates " if frame.violated else "\u2714 reaches ")
                         + prop.name)
        height = max(44, ARROW_H * _slots(changed, chart.actors[i], frame) + 20,
                     LINE_H * len(lines) + 10)
        rows.append(_Row(i, y, height, changed, lines))
        y += height
    return rows


def _slots(changed: dict[str, list[str]], actor: str | None, frame: _Frame) -> int:
    """How many arrows go from the actor's box to one side (the arrows of a side stack)."""
    if actor is None:
        return 0
    right = sum(1 for ln in changed if frame.center[ln] > frame.center[actor])
    left = sum(1 for ln in changed if frame.center[ln] < frame.center[actor])
    return max(left, right)


def _row_title(chart: _Chart, trace: Trace, i: int) -> str:
    step = trace.steps[i]
    head = "step 0: initial state" if i == 0 else f"step {i}: {step.label}"
    if step.kvm:
        head += f"\nKVM: {step.kvm}"
    return head + "\nstate after the step:\n" + "\n".join(_state_text(chart, i))


def _row(chart: _Chart, trace: Trace, row: _Row, frame: _Frame) -> str:
    """A row's band, step number, changes column and title (the marks come later)."""
    cls = "row" + (" odd" if row.index % 2 else "")
    if row.index == frame.last:
        cls += " violation" if frame.violated else " witness"
    body = _title(_row_title(chart, trace, row.index))
    body += _tag("rect", {"class": "band", "x": MARGIN, "y": row.top,
                          "width": frame.width - 2 * MARGIN, "height": row.height})
    body += _text(MARGIN + STEP_W - 10, row.top + 18, str(row.index), "stepno",
                  text_anchor="end")
    for k, line in enumerate(row.lines):
        is_mark = row.index == frame.last and k == len(row.lines) - 1
        body += _text(frame.changes_x, row.top + 18 + LINE_H * k, line,
                      "mark" if is_mark else "change")
    return _tag("g", {"class": cls, "data-step": row.index,
                      "data-rule": trace.steps[row.index].label}, body)


def _header(lane: Lane, frame: _Frame) -> str:
    cx, w = frame.center[lane.name], frame.widths[lane.name]
    cls = "head" + ("" if lane.name in frame.busy else " idle")
    cls += " ghost" if lane.kind == GHOST else ""
    body = _title(f"{lane.name} ({lane.kind})\nvariables: "
                  + (", ".join(lane.variables) or "none"))
    body += _tag("rect", {"x": cx - (w - 10) // 2, "y": MARGIN, "width": w - 10,
                          "height": HEAD_H, "rx": 4})
    body += _text(cx, MARGIN + 18, _fit(lane.name, w - 14), "name", text_anchor="middle")
    return _tag("g", {"class": cls, "data-lane": lane.name, "data-kind": lane.kind}, body)


def _marks(chart: _Chart, trace: Trace, row: _Row, frame: _Frame) -> str:
    """The box of the rule that fired and its arrows (the initial values in row 0)."""
    out = []
    if row.index == 0:
        for ln in chart.lanes:
            parts = [f"{_local(n, ln.name)}={v}" for n, v, lane in
                     zip(chart.names, chart.values[0], chart.leaf_lane) if lane == ln.name]
            if parts:
                w = frame.widths[ln.name] - 10
                out.append(_tag("g", {"class": "initial", "data-lane": ln.name},
                                _title(f"{ln.name} initially: " + ", ".join(parts))
                                + _text(frame.center[ln.name], row.top + 18,
                                        _fit(" ".join(parts), w, CW_SMALL), "init",
                                        text_anchor="middle")))
        return _tag("g", {"class": "marks", "data-step": 0}, "".join(out))
    step = trace.steps[row.index]
    actor = chart.actors[row.index]
    assert actor is not None
    cx, w = frame.center[actor], frame.widths[actor] - 12
    box = _title(_row_title(chart, trace, row.index))
    box += _tag("rect", {"class": "actor", "x": cx - w // 2, "y": row.top + 5, "width": w,
                         "height": max(32, ARROW_H * _slots(row.changed, actor, frame) + 8),
                         "rx": 3})
    box += _text(cx, row.top + 18, _fit(step.label, w - 6), "label", text_anchor="middle")
    if step.kvm:
        box += _text(cx, row.top + 31, _fit(step.kvm, w - 6, CW_SMALL), "kvm",
                     text_anchor="middle")
    out.append(_tag("g", {"class": "step", "data-lane": actor}, box))
    kinds = {lane.name: lane.kind for lane in chart.lanes}
    slot = [0, 0]
    for ln, parts in row.changed.items():
        if ln == actor:
            continue
        right = frame.center[ln] > cx
        y = row.top + 22 + ARROW_H * slot[right]
        slot[right] += 1
        x1 = cx + w // 2 if right else cx - w // 2
        x2 = frame.center[ln] - 3 if right else frame.center[ln] + 3
        ghost = kinds[ln] == GHOST
        marker = "-red" if row.index == frame.last and frame.violated else \
            "-ghost" if ghost else ""
        # the label starts at the box and may run on over the outer half of the target lane
        room = abs(x2 - x1) + frame.widths[ln] // 2 - 12
        arrow = _title(f"{actor} \u2192 {ln}: " + ", ".join(parts))
        arrow += _tag("line", {"x1": x1, "y1": y, "x2": x2, "y2": y,
                               "marker-end": f"url(#{frame.pid}-arrow{marker})"})
        arrow += _text(x1 + 5 if right else x1 - 5, y - 5,
                       _fit(", ".join(parts), room, CW_SMALL), "alabel",
                       text_anchor="start" if right else "end")
        out.append(_tag("g", {"class": "arrow" + (" ghost" if ghost else ""),
                              "data-from": actor, "data-to": ln}, arrow))
    return _tag("g", {"class": "marks", "data-step": row.index}, "".join(out))


def _lasso(last: _Row, target: _Row, frame: _Frame) -> str:
    """An arrow in the step column from the last row back to the row the lasso returns to."""
    ya, yb = last.top + last.height // 2, target.top + target.height // 2
    xl, xr = MARGIN + 6, MARGIN + STEP_W - 4
    return _tag("g", {"class": "lasso", "data-loop": target.index},
                _title(f"the trace loops back to step {target.index}")
                + _tag("path", {"class": "loop", "d": f"M{xr},{ya} H{xl} V{yb} H{xl + 10}",
                                "marker-end": f"url(#{frame.pid}-arrow-loop)"})
                + _text(xl - 2, (ya + yb) // 2, "loop", "looplabel", text_anchor="middle",
                        transform=f"rotate(-90 {xl - 2} {(ya + yb) // 2})"))


def _caption(prop: PropertyResult, trace: Trace, frame: _Frame, y: int) -> tuple[str, int]:
    """The verdict, the property and the reason under the chart, and a line of help."""
    kind = prop.kind if prop.pclass in ("generic", prop.kind) else f"{prop.kind} [{prop.pclass}]"
    n = len(trace)
    head = f"{prop.verdict}: {kind} {prop.name} ({n} step{'' if n == 1 else 's'})"
    inner = frame.width - 2 * MARGIN
    reason = textwrap.wrap(prop.reason or "", max(40, int(inner // CW)),
                           break_on_hyphens=False)
    help_lines = textwrap.wrap(
        "Box: the rule that fired and the KVM function it models. Arrow: the step changed "
        "that lane's state (new values on the arrow). Hover a row for the full state after "
        "the step.", int(inner // CW_SMALL), break_on_hyphens=False)
    body = _text(MARGIN, y, head, "verdict " + ("violated" if frame.violated else "witness"))
    for k, line in enumerate(reason):
        body += _text(MARGIN, y + 18 + LINE_H * k, line, "reason")
    y_help = y + 18 + LINE_H * len(reason) + 6
    for k, line in enumerate(help_lines):
        body += _text(MARGIN, y_help + LINE_H * k, line, "help")
    return _tag("g", {"class": "caption"}, body), y_help + LINE_H * len(help_lines) - y


# ---------------------------------------------------------------- the page

def _const_text(v: object) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


_PAGE_STYLE = (
    "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:20px;color:#1f2328}"
    "h1{font-size:18px;margin:0 0 10px}"
    "table.meta{border-collapse:collapse;margin-bottom:14px;font-size:13px}"
    "table.meta th{text-align:left;padding:2px 14px 2px 0;color:#5a6270;font-weight:normal}"
    "table.meta td{padding:2px 0}"
    ".violated{color:#c62828;font-weight:bold}.holds{color:#2e7d32;font-weight:bold}"
    ".unknown{color:#b26a00;font-weight:bold}"
    ".chart{overflow-x:auto}"
    "code{font-family:DejaVu Sans Mono,Menlo,Consolas,monospace}"
)


def render_html(result: Result, prop: PropertyResult) -> str:
    """A standalone HTML page: the property, verdict, spec and constants, then the chart."""
    e = html.escape
    trace = _trace(prop)
    consts = ", ".join(f"{k}={_const_text(v)}" for k, v in result.constants.items())
    kind = prop.kind if prop.pclass in ("generic", prop.kind) else f"{prop.kind} [{prop.pclass}]"
    what = "Counterexample" if prop.verdict == Verdict.VIOLATED else "Trace"
    rows = [
        ("property", f"<code>{e(prop.name)}</code> ({e(kind)})"),
        ("verdict", f'<span class="{e(str(prop.verdict))}">{e(str(prop.verdict))}</span>'),
        ("reason", e(prop.reason or "")),
        ("spec", f"<code>{e(result.system.file)}</code>"),
        ("constants", f"<code>{e(consts)}</code>" if consts else "(defaults)"),
        ("engine", e(result.engine)),
        ("steps", str(len(trace))),
    ]
    table = "".join(f"<tr><th>{k}</th><td>{_clean(v)}</td></tr>" for k, v in rows)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>irqcheck: {e(prop.name)} ({e(str(prop.verdict))})</title>\n"
        f"<style>{_PAGE_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{what} for <code>{e(prop.name)}</code></h1>\n"
        f'<table class="meta">{table}</table>\n'
        f'<div class="chart">\n{render_svg(result, prop)}</div>\n'
        "</body>\n</html>\n"
    )

"""Spec review: what a reviewer reads before trusting a spec.

One exhaustive search (the vector engine, recording the state graph and the work of
every rule instance) and then, over every reachable state:

- rule coverage: how often each rule fired and how many new states it produced;
  rules that never fire (dead rules are usually a modelling error);
- variables that never change, and the values each one actually takes;
- vacuity: invariants `A => B` (also under `forall`) and `lost P ~> Q` whose trigger
  A or P never holds, `reachable` properties never witnessed, asserts whose rule never
  fires;
- the state graph projected onto chosen variables, as Graphviz DOT (and SVG when
  Graphviz's `dot` is installed);
- the rules beside the KVM functions they model, with their place in the spec.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import time
from dataclasses import dataclass, field

import numpy as np

from checker import ir
from checker.engines.explicit import Options
from checker.report.values import leaves
from checker.result import make_step


@dataclass
class RuleCoverage:
    name: str
    kvm: str | None
    where: str
    instances: int
    enabled_instances: int  # instances whose guard is not constantly false
    fired: int
    new_states: int
    never_fired: list[str] = field(default_factory=list)  # instance labels


@dataclass
class VarRange:
    name: str
    values: list[str]  # the values taken (all of them when few)
    count: int  # how many distinct values
    domain: int  # how many the type allows


@dataclass
class Review:
    spec: str
    file: str
    constants: dict
    states: int
    transitions: int
    depth: int
    complete: bool
    seconds: float
    rules: list[RuleCoverage]
    ranges: list[VarRange]
    vacuity: list[str]
    projection: dict | None = None  # nodes, edges, dot

    @property
    def dead_rules(self) -> list[RuleCoverage]:
        return [r for r in self.rules if r.fired == 0]

    @property
    def constant_vars(self) -> list[VarRange]:
        return [v for v in self.ranges if v.count == 1]


def _where(span) -> str:
    return f"{span.file}:{span.line}" if span is not None else ""


def review(system: ir.System, options: Options | None = None,
           project: list[str] | None = None) -> Review:
    """Explore the system and review it (raises Unsupported when it does not vectorise)."""
    from checker.engines.compiled import CompiledSystem
    from checker.engines.vcompile import VectorSystem, _cv
    from checker.engines.vector import VectorSearch
    options = options or Options()
    vs = VectorSystem.compile(system)
    cs = CompiledSystem(system)
    deadline = time.perf_counter() + options.timeout if options.timeout else None
    search = VectorSearch(vs, system.deadlock, options.max_states, deadline, False,
                          options.progress, profile=True, graph=True)
    init = cs.pack(tuple(v.init for v in system.variables))
    search.run(vs.layout.to_words(init))
    seconds = time.perf_counter() - search.start
    prof = search.profile
    allw = [np.concatenate([lv[w] for lv in search.levels]) for w in range(search.W)]
    n = len(allw[0])

    # ---- rule coverage ----
    rules = []
    for ri, rule in enumerate(system.rules):
        insts = [i for i in vs.instances if i.rule_index == ri]
        cov = RuleCoverage(rule.name, rule.kvm, _where(rule.span), len(insts),
                           sum(1 for i in insts if i.guard is not None),
                           sum(prof.fired[i.index] for i in insts),
                           sum(prof.new[i.index] for i in insts))
        cov.never_fired = [make_step(rule, i.params, (), ri).label for i in insts
                           if prof.fired[i.index] == 0]
        rules.append(cov)

    # ---- the values every leaf takes ----
    init_state = cs.unpack(init)
    names = [nm for nm, _ in leaves(system, init_state)]
    ranges = []
    for name, lf in zip(names, vs.layout.leaves):
        raw = np.unique((allw[lf.word] >> np.uint64(lf.off)) & np.uint64(lf.mask)) \
            if lf.width else np.zeros(1, dtype=np.uint64)
        shown = [_leaf_text(lf.type, int(x)) for x in raw[:12]]
        if len(raw) > 12:
            shown.append("...")
        ranges.append(VarRange(name, shown, len(raw), _domain_size(lf.type)))

    # ---- vacuity ----
    comp = vs.compiler
    vac = []

    def ever(expr, env) -> bool:
        v = comp.condition(expr, env)
        if v.is_const:
            return bool(v.const)
        from checker.engines.vcompile import Frame
        return bool(np.asarray(v.fn(Frame(allw, n), True)).any())

    for inv in system.invariants:
        ante = _antecedent(inv.expr)
        if ante is None:
            continue
        expr, var, dom = ante
        envs = [{}] if var is None else [{var: _cv(dom, bool(x) if isinstance(dom, ir.BoolT)
                                               else x)} for x in ir.domain_values(dom)]
        if not any(ever(expr, env) for env in envs):
            vac.append(f"invariant '{inv.name}' holds vacuously: its condition (left of "
                       f"'=>') is false in every reachable state")
    for prop in system.recoverables:
        hit = False
        for values in ir.product([ir.domain_values(t) for _, t in prop.params]):
            env = {nm: _cv(t, bool(v) if isinstance(t, ir.BoolT) else v)
                   for (nm, t), v in zip(prop.params, values)}
            if ever(prop.pre, env):
                hit = True
                break
        if not hit:
            vac.append(f"lost property '{prop.name}' holds vacuously: its trigger (left of "
                       f"'~>') is false in every reachable state")
    for i, r in enumerate(system.reachables):
        if i not in search.found.reached:
            vac.append(f"reachable '{r.name}' is never witnessed: no reachable state "
                       f"satisfies it")
    fired_rules = {c.name for c in rules if c.fired}
    for act in system.actions:
        if not any(r in fired_rules for r in act.rules):
            vac.append(f"assert '{act.name}' is never checked: no rule containing it fires")

    out = Review(system.name, system.file,
                 {k: ir.json_value(t, v) for k, t, v in system.constants},
                 search.states, search.transitions, search.depth,
                 search.status == "complete", seconds, rules, ranges, vac)
    if project:
        out.projection = _project(system, search, allw, names, vs, project)
    return out


def _antecedent(e: ir.Expr):
    """(A, quantified variable or None, its domain) of an invariant 'A => B' or
    'forall x: A => B'; None for other shapes."""
    if isinstance(e, ir.Binary) and e.op == "=>":
        return e.left, None, None
    if isinstance(e, ir.Quant) and e.kind == "forall" and isinstance(e.body, ir.Binary) \
            and e.body.op == "=>":
        return e.body.left, e.var, e.domain
    return None


def _leaf_text(t: ir.Type, raw: int) -> str:
    if isinstance(t, ir.BoolT):
        return "true" if raw else "false"
    if isinstance(t, ir.IntT):
        return str(raw + t.lo)
    if isinstance(t, ir.EnumT):
        return t.members[raw] if raw < len(t.members) else f"?{raw}"
    if isinstance(t, ir.SetT):
        return "{" + ", ".join(str(t.lo + i) for i in range(t.hi - t.lo + 1)
                               if raw >> i & 1) + "}"
    return str(raw)


def _domain_size(t: ir.Type) -> int:
    return ir.domain_size(t)


def _project(system, search, allw, names, vs, project: list[str]) -> dict:
    """The state graph projected onto the leaves named (indices may be left out:
    'vcpu.mode' stands for every 'vcpu[i].mode')."""
    import re
    wanted = []
    for i, name in enumerate(names):
        bare = re.sub(r"\[[^\]]*\]", "", name)
        if any(name == p or bare == p or name.startswith(p + "[") or name.startswith(p + ".")
               for p in project):
            wanted.append(i)
    if not wanted:
        return {"error": f"no variable matches {', '.join(project)}"}
    cols = []
    for i in wanted:
        lf = vs.layout.leaves[i]
        cols.append((allw[lf.word] >> np.uint64(lf.off)) & np.uint64(lf.mask))
    keys = np.stack(cols, axis=1) if cols else np.zeros((len(allw[0]), 0), np.uint64)
    uniq, node_of = np.unique(keys, axis=0, return_inverse=True)
    node_of = node_of.reshape(-1)
    src = np.concatenate([e[0] for e in search.edges]) if search.edges else np.zeros(0, int)
    dst = np.concatenate([e[1] for e in search.edges]) if search.edges else np.zeros(0, int)
    inst = np.concatenate([e[2] for e in search.edges]) if search.edges else np.zeros(0, int)
    rule_of = np.array([i.rule_index for i in vs.instances], dtype=np.int64)
    a, b, r = node_of[src], node_of[dst], rule_of[inst.astype(np.int64)]
    moved = a != b
    trip = np.unique(np.stack([a[moved], b[moved], r[moved]], axis=1), axis=0) \
        if moved.any() else np.zeros((0, 3), dtype=np.int64)
    init_node = int(node_of[0])
    labels = []
    for row in uniq:
        parts = [f"{names[i]}={_leaf_text(vs.layout.leaves[i].type, int(x))}"
                 for i, x in zip(wanted, row)]
        labels.append("\\n".join(parts))
    edges: dict[tuple[int, int], list[str]] = {}
    for x, y, ri in trip.tolist():
        edges.setdefault((x, y), []).append(system.rules[ri].name)
    lines = ["digraph projection {", '  rankdir=LR; node [shape=box, fontname="monospace", '
             'fontsize=10]; edge [fontname="monospace", fontsize=9];']
    for k, lab in enumerate(labels):
        style = ', style=bold, color="#1f6feb"' if k == init_node else ""
        lines.append(f'  n{k} [label="{lab}"{style}];')
    for (x, y), rs in sorted(edges.items()):
        shown = ", ".join(rs[:3]) + (f", +{len(rs) - 3}" if len(rs) > 3 else "")
        lines.append(f'  n{x} -> n{y} [label="{shown}"];')
    lines.append("}")
    return {"variables": [names[i] for i in wanted], "nodes": len(labels),
            "edges": len(edges), "dot": "\n".join(lines) + "\n"}


def render_svg(dot: str) -> str | None:
    """The DOT graph as SVG with Graphviz's dot, or None when dot is not installed."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    p = subprocess.run([exe, "-Tsvg"], input=dot, capture_output=True, text=True, timeout=120)
    return p.stdout if p.returncode == 0 else None


# ---------------------------------------------------------------- reports
def markdown(r: Review, system: ir.System) -> str:
    consts = ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                       for k, v in r.constants.items())
    out = [f"# Review of {r.file}", "",
           f"{r.states:,} reachable states, {r.transitions:,} transitions, depth {r.depth}"
           + ("" if r.complete else " (search stopped early: partial)")
           + (f"; constants {consts}" if consts else "") + ".", ""]
    out += ["## Findings", ""]
    findings = [f"dead rule `{c.name}` ({c.kvm or 'no KVM function'}, {c.where}): never "
                f"fires" for c in r.dead_rules]
    findings += [f"`{v.name}` never changes: always {v.values[0]}" for v in r.constant_vars]
    findings += r.vacuity
    out += [f"- {f}" for f in findings] or ["- nothing to flag"]
    out += ["", "## Rule coverage", "",
            "| rule | KVM function | where | instances | fired | new states | never fired |",
            "|---|---|---|---:|---:|---:|---|"]
    for c in r.rules:
        never = ", ".join(c.never_fired[:6]) + (" ..." if len(c.never_fired) > 6 else "")
        out.append(f"| `{c.name}` | {c.kvm or ''} | {c.where} | {c.instances} | {c.fired:,} | "
                   f"{c.new_states:,} | {never} |")
    out += ["", "## Values taken", "", "| variable | distinct values | of | values |",
            "|---|---:|---:|---|"]
    for v in r.ranges:
        out.append(f"| `{v.name}` | {v.count} | {v.domain} | {', '.join(v.values)} |")
    if r.projection is not None:
        p = r.projection
        out += ["", "## Projected state graph", ""]
        if "error" in p:
            out.append(p["error"])
        else:
            out.append(f"Onto {', '.join('`' + v + '`' for v in p['variables'])}: "
                       f"{p['nodes']} nodes, {p['edges']} edges (`projection.dot`"
                       f"{', `projection.svg`' if p.get('svg') else ''}).")
    out += ["", "## Rules and the KVM functions they model", "",
            "| rule | component | KVM function | where |", "|---|---|---|---|"]
    for rule in system.rules:
        out.append(f"| `{rule.name}` | {rule.component or ''} | {rule.kvm or ''} | "
                   f"{_where(rule.span)} |")
    return "\n".join(out) + "\n"


def to_html(md: str, title: str, svg: str | None = None) -> str:
    """The Markdown of markdown() as a standalone HTML page (its small subset only)."""
    body, table = [], []

    def cell(text: str) -> str:
        parts = text.split("`")
        return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p)
                       for i, p in enumerate(parts))

    def flush():
        if not table:
            return
        rows = [r for r in table if not set(r.replace("|", "").strip()) <= set("-:")]
        body.append("<table>")
        for i, row in enumerate(rows):
            tag = "th" if i == 0 else "td"
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            body.append("<tr>" + "".join(f"<{tag}>{cell(c)}</{tag}>" for c in cells) + "</tr>")
        body.append("</table>")
        table.clear()

    in_list = False
    for line in md.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("- "):
            if not in_list:
                body.append("<ul>")
                in_list = True
            body.append(f"<li>{cell(line[2:])}</li>")
            continue
        if in_list:
            body.append("</ul>")
            in_list = False
        if line.startswith("## "):
            body.append(f"<h2>{cell(line[3:])}</h2>")
            if line[3:] == "Projected state graph" and svg:
                body.append(f'<div class="graph">{svg}</div>')
        elif line.startswith("# "):
            body.append(f"<h1>{cell(line[2:])}</h1>")
        elif line.strip():
            body.append(f"<p>{cell(line)}</p>")
    flush()
    if in_list:
        body.append("</ul>")
    style = ("body{font-family:sans-serif;margin:2em;max-width:80em}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
             "text-align:left;font-size:13px}code{font-size:12px}.graph svg{max-width:100%}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title><style>{style}</style></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")
